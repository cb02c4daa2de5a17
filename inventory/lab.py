"""The local lab (see lab/): two TabPy servers (Debian 12 and 13) behind a pool balancer
(tabpy.lab.test), a Tableau node (its Tableau Server a stand-in) connected to the pool, a
client.

Hosts are reached by their lab address with the lab's own key; SSH host keys are checked
strictly against the keys the lab generated. Secrets and the private CA of the lab are kept in
git-ignored folders (secrets/lab, pki/lab); passwords are generated on the first run.
"""

from lab import hosts as lab_hosts
from lab import paths


def _hosts(group: str, among=lab_hosts.LAB_HOSTS) -> list:
    return [
        (lab_host.fqdn, {
            "ssh_hostname": lab_host.address,
            "ssh_user": "root",
            "ssh_key": str(paths.private_key_path()),
            "ssh_known_hosts_file": str(paths.known_hosts_path()),
            "ssh_strict_host_key_checking": "yes",
            "ssh_look_for_keys": False,
            "ssh_allow_agent": False,
        })
        for lab_host in among
        if group in lab_host.groups
    ]


tabpy_servers = (_hosts("tabpy_servers"), {
    # monitor: the user the pool's HAProxy signs in as for its health checks.
    "tabpy_users": {"tableau": "generate", "analyst": "generate", "monitor": "generate"},
    "pki_dir": "pki/lab",
    "trust_artifacts_dir": "trust-artifacts/lab",
    "secrets_dir": "secrets/lab",
    "environment": "lab",
    # The lab keeps its backup key beside its other generated secrets; production should use
    # a reference kept off the controller (vault:, cmd:), or a lost controller loses the key.
    "backup_key": "generate",
    # Encrypts backups of this controller's state (tabpy-provision state backup).
    "controller_state_key": "env:TABPY_LAB_STATE_KEY",
    # Who reaches TabPy's ports besides the host, the controller and the pool: the Tableau
    # node and the client also connect to each TabPy server directly in the lab's checks;
    # tabpydr is not listed (the negative control).
    "tabpy_allowed_sources": ["@tableau_servers", "@clients"],
    # What the analysts' scripts may reach: client1's ssh port stands in for a database.
    "tabpy_outbound_allowed": ["169.254.213.31:22"],
    # Small enough for the lab's tests to reach (the lab hosts share this machine's memory).
    "tabpy_memory_max": "1G",
    # What the analysts' scripts get (docs/functions.md): a library besides TabPy's own (its
    # lock is locks/tabpy-2.16.0-*+d2597b874d70.txt), TabPy's pre-built models (Sentiment
    # Analysis with NLTK's VADER lexicon, shipped from PyPI's vadersentiment) and the lab's
    # function files, on every TabPy process.
    "tabpy_requirements": ["statsmodels==0.15.0"],
    "tabpy_prebuilt_models": ["anova", "ttest", "PCA", "Sentiment Analysis"],
    "tabpy_functions_dir": "functions/lab",
})
# HAProxy in front of every TabPy process of tabpy_servers, as tabpy.lab.test (lab/hosts.py),
# on two balancers; keepalived keeps the name's address on one whose HAProxy runs.
tabpy_lb = (_hosts("tabpy_lb"), {
    "lb_service_name": "tabpy.lab.test",
    "lb_virtual_address": "169.254.213.50",
    "lb_monitor_user": "monitor",
    "pki_dir": "pki/lab",
    "secrets_dir": "secrets/lab",
})
# tableau1's Tableau Server is a stand-in (lab/tableau.py: the tsm of a 2019.4 server), told
# where the pool is, as the seed's `tsm security vizql-extsvc-ssl enable ...` does.
tableau_servers = (_hosts("tableau_servers"), {
    "tableau_tabpy_host": "tabpy.lab.test",
    "tableau_tabpy_user": "tableau",
    "tableau_tsm_run_as": "tabadmin",  # a member of tsmadmin: tsm without a login
    "secrets_dir": "secrets/lab",
})
# Rserve on rserve1 (docs/rserve.md): QAP over TLS only, on Rserve's usual port 6311, its
# certificate from the lab's private CA.
rserve_servers = (_hosts("rserve_servers"), {
    "rserve_users": {"tableau": "generate", "analyst": "generate"},
    "rserve_check_user": "tableau",
    "pki_dir": "pki/lab",
    "secrets_dir": "secrets/lab",
})
clients = _hosts("clients")
