"""The pulse probe's own logic: failure classification, env swapping, deadlines, the other-uid argv."""
from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from spotidoctor.errors import ProbeTimeout, ProbeUnavailable
from spotidoctor.probes import pulse as pulse_mod
from spotidoctor.probes.command import Completed
from spotidoctor.probes.pulse import (
    NO_DEFAULT_SERVER,
    OTHER_UID_SCRIPT,
    ConnectOutcome,
    ConnectResult,
    ModuleInfo,
    PulsectlProbe,
    PulseUnreachable,
    ServerInfo,
    ServerKind,
    SinkInfo,
    classify_pactl,
    default_server,
    other_uid_argv,
    pipewire_version,
    server_kind,
)

# -- pure helpers -----------------------------------------------------------------------------

@pytest.mark.parametrize("name, kind, version", [
    ("pulseaudio", ServerKind.PULSEAUDIO, None),
    ("PulseAudio (on PipeWire 0.3.65)", ServerKind.PIPEWIRE, "0.3.65"),
    ("PulseAudio (on PipeWire 1.2.7)", ServerKind.PIPEWIRE, "1.2.7"),
])
def test_server_kind(name: str, kind: ServerKind, version: str | None) -> None:
    assert (server_kind(name), pipewire_version(name)) == (kind, version)


def test_display_names() -> None:
    assert ServerInfo("pulseaudio", "16.1", "s").display_name == "PulseAudio 16.1"
    assert ServerInfo("PulseAudio (on PipeWire 0.3.65)", "15.0.0", "s").display_name == \
        "PipeWire 0.3.65 (pipewire-pulse)"


@pytest.mark.parametrize("env, expected", [
    ({"XDG_RUNTIME_DIR": "/run/user/1600"}, "unix:/run/user/1600/pulse/native"),
    ({"XDG_RUNTIME_DIR": "/run/user/1600", "PULSE_SERVER": "unix:/x"}, "unix:/x"),
    ({"XDG_RUNTIME_DIR": "/run/user/1600", "PULSE_RUNTIME_PATH": "/p"}, "unix:/p/native"),
    ({}, "the default pulse server"),
])
def test_default_server(env: dict[str, str], expected: str) -> None:
    assert default_server(env) == expected


PODMAN_WARNING = 'time="2026-11-30T00:02:56Z" level=warning msg="\\"/\\" is not a shared mount"\n'
MARK = "spotidoctor: connecting as uid 1500\n"


@pytest.mark.parametrize("rc, stdout, stderr, expected", [
    pytest.param(0, "Server String: unix:/x\nServer Name: pulseaudio\n", PODMAN_WARNING + MARK,
                 ConnectResult(ConnectOutcome.OK, "pulseaudio", "pulseaudio"), id="ok"),
    pytest.param(0, "Server Name: PulseAudio (on PipeWire 0.3.65)\n", "",
                 ConnectResult(ConnectOutcome.OK, "PulseAudio (on PipeWire 0.3.65)", "PulseAudio (on PipeWire 0.3.65)"),
                 id="pipewire"),
    pytest.param(1, "", PODMAN_WARNING + MARK + "Connection failure: Access denied\n",
                 ConnectResult(ConnectOutcome.ACCESS_DENIED, "Connection failure: Access denied"), id="denied"),
    pytest.param(1, "", MARK + "Connection failure: Connection refused\n",
                 ConnectResult(ConnectOutcome.REFUSED, "Connection failure: Connection refused"), id="refused"),
    pytest.param(1, "", MARK + "pa_context_connect() failed: Connection refused\n",
                 ConnectResult(ConnectOutcome.REFUSED, "pa_context_connect() failed: Connection refused"),
                 id="refused-early"),
    pytest.param(1, "", MARK + "Connection failure: Timeout\n",
                 ConnectResult(ConnectOutcome.TIMEOUT, "Connection failure: Timeout"), id="timeout"),
    pytest.param(1, "", MARK + "Connection failure: Protocol error\n",
                 ConnectResult(ConnectOutcome.FAILED, "Connection failure: Protocol error"), id="other"),
    pytest.param(3, "", MARK, ConnectResult(ConnectOutcome.FAILED, "exit status 3"), id="silent"),
])
def test_classify_pactl(rc: int, stdout: str, stderr: str, expected: ConnectResult) -> None:
    assert classify_pactl(rc, stdout, stderr) == expected


