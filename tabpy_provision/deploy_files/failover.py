"""Fail over to a disaster-recovery site in one command:

    pyinfra -y inventory/<dr>.py deploy/failover.py --data restore_from=<lost host>

Restores the newest backup of the lost host onto the DR inventory's TabPy servers (verified
before anything is touched), deploys the DR site (its Tableau side follows when the DR inventory
declares it), checks every model, and prints the RTO: the time from the command's start to the
passing verification.
"""


from tabpy_provision.backup.deploy import report_recovery_time
from tabpy_provision.deploy_files import include

include("restore")
report_recovery_time(name="Recovery time (RTO)")
