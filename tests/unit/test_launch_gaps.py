"""``spotidoctor launch``: an unsafe fix is never applied by the preflight (not even with
--yes), and a launch stopped with SIGTERM (143) is reported as stopped, not diagnosed."""
from __future__ import annotations

from pathlib import Path

import pytest

from spotidoctor.api import Check, CheckResult, Context
from spotidoctor.fixes import Fix, WriteFile
from tests.unit.test_launch import (  # noqa: F401  (lock and the autouse no_real_side_effects: fixtures)
    Podman,
    container_free,
    image_present,
    launch,
    lock,
    make_args,
    no_real_side_effects,
    session,
)

UNSAFE_FLAG = "/home/alice/unsafe-applied"


class UnsafeOnly(Check):
    """An error whose only fix is unsafe."""

    id = "x11.fake-unsafe"
    title = "unsafe only"
    tags = frozenset({"launch"})

    def run(self, ctx: Context) -> CheckResult:
        if ctx.probes.fs.exists(UNSAFE_FLAG):
            return self.ok("applied")
        return self.fail("needs an unsafe fix", fixes=(Fix.unsafe("x11.fake-unsafe-fix", "unsafe", WriteFile(
            "write", path=UNSAFE_FLAG, content="x\n")),))


@pytest.mark.usefixtures("lock")
def test_the_preflight_never_applies_an_unsafe_fix(tmp_path: Path) -> None:
    podman = Podman([])
    code, out, _ = launch(session(tmp_path, podman, UnsafeOnly), make_args(yes=True))
    assert code == 1 and podman.ran == []
    assert not (tmp_path / UNSAFE_FLAG.lstrip("/")).exists()
    assert "Launch refused: 1 problem(s) must be fixed first: x11.fake-unsafe." in out


@pytest.mark.parametrize("code", [143, 130])
def test_a_launch_stopped_by_a_signal_is_not_diagnosed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       code: int) -> None:
    monkeypatch.setattr("spotidoctor.crash.launches.diagnose_launch", lambda *a: pytest.fail("diagnosed"))
    podman = Podman([*image_present(), *container_free()], code=code)
    got, out, _ = launch(session(tmp_path, podman), make_args())
    assert got == code and f"Spotify was stopped (exit status {code})." in out


class ImageMissing(Check):
    """What image.present says before a first launch."""

    id = "image.present"
    title = "image"
    tags = frozenset({"launch"})

    def run(self, ctx: Context) -> CheckResult:
        return self.fail("spotify_pod is not built yet")


@pytest.mark.usefixtures("lock")
def test_a_missing_image_does_not_refuse_the_launch_it_is_built(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from spotidoctor.backend.build import BuildOutcome
    from spotidoctor.commands import launchimage
    from tests.unit.test_launch import STATE, image_absent

    built: list[str] = []

    def run_build(probes: object, paths: object, request, display: object) -> BuildOutcome:
        built.append(request.image)
        return BuildOutcome(request.image, 0, f"{STATE}/builds/x.log", "sha256:abc")

    monkeypatch.setattr(launchimage, "run_build", run_build)
    podman = Podman([*image_absent(), *container_free()])
    code, out, _ = launch(session(tmp_path, podman, ImageMissing), make_args(yes=True))
    assert code == 0 and len(built) == 1 and podman.ran, out
    assert "Launch refused" not in out
