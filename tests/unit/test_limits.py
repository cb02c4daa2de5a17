"""What one TabPy process may use of its host (limits.py), and how its unit says it."""

from __future__ import annotations

import pytest

from tabpy_provision.server import limits, render
from tabpy_provision.settings.values import NetworkSettings
from tests.unit.planning import planned

GIB = 1 << 30


@pytest.mark.parametrize(("setting", "memory", "processes", "expected"), [
    ("auto", 16 * GIB, 1, 12 * GIB),
    ("auto", 16 * GIB, 4, 3 * GIB),
    ("50%", 8 * GIB, 2, 2 * GIB),
    ("2G", 64 * GIB, 8, 2 * GIB),
    ("512M", 1 * GIB, 1, 512 << 20),
    ("auto", 256 << 20, 4, limits.FLOOR),  # a share never goes below what TabPy needs
])
def test_memory_per_process(setting, memory, processes, expected):
    found = limits.process_limits(NetworkSettings(tabpy_memory_max=setting), memory, processes)
    assert found.memory_max == expected and found.memory_high == expected * 9 // 10


def test_the_user_task_limit_covers_every_process_of_the_host():
    assert limits.process_limits(NetworkSettings(), 8 * GIB, 3).user_tasks == 3 * 512


@pytest.mark.parametrize("value", ["1.5G", "0G", "100%", "0%", "2g", "-1M", "", 2048, None,
                                   "2 G", "1P"])
def test_bad_memory_values_are_refused(value):
    assert limits.memory_problem(value) is not None


def test_a_size_below_what_tabpy_needs_is_refused_before_any_host(tmp_path):
    with pytest.raises(Exception, match="tabpy_memory_max: 128 MB per TabPy process"):
        planned("tabpy1.example.com", {"tabpy_memory_max": "128M",
                                       "pki_dir": str(tmp_path / "pki"),
                                       "secrets_dir": str(tmp_path / "s")})


def test_the_unit_carries_both_halves_of_each_limit(tmp_path):
    plan = planned("tabpy1.example.com", {"tabpy_memory_max": "2G", "tabpy_tasks_max": 300,
                                          "tabpy_cpu_weight": 50,
                                          "tabpy_users": {"tableau": "generate"},
                                          "pki_dir": str(tmp_path / "pki"),
                                          "secrets_dir": str(tmp_path / "s")})
    unit = set(render.systemd_unit(plan).splitlines())
    assert {f"LimitAS={2 * GIB}", f"MemoryMax={2 * GIB}", f"MemoryHigh={2 * GIB * 9 // 10}",
            "LimitNPROC=300", "TasksMax=300", "CPUWeight=50"} <= unit
