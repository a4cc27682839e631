"""The audio filter under a music stream: the relay's CPU and the underruns, against a direct stream.

    python benchmarks/pulsefilter.py [--quick] [--seconds N] [--server pulseaudio|pipewire|both]
                                     [--latency-msec MS] [--json PATH]

For each server (a private PulseAudio, or pipewire + wireplumber + pipewire-pulse, started as
in the integration tests) the filter runs as its own process (``python -m
spotidoctor.channels.pulse``) and two ``pacat`` clients play the same 44.1 kHz s16le stereo
sine at the same time, for 60 s (``--quick``: 10 s) with a 30 ms buffer (what a Chromium-based
player asks for, and far more wake-ups than pacat's 2 s default): one through the filter, the
baseline straight to the server. Reported:

  relay CPU      the filter process's CPU time (user + system, /proc/PID/stat) over the wall
                 time of the playback, in % of one core                            target ≤ 2 %
  underruns      "Stream underrun" events each pacat reported before its input ended (the one
                 at the very end, when the stream runs dry while draining, is listed apart);
                 also the UNDERFLOW events the filter relayed                        target 0

plus each pacat's own CPU for scale. Run as a normal user (the servers refuse root). Timings
and underruns depend on the machine's load: the direct stream in the same run is the yardstick.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(HERE), str(REPO)]

from harness import Figure  # noqa: E402

CPU_TARGET_PERCENT = 2.0
RATE, CHANNELS = 44100, 2
TICKS = os.sysconf("SC_CLK_TCK")


def say(text: str) -> None:
    print(text, flush=True)


def write_tone(path: Path, seconds: float) -> int:
    """Raw s16le stereo 440 Hz, written in one-second blocks; its size in bytes."""
    period = [int(8000 * math.sin(2 * math.pi * 440 * i / RATE)) for i in range(RATE)]
    second = b"".join(struct.pack("<hh", s, s) for s in period)
    with open(path, "wb") as out:
        whole = int(seconds)
        for _ in range(whole):
            out.write(second)
        out.write(second[: int((seconds - whole) * RATE) * 4])
    return path.stat().st_size


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def peak_rss_kib(pid: int) -> int | None:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return None


@dataclass
class Player:
    """One pacat and what it reported."""

    name: str
    proc: subprocess.Popen[bytes]
    log: IO[bytes]  # its stderr: pacat -v writes a status line many times a second
    cpu_s: float = 0.0
    stderr: str = ""

    def reap(self, block: bool) -> bool:
        """Collect its exit status and its own CPU time (wait4's rusage); whether it has exited."""
        pid, status, usage = os.wait4(self.proc.pid, 0 if block else os.WNOHANG)
        if not pid:
            return False
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self.cpu_s = usage.ru_utime + usage.ru_stime
        self.log.seek(0)
        self.stderr = self.log.read().decode(errors="replace")
        return True

    def underruns(self) -> tuple[int, int]:
        """(before the input ended, after it)."""
        before, _, after = self.stderr.partition("Got EOF.")
        return before.count("Stream underrun"), after.count("Stream underrun")


def start_player(name: str, env: dict[str, str], audio: Path, latency_ms: int) -> Player:
    argv = ["pacat", "-v", f"--latency-msec={latency_ms}", f"--rate={RATE}", f"--channels={CHANNELS}",
            "--format=s16le", f"--client-name={name}", str(audio)]
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=log, stdin=subprocess.DEVNULL)
    return Player(name, proc, log)


def play(players: list[Player], timeout: float) -> None:
    """Wait for every player (killing what outlives ``timeout``), reaping each with its rusage."""
    deadline = time.monotonic() + timeout
    waiting = list(players)
    while waiting and time.monotonic() < deadline:
        waiting = [p for p in waiting if not p.reap(block=False)]
        time.sleep(0.05)
    for player in waiting:
        player.proc.kill()
        player.reap(block=True)


def start_relay(upstream: Path, runtime: str, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "spotidoctor.channels.pulse", "--upstream", str(upstream),
                             "--runtime-dir", runtime], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=str(REPO))
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on "):
        proc.kill()
        raise RuntimeError(f"the filter did not start: {line} {proc.stderr.read() if proc.stderr else ''}")
    return proc, line[len("listening on "):]


