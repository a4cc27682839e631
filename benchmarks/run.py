"""spotidoctor's benchmarks: each figure against a baseline measured side by side, in one run.

    python benchmarks/run.py [--quick] [--json PATH]

Prints a table (the median of several repetitions after a warm-up, spotidoctor and its
baseline interleaved, the ratio, the target and pass/MISS) and writes the run as JSON
(machine, date, python, podman version, every figure with all its runs). Timings are
reported, never asserted: the exit status is 0 unless the benchmark itself could not run
(with ``--strict``, 1 when a figure misses its target).

  check-healthy   `spotidoctor check` on a healthy private environment
                  vs the same probes typed by hand (benchmarks/by_hand.sh)      ≤ 0.6×
                  (check-fresh: the same with --fresh, every probe re-run; context)
  storage-warm/   the ownership verdict over 200,000 files
  storage-cold    vs `find DIR \\( ! -uid U -o ! -gid G \\) -print`              ≤ 1.5×
  crashscan-*     the crash-log scan of a 1 GB log vs `grep -F 'FATAL:'`        ≤ 2× wall, ≤ 100 MB RSS
  startup-*       `spotidoctor --version` / `--help` vs `python -c pass`         ≤ 0.25 s added
  check-hung      `spotidoctor check` while X and pulse servers hang
                  vs the largest probe timeout                                   ≤ timeout + 0.5 s
  check-all-by-hand  `spotidoctor check` vs every command it runs, in a row      ≤ 1.0×
  launch-*k-*     `spotidoctor launch` (its fast path) with 50,000 / 200,000 files
                  vs the original design's way (chown -R + podman run)           ≤ 0.75×
                  vs a bare `podman run` of the launch's recorded argv           ≤ +0.15 s

Runs as an unprivileged user (rootless podman needs one). Started as root it re-executes
itself as the test user of `.ci/setup-test-user` and keeps root only to drop the page
cache for the cold-cache figure; started as a normal user, that one figure is reported
as not measured.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import pwd
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(HERE), str(REPO)]

from harness import Figure, Run, added_figure, interleaved, ratio_figure, run_process  # noqa: E402
from privilege import CacheDropper, reexec_as_test_user  # noqa: E402

MIB = 1024 * 1024
CHECK_TARGET = 0.6
STORAGE_TARGET = 1.5
CRASH_TARGET = 2.0
CRASH_RSS_MIB = 100
STARTUP_ADDED_S = 0.25
HUNG_SLACK_S = 0.5
ALL_BY_HAND_TARGET = 1.0
LAUNCH_FILES = (50_000, 200_000)

STORAGE_SCAN = """
import json, sys, time
from spotidoctor.probes.fs import RealFS
from spotidoctor.checks.storage.scan import scan_ownership
root, uid, gid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
started = time.perf_counter()
scans = [scan_ownership(RealFS(), root + "/" + sub, (uid, gid)) for sub in ("config", "cache")]
print(json.dumps({"seconds": time.perf_counter() - started, "checked": sum(s.checked for s in scans),
                  "wrong": sum(s.wrong for s in scans)}))