def test_other_uid_argv_passes_values_as_arguments_never_in_the_script() -> None:
    argv = other_uid_argv("/usr/bin/podman", "/tmp/s", "/run/user/1600/pulse/p s", None, 1500, 1500,
                          "/usr/bin/pactl")
    assert argv[:9] == ("/usr/bin/podman", "unshare", "--", "unshare", "--mount", "--", "sh", "-c",
                        OTHER_UID_SCRIPT)
    assert argv[9:] == ("spotidoctor-pulse-test", "/tmp/s", "/run/user/1600/pulse/p s", "", "1500", "1500",
                        "/usr/bin/pactl")
    assert "/run/user" not in OTHER_UID_SCRIPT and "mount -t tmpfs" in OTHER_UID_SCRIPT


# -- the env window ------------------------------------------------------------------------------

def test_libpulse_env_swaps_only_differing_keys_and_restores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/real")
    monkeypatch.setenv("PULSE_COOKIE", "/real/cookie")
    monkeypatch.delenv("PULSE_SERVER", raising=False)
    monkeypatch.setenv("UNRELATED", "kept")
    env = {"HOME": "/home/test", "PULSE_SERVER": "unix:/s", "UNRELATED": "ignored"}
    with pulse_mod._libpulse_env(env, {"PULSE_COOKIE": "/c"}, 1.0):
        seen = {k: os.environ.get(k) for k in ("HOME", "PULSE_SERVER", "PULSE_COOKIE", "XDG_RUNTIME_DIR", "UNRELATED")}
    assert seen == {"HOME": "/home/test", "PULSE_SERVER": "unix:/s", "PULSE_COOKIE": "/c", "XDG_RUNTIME_DIR": None,
                    "UNRELATED": "kept"}
    assert (os.environ["HOME"], os.environ["PULSE_COOKIE"], os.environ.get("PULSE_SERVER")) == \
        ("/home/real", "/real/cookie", None)


def test_libpulse_env_restores_after_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/real")
    with pytest.raises(RuntimeError):
        with pulse_mod._libpulse_env({"HOME": "/x"}, {}, 1.0):
            raise RuntimeError("boom")
    assert os.environ["HOME"] == "/home/real" and not pulse_mod._ENV_LOCK.locked()


def test_libpulse_env_lock_is_bounded() -> None:
    with pulse_mod._ENV_LOCK:
        with pytest.raises(ProbeTimeout, match="did not finish in time"):
            with pulse_mod._libpulse_env({}, {}, 0.05):
                pass


# -- deadlines around operations (a stubbed pulsectl: no libpulse needed) --------------------------

class StubPulseError(Exception):
    pass


class StubSession:
    """Stands in for ``_Session``: connects as told, then runs the stub ``pulse`` object."""

    outcome = ConnectResult(ConnectOutcome.OK, "connected")
    pulse: Any = None

    def __init__(self, pulsectl: Any, server: str | None) -> None:
        self.seen_env = dict(os.environ)

    def connect(self, timeout: float) -> ConnectResult:
        return StubSession.outcome

    def close(self) -> None:
        pass


@pytest.fixture
def stubbed(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[StubSession]]:
    monkeypatch.setattr(pulse_mod, "_pulsectl", lambda: SimpleNamespace(PulseError=StubPulseError))
    monkeypatch.setattr(pulse_mod, "_Session", StubSession)
    StubSession.outcome = ConnectResult(ConnectOutcome.OK, "connected")
    yield StubSession


