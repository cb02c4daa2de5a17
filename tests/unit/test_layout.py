"""The package's folders show its layers (docs/architecture.md): no module flat in
tabpy_provision/ but the entry points, no import circle among its modules, none over 600 lines."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "tabpy_provision"

#: The only modules flat in the package: its marker and `python -m tabpy_provision`.
FLAT_ENTRY_POINTS = {"__init__.py", "__main__.py"}

MAX_LINES = 600


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported(tree: ast.AST, known: dict[str, Path]) -> set[str]:
    """The tabpy_provision modules a module imports, at module level or inside functions. A
    submodule named in `from package import name` counts as that submodule; a package's
    __init__ is not counted as imported through its submodules."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                names.add(submodule if submodule in known else node.module)
    return {name for name in names if name in known}


def import_graph() -> dict[str, set[str]]:
    known = modules()
    return {
        name: imported(ast.parse(path.read_text(encoding="utf-8")), known) - {name}
        for name, path in known.items()
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as the modules along it, or None (depth-first, three colours)."""
    done: set[str] = set()
    path: list[str] = []
    on_path: set[str] = set()

    def visit(name: str) -> list[str] | None:
        path.append(name)
        on_path.add(name)
        for target in sorted(graph[name]):
            if target in on_path:
                return path[path.index(target):] + [target]
            if target not in done and (cycle := visit(target)):
                return cycle
        path.pop()
        on_path.discard(name)
        done.add(name)
        return None

    for name in sorted(graph):
        if name not in done and (cycle := visit(name)):
            return cycle
    return None


def test_no_module_flat_in_the_package_but_entry_points():
    flat = sorted(path.name for path in PACKAGE.glob("*.py") if path.name not in FLAT_ENTRY_POINTS)
    assert flat == [], f"modules flat in tabpy_provision/ (give each its domain's folder): {flat}"


def test_no_import_circle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_no_module_over_600_lines():
    long = {
        name: lines
        for name, path in modules().items()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}, f"modules over {MAX_LINES} lines: {long}"


def test_a_circle_is_found_and_named():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_every_deploy_file_is_packaged_and_the_checkout_runs_the_packaged_one():
    checkout = PACKAGE.parent / "deploy"
    packaged = PACKAGE / "deploy_files"
    names = sorted(path.stem for path in checkout.glob("*.py"))
    assert names == sorted(path.stem for path in packaged.glob("*.py") if path.stem != "__init__")
    for name in names:
        assert f'run("{name}")' in (checkout / f"{name}.py").read_text()
        # packaged files include each other through deploy_files.include (by absolute path,
        # named deploy/NAME.py), never by a path from the working folder
        assert "local.include(" not in (packaged / f"{name}.py").read_text()


#: Modules whose source runs on the hosts, where nothing else of the package is installed:
#: the function publisher and the files it reads, Tableau's check run from a node or client.
RUN_ON_HOSTS = {"tabpy_provision/functions/publisher.py": {"tabpy_provision.functions.source"},
                "tabpy_provision/functions/source.py": set(),
                "tabpy_provision/server/verify.py": set()}


def test_modules_run_on_hosts_import_nothing_else_of_the_package():
    for relative, allowed in RUN_ON_HOSTS.items():
        tree = ast.parse((PACKAGE.parent / relative).read_text())
        found = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                 for alias in node.names}
        found |= {f"{node.module}.{alias.name}" if node.module == "tabpy_provision.functions"
                  else node.module for node in ast.walk(tree)
                  if isinstance(node, ast.ImportFrom) and node.module for alias in node.names}
        assert {name for name in found if name.startswith("tabpy_provision")} <= allowed, \
            relative
