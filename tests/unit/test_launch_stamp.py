"""The launch stamp and the fast path's rules (spotidoctor.launcher.stamp / fastpath,
spotidoctor.commands.launchstamp) over fakes: every input of the fingerprint changes it,
the stamp file is trusted only when it is ours and young, a crash or a failing preflight
forgets it, and the fast path says why it is not taken. The real servers and planted
faults are in tests/integration/test_launch_fastpath.py."""
from __future__ import annotations

import dataclasses
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from spotidoctor.api import Context
from spotidoctor.backend.images import ImageInfo, ImageLookup, Presence
from spotidoctor.commands.launchstamp import Stamper, full_reason, session_key
from spotidoctor.commands.options import LaunchOptions
from spotidoctor.config import Config
from spotidoctor.engine.session import SessionOptions
from spotidoctor.launcher import fastpath
from spotidoctor.launcher.phases import PhaseClock
from spotidoctor.launcher.stamp import (
    STAMP_TTL_S,
    LaunchStamp,
    base_fingerprint,
    clean_preflight,
    launch_fingerprint,
    load_stamp,
    save_stamp,
    stamp_path,
)
from spotidoctor.memo import Memo
from spotidoctor.model import CheckResult, Severity, Status
from spotidoctor.testing import FakeCommand, FakeCommandRunner, make_context

HOME = "/home/alice"
XAUTH = f"{HOME}/.Xauthority"
IMAGE = "localhost/spotify:latest"


def results(*extra: CheckResult) -> tuple[CheckResult, ...]:
    return (CheckResult("x11.display", Status.OK, "display :0",
                        facts={"display": ":0", "display_number": 0, "socket_path": "/tmp/.X11-unix/X0"},
                        title="X display", category="x11"),
            CheckResult("userns.mapping", Status.OK, "mapped", facts={"host_uid": 101499, "host_gid": 101499}),
            CheckResult("pulse.server", Status.WARN, "null sink only", severity=Severity.WARNING),
            *extra)


def context(tmp_path: Path, env: dict[str, str] | None = None) -> Context:
    files = {f"{HOME}/.config/spotidoctor/config.toml": 'image = "localhost/spotify:latest"\n',
             XAUTH: "cookie", "/tmp/.X11-unix/X0": "", "/run/user/1600/pulse/native": "",
             f"{HOME}/.spotify/config/.keep": "", f"{HOME}/.spotify/cache/.keep": ""}
    ctx = make_context(tmp_path / "root", files=files, env={"DISPLAY": ":0", **(env or {})},
                       commands=FakeCommandRunner(repeat=True, missing=["podman", "buildah"]),
                       config=Config(image=IMAGE))
    state = Path(tmp_path / "root" / ctx.paths.state_dir.lstrip("/"))
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    return ctx


def host(tmp_path: Path, path: str) -> Path:
    return tmp_path / "root" / path.lstrip("/")


def digest(ctx: Context, key: dict[str, object] | None = None) -> str:
    base = base_fingerprint(ctx, key or {"network": None})  # type: ignore[arg-type]
    return launch_fingerprint(ctx, results(), base)


# -- the fingerprint ---------------------------------------------------------------------------


def _replace(path: Path) -> None:
    path.unlink()
    path.write_text("")


