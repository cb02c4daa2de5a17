"""Rserve's password file (`pwdfile`), as src/Rserv.c auth_user() of Rserve 1.8-11 reads it.
Pure.

auth_user() reads each line with fgets() into a 4096-byte buffer, so a longer line goes on as
a second entry. The login is everything up to the first blank (space or TAB); in it the first
`/` starts a uid (and a `,` after it a gid), a leading `#` makes the line a comment, a leading
`@` is dropped (the old control flag) and a leading `*` (after `@`) lets ANY login in. What
follows the blanks is the value: `$` + 40 hex digits is an unsalted SHA1 of the password,
compared when `plaintext enable` is set (the only method this project uses, docs/rserve.md)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

HEADER = "# Managed by tabpy-provision; edits are overwritten on the next deploy."

#: fgets(auth_buf, 4095) reads at most 4094 characters: the name, a blank, '$' and 40 hex
#: digits, and the line end must fit (kept well below).
MAX_NAME = 256


def user_name_problem(name: str) -> str | None:
    """Why Rserve would misread `name` in its password file or in a login, or None."""
    if not name:
        return "empty: a line without a name matches an empty login"
    if len(name.encode()) > MAX_NAME:
        return f"longer than {MAX_NAME} bytes"
    if not name.isprintable() or any(char.isspace() for char in name):
        # A blank ends the name; CR/LF end the line (and the login, sent as user\npassword).
        return "holds a blank or a non-printable character: Rserve ends the name there"
    if name[0] in "#@*":
        return {"#": "starts with '#': Rserve reads the line as a comment",
                "@": "starts with '@': Rserve drops it (its old control-user flag)",
                "*": "starts with '*': Rserve lets every login in on such a line"}[name[0]]
    if "/" in name:
        return "holds '/': Rserve reads what follows as the uid of the user"
    if "," in name:
        # Only a gid separator after a '/', but a name must not change meaning with one.
        return "holds ',': Rserve reads what follows a '/' and ',' as the gid of the user"
    return None


def password_file(users: Mapping[str, str]) -> str:
    """The pwdfile of `users` (name -> password): `name $sha1hex` lines, sorted."""
    lines = [HEADER]
    for name in sorted(users):
        problem = user_name_problem(name)
        if problem:
            raise ValueError(f"Rserve user name {name!r}: {problem}")
        password = users[name]
        if not password or any(char in password for char in "\r\n\0"):
            # The login is sent as user\npassword and Rserve cuts the password at CR/LF.
            raise ValueError(f"Rserve user {name!r}: the password is empty or holds CR, LF "
                             "or NUL")
        lines.append(f"{name} ${hashlib.sha1(password.encode()).hexdigest()}")
    return "\n".join(lines) + "\n"
