"""IMAGE:previous on a fake podman: the name, the swap, the rollback command, and what a launch
does with auto_update (rebuild first, the hold after a rollback, a failed update, :previous)."""
from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from spotidoctor.backend.build import BuildOutcome
from spotidoctor.backend.failures import classify
from spotidoctor.backend.recipe import LABEL_RECIPE_HASH, LABEL_SPOTIFY_REPO, LABEL_SPOTIFY_VERSION
from spotidoctor.backend.rollback import is_previous, keep_previous, previous_name, settle, swap
from spotidoctor.backend.updatehold import read_hold, write_hold
from spotidoctor.commands import launchimage
from spotidoctor.commands import rollback as rollback_mod
from spotidoctor.commands.options import RollbackOptions
from spotidoctor.config import Config
from spotidoctor.engine.session import SessionOptions
from spotidoctor.errors import ProbeUnavailable, UsageError
from spotidoctor.model import CheckResult, Status
from spotidoctor.testing import FakeCommand, FakeCommandRunner, make_context

NEW, OLD = "a" * 64, "b" * 64
NOT_KNOWN = "Error: inspecting object: {name}: image not known\n"


def ident(name: str, image_id: str | None) -> FakeCommand:
    argv = ("podman", "image", "inspect", "--format", "{{.Id}}", name)
    if image_id is None:
        return FakeCommand(argv, returncode=125, stderr=NOT_KNOWN.format(name=name))
    return FakeCommand(argv, stdout=image_id + "\n")


@pytest.mark.parametrize("image, previous", [
    ("spotify_pod", "spotify_pod:previous"),
    ("localhost/sdtest:test", "localhost/sdtest:previous"),
    ("localhost:5000/team/spotify", "localhost:5000/team/spotify:previous"),
    ("spotify_pod:previous", None),
    (f"spotify_pod@sha256:{NEW}", None),
    ("Not/Valid", None),
])
def test_previous_name(image: str, previous: str | None) -> None:
    assert previous_name(image) == previous
    assert is_previous(image) == image.endswith(":previous")


def test_swap_makes_previous_current_and_keeps_the_newer_one() -> None:
    runner = FakeCommandRunner([ident("spotify_pod", NEW), ident("spotify_pod:previous", OLD),
                                FakeCommand(("podman", "tag", OLD, "spotify_pod")),
                                FakeCommand(("podman", "tag", NEW, "spotify_pod:previous"))], ordered=True)
    swapped = swap(runner, "spotify_pod")
    assert (swapped.now_current, swapped.now_previous, swapped.previous) == (OLD, NEW, "spotify_pod:previous")
    assert runner.exhausted


@pytest.mark.parametrize("answers, message", [
    ([ident("spotify_pod", NEW), ident("spotify_pod:previous", None)],
     "there is no spotify_pod:previous to roll back"),
    ([ident("spotify_pod", NEW), ident("spotify_pod:previous", NEW)], "are the same image (aaaaaaaaaaaa)"),
    ([FakeCommand(("podman", "image", "inspect", "--format", "{{.Id}}", "spotify_pod"), returncode=1,
                  stderr='time="x" level=error msg="toml: line 2"\n')],
     "podman cannot tell which image spotify_pod is"),
])
def test_swap_refuses_with_the_reason(answers: list[FakeCommand], message: str) -> None:
    with pytest.raises(ProbeUnavailable, match=message.replace("(", r"\(").replace(")", r"\)")):
        swap(FakeCommandRunner(answers, ordered=True), "spotify_pod")


def test_swap_without_a_current_image_moves_previous() -> None:
    runner = FakeCommandRunner([ident("spotify_pod", None), ident("spotify_pod:previous", OLD),
                                FakeCommand(("podman", "tag", OLD, "spotify_pod")),
                                FakeCommand(("podman", "untag", OLD, "spotify_pod:previous"))], ordered=True)
    assert swap(runner, "spotify_pod").now_previous == "" and runner.exhausted


