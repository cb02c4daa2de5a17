"""Every refusal of the tool derives from one base, ProvisionError (settings/errors.py), whose
message names the host and the field where they are known."""

import importlib
import inspect
import pkgutil

import tabpy_provision
from tabpy_provision.settings.errors import ProvisionError


def test_the_message_is_host_field_problem_with_what_is_known():
    assert str(ProvisionError("not a port", host="tabpy1", field="tabpy_port")) == (
        "tabpy1: tabpy_port: not a port")
    assert str(ProvisionError("required", field="lb_vip")) == "lb_vip: required"
    assert str(ProvisionError("no lock file")) == "no lock file"


def test_every_exception_class_of_the_tool_is_a_provision_error():
    others = []
    for info in pkgutil.walk_packages(tabpy_provision.__path__, "tabpy_provision."):
        if info.name.endswith("__main__") or ".deploy_files." in info.name:
            continue  # run, never imported
        module = importlib.import_module(info.name)
        others += [f"{module.__name__}.{name}"
                   for name, cls in inspect.getmembers(module, inspect.isclass)
                   if cls.__module__ == module.__name__ and issubclass(cls, BaseException)
                   and not issubclass(cls, ProvisionError)]
    # source.py also runs on TabPy hosts, where the package is not: its error stands alone.
    assert others == ["tabpy_provision.functions.source.FunctionError"]


def test_a_subclass_may_name_its_one_field():
    class Refusal(ProvisionError):
        field = "tabpy_requirements"

    assert Refusal("no wheel").field == "tabpy_requirements"
    assert ProvisionError("no wheel", host="tabpy1").field is None
