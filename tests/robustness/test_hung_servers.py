"""Hung or dying servers: spotidoctor still finishes, names what hung, and leaves nothing running.

- an X socket and a pulse socket whose server accepts and never answers
  (``tests.servers.hung_unix_server`` on a free ``/tmp/.X11-unix/X<n>`` and in the sandbox's
  private pulse runtime dir);
- a real PulseAudio killed while ``spotidoctor check`` waits on it, and at other moments;
- a ``podman`` on PATH that never answers (and ``podman`` calls that hang in every command).

The time limits are hang guards (a run that needs minutes is stuck), not performance
assertions. "No stray processes" is checked by marker: every process spotidoctor starts
inherits a unique variable from its environment, so anything still carrying it after the
command returned was left behind.

Per-probe timeouts are unit-tested elsewhere (tests/unit/test_x11_probe.py,
tests/unit/test_pulse_probe.py, tests/unit/test_runner.py); the X and pulse checks on one
hung socket each in tests/integration/test_x11.py and test_pulse.py. This module drives whole
commands.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from spotidoctor.probes import x11auth
from tests import servers
from tests.robustness.sandbox import Sandbox, assert_sane, json_results, text_of

# Far above the slowest bounded waits: with a hung podman `check`, `launch --dry-run` and
# `report` take about 30 s (`podman image exists`), `launch --no-check` about 60 s (the
# storage guard's `podman unshare`, then `podman image exists`).
HANG_GUARD_S = 90


@pytest.fixture
def box(tmp_path: Path) -> Sandbox:
    sandbox = Sandbox.create(tmp_path)
    sandbox.spy_podman()
    return sandbox


@pytest.fixture
def hung_display() -> Iterator[int]:
    number = servers.free_display()
    socket_dir = Path(x11auth.X11_SOCKET_DIR)
    if not socket_dir.exists():  # as an X server makes it: sticky and world-writable
        socket_dir.mkdir()
        socket_dir.chmod(0o1777)
    hung = servers.hung_unix_server(Path(x11auth.socket_path(number)))
    yield number
    hung.close()


@pytest.fixture
def hung_pulse(box: Sandbox) -> Iterator[Path]:
    pulse_dir = box.runtime_dir / "pulse"
    pulse_dir.mkdir(mode=0o700)
    hung = servers.hung_unix_server(pulse_dir / "native")
    yield pulse_dir / "native"
    hung.close()


def timed(box: Sandbox, *args: str,
          env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    done = box.run(*args, env=env, timeout=HANG_GUARD_S)
    return done, time.monotonic() - started


# -- a hung X server and a hung pulse server ----------------------------------------------------

@pytest.mark.parametrize("command", [("check",), ("check", "--json"), ("fix",), ("fix", "--dry-run"),
                                     ("launch", "--dry-run"), ("launch", "--yes"), ("report", "--preview")],
                         ids=" ".join)
def test_hung_x_and_pulse_are_named_and_nothing_is_left_running(
        box: Sandbox, hung_display: int, hung_pulse: Path, command: tuple[str, ...]) -> None:
    env = {"DISPLAY": f":{hung_display}"}
    done, _ = timed(box, *command, env=env)
    assert_sane(done, box)
    output = done.stdout + done.stderr
    if command[0] == "report":
        assert done.returncode == 0, done.stderr
    else:
        assert done.returncode == 1
    if command[:2] != ("fix", "--dry-run") and command[0] != "report":  # a dry fix prints plans only
        assert f"X server :{hung_display} is hung" in output
        assert "the pulse server hangs" in output
    assert box.strays() == []
    assert not any(c[:1] == ["podman"] and c[1:2] == ["run"] and "--rm" in c and "--name=spotify-container" in c
                   for c in box.spy_calls())  # a refused launch starts nothing


def test_hung_servers_in_the_json_document(box: Sandbox, hung_display: int, hung_pulse: Path) -> None:
    done, elapsed = timed(box, "check", "--json", "x11", "pulse", env={"DISPLAY": f":{hung_display}"})
    assert_sane(done, box)
    results = json_results(done)
    assert results["x11.connect"]["summary"] == (f"X server :{hung_display} is hung: it accepted the connection "
                                                 "but did not answer within 3s")
    assert results["pulse.server"]["summary"] == "the pulse server hangs"
    assert f"the pulse server at unix:{hung_pulse} accepted the connection but did not answer" in text_of(
        results["pulse.server"])
    assert {results[i]["status"] for i in results if i not in ("x11.display", "x11.socket", "x11.connect",
                                                                "pulse.server")} == {"skip"}
    assert elapsed < HANG_GUARD_S


def test_report_on_hung_servers_writes_a_bundle(box: Sandbox, hung_display: int, hung_pulse: Path) -> None:
    out = box.root / "out"
    out.mkdir()
    done, _ = timed(box, "report", "-o", str(out), env={"DISPLAY": f":{hung_display}"})
    assert_sane(done, box)
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).is_file()
    assert "timed-out" in done.stderr  # "N items: ... timed-out"
    assert box.strays() == []


# -- a PulseAudio that dies during the run --------------------------------------------------------

@pytest.fixture
def pulse_box(tmp_path: Path, pulseaudio: servers.PulseServer) -> tuple[Sandbox, servers.PulseServer]:
    keys = ("HOME", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "XDG_STATE_HOME")
    sandbox = Sandbox.create(tmp_path / "cli", env={k: pulseaudio.env[k] for k in keys})
    sandbox.home = Path(pulseaudio.env["HOME"])
    sandbox.spy_podman()
    return sandbox, pulseaudio


def test_pulse_killed_while_check_waits_on_it(pulse_box: tuple[Sandbox, servers.PulseServer]) -> None:
    """Frozen first (the check's connection is accepted and waits), then killed under it."""
    box, server = pulse_box
    os.kill(server.proc.pid, signal.SIGSTOP)
    proc = box.popen("check", "--json", "pulse")
    try:
        time.sleep(1.0)  # the pulse probe is now blocked on the frozen daemon (its timeout is 3 s)
        os.kill(server.proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=HANG_GUARD_S)
    finally:
        _reap(proc)
    done = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    assert_sane(done, box)
    assert done.returncode == 1
    result = json_results(done)["pulse.server"]
    assert result["status"] == "fail", result
    socket = Path(server.env["XDG_RUNTIME_DIR"]) / "pulse" / "native"
    assert result["summary"] == (f"cannot reach the pulse server: cannot connect to the pulse server at "
                                 f"unix:{socket}: Connection terminated")  # it died under the open connection
    assert box.strays() == []


@pytest.mark.parametrize("delay", [0.0, 0.15, 0.4, 0.8])
def test_pulse_killed_at_any_moment_of_the_run(pulse_box: tuple[Sandbox, servers.PulseServer], delay: float) -> None:
    box, server = pulse_box
    proc = box.popen("check", "--json", "--ignore", "pulse.container-access")
    try:
        time.sleep(delay)
        os.kill(server.proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=HANG_GUARD_S)
    finally:
        _reap(proc)
    done = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    assert_sane(done, box)
    assert done.returncode == 1
    results = json_results(done)
    # A check that was already talking to the server when it died "could not run"; it must
    # say that it was the pulse server, not crash or hang.
    errors = {i: results[i]["summary"] for i in results if i.startswith("pulse.") and results[i]["status"] == "error"}
    assert all("pulse server" in summary and "crashed" not in summary for summary in errors.values()), errors
    assert box.strays() == []


def _reap(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


# -- a podman that never answers ---------------------------------------------------------------------

@pytest.fixture
def hung_podman(tmp_path: Path) -> Sandbox:
    sandbox = Sandbox.create(tmp_path)
    sandbox.hung_tool("podman")
    for sub in ("config", "cache"):  # past the storage guard, so `launch` gets to the image
        (sandbox.home / ".spotify" / sub).mkdir(parents=True, mode=0o700)
    (sandbox.home / ".spotify").chmod(0o700)
    return sandbox


def test_hung_podman_check_names_podman_and_kills_what_it_started(hung_podman: Sandbox) -> None:
    box = hung_podman
    done, elapsed = timed(box, "check", "--json")
    assert_sane(done, box)
    assert done.returncode == 1
    results = json_results(done)
    assert re.fullmatch(r"`podman --version` failed: timed out after 10\.\ds", results["podman.installed"]["summary"])
    assert results["image.present"]["status"] == "skip"  # unknown, never "not built"
    assert results["image.present"]["summary"].startswith("cannot tell whether spotify_pod exists: podman failed")
    assert re.search(r"timed out after 30\.\ds", text_of(results["image.present"]))
    assert results["crash.container"]["status"] == "warn"
    assert results["crash.container"]["summary"].startswith(
        "cannot tell whether a container named spotify-container is left over: container spotify-container: timeout")
    for check_id in ("podman.rootless", "userns.mapping", "storage.dir"):
        assert results[check_id]["status"] == "skip", results[check_id]
    assert box.strays() == []
    assert elapsed < HANG_GUARD_S


@pytest.mark.parametrize("command", [("launch", "--dry-run"), ("launch", "--no-check", "--yes"),
                                     ("fix", "--dry-run"), ("report", "--preview")], ids=" ".join)
def test_hung_podman_in_other_commands(hung_podman: Sandbox, command: tuple[str, ...]) -> None:
    box = hung_podman
    done, _ = timed(box, *command)
    assert_sane(done, box)
    if command[0] == "launch":
        assert done.returncode == 1
        assert "podman" in done.stdout + done.stderr
    if command == ("launch", "--no-check", "--yes"):
        assert re.search(r"podman cannot tell whether spotify_pod exists: timed out after 30\.\ds", done.stdout)
    assert box.strays() == []


def test_the_stray_detector_sees_a_process_left_behind(box: Sandbox) -> None:
    """The no-stray assertions above can fail: a detached child carrying the marker is found."""
    left = subprocess.Popen(["sleep", "60"], env=box.run_env(), start_new_session=True)
    try:
        assert any(line.startswith(f"{left.pid}: sleep 60") for line in box.strays())
    finally:
        left.kill()
        left.wait(10)
    assert box.strays() == []


def test_a_program_whose_version_hangs_is_not_asked_again(tmp_path: Path) -> None:
    """What keeps a hung podman to one timeout per concurrent question (SubprocessRunner)."""
    from spotidoctor.probes.command import SubprocessRunner

    box = Sandbox.create(tmp_path)
    box.hung_tool("podman")
    env = box.run_env()  # carries the stray marker
    runner = SubprocessRunner(env)
    first = runner.run(("podman", "--version"), timeout=0.5)
    assert first.timed_out and first.duration_s >= 0.5
    started = time.monotonic()
    later = runner.run(("podman", "image", "exists", "x"), timeout=30)
    assert time.monotonic() - started < 5  # not run: no second wait
    assert later.timed_out and later.stderr == "not run: `podman --version` did not answer"
    assert runner.stream(("podman", "logs", "x"), lambda line: None, timeout=30).timed_out
    assert runner.run(("true",)).ok  # other programs still run
    assert SubprocessRunner(env).run(("podman", "image", "exists", "x"), timeout=0.5).duration_s >= 0.5  # per run
    assert box.strays() == []  # the timed-out ones were killed