def test_a_failed_tag_keeps_nothing_and_settles_nothing() -> None:
    log: list[str] = []
    runner = FakeCommandRunner([ident("spotify_pod", NEW), ident("spotify_pod:previous", None),
                                FakeCommand(("podman", "tag", NEW, "spotify_pod:previous"), returncode=125,
                                            stderr="Error: database is locked")], ordered=True)
    kept = keep_previous(runner, "spotify_pod", log.append)
    assert kept.replaced == "" and log == [f"# could not tag {NEW} as spotify_pod:previous: Error: database is locked"]
    settle(runner, kept, "", False, log.append)
    assert runner.exhausted


def test_a_failed_build_gives_previous_back_to_the_image_it_had() -> None:
    log: list[str] = []
    runner = FakeCommandRunner([ident("spotify_pod", NEW), ident("spotify_pod:previous", OLD),
                                FakeCommand(("podman", "tag", NEW, "spotify_pod:previous")),
                                FakeCommand(("podman", "tag", OLD, "spotify_pod:previous"))], ordered=True)
    kept = keep_previous(runner, "spotify_pod", log.append)
    settle(runner, kept, "", False, log.append)
    assert runner.exhausted and log[-1] == f"# the build failed: spotify_pod:previous is {OLD} again"


# -- spotidoctor rollback --------------------------------------------------------------------------

def inspect_json(image_id: str, version: str) -> str:
    labels = {LABEL_SPOTIFY_VERSION: version, LABEL_RECIPE_HASH: "sha256:x"}
    return json.dumps([{"Id": image_id, "Created": "2026-11-01T10:00:00Z", "Config": {"Labels": labels},
                        "Labels": labels}])


def present(name: str, image_id: str, version: str) -> list[FakeCommand]:
    return [FakeCommand(("podman", "image", "exists", name)),
            FakeCommand(("podman", "image", "inspect", name), stdout=inspect_json(image_id, version))]


def rollback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, commands: list[FakeCommand],
             config: Config | None = None) -> tuple[int, str, Any]:
    runner = FakeCommandRunner(commands)
    ctx = make_context(tmp_path, commands=runner, config=config or Config())
    monkeypatch.setattr(rollback_mod, "make_context", lambda options: ctx)
    monkeypatch.setattr(rollback_mod, "exclusive", lambda path, what: _nothing())
    out = io.StringIO()
    code = rollback_mod.run(RollbackOptions(SessionOptions()), out)
    return code, out.getvalue(), ctx


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def test_rollback_command_swaps_says_what_it_did_and_holds_auto_update(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    commands = [*present("spotify_pod", NEW, "1:1.2.53"), *present("spotify_pod:previous", OLD, "1:1.2.52"),
                ident("spotify_pod", NEW), ident("spotify_pod:previous", OLD),
                FakeCommand(("podman", "tag", OLD, "spotify_pod")),
                FakeCommand(("podman", "tag", NEW, "spotify_pod:previous"))]
    code, out, ctx = rollback(tmp_path, monkeypatch, commands, Config(auto_update=True))
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "Rolled back: spotify_pod is now bbbbbbbbbbbb, Spotify 1:1.2.52, built 2026-11-01."
    assert lines[1] == ("The newer image (aaaaaaaaaaaa, Spotify 1:1.2.53, built 2026-11-01) is kept as "
                        "spotify_pod:previous; `spotidoctor rollback` again goes back to it.")
    assert lines[2].startswith("auto_update holds off: launches do not rebuild Spotify 1:1.2.53 again")
    hold = read_hold(ctx.probes.fs, ctx.paths, "spotify_pod")
    assert hold is not None and hold.from_version == "1:1.2.53"


def test_rollback_without_a_previous_image_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    commands = [*present("spotify_pod", NEW, "1:1.2.53"), FakeCommand(("podman", "image", "exists",
                                                                      "spotify_pod:previous"), returncode=1),
                ident("spotify_pod:previous", None), ident("spotify_pod", NEW), ident("spotify_pod:previous", None)]
    code, out, _ = rollback(tmp_path, monkeypatch, commands)
    assert code == 1 and out.startswith("Cannot roll back: there is no spotify_pod:previous to roll back to")


def test_rollback_of_a_previous_reference_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UsageError, match="is a previous image or a digest"):
        rollback(tmp_path, monkeypatch, [], Config(image="spotify_pod:previous"))


