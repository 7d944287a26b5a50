"""The architecture of DESIGN.md section 2, checked on every import statement (lazy ones too).

- the domain imports the standard library only;
- use cases (service) import the domain and the standard library only;
- persistence and store adapters depend inwards (domain, service ports and errors);
- the emulator is a stand-in for the stores: it imports nothing of the engine;
- only bootstrap.py wires concrete adapters: the API, CLI and jobs reach persistence and store
  adapters through it.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STDLIB = set(sys.stdlib_module_names) | {"__future__"}

ENGINE_FRONT = ("iap_engine.api", "iap_engine.cli", "jobs")
CONCRETE = ("iap_engine.persistence", "store_adapters")


def modules(*packages: str) -> Iterator[tuple[str, Path]]:
    for package in packages:
        base = ROOT / Path(*package.split("."))
        paths = [base.with_suffix(".py")] if base.with_suffix(".py").exists() else []
        paths += sorted(base.rglob("*.py")) if base.is_dir() else []
        for path in paths:
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            yield name.removesuffix(".__init__"), path


def imports(path: Path) -> Iterator[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


def top(name: str) -> str:
    return name.split(".")[0]


def within(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def violations(packages: tuple[str, ...], allowed) -> list[str]:
    found = []
    for module, path in modules(*packages):
        for line, imported in imports(path):
            if not allowed(module, imported):
                found.append(f"{path.relative_to(ROOT)}:{line} imports {imported}")
    return found


def test_the_domain_imports_the_standard_library_only() -> None:
    assert (
        violations(
            ("iap_engine.domain",),
            lambda _m, name: top(name) in STDLIB or within(name, "iap_engine.domain"),
        )
        == []
    )


def test_use_cases_import_the_domain_and_the_standard_library_only() -> None:
    assert (
        violations(
            ("iap_engine.service",),
            lambda _m, name: (
                top(name) in STDLIB or within(name, "iap_engine.domain", "iap_engine.service")
            ),
        )
        == []
    )


@pytest.mark.parametrize("package", ["iap_engine.persistence", "store_adapters"])
def test_adapters_depend_inwards(package: str) -> None:
    outward = ("iap_engine.api", "iap_engine.cli", "iap_engine.bootstrap", "jobs", "store_emulator")
    other_adapter = (
        "store_adapters" if package == "iap_engine.persistence" else "iap_engine.persistence"
    )
    assert violations((package,), lambda _m, name: not within(name, *outward, other_adapter)) == []


def test_the_emulator_imports_nothing_of_the_engine() -> None:
    assert (
        violations(
            ("store_emulator",),
            lambda _m, name: not within(name, "iap_engine", "store_adapters", "jobs"),
        )
        == []
    )


def test_only_bootstrap_wires_concrete_adapters() -> None:
    assert violations(ENGINE_FRONT, lambda _m, name: not within(name, *CONCRETE)) == []
