"""pulse.* checks over FakePulse and a sysroot: every branch, the requires chain, the fixes applied."""
from __future__ import annotations

import dataclasses
import os
import stat
from collections.abc import Mapping
from pathlib import Path

import pytest

from spotidoctor.api import Context
from spotidoctor.checks.pulse import CHECKS
from spotidoctor.checks.pulse.client_config import FIX_CLIENT
from spotidoctor.checks.pulse.common import MSG_PW_ISOLATION
from spotidoctor.checks.pulse.fixes import FIX_DROP_IN, FIX_LOAD, FIX_PERSIST_PA, FIX_RESTART_PW
from spotidoctor.checks.pulse.output_api import MSG_PW_GRAPH
from spotidoctor.checks.pulse.steps import CopyPulseCookie, LoadPulseModule, MakeFileReadable
from spotidoctor.config import Config
from spotidoctor.engine import fixer
from spotidoctor.engine.planning import plan
from spotidoctor.engine.runner import Runner
from spotidoctor.errors import FixFailed, ProbeTimeout, ProbeUnavailable
from spotidoctor.fixes import Applicability, Instruction, RunCommand, WriteFile
from spotidoctor.memo import Memo
from spotidoctor.model import CheckResult, Message, Status
from spotidoctor.probes.fs import RealFS
from spotidoctor.probes.pulse import (
    ConnectOutcome,
    ConnectResult,
    ModuleInfo,
    PulseUnreachable,
    ServerInfo,
    SinkInfo,
)
from spotidoctor.testing import FakeCommand, FakeCommandRunner, FakeFS, make_context
from spotidoctor.testing.pulse import DENIED, MAIN_SOCKET_MODULE, OK, PULSEAUDIO_INFO, REFUSED, FakePulse

RUN = "/run/user/1600"
PULSE_DIR = f"{RUN}/pulse"
NATIVE = f"{PULSE_DIR}/native"
SOCKET = f"{PULSE_DIR}/pulse-socket"
CONFIG = "/home/alice/.config"
COOKIE = f"{CONFIG}/pulse/pulse-cookie"
DEFAULT_PA = f"{CONFIG}/pulse/default.pa"
RUNTIME = f"{RUN}/spotidoctor"
COPY = f"{RUNTIME}/pulse-cookie"
CONF = f"{RUNTIME}/pulse-client.conf"
DROP_IN = f"{CONFIG}/pipewire/pipewire-pulse.conf.d/60-spotidoctor-socket.conf"
COOKIE_BYTES = bytes(range(256))
OUR_ARGS = "socket=pulse-socket auth-cookie=pulse-cookie"
OURS = ModuleInfo(7, "module-native-protocol-unix", OUR_ARGS)
NOT_SYSTEMD = FakeCommand(("systemctl", "--user", "is-active", "pipewire-pulse.service"), stdout="inactive\n",
                          returncode=3)
SYSTEMD = FakeCommand(("systemctl", "--user", "is-active", "pipewire-pulse.service"), stdout="active\n")
DROP_IN_TEXT = 'pulse.properties = {\n    server.address = [ "unix:native" "unix:pulse-socket" ]\n}\n'


def make_socket(root: Path, path: str) -> None:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        os.mknod(target, stat.S_IFSOCK | 0o777)
        target.chmod(0o777)  # what PulseAudio and pipewire-pulse make (mknod obeys the umask)


# Most of these checks prepare the original design's direct socket: audio = "direct" unless a test says otherwise.
DIRECT = Config(audio="direct")
# Direct mode fails pulse.audio-mode (a warning) and skips pulse.filter-access: tests/unit/test_pulse_modes.py.
MODE_CHECKS = ("pulse.audio-mode", "pulse.filter-access")


def context(tmp_path: Path, pulse: FakePulse | None = None, files: Mapping[str, str | bytes] | None = None,
            sockets: tuple[str, ...] = (NATIVE,), commands: tuple[FakeCommand, ...] = (NOT_SYSTEMD,),
            env: Mapping[str, str] | None = None, config: Config | None = None,
            owners: Mapping[str, tuple[int, int]] | None = None, fs: RealFS | None = None) -> Context:
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    ctx = make_context(root, files=files, pulse=pulse or FakePulse.pulseaudio(), env=env, config=config or DIRECT,
                       commands=FakeCommandRunner(commands, repeat=True), owners=owners or {COPY: (1600, 1600)},
                       fs=fs)
    for directory, mode in ((root / "run", 0o755), (root / "run/user", 0o755), (root / RUN.lstrip("/"), 0o700)):
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(mode)
    for path in sockets:
        make_socket(root, path)
    return ctx


def root_of(ctx: Context) -> Path:
    return Path(ctx.probes.fs.sysroot)


def run(ctx: Context, selector: str = "pulse", *ignore: str) -> dict[str, CheckResult]:
    report = Runner(ctx).run(plan(CHECKS, [selector], ignore))
    return {r.check_id: r for r in report.results}


def loaded_pa(tmp_path: Path, args: str = OUR_ARGS, cookie: bytes = COOKIE_BYTES, **kwargs: object) -> Context:
    """PulseAudio with our module loaded, its socket and cookie in place."""
    pulse = FakePulse.pulseaudio(loaded=[MAIN_SOCKET_MODULE, ModuleInfo(7, "module-native-protocol-unix", args)])
    files = {COOKIE: cookie, **kwargs.pop("files", {})}  # type: ignore[dict-item]
    sockets = kwargs.pop("sockets", (NATIVE, SOCKET))
    return context(tmp_path, pulse, files=files, sockets=sockets, **kwargs)  # type: ignore[arg-type]


def apply_all(ctx: Context, result: CheckResult) -> list[fixer.Applied]:
    env = fixer.StepEnvironment.from_context(ctx)
    return [fixer.apply(fixer.Candidate(result, fix), env) for fix in result.fixes
            if fix.applicability is Applicability.SAFE]


def statuses(results: Mapping[str, CheckResult]) -> dict[str, str]:
    return {cid: r.status.value for cid, r in results.items()}


# -- pulse.server ------------------------------------------------------------------------------

def test_server_pulseaudio(tmp_path: Path) -> None:
    result = run(context(tmp_path), "pulse.server")["pulse.server"]
    assert result == CheckResult("pulse.server", Status.OK, "PulseAudio 16.1, default sink testsink", facts={
        "server_kind": "pulseaudio", "server_name": "pulseaudio", "server_version": "16.1",
        "default_sink": "testsink"})


def test_server_pipewire(tmp_path: Path) -> None:
    result = run(context(tmp_path, FakePulse.pipewire()), "pulse.server")["pulse.server"]
    assert result.summary == "PipeWire 0.3.65 (pipewire-pulse), default sink testsink"
    assert result.facts["server_kind"] == "pipewire"


@pytest.mark.parametrize(("sinks", "status"), [
    pytest.param((SinkInfo("testsink", "module-null-sink.c", True),), Status.WARN, id="only-null"),
    pytest.param((SinkInfo("testsink", "module-null-sink.c", True), SinkInfo("hw", "module-alsa-card.c", False)),
                 Status.OK, id="null-and-hardware"),
    pytest.param((), Status.OK, id="not-known"),
])
def test_a_server_with_only_null_sinks_warns_that_nothing_will_be_heard(tmp_path: Path, sinks: tuple,
                                                                        status: Status) -> None:
    pulse = FakePulse.pulseaudio(info=dataclasses.replace(PULSEAUDIO_INFO, sinks=sinks))
    result = run(context(tmp_path, pulse), "pulse.server")["pulse.server"]
    assert result.status is status
    if status is Status.WARN:
        assert result.summary == "PulseAudio 16.1 has only a null sink (testsink): nothing will be heard"


