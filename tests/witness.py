"""Host-side witnesses that a launched client really uses the display and the sound server:
its window on the X server (``xwininfo``) and its playback stream on the pulse server
(``pactl list sink-inputs``, PulseAudio or pipewire-pulse). Reusable by any launch test,
whatever path X and audio take into the container.
"""
from __future__ import annotations

import os
import re
import select
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from tests import servers

# `     0x400001 "title": ("chromium" "Chromium")  800x600+0+0  +0+0` (or `(has no name)`)
_TREE_LINE = re.compile(r'^\s+(0x[0-9a-f]+) (?:"(.*)"|\(has no name\)): \(([^)]*)\)\s+(\d+)x(\d+)[+-]')


@dataclass(frozen=True)
class Window:
    id: str
    name: str
    wm_class: tuple[str, ...]  # (instance, class), e.g. ("chromium", "Chromium")
    width: int
    height: int


def _x(argv: list[str], display_env: Mapping[str, str]) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "XAUTHORITY")}
    done = subprocess.run(argv, env={**env, **display_env}, capture_output=True, text=True, timeout=30)
    return done.stdout if done.returncode == 0 else ""


def windows(display_env: Mapping[str, str]) -> list[Window]:
    """Every window under the root of that display."""
    return parse_tree(_x(["xwininfo", "-root", "-tree"], display_env))


def parse_tree(text: str) -> list[Window]:
    """``xwininfo -root -tree`` output as windows (every line with an id, name, class and size)."""
    found = []
    for line in text.splitlines():
        match = _TREE_LINE.match(line)
        if match:
            wid, name, classes, width, height = match.groups()
            found.append(Window(wid, name or "", tuple(re.findall(r'"([^"]*)"', classes)), int(width), int(height)))
    return found


def is_viewable(display_env: Mapping[str, str], window: Window) -> bool:
    return "Map State: IsViewable" in _x(["xwininfo", "-id", window.id], display_env)


def of_class(wm_class: str, min_size: int = 100) -> Callable[[Window], bool]:
    """A window of this WM_CLASS (instance or class, case-insensitive), at least min_size square."""
    wanted = wm_class.lower()
    return lambda w: wanted in (c.lower() for c in w.wm_class) and min(w.width, w.height) >= min_size


def wait_for_window(display_env: Mapping[str, str], predicate: Callable[[Window], bool], timeout: float,
                    what: str = "window") -> Window:
    """The first viewable window that matches; an AssertionError listing what was there otherwise."""
    deadline = time.monotonic() + timeout
    seen: list[Window] = []
    while time.monotonic() < deadline:
        seen = windows(display_env)
        for window in seen:
            if predicate(window) and is_viewable(display_env, window):
                return window
        time.sleep(0.25)
    raise AssertionError(f"no viewable {what} within {timeout}s; windows: {seen}")


# -- sound server --------------------------------------------------------------------------

@dataclass(frozen=True)
class SinkInput:
    index: int
    corked: bool
    muted: bool
    properties: Mapping[str, str] = field(default_factory=dict)


_PROPERTY = re.compile(r'^\s+([\w.-]+) = "(.*)"$')


def parse_sink_inputs(text: str) -> list[SinkInput]:
    """``pactl list sink-inputs`` output (C locale) as records."""
    found = []
    for block in re.split(r"^Sink Input #", text, flags=re.MULTILINE)[1:]:
        index = int(block.split("\n", 1)[0].strip())
        corked = re.search(r"^\s+Corked: (yes|no)$", block, re.MULTILINE)
        muted = re.search(r"^\s+Mute: (yes|no)$", block, re.MULTILINE)
        props = {m.group(1): m.group(2) for m in map(_PROPERTY.match, block.splitlines()) if m}
        found.append(SinkInput(index, bool(corked and corked.group(1) == "yes"),
                               bool(muted and muted.group(1) == "yes"), props))
    return found


def sink_inputs(pulse: servers.PulseServer) -> list[SinkInput]:
    done = subprocess.run(["pactl", "list", "sink-inputs"], env={**pulse.env, "LC_ALL": "C"}, capture_output=True,
                          text=True, timeout=15)
    return parse_sink_inputs(done.stdout) if done.returncode == 0 else []


def from_binary(name: str) -> Callable[[SinkInput], bool]:
    return lambda s: s.properties.get("application.process.binary") == name


def wait_for_live_stream(pulse: servers.PulseServer, predicate: Callable[[SinkInput], bool],
                         timeout: float, what: str = "stream") -> SinkInput:
    """The first uncorked, unmuted playback stream that matches."""
    deadline = time.monotonic() + timeout
    seen: list[SinkInput] = []
    while time.monotonic() < deadline:
        seen = sink_inputs(pulse)
        for stream in seen:
            if predicate(stream) and not stream.corked and not stream.muted:
                return stream
        time.sleep(0.25)
    raise AssertionError(f"no live (uncorked) {what} within {timeout}s; sink inputs: {seen}")


def records_sound(pulse: servers.PulseServer, timeout: float = 20.0, source: str = "testsink.monitor") -> bool:
    """Whether ``source`` carries anything but silence within ``timeout`` (PulseAudio's null sink
    monitor does; pipewire-pulse's records silence without a hardware driver)."""
    argv = ["parec", f"--device={source}", "--raw", "--format=s16le", "--rate=44100", "--channels=1"]
    proc = subprocess.Popen(argv, env=pulse.env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if select.select([proc.stdout], [], [], 0.5)[0]:
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    return False  # parec ended: no such source, or the server went away
                if any(chunk):
                    return True
        return False
    finally:
        servers.stop(proc)
        proc.stdout.close()
