"""What a setting and a role are (the list itself: settings/catalogue.py). Pure."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from tabpy_provision.settings.value_checks import Check


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    meaning: str
    check: Check
    role: str = ""


@dataclass(frozen=True)
class Role:
    name: str
    title: str
    #: Inventory groups whose hosts read these settings (None: every host).
    groups: tuple[str, ...] | None


def in_role(role: str, *settings: Setting) -> tuple[Setting, ...]:
    return tuple(replace(setting, role=role) for setting in settings)
