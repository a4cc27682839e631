"""image.update on fakes: the keyring copied out of the image once, every verdict as the user
reads it, the remembered answer (and the short memory for "unreachable"), and auto_update's
hold after a rollback."""
from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from spotidoctor.api import Context
from spotidoctor.backend.imagekeyring import KEYRING_IN_IMAGE, image_keyring, keyrings_dir
from spotidoctor.backend.recipe import LABEL_RECIPE_HASH, LABEL_SPOTIFY_REPO, LABEL_SPOTIFY_VERSION
from spotidoctor.backend.updatecheck import UNREACHABLE_TTL_S, image_update
from spotidoctor.backend.updatehold import clear_hold, holds_back, read_hold, write_hold
from spotidoctor.checks.image import CHECKS
from spotidoctor.config import Config
from spotidoctor.engine.planning import plan
from spotidoctor.engine.runner import Runner
from spotidoctor.model import CheckResult, Status
from spotidoctor.probes.command import Completed
from spotidoctor.probes.http import HttpError
from spotidoctor.resultcache import ResultCache
from spotidoctor.testing import FakeCommandRunner, FakeHttp, make_context
from tests.unit.test_updates import DIST, GOOD, MISSING, NEWEST, REPO, served

IMAGE = "spotify_pod"
IMAGE_ID = "64964c2f85cbb8cade50abb451aa51fbd4898056838fa970121005530167a529"
OLD = "1:1.1.80.699.gc3dac750-2"
KEYRING = b"\x99\x00\x33binary keyring"


def inspect(version: str = OLD, repo: str = REPO, ours: bool = True) -> str:
    labels = {LABEL_SPOTIFY_VERSION: version, LABEL_SPOTIFY_REPO: repo, **({LABEL_RECIPE_HASH: "sha256:x"} if ours
                                                                            else {})}
    return json.dumps([{"Id": IMAGE_ID, "Created": "2026-11-01T10:00:00Z", "Architecture": "amd64",
                        "Config": {"User": "1500:1500", "Labels": labels}, "Labels": labels}])


class Scripted(FakeCommandRunner):
    """podman and gpgv by the first words of their argv (paths in them are random)."""

    def __init__(self, inspect_json: str, *, gpgv: str = GOOD, gpgv_rc: int = 0, has_keyring: bool = True,
                 gpgv_installed: bool = True) -> None:
        super().__init__()
        self.log: list[tuple[str, ...]] = []
        self.handlers: dict[tuple[str, ...], Callable[[tuple[str, ...]], Completed]] = {
            ("podman", "image", "exists"): lambda a: Completed(a, 0),
            ("podman", "image", "inspect"): lambda a: Completed(a, 0, inspect_json),
            ("podman", "create"): lambda a: Completed(a, 0, "c0ffee\n"),
            ("podman", "cp"): self._cp if has_keyring else lambda a: Completed(
                a, 125, "", f'Error: "{KEYRING_IN_IMAGE}" could not be found on container c0ffee: no such file'),
            ("podman", "rm"): lambda a: Completed(a, 0, "c0ffee\n"),
            ("/usr/bin/gpgv",): self._gpgv,
        }
        self.gpgv_status, self.gpgv_rc, self.gpgv_installed = gpgv, gpgv_rc, gpgv_installed

    @staticmethod
    def _cp(argv: tuple[str, ...]) -> Completed:
        with open(argv[-1], "wb") as fh:
            fh.write(KEYRING)
        return Completed(argv, 0)

    def _gpgv(self, argv: tuple[str, ...]) -> Completed:
        from spotidoctor.backend.aptrelease import clearsigned_text

        assert open(argv[argv.index("--keyring") + 1], "rb").read() == KEYRING  # the image's own keyring
        if self.gpgv_rc == 0:
            with open(argv[-1], "rb") as fh, open(argv[argv.index("--output") + 1], "w") as out:
                out.write(clearsigned_text(fh.read()))
        return Completed(argv, self.gpgv_rc, self.gpgv_status)

    def which(self, name: str) -> str | None:
        if name == "gpgv":
            return "/usr/bin/gpgv" if self.gpgv_installed else None
        return super().which(name)

    def run(self, argv: Sequence[str], **_: object) -> Completed:  # type: ignore[override]
        args = tuple(argv)
        self.log.append(args)
        for prefix, handler in sorted(self.handlers.items(), key=lambda kv: -len(kv[0])):
            if args[:len(prefix)] == prefix:
                return handler(args)
        raise AssertionError(f"unexpected command {args!r}")


