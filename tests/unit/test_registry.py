"""Discovery: bundled checks, entry-point plugins, drop-in files; validation of what they declare."""
from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from spotidoctor.api import NAMESPACES, Check
from spotidoctor.engine import registry

GOOD_PLUGIN = '''
from spotidoctor.api import Check

class Hello(Check):
    """What it checks: nothing. Why it matters: it proves plugins load."""
    id = "{id}"
    title = "hello from {origin}"

    def run(self, ctx):
        return self.ok("hello")

CHECKS = (Hello,)
'''


def write_dist(site: Path, dist: str, module: str, body: str, entry: str | None = None) -> None:
    (site / f"{module}.py").write_text(body)
    info = site / f"{dist}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[spotidoctor.checks]\n{dist} = {entry or module}\n")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    return site


def test_bundled_checks_use_the_reserved_namespaces() -> None:
    reg = registry.discover(plugins=False)
    assert not reg.problems, reg.problems
    for entry in reg.loaded:
        assert entry.origin == "bundled"
        assert entry.check.id.split(".")[0] in NAMESPACES


def test_entry_point_plugin_module_and_class_forms_load(site: Path) -> None:
    write_dist(site, "sd-plugin-a", "sd_plugin_a", GOOD_PLUGIN.format(id="third.hello", origin="a"))
    write_dist(site, "sd-plugin-b", "sd_plugin_b", GOOD_PLUGIN.format(id="third.class-form", origin="b"),
               entry="sd_plugin_b:Hello")
    reg = registry.build(registry.entry_points())
    assert {e.check.id: e.origin for e in reg.loaded} == {
        "third.hello": "plugin sd-plugin-a (sd-plugin-a)",
        "third.class-form": "plugin sd-plugin-b (sd-plugin-b)",
    }


def test_plugin_that_raises_on_import_is_reported_and_others_still_load(site: Path) -> None:
    write_dist(site, "sd-broken", "sd_broken", "raise RuntimeError('plugin import exploded')\n")
    write_dist(site, "sd-fine", "sd_fine", GOOD_PLUGIN.format(id="third.fine", origin="fine"))
    reg = registry.build(registry.entry_points())
    assert [e.check.id for e in reg.loaded] == ["third.fine"]
    (problem,) = reg.problems
    assert problem.origin == "plugin sd-broken (sd-broken)"
    assert "plugin import exploded" in problem.message


def test_disabled_plugins_are_not_loaded(site: Path) -> None:
    write_dist(site, "sd-off", "sd_off", GOOD_PLUGIN.format(id="third.off", origin="off"))
    assert registry.build(registry.entry_points(disabled=["sd-off"])).loaded == ()


def test_dropin_is_loaded_under_a_private_name_and_cannot_shadow_modules(tmp_path: Path) -> None:
    dropins = tmp_path / "checks.d"
    dropins.mkdir()
    # A drop-in named like a real module must not take that top-level name.
    (dropins / "json.py").write_text(GOOD_PLUGIN.format(id="local.hello", origin="drop-in"))
    reg = registry.build(registry.dropins([str(dropins)]))
    (entry,) = reg.loaded
    assert entry.check.id == "local.hello"
    assert entry.origin == f"drop-in {dropins / 'json.py'}"
    assert entry.check.__module__.startswith("spotidoctor._dropin.json_")
    import json

    assert hasattr(json, "dumps") and sys.modules["json"] is json


def test_broken_dropin_is_reported(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text("this is not python(\n")
    reg = registry.build(registry.dropins([str(tmp_path)]))
    assert reg.loaded == ()
    assert "SyntaxError" in reg.problems[0].message


class _Base(Check):
    title = "t"

    def run(self, ctx):  # type: ignore[no-untyped-def]
        return self.ok("ok")


def _check(check_id: str, **attrs: object) -> type[Check]:
    return type("C", (_Base,), {"id": check_id, **attrs})


@pytest.mark.parametrize(("checks", "origin", "problem"), [
    ([_check("NoDots")], "x", "invalid id 'NoDots'"),
    ([_check("x11.Upper")], "x", "invalid id 'x11.Upper'"),
    ([_check("mine.thing")], "bundled", "bundled checks must use one of the namespaces"),
    ([_check("a.b"), _check("a.b")], "x", "a.b: duplicate id (also defined by x)"),
    ([_check("a.b", title="")], "x", "a.b: missing title"),
    ([_check("a.b", severity="high")], "x", "severity must be a spotidoctor.api.Severity"),
    ([_check("a.b", timeout_s=0)], "x", "timeout_s must be a positive number"),
    ([_check("a.b", requires=("a.missing",))], "x", "a.b: requires unknown check(s) a.missing"),
])
def test_invalid_declarations_are_rejected_with_a_reason(checks: list[type[Check]], origin: str,
                                                         problem: str) -> None:
    reg = registry.build([(origin, tuple(checks))])
    assert any(problem in p.message for p in reg.problems), reg.problems


def test_requires_cycle_and_its_dependents_are_rejected() -> None:
    a = _check("c.a", requires=("c.b",))
    b = _check("c.b", requires=("c.a",))
    d = _check("c.d", requires=("c.a",))
    e = _check("c.e")
    reg = registry.build([("x", (a, b, d, e))])
    assert [entry.check.id for entry in reg.loaded] == ["c.e"]
    assert any("requires cycle" in p.message for p in reg.problems)


def test_non_check_exports_are_reported() -> None:
    reg = registry.build([("x", (int,))])
    assert "is not a spotidoctor.api.Check subclass" in reg.problems[0].message


def test_module_without_checks_tuple_is_reported(tmp_path: Path) -> None:
    (tmp_path / "empty.py").write_text(textwrap.dedent("X = 1\n"))
    reg = registry.build(registry.dropins([str(tmp_path)]))
    assert reg.problems[0].message == "module has no CHECKS tuple"
