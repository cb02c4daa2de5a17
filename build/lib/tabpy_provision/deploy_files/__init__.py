"""The pyinfra deploy files (placeholder until they move here: the repository's deploy/)."""

from pathlib import Path


def path(name: str) -> Path:
    return Path(__file__).resolve().parents[2] / "deploy" / f"{name}.py"
