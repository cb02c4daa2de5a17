"""`python -m tabpy_provision.show_password inventory/<env>.py USER`: print one TabPy user's
password, on request, for handing to the Tableau admin (the only command that prints one).

The password comes from the user's secret reference exactly as a deploy resolves it; a
`generate` user must have been deployed first (this command never creates a password).
"""

from __future__ import annotations

import sys

from tabpy_provision.controller.files import Staged
from tabpy_provision.server.plan import users_secret_store
from tabpy_provision.settings.secret_refs import SecretError, resolve
from tabpy_provision.settings.table import with_defaults
from tabpy_provision.site_check import load_tabpy_hosts


def find_password(inventory_path: str, user: str) -> str:
    for _host, data in load_tabpy_hosts(inventory_path):
        users = {name.lower(): ref for name, ref in data.get("tabpy_users", {}).items()}
        if user.lower() not in users:
            continue
        reference = users[user.lower()]
        store = users_secret_store(with_defaults(data), Staged())  # read only: never applied
        if reference == "generate" and not store.exists(user.lower()):
            raise SecretError(f"{user}: no password generated yet (deploy first)")
        return resolve(reference, store=store, store_key=user.lower(),
                       allow_plaintext=data.get("allow_plaintext_secrets", False))
    raise SecretError(f"{user}: not a TabPy user of {inventory_path}")


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m tabpy_provision.show_password inventory/<env>.py USER",
              file=sys.stderr)
        return 2
    try:
        print(find_password(*argv))
    except SecretError as error:
        print(f"tabpy-provision: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
