"""The role's Rserve users file, read at each login by the R function of auth.R (templates/
etc/rserve/auth.R.j2; Rserv.conf `auth.function`), never by Rserve's own `pwdfile` check
(docs/rserve.md). Pure.

One line per user, sorted, after a comment header:

    name rounds salt_hex hash_hex

single spaces, `hash` = bcrypt_pbkdf(password, salt, rounds, 32 bytes), which R computes
with `openssl::bcrypt_pbkdf` (r-cran-openssl) and Python with `bcrypt.kdf`. The salt is
derived from the name, so the same users give the same bytes on every run (a deploy that
changes nothing rewrites nothing). The R reader refuses EVERY login when any line that is
not a `#` comment fails its pattern, or a name appears twice."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

import bcrypt

HEADER = "# Managed by tabpy-provision; edits are overwritten on the next deploy."

#: bcrypt_pbkdf rounds: linear in time; measured on the development machine (2 vCPUs) at
#: about 79 ms of CPU per check in R (openssl 2.0.5) and 89 ms in Python (bcrypt 5.0.0), 3.3
#: and 3.7 ms a round (docs/rserve.md). The R reader accepts 1-999.
ROUNDS = 24
KEY_BYTES = 32
SALT_BYTES = 16
SALT_PREFIX = b"tabpy-provision rserve user:"

#: The names the R reader accepts (auth.R.j2 holds the same class): ASCII, no blank, and
#: not starting with a character that means something in Rserve's or a shell's files.
NAME_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._@+-]{0,63}")


def user_name_problem(name: str) -> str | None:
    """Why the R reader would not find `name` in the users file, or None."""
    if not name:
        return "empty"
    if len(name) > 64:
        return "longer than 64 characters"
    if NAME_PATTERN.fullmatch(name):
        return None
    if not NAME_PATTERN.fullmatch("x" + name[1:]):
        return "holds a character other than A-Z, a-z, 0-9 and . _ @ + -"
    return "starts with a character other than A-Z, a-z, 0-9 and _"


def password_problem(password: str) -> str | None:
    """Why the QAP login could not carry `password`, or None. Never quotes the password:
    Rserve cuts it at CR or LF (the login is sent as `user\\npassword`) and at NUL (a C
    string), and an empty one is refused by the R reader."""
    if not password:
        return "the password is empty"
    if any(char in password for char in "\r\n\0"):
        return "the password holds CR, LF or NUL: the QAP login cuts it there"
    return None


def salt(name: str) -> bytes:
    """The user's salt: the first 16 bytes of sha256(SALT_PREFIX + name)."""
    return hashlib.sha256(SALT_PREFIX + name.encode()).digest()[:SALT_BYTES]


def password_hash(password: str, name: str, rounds: int = ROUNDS) -> bytes:
    """bcrypt_pbkdf of the password's UTF-8 bytes with the user's salt (32 bytes)."""
    # bcrypt warns below 50 rounds, its guess for bcrypt_pbkdf's own use; the rounds here are
    # chosen by the time one check costs (ROUNDS).
    return bcrypt.kdf(password=password.encode(), salt=salt(name),
                      desired_key_bytes=KEY_BYTES, rounds=rounds, ignore_few_rounds=True)


def users_file(users: Mapping[str, str]) -> str:
    """The users file of `users` (name -> password): byte-identical for the same users."""
    lines = [HEADER]
    for name in sorted(users):
        problem = user_name_problem(name)
        if problem:
            raise ValueError(f"Rserve user name {name!r}: {problem}")
        problem = password_problem(users[name])
        if problem:
            raise ValueError(f"Rserve user {name!r}: {problem}")
        digest = password_hash(users[name], name)
        lines.append(f"{name} {ROUNDS} {salt(name).hex()} {digest.hex()}")
    return "\n".join(lines) + "\n"
