"""This site's hosts and settings (a pyinfra inventory). Every setting, its default and meaning:
`tabpy-provision settings`. Relative paths (pki_dir, secrets_dir, backup_dir, ...) are read from
this folder, where `tabpy-provision` runs.

    tabpy-provision deploy --dry    # what would change (exit 0: nothing, 2: something)
    tabpy-provision deploy          # converge
    tabpy-provision check           # the verification table, as Tableau would see it
"""

# How pyinfra reaches the hosts: a user that is root or may sudo, its key, and known host keys
# (pyinfra's SSH connector data: ssh_user, ssh_key, ssh_known_hosts_file, ...).
SSH = {
    "ssh_user": "root",
    "ssh_key": "~/.ssh/id_ed25519",
    "ssh_known_hosts_file": "~/.ssh/known_hosts",
    "ssh_strict_host_key_checking": "yes",
}

tabpy_servers = (
    [
        ("tabpy1.example.com", {**SSH, "tabpy_fqdn": "tabpy1.example.com"}),
    ],
    {
        "environment": "production",
        # The passphrase of this environment's controller-state archive
        # (`tabpy-provision state backup`): kept off this controller.
        "controller_state_key": "env:TABPY_STATE_KEY",
        "tabpy_users": {"tableau": "generate"},
    },
)
