"""Results stream in a real terminal: tmux runs `spotidoctor check x11 pulse` against a real
Xvfb and a pulse socket whose server accepts and never answers. The X11 result lines must be
on the screen while the pulse check still waits, with the status line naming it; when the run
ends the status line is gone and the pulse check reports the hang."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import servers
from tests.robustness.sandbox import Sandbox

pytestmark = pytest.mark.integration
GUARD_S = 90  # a hang guard, not a timing assertion
# Runs the command, then says how it ended and stays, so the pane can still be read.
HOLD = '"$@"; echo "[exit $?]"; exec sleep 600'


class Terminal:
    """A detached tmux session on a private server socket."""

    def __init__(self, name: str) -> None:
        self.socket = name

    def tmux(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["tmux", "-u", "-L", self.socket, *args], capture_output=True, text=True, timeout=30)

    def start(self, argv: list[str]) -> None:
        done = self.tmux("new-session", "-d", "-s", "live", "-x", "160", "-y", "60", "sh", "-c", HOLD, "sh", *argv)
        assert done.returncode == 0, done.stderr

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-J", "-t", "live").stdout

    def close(self) -> None:
        self.tmux("kill-server")


@pytest.fixture
def terminal() -> Iterator[Terminal]:
    servers.require("tmux", "Xvfb")
    term = Terminal(f"sd-live-{os.getpid()}")
    yield term
    term.close()


@pytest.fixture
def hung_pulse_box(tmp_path: Path) -> Iterator[Sandbox]:
    box = Sandbox.create(tmp_path / "box")
    box.spy_podman()
    pulse_dir = box.runtime_dir / "pulse"
    pulse_dir.mkdir(mode=0o700)
    hung = servers.hung_unix_server(pulse_dir / "native")
    yield box
    hung.close()


def wait_for_screen(term: Terminal, wanted: object, what: str) -> str:
    deadline = time.monotonic() + GUARD_S
    screen = ""
    while time.monotonic() < deadline:
        screen = term.screen()
        if wanted(screen):  # type: ignore[operator]
            return screen
        time.sleep(0.05)
    raise AssertionError(f"{what} never showed; the screen was:\n{screen}")


def result_line(screen: str, check_id: str) -> bool:
    return any(line.lstrip().startswith("[") and f"] {check_id}:" in line for line in screen.splitlines())


def test_x11_results_are_on_screen_while_the_pulse_check_still_waits(
        terminal: Terminal, hung_pulse_box: Sandbox, xserver: servers.XServer) -> None:
    box = hung_pulse_box
    env = {k: v for k, v in box.run_env(xserver.env()).items() if k != "NO_COLOR"}
    env.update(TERM="xterm-256color", LANG="C.UTF-8")
    terminal.start(["env", "-i", *(f"{k}={v}" for k, v in env.items()), sys.executable, "-m", "spotidoctor",
                    "check", "x11", "pulse"])

    def x11_done_pulse_waiting(screen: str) -> bool:
        return (result_line(screen, "x11.connect") and result_line(screen, "x11.container-cookie")
                and "running: pulse.server" in screen and not result_line(screen, "pulse.server"))

    during = wait_for_screen(terminal, x11_done_pulse_waiting, "the X11 lines with pulse.server still running")
    assert "[✓] x11.display:" in during and "[✓] x11.connect:" in during
    assert "[exit" not in during

    after = wait_for_screen(terminal, lambda s: "[exit " in s, "the end of the run")
    assert "[exit 1]" in after
    assert "the pulse server hangs" in after and result_line(after, "pulse.server")
    assert "running:" not in after  # the status line is transient
    assert after.index("] x11.connect:") < after.index("] pulse.server:")


def test_piped_output_streams_plain_lines(hung_pulse_box: Sandbox, xserver: servers.XServer) -> None:
    """Piped: plain lines, each flushed when it is ready: the X11 lines can be read before the
    pulse check ends."""
    box = hung_pulse_box
    proc = box.popen("check", "x11", "pulse", env=xserver.env())
    assert proc.stdout is not None
    try:
        seen = []
        for line in proc.stdout:
            seen.append(line)
            if "] x11.connect:" in line:
                break
        assert proc.poll() is None  # still waiting for the hung pulse server
        rest, err = proc.communicate(timeout=GUARD_S)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = "".join(seen) + rest
    assert "\x1b[" not in text and "running:" not in text
    assert "the pulse server hangs" in text and proc.returncode == 1, err
