"""pulse.container-access through the result cache: a pass (and only a pass) is reused
while the socket, the cookie file, the server, the module, the profile and container uid
and podman's own inputs are unchanged, for at most 10 minutes."""
from __future__ import annotations

import dataclasses
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from spotidoctor.api import Context
from spotidoctor.checks.pulse import CHECKS
from spotidoctor.checks.pulse.common import ACCESS, MSG_PW_ISOLATION
from spotidoctor.checks.pulse.container_access import ACCESS_CACHE_TTL_S
from spotidoctor.config import Config
from spotidoctor.engine import fixer
from spotidoctor.engine.planning import plan
from spotidoctor.engine.runner import Runner
from spotidoctor.errors import ProbeUnavailable
from spotidoctor.memo import Memo
from spotidoctor.model import CheckResult, Message, Status
from spotidoctor.probes.pulse import ModuleInfo
from spotidoctor.resultcache import ResultCache
from spotidoctor.testing import FakeCommandRunner, make_context
from spotidoctor.testing.pulse import DENIED, MAIN_SOCKET_MODULE, OK, FakePulse

RUN = "/run/user/1600"
SOCKET = f"{RUN}/pulse/pulse-socket"
NATIVE = f"{RUN}/pulse/native"
COOKIE = "/home/alice/.config/pulse/pulse-cookie"
STATE = "/home/alice/.local/state/spotidoctor"
ARGS = "socket=pulse-socket auth-cookie=pulse-cookie"
PROOF = (f"container uid 1500 connects to {SOCKET} with the cookie and is refused without it "
         "(Access denied)")


class Clock:
    now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def make_socket(root: Path, path: str) -> None:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        target.unlink()
    os.mknod(target, stat.S_IFSOCK | 0o777)
    target.chmod(0o777)


class Setup:
    """One sysroot and one fake server shared by consecutive runs (each run: a new context
    and memo, like a new `spotidoctor check`)."""

    def __init__(self, tmp_path: Path, pulse: FakePulse | None = None) -> None:
        self.root = tmp_path / "root"
        self.root.mkdir()
        self.clock = Clock()
        socket_module = ModuleInfo(7, "module-native-protocol-unix", ARGS)
        self.pulse = pulse or FakePulse.pulseaudio(loaded=[MAIN_SOCKET_MODULE, socket_module])
        self.runner = FakeCommandRunner([], repeat=True)
        self.config = Config(audio="direct")  # pulse.container-access tests the direct socket
        self.env: dict[str, str] = {}
        (self.root / "run/user/1600").mkdir(parents=True)
        (self.root / "run/user/1600").chmod(0o700)
        for path in (NATIVE, SOCKET):
            make_socket(self.root, path)
        self.write(COOKIE, bytes(range(256)))
        self.write("/home/alice/.config/spotidoctor/config.toml", b'audio = "direct"\n')  # read again after fixes

    def write(self, path: str, data: bytes) -> None:
        target = self.root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    def context(self, fresh: bool = False) -> Context:
        ctx = make_context(self.root, pulse=self.pulse, commands=self.runner, config=self.config, env=self.env)
        cache = dataclasses.replace(ResultCache.under(ctx.paths.state_dir, fresh=fresh), clock=self.clock)
        return dataclasses.replace(ctx, memo=Memo(), cache=cache)

    def check(self, ctx: Context | None = None) -> CheckResult:
        report = Runner(ctx or self.context()).run(plan(CHECKS, [ACCESS]))
        return {r.check_id: r for r in report.results}[ACCESS]

    @property
    def tests(self) -> int:
        return sum(1 for c in self.pulse.calls if c[0] == "connect_as")


def test_a_pass_is_reused_and_says_so(tmp_path: Path) -> None:
    s = Setup(tmp_path)
    first = s.check()
    s.clock.now += 4 * 60
    second = s.check()
    assert s.tests == 2  # with and without the cookie, once
    assert (first.status, first.summary) == (Status.OK, PROOF)
    assert second.status is Status.OK
    assert second.summary == f"{PROOF} — 4 min ago, nothing it depends on changed since"
    assert second.messages == (Message.info(
        "verified 4 min ago; nothing it depends on changed since — `spotidoctor check --fresh` re-tests"),)
    assert second.facts == first.facts


def recreate_socket(s: Setup) -> None:
    (s.root / SOCKET.lstrip("/")).rename(s.root / "run/user/1600/pulse/old")  # keep the inode busy
    make_socket(s.root, SOCKET)


def touch(s: Setup, path: str) -> None:
    target = s.root / path.lstrip("/")
    st = target.stat()
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))


def replace_cookie(s: Setup) -> None:
    (s.root / COOKIE.lstrip("/")).rename(s.root / "home/alice/.config/pulse/old")
    s.write(COOKIE, bytes(range(256)))


def server_restarted(s: Setup) -> None:
    s.write(f"{RUN}/pulse/pid", b"5000\n")
    s.write("/proc/5000/stat", b"5000 (pulseaudio) S " + b"0 " * 18 + b"99 0\n")


def module_reloaded(s: Setup) -> None:
    s.pulse.loaded = [MAIN_SOCKET_MODULE, ModuleInfo(8, "module-native-protocol-unix", ARGS)]


def profile_changed(s: Setup) -> None:
    s.config = Config(audio="direct", container_uid=1234)


def subuid_changed(s: Setup) -> None:
    s.write("/etc/subuid", b"alice:300000:65536\n")


def server_upgraded(s: Setup) -> None:
    s.pulse.info = dataclasses.replace(s.pulse.info, version="17.0")