CHANGES: dict[str, Callable[[Path], None]] = {
    "config.toml edited": lambda t: host(t, f"{HOME}/.config/spotidoctor/config.toml").write_text('image = "x"\n'),
    "X cookie removed": lambda t: host(t, XAUTH).unlink(),
    "X socket replaced (server restarted)": lambda t: _replace(host(t, "/tmp/.X11-unix/X0")),
    "pulse socket replaced (server restarted)": lambda t: _replace(host(t, "/run/user/1600/pulse/native")),
    "pulse socket removed (server stopped)": lambda t: host(t, "/run/user/1600/pulse/native").unlink(),
    "pulse pid file written": lambda t: host(t, "/run/user/1600/pulse/pid").write_text("4242\n"),
    "storage mode changed": lambda t: host(t, f"{HOME}/.spotify/cache").chmod(0o777),
    "storage directory replaced": lambda t: os.rename(host(t, f"{HOME}/.spotify/cache"),
                                                      host(t, f"{HOME}/.spotify/cache-old")),
    "subuid edited": lambda t: host(t, "/etc/subuid").write_text("alice:100000:65536\n"),
    "a tool installed": lambda t: host(t, "/usr/bin/xdg-dbus-proxy").write_text("#!/bin/sh\n"),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_every_input_changes_the_fingerprint(tmp_path: Path, change: str) -> None:
    ctx = context(tmp_path)
    before = digest(ctx)
    assert digest(ctx) == before  # stable while nothing changes
    host(tmp_path, "/etc").mkdir(exist_ok=True)
    host(tmp_path, "/usr/bin").mkdir(parents=True, exist_ok=True)
    before = digest(ctx)
    CHANGES[change](tmp_path)
    ctx.memo.forget()  # a new launch: nothing remembered
    assert digest(ctx) != before


@pytest.mark.parametrize("env", [{"DISPLAY": ":1"}, {"PULSE_SERVER": "unix:/tmp/other"}, {"XDG_SESSION_TYPE": "x11"},
                                 {"DBUS_SESSION_BUS_ADDRESS": "unix:path=/run/user/1600/bus"}, {"LANG": "de_DE.UTF-8"}])
def test_the_environment_the_checks_read_changes_it(tmp_path: Path, env: dict[str, str]) -> None:
    ctx = context(tmp_path)
    assert digest(ctx) != digest(dataclasses.replace(ctx, env={**ctx.env, **env}, memo=Memo()))


def test_an_unrelated_variable_does_not(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    assert digest(ctx) == digest(dataclasses.replace(ctx, env={**ctx.env, "OLDPWD": "/tmp", "SHLVL": "3"}, memo=Memo()))


def test_the_command_line_changes_it(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    plain = session_key(LaunchOptions(SessionOptions()))
    assert digest(ctx, plain) == digest(ctx, session_key(LaunchOptions(SessionOptions(), spotify_args=("--x",))))
    for other in (LaunchOptions(SessionOptions(), network="none"), LaunchOptions(SessionOptions(profile="keep-id")),
                  LaunchOptions(SessionOptions(config_path="/tmp/c.toml")),
                  LaunchOptions(SessionOptions(plugins=False))):
        assert digest(ctx, session_key(other)) != digest(ctx, plain)


def test_the_results_files_count_the_container_cookie(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    cookie = CheckResult("x11.container-cookie", Status.OK, "ok", facts={"cookie_file": "/run/user/1600/c",
                                                                         "xauthority": XAUTH})
    host(tmp_path, "/run/user/1600/c").write_text("wild")
    base = base_fingerprint(ctx, {})
    before = launch_fingerprint(ctx, results(cookie), base)
    host(tmp_path, "/run/user/1600/c").unlink()
    assert launch_fingerprint(ctx, results(cookie), base) != before


# -- the stamp file ----------------------------------------------------------------------------

def stamp(ctx: Context, created: float = 0.0) -> LaunchStamp:
    import time

    return LaunchStamp(digest(ctx), created or time.time(), "sha256:aaa", results())


def test_the_stamp_round_trips_with_its_facts(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    written = stamp(ctx)
    save_stamp(ctx, written)
    path = host(tmp_path, stamp_path(ctx))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = load_stamp(ctx)
    assert loaded is not None and loaded.digest == written.digest and loaded.image_id == "sha256:aaa"
    assert [(r.check_id, r.status, r.severity, dict(r.facts)) for r in loaded.results] == \
           [(r.check_id, r.status, r.severity, dict(r.facts)) for r in written.results]
    assert "cookie" not in path.read_text()  # ids, statuses, summaries and facts only


@pytest.mark.parametrize("spoil", ["old", "future", "mode", "damaged", "schema"])
def test_a_stamp_that_cannot_be_trusted_is_none(tmp_path: Path, spoil: str) -> None:
    import time

    ctx = context(tmp_path)
    created = {"old": time.time() - STAMP_TTL_S - 5, "future": time.time() + 3600}.get(spoil, 0.0)
    save_stamp(ctx, stamp(ctx, created))
    path = host(tmp_path, stamp_path(ctx))
    if spoil == "mode":
        path.chmod(0o644)
    elif spoil == "damaged":
        path.write_bytes(path.read_bytes()[:40])
    elif spoil == "schema":
        data = json.loads(path.read_text())
        path.write_text(json.dumps({**data, "schema": 99}))
    assert load_stamp(ctx) is None


def test_clean_preflight_allows_warnings_and_skips_only() -> None:
    assert clean_preflight(results(CheckResult("a.b", Status.SKIP, "n/a")))
    assert clean_preflight(results(CheckResult("a.b", Status.FAIL, "opt-in", severity=Severity.WARNING)))
    assert not clean_preflight(results(CheckResult("a.b", Status.FAIL, "bad")))
    assert not clean_preflight(results(CheckResult("a.b", Status.ERROR, "crashed")))
    assert not clean_preflight(())


# -- which launches stamp ----------------------------------------------------------------------

def present(ctx: Context, image_id: str = "sha256:aaa") -> None:
    info = ImageInfo(IMAGE, image_id, None, "1500:1500")
    ctx.memo.get(f"image.lookup:{IMAGE}", lambda: ImageLookup(IMAGE, Presence.PRESENT, info))


@pytest.mark.parametrize(("code", "kept"), [(0, True), (130, True), (143, True), (133, False), (1, False)])
def test_a_clean_launch_is_stamped_and_a_crash_forgets(tmp_path: Path, code: int, kept: bool) -> None:
    ctx = context(tmp_path)
    present(ctx)
    save_stamp(ctx, stamp(ctx))  # an older one
    stamper = Stamper(ctx, LaunchOptions(SessionOptions()))
    stamper.after_preflight(ctx, results(), fixed=False)
    stamper.after_run(ctx, code)
    assert (load_stamp(ctx) is not None) is kept


def test_no_stamp_after_fixes_force_or_a_change_during_the_checks(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    present(ctx)
    for options, fixed, change in ((LaunchOptions(SessionOptions()), True, None),
                                   (LaunchOptions(SessionOptions(), force=True), False, None),
                                   (LaunchOptions(SessionOptions()), False, lambda: host(tmp_path, XAUTH).unlink())):
        stamper = Stamper(ctx, options)
        if change:
            change()
        stamper.after_preflight(ctx, results(), fixed=fixed)
        stamper.after_run(ctx, 0)
        assert load_stamp(ctx) is None


def test_a_failing_preflight_forgets_the_stamp(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    save_stamp(ctx, stamp(ctx))
    Stamper(ctx, LaunchOptions(SessionOptions())).after_preflight(
        ctx, results(CheckResult("storage.ownership", Status.FAIL, "1 entry")), fixed=False)
    assert load_stamp(ctx) is None


def test_options_that_always_run_the_full_preflight() -> None:
    assert full_reason(LaunchOptions(SessionOptions())) is None
    for options in (LaunchOptions(SessionOptions(), dry_run=True), LaunchOptions(SessionOptions(), no_check=True),
                    LaunchOptions(SessionOptions(), force=True)):
        assert full_reason(options)


# -- the fast path's verdict ----------------------------------------------------------------------

LIVE = tuple(CheckResult(cid, Status.OK, "ok") for cid in fastpath.LIVE_CHECKS)


def judge(stamped: LaunchStamp, now_digest: str, found: ImageLookup, live: tuple[CheckResult, ...] = LIVE,
          ) -> fastpath.FastVerdict:
    with_live = LaunchStamp(stamped.digest, stamped.created, stamped.image_id, (*stamped.results, *LIVE))
    return fastpath._judge(with_live, now_digest, fastpath._Background(lambda: list(live)),
                           fastpath._Background(lambda: found))


def test_the_fast_path_trusts_only_an_unchanged_fingerprint_image_and_passing_live_checks(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    st = stamp(ctx)
    same = ImageLookup(IMAGE, Presence.PRESENT, ImageInfo(IMAGE, "sha256:aaa", None, "1500:1500"))
    ok = judge(st, st.digest, same)
    assert ok.results is not None and {r.check_id for r in ok.results} >= set(fastpath.LIVE_CHECKS)
    assert "changed" in judge(st, "other", same).reason
    replaced = ImageLookup(IMAGE, Presence.PRESENT, ImageInfo(IMAGE, "sha256:bbb", None, "1500:1500"))
    assert "replaced" in judge(st, st.digest, replaced).reason
    assert judge(st, st.digest, ImageLookup(IMAGE, Presence.UNKNOWN, error="podman hung")).results is None
    wrong = (*LIVE[:1], CheckResult("storage.ownership", Status.FAIL, "1 entry"), *LIVE[2:])
    verdict = judge(st, st.digest, same, wrong)
    assert verdict.results is None and "storage.ownership" in verdict.reason
    assert judge(st, st.digest, same, LIVE[:1]).results is None  # a live check that did not run


def test_no_stamp_auto_update_or_force_mean_the_full_preflight(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    assert "no record" in fastpath.trusted_preflight(ctx, {}, full_reason=None).reason
    assert fastpath.trusted_preflight(ctx, {}, full_reason="--force").reason == "--force"
    updating = dataclasses.replace(context(tmp_path), config=Config(image=IMAGE, auto_update=True))
    assert "auto_update" in fastpath.trusted_preflight(updating, {}, full_reason=None).reason


def test_the_phase_clock_lists_each_phase_and_the_total() -> None:
    clock = PhaseClock()
    clock.mark("preflight (fast path)")
    clock.mark("podman run")
    lines = clock.lines()
    assert [line.split()[0] for line in lines][-3:] == ["preflight", "podman", "total"]
    total = float(lines[-1].split()[-2])
    assert total == pytest.approx(sum(seconds for _, seconds in clock.phases), abs=0.002)


def test_the_deferred_build_fix_is_the_builds_id() -> None:
    from spotidoctor.backend.build import BUILD_FIX_ID
    from spotidoctor.commands import launch

    assert launch.DEFERRED_FIXES == frozenset({BUILD_FIX_ID})


# -- the owners, by find ----------------------------------------------------------------------------

FIND = ("find", "-P", f"{HOME}/.spotify/config", f"{HOME}/.spotify/cache", "-xdev", "(", "!", "-uid", "101499",
        "-o", "!", "-gid", "101499", "-o", "(", "-type", "f", "-links", "+1", ")", ")", "-print", "-quit")


@pytest.mark.parametrize(("answer", "vouched"), [
    (FakeCommand(FIND), True),
    (FakeCommand(FIND, stdout=f"{HOME}/.spotify/cache/Data/a1/chunk\n"), False),  # a wrong owner or a hard link
    (FakeCommand(FIND, stderr="find: '/home/alice/.spotify/cache/x': Permission denied\n", returncode=1), False),
    (FakeCommand(FIND, timed_out=True, returncode=-9), False),
])
def test_find_vouches_for_the_owners_only_when_it_saw_every_entry_right(
        tmp_path: Path, answer: FakeCommand, vouched: bool) -> None:
    ctx = dataclasses.replace(context(tmp_path), probes=dataclasses.replace(
        context(tmp_path).probes, cmd=FakeCommandRunner([answer])))
    assert fastpath.owners_unchanged(ctx, results()) is vouched


def test_without_the_mapping_find_is_not_asked(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    ctx = dataclasses.replace(ctx, probes=dataclasses.replace(ctx.probes, cmd=FakeCommandRunner([])))
    assert fastpath.owners_unchanged(ctx, [r for r in results() if r.check_id != "userns.mapping"]) is False


# -- the image id, from podman's own store ----------------------------------------------------------

STORE = f"{HOME}/.local/share/containers/storage/vfs-images/images.json"


@pytest.mark.parametrize(("content", "found"), [
    ([{"id": "aaa", "names": [IMAGE]}, {"id": "bbb", "names": ["localhost/other:1"]}], "aaa"),
    ([{"id": "bbb", "names": ["localhost/other:1"]}], None),  # not there by that name: podman is asked
    ([{"id": "aaa", "names": [IMAGE]}, {"id": "ccc", "names": [IMAGE]}], None),  # ambiguous
    ("{damaged", None),
    (None, None),  # no store file
])
def test_the_image_id_is_read_from_podmans_store_or_left_to_podman(tmp_path: Path, content: object,
                                                                   found: str | None) -> None:
    ctx = context(tmp_path)
    if content is not None:
        path = host(tmp_path, STORE)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content if isinstance(content, str) else json.dumps(content))
    answer = fastpath.stored_image(ctx, dataclasses.replace(stamp(ctx), image_store=STORE))
    assert (answer.info.id if answer and answer.info else None) == found
    assert fastpath.stored_image(ctx, dataclasses.replace(stamp(ctx), image_store="")) is None


def test_the_store_path_round_trips(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    save_stamp(ctx, dataclasses.replace(stamp(ctx), image_store=STORE))
    loaded = load_stamp(ctx)
    assert loaded is not None and loaded.image_store == STORE


@pytest.mark.parametrize(("content", "free"), [
    ([], True),
    ([{"id": "c1", "names": ["spotify-container"]}], False),
    ([{"id": "c1", "names": ["other"]}], True),
    ("{damaged", False),
    (None, False),  # no store file: podman is asked
])
def test_a_free_container_name_is_read_from_podmans_store(tmp_path: Path, content: object, free: bool) -> None:
    ctx = context(tmp_path)
    if content is not None:
        path = host(tmp_path, STORE.replace("-images/images.json", "-containers/containers.json"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content if isinstance(content, str) else json.dumps(content))
    assert fastpath.store_says_free(ctx, dataclasses.replace(stamp(ctx), image_store=STORE)) is free


@pytest.mark.parametrize(("names", "absent"), [([], True), (["spotify-container"], False)])
def test_the_handover_and_the_name_ask_podmans_store_once_before_the_live_work(
        tmp_path: Path, names: list[str], absent: bool) -> None:
    ctx = context(tmp_path)
    save_stamp(ctx, dataclasses.replace(stamp(ctx), image_store=STORE))
    path = host(tmp_path, STORE.replace("-images/images.json", "-containers/containers.json"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([{"id": "c1", "names": names}]))
    pending = fastpath.prepare_fast_path(ctx, {"network": None}, full_reason=None)
    assert pending.container_absent is absent
    assert isinstance(ctx.probes.cmd, FakeCommandRunner) and not ctx.probes.cmd.calls  # nothing started yet
    assert not fastpath.prepare_fast_path(ctx, {}, full_reason="--force").container_absent  # no stamp: podman asks
