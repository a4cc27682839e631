"""The result cache (spotidoctor.resultcache) and its three users' fingerprints: ``podman
info`` and podman.runtime here, pulse.container-access in test_resultcache_pulse.py.

Every input a cached answer depends on is changed in turn (parametrized tables) and must
make the probe run again; so must expiry, ``--fresh``, a fix's re-check, a failure, and a
damaged cache file. The cache is used (no probe) only when nothing changed.
"""
from __future__ import annotations

import dataclasses
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from spotidoctor import resultcache
from spotidoctor.api import Context
from spotidoctor.checks.podman.probe import probe_argv
from spotidoctor.checks.podman.rootless import PodmanRootless
from spotidoctor.checks.podman.runtime import HYBRID, RUNTIME_OK, OciRuntimeStarts
from spotidoctor.commands.options import READS_CACHE, CommandOptions, options_from
from spotidoctor.engine import fixer
from spotidoctor.engine.session import SessionOptions, result_cache
from spotidoctor.memo import Memo
from spotidoctor.model import Message, MessageKind, Status
from spotidoctor.paths import Paths, UserInfo
from spotidoctor.podman.info import (
    INFO_CACHE_TTL_S,
    info_from_json,
    info_to_json,
    parse_podman_info,
    podman_info,
    podman_info_age,
    podman_info_error,
)
from spotidoctor.resultcache import Cached, ResultCache, cached
from spotidoctor.testing import DEFAULT_USER, FakeCommand, FakeCommandRunner, make_context
from spotidoctor.types import JSONValue

DATA = Path(__file__).parent.parent / "data" / "podman_info_4.3.1_rootless_runc.json"
INFO = ("podman", "info", "--format", "json")
ROOTFS = "/run/user/1600/spotidoctor/podman-probe-rootfs"
PROBE = probe_argv(ROOTFS)
HYBRID_ERROR = "Error: OCI runtime error: crun: cgroups in hybrid mode not supported, drop all controllers"
STATE = "/home/alice/.local/state/spotidoctor"
PID = 4346


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# -- the mechanism ------------------------------------------------------------------------------

def cache_ctx(tmp_path: Path, clock: Clock, **cache: object) -> Context:
    ctx = make_context(tmp_path)
    settings = dataclasses.replace(ResultCache.under(ctx.paths.state_dir), clock=clock, **cache)
    return dataclasses.replace(ctx, cache=settings)


class Probe:
    """A compute() that counts its calls and answers what the test says."""

    def __init__(self, answer: str = "pass") -> None:
        self.answer = answer
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        return self.answer


def ask(ctx: Context, probe: Probe, parts: list[JSONValue] | None = None, ttl: float = 600.0) -> Cached[str]:
    return cached(ctx.cache, ctx.probes.fs, "thing", lambda: parts if parts is not None else ["input", 1], ttl, probe,
                  encode=lambda v: {"v": v} if v == "pass" else None,
                  decode=lambda d: str(d["v"]))  # type: ignore[index]


def entry_path(tmp_path: Path, key: str = "thing") -> Path:
    return tmp_path / STATE.lstrip("/") / "cache" / f"{key}.json"


def test_a_pass_is_reused_while_the_fingerprint_matches(tmp_path: Path) -> None:
    clock, probe = Clock(), Probe()
    first = ask(cache_ctx(tmp_path, clock), probe)
    clock.now += 125
    second = ask(cache_ctx(tmp_path, clock), probe)
    assert (first, second) == (Cached("pass"), Cached("pass", 125.0))
    assert probe.calls == 1 and second.hit and not first.hit


def test_another_fingerprint_is_a_miss(tmp_path: Path) -> None:
    clock, probe = Clock(), Probe()
    ask(cache_ctx(tmp_path, clock), probe, ["input", 1])
    assert ask(cache_ctx(tmp_path, clock), probe, ["input", 2]) == Cached("pass")
    assert probe.calls == 2
    assert ask(cache_ctx(tmp_path, clock), probe, ["input", 2]).hit  # the new answer replaced the old one