INPUTS: dict[str, Callable[[Setup], None]] = {
    "socket recreated (new inode)": recreate_socket,
    "socket touched": lambda s: touch(s, SOCKET),
    "socket mode changed": lambda s: (s.root / SOCKET.lstrip("/")).chmod(0o766),
    "cookie rewritten (size)": lambda s: s.write(COOKIE, bytes(range(256)) + b"!"),
    "cookie touched": lambda s: touch(s, COOKIE),
    "cookie replaced (inode)": replace_cookie,
    "server restarted (pid file)": server_restarted,
    "server upgraded": server_upgraded,
    "module reloaded": module_reloaded,
    "another container uid": profile_changed,
    "/etc/subuid edited": subuid_changed,
    "rebooted": lambda s: s.write("/proc/sys/kernel/random/boot_id", b"22222222-2222-4222-8222-222222222222\n"),
    "CONTAINERS_CONF set": lambda s: s.env.update(CONTAINERS_CONF="/srv/c.conf"),
}


@pytest.mark.parametrize("change", INPUTS.values(), ids=INPUTS.keys())
def test_any_change_re_tests(tmp_path: Path, change: Callable[[Setup], None]) -> None:
    s = Setup(tmp_path)
    s.check()
    s.check()
    assert s.tests == 2
    change(s)
    result = s.check()
    assert s.tests == 4
    assert result.status is Status.OK and "ago" not in result.summary


def test_expires_after_ten_minutes(tmp_path: Path) -> None:
    s = Setup(tmp_path)
    s.check()
    s.clock.now += ACCESS_CACHE_TTL_S + 1
    assert "ago" not in s.check().summary
    assert s.tests == 4 and ACCESS_CACHE_TTL_S == 600


def test_fresh_and_after_a_fix_re_test(tmp_path: Path) -> None:
    s = Setup(tmp_path)
    s.check()
    s.check(s.context(fresh=True))
    s.check(fixer.refreshed(s.context()))
    assert s.tests == 6


@pytest.mark.parametrize("with_cookie, without, status", [(OK, OK, Status.WARN), (DENIED, DENIED, Status.FAIL)],
                         ids=["no-isolation", "stale-cookie"])
def test_problems_are_never_reused(tmp_path: Path, with_cookie: object, without: object, status: Status) -> None:
    s = Setup(tmp_path)
    s.pulse.with_cookie, s.pulse.without_cookie = with_cookie, without  # type: ignore[assignment]
    assert s.check().status is s.check().status is status
    assert s.tests == 4


def test_a_fresh_failure_replaces_the_pass(tmp_path: Path) -> None:
    s = Setup(tmp_path)
    s.check()
    s.pulse.with_cookie = DENIED
    assert s.check(s.context(fresh=True)).status is Status.FAIL
    assert s.check().status is Status.FAIL  # the older pass is gone
    assert s.tests == 6


def test_could_not_test_is_never_reused_and_forgets_the_pass(tmp_path: Path) -> None:
    s = Setup(tmp_path)
    s.check()
    s.pulse.other_uid_error = ProbeUnavailable("cannot test as another uid: podman not found")
    result = s.check(s.context(fresh=True))
    assert (result.status, result.summary) == (Status.WARN, "could not test as another uid")
    s.pulse.other_uid_error = None
    assert "ago" not in s.check().summary
    assert s.tests == 5  # the first run's two, the attempt that could not run, two again


def test_pipewire_pass_is_reused(tmp_path: Path) -> None:
    s = Setup(tmp_path, FakePulse.pipewire())
    drop_in = "/home/alice/.config/pipewire/pipewire-pulse.conf.d/60-spotidoctor-socket.conf"
    s.write(drop_in, b'pulse.properties = {\n    server.address = [ "unix:native" "unix:pulse-socket" ]\n}\n')
    first = s.check()
    second = s.check()
    assert first.messages == (Message.info(MSG_PW_ISOLATION),)
    assert second.messages[1:] == first.messages and "ago" in second.summary
    assert s.tests == 1


def test_keep_id_is_not_cached(tmp_path: Path) -> None:
    s = Setup(tmp_path)
    s.config = Config(audio="direct", profile="keep-id")
    s.check()
    s.check()
    assert not (s.root / STATE.lstrip("/") / "cache" / "pulse-access.json").exists()


def test_the_cache_holds_no_cookie(tmp_path: Path) -> None:
    s = Setup(tmp_path)
    s.write(COOKIE, b"SECRETCOOKIE" * 22)
    s.check()
    path = s.root / STATE.lstrip("/") / "cache" / "pulse-access.json"
    text = path.read_text()
    assert "SECRETCOOKIE" not in text and bytes(range(256)).hex() not in text
    assert json.loads(text)["value"] == [["ok", "pulseaudio", "pulseaudio"],
                                         ["access-denied", "Connection failure: Access denied", None]]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_damaged_entry_is_ignored(tmp_path: Path) -> None:
    s = Setup(tmp_path)
    s.check()
    path = s.root / STATE.lstrip("/") / "cache" / "pulse-access.json"
    entry = json.loads(path.read_text())
    path.write_text(json.dumps({**entry, "value": [["no-such-outcome", "x", None], ["ok", "y", None]]}))
    assert "ago" not in s.check().summary
    assert s.tests == 4


def test_explain_mentions_the_cache() -> None:
    from spotidoctor.checks.pulse.container_access import PulseContainerAccess

    text = PulseContainerAccess.explanation()
    assert "10 minutes" in text and "--fresh" in text and "never its" in text
