"""TabPy's password file: the hash TabPy checks, and a byte-stable rendering of the file.

TabPy (handlers/util.py hash_password) hashes with PBKDF2-HMAC-SHA512, 10000 iterations, salt
"_$salt@tabpy:<lower-cased user>$_", lower-case hex. Its parser (app/util.py parse_pwd_file)
splits each line on ONE space and lower-cases the user name. See docs/facts-tabpy.md.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

ITERATIONS = 10000
HEADER = "# Managed by tabpy-provision: edits are overwritten on the next deploy.\n"


def tabpy_hash(user: str, password: str) -> str:
    salt = f"_$salt@tabpy:{user.lower()}$_"
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt.encode(), ITERATIONS)
    return digest.hex()


#: Names TabPy's reader (csv, space-delimited, '#' comments) and basic auth read back as
#: written, and that stay inside the controller's folders when used as a file name.
_USER_NAME = re.compile(r"[A-Za-z0-9_@+-][A-Za-z0-9._@+-]{0,63}")


def user_name_problem(user: object) -> str | None:
    """Why TabPy would not read or authenticate this user name as written, or None."""
    if not isinstance(user, str) or not user:
        return "user name must be a non-empty string"
    if not _USER_NAME.fullmatch(user):
        return (f"user name {user!r}: use 1 to 64 letters, digits and . _ @ + - (not first: .); "
                "TabPy's password file is space-separated csv with # comments, basic auth "
                "splits on ':', and the name is a file name on the controller")
    return None


def password_problem(password: str) -> str | None:
    """Why this password cannot work with TabPy, or None. Never includes the password."""
    if not password:
        return "password is empty"
    if ":" in password:
        return "password contains ':' (basic auth splits on it: TabPy can never authenticate it)"
    if any(c.isspace() for c in password):
        return "password contains whitespace"
    return None


def duplicate_users(users: Mapping[str, object]) -> list[str]:
    """Names that collide once lower-cased, as TabPy does (a duplicate fails its start)."""
    seen: dict[str, str] = {}
    duplicates = []
    for user in users:
        key = user.lower()
        if key in seen:
            duplicates.append(f"{seen[key]!r} and {user!r}")
        seen[key] = user
    return duplicates


def render_password_file(passwords: Mapping[str, str]) -> bytes:
    """The file TabPy reads: sorted `user hash` lines, byte-identical for the same inputs."""
    lines = [f"{user.lower()} {tabpy_hash(user, pw)}\n" for user, pw in sorted(
        passwords.items(), key=lambda item: item[0].lower())]
    return (HEADER + "".join(lines)).encode()


def parse_password_file(content: str) -> dict[str, str]:
    """Parse like TabPy does (user -> hash); raises ValueError where TabPy would refuse to start."""
    entries: dict[str, str] = {}
    for number, line in enumerate(content.splitlines(), 1):
        if not line or line.startswith("#"):
            continue
        fields = line.split(" ")
        if len(fields) != 2 or not all(fields):
            raise ValueError(f"line {number}: expected 'user hash' with one space")
        user = fields[0].lower()
        if user in entries:
            raise ValueError(f"line {number}: duplicate user {user}")
        entries[user] = fields[1]
    if not entries:
        raise ValueError("no users (TabPy refuses an empty password file)")
    return entries
