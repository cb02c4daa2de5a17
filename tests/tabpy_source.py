"""TabPy's own code, loaded from the pinned TabPy wheel in the wheelhouse, for comparison tests.

`tabpy/tabpy_server/handlers/util.py` (hash_password) imports only the standard library, so it
is loaded straight from the wheel without installing TabPy's 70 dependencies.
"""

from __future__ import annotations

import importlib.util
import io
import tarfile
import types
import zipfile
from functools import cache

from tabpy_provision.wheelhouse import build as wheelhouse
from tabpy_provision.wheelhouse import pinning

HASH_MODULE = "tabpy/tabpy_server/handlers/util.py"


@cache
def _tabpy_module(member: str) -> types.ModuleType:
    archive = wheelhouse.ensure_wheelhouse(pinning.TABPY_VERSION_DEFAULT, "cp311").archive
    with tarfile.open(archive) as tar:
        wheel_name = next(n for n in tar.getnames()
                          if n.startswith("wheels/tabpy-") and n.endswith(".whl"))
        wheel = zipfile.ZipFile(io.BytesIO(tar.extractfile(wheel_name).read()))
    source = wheel.read(member).decode()
    spec = importlib.util.spec_from_loader("tabpy_reference_" + member.replace("/", "_"),
                                           loader=None)
    module = importlib.util.module_from_spec(spec)
    exec(compile(source, f"{wheel_name}/{member}", "exec"), module.__dict__)
    return module


def tabpy_hash_password(user: str, password: str) -> str:
    return _tabpy_module(HASH_MODULE).hash_password(user, password)
