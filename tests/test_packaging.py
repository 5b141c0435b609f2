"""Every module the shipped packages import is a declared dependency (or the standard library)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ("melodex_ml", "melodex_assets", "dagster_project")


def imported_top_level_modules() -> dict[str, set[str]]:
    """{top-level module: files importing it}, function-level (lazy) imports included."""
    found: dict[str, set[str]] = {}
    for package in SHIPPED:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    found.setdefault(name.split(".")[0], set()).add(str(path.relative_to(ROOT)))
    return found


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_distributions() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {normalise(re.split(r"[\s;<>=!~\[]", requirement, maxsplit=1)[0]) for requirement in project["dependencies"]}


def test_every_third_party_import_is_declared():
    declared = declared_distributions()
    providers = metadata.packages_distributions()
    undeclared = {}
    for module, files in imported_top_level_modules().items():
        if module in sys.stdlib_module_names or module in SHIPPED or module == "__future__":
            continue
        if not {normalise(d) for d in providers.get(module, [])} & declared:
            undeclared[module] = sorted(files)
    assert undeclared == {}, "imported but not in [project].dependencies"


def test_the_package_holds_no_test_fixture():
    dev_only = {"pytest", "tensorboard"}
    assert {m: f for m, f in imported_top_level_modules().items() if m in dev_only} == {}
