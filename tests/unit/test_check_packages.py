"""The layout of the bundled checks: one package per domain, one module per check named after
its id, every check registered in its domain's ``CHECKS``; every package is in the wheel."""
from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys
from pathlib import Path

import pytest

import spotidoctor.checks
from spotidoctor.api import Check

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[2]
DOMAINS = spotidoctor.checks.ORDER


def defined_checks(module_name: str) -> list[type[Check]]:
    module = importlib.import_module(module_name)
    return [obj for _, obj in inspect.getmembers(module, inspect.isclass)
            if issubclass(obj, Check) and not inspect.isabstract(obj) and obj.__module__ == module_name]


@pytest.mark.parametrize("domain", DOMAINS)
def test_every_check_module_is_registered_and_named_after_its_check(domain: str) -> None:
    package = importlib.import_module(f"spotidoctor.checks.{domain}")
    defined = [check for info in pkgutil.iter_modules(package.__path__)
               for check in defined_checks(f"{package.__name__}.{info.name}")]
    assert defined and sorted(c.id for c in defined) == sorted(c.id for c in package.CHECKS)
    for check in package.CHECKS:
        assert check.id.startswith(f"{domain}.")
        assert check.__module__ == f"{package.__name__}.{check.id.split('.', 1)[1].replace('-', '_')}"


def test_the_domains_are_the_bundled_packages_in_order() -> None:
    found = sorted(info.name for info in pkgutil.iter_modules(spotidoctor.checks.__path__) if info.ispkg)
    assert found == sorted(DOMAINS)


def test_every_package_is_listed_for_the_wheel() -> None:
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {"spotidoctor." + ".".join(p.parent.relative_to(REPO / "spotidoctor").parts)
             for p in (REPO / "spotidoctor").rglob("__init__.py")}
    found = {name.rstrip(".") for name in found}
    found |= {".".join(("spotidoctor.checks", *p.parent.relative_to(REPO / "checks").parts))
              for p in (REPO / "checks").rglob("__init__.py")}
    assert found == listed
