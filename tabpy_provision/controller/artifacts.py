"""What the controller builds for the hosts - wheelhouses, the locks of extra requirements,
NLTK data archives - found in its cache or repository, else staged for a real run to build
(a check writes nothing). Pure: no pyinfra import; `log` says what a build does."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from tabpy_provision.controller.files import Staged
from tabpy_provision.server.plan import TabpyServerPlan, project_path
from tabpy_provision.wheelhouse import build as wheelhouse
from tabpy_provision.wheelhouse import extras as wheelhouse_extras
from tabpy_provision.wheelhouse import lock as wheelhouse_lock
from tabpy_provision.wheelhouse import nltk_data, pinning
from tabpy_provision.wheelhouse.nltk_data import NltkData
from tabpy_provision.wheelhouse.pinning import WheelhouseError

Log = Callable[[str], None]


def wheelhouse_for(version: str, abi: str, arch: str, lock_text: str | None,
                   glibc: tuple[int, int], files: Staged, *, log: Log) -> wheelhouse.Wheelhouse:
    """The wheelhouse for these hosts (`lock_text`: an extras lock, else TabPy's own; `glibc`:
    the newest their wheels may need); its build, when it is not cached, is staged."""
    found, built = wheelhouse.find_wheelhouse(version, abi, arch=arch, lock_text=lock_text,
                                              glibc=glibc)
    if not built:
        files.action(f"build the wheelhouse {found.name} ({found.archive})",
                     lambda: wheelhouse.ensure_wheelhouse(version, abi, arch=arch,
                                                          lock_text=lock_text, glibc=glibc,
                                                          log=log))
    return found


def wheels_glibc(version: str, abi: str, arch: str, lock_text: str | None,
                 host_glibc: tuple[int, int] | None, checked: dict[tuple, str | None]
                 ) -> tuple[tuple[int, int], str | None]:
    """(the newest glibc the host's wheels may need, why no wheelhouse can be built for it as
    "SETTING: reason", else None). Below pinning.GLIBC_MAX pip is asked (wheelhouse_lock)
    once per lock and glibc, unless that archive is cached already."""
    if host_glibc is None:
        return pinning.GLIBC_MAX, ("tabpy_version: the host's C library is not glibc "
                                      "(getconf GNU_LIBC_VERSION): TabPy's wheels need it")
    glibc = pinning.glibc_floor(host_glibc)
    key = (version, abi, arch, lock_text, glibc)
    if glibc == pinning.GLIBC_MAX or key in checked:
        return glibc, checked.get(key)
    checked[key] = None
    if not wheelhouse.find_wheelhouse(version, abi, arch=arch, lock_text=lock_text,
                                      glibc=glibc)[1]:
        try:
            wheelhouse_lock.check_glibc_floor(version, abi, arch, glibc, lock_text)
        except wheelhouse_lock.NoWheel as error:
            checked[key] = f"{error.field}: {error}"
        except WheelhouseError as error:
            checked[key] = f"tabpy_version: {error}"
    return glibc, checked[key]


def extras_lock(plan: TabpyServerPlan, target: Mapping[str, str],
                found: dict[Path, str | WheelhouseError], files: Staged, *,
                log: Log) -> str | WheelhouseError | None:
    """The text of the lock of the host's tabpy_requirements with TabPy's pins (None: it has
    none), or why there is none: read from tabpy_locks_dir, else resolved now by the
    controller's pip in a temporary folder and its writing staged. Resolved once per
    requirements and target (`found`), however many hosts share them."""
    analytics = plan.settings.analytics
    requirements = wheelhouse_extras.normalized_requirements(analytics.tabpy_requirements)
    if not requirements:
        return None
    version, abi, arch = plan.settings.tabpy.tabpy_version, target["abi"], target["arch"]
    path = wheelhouse_extras.extras_lock_file(version, abi, arch, requirements,
                                              project_path(analytics.tabpy_locks_dir))
    if path not in found:
        try:
            if files.exists(path):
                text = files.read(path).decode()
            else:
                text = wheelhouse_lock.resolve_extras(version, abi, arch, requirements,
                                                      log=log)
                files.write_public(path, text.encode(), f"write the lock of "
                                   f"{', '.join(requirements)} for {abi} {arch} ({path})")
            wheelhouse.find_wheelhouse(version, abi, arch=arch, lock_text=text)  # checks it
            found[path] = text
        except WheelhouseError as error:
            found[path] = error
    return found[path]


def nltk_data_for(resources: tuple[str, ...], folder: Path | None, files: Staged, *,
                  log: Log) -> NltkData:
    """The NLTK data archive for these hosts; its build, when it is not cached, is staged."""
    found, built = nltk_data.find_nltk_data(resources, folder)
    if not built:
        files.action(f"build the NLTK data {found.archive.name} ({', '.join(resources)}"
                     f"{'; folder ' + str(folder) if folder else ''})",
                     lambda: nltk_data.ensure_nltk_data(resources, folder, log=log))
    return found
