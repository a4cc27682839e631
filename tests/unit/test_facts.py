"""Typed facts: published as JSON by one check, read back typed (a missing or mistyped value
is "not published"), and every class names a bundled check that really publishes it."""
from __future__ import annotations

from pathlib import Path

import pytest

from spotidoctor import facts as facts_mod
from spotidoctor.checks.podman.installed import PodmanInstalled
from spotidoctor.checks.x11.display import DisplaySet
from spotidoctor.engine.registry import discover
from spotidoctor.facts import CookieFacts, DisplayFacts, Facts, MappingFacts, PodmanVersionFacts
from spotidoctor.model import CheckResult, Status
from spotidoctor.testing import FakeCommand, make_context

ALL = [cls for cls in vars(facts_mod).values() if isinstance(cls, type) and issubclass(cls, Facts) and cls is not Facts]


def test_json_round_trip() -> None:
    display = DisplayFacts(display=":3", display_number=3, socket_path="/tmp/.X11-unix/X3")
    assert display.to_json() == {"display": ":3", "display_number": 3, "socket_path": "/tmp/.X11-unix/X3"}
    assert DisplayFacts.from_json({**display.to_json(), "display_raw": "unix:3"}) == display  # extra keys are fine


@pytest.mark.parametrize("data", [
    {"host_uid": 1},  # host_gid missing
    {"host_uid": True, "host_gid": 1},  # a bool is not an id
    {"host_uid": "1", "host_gid": 1},
    {"host_uid": None, "host_gid": 1},  # not optional
])
def test_missing_or_mistyped_facts_are_not_published(data: dict[str, object]) -> None:
    assert MappingFacts.from_json(data) is None  # type: ignore[arg-type]


def test_optional_facts_may_be_null_but_must_be_there() -> None:
    assert CookieFacts.from_json({"cookie_file": "/c", "xauthority": None}) == CookieFacts("/c", None)
    assert CookieFacts.from_json({"cookie_file": "/c"}) is None


def test_only_the_publishers_result_counts() -> None:
    other = CheckResult("userns.other", Status.OK, "ok", facts={"host_uid": 7, "host_gid": 7})
    mine = CheckResult("userns.mapping", Status.OK, "ok", facts={"host_uid": 8, "host_gid": 8})
    assert MappingFacts.of([other]) is None and MappingFacts.of([other, mine]) == MappingFacts(8, 8)


def test_every_class_names_a_bundled_check() -> None:
    bundled = discover(plugins=False).by_id()
    assert {cls.publisher for cls in ALL} <= bundled.keys() and len(ALL) >= 9


def test_real_checks_publish_what_their_class_reads(tmp_path: Path) -> None:
    display = DisplaySet().run(make_context(tmp_path, env={"DISPLAY": "unix:0.0"}))
    assert DisplayFacts.of([display]) == DisplayFacts(":0", 0, "/tmp/.X11-unix/X0")
    versions = [FakeCommand(("podman", "--version"), stdout="podman version 4.3.1\n"),
                FakeCommand(("buildah", "--version"), stdout="buildah version 1.28.2 (image-spec 1.0.2-dev)\n")]
    installed = PodmanInstalled().run(make_context(tmp_path / "p", commands=versions))
    assert PodmanVersionFacts.of([installed]) == PodmanVersionFacts("4.3.1", "1.28.2")
