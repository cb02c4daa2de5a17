import dataclasses
from pathlib import Path

import pytest

from tabpy_provision.settings import table, typed, values
from tabpy_provision.settings.frozen import FrozenMapping, frozen

VALUES_FILE = Path(typed.__file__).with_name("values.py")
REGENERATE = (".venv/bin/python -c 'from tabpy_provision.settings.typed import values_source; "
              "open(\"tabpy_provision/settings/values.py\", \"w\").write(values_source())'")


def test_values_py_is_what_the_table_writes():
    assert VALUES_FILE.read_text() == typed.values_source(), (
        f"{VALUES_FILE} is stale: regenerate with `{REGENERATE}`")


def role_fields() -> dict[str, list[dataclasses.Field]]:
    return {role.name: dataclasses.fields(getattr(values, typed.class_name(role)))
            for role in table.ROLES}


def test_every_setting_is_a_field_of_exactly_its_role_with_the_tables_default():
    owners = {}
    for role, role_fields_ in role_fields().items():
        for field in role_fields_:
            assert field.name not in owners, f"{field.name} in {owners.get(field.name)} and {role}"
            owners[field.name] = role
            assert field.default == frozen(table.BY_NAME[field.name].default)
    assert owners == {setting.name: setting.role for setting in table.SETTINGS}


def test_built_from_checked_values_frozen_and_hashable():
    data = {"tabpy_port": 9443, "tabpy_cert_dns_aliases": ["tabpy.example.com"],
            "tabpy_users": {"tableau": "generate"}}
    assert table.check_values("h", data) == []
    settings = typed.host_settings(table.with_defaults(data))
    assert settings.tabpy.tabpy_port == 9443
    assert settings.certificates.tabpy_cert_dns_aliases == ("tabpy.example.com",)
    assert settings.tabpy.tabpy_users == {"tableau": "generate"}
    assert isinstance(settings.tabpy.tabpy_users, FrozenMapping)
    assert hash(settings) == hash(typed.host_settings(table.with_defaults(data)))
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.tabpy.tabpy_port = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        settings.tabpy.tabpy_users["other"] = "generate"  # type: ignore[index]


def test_a_misspelled_setting_fails_at_once():
    settings = typed.for_role("tabpy", table.defaults())
    with pytest.raises(AttributeError):
        settings.tabpy_prot  # noqa: B018 - the read is the test
    with pytest.raises((AttributeError, TypeError)):
        settings.tabpy_prot = 1  # type: ignore[attr-defined]


def test_only_settings_build_an_object():
    with pytest.raises(ValueError, match="not settings: tabpy_prot"):
        typed.for_role("tabpy", {**table.defaults(), "tabpy_prot": 1})
    with pytest.raises(KeyError):
        typed.for_role("tabpy", {})