def measure(kind: str, seconds: float, latency_ms: int, workdir: Path) -> list[Figure]:
    from tests import servers

    server = (servers.start_pulseaudio if kind == "pulseaudio" else servers.start_pipewire)(workdir / kind)
    audio = workdir / "tone.raw"
    size = write_tone(audio, seconds)
    runtime = tempfile.mkdtemp(prefix="sdpf-", dir="/tmp")
    relay, path = start_relay(server.native_socket, runtime, server.env)
    try:
        cpu_before, wall_before = cpu_seconds(relay.pid), time.monotonic()
        filtered = start_player("bench-filtered", {**server.env, "PULSE_SERVER": f"unix:{path}"}, audio, latency_ms)
        direct = start_player("bench-direct", server.env, audio, latency_ms)
        play([filtered, direct], seconds + 30)
        cpu, wall = cpu_seconds(relay.pid) - cpu_before, time.monotonic() - wall_before
        rss = peak_rss_kib(relay.pid)
    finally:
        relay.terminate()
        out, err = relay.communicate(timeout=10)
        servers.stop(server.proc)
        os.rmdir(runtime)
    stats = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
    return figures(kind, seconds, latency_ms, size, cpu, wall, rss, filtered, direct, stats, err)


def figures(kind: str, seconds: float, latency_ms: int, size: int, cpu: float, wall: float, rss: int | None,
            filtered: Player, direct: Player, stats: dict[str, object], relay_err: str) -> list[Figure]:
    percent = 100 * cpu / wall
    load = Figure(f"pulsefilter-cpu-{kind}", f"audio filter CPU, {kind}, {seconds:g} s 44.1 kHz stereo, "
                  f"{latency_ms} ms buffer", "pacat playing directly (its own CPU)", f"≤ {CPU_TARGET_PERCENT:g} %",
                  unit="%", ours_s=round(percent, 3), baseline_s=round(100 * direct.cpu_s / wall, 3))
    load.passed = percent <= CPU_TARGET_PERCENT
    load.extra.update(relay_cpu_s=round(cpu, 3), wall_s=round(wall, 3), relay_peak_rss_kib=rss,
                      pacat_filtered_cpu_percent=round(100 * filtered.cpu_s / wall, 3),
                      audio_bytes=size, relay_bytes_from_client=stats.get("bytes_from_client"),
                      refusals=stats.get("refusals"))
    mid = [p.underruns()[0] for p in (filtered, direct)]
    end = [p.underruns()[1] for p in (filtered, direct)]
    under = Figure(f"pulsefilter-underruns-{kind}", f"underruns during playback, {kind}",
                   "the same stream played directly", "0", unit="count", ours_s=mid[0], baseline_s=mid[1])
    under.passed = mid[0] == 0
    under.extra.update(at_the_end={"filtered": end[0], "direct": end[1]},
                       underflow_events_relayed=stats.get("underflows"))
    for player in (filtered, direct):
        if player.proc.returncode != 0:
            for fig in (load, under):
                fig.passed = False
                fig.notes.append(f"{player.name} failed (exit {player.proc.returncode}): {player.stderr[-300:]!r}")
    if relay_err.strip():
        load.notes.append(f"filter stderr: {relay_err.strip()[-300:]}")
    return [load, under]


def table(figs: list[Figure]) -> str:
    rows = [("figure", "filter", "direct (same run)", "target", "result")]
    for f in figs:
        unit = " %" if f.unit == "%" else ""
        rows.append((f.title, f"{f.ours_s}{unit}", f"{f.baseline_s}{unit}", f.target_text, f.verdict))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10 s per server instead of 60 s")
    parser.add_argument("--seconds", type=float, help="playback length per server (overrides --quick)")
    parser.add_argument("--server", choices=("pulseaudio", "pipewire", "both"), default="both")
    parser.add_argument("--latency-msec", type=int, default=30, help="pacat's buffer (default 30 ms)")
    parser.add_argument("--json", metavar="PATH", help="write the figures as JSON here")
    args = parser.parse_args(argv)
    if os.geteuid() == 0:
        parser.error("run as a normal user (sound servers refuse root), e.g. the test user's venv python")
    seconds = args.seconds or (10.0 if args.quick else 60.0)
    kinds = ["pulseaudio", "pipewire"] if args.server == "both" else [args.server]
    figs: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="spotidoctor-bench-pulse-") as tmp:
        for kind in kinds:
            say(f"{kind}: {seconds:g} s through the filter and directly, at the same time")
            figs += measure(kind, seconds, args.latency_msec, Path(tmp))
    say("")
    say(table(figs))
    for f in figs:
        say(f"  {f.key}: {json.dumps(f.extra)}")
        for note in f.notes:
            say(f"  {f.key}: {note}")
    if args.json:
        Path(args.json).write_text(json.dumps({"figures": [f.to_json() for f in figs],
                                               "load": open("/proc/loadavg").read().split()[:3]}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