def probe(env: Mapping[str, str] | None = None) -> PulsectlProbe:
    return PulsectlProbe(env or {"XDG_RUNTIME_DIR": "/run/user/1600"}, connect_timeout=0.1, operation_timeout=0.2)


def test_a_server_that_hangs_mid_call_becomes_probe_timeout(stubbed: type[StubSession]) -> None:
    release = threading.Event()
    stubbed.pulse = SimpleNamespace(module_list=lambda: release.wait(5) and [])
    try:
        with pytest.raises(ProbeTimeout) as caught:
            probe().modules()
    finally:
        release.set()
    assert caught.value.reason == ("the pulse server at unix:/run/user/1600/pulse/native accepted the connection "
                                   "but did not answer the module list within 0.4s")


@pytest.mark.parametrize("outcome, error, text", [
    (ConnectOutcome.TIMEOUT, ProbeTimeout, "the pulse server at unix:/s accepted the connection but did not answer "
                                           "within 0.1s"),
    (ConnectOutcome.ACCESS_DENIED, PulseUnreachable, "cannot connect to the pulse server at unix:/s: Access denied"),
    (ConnectOutcome.REFUSED, PulseUnreachable, "cannot connect to the pulse server at unix:/s: Connection refused"),
])
def test_connect_failures_keep_their_reason(stubbed: type[StubSession], outcome: ConnectOutcome,
                                            error: type[Exception], text: str) -> None:
    detail = {ConnectOutcome.ACCESS_DENIED: "Access denied", ConnectOutcome.REFUSED: "Connection refused"}
    stubbed.outcome = ConnectResult(outcome, detail.get(outcome, "no answer"))
    with pytest.raises(error) as caught:
        probe().server_info("unix:/s")
    assert str(caught.value) == text
    if isinstance(caught.value, PulseUnreachable):
        assert caught.value.outcome is outcome
    tested = probe().connect_test("unix:/s", "/c")
    assert (tested.outcome, tested.detail) == (outcome, text)


def test_results_and_library_errors(stubbed: type[StubSession]) -> None:
    def module_load(name: str, args: str) -> int:
        raise StubPulseError(f"Failed to load module: {name!r}")

    stubbed.pulse = SimpleNamespace(
        server_info=lambda: SimpleNamespace(server_name="pulseaudio", server_version="16.1", default_sink_name="",
                                            user_name="alice", host_name="vm"),
        module_list=lambda: [SimpleNamespace(index=0, name="module-native-protocol-unix", argument=""),
                             SimpleNamespace(index=3, name="module-null-sink", argument="sink_name=x")],
        module_load=module_load,
        sink_list=lambda: [SimpleNamespace(name="x", driver="module-null-sink.c", proplist={}),
                           SimpleNamespace(name="pw", driver="PipeWire",
                                           proplist={"factory.name": "support.null-audio-sink"}),
                           SimpleNamespace(name="hw", driver="module-alsa-card.c", proplist={})])
    assert probe().server_info() == ServerInfo("pulseaudio", "16.1", None, "alice", "vm", (
        SinkInfo("x", "module-null-sink.c", True), SinkInfo("pw", "PipeWire", True),
        SinkInfo("hw", "module-alsa-card.c", False)))
    assert probe().modules() == (ModuleInfo(0, "module-native-protocol-unix", None),
                                 ModuleInfo(3, "module-null-sink", "sink_name=x"))
    with pytest.raises(ProbeUnavailable) as caught:
        probe().load_module("module-x", "a=b")
    assert caught.value.reason == ("load-module module-x at unix:/run/user/1600/pulse/native failed: "
                                   "Failed to load module: 'module-x'")