def run_update(tmp_path: Path, runner: Scripted, http: FakeHttp, cache: ResultCache | None = None,
               config: Config | None = None) -> tuple[CheckResult, Context]:
    ctx = make_context(tmp_path, commands=runner, http=http, config=config or Config(image=IMAGE))
    if cache is not None:
        ctx = dataclasses.replace(ctx, cache=cache)
    results = {r.check_id: r for r in Runner(ctx).run(plan(CHECKS, ["image.update"])).results}
    return results["image.update"], ctx


def texts(result: CheckResult) -> list[str]:
    return [t for m in result.messages for t in (m.text, *m.advice)]


# -- the verdicts -------------------------------------------------------------------------------

def test_an_update_is_a_warning_with_the_rebuild_and_the_keyring_comes_from_the_image(tmp_path: Path) -> None:
    runner = Scripted(inspect())
    result, ctx = run_update(tmp_path, runner, served())
    assert result.status is Status.WARN
    assert result.summary.startswith(f"Spotify {NEWEST} is available; {IMAGE} has {OLD} (built ")
    assert [f.id for f in result.fixes] == ["image.build"]
    assert any("the current image stays as spotify_pod:previous" in t for t in texts(result))
    assert result.facts["update_available"] is True and result.facts["newest_version"] == NEWEST
    assert result.facts["signature_verified"] is True
    create = next(a for a in runner.log if a[:2] == ("podman", "create"))
    assert "--pull=never" in create and create[-1] == IMAGE_ID  # never started: no runtime, no network
    assert ("podman", "rm", "--force", "c0ffee") in runner.log
    copy = os.path.join(keyrings_dir(ctx.paths), f"{IMAGE_ID}.gpg")
    st = ctx.probes.fs.lstat(copy)
    assert st is not None and st.perms == 0o600 and ctx.probes.fs.read_bytes(copy) == KEYRING


def test_the_newest_version_passes(tmp_path: Path) -> None:
    result, _ = run_update(tmp_path, Scripted(inspect(version=NEWEST)), served())
    assert result.status is Status.OK
    assert result.summary.startswith(f"Spotify {NEWEST} is the newest in {REPO} (built ")


def test_offline_is_a_warning_that_says_so(tmp_path: Path) -> None:
    http = FakeHttp({f"{DIST}/InRelease": HttpError(f"{DIST}/InRelease", "the name does not resolve")})
    result, _ = run_update(tmp_path, Scripted(inspect()), http)
    assert result.status is Status.WARN and result.severity.name == "WARNING" and result.fixes == ()
    assert result.summary == f"cannot reach {REPO} (offline?): whether a newer Spotify exists is unknown"
    assert f"{DIST}/InRelease: the name does not resolve" in texts(result)


def test_a_rotated_key_is_named_with_the_config_change_and_no_rebuild_is_offered(tmp_path: Path) -> None:
    result, _ = run_update(tmp_path, Scripted(inspect(), gpgv=MISSING, gpgv_rc=2), served())
    assert result.status is Status.WARN and result.fixes == ()
    assert result.summary == "Spotify has rotated its repository signing key: a rebuild needs the new key"
    advice = " ".join(texts(result))
    assert "signed with key 4202F724C118DC76A22081ED912245B33E509986, which the image's keyring does not have" in advice
    assert 'build_args = ["SPOTIFY_KEY_URL=https://download.spotify.com/debian/pubkey_912245B33E509986.asc"]' in advice


def test_without_gpgv_or_the_images_keyring_it_says_not_verified(tmp_path: Path) -> None:
    result, _ = run_update(tmp_path, Scripted(inspect(), gpgv_installed=False), served())
    assert result.status is Status.WARN and result.facts["signature_verified"] is False
    assert any(t.startswith("Not verified: gpgv is not installed") for t in texts(result))
    result, _ = run_update(tmp_path / "2", Scripted(inspect(), has_keyring=False), served())
    assert result.facts["signature_verified"] is False
    assert f"Not verified: the image's keyring could not be read (the image has no {KEYRING_IN_IMAGE})." in texts(
        result)


