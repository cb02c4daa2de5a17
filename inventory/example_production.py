"""An example production inventory: copy to inventory/production.py and edit.

    .venv/bin/pyinfra --dry inventory/production.py deploy/site.py
    .venv/bin/pyinfra -y inventory/production.py deploy/site.py

Every key below is a setting of docs/settings.md (tabpy_provision/settings/table.py), or
pyinfra's (ssh_*, _sudo); anything not set keeps its default. Passwords are secret references,
never literals.
"""

# How the controller reaches every host: pyinfra's SSH connector data (every key:
# https://docs.pyinfra.com/en/3.x/connectors/ssh.html). The leading underscore keeps it from
# being read as a group.
_SSH = {
    # Root may not sign in over SSH on most fleets: the deploy signs in as this user and
    # escalates with sudo (docs/access.md).
    "ssh_user": "deploy",
    "_sudo": True,
    # The deploy user's private key; without it, the SSH agent's keys and ~/.ssh/id_*.
    "ssh_key": "~/.ssh/tabpy-deploy",
    # The hosts' keys, collected from a source you trust (not from a first connection).
    "ssh_known_hosts_file": "~/.ssh/known_hosts.production",
    # Refuse a host whose key is not in that file; pyinfra's default (accept-new) would trust
    # whatever key a host shows the first time.
    "ssh_strict_host_key_checking": "yes",
}

tabpy_servers = (
    [
        ("tabpy1.analytics.example.com", {"ssh_hostname": "tabpy1.analytics.example.com"}),
        ("tabpy2.analytics.example.com", {
            "ssh_hostname": "tabpy2.analytics.example.com",
            # A service name Tableau may use instead of the host name.
            "tabpy_cert_dns_aliases": ["tabpy.analytics.example.com"],
        }),
    ],
    {
        **_SSH,
        # Only where sudo asks for a password (docs/access.md).
        "sudo_password": "cmd:pass show tabpy/sudo-deploy",
        "tabpy_port": 9004,
        "tabpy_users": {
            "tableau": "cmd:pass show tabpy/tableau",  # your password manager
            "svc-reports": "generate",  # random, stored 0600 in secrets_dir
        },
        "tabpy_evaluate_timeout": 60,
        "pki_dir": "pki/production",
        "secrets_dir": "secrets/production",
        # Windows (.cer + PowerShell) and macOS (.mobileconfig) files for your MDM/GPO.
        "trust_artifacts_dir": "trust-artifacts/production",
        "environment": "production",
        # Encrypts backups of this controller's CA and generated passwords (controller_state).
        "controller_state_key": "cmd:pass show tabpy/controller-state",
    },
)

# Machines whose OS trust store must trust the TabPy servers' CA (deploy/trust.py): the OS is
# detected from facts; only the roots are installed unless trust_ca_certificates says more.
tableau_servers = (
    [("tableau1.analytics.example.com", {"ssh_hostname": "tableau1.analytics.example.com"})],
    _SSH,
)
clients = (
    [("desktop-build01.analytics.example.com", {"trust_ca_certificates": ["root",
                                                                           "intermediate"]})],
    _SSH,
)
