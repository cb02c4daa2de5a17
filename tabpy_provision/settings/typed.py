"""A host's settings as typed, frozen objects, one class per role (settings/values.py).

values.py is written by `values_source` from the table (settings/table.py): a field's name,
type (what its check lets through: value_checks.accepts) and default all come from there, and
tests/unit/test_settings.py keeps the file equal to what this writes. The objects are built
from values the table's checks passed (`with_defaults` of checked data), never from raw
inventory data: they check nothing themselves. Lists become tuples and mappings
FrozenMappings (settings/frozen.py), so an object is immutable and hashable. Pure.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import fields
from functools import cached_property
from typing import Any

from tabpy_provision.settings import values as typed_values
from tabpy_provision.settings.frozen import FrozenMapping, frozen
from tabpy_provision.settings.table import BY_NAME, ROLE_BY_NAME, ROLES, SETTINGS, Role, Setting
from tabpy_provision.settings.value_checks import accepted_type


def class_name(role: Role) -> str:
    return f"{role.name.capitalize()}Settings"


def for_role(role_name: str, values: Mapping[str, Any]) -> Any:
    """The role's settings object from every setting's checked value; a key that is no
    setting is refused (ValueError), a missing one too (KeyError)."""
    unknown = sorted(set(values) - BY_NAME.keys())
    if unknown:
        raise ValueError(f"not settings: {', '.join(unknown)}")
    settings_class = getattr(typed_values, class_name(ROLE_BY_NAME[role_name]))
    return settings_class(**{field.name: frozen(values[field.name])
                             for field in fields(settings_class)})


def host_settings(values: Mapping[str, Any]) -> typed_values.Settings:
    """Every role's settings object of one host (`settings.tabpy.tabpy_port`)."""
    return typed_values.Settings(**{role.name: for_role(role.name, values) for role in ROLES})


class WithSettings:
    """A frozen plan that holds `values` (every setting of its host, checked) gets `settings`:
    the typed objects, built once."""

    values: Mapping[str, Any]

    @cached_property
    def settings(self) -> typed_values.Settings:
        """`plan.settings.tabpy.tabpy_port`."""
        return host_settings(self.values)


def _literal(value: Any) -> str:
    """A default as values.py writes it (strings in double quotes, as ruff's style has it)."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, tuple):  # ("root",), ()
        return f"({', '.join(map(_literal, value))}{',' if len(value) == 1 else ''})"
    if isinstance(value, FrozenMapping):
        assert not value, "a non-empty mapping default: teach _literal to write it"
        return "FrozenMapping()"
    return repr(value)


def _field_line(setting: Setting) -> str:
    return f"    {setting.name}: {accepted_type(setting.check)} = " \
           f"{_literal(frozen(setting.default))}"


def values_source() -> str:
    """The text of settings/values.py."""
    lines = [
        '"""Every setting, typed: one frozen class per role. Written by',
        "tabpy_provision.settings.typed.values_source from settings/table.py: do not edit (the",
        'failure of tests/unit/test_settings.py says how to write it again)."""',
        "",
        "from __future__ import annotations",
        "",
        "from collections.abc import Mapping",
        "from dataclasses import dataclass",
        "from typing import Literal",
        "",
        "from tabpy_provision.settings.frozen import FrozenMapping",
    ]
    for role in ROLES:
        lines += ["", "", "@dataclass(frozen=True, slots=True)", f"class {class_name(role)}:",
                  f'    """{role.title}."""', ""]
        lines += [_field_line(setting) for setting in SETTINGS if setting.role == role.name]
    lines += ["", "", "@dataclass(frozen=True, slots=True)", "class Settings:",
              '    """Every role\'s settings of one host."""', ""]
    lines += [f"    {role.name}: {class_name(role)}" for role in ROLES]
    return "\n".join(lines) + "\n"