def test_server_without_default_sink_warns(tmp_path: Path) -> None:
    pulse = FakePulse.pulseaudio(info=ServerInfo("pulseaudio", "16.1", None))
    result = run(context(tmp_path, pulse), "pulse.server")["pulse.server"]
    assert result.status is Status.WARN
    assert result.summary == "PulseAudio 16.1 has no default sink: Spotify would play into nothing"
    assert result.facts["default_sink"] is None


@pytest.mark.parametrize("error, sockets, summary, text", [
    pytest.param(ProbeTimeout(f"the pulse server at unix:{NATIVE} accepted the connection but did not answer"),
                 (NATIVE,), "the pulse server hangs", f"the pulse server at unix:{NATIVE} accepted", id="hung"),
    pytest.param(PulseUnreachable("x: Connection refused", ConnectOutcome.REFUSED), (),
                 "no pulse server is running", f"nothing at {NATIVE}", id="no-socket"),
    pytest.param(PulseUnreachable("x: Connection refused", ConnectOutcome.REFUSED), (NATIVE,),
                 "the pulse socket exists but nothing answers on it", f"{NATIVE}: connection refused",
                 id="stale-socket"),
    pytest.param(PulseUnreachable("x: Access denied", ConnectOutcome.ACCESS_DENIED), (NATIVE,),
                 "the pulse server refused us: access denied", "x: Access denied", id="access-denied"),
    pytest.param(PulseUnreachable("x: Protocol error", ConnectOutcome.FAILED), (NATIVE,),
                 "cannot reach the pulse server: x: Protocol error", "x: Protocol error", id="other"),
    pytest.param(ProbeUnavailable("pulsectl is not installed"), (NATIVE,),
                 "cannot talk to the pulse server: pulsectl is not installed", None, id="no-pulsectl"),
])
def test_server_failures_say_why(tmp_path: Path, error: ProbeUnavailable, sockets: tuple[str, ...], summary: str,
                                 text: str | None) -> None:
    results = run(context(tmp_path, FakePulse.pulseaudio(error=error), sockets=sockets))
    assert (results["pulse.server"].status, results["pulse.server"].summary) == (Status.FAIL, summary)
    if text:
        assert text in results["pulse.server"].messages[0].text
    assert all(r.status is Status.SKIP for cid, r in results.items() if cid != "pulse.server")


class NoTraverse(FakeFS):
    def access(self, path: str, mode: int) -> bool:
        return path != PULSE_DIR and super().access(path, mode)