# -- launch: the image it runs ------------------------------------------------------------------

REPO = "https://repository.spotify.com"


def update_result(available: bool, newest: str = "1:1.2.60") -> CheckResult:
    return CheckResult("image.update", Status.WARN if available else Status.OK, "x",
                       facts={"update_available": available, "newest_version": newest})


def launch_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, commands: list[FakeCommand],
                results: list[CheckResult], outcome: BuildOutcome | None = None,
                config: Config | None = None) -> tuple[int, str, list[str], Any]:
    built: list[str] = []

    def run_build(probes: object, paths: object, request: Any, display: object) -> BuildOutcome:
        built.append(request.image)
        return outcome or BuildOutcome(request.image, 0, "/log", "sha256:" + NEW, "1:1.2.60",
                                       previous="spotify_pod:previous")

    monkeypatch.setattr(launchimage, "run_build", run_build)
    monkeypatch.setattr(launchimage, "exclusive", lambda path, what: _nothing())
    ctx = make_context(tmp_path, commands=FakeCommandRunner(commands),
                       config=config or Config(image="spotify_pod", auto_update=True))
    out = io.StringIO()
    code = launchimage.prepare_image(ctx, results, out)
    return code, out.getvalue(), built, ctx


def our_image(name: str = "spotify_pod") -> list[FakeCommand]:
    labels = {LABEL_SPOTIFY_VERSION: "1:1.2.52", LABEL_SPOTIFY_REPO: REPO, LABEL_RECIPE_HASH: "sha256:x"}
    inspect = json.dumps([{"Id": OLD, "Created": "2026-11-01T10:00:00Z", "Config": {"Labels": labels},
                           "Labels": labels}])
    return [FakeCommand(("podman", "image", "exists", name)),
            FakeCommand(("podman", "image", "inspect", name), stdout=inspect)]


def test_auto_update_rebuilds_before_the_launch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, built, _ = launch_with(tmp_path, monkeypatch, our_image(), [update_result(True)])
    assert code == 0 and built == ["spotify_pod"]
    assert out.splitlines()[0] == ("auto_update: Spotify 1:1.2.60 is available (spotify_pod has 1:1.2.52): "
                                   "rebuilding before the launch.")
    assert "the image it replaced is spotify_pod:previous" in out


def test_no_update_or_no_opt_in_builds_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert launch_with(tmp_path, monkeypatch, our_image(), [update_result(False)])[2] == []
    assert launch_with(tmp_path / "2", monkeypatch, our_image(), [update_result(True)],
                       config=Config(image="spotify_pod"))[2] == []


def test_a_hold_after_a_rollback_keeps_the_old_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = make_context(tmp_path)
    write_hold(ctx.probes.fs, ctx.paths, "spotify_pod", "1:1.2.60")
    code, out, built, _ = launch_with(tmp_path, monkeypatch, our_image(), [update_result(True)])
    assert code == 0 and built == []
    assert out.startswith("auto_update: Spotify 1:1.2.60 is available, but you rolled back from Spotify 1:1.2.60: "
                          "launching 1:1.2.52")
    code, out, built, ctx = launch_with(tmp_path, monkeypatch, our_image(), [update_result(True, "1:1.2.61")])
    assert built == ["spotify_pod"] and read_hold(ctx.probes.fs, ctx.paths, "spotify_pod") is None


