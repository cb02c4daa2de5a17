"""Where the lab keeps its state and its base-image cache.

Fixed system paths on purpose: a CI run in another clone must find (and clean up) a lab
left by an earlier run. Both can be moved with environment variables.
"""

from __future__ import annotations

import os
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