def test_server_refused_because_the_directory_cannot_be_entered(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    pulse = FakePulse.pulseaudio(error=PulseUnreachable("x: Connection refused", ConnectOutcome.REFUSED))
    ctx = context(tmp_path, pulse, fs=NoTraverse(tmp_path / "root"))
    result = run(ctx, "pulse.server")["pulse.server"]
    assert result.summary == "cannot enter the pulse runtime directory"
    assert "libpulse reports this as 'Connection refused'" in result.messages[0].text


def test_server_names_pulse_server_env(tmp_path: Path) -> None:
    pulse = FakePulse.pulseaudio(error=PulseUnreachable("x: Connection refused", ConnectOutcome.REFUSED))
    result = run(context(tmp_path, pulse, env={"PULSE_SERVER": "unix:/elsewhere"}), "pulse.server")["pulse.server"]
    assert result.messages[0].text == "nothing at /elsewhere"


# -- pulse.container-socket: PulseAudio --------------------------------------------------------

def test_module_missing_fails_with_load_and_persist_fixes(tmp_path: Path) -> None:
    result = run(context(tmp_path), "pulse.container-socket")["pulse.container-socket"]
    assert (result.status, result.summary) == (Status.FAIL, "no container socket: the socket module is not loaded")
    assert result.messages[0].advice == (
        f"`pactl load-module module-native-protocol-unix {OUR_ARGS}`, and add that line after "
        f"`.include /etc/pulse/default.pa` in {DEFAULT_PA} (`spotidoctor fix` does both).",)
    assert result.facts == {"server_kind": "pulseaudio", "server_name": "pulseaudio", "container_socket": SOCKET,
                            "cookie_path": COOKIE}
    assert [(f.id, f.applicability) for f in result.fixes] == [(FIX_LOAD, Applicability.SAFE),
                                                             (FIX_PERSIST_PA, Applicability.SAFE)]
    load, persist = result.fixes
    assert load.steps == (LoadPulseModule(f"load module-native-protocol-unix {OUR_ARGS}",
                                          "module-native-protocol-unix", OUR_ARGS, SOCKET),)
    assert persist.steps == (WriteFile(
        f"{DEFAULT_PA}: insert `.include /etc/pulse/default.pa` as the first line; append "
        f"`load-module module-native-protocol-unix {OUR_ARGS}`", path=DEFAULT_PA,
        content=(".include /etc/pulse/default.pa\n"
                 "# Added by spotidoctor (pulse.persistence): the Spotify container's audio socket.\n"
                 f".nofail\nload-module module-native-protocol-unix {OUR_ARGS}\n"), mode=0o644),)


def test_fixing_the_missing_module_end_to_end(tmp_path: Path) -> None:
    pulse = FakePulse.pulseaudio()
    ctx = context(tmp_path, pulse)
    root = root_of(ctx)

    def server_creates_socket_and_cookie(name: str, args: str) -> None:
        make_socket(root, SOCKET)
        (root / COOKIE.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        (root / COOKIE.lstrip("/")).write_bytes(COOKIE_BYTES)
        pulse.listening.add(SOCKET)

    pulse.on_load = server_creates_socket_and_cookie
    first = run(ctx)
    applied = apply_all(ctx, first["pulse.container-socket"])
    assert [a.ok for a in applied] == [True, True]
    assert applied[0].steps[0].outcome == f"loaded module-native-protocol-unix {OUR_ARGS} (module #1)"
    ctx = fixer.without_memo(ctx)
    second = run(ctx, "pulse", "pulse.container-access")
    assert second["pulse.container-socket"].status is Status.OK
    assert second["pulse.persistence"].status is Status.OK
    assert second["pulse.client-config"].status is Status.FAIL
    apply_all(ctx, second["pulse.client-config"])
    third = run(fixer.without_memo(ctx), "pulse", "pulse.container-access", *MODE_CHECKS)
    assert set(statuses(third).values()) == {"ok"}, third
    # Idempotent: applying the load step again does nothing (the socket is served).
    step = first["pulse.container-socket"].fixes[0].steps[0]
    assert step.apply(fixer.StepEnvironment.from_context(ctx)) == f"{SOCKET} is already served"
    assert [c for c in pulse.calls if c[0] == "load_module"] == [("load_module", "module-native-protocol-unix",
                                                                  OUR_ARGS)]


def test_load_failure_stops_the_fix(tmp_path: Path) -> None:
    ctx = context(tmp_path, FakePulse.pulseaudio(load_error="Failed to load module: b'x'"))
    result = run(ctx, "pulse.container-socket")["pulse.container-socket"]
    applied = fixer.apply(fixer.Candidate(result, result.fixes[0]), fixer.StepEnvironment.from_context(ctx))
    assert not applied.ok
    assert applied.steps[0].outcome == "loading module-native-protocol-unix failed: Failed to load module: b'x'"


@pytest.mark.parametrize("args, socket, cookie", [
    pytest.param(OUR_ARGS, SOCKET, COOKIE, id="original-design"),
    pytest.param(f"socket={SOCKET} auth-cookie={COOKIE}", SOCKET, COOKIE, id="absolute"),
    pytest.param(f"auth-cookie='{COOKIE}' socket=\"{SOCKET}\"", SOCKET, COOKIE, id="quoted"),
    pytest.param("socket=pulse-socket cookie=pulse-cookie", SOCKET, COOKIE, id="old-cookie-alias"),
    pytest.param("socket=pulse-socket", SOCKET, f"{CONFIG}/pulse/cookie", id="default-cookie"),
    pytest.param("socket=\"q socket\" auth-cookie='q cookie'", f"{PULSE_DIR}/q socket", f"{CONFIG}/pulse/q cookie",
                 id="spaces-quoted-verbatim"),
    pytest.param("socket=/tmp/custom/sock auth-cookie=pulse-cookie", "/tmp/custom/sock", COOKIE, id="custom-path"),
])
def test_module_argument_shapes_pass(tmp_path: Path, args: str, socket: str, cookie: str) -> None:
    pulse = FakePulse.pulseaudio(loaded=[MAIN_SOCKET_MODULE, ModuleInfo(3, "module-native-protocol-unix", args)])
    ctx = context(tmp_path, pulse, files={cookie: COOKIE_BYTES}, sockets=(NATIVE, socket))
    result = run(ctx, "pulse.container-socket")["pulse.container-socket"]
    assert result == CheckResult("pulse.container-socket", Status.OK, f"{socket} (module #3, cookie {cookie})",
                                 facts={"server_kind": "pulseaudio", "server_name": "pulseaudio",
                                        "container_socket": socket, "cookie_path": cookie})
    assert ("connect_test", f"unix:{socket}", cookie) in pulse.calls


def test_expected_socket_is_preferred_over_another_dedicated_one(tmp_path: Path) -> None:
    pulse = FakePulse.pulseaudio(loaded=[MAIN_SOCKET_MODULE, ModuleInfo(2, "module-native-protocol-unix",
                                                                        "socket=/tmp/old auth-cookie=old"), OURS])
    ctx = context(tmp_path, pulse, files={COOKIE: COOKIE_BYTES}, sockets=(NATIVE, SOCKET))
    assert run(ctx, "pulse.container-socket")["pulse.container-socket"].facts["container_socket"] == SOCKET


def test_unparseable_module_arguments_count_as_missing(tmp_path: Path) -> None:
    pulse = FakePulse.pulseaudio(loaded=[MAIN_SOCKET_MODULE, ModuleInfo(3, "module-native-protocol-unix",
                                                                        'socket="broken')])
    results = run(context(tmp_path, pulse), "pulse", "pulse.container-access")
    assert results["pulse.container-socket"].summary == "no container socket: the socket module is not loaded"
    assert results["pulse.leftovers"].messages[0].text.startswith("module #3: arguments do not parse")


@pytest.mark.parametrize("cookie, status, summary", [
    pytest.param(None, Status.FAIL,
                 f"the cookie file {COOKIE} is missing (the server still uses the old one in memory)", id="missing"),
    pytest.param(b"x" * 5, Status.FAIL, f"{COOKIE} holds 5 bytes, not 256: it no longer matches the cookie the "
                                        "server loaded", id="short"),
    pytest.param(b"x" * 300, Status.WARN, f"{SOCKET} (module #7, cookie {COOKIE})", id="long"),
    pytest.param(b"", Status.FAIL, f"{COOKIE} holds 0 bytes, not 256: it no longer matches the cookie the server "
                                   "loaded", id="empty"),
])
def test_cookie_sizes(tmp_path: Path, cookie: bytes | None, status: Status, summary: str) -> None:
    pulse = FakePulse.pulseaudio(loaded=[MAIN_SOCKET_MODULE, OURS])
    ctx = context(tmp_path, pulse, files={COOKIE: cookie} if cookie is not None else {}, sockets=(NATIVE, SOCKET))
    result = run(ctx, "pulse.container-socket")["pulse.container-socket"]
    assert (result.status, result.summary) == (status, summary)
    if status is Status.FAIL:
        assert result.messages[0].advice == (f"`pactl unload-module 7` then `pactl load-module "
                                             f"module-native-protocol-unix {OUR_ARGS}`",)
    else:
        assert "only the first 256 are the cookie" in result.messages[0].text


class ModeHonouringFS(FakeFS):
    """Reads refused by mode bits even when the tests run as root (who reads anything)."""

    def read_bytes(self, path: str, limit: int | None = None) -> bytes:  # type: ignore[override]
        st = self.stat(path)
        if st is not None and not st.perms & 0o444:
            raise PermissionError(13, "Permission denied", path)
        return super().read_bytes(path, limit) if limit is not None else super().read_bytes(path)


@pytest.mark.parametrize(("owner", "applicability"), [
    pytest.param(1600, Applicability.SAFE, id="yours"),
    pytest.param(0, Applicability.MANUAL, id="roots"),
])
def test_an_unreadable_cookie_is_named_with_owner_and_mode_and_the_fix_works(
        tmp_path: Path, owner: int, applicability: Applicability) -> None:
    root = tmp_path / "root"
    fs = ModeHonouringFS(root, {COPY: (1600, 1600), COOKIE: (owner, owner)})
    ctx = loaded_pa(tmp_path, fs=fs)
    (root / COOKIE.lstrip("/")).chmod(0)
    result = run(ctx, "pulse.container-socket")["pulse.container-socket"]
    assert (result.status, result.summary) == (Status.FAIL, f"cannot read the cookie file {COOKIE}: Permission denied")
    assert f"{COOKIE} (owner uid {owner}, mode 0000) cannot be read" in result.messages[0].text
    [fix] = result.fixes
    assert fix.applicability is applicability
    if applicability is Applicability.MANUAL:
        assert "sudo rm --" in fix.steps[0].text and "restart the server" in fix.steps[0].text
        return
    [applied] = apply_all(ctx, result)
    assert applied.ok, applied
    assert stat.S_IMODE((root / COOKIE.lstrip("/")).stat().st_mode) == 0o600
    assert run(ctx, "pulse.container-socket")["pulse.container-socket"].status is Status.OK


def test_the_chmod_step_never_follows_a_symlink(tmp_path: Path) -> None:
    ctx = loaded_pa(tmp_path)
    root = root_of(ctx)
    target = root / "elsewhere"
    target.write_bytes(b"x")
    target.chmod(0o640)
    link = root / "home/alice/link"
    link.symlink_to(target)
    step = MakeFileReadable("chmod", path="/home/alice/link", mode=0o600)
    with pytest.raises(FixFailed, match="not a regular file"):
        step.apply(fixer.StepEnvironment.from_context(ctx))
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_cookie_that_is_a_directory(tmp_path: Path) -> None:
    ctx = loaded_pa(tmp_path, cookie=b"")
    cookie = root_of(ctx) / COOKIE.lstrip("/")
    cookie.unlink()
    cookie.mkdir()
    assert run(ctx, "pulse.container-socket")["pulse.container-socket"].summary == f"{COOKIE} is not a regular file"


def test_socket_file_missing(tmp_path: Path) -> None:
    ctx = loaded_pa(tmp_path)
    (root_of(ctx) / SOCKET.lstrip("/")).unlink()
    result = run(ctx, "pulse.container-socket")["pulse.container-socket"]
    assert result.summary == "module #7 is loaded but its socket file is missing"


def test_socket_that_does_not_answer(tmp_path: Path) -> None:
    ctx = loaded_pa(tmp_path)
    ctx.probes.pulse.connect_results[f"unix:{SOCKET}"] = REFUSED  # type: ignore[attr-defined]
    result = run(ctx, "pulse.container-socket")["pulse.container-socket"]
    assert result.summary == "the container socket does not answer: Connection failure: Connection refused"


@pytest.mark.parametrize("kind", ["pulseaudio", "pipewire"])
def test_socket_other_uids_cannot_connect_to(tmp_path: Path, kind: str) -> None:
    ctx = loaded_pa(tmp_path) if kind == "pulseaudio" else pw(tmp_path, files={DROP_IN: DROP_IN_TEXT},
                                                               sockets=(NATIVE, SOCKET))
    (root_of(ctx) / SOCKET.lstrip("/")).chmod(0o755)
    result = run(ctx, "pulse.container-socket")["pulse.container-socket"]
    assert (result.status, result.summary) == (Status.FAIL, f"{SOCKET} has mode 0755: the container's uid 1500 "
                                                            "(another uid on the host) cannot connect to it")
    keep_id = dataclasses.replace(ctx, config=Config(audio="direct", profile="keep-id"), memo=Memo())
    assert run(keep_id, "pulse.container-socket")["pulse.container-socket"].status is not Status.FAIL


def test_anonymous_module_warns(tmp_path: Path) -> None:
    ctx = loaded_pa(tmp_path, args="socket=pulse-socket auth-anonymous=1 auth-cookie-enabled=0")
    result = run(ctx, "pulse.container-socket")["pulse.container-socket"]
    assert (result.status, result.summary) == (Status.WARN, f"{SOCKET} (module #7, cookie none)")
    assert result.messages[0].text.startswith("auth-anonymous=1")
    assert result.facts["cookie_path"] is None


def test_cookie_disabled_without_anonymous_fails(tmp_path: Path) -> None:
    ctx = loaded_pa(tmp_path, args="socket=pulse-socket auth-cookie-enabled=0")
    result = run(ctx, "pulse.container-socket")["pulse.container-socket"]
    assert result.summary.startswith("auth-cookie-enabled=0 and no auth-anonymous")


def test_no_runtime_dir(tmp_path: Path) -> None:
    ctx = context(tmp_path, env={"XDG_RUNTIME_DIR": ""})
    result = run(ctx, "pulse.container-socket")["pulse.container-socket"]
    assert (result.status, result.summary) == (Status.FAIL, "XDG_RUNTIME_DIR is not set")


def test_pulse_runtime_path_moves_the_socket(tmp_path: Path) -> None:
    ctx = context(tmp_path, env={"PULSE_RUNTIME_PATH": "/srv/pulse"})
    assert run(ctx, "pulse.container-socket")["pulse.container-socket"].facts["container_socket"] == \
        "/srv/pulse/pulse-socket"


# -- pulse.container-socket: PipeWire ----------------------------------------------------------

def pw(tmp_path: Path, files: Mapping[str, str | bytes] | None = None, sockets: tuple[str, ...] = (NATIVE,),
       commands: tuple[FakeCommand, ...] = (NOT_SYSTEMD,), **kwargs: object) -> Context:
    return context(tmp_path, FakePulse.pipewire(**kwargs), files=files, sockets=sockets, commands=commands)


def test_pipewire_without_drop_in_fails_with_drop_in_and_manual_restart(tmp_path: Path) -> None:
    result = run(pw(tmp_path), "pulse.container-socket")["pulse.container-socket"]
    assert (result.status, result.summary) == (Status.FAIL, "pipewire-pulse has no container socket configured")
    assert result.messages[0].text == 'server.address is [ "unix:native" ] (built-in default).'
    assert result.facts == {"server_kind": "pipewire", "server_name": "PulseAudio (on PipeWire 0.3.65)",
                            "container_socket": SOCKET, "cookie_path": None}
    drop_in, restart = result.fixes
    assert (drop_in.id, drop_in.applicability) == (FIX_DROP_IN, Applicability.SAFE)
    assert drop_in.steps[1] == WriteFile(f"write {DROP_IN}", path=DROP_IN, content=(
        "# Written by spotidoctor: an extra pulse socket for the Spotify container.\n"
        "# server.address REPLACES the default list, so \"unix:native\" must stay in it,\n"
        "# or every other application loses its sound at the next restart.\n" + DROP_IN_TEXT), mode=0o644)
    # What does not depend on the new socket is done in the same pass: the client config.
    assert drop_in.steps[3].path == CONF and "enable-shm = no" in drop_in.steps[3].content  # type: ignore[attr-defined]
    assert "cookie-file" not in drop_in.steps[3].content  # type: ignore[attr-defined]
    assert (restart.id, restart.applicability) == (FIX_RESTART_PW, Applicability.MANUAL)
    assert isinstance(restart.steps[0], Instruction) and "systemd" in restart.steps[0].text
    assert "then run `spotidoctor fix` (it checks again and finishes anything left)." in restart.steps[0].text


def test_after_the_pipewire_drop_in_and_a_restart_nothing_else_is_left(tmp_path: Path) -> None:
    ctx = pw(tmp_path)
    result = run(ctx, "pulse.container-socket")["pulse.container-socket"]
    [applied] = apply_all(ctx, result)
    assert applied.ok, applied
    make_socket(root_of(ctx), SOCKET)  # what the restart does
    after = run(dataclasses.replace(ctx, memo=Memo()), "pulse.client-config")
    assert after["pulse.client-config"].status is Status.OK, after["pulse.client-config"]


def test_pipewire_restart_through_systemd_when_it_runs_pipewire_pulse(tmp_path: Path) -> None:
    result = run(pw(tmp_path, commands=(SYSTEMD,)), "pulse.container-socket")["pulse.container-socket"]
    restart = result.fixes[1]
    assert restart.applicability is Applicability.SAFE
    assert restart.steps == (RunCommand("restart pipewire-pulse.service",
                                        argv=("systemctl", "--user", "restart", "pipewire-pulse.service"),
                                        timeout_s=30),)


def test_pipewire_drop_in_keeps_existing_addresses(tmp_path: Path) -> None:
    mine = f"{CONFIG}/pipewire/pipewire-pulse.conf.d/10-tcp.conf"
    ctx = pw(tmp_path, files={mine: 'pulse.properties = { server.address = [ "unix:native" "tcp:4713" ] }\n'})
    result = run(ctx, "pulse.container-socket")["pulse.container-socket"]
    content = result.fixes[0].steps[1].content  # type: ignore[attr-defined]
    assert 'server.address = [ "unix:native" "tcp:4713" "unix:pulse-socket" ]' in content


def test_pipewire_configured_but_not_restarted(tmp_path: Path) -> None:
    result = run(pw(tmp_path, files={DROP_IN: DROP_IN_TEXT}), "pulse.container-socket")["pulse.container-socket"]
    assert result.summary == "the container socket is configured but pipewire-pulse has not opened it yet"
    assert [f.id for f in result.fixes] == [FIX_RESTART_PW]
    # No systemd unit runs pipewire-pulse here: the advice is the command that works without one.
    assert result.messages[0].advice == ("Restart pipewire-pulse: `pkill -x pipewire-pulse; pipewire-pulse &`.",)


def test_pipewire_configured_and_running(tmp_path: Path) -> None:
    ctx = pw(tmp_path, files={DROP_IN: DROP_IN_TEXT}, sockets=(NATIVE, SOCKET))
    result = run(ctx, "pulse.container-socket")["pulse.container-socket"]
    assert result == CheckResult("pulse.container-socket", Status.OK,
                                 f"{SOCKET} (configured in {DROP_IN}; no cookie on PipeWire)",
                                 (Message.info(MSG_PW_ISOLATION),),
                                 facts={"server_kind": "pipewire", "server_name": "PulseAudio (on PipeWire 0.3.65)",
                                        "container_socket": SOCKET, "cookie_path": None})
    assert ("connect_test", f"unix:{SOCKET}", None) in ctx.probes.pulse.calls  # type: ignore[attr-defined]


def test_pipewire_socket_that_does_not_answer(tmp_path: Path) -> None:
    ctx = pw(tmp_path, files={DROP_IN: DROP_IN_TEXT}, sockets=(NATIVE, SOCKET),
             connect_results={f"unix:{SOCKET}": REFUSED})
    result = run(ctx, "pulse.container-socket")["pulse.container-socket"]
    assert result.summary.startswith("the container socket does not answer")
    assert [f.id for f in result.fixes] == [FIX_RESTART_PW]


def test_pipewire_drop_in_dropping_native_fails(tmp_path: Path) -> None:
    mine = f"{CONFIG}/pipewire/pipewire-pulse.conf.d/50-mine.conf"
    ctx = pw(tmp_path, files={mine: 'pulse.properties = { server.address = [ "unix:pulse-socket" ] }'})
    result = run(ctx, "pulse.container-socket")["pulse.container-socket"]
    assert result.summary == f'{mine} sets server.address without "unix:native"'
    assert 'server.address = [ "unix:native" "unix:pulse-socket" ]' in result.fixes[0].steps[1].content  # type: ignore


def test_pipewire_later_drop_in_overrides_ours(tmp_path: Path) -> None:
    later = f"{CONFIG}/pipewire/pipewire-pulse.conf.d/99-late.conf"
    late_text = 'pulse.properties = { server.address = [ "unix:native" ] }'
    ctx = pw(tmp_path, files={DROP_IN: DROP_IN_TEXT, later: late_text})
    result = run(ctx, "pulse.container-socket")["pulse.container-socket"]
    assert result.summary == "pipewire-pulse has no container socket configured"
    assert any(m.text.startswith(f"{later} is read after {DROP_IN}") for m in result.messages)


def test_pipewire_unparseable_drop_in_is_reported(tmp_path: Path) -> None:
    bad = f"{CONFIG}/pipewire/pipewire-pulse.conf.d/20-bad.conf"
    ctx = pw(tmp_path, files={bad: 'pulse.properties = { server.address = [ "unix:x ] }'})
    result = run(ctx, "pulse.container-socket")["pulse.container-socket"]
    assert any(m.text.startswith(f"{bad}: not understood") for m in result.messages)


def test_pipewire_system_main_file_and_user_override(tmp_path: Path) -> None:
    files = {"/usr/share/pipewire/pipewire-pulse.conf": 'pulse.properties = { server.address = [ "unix:native" ] }',
             f"{CONFIG}/pipewire/pipewire-pulse.conf":
                 'pulse.properties = { server.address = [ "unix:native" "unix:pulse-socket" ] }'}
    ctx = pw(tmp_path, files=files, sockets=(NATIVE, SOCKET))
    result = run(ctx, "pulse.container-socket")["pulse.container-socket"]
    assert result.summary == f"{SOCKET} (configured in {CONFIG}/pipewire/pipewire-pulse.conf; no cookie on PipeWire)"


# -- pulse.container-access ---------------------------------------------------------------------

@pytest.mark.parametrize("with_cookie, without, status, summary", [
    pytest.param(OK, DENIED, Status.OK, f"container uid 1500 connects to {SOCKET} with the cookie and is refused "
                                        "without it (Access denied)", id="proof"),
    pytest.param(OK, OK, Status.WARN, f"container uid 1500 connects to {SOCKET} even WITHOUT the cookie",
                 id="no-isolation"),
    pytest.param(DENIED, DENIED, Status.FAIL, f"container uid 1500 cannot use {SOCKET} even with the cookie: "
                                              "Connection failure: Access denied", id="stale-cookie"),
    pytest.param(REFUSED, REFUSED, Status.FAIL, f"container uid 1500 cannot use {SOCKET} even with the cookie: "
                                                "Connection failure: Connection refused", id="refused"),
])
def test_container_access_pulseaudio(tmp_path: Path, with_cookie: ConnectResult, without: ConnectResult,
                                     status: Status, summary: str) -> None:
    ctx = loaded_pa(tmp_path)
    ctx.probes.pulse.with_cookie, ctx.probes.pulse.without_cookie = with_cookie, without  # type: ignore
    result = run(ctx, "pulse.container-access")["pulse.container-access"]
    assert (result.status, result.summary) == (status, summary)
    calls = [c for c in ctx.probes.pulse.calls if c[0] == "connect_as"]  # type: ignore[attr-defined]
    assert calls == [("connect_as", 1500, 1500, SOCKET, COOKIE), ("connect_as", 1500, 1500, SOCKET, None)]


def test_container_access_uses_the_configured_uid(tmp_path: Path) -> None:
    ctx = loaded_pa(tmp_path, config=Config(audio="direct", container_uid=1234))
    assert run(ctx, "pulse.container-access")["pulse.container-access"].summary.startswith("container uid 1234 ")


def test_container_access_pipewire(tmp_path: Path) -> None:
    ctx = pw(tmp_path, files={DROP_IN: DROP_IN_TEXT}, sockets=(NATIVE, SOCKET))
    result = run(ctx, "pulse.container-access")["pulse.container-access"]
    assert result == CheckResult("pulse.container-access", Status.OK,
                                 f"container uid 1500 connects to {SOCKET} (PipeWire: no cookie involved)",
                                 (Message.info(MSG_PW_ISOLATION),))
    assert [c for c in ctx.probes.pulse.calls if c[0] == "connect_as"] == [  # type: ignore[attr-defined]
        ("connect_as", 1500, 1500, SOCKET, None)]


def test_container_access_cannot_run(tmp_path: Path) -> None:
    ctx = loaded_pa(tmp_path)
    ctx.probes.pulse.other_uid_error = ProbeUnavailable("cannot test as another uid: podman not found")  # type: ignore
    result = run(ctx, "pulse.container-access")["pulse.container-access"]
    assert (result.status, result.summary) == (Status.WARN, "could not test as another uid")
    assert result.messages[0].text == "cannot test as another uid: podman not found"


def test_container_access_keep_id_profile_connects_as_self(tmp_path: Path) -> None:
    ctx = loaded_pa(tmp_path, config=Config(audio="direct", profile="keep-id"))
    result = run(ctx, "pulse.container-access")["pulse.container-access"]
    assert result.summary == f"keep-id profile: the container runs as your uid and connects to {SOCKET}"
    assert not [c for c in ctx.probes.pulse.calls if c[0] == "connect_as"]  # type: ignore[attr-defined]


# -- pulse.persistence --------------------------------------------------------------------------

@pytest.mark.parametrize("files, status, summary", [
    pytest.param({DEFAULT_PA: ".include /etc/pulse/default.pa\n.nofail\nload-module module-native-protocol-unix "
                              f"{OUR_ARGS}\n"}, Status.OK, f"configured in {DEFAULT_PA} line 3", id="user-file"),
    pytest.param({"/etc/pulse/default.pa": ".include /etc/pulse/default.pa.d\n",
                  "/etc/pulse/default.pa.d/spotify.pa": f"load-module module-native-protocol-unix {OUR_ARGS}\n"},
                 Status.OK, "configured in /etc/pulse/default.pa.d/spotify.pa line 1", id="system-drop-in"),
    pytest.param({DEFAULT_PA: ".include /etc/pulse/default.pa\n",
                  "/etc/pulse/default.pa": f"load-module module-native-protocol-unix socket={SOCKET} "
                                           "auth-cookie=pulse-cookie\n"},
                 Status.OK, "configured in /etc/pulse/default.pa line 1", id="through-the-include"),
    pytest.param({}, Status.WARN, f"{SOCKET} is loaded at runtime only: gone after the next PulseAudio restart",
                 id="runtime-only"),
    pytest.param({DEFAULT_PA: "load-module module-null-sink\n"}, Status.FAIL,
                 f"{DEFAULT_PA} disables the system PulseAudio configuration", id="no-include"),
    pytest.param({DEFAULT_PA: "load-module module-native-protocol-unix\nload-module module-always-sink\n"},
                 Status.WARN, f"{SOCKET} is loaded at runtime only: gone after the next PulseAudio restart",
                 id="full-copy-is-not-a-failure"),
])
def test_persistence_pulseaudio(tmp_path: Path, files: dict[str, str], status: Status, summary: str) -> None:
    result = run(loaded_pa(tmp_path, files=files), "pulse.persistence")["pulse.persistence"]
    assert (result.status, result.summary) == (status, summary)
    assert [f.id for f in result.fixes] == ([] if status is Status.OK else [FIX_PERSIST_PA])


def test_persistence_names_the_file_it_read_and_the_file_the_fix_writes(tmp_path: Path) -> None:
    ctx = loaded_pa(tmp_path, files={"/etc/pulse/default.pa": "load-module module-udev-detect\n"})
    result = run(ctx, "pulse.persistence")["pulse.persistence"]
    assert result.messages[0].text == (
        "Not in /etc/pulse/default.pa (what PulseAudio reads now). The fix creates "
        f"{DEFAULT_PA}: PulseAudio then reads it instead of /etc/pulse/default.pa, so it starts with "
        "`.include /etc/pulse/default.pa`.")
    assert result.fixes[0].steps[0].path == DEFAULT_PA  # type: ignore[attr-defined]


def test_persistence_no_include_message_and_fix_keeps_the_file(tmp_path: Path) -> None:
    ctx = loaded_pa(tmp_path, files={DEFAULT_PA: "load-module module-null-sink\n"})
    result = run(ctx, "pulse.persistence")["pulse.persistence"]
    assert "silently disables the whole system configuration" in result.messages[0].text
    applied = apply_all(ctx, result)
    assert applied[0].ok and "(backup: " in applied[0].steps[0].outcome
    text = (root_of(ctx) / DEFAULT_PA.lstrip("/")).read_text()
    assert text.splitlines()[:2] == [".include /etc/pulse/default.pa", "load-module module-null-sink"]
    again = run(fixer.without_memo(ctx), "pulse.persistence")["pulse.persistence"]
    assert (again.status, again.fixes) == (Status.OK, ())


def test_persistence_of_a_custom_module_persists_its_own_arguments(tmp_path: Path) -> None:
    ctx = loaded_pa(tmp_path, args="socket=/tmp/custom auth-cookie=pulse-cookie", sockets=(NATIVE, "/tmp/custom"))
    result = run(ctx, "pulse.persistence")["pulse.persistence"]
    assert result.fixes[0].steps[0].content.endswith(  # type: ignore[attr-defined]
        "load-module module-native-protocol-unix socket=/tmp/custom auth-cookie=pulse-cookie\n")


class UnreadableDefaultPa(FakeFS):
    def read_bytes(self, path: str, limit: int | None = None) -> bytes:
        if path in (DEFAULT_PA, "/etc/pulse/default.pa") and self.exists(path):
            raise PermissionError(13, "Permission denied", path)
        return super().read_bytes(path, limit)


def test_persistence_unreadable_default_pa(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    ctx = loaded_pa(tmp_path, files={DEFAULT_PA: "x\n", "/etc/pulse/default.pa": "x\n"},
                    fs=UnreadableDefaultPa(tmp_path / "root"))
    result = run(ctx, "pulse.persistence")["pulse.persistence"]
    assert (result.status, result.summary) == (Status.FAIL, f"cannot read {DEFAULT_PA}: Permission denied")
    (root_of(ctx) / DEFAULT_PA.lstrip("/")).unlink()  # now only the unreadable system file is left
    result = run(fixer.without_memo(ctx), "pulse.persistence")["pulse.persistence"]
    assert result.summary.endswith("is loaded at runtime only: gone after the next PulseAudio restart")


def test_persistence_not_configured_and_not_loaded(tmp_path: Path) -> None:
    result = run(context(tmp_path), "pulse.persistence")["pulse.persistence"]
    assert (result.status, result.summary) == (Status.WARN, "the container socket is not configured persistently")


def test_persistence_follows_an_include_loop_without_hanging(tmp_path: Path) -> None:
    files = {DEFAULT_PA: f".include /etc/pulse/default.pa\n.include {DEFAULT_PA}\n",
             "/etc/pulse/default.pa": f".include {DEFAULT_PA}\n"}
    result = run(loaded_pa(tmp_path, files=files), "pulse.persistence")["pulse.persistence"]
    assert result.status is Status.WARN


@pytest.mark.parametrize("files, status", [({DROP_IN: DROP_IN_TEXT}, Status.OK), ({}, Status.WARN)])
def test_persistence_pipewire(tmp_path: Path, files: dict[str, str], status: Status) -> None:
    result = run(pw(tmp_path, files=files), "pulse.persistence")["pulse.persistence"]
    assert result.status is status
    assert [f.id for f in result.fixes] == ([] if status is Status.OK else [FIX_DROP_IN])


# -- pulse.leftovers ----------------------------------------------------------------------------

def test_no_leftovers(tmp_path: Path) -> None:
    result = run(loaded_pa(tmp_path), "pulse.leftovers")["pulse.leftovers"]
    assert (result.status, result.summary) == (Status.OK, "none found")


def test_leftovers_pulseaudio(tmp_path: Path) -> None:
    modules = [MAIN_SOCKET_MODULE, OURS, ModuleInfo(8, "module-native-protocol-unix", f"socket={SOCKET} "
                                                                                      "auth-cookie=pulse-cookie"),
               ModuleInfo(9, "module-native-protocol-unix", "socket=/tmp/gone auth-cookie=old-cookie")]
    ctx = context(tmp_path, FakePulse.pulseaudio(loaded=modules), sockets=(NATIVE, SOCKET),
                  files={COOKIE: COOKIE_BYTES, f"{CONFIG}/pulse/old-cookie": b"x" * 5,
                         f"{CONFIG}/pulse/cookie": b"y" * 300})
    result = run(ctx, "pulse.leftovers")["pulse.leftovers"]
    assert result.status is Status.WARN and result.severity.name == "WARNING"
    assert [m.text for m in result.messages] == [
        f"2 modules on the same socket {SOCKET}: #7, #8",
        "3 dedicated socket modules are loaded; the container uses #7",
        "module #9: its socket /tmp/gone is gone",
        f"{CONFIG}/pulse/cookie holds 300 bytes, not 256",
        f"{CONFIG}/pulse/old-cookie holds 5 bytes, not 256",
    ]
    assert result.messages[1].advice == (f"`pactl unload-module 8`  # socket={SOCKET} auth-cookie=pulse-cookie",
                                         "`pactl unload-module 9`  # socket=/tmp/gone auth-cookie=old-cookie")


def test_leftovers_pipewire(tmp_path: Path) -> None:
    conf_d = f"{CONFIG}/pipewire/pipewire-pulse.conf.d"
    ctx = pw(tmp_path, files={f"{conf_d}/10-a.conf": 'pulse.properties = { server.address = [ "unix:native" ] }',
                              DROP_IN: DROP_IN_TEXT, DEFAULT_PA: ".include /etc/pulse/default.pa\n",
                              "/etc/pipewire/pipewire-pulse.conf.d/10-sys.conf":
                                  'pulse.properties = { server.address = [ "unix:native" ] }'})
    result = run(ctx, "pulse.leftovers")["pulse.leftovers"]
    assert [m.text for m in result.messages] == [
        f"2 of your pipewire-pulse configs set server.address; only the last ({DROP_IN}) counts",
        f"{DEFAULT_PA} is not used by pipewire-pulse"]


# -- pulse.output-api ---------------------------------------------------------------------------

SHARE = {"share_pipewire": True}
NOT_SHARED = (f"{RUN}/pipewire-0 would work, but it is not shared: it exposes the whole PipeWire graph (cameras, "
              "screen casts, every application's streams), while the pulse socket carries audio only. Set "
              "share_pipewire = true in config.toml to share it anyway.")


@pytest.mark.parametrize("kind, mode, listening, profile, api, message", [
    pytest.param("pipewire", 0o666, True, ("isolated", SHARE), "pipewire", MSG_PW_GRAPH, id="pipewire-systemd-socket"),
    pytest.param("pipewire", 0o666, True, "isolated", "pulseaudio", NOT_SHARED, id="pipewire-not-shared-by-default"),
    pytest.param("pipewire", 0o755, True, ("keep-id", SHARE), "pipewire", MSG_PW_GRAPH, id="pipewire-keep-id"),
    pytest.param("pipewire", 0o755, True, "isolated", "pulseaudio",
                 f"{RUN}/pipewire-0 has mode 0755: the container's uid 1500 (another uid on the host) cannot "
                 "connect to it", id="pipewire-not-for-other-uids"),
    pytest.param("pipewire", None, False, "isolated", "pulseaudio", f"{RUN}/pipewire-0 is missing",
                 id="pw-no-socket"),
    pytest.param("pipewire", 0o666, False, "isolated", "pulseaudio", f"{RUN}/pipewire-0 is not accepting "
                                                                     "connections", id="pw-stale"),
    pytest.param("pulseaudio", 0o666, True, "isolated", "pulseaudio",
                 f"{RUN}/pipewire-0 exists but PulseAudio plays the sound (PipeWire there has no audio devices)",
                 id="pa-with-pipewire-video"),
    pytest.param("pulseaudio", None, False, "isolated", "pulseaudio", "the server is PulseAudio", id="pa"),
])
def test_output_api(tmp_path: Path, kind: str, mode: int | None, listening: bool, profile: str | tuple[str, dict],
                    api: str, message: str) -> None:
    profile, extra = profile if isinstance(profile, tuple) else (profile, {})
    path = f"{RUN}/pipewire-0"
    pulse = FakePulse.pipewire() if kind == "pipewire" else FakePulse.pulseaudio()
    if listening:
        pulse.listening.add(path)
    ctx = context(tmp_path, pulse, sockets=(NATIVE, path) if mode is not None else (NATIVE,),
                  config=Config(audio="direct", profile=profile, **extra))
    if mode is not None:
        (root_of(ctx) / path.lstrip("/")).chmod(mode)
    result = run(ctx, "pulse.output-api")["pulse.output-api"]
    assert result.status is Status.OK
    assert result.facts == {"audio_api": api, "pipewire_socket": path if api == "pipewire" else None}
    assert [m.text for m in result.messages] == [message]


def test_output_api_honours_pipewire_runtime_dir(tmp_path: Path) -> None:
    pulse = FakePulse.pipewire(listening={"/srv/pw/pipewire-0"})
    ctx = context(tmp_path, pulse, sockets=(NATIVE, "/srv/pw/pipewire-0"), env={"PIPEWIRE_RUNTIME_DIR": "/srv/pw"},
                  config=Config(audio="direct", share_pipewire=True))
    (root_of(ctx) / "srv/pw/pipewire-0").chmod(0o666)
    assert run(ctx, "pulse.output-api")["pulse.output-api"].facts["pipewire_socket"] == "/srv/pw/pipewire-0"


# -- pulse.client-config ------------------------------------------------------------------------

def test_client_config_missing_then_fixed_then_idempotent(tmp_path: Path) -> None:
    ctx = loaded_pa(tmp_path)
    result = run(ctx, "pulse.client-config")["pulse.client-config"]
    assert (result.status, result.summary) == (Status.FAIL, f"{CONF} is missing")
    assert [m.text for m in result.messages] == [f"{CONF} is missing", f"the cookie copy {COPY} is missing"]
    assert result.facts == {"client_conf": CONF, "cookie_copy": COPY}
    fix = result.fixes[0]
    assert (fix.id, fix.applicability) == (FIX_CLIENT, Applicability.SAFE)
    assert fix.steps[-1] == CopyPulseCookie(f"copy the cookie to {COPY}", source=COOKIE, target=COPY)
    env = fixer.StepEnvironment.from_context(ctx)
    plan_text = "\n".join(fixer.preview(fix, env))
    assert f"copy {COOKIE} -> {COPY} (mode 0644; content not shown)" in plan_text
    assert "+autospawn = no" in plan_text and "+enable-shm = no" in plan_text
    assert "+cookie-file = /run/spotidoctor/pulse-cookie" in plan_text
    assert COOKIE_BYTES.hex() not in plan_text and str(COOKIE_BYTES) not in plan_text
    assert apply_all(ctx, result)[0].ok
    copy = root_of(ctx) / COPY.lstrip("/")
    assert copy.read_bytes() == COOKIE_BYTES and stat.S_IMODE(copy.stat().st_mode) == 0o644
    again = run(fixer.without_memo(ctx), "pulse.client-config")["pulse.client-config"]
    assert again == CheckResult("pulse.client-config", Status.OK, f"{CONF} and {COPY}",
                                facts={"client_conf": CONF, "cookie_copy": COPY})
    assert [line.strip() for line in fixer.preview(fix, env) if "up to date" in line] == [
        f"{CONF}: already up to date", f"{COPY}: already up to date"]


@pytest.mark.parametrize("conf, copy, mode, owner, problem", [
    pytest.param("autospawn = no\nenable-shm = yes\ncookie-file = /run/spotidoctor/pulse-cookie\n", COOKIE_BYTES,
                 0o644, 1600, f"{CONF}: enable-shm is yes, must be no", id="shm-on"),
    pytest.param("enable-shm = no\ncookie-file = /run/spotidoctor/pulse-cookie\n", COOKIE_BYTES, 0o644, 1600,
                 f"{CONF}: autospawn is unset (default yes), must be no", id="autospawn-default"),
    pytest.param("autospawn = no\nenable-shm = no\n", COOKIE_BYTES, 0o644, 1600,
                 f"{CONF}: cookie-file should be /run/spotidoctor/pulse-cookie for this server", id="no-cookie-file"),
    pytest.param("not a setting\n", COOKIE_BYTES, 0o644, 1600, f"{CONF}: line 1: 'not a setting' is not key = value",
                 id="garbage"),
    pytest.param(None, bytes(256), 0o644, 1600, f"{COPY} is not the server's current cookie ({COOKIE}); the "
                                                "container would be refused", id="stale-copy"),
    pytest.param(None, COOKIE_BYTES, 0o600, 1600, f"{COPY} has mode 0600, must be 0644 (readable by the container "
                                                  "user)", id="mode-0600"),
    pytest.param(None, COOKIE_BYTES, 0o644, 101499, f"{COPY} belongs to uid 101499, not you: a container-owned copy "
                                                    "mounted read-only is refused", id="container-owned"),
])
def test_client_config_problems(tmp_path: Path, conf: str | None, copy: bytes, mode: int, owner: int,
                                problem: str) -> None:
    good = ("# x\nautospawn = no\nenable-shm = no\ndefault-server = unix:/run/spotidoctor/pulse-native\n"
            "cookie-file = /run/spotidoctor/pulse-cookie\n")
    ctx = loaded_pa(tmp_path, files={CONF: conf or good, COPY: copy}, owners={COPY: (owner, owner)})
    (root_of(ctx) / COPY.lstrip("/")).chmod(mode)
    result = run(ctx, "pulse.client-config")["pulse.client-config"]
    assert (result.status, result.summary) == (Status.FAIL, problem)
    assert [f.id for f in result.fixes] == [FIX_CLIENT]


class UnreadableCookie(FakeFS):
    def read_bytes(self, path: str, limit: int | None = None) -> bytes:
        if path == COOKIE:
            raise PermissionError(13, "Permission denied", path)
        return super().read_bytes(path, limit)


def test_client_config_unreadable_cookie(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    ctx = loaded_pa(tmp_path, files={COPY: COOKIE_BYTES}, fs=UnreadableCookie(tmp_path / "root", {COPY: (1600, 1600)}))
    (root_of(ctx) / COPY.lstrip("/")).chmod(0o644)
    results = run(ctx, "pulse.client-config")
    # Named where it is found (the socket's own cookie), so no copy fix that can only fail is offered.
    assert results["pulse.container-socket"].summary == f"cannot read the cookie file {COOKIE}: Permission denied"
    assert results["pulse.client-config"].status is Status.SKIP


def test_client_config_exposed_directory(tmp_path: Path) -> None:
    ctx = loaded_pa(tmp_path, files={COPY: COOKIE_BYTES})
    root = root_of(ctx)
    (root / COPY.lstrip("/")).chmod(0o644)
    (root / RUNTIME.lstrip("/")).chmod(0o755)
    (root / RUN.lstrip("/")).chmod(0o755)
    result = run(ctx, "pulse.client-config")["pulse.client-config"]
    assert any("can be entered by every local user" in m.text for m in result.messages)


def test_client_config_pipewire_has_no_cookie_copy(tmp_path: Path) -> None:
    ctx = pw(tmp_path, files={DROP_IN: DROP_IN_TEXT}, sockets=(NATIVE, SOCKET))
    result = run(ctx, "pulse.client-config")["pulse.client-config"]
    assert result.facts == {"client_conf": CONF, "cookie_copy": None}
    assert not any(isinstance(s, CopyPulseCookie) for s in result.fixes[0].steps)
    assert apply_all(ctx, result)[0].ok
    assert "cookie-file" not in (root_of(ctx) / CONF.lstrip("/")).read_text()
    assert run(fixer.without_memo(ctx), "pulse.client-config")["pulse.client-config"].summary == \
        f"{CONF} (no cookie on PipeWire)"


def test_copy_step_refuses_a_wrong_size_cookie(tmp_path: Path) -> None:
    ctx = loaded_pa(tmp_path, cookie=b"z" * 10)
    step = CopyPulseCookie("copy", source=COOKIE, target=COPY)
    with pytest.raises(FixFailed, match="holds 10 bytes, not a 256-byte cookie"):
        step.apply(fixer.StepEnvironment.from_context(ctx))
    assert not (root_of(ctx) / COPY.lstrip("/")).exists()
    assert step.to_json() == {"kind": "copy-cookie", "description": "copy", "privilege": "user", "source": COOKIE,
                              "target": COPY, "mode": "0644"}


# -- the whole namespace --------------------------------------------------------------------------

def test_checks_metadata() -> None:
    by_id = {c.id: c for c in CHECKS}
    assert list(by_id) == ["pulse.server", "pulse.audio-mode", "pulse.filter-access", "pulse.exposure",
                           "pulse.container-socket", "pulse.container-access", "pulse.persistence",
                           "pulse.leftovers", "pulse.output-api", "pulse.client-config"]
    assert {cid for cid, c in by_id.items() if "launch" in c.tags} == {
        "pulse.server", "pulse.audio-mode", "pulse.container-socket", "pulse.output-api", "pulse.client-config"}
    assert by_id["pulse.container-access"].tags == by_id["pulse.filter-access"].tags == frozenset({"slow"})
    for check in CHECKS:
        doc = check.explanation()
        assert "What it checks" in doc and "Why it matters" in doc and "Fix safety" in doc
        assert all(req in by_id for req in check.requires)


def test_everything_passes_on_a_configured_pulseaudio_host(tmp_path: Path) -> None:
    conf = ("autospawn = no\nenable-shm = no\ndefault-server = unix:/run/spotidoctor/pulse-native\n"
            "cookie-file = /run/spotidoctor/pulse-cookie\n")
    ctx = loaded_pa(tmp_path, files={CONF: conf, COPY: COOKIE_BYTES,
                                     DEFAULT_PA: f".include /etc/pulse/default.pa\nload-module "
                                                 f"module-native-protocol-unix {OUR_ARGS}\n"})
    (root_of(ctx) / COPY.lstrip("/")).chmod(0o644)
    results = run(ctx, "pulse", *MODE_CHECKS)
    assert set(statuses(results).values()) == {"ok"}, results
    assert all(not r.fixes for r in results.values())


def test_server_unreachable_without_a_runtime_dir_says_how_to_find_the_session(tmp_path: Path) -> None:
    pulse = FakePulse.pulseaudio(error=PulseUnreachable("x: Connection refused", ConnectOutcome.REFUSED))
    ctx = context(tmp_path, pulse)
    ctx = dataclasses.replace(ctx, env={k: v for k, v in ctx.env.items() if k != "XDG_RUNTIME_DIR"})
    result = run(ctx, "pulse.server")["pulse.server"]
    assert result.summary == "cannot find the pulse server: XDG_RUNTIME_DIR is not set"
    assert "export XDG_RUNTIME_DIR=/run/user/$(id -u)" in result.messages[0].advice[0]
