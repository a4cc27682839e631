"""pulse.audio-mode, pulse.exposure and pulse.filter-access: the audio mode and what it exposes,
server modules that admit clients without authentication, and a real filter relaying a
client of another uid (the connection itself is faked here; tests/integration/test_isolation.py
makes it for real)."""
from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from spotidoctor.checks.pulse import CHECKS
from spotidoctor.checks.pulse.audio_mode import DIRECT, FILTERED
from spotidoctor.checks.pulse.common import FILTERED_SKIP
from spotidoctor.config import Config
from spotidoctor.engine.planning import plan
from spotidoctor.engine.runner import Runner
from spotidoctor.errors import ProbeUnavailable
from spotidoctor.model import CheckResult, Severity, Status
from spotidoctor.probes.pulse import ModuleInfo
from spotidoctor.testing import make_context
from spotidoctor.testing.pulse import MAIN_SOCKET_MODULE, OK, REFUSED, FakePulse


def run(tmp_path: Path, selector: str, pulse: FakePulse | None = None, config: Config | None = None,
        env: dict[str, str] | None = None) -> dict[str, CheckResult]:
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    ctx = make_context(root, pulse=pulse or FakePulse.pulseaudio(), config=config or Config(), env=env)
    return {r.check_id: r for r in Runner(ctx).run(plan(CHECKS, [selector])).results}


# -- pulse.audio-mode ---------------------------------------------------------------------------

def test_filtered_is_the_default_and_passes(tmp_path: Path) -> None:
    result = run(tmp_path, "pulse.audio-mode")["pulse.audio-mode"]
    assert (result.status, result.summary, result.facts) == (Status.OK, FILTERED, {"audio": "filtered"})
    assert "module loads" in result.messages[0].text


def test_direct_fails_at_warning_severity_saying_what_it_exposes(tmp_path: Path) -> None:
    result = run(tmp_path, "pulse.audio-mode", config=Config(audio="direct"))["pulse.audio-mode"]
    assert (result.status, result.severity, result.summary) == (Status.FAIL, Severity.WARNING, DIRECT)
    assert "run code as you" in result.summary and "module-ladspa-sink" in result.messages[0].text
    assert not result.is_blocking  # the launch still runs


def test_the_direct_socket_checks_skip_in_filtered_mode(tmp_path: Path) -> None:
    results = run(tmp_path, "pulse")
    assert results["pulse.container-socket"].status is Status.SKIP
    assert results["pulse.container-socket"].summary == FILTERED_SKIP
    assert results["pulse.persistence"].summary == FILTERED_SKIP
    assert {results[c].status for c in ("pulse.container-access", "pulse.client-config")} == {Status.SKIP}


# -- pulse.exposure -----------------------------------------------------------------------------

def test_exposure_clean_server(tmp_path: Path) -> None:
    result = run(tmp_path, "pulse.exposure")["pulse.exposure"]
    assert (result.status, result.summary) == (Status.OK, "no module admits clients without authentication")


def test_exposure_flags_an_anonymous_listener_left_behind(tmp_path: Path) -> None:
    loaded = [MAIN_SOCKET_MODULE,
              ModuleInfo(7, "module-native-protocol-unix", "socket=pulse-socket auth-cookie=pulse-cookie"),
              ModuleInfo(12, "module-native-protocol-tcp", "auth-anonymous=1 listen=127.0.0.1"),
              ModuleInfo(13, "module-cli-protocol-unix", "socket=/tmp/cli")]
    result = run(tmp_path, "pulse.exposure", pulse=FakePulse.pulseaudio(loaded=loaded))["pulse.exposure"]
    assert result.status is Status.FAIL and result.severity is Severity.ERROR
    assert result.summary == ("2 module(s) open your sound server to other clients: #12 module-native-protocol-tcp, "
                              "#13 module-cli-protocol-unix")
    assert "auth-anonymous=1" in result.messages[0].text and "`pactl unload-module 12`" in result.messages[0].advice[0]
    assert [e[0] for e in result.facts["exposed"]] == [12, 13]  # type: ignore[index, union-attr]


# -- pulse.filter-access ------------------------------------------------------------------------

@pytest.fixture
def runtime() -> Iterator[Path]:
    """A real private runtime dir (short: socket paths) with a listening stand-in for the user's server."""
    path = Path(tempfile.mkdtemp(prefix="sdpf-", dir="/tmp"))
    (path / "pulse").mkdir()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path / "pulse" / "native"))
    server.listen(1)
    yield path
    server.close()
    shutil.rmtree(path, ignore_errors=True)


def test_filter_access_relays_the_container_uid_without_a_cookie(tmp_path: Path, runtime: Path) -> None:
    pulse = FakePulse.pulseaudio(without_cookie=OK)
    result = run(tmp_path, "pulse.filter-access", pulse=pulse, env={"XDG_RUNTIME_DIR": str(runtime)})
    found = result["pulse.filter-access"]
    assert found.status is Status.OK, found
    assert found.summary == "container uid 1500 connects through the filter without a cookie (server pulseaudio)"
    [(call, uid, gid, path, cookie)] = [c for c in pulse.calls if c[0] == "connect_as"]
    assert (uid, gid, cookie) == (1500, 1500, None)
    assert str(path).startswith(f"{runtime}/spotidoctor-pulse-") and str(path).endswith("/native")
    assert not os.path.exists(str(path))  # the filter ran for the test only
    assert sorted(os.listdir(runtime)) == ["pulse"]


def test_filter_access_keep_id_connects_as_you(tmp_path: Path, runtime: Path) -> None:
    pulse = FakePulse.pulseaudio()
    found = run(tmp_path, "pulse.filter-access", pulse=pulse, config=Config(profile="keep-id"),
                env={"XDG_RUNTIME_DIR": str(runtime)})["pulse.filter-access"]
    assert found.status is Status.OK and found.summary.startswith("you (keep-id profile) connects")
    assert [c[0] for c in pulse.calls if c[0].startswith("connect")] == ["connect_test"]


def test_filter_access_failures(tmp_path: Path, runtime: Path) -> None:
    refused = run(tmp_path, "pulse.filter-access", pulse=FakePulse.pulseaudio(without_cookie=REFUSED),
                  env={"XDG_RUNTIME_DIR": str(runtime)})["pulse.filter-access"]
    assert refused.status is Status.FAIL and "container uid 1500 cannot play through the filter" in refused.summary
    no_podman = FakePulse.pulseaudio(other_uid_error=ProbeUnavailable("no podman"))
    untested = run(tmp_path, "pulse.filter-access", pulse=no_podman,
                   env={"XDG_RUNTIME_DIR": str(runtime)})["pulse.filter-access"]
    assert untested.status is Status.WARN and untested.messages[0].text == "no podman"
    gone = run(tmp_path, "pulse.filter-access", env={"XDG_RUNTIME_DIR": str(runtime / "missing")})
    assert gone["pulse.filter-access"].status is Status.FAIL
    assert "no pulse server socket at" in gone["pulse.filter-access"].summary


def test_filter_access_skips_in_direct_mode(tmp_path: Path) -> None:
    found = run(tmp_path, "pulse.filter-access", config=Config(audio="direct"))["pulse.filter-access"]
    assert found.status is Status.SKIP and "pulse.container-access" in found.summary