@pytest.mark.parametrize("labels, why", [
    (inspect(ours=False), f"{IMAGE} was not built by spotidoctor"),
    (inspect(repo=""), f"{IMAGE} does not record its repository (built from another recipe"),
    (inspect(repo="ftp://x"), "the image's repository label 'ftp://x' is not an http(s) URL"),
])
def test_images_that_cannot_be_asked_about_are_skipped(tmp_path: Path, labels: str, why: str) -> None:
    http = FakeHttp()
    result, _ = run_update(tmp_path, Scripted(labels), http)
    assert result.status is Status.SKIP and result.summary.startswith(why) and http.asked == []


# -- remembered answers -------------------------------------------------------------------------

def test_the_answer_is_remembered_and_an_unreachable_one_only_briefly(tmp_path: Path) -> None:
    now = [1_000_000.0]
    cache = ResultCache(str(tmp_path / "cache"), owner_uid=os.geteuid(), clock=lambda: now[0])
    http = served()
    first, _ = run_update(tmp_path, Scripted(inspect()), http, cache)
    second, _ = run_update(tmp_path, Scripted(inspect()), http, cache)
    assert first.status is second.status is Status.WARN and len(http.asked) == 3  # asked once (InRelease, gz, plain)
    assert any("the repository was asked 0 s ago" in t for t in texts(second))

    offline = FakeHttp({f"{DIST}/InRelease": HttpError(f"{DIST}/InRelease", "timed out")})
    cache2 = ResultCache(str(tmp_path / "cache2"), owner_uid=os.geteuid(), clock=lambda: now[0])
    run_update(tmp_path, Scripted(inspect()), offline, cache2)
    now[0] += UNREACHABLE_TTL_S / 2
    run_update(tmp_path, Scripted(inspect()), offline, cache2)
    assert len(offline.asked) == 1  # remembered for a while
    now[0] += UNREACHABLE_TTL_S
    back, _ = run_update(tmp_path, Scripted(inspect()), served(), cache2)
    assert back.facts["update_available"] is True  # asked again once it was old


def test_a_missing_keyring_is_not_remembered(tmp_path: Path) -> None:
    cache = ResultCache(str(tmp_path / "cache"), owner_uid=os.geteuid())
    http = served()
    run_update(tmp_path, Scripted(inspect(), has_keyring=False), http, cache)
    run_update(tmp_path, Scripted(inspect(), has_keyring=False), http, cache)
    assert http.asked.count(f"{DIST}/InRelease") == 2


def test_the_keyring_copy_is_reused(tmp_path: Path) -> None:
    runner = Scripted(inspect())
    ctx = make_context(tmp_path, commands=runner)
    first = image_keyring(ctx.probes, ctx.paths, IMAGE_ID)
    again = image_keyring(ctx.probes, ctx.paths, IMAGE_ID)
    assert first == again and first.path.endswith(f"keyrings/{IMAGE_ID}.gpg")
    assert [a[:2] for a in runner.log] == [("podman", "create"), ("podman", "cp"), ("podman", "rm")]


def test_image_update_reports_what_it_could_not_ask(tmp_path: Path) -> None:
    from spotidoctor.backend.images import parse_inspect

    ctx = make_context(tmp_path, commands=Scripted(inspect()))
    assert image_update(ctx, parse_inspect(inspect(version=""), IMAGE)).not_asked.startswith(
        f"{IMAGE} does not record its Spotify version")


# -- the hold after a rollback --------------------------------------------------------------------

def test_a_rollback_hold_lets_only_newer_versions_through(tmp_path: Path) -> None:
    ctx = make_context(tmp_path)
    fs, paths = ctx.probes.fs, ctx.paths
    assert read_hold(fs, paths, IMAGE) is None
    hold = write_hold(fs, paths, IMAGE, NEWEST)
    assert read_hold(fs, paths, IMAGE) == hold
    assert holds_back(hold, NEWEST) and holds_back(hold, OLD) and not holds_back(hold, "1:1.2.0")
    assert holds_back(write_hold(fs, paths, "other", ""), "9:9")  # unknown version: hold every update
    clear_hold(fs, paths, IMAGE)
    assert read_hold(fs, paths, IMAGE) is None and read_hold(fs, paths, "other") is not None
    fs.write_atomic(os.path.join(paths.state_dir, "update-hold.json"), b"{not json", mode=0o600)
    assert read_hold(fs, paths, "other") is None  # damaged: no hold
