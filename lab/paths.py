"""Where the lab keeps its state and its base-image cache.

Fixed system paths on purpose: a CI run in another clone must find (and clean up) a lab
left by an earlier run. Both can be moved with environment variables.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

DEFAULT_STATE_DIR = "/var/lib/tabpy-provision/lab"
DEFAULT_CACHE_DIR = "/var/cache/tabpy-provision/lab"


def state_dir() -> Path:
    return Path(os.environ.get("TABPY_LAB_DIR") or DEFAULT_STATE_DIR)


def cache_dir() -> Path:
    return Path(os.environ.get("TABPY_LAB_CACHE") or DEFAULT_CACHE_DIR)


def ssh_config_path() -> Path:
    return state_dir() / "ssh_config"


def known_hosts_path() -> Path:
    return state_dir() / "known_hosts"


def private_key_path() -> Path:
    return state_dir() / "ssh" / "id_ed25519"


def hosts_dir() -> Path:
    return state_dir() / "hosts"


def host_dir(name: str) -> Path:
    return hosts_dir() / name


def lock_path() -> Path:
    return state_dir() / "lock"


def base_cache_dir() -> Path:
    return cache_dir() / "base"


def owner_path() -> Path:
    """Which checkout the hosts' disks were made for (their TabPy state matches its pki/secrets)."""
    return state_dir() / "owner"


def this_checkout() -> str:
    return str(Path(__file__).resolve().parent.parent)


def checkout_identity() -> str:
    """This checkout's folder and a random id made at its first `lab up`.

    The folder alone is not enough: a new clone in the same folder (CI does this) lacks the
    pki/ and secrets/ the hosts' disks were deployed with, so it is another checkout.
    """
    id_file = Path(this_checkout()) / ".cache" / "lab-checkout-id"
    try:
        token = id_file.read_text().strip()
    except FileNotFoundError:
        id_file.parent.mkdir(exist_ok=True)
        token = secrets.token_hex(8)
        id_file.write_text(token + "\n")
    return f"{this_checkout()} ({token})"