@pytest.mark.parametrize("seconds, hit", [(599, True), (601, False), (-30, True), (-3600, False)],
                         ids=["young", "expired", "small-clock-skew", "clock-went-back"])
def test_age_limits(tmp_path: Path, seconds: float, hit: bool) -> None:
    clock, probe = Clock(), Probe()
    ask(cache_ctx(tmp_path, clock), probe, ttl=600)
    clock.now += seconds
    assert ask(cache_ctx(tmp_path, clock), probe, ttl=600).hit is hit
    assert probe.calls == (1 if hit else 2)


def test_fresh_recomputes_and_stores(tmp_path: Path) -> None:
    clock, probe = Clock(), Probe()
    ask(cache_ctx(tmp_path, clock), probe)
    clock.now += 10
    fresh = cache_ctx(tmp_path, clock)
    assert ask(dataclasses.replace(fresh, cache=fresh.cache.fresh()), probe) == Cached("pass")
    assert probe.calls == 2
    clock.now += 5
    assert ask(cache_ctx(tmp_path, clock), probe) == Cached("pass", 5.0)  # stored by the fresh run


def test_off_never_writes(tmp_path: Path) -> None:
    probe = Probe()
    ctx = make_context(tmp_path)
    assert ctx.cache == ResultCache.off() and not ctx.cache.active
    ask(ctx, probe)
    ask(ctx, probe)
    assert probe.calls == 2 and not (tmp_path / STATE.lstrip("/")).exists()


def test_a_failure_is_never_kept_and_forgets_the_pass(tmp_path: Path) -> None:
    clock, probe = Clock(), Probe()
    ask(cache_ctx(tmp_path, clock), probe)
    assert entry_path(tmp_path).exists()
    probe.answer = "fail"
    fresh = cache_ctx(tmp_path, clock, read=False)
    assert ask(fresh, probe) == Cached("fail")
    assert not entry_path(tmp_path).exists()  # a --fresh failure is not hidden by the older pass
    assert ask(cache_ctx(tmp_path, clock), probe) == Cached("fail")
    assert probe.calls == 3


def test_a_raising_probe_forgets_the_pass(tmp_path: Path) -> None:
    clock, probe = Clock(), Probe()
    ask(cache_ctx(tmp_path, clock), probe)

    def boom() -> str:
        raise RuntimeError("probe crashed")

    ctx = cache_ctx(tmp_path, clock, read=False)
    with pytest.raises(RuntimeError):
        cached(ctx.cache, ctx.probes.fs, "thing", lambda: ["input", 1], 600, boom,
               encode=lambda v: v, decode=str)
    assert not entry_path(tmp_path).exists()


def test_an_unreadable_fingerprint_means_no_caching(tmp_path: Path) -> None:
    clock, probe = Clock(), Probe()

    def parts() -> list[JSONValue]:
        raise PermissionError(13, "Permission denied", "/etc/containers")

    for _ in range(2):
        ctx = cache_ctx(tmp_path, clock)
        got = cached(ctx.cache, ctx.probes.fs, "thing", parts, 600, probe, encode=lambda v: v, decode=str)
        assert got == Cached("pass")
    assert probe.calls == 2 and not entry_path(tmp_path).exists()