def test_a_failed_update_explains_itself_and_launches_the_current_image(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    failure = classify(["W: Failed to fetch https://repository.spotify.com/dists/stable/InRelease  Temporary "
                        "failure resolving 'repository.spotify.com'"], 100)
    outcome = BuildOutcome("spotify_pod", 100, "/s/builds/1.log", failure=failure)
    code, out, built, _ = launch_with(tmp_path, monkeypatch, our_image(), [update_result(True)], outcome)
    assert code == 0 and built == ["spotify_pod"]
    assert "Build of spotify_pod failed: the build could not resolve repository.spotify.com" in out
    assert "then run `spotidoctor launch`." in out
    assert out.rstrip().endswith("Launching the current image (Spotify 1:1.2.52) instead.")


def test_a_previous_image_is_never_built_nor_updated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = Config(image="spotify_pod:previous", auto_update=True)
    absent = [FakeCommand(("podman", "image", "exists", "spotify_pod:previous"), returncode=1),
              ident("spotify_pod:previous", None)]
    code, out, built, _ = launch_with(tmp_path, monkeypatch, absent, [], config=config)
    assert code == 1 and built == [] and out.startswith("spotify_pod:previous does not exist: there is no previous")
    code, _, built, _ = launch_with(tmp_path / "2", monkeypatch, our_image("spotify_pod:previous"),
                                    [update_result(True)], config=config)
    assert code == 0 and built == []


def test_a_missing_image_that_fails_to_build_stops_with_launch_advice(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    failure = classify(["E: Unable to locate package spotify-client"], 100)
    outcome = BuildOutcome("spotify_pod", 100, "/s/builds/1.log", failure=failure)
    absent = [FakeCommand(("podman", "image", "exists", "spotify_pod"), returncode=1), ident("spotify_pod", None)]
    code, out, built, _ = launch_with(tmp_path, monkeypatch, absent, [], outcome)
    assert code == 1 and built == ["spotify_pod"]
    assert "  E: Unable to locate package spotify-client" in out and "then run `spotidoctor launch`." in out



# -- the command line and the setting ------------------------------------------------------------

def test_image_option_takes_previous_and_refuses_what_podman_would_misread(capsys: pytest.CaptureFixture[str]) -> None:
    from spotidoctor.cli import build_parser
    from spotidoctor.commands.options import options_from

    args = build_parser().parse_args(["launch", "--image", "spotify_pod:previous"])
    assert options_from(args).session.image == "spotify_pod:previous"  # type: ignore[union-attr]
    assert isinstance(options_from(build_parser().parse_args(["rollback"])), RollbackOptions)
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["launch", "--image=Spotify Pod"])
    assert exited.value.code == 2
    assert "argument --image: image 'Spotify Pod' is not a valid image reference" in capsys.readouterr().err


def test_auto_update_is_a_boolean_setting() -> None:
    from spotidoctor.config import parse
    from spotidoctor.errors import ConfigError

    assert parse(b"auto_update = true\n", "c.toml").auto_update is True
    assert Config().auto_update is False
    with pytest.raises(ConfigError, match="auto_update must be true or false"):
        parse(b'auto_update = "yes"\n', "c.toml")


def test_the_previous_image_is_never_built_over(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from spotidoctor.checks.image.common import build_fixes
    from spotidoctor.commands import build as build_mod
    from spotidoctor.commands.options import BuildOptions

    assert build_fixes(make_context(tmp_path, config=Config(image="spotify_pod:previous"))) == ()
    assert [f.id for f in build_fixes(make_context(tmp_path, config=Config(image="spotify_pod")))] == ["image.build"]
    runner = FakeCommandRunner([])
    monkeypatch.setattr(build_mod, "make_context",
                        lambda options: make_context(tmp_path, commands=runner,
                                                     config=Config(image="spotify_pod:previous")))
    out = io.StringIO()
    assert build_mod.run(BuildOptions(SessionOptions()), out) == 2 and runner.calls == []
    assert out.getvalue().startswith("spotify_pod:previous is the image the last rebuild replaced")