def test_the_probe_env_is_what_libpulse_sees(stubbed: type[StubSession], monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[dict[str, str]] = []

    class Recording(StubSession):
        def __init__(self, pulsectl: Any, server: str | None) -> None:
            super().__init__(pulsectl, server)
            seen.append(self.seen_env)

    monkeypatch.setattr(pulse_mod, "_Session", Recording)
    monkeypatch.setenv("PULSE_COOKIE", "/outer")
    stubbed.pulse = SimpleNamespace(server_info=lambda: SimpleNamespace(server_name="pulseaudio"))
    probe({"HOME": "/h", "XDG_RUNTIME_DIR": "/r"}).connect_test("unix:/s", "/inner-cookie")
    probe({"HOME": "/h", "XDG_RUNTIME_DIR": "/r"}).connect_test("unix:/s", None)
    assert [(e["HOME"], e["XDG_RUNTIME_DIR"], e.get("PULSE_COOKIE")) for e in seen] == [
        ("/h", "/r", "/inner-cookie"), ("/h", "/r", None)]
    assert os.environ["PULSE_COOKIE"] == "/outer"


# -- the other uid (a stub command runner) ---------------------------------------------------------

class StubRunner:
    def __init__(self, answer: Callable[[tuple[str, ...]], Completed], missing: Sequence[str] = ()) -> None:
        self.answer = answer
        self.missing = set(missing)
        self.argvs: list[tuple[str, ...]] = []
        self.scratch_existed: list[bool] = []

    def which(self, name: str) -> str | None:
        return None if name in self.missing else f"/usr/bin/{name}"

    def run(self, argv: Sequence[str], *, timeout: float = 10.0, **kwargs: object) -> Completed:
        self.argvs.append(tuple(argv))
        self.scratch_existed.append(os.path.isdir(argv[10]))
        return self.answer(tuple(argv))


def other_uid(tmp_path: Path, answer: Callable[[tuple[str, ...]], Completed],
              missing: Sequence[str] = ()) -> tuple[PulsectlProbe, StubRunner]:
    runner = StubRunner(answer, missing)
    return PulsectlProbe({}, runner=runner, scratch_parent=str(tmp_path)), runner  # type: ignore[arg-type]


def test_connect_as_runs_in_a_private_scratch_dir_and_removes_it(tmp_path: Path) -> None:
    done = Completed((), 1, "", PODMAN_WARNING + MARK + "Connection failure: Access denied\n")
    probe, runner = other_uid(tmp_path, lambda argv: done)
    result = probe.connect_as(1500, 1500, "/run/user/1600/pulse/pulse-socket", "/home/a/.config/pulse/pulse-cookie")
    assert result == ConnectResult(ConnectOutcome.ACCESS_DENIED, "Connection failure: Access denied")
    argv = runner.argvs[0]
    assert argv[0] == "/usr/bin/podman" and argv[11:] == ("/run/user/1600/pulse/pulse-socket",
                                                          "/home/a/.config/pulse/pulse-cookie", "1500", "1500",
                                                          "/usr/bin/pactl")
    assert os.path.dirname(argv[10]) == str(tmp_path) and runner.scratch_existed == [True]
    assert not os.path.exists(argv[10])


def test_connect_as_setup_failures_are_probe_unavailable(tmp_path: Path) -> None:
    done = Completed((), 125, "", "Error: cannot set up namespace using \"/usr/bin/newuidmap\": exit status 1\n")
    probe, _ = other_uid(tmp_path, lambda argv: done)
    with pytest.raises(ProbeUnavailable) as caught:
        probe.connect_as(1500, 1500, "/s", "/c")
    assert caught.value.reason == ('cannot test as another uid: Error: cannot set up namespace using '
                                   '"/usr/bin/newuidmap": exit status 1')


def test_connect_as_missing_tools(tmp_path: Path) -> None:
    probe, runner = other_uid(tmp_path, lambda argv: Completed((), 0), missing=("podman", "setpriv"))
    with pytest.raises(ProbeUnavailable, match="podman, setpriv not found"):
        probe.connect_as(1500, 1500, "/s", None)
    assert runner.argvs == []


@pytest.mark.parametrize("stderr, expected", [
    (MARK, ConnectOutcome.TIMEOUT),
    ("", None),
])
def test_connect_as_timeouts(tmp_path: Path, stderr: str, expected: ConnectOutcome | None) -> None:
    probe, _ = other_uid(tmp_path, lambda argv: Completed((), 124, "", stderr, timed_out=True, duration_s=20))
    if expected is None:
        with pytest.raises(ProbeUnavailable, match="`podman unshare` did not finish"):
            probe.connect_as(1500, 1500, "/s", None)
    else:
        assert probe.connect_as(1500, 1500, "/s", None).outcome is expected


# -- real libpulse, no server needed --------------------------------------------------------------

@pytest.fixture
def libpulse() -> None:
    try:
        import pulsectl  # noqa: F401
    except (ImportError, OSError) as exc:  # pragma: no cover - machines without libpulse
        pytest.skip(f"pulsectl/libpulse unavailable: {exc}")


def test_real_refused_is_immediate_and_says_refused(libpulse: None, tmp_path: Path) -> None:
    with pytest.raises(PulseUnreachable) as caught:
        PulsectlProbe({"HOME": str(tmp_path)}, connect_timeout=5).server_info(f"unix:{tmp_path}/none")
    assert caught.value.outcome is ConnectOutcome.REFUSED
    assert caught.value.reason == f"cannot connect to the pulse server at unix:{tmp_path}/none: Connection refused"
    # The real reason, not the "Timed-out connecting" pulsectl's own timed connect reports.


def own_pulse_tmp_dirs() -> set[str]:
    return {p.name for p in Path("/tmp").glob("pulse-*") if p.lstat().st_uid == os.getuid()}


def test_without_a_runtime_dir_libpulse_leaves_nothing_behind(libpulse: None, tmp_path: Path) -> None:
    # libpulse's default server lookup without XDG_RUNTIME_DIR creates ~/.config/pulse/*-runtime
    # and /tmp/pulse-XXXX; the probe must not ask it to, and an explicit server creates neither.
    before = own_pulse_tmp_dirs()
    probe = PulsectlProbe({"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}, connect_timeout=2)
    with pytest.raises(PulseUnreachable) as caught:
        probe.server_info()
    assert caught.value.reason == NO_DEFAULT_SERVER
    with pytest.raises(PulseUnreachable):
        probe.server_info(f"unix:{tmp_path}/none")
    assert not list(tmp_path.rglob("*-runtime")) and own_pulse_tmp_dirs() == before


def test_no_default_server_is_guessed_without_a_runtime_dir(stubbed: type[StubSession]) -> None:
    bare = PulsectlProbe({"HOME": "/home/alice"}, connect_timeout=0.1, operation_timeout=0.2)
    for call in (bare.server_info, bare.modules):
        with pytest.raises(PulseUnreachable) as caught:
            call()
        assert (caught.value.reason, caught.value.outcome) == (NO_DEFAULT_SERVER, ConnectOutcome.FAILED)
    assert bare.connect_test("unix:/s").ok  # an explicit server is fine
    assert PulsectlProbe({"PULSE_SERVER": "unix:/s"}, connect_timeout=0.1).connect_test("unix:/s").ok


def test_real_hung_socket(libpulse: None, tmp_path: Path) -> None:
    path = tmp_path / "hung"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(4)  # accepts (the kernel queues the connection), never answers
    try:
        probe = PulsectlProbe({"HOME": str(tmp_path)}, connect_timeout=0.3)
        with pytest.raises(ProbeTimeout) as caught:
            probe.server_info(f"unix:{path}")
        assert caught.value.reason == (f"the pulse server at unix:{path} accepted the connection but did not "
                                       "answer within 0.3s")
        assert probe.connect_test(f"unix:{path}").outcome is ConnectOutcome.TIMEOUT
        assert probe.socket_accepts(str(path)) and not probe.socket_accepts(str(tmp_path / "none"))
    finally:
        listener.close()


@pytest.mark.parametrize("raw, expected", [("", None), (None, None), ("@DEFAULT_SINK@", None),
                                           ("testsink", "testsink")])
def test_default_sink_placeholders_mean_none(raw: object, expected: str | None) -> None:
    assert pulse_mod._sink_name(raw) == expected