def test_files_are_private_and_hold_only_the_digest(tmp_path: Path) -> None:
    ask(cache_ctx(tmp_path, Clock()), Probe(), ["a secret-looking input"])
    path = entry_path(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    text = path.read_text()
    assert "secret-looking" not in text
    assert json.loads(text)["fingerprint"] == resultcache.fingerprint(["a secret-looking input"])
    assert sorted(os.listdir(path.parent)) == ["thing.json"]  # no temp files left behind


DAMAGED: dict[str, Callable[[dict[str, object]], bytes]] = {
    "not JSON": lambda e: b"{not json",
    "truncated": lambda e: json.dumps(e).encode()[:40],
    "binary junk": lambda e: bytes(range(256)),
    "empty": lambda e: b"",
    "a list": lambda e: b"[1, 2, 3]",
    "another schema": lambda e: json.dumps({**e, "schema": 99}).encode(),
    "another key": lambda e: json.dumps({**e, "key": "other"}).encode(),
    "no value": lambda e: json.dumps({k: v for k, v in e.items() if k != "value"}).encode(),
    "a value decode rejects": lambda e: json.dumps({**e, "value": {"w": 1}}).encode(),
    "created is text": lambda e: json.dumps({**e, "created": "yesterday"}).encode(),
    "created is a bool": lambda e: json.dumps({**e, "created": True}).encode(),
    "deeply nested": lambda e: b"[" * 100000,
    "oversized": lambda e: json.dumps({**e, "pad": "x" * (300 * 1024)}).encode(),
}


@pytest.mark.parametrize("damage", DAMAGED.values(), ids=DAMAGED.keys())
def test_a_damaged_cache_file_is_ignored_and_replaced(tmp_path: Path,
                                                      damage: Callable[[dict[str, object]], bytes]) -> None:
    clock, probe = Clock(), Probe()
    ask(cache_ctx(tmp_path, clock), probe)
    path = entry_path(tmp_path)
    path.write_bytes(damage(json.loads(path.read_text())))
    assert ask(cache_ctx(tmp_path, clock), probe) == Cached("pass")  # recomputed, no exception
    assert probe.calls == 2
    assert ask(cache_ctx(tmp_path, clock), probe).hit  # and written anew


@pytest.mark.parametrize("change", ["group-writable", "symlink", "foreign-owner", "directory"])
def test_a_cache_file_we_did_not_write_is_ignored(tmp_path: Path, change: str) -> None:
    clock, probe = Clock(), Probe()
    ask(cache_ctx(tmp_path, clock), probe)
    path = entry_path(tmp_path)
    owner = os.geteuid()
    if change == "group-writable":
        path.chmod(0o620)
    elif change == "symlink":
        real = path.with_name("elsewhere.json")
        path.rename(real)
        path.symlink_to(real)
    elif change == "foreign-owner":
        owner = owner + 1  # the cache expects files of another uid than the one on disk
    else:
        path.unlink()
        path.mkdir()
    assert not ask(cache_ctx(tmp_path, clock, owner_uid=owner), probe).hit
    assert probe.calls == 2


def test_a_read_only_state_dir_costs_a_retest_not_an_error(tmp_path: Path) -> None:
    clock, probe = Clock(), Probe()
    state = tmp_path / STATE.lstrip("/")
    state.parent.mkdir(parents=True)
    state.write_text("a file where the state directory should be")
    assert ask(cache_ctx(tmp_path, clock), probe) == Cached("pass")
    assert ask(cache_ctx(tmp_path, clock), probe) == Cached("pass")
    assert probe.calls == 2


@pytest.mark.parametrize("seconds, text", [(0, "0 s"), (59.4, "59 s"), (60, "1 min"), (754, "12 min"),
                                           (3600, "1 h 0 min"), (3900, "1 h 5 min")])
def test_age_text(seconds: float, text: str) -> None:
    assert resultcache.age_text(seconds) == text


# -- which runs may read it (--fresh, fix, report, root) -----------------------------------------

def parsed(*argv: str) -> CommandOptions:
    from spotidoctor.cli import build_parser

    return options_from(build_parser().parse_args(list(argv)))


PATHS = Paths.from_env({"HOME": "/home/alice"}, "/home/alice")


@pytest.mark.parametrize("argv, euid, read, write", [
    (("check",), 1600, True, True),
    (("check", "--fresh"), 1600, False, True),
    (("launch",), 1600, True, True),
    (("fix",), 1600, False, True),
    (("fix", "--dry-run"), 1600, False, True),
    (("report",), 1600, False, True),
    (("list",), 1600, False, True),
    (("check",), 0, False, False),
])
def test_result_cache_per_command(argv: tuple[str, ...], euid: int, read: bool, write: bool) -> None:
    cache = result_cache(parsed(*argv).session, PATHS, euid)
    assert (cache.read, cache.write) == (read, write)
    assert cache.directory == (f"{STATE}/cache" if write else None)


def test_fix_always_re_tests_and_so_does_the_re_check_after_a_fix() -> None:
    assert READS_CACHE == {"check", "launch"}
    assert not result_cache(parsed("check").session, PATHS, 1600, fresh=True).read  # fix.run: make_session(fresh=True)
    ctx = make_context("/nonexistent", user=DEFAULT_USER)
    ctx = dataclasses.replace(ctx, cache=ResultCache.under(ctx.paths.state_dir))
    after_fix = fixer.refreshed(ctx)
    assert ctx.cache.read and not after_fix.cache.read and after_fix.cache.write


def test_fix_command_makes_a_fresh_session(monkeypatch: pytest.MonkeyPatch) -> None:
    from spotidoctor.commands import fix as fix_command

    seen: list[bool] = []

    def fake_session(options: SessionOptions, *, fresh: bool = False) -> object:
        seen.append(fresh)
        raise SystemExit(0)

    monkeypatch.setattr(fix_command, "make_session", fake_session)
    with pytest.raises(SystemExit):
        fix_command.run(parsed("fix"))
    assert seen == [True]


# -- podman info: every input changed in turn ---------------------------------------------------

BASE_FILES: dict[str, str | bytes] = {
    "/usr/bin/podman": b"podman binary v1",
    "/usr/bin/runc": b"runc binary",
    "/usr/bin/newuidmap": b"newuidmap",
    "/usr/bin/newgidmap": b"newgidmap",
    "/usr/bin/conmon": b"conmon",
    "/usr/libexec/podman/catatonit": b"catatonit",
    "/etc/containers/containers.conf": "[engine]\n",
    "/usr/share/containers/containers.conf": "[containers]\n",
    "/etc/containers/storage.conf": '[storage]\ndriver = "overlay"\n',
    "/home/alice/.config/containers/containers.conf": '[engine]\nruntime = "runc"\n',
    "/etc/subuid": "alice:100000:65536\n",
    "/etc/subgid": "alice:100000:65536\n",
    "/proc/sys/kernel/random/boot_id": "3fe856d3-f22b-4c96-b59f-50859698cd15\n",
    "/proc/sys/user/max_user_namespaces": "63429\n",
    "/var/lib/dpkg/status": "Package: podman\n",
    "/proc/self/cgroup": "12:cpu,cpuacct:/user.slice\n0::/user.slice/user-1600.slice/session-3.scope\n",
    "/proc/self/mountinfo": ("30 25 0:26 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
                             "31 25 0:27 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu,cpuacct\n"),
    "/sys/fs/cgroup/unified/cgroup.controllers": "",
}


def podman_ctx(tmp_path: Path, runner: FakeCommandRunner, clock: Clock, *, env: dict[str, str] | None = None,
               user: UserInfo = DEFAULT_USER, owners: dict[str, tuple[int, int]] | None = None) -> Context:
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    (root / "run/user/1600").mkdir(parents=True, exist_ok=True)
    # What a real user's runtime dir and pause process look like (the test may run as root).
    owned = {"/run/user/1600": (1600, 1600), "/run/user/1600/libpod/tmp/pause.pid": (1600, 1600),
             f"/proc/{PID}": (1600, 1600), **(owners or {})}
    ctx = make_context(root, commands=runner, env=env, user=user, owners=owned)
    return dataclasses.replace(ctx, memo=Memo(), cache=dataclasses.replace(
        ResultCache.under(ctx.paths.state_dir), clock=clock))


def podman_runner(probe: FakeCommand | None = None) -> FakeCommandRunner:
    return FakeCommandRunner([FakeCommand(INFO, DATA.read_text()),
                              probe or FakeCommand(PROBE, "tini version 0.1.7_catatonit\n")], repeat=True)


def write(root: Path, path: str, content: str | bytes) -> None:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content.encode() if isinstance(content, str) else content)


