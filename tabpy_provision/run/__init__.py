"""The pyinfra run machinery, no domain logic: one object per run (current), the one check of
every host before any change (preflight), every command and file transfer of the deploy's own
code as root (remote, escalation), facts read in one command (fact_batch), the generic facts and
operations, the run's lease and summary, lost hosts and the sudo password (hosts), room on a
host's disks (disk_space), and what an inventory value may claim on its host (host_claims,
host_checks)."""