"""


@dataclass(frozen=True)
class Settings:
    quick: bool
    repeat: int  # recorded rounds per figure (after the warm-up)
    warmup: int
    check_files: int  # storage of the healthy environment
    storage_files: int  # the ownership-verdict figure
    cold_repeat: int
    log_size: int  # bytes of the crash log
    crash_repeat: int
    startup_repeat: int
    hung_repeat: int


def settings_for(quick: bool) -> Settings:
    if quick:
        return Settings(True, repeat=3, warmup=1, check_files=10_000, storage_files=200_000, cold_repeat=1,
                        log_size=256 * MIB, crash_repeat=3, startup_repeat=7, hung_repeat=2)
    return Settings(False, repeat=7, warmup=1, check_files=10_000, storage_files=200_000, cold_repeat=3,
                    log_size=1024 * MIB, crash_repeat=5, startup_repeat=15, hung_repeat=5)


def say(text: str) -> None:
    print(text, flush=True)


# -- machine ------------------------------------------------------------------------------

def _first_line(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (done.stdout.strip().splitlines() or [""])[0]


def machine_info(commit: str | None) -> dict[str, object]:
    cpu = ""
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), "")
    except OSError:
        pass
    mem_kib = 0
    try:
        mem_kib = int(next(line.split()[1] for line in open("/proc/meminfo") if line.startswith("MemTotal")))
    except (OSError, StopIteration, ValueError):
        pass
    from spotidoctor import __version__

    return {
        "hostname": platform.node(), "cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem_kib / MIB, 1),
        "kernel": platform.release(), "os": _os_name(), "python": platform.python_version(),
        "python_executable": sys.executable, "podman": _first_line(["podman", "--version"]),
        "spotidoctor": __version__, "commit": commit or git_commit(),
        "user": f"{os.getuid()}", "load_before": _loadavg(),
    }


def git_commit() -> str:
    return _first_line(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])


def _os_name() -> str:
    try:
        for line in open("/etc/os-release"):
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()


def _loadavg() -> str:
    try:
        return " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        return ""


# -- figures ------------------------------------------------------------------------------

def figure_startup(s: Settings, spotidoctor: list[str]) -> list[Figure]:
    figures = []
    baseline = [sys.executable, "-c", "pass"]
    for flag in ("--version", "--help"):
        fig = Figure(f"startup{flag[1:]}", f"`spotidoctor {flag}` start-up", "`python3 -c pass` (same interpreter)",
                     f"≤ +{STARTUP_ADDED_S} s")
        pair = interleaved(lambda flag=flag, fig=fig: _ok(run_process([*spotidoctor, flag]), fig),
                           lambda: run_process(baseline),
                           repeat=s.startup_repeat, warmup=s.warmup)
        figures.append(added_figure(fig, pair, STARTUP_ADDED_S))
    return figures


def figure_crashscan(s: Settings, workdir: Path) -> list[Figure]:
    import crashscan

    path = workdir / "container.log"
    say(f"  generating a {s.log_size / MIB:,.0f} MiB crash log")
    crashscan.generate(str(path), s.log_size)
    with open(path, "rb") as fh:  # warm: both sides read from the page cache
        while fh.read(16 * MIB):
            pass
    grep = shutil.which("grep") or "grep"
    size = f"{path.stat().st_size / MIB:,.0f} MiB"
    wall = Figure("crashscan-wall", f"crash-log scan, {size} log, FATAL near the end", "`grep -F 'FATAL:'`",
                  f"≤ {CRASH_TARGET}×")
    found: list[str] = []
    peaks: list[int] = []

    def ours() -> Run:
        run = _ok(run_process([sys.executable, "-c", crashscan.SCAN, str(path)], capture=True), wall)
        data = json.loads(run.stdout) if run.returncode == 0 else {}
        found.append(data.get("quote") or "")
        if data:
            peaks.append(int(data["peak_rss_kib"]))
        return run

    pair = interleaved(ours, lambda: run_process([grep, "-F", "FATAL:", str(path)], sample_rss=True),
                       repeat=s.crash_repeat, warmup=s.warmup)
    ratio_figure(wall, pair, CRASH_TARGET)
    if any(q != crashscan.FATAL for q in found):
        wall.passed = False
        wall.notes.append(f"the scan missed the FATAL line in some runs: {sorted(set(found))}")
    ours_rss = [kib / 1024 for kib in peaks]
    grep_rss = [r.peak_rss_kib / 1024 for r in pair.baseline if r.peak_rss_kib]
    rss = Figure("crashscan-rss", f"crash-log scan peak RSS, {size} log", "grep's peak RSS", f"≤ {CRASH_RSS_MIB} MiB",
                 ours_s=max(ours_rss) if ours_rss else None, baseline_s=max(grep_rss) if grep_rss else None,
                 unit="MiB", runs={"spotidoctor": ours_rss, "baseline": grep_rss})
    rss.passed = rss.ours_s is not None and rss.ours_s <= CRASH_RSS_MIB
    rss.ratio = rss.ours_s / rss.baseline_s if rss.ours_s and rss.baseline_s else None
    rss.notes.append("VmHWM of the scanning process, interpreter included (grep's: sampled every 2 ms)")
    path.unlink()
    return [wall, rss]


def figure_check_healthy(s: Settings, healthy: object, spotidoctor: list[str]) -> Figure:
    from environment import Healthy

    assert isinstance(healthy, Healthy)
    fig = Figure("check-healthy", f"`spotidoctor check`, healthy ({len(healthy.statuses)} checks, "
                 f"{healthy.entries:,} storage entries)", "the same probes by hand (by_hand.sh)",
                 f"≤ {CHECK_TARGET}×")
    script = ["sh", str(HERE / "by_hand.sh"), pwd.getpwuid(os.getuid()).pw_name, healthy.image,
              str(healthy.storage), str(healthy.owner[0]), str(healthy.owner[1]), str(healthy.last_log)]
    pair = interleaved(lambda: _ok(run_process([*spotidoctor, "check"], env=healthy.env), fig),
                       lambda: _ok(run_process(script, env=healthy.env), fig), repeat=s.repeat, warmup=s.warmup)
    ratio_figure(fig, pair, CHECK_TARGET)
    bad = {k: v for k, v in healthy.statuses.items() if v != "ok"}
    fig.extra["checks"] = healthy.statuses
    if bad:
        fig.notes.append(f"not all checks were ok in the healthy environment: {bad}")
    fig.notes += healthy.notes
    return fig


def figure_check_fresh(s: Settings, healthy: object, spotidoctor: list[str]) -> Figure:
    """`check --fresh`: every slow probe for real (podman info, the runtime's container, the
    container uid's audio test), nothing from the result cache. What a first run, a run
    after a change, `fix`'s re-checks and `report` cost."""
    from environment import Healthy

    assert isinstance(healthy, Healthy)
    fig = Figure("check-fresh", "`spotidoctor check --fresh`, healthy (context: no remembered results)",
                 "the same probes by hand (by_hand.sh)", "informational", informational=True)
    script = ["sh", str(HERE / "by_hand.sh"), pwd.getpwuid(os.getuid()).pw_name, healthy.image,
              str(healthy.storage), str(healthy.owner[0]), str(healthy.owner[1]), str(healthy.last_log)]
    pair = interleaved(lambda: _ok(run_process([*spotidoctor, "check", "--fresh"], env=healthy.env), fig),
                       lambda: _ok(run_process(script, env=healthy.env), fig), repeat=s.repeat, warmup=s.warmup)
    ratio_figure(fig, pair, CHECK_TARGET)
    fig.passed = None
    fig.notes.append("every probe re-run: what the first check, a check after a change, fix's re-checks and "
                     "report cost; check-healthy is the usual repeated check")
    return fig


RECORD = """
import json, sys
from spotidoctor.probes import command
from spotidoctor.cli import main
calls = []
real_run = command.SubprocessRunner.run
def run(self, argv, **kw):
    calls.append({"argv": list(argv), "env": dict(kw.get("env") or {}), "input": kw.get("input")})
    return real_run(self, argv, **kw)
command.SubprocessRunner.run = run
try:
    main(["check"])
finally:
    with open(sys.argv[1], "w") as fh:
        json.dump(calls, fh)
"""


def all_by_hand_script(healthy: object, workdir: Path) -> tuple[Path, int]:
    """A shell script running every external command one ``spotidoctor check`` runs, one after
    another (recorded from a real run), plus by-hand stand-ins for what it asks in-process:
    the X server (xdpyinfo, xhost), the pulse servers (pactl, also through the container
    socket), the storage (find) and the last launch log (grep)."""
    from environment import Healthy

    assert isinstance(healthy, Healthy)
    record = workdir / "commands.json"
    done = subprocess.run([sys.executable, "-c", RECORD, str(record)], env=healthy.env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, timeout=600)
    if not record.exists():
        raise RuntimeError(f"recording the commands of `spotidoctor check` failed: {done.stderr[-2000:]}")
    calls = json.loads(record.read_text())
    lines = ["#!/bin/sh", "# every command `spotidoctor check` ran, one after another"]
    for call in calls:
        env = [f"{k}={v}" for k, v in call["env"].items()]
        stdin = "/dev/null" if call["input"] is None else shlex.quote(str(workdir / f"input{len(lines)}"))
        if call["input"] is not None:
            (workdir / f"input{len(lines)}").write_text(call["input"])
        lines.append(" ".join(shlex.quote(a) for a in ["env", *env, *call["argv"]]) + f" >/dev/null 2>&1 <{stdin}")
    socket = Path(healthy.env["XDG_RUNTIME_DIR"]) / "pulse" / "pulse-socket"
    uid, gid = healthy.owner
    lines += ["# what spotidoctor asks in-process", "xdpyinfo >/dev/null 2>&1", "xhost >/dev/null 2>&1",
              "pactl info >/dev/null 2>&1", "pactl list modules short >/dev/null 2>&1",
              f"pactl -s {shlex.quote(str(socket))} info >/dev/null 2>&1",
              f"find {shlex.quote(str(healthy.storage / 'config'))} {shlex.quote(str(healthy.storage / 'cache'))} "
              f"\\( ! -uid {uid} -o ! -gid {gid} \\) -print >/dev/null",
              f"grep -F 'FATAL:' {shlex.quote(str(healthy.last_log))} >/dev/null", "exit 0"]
    script = workdir / "all_by_hand.sh"
    script.write_text("\n".join(lines) + "\n")
    return script, len(calls)


def figure_check_all_by_hand(s: Settings, healthy: object, spotidoctor: list[str], workdir: Path) -> Figure:
    from environment import Healthy

    assert isinstance(healthy, Healthy)
    script, count = all_by_hand_script(healthy, workdir)
    fig = Figure("check-all-by-hand", "`spotidoctor check`, healthy",
                 f"all its work by hand: its {count} commands in a row + X/pulse/find/grep", f"≤ {ALL_BY_HAND_TARGET}×")
    pair = interleaved(lambda: _ok(run_process([*spotidoctor, "check"], env=healthy.env), fig),
                       lambda: _ok(run_process(["sh", str(script)], env=healthy.env), fig),
                       repeat=s.repeat, warmup=s.warmup)
    ratio_figure(fig, pair, ALL_BY_HAND_TARGET)
    fig.notes.append("the same checks done by hand, sequentially: what the runner's concurrency saves "
                     f"(script: {count} recorded commands; by_hand.sh types only 8 of the probes)")
    return fig


def figure_hung(s: Settings, healthy: object, spotidoctor: list[str]) -> Figure:
    from environment import Healthy

    from spotidoctor.probes import pulse as pulse_probe
    from spotidoctor.probes import x11 as x11_probe
    from tests import servers

    assert isinstance(healthy, Healthy)
    timeouts = {"x11 connect (socket timeout)": x11_probe.DEFAULT_TIMEOUT_S,
                "pulse connect": pulse_probe.CONNECT_TIMEOUT_S}
    largest = max(timeouts.values())
    fig = Figure("check-hung", "`spotidoctor check`, X server and pulse server hung",
                 "the largest probe timeout", f"≤ {largest:g} + {HUNG_SLACK_S} s")
    number = servers.free_display()
    hung_x = servers.hung_unix_server(Path(f"/tmp/.X11-unix/X{number}"))
    hung_pulse = servers.hung_unix_server(healthy.root / "hung-pulse")
    env = {**healthy.env, "DISPLAY": f":{number}", "PULSE_SERVER": f"unix:{healthy.root / 'hung-pulse'}"}
    marker = f"XDG_RUNTIME_DIR={healthy.env['XDG_RUNTIME_DIR']}"
    runs: list[Run] = []
    strays: list[str] = []
    verdicts: dict[str, str] = {}
    try:
        for i in range(s.warmup + s.hung_repeat):
            before = user_processes(marker)
            run = run_process([*spotidoctor, "check", "--json"], env=env, capture=True, timeout=120)
            time.sleep(0.5)  # give anything left behind the time to show up
            strays += [f"{pid}: {cmd}" for pid, cmd in user_processes(marker).items() if pid not in before]
            if i >= s.warmup:
                runs.append(run)
            verdicts = _hung_verdicts(run)
    finally:
        hung_x.close()
        hung_pulse.close()
    fig.ours_s = sorted(r.seconds for r in runs)[len(runs) // 2]
    fig.baseline_s = largest
    fig.ratio = fig.ours_s / largest
    fig.passed = fig.ours_s <= largest + HUNG_SLACK_S and not strays
    fig.runs = {"spotidoctor": [r.seconds for r in runs]}
    fig.extra.update(timeouts=timeouts, stray_processes=strays, verdicts=verdicts)
    fig.notes.append("no stray processes afterwards" if not strays else f"stray processes: {strays}")
    if len(verdicts) != 2 or not all("hung" in v or "hang" in v for v in verdicts.values()):
        fig.notes.append(f"the hung servers were not reported as hung: {verdicts}")
    return fig


def _hung_verdicts(run: Run) -> dict[str, str]:
    try:
        results = json.loads(run.stdout)["results"]
    except (ValueError, KeyError):
        return {"error": f"no JSON from `spotidoctor check --json` (exit {run.returncode}): {run.stderr[-300:]}"}
    return {r["id"]: f"{r['status']}: {r['summary']}" for r in results if r["id"] in ("x11.connect", "pulse.server")}


def user_processes(marker: str) -> dict[int, str]:
    """This uid's processes (pid -> command line) whose environment holds ``marker`` (the private
    runtime dir: everything spotidoctor starts inherits it), except this benchmark itself.
    Other users' and other sessions' processes of the same uid never count."""
    found = {}
    me = os.getpid()
    needle = marker.encode()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            if os.stat(entry.path).st_uid != os.getuid():
                continue
            with open(f"{entry.path}/environ", "rb") as fh:
                if needle not in fh.read().split(b"\0"):
                    continue
            with open(f"{entry.path}/cmdline", "rb") as fh:
                found[int(entry.name)] = fh.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
    return found


def figure_storage(s: Settings, healthy: object, dropper: CacheDropper) -> list[Figure]:
    from environment import Healthy, give_to_container_user, populate, remove_tree

    assert isinstance(healthy, Healthy)
    tree = healthy.root / "big-storage"
    say(f"  creating {s.storage_files:,} files owned by the container user")
    entries = populate(tree, s.storage_files)
    give_to_container_user(healthy.env, tree)
    uid, gid = healthy.owner
    find = [shutil.which("find") or "find", str(tree / "config"), str(tree / "cache"), "(", "!", "-uid", str(uid),
            "-o", "!", "-gid", str(gid), ")", "-print"]
    scan = [sys.executable, "-c", STORAGE_SCAN, str(tree), str(uid), str(gid)]
    figures = []
    try:
        for temperature in ("warm", "cold"):
            fig = Figure(f"storage-{temperature}", f"ownership verdict, {entries:,} entries, {temperature} cache",
                         "`find \\( ! -uid U -o ! -gid G \\) -print`", f"≤ {STORAGE_TARGET}×")
            figures.append(fig)
            if temperature == "cold" and not dropper.available:
                fig.notes.append(f"not measured: {dropper.reason}")
                continue
            inner: list[float] = []

            def ours(fig: Figure = fig, inner: list[float] = inner) -> Run:
                run = _ok(run_process(scan, capture=True), fig)
                if run.returncode == 0:
                    data = json.loads(run.stdout)
                    inner.append(data["seconds"])
                    seen = f"the scan saw {data['checked']:,} entries, {data['wrong']} wrongly owned"
                    if (data["wrong"] or data["checked"] != entries) and seen not in fig.notes:
                        fig.notes.append(seen)
                return run

            try:
                pair = interleaved(ours, lambda fig=fig: _ok(run_process(find), fig),
                                   repeat=s.repeat if temperature == "warm" else s.cold_repeat, warmup=s.warmup,
                                   before_each=dropper.drop if temperature == "cold" else None)
            except RuntimeError as exc:  # the cache could not be dropped after all
                fig.notes.append(f"not measured: {exc}")
                continue
            ratio_figure(fig, pair, STORAGE_TARGET)
            fig.extra["scan_in_process_s"] = round(sorted(inner)[len(inner) // 2], 4) if inner else None
            fig.notes.append("spotidoctor: a fresh `python -c` running spotidoctor.checks.storage.scan.scan_ownership "
                             "over config/ and cache/ (interpreter start included)")
    finally:
        remove_tree(healthy.env, tree)
    return figures


def _ok(run: Run, fig: Figure) -> Run:
    """Note (once) a side that failed: its timing then means little."""
    if (run.returncode != 0 or run.timed_out) and not any(n.startswith("a run failed") for n in fig.notes):
        fig.notes.append(f"a run failed (exit {run.returncode}{', timed out' if run.timed_out else ''}): "
                         f"{run.stderr[-300:]}")
    return run


# -- output -------------------------------------------------------------------------------

def _value(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    return f"{value:.1f} MiB" if unit == "MiB" else f"{value:.3f} s"


def table(figures: list[Figure]) -> str:
    rows = [("figure", "spotidoctor", "baseline", "ratio", "target", "result")]
    for f in figures:
        ratio = "–" if f.ratio is None else f"{f.ratio:.2f}×"
        if "added_s" in f.extra:
            ratio = f"+{f.extra['added_s']:.3f} s"
        rows.append((f.title, _value(f.ours_s, f.unit), _value(f.baseline_s, f.unit), ratio, f.target_text, f.verdict))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown(figures: list[Figure]) -> str:
    lines = ["| Figure | spotidoctor | baseline (same run) | ratio | target | result |", "|---|---|---|---|---|---|"]
    for f in figures:
        ratio = "–" if f.ratio is None else f"{f.ratio:.2f}×"
        if "added_s" in f.extra:
            ratio = f"+{f.extra['added_s']:.3f} s"
        lines.append(f"| {f.title} | {_value(f.ours_s, f.unit)} | {f.baseline_title}: {_value(f.baseline_s, f.unit)} "
                     f"| {ratio} | {f.target_text} | {f.verdict} |")
    return "\n".join(lines)


# -- main ---------------------------------------------------------------------------------

def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions and a 256 MiB log (CI)")
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON here")
    parser.add_argument("--markdown", action="store_true", help="also print the table as Markdown (for the README)")
    parser.add_argument("--only", action="append", default=[], metavar="NAME",
                        help="only these figure groups: startup, crashscan, check, hung, storage, launch "
                             "(repeatable)")
    parser.add_argument("--dir", metavar="DIR", help="where the private environment lives (default: a new temp dir)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a figure misses its target")
    parser.add_argument("--user-python", metavar="PATH", help="as root: the interpreter the test user runs")
    parser.add_argument("--cache-dropper", help=argparse.SUPPRESS)
    parser.add_argument("--commit", help="the commit to record (default: git rev-parse of this checkout)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(raw)
    if os.geteuid() == 0:
        forwarded = [*_without(raw, "--json", "--user-python", "--commit"), "--commit",
                     args.commit or git_commit() or "unknown"]
        return reexec_as_test_user(str(Path(__file__).resolve()), forwarded, args.json, args.user_python)
    s = settings_for(args.quick)
    groups = set(args.only) or {"startup", "crashscan", "check", "hung", "storage", "launch"}
    from environment import NETWORK_NOTE, Environment, spotidoctor_argv

    spotidoctor = spotidoctor_argv()
    dropper = CacheDropper(args.cache_dropper)
    started = time.monotonic()
    info = machine_info(args.commit)
    say(f"spotidoctor benchmarks{' (quick)' if s.quick else ''}: {info['cpu']}, {info['cores']} cores, "
        f"{info['memory_gib']} GiB, Linux {info['kernel']}, Python {info['python']}, {info['podman']}")
    notes = [NETWORK_NOTE] if groups & {"check", "hung", "storage", "launch"} else []
    figures: list[Figure] = []
    root = Path(tempfile.mkdtemp(prefix="spotidoctor-bench-", dir=args.dir))
    # `python -c` puts the working directory first on sys.path: a `spotidoctor` directory there
    # (a checkout in $HOME) would shadow the installed package. Work from an empty one.
    os.chdir(root)
    try:
        if "startup" in groups:
            say("startup: spotidoctor --version / --help vs python -c pass")
            figures += figure_startup(s, spotidoctor)
        if "crashscan" in groups:
            say("crashscan: crash-log scan vs grep -F")
            figures += figure_crashscan(s, root)
        if groups & {"check", "hung", "storage", "launch"}:
            say(f"environment: a private healthy environment under {root}")
            say(f"  note: {NETWORK_NOTE}")
            with Environment(root / "env", s.check_files, log=say) as healthy:
                if "check" in groups:
                    say("check-healthy: spotidoctor check vs by_hand.sh")
                    figures.append(figure_check_healthy(s, healthy, spotidoctor))
                    say("check-fresh: spotidoctor check --fresh vs by_hand.sh")
                    figures.append(figure_check_fresh(s, healthy, spotidoctor))
                    say("check-all-by-hand: spotidoctor check vs every command it runs, in a row")
                    figures.append(figure_check_all_by_hand(s, healthy, spotidoctor, root))
                if "hung" in groups:
                    say("check-hung: spotidoctor check with hung X and pulse servers")
                    figures.append(figure_hung(s, healthy, spotidoctor))
                if "storage" in groups:
                    say("storage: ownership verdict vs find (warm, then cold)")
                    figures += figure_storage(s, healthy, dropper)
                if "launch" in groups:  # last: it grows the environment's storage
                    from launch import figure_launch

                    for files in LAUNCH_FILES:
                        say(f"launch: spotidoctor launch vs chown -R + podman run vs bare podman run, {files:,} files")
                        figures += figure_launch(s.repeat, s.warmup, healthy, spotidoctor, files, root, say)
    finally:
        os.chdir("/")
        shutil.rmtree(root, ignore_errors=True)
    report = {"schema": 1, "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "machine": info, "python": info["python"], "podman": info["podman"], "settings": asdict(s),
              "duration_s": round(time.monotonic() - started, 1), "notes": notes,
              "figures": [f.to_json() for f in figures]}
    say("")
    say(table(figures))
    for f in figures:
        for note in f.notes:
            say(f"  {f.key}: {note}")
    for note in notes:
        say(f"  note: {note}")
    say(f"({report['duration_s']} s; {report['date']}; load before {info['load_before']}, after {_loadavg()})")
    if args.markdown:
        say("")
        say(markdown(figures))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
        say(f"JSON: {args.json}")
    return 1 if args.strict and any(f.passed is False for f in figures) else 0


def _without(argv: list[str], *options: str) -> list[str]:
    """``argv`` without ``--opt VALUE`` / ``--opt=VALUE`` for each of ``options``."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in options:
            skip = True
        elif not any(arg.startswith(o + "=") for o in options):
            out.append(arg)
    return out


if __name__ == "__main__":
    sys.exit(main())