def touch(root: Path, path: str, seconds: float = 100.0) -> None:
    target = root / path.lstrip("/")
    st = target.stat()
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + int(seconds * 1e9)))


def pause_process(root: Path) -> None:
    write(root, "/run/user/1600/libpod/tmp/pause.pid", str(PID))
    write(root, f"/proc/{PID}/comm", "catatonit\n")
    write(root, f"/proc/{PID}/cmdline", "catatonit\0-P\0")
    write(root, f"/proc/{PID}/stat", f"{PID} (catatonit) S " + "0 " * 18 + "777 0 0\n")


Change = Callable[[Path], None]
# Each: (what changes on disk, env changes, another user) -> podman is asked again.
INFO_INPUTS: dict[str, tuple[Change | None, dict[str, str], UserInfo | None]] = {
    "podman binary replaced": (lambda r: write(r, "/usr/bin/podman", b"podman binary v2!"), {}, None),
    "podman binary touched": (lambda r: touch(r, "/usr/bin/podman"), {}, None),
    "/etc containers.conf edited": (lambda r: write(r, "/etc/containers/containers.conf", "[engine]\n#\n"), {}, None),
    "/usr/share containers.conf edited": (
        lambda r: write(r, "/usr/share/containers/containers.conf", "[containers]\nlog_driver = \"journald\"\n"),
        {}, None),
    "user containers.conf edited": (
        lambda r: write(r, "/home/alice/.config/containers/containers.conf", '[engine]\nruntime = "crun"\n'), {}, None),
    "user containers.conf touched": (lambda r: touch(r, "/home/alice/.config/containers/containers.conf"), {}, None),
    "user containers.conf removed": (
        lambda r: (r / "home/alice/.config/containers/containers.conf").unlink(), {}, None),
    "a system drop-in added": (
        lambda r: write(r, "/etc/containers/containers.conf.d/10-x.conf", "[engine]\n"), {}, None),
    "a user drop-in added": (
        lambda r: write(r, "/home/alice/.config/containers/containers.conf.d/10-x.conf", "[engine]\n"), {}, None),
    "user storage.conf created": (
        lambda r: write(r, "/home/alice/.config/containers/storage.conf", '[storage]\ndriver = "vfs"\n'), {}, None),
    "/etc storage.conf edited": (
        lambda r: write(r, "/etc/containers/storage.conf", '[storage]\ndriver = "vfs"\n'), {}, None),
    "$CONTAINERS_CONF set": (lambda r: write(r, "/srv/c.conf", "[engine]\n"), {"CONTAINERS_CONF": "/srv/c.conf"}, None),
    "$CONTAINERS_STORAGE_CONF set": (
        lambda r: write(r, "/srv/s.conf", "[storage]\n"), {"CONTAINERS_STORAGE_CONF": "/srv/s.conf"}, None),
    "/etc/subuid edited": (lambda r: write(r, "/etc/subuid", "alice:200000:65536\n"), {}, None),
    "/etc/subgid edited": (lambda r: write(r, "/etc/subgid", "alice:200000:65536\n"), {}, None),
    "rebooted": (lambda r: write(r, "/proc/sys/kernel/random/boot_id", "0b3c4e4c-0000-4000-8000-000000000000\n"),
                 {}, None),
    "userns sysctl changed": (lambda r: write(r, "/proc/sys/user/max_user_namespaces", "0\n"), {}, None),
    "a package installed": (lambda r: write(r, "/var/lib/dpkg/status", "Package: podman\n\nPackage: crun\n"), {}, None),
    "crun appeared": (lambda r: write(r, "/usr/local/bin/crun", b"crun"), {}, None),
    "runc replaced": (lambda r: write(r, "/usr/bin/runc", b"another runc build"), {}, None),
    "newuidmap lost its setuid bit": (lambda r: (r / "usr/bin/newuidmap").chmod(0o755), {}, None),
    "the pause process started": (pause_process, {}, None),
    "CONTAINER_HOST": (None, {"CONTAINER_HOST": "ssh://alice@example/run/podman.sock"}, None),
    "CONTAINER_CONNECTION": (None, {"CONTAINER_CONNECTION": "remote"}, None),
    "XDG_RUNTIME_DIR": (None, {"XDG_RUNTIME_DIR": "/run/user/1601"}, None),
    "XDG_DATA_HOME": (None, {"XDG_DATA_HOME": "/data/alice"}, None),
    "XDG_CONFIG_HOME": (None, {"XDG_CONFIG_HOME": "/cfg/alice"}, None),
    "HOME": (None, {"HOME": "/home/alice2"}, None),
    "PATH": (None, {"PATH": "/opt/podman/bin:/usr/bin:/bin"}, None),
    "another uid": (None, {}, UserInfo(uid=1601, gid=1601, name="alice", home="/home/alice")),
}


