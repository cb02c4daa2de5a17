"""`tabpy-provision password USER [-i INVENTORY]`: print one TabPy user's
password, on request, for handing to the Tableau admin (the only command that prints one).

The password comes from the user's secret reference exactly as a deploy resolves it; a
`generate` user must have been deployed first (this command never creates a password).
"""

from __future__ import annotations

from tabpy_provision.cli import common
from tabpy_provision.controller.files import Staged
from tabpy_provision.server.plan import users_secret_store
from tabpy_provision.settings import groups
from tabpy_provision.settings.secret_refs import SecretError, resolve
from tabpy_provision.settings.table import with_defaults
from tabpy_provision.settings.typed import for_role


def find_password(inventory, user: str) -> str:
    for _host, data in common.group_data(inventory, groups.TABPY_SERVERS):
        users = {name.lower(): ref for name, ref in data.get("tabpy_users", {}).items()}
        if user.lower() not in users:
            continue
        reference = users[user.lower()]
        store = users_secret_store(for_role("secrets", with_defaults(data)),
                                   Staged())  # read only: never applied
        if reference == "generate" and not store.exists(user.lower()):
            raise SecretError(f"{user}: no password generated yet (deploy first)")
        return resolve(reference, store=store, store_key=user.lower(),
                       allow_plaintext=data.get("allow_plaintext_secrets", False))
    raise SecretError(f"{user}: not a TabPy user of this inventory")


def register(sub) -> None:
    parser = common.command(sub, "password", "print one TabPy user's password (for the Tableau "
                            "admin)", __doc__, run)
    parser.add_argument("user")


def run(args) -> int:
    try:
        password = find_password(common.load_state(args).inventory, args.user)
    except SecretError as error:
        raise common.Refused([str(error)]) from None
    print(password)
    return common.OK