def fill(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    for path, content in BASE_FILES.items():
        write(root, path, content)
    (root / "usr/bin/newuidmap").chmod(0o4755)
    return root


def test_podman_info_is_reused_when_nothing_changed(tmp_path: Path) -> None:
    root, clock, runner = fill(tmp_path), Clock(), podman_runner()
    first = podman_info(podman_ctx(tmp_path, runner, clock))
    clock.now += 300
    ctx = podman_ctx(tmp_path, runner, clock)
    assert podman_info(ctx) == first is not None
    assert podman_info_age(ctx) == 300.0
    assert runner.calls.count(INFO) == 1
    rootless = PodmanRootless().run(ctx)
    assert rootless.status is Status.WARN  # the recorded podman uses the vfs driver
    assert Message.info("podman info answered 5 min ago and nothing it depends on changed since "
                        "(`spotidoctor check --fresh` asks again)") in rootless.messages
    assert rootless.facts == PodmanRootless().run(podman_ctx(tmp_path, runner, clock)).facts
    assert root.exists()


@pytest.mark.parametrize("change, env, user", INFO_INPUTS.values(), ids=INFO_INPUTS.keys())
def test_podman_info_is_asked_again_when_an_input_changes(tmp_path: Path, change: Change | None,
                                                          env: dict[str, str], user: UserInfo | None) -> None:
    root, clock, runner = fill(tmp_path), Clock(), podman_runner()
    podman_info(podman_ctx(tmp_path, runner, clock))
    podman_info(podman_ctx(tmp_path, runner, clock))
    assert runner.calls.count(INFO) == 1  # the baseline: a hit
    if change is not None:
        change(root)
    ctx = podman_ctx(tmp_path, runner, clock, env=env, user=user or DEFAULT_USER)
    if user is not None:  # another uid has its own state dir; point it at the same one
        ctx = dataclasses.replace(ctx, cache=dataclasses.replace(
            ctx.cache, directory=str(Path(STATE) / "cache")))
    assert podman_info(ctx) is not None
    assert podman_info_age(ctx) is None
    assert runner.calls.count(INFO) == 2


def test_podman_info_expires_after_an_hour(tmp_path: Path) -> None:
    fill(tmp_path)
    clock, runner = Clock(), podman_runner()
    podman_info(podman_ctx(tmp_path, runner, clock))
    clock.now += INFO_CACHE_TTL_S + 1
    podman_info(podman_ctx(tmp_path, runner, clock))
    assert runner.calls.count(INFO) == 2


def test_a_failed_podman_info_is_not_kept(tmp_path: Path) -> None:
    fill(tmp_path)
    clock = Clock()
    failing = FakeCommandRunner([FakeCommand(INFO, "", "Error: boom", 125)], repeat=True)
    for _ in range(2):
        ctx = podman_ctx(tmp_path, failing, clock)
        assert podman_info(ctx) is None
        assert podman_info_error(ctx) == "`podman info` failed: Error: boom"
    assert failing.calls.count(INFO) == 2


def test_cached_podman_info_round_trips() -> None:
    info = parse_podman_info(DATA.read_text())
    assert info_from_json(json.loads(json.dumps(info_to_json(info)))) == info
    data = info_to_json(info)
    for broken in ({**data, "version": []}, {**data, "rootless": "yes"}, {**data, "oci_runtime": 3},
                   {**data, "uid_map": [[0, 1]]}, {k: v for k, v in data.items() if k != "graph_root"}, [1]):
        with pytest.raises((ValueError, TypeError, KeyError)):
            info_from_json(broken)  # type: ignore[arg-type]


# -- podman.runtime ---------------------------------------------------------------------------

def runtime(tmp_path: Path, runner: FakeCommandRunner, clock: Clock, **kw: object) -> tuple[Context, object]:
    ctx = podman_ctx(tmp_path, runner, clock, **kw)  # type: ignore[arg-type]
    return ctx, OciRuntimeStarts().run(ctx)


def test_a_runtime_pass_is_reused_and_says_so(tmp_path: Path) -> None:
    fill(tmp_path)
    clock, runner = Clock(), podman_runner()
    _, first = runtime(tmp_path, runner, clock)
    clock.now += 12 * 60 + 5
    _, second = runtime(tmp_path, runner, clock)
    assert runner.calls.count(PROBE) == 1  # no second container
    assert first.status is second.status is Status.OK  # type: ignore[attr-defined]
    assert first.summary == RUNTIME_OK.format(runtime="runc")  # type: ignore[attr-defined]
    assert second.summary == "runc started a container 12 min ago (nothing it depends on changed since)"  # type: ignore[attr-defined]
    assert second.messages[0] == Message.info(  # type: ignore[attr-defined]
        "verified 12 min ago; nothing it depends on changed since — `spotidoctor check --fresh` re-tests")
    assert second.messages[1:] == first.messages  # type: ignore[attr-defined]  # the keep-groups note stays
    assert second.facts == first.facts  # type: ignore[attr-defined]  # the same facts for the launcher


RUNTIME_INPUTS: dict[str, Change] = {
    "containers.conf touched": lambda r: write(r, "/home/alice/.config/containers/containers.conf",
                                               '[engine]\nruntime = "runc"\n\n'),
    "the OCI runtime binary replaced": lambda r: write(r, "/usr/bin/runc", b"runc 1.1.5"),
    "conmon replaced": lambda r: write(r, "/usr/bin/conmon", b"conmon 2.1.7"),
    "catatonit removed": lambda r: (r / "usr/libexec/podman/catatonit").unlink(),
    "cgroup2 mount got controllers (hybrid)": lambda r: write(r, "/sys/fs/cgroup/unified/cgroup.controllers",
                                                              "cpu memory pids\n"),
    "cgroup mounts changed": lambda r: write(r, "/proc/self/mountinfo",
                                             "30 25 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"),
    "cgroup hierarchies changed": lambda r: write(r, "/proc/self/cgroup", "0::/user.slice\n"),
    "delegated controllers changed": lambda r: write(
        r, "/sys/fs/cgroup/user.slice/user-1600.slice/user@1600.service/cgroup.controllers", "cpu pids\n"),
    "/etc/subuid edited": lambda r: write(r, "/etc/subuid", "alice:300000:65536\n"),
    "rebooted": lambda r: write(r, "/proc/sys/kernel/random/boot_id", "11111111-2222-4333-8444-555555555555\n"),
    # podman prefers crun: installing it after a pass with runc switches the runtime.
    "crun installed from a package": lambda r: (write(r, "/usr/bin/crun", b"crun 1.8"),
                                                write(r, "/var/lib/dpkg/status", "Package: crun\n")),
    "crun installed by hand into /usr/local/bin": lambda r: write(r, "/usr/local/sbin/crun", b"crun 1.8"),
}


def test_crun_put_into_a_path_directory_after_a_runc_pass_is_not_hidden(tmp_path: Path) -> None:
    # With no configured path holding crun, podman looks it up through $PATH.
    root = fill(tmp_path)
    env = {"PATH": "/home/alice/.local/bin:/usr/bin:/bin"}
    clock, runner = Clock(), podman_runner()
    runtime(tmp_path, runner, clock, env=env)
    runtime(tmp_path, runner, clock, env=env)
    assert runner.calls.count(PROBE) == 1  # the remembered pass
    write(root, "/home/alice/.local/bin/crun", b"crun 1.8")
    runtime(tmp_path, runner, clock, env=env)
    assert runner.calls.count(PROBE) == 2
    podman_info(podman_ctx(tmp_path, runner, clock, env=env))
    assert runner.calls.count(INFO) >= 2  # podman info is asked again too


@pytest.mark.parametrize("change", RUNTIME_INPUTS.values(), ids=RUNTIME_INPUTS.keys())
def test_the_runtime_is_re_tested_when_an_input_changes(tmp_path: Path, change: Change) -> None:
    root = fill(tmp_path)
    clock, runner = Clock(), podman_runner()
    runtime(tmp_path, runner, clock)
    runtime(tmp_path, runner, clock)
    assert runner.calls.count(PROBE) == 1
    change(root)
    _, result = runtime(tmp_path, runner, clock)
    assert runner.calls.count(PROBE) == 2
    assert result.summary == RUNTIME_OK.format(runtime="runc")  # type: ignore[attr-defined]


def test_the_runtime_is_re_tested_after_an_hour(tmp_path: Path) -> None:
    fill(tmp_path)
    clock, runner = Clock(), podman_runner()
    runtime(tmp_path, runner, clock)
    clock.now += 3601
    runtime(tmp_path, runner, clock)
    assert runner.calls.count(PROBE) == 2


def test_a_runtime_failure_is_never_reused(tmp_path: Path) -> None:
    fill(tmp_path)
    clock, runner = Clock(), podman_runner(FakeCommand(PROBE, "", HYBRID_ERROR, 126))
    for _ in range(2):
        _, result = runtime(tmp_path, runner, clock)
        assert (result.status, result.summary) == (Status.FAIL, HYBRID)  # type: ignore[attr-defined]
    assert runner.calls.count(PROBE) == 2


def test_fresh_and_the_re_check_after_a_fix_start_a_container(tmp_path: Path) -> None:
    fill(tmp_path)
    clock, runner = Clock(), podman_runner()
    ctx, _ = runtime(tmp_path, runner, clock)
    fresh = dataclasses.replace(ctx, memo=Memo(), cache=ctx.cache.fresh())
    assert OciRuntimeStarts().run(fresh).summary == RUNTIME_OK.format(runtime="runc")
    assert OciRuntimeStarts().run(fixer.refreshed(ctx)).summary == RUNTIME_OK.format(runtime="runc")
    assert runner.calls.count(PROBE) == 3


def test_a_fresh_failure_replaces_the_remembered_pass(tmp_path: Path) -> None:
    """`check --fresh` sees crun fail: a later plain `check` must not report the old pass."""
    fill(tmp_path)
    clock = Clock()
    runtime(tmp_path, podman_runner(), clock)
    failing = podman_runner(FakeCommand(PROBE, "", HYBRID_ERROR, 126))
    ctx = podman_ctx(tmp_path, failing, clock)
    assert OciRuntimeStarts().run(dataclasses.replace(ctx, cache=ctx.cache.fresh())).status is Status.FAIL
    _, later = runtime(tmp_path, failing, clock)
    assert later.status is Status.FAIL  # type: ignore[attr-defined]
    assert failing.calls.count(PROBE) == 2


def test_a_pass_of_another_runtime_is_not_reused(tmp_path: Path) -> None:
    fill(tmp_path)
    clock, runner = Clock(), podman_runner()
    runtime(tmp_path, runner, clock)
    path = tmp_path / "root" / STATE.lstrip("/") / "cache" / "podman-runtime.json"
    entry = json.loads(path.read_text())
    path.write_text(json.dumps({**entry, "value": {"runtime": "crun"}}))
    runtime(tmp_path, runner, clock)
    assert runner.calls.count(PROBE) == 2


def test_the_cached_verdict_holds_no_more_than_the_verdict(tmp_path: Path) -> None:
    fill(tmp_path)
    clock, runner = Clock(), podman_runner()
    runtime(tmp_path, runner, clock)
    cache_dir = tmp_path / "root" / STATE.lstrip("/") / "cache"
    assert json.loads((cache_dir / "podman-runtime.json").read_text())["value"] == {"runtime": "runc"}
    assert sorted(os.listdir(cache_dir)) == ["podman-info.json", "podman-runtime.json"]
    assert all(stat.S_IMODE((cache_dir / n).stat().st_mode) == 0o600 for n in os.listdir(cache_dir))


def test_explain_mentions_the_cache() -> None:
    text = OciRuntimeStarts.explanation()
    assert "--fresh" in text and "never remembered" in text
    assert MessageKind.INFO.value == "info"
