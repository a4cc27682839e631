"""Benchmark: scan a large k8s-file launch log for the crash, against ``grep -F 'FATAL:'``.

    python benchmarks/crashscan.py                 # 1 GiB log, generated on the fly
    python benchmarks/crashscan.py --size 256M --repeat 5 --keep

Generates a realistic log (Spotify/CEF noise lines in podman's k8s-file wrapper, the
out-of-memory FATAL line and its mojo-broker precursor near the end), warms the page
cache, then times ``grep -F 'FATAL:'`` and ``spotidoctor.crash.scan.scan_file`` (best of
``--repeat``, each scan in a fresh process so its peak RSS is its own). Reports both
times, the ratio, the scan's peak RSS, and what the scan found. Exit status 1 if the scan
missed the FATAL line; timings are reported, never asserted.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

NOISE = (
    "[{t}:ERROR:third_party/crashpad/crashpad/util/linux/scoped_ptrace_attach.cc:27] ptrace: Operation not "
    "permitted (1)",
    "[{t}:INFO:cef_log.cpp(8)] Loaded resource bundle {n}",
    "(spotify:1): libayatana-appindicator-WARNING **: 10:00:00.{n}: libayatana-appindicator is deprecated",
    "[{t}:WARNING:gpu_memory_buffer_support_x11.cc(44)] dri3 extension not supported.",
    "[{t}:ERROR:bus.cc(399)] Failed to connect to the bus: Could not parse server address",
    "Gtk-Message: 10:00:00.{n}: Failed to load module \"canberra-gtk-module\"",
    "playback position {n} ms for spotify:track:6rqhFgbbKwnb9MLmUQDhG6 (buffering {n} bytes)",
)
WRAP = "2026-11-29T22:51:{s:02d}.{ns:09d}+00:00 {stream} F "
FATAL = "[1129/235959.123999:FATAL:memory.cc(40)] Out of memory. size=262144"
PRECURSOR = "[1129/235959.123456:ERROR:broker_posix.cc(46)] Received unexpected number of handles"

SCAN = """
import json, os, resource, sys, time
from spotidoctor.crash.scan import scan_file
path = sys.argv[1]
started = time.perf_counter()
with open(path, "rb", buffering=0) as fh:
    scan = scan_file(fh, os.path.getsize(path))
elapsed = time.perf_counter() - started
hit = scan.latest.get("oom_terminate")
# VmHWM: this process's own peak since exec. ru_maxrss would also count the parent's memory
# at fork time (Linux carries it across exec), i.e. whatever the benchmark itself held.
with open("/proc/self/status") as status:
    hwm = [int(line.split()[1]) for line in status if line.startswith("VmHWM:")]
peak = hwm[0] if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": elapsed, "peak_rss_kib": peak,
                  "quote": hit.quote if hit else None, "counts": dict(scan.counts),
                  "fatal_lines": scan.fatal_lines, "lines_parsed": scan.lines}))
"""


def parse_size(text: str) -> int:
    units = {"K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}
    text = text.strip().upper().rstrip("B").rstrip("I")
    return int(float(text[:-1]) * units[text[-1]]) if text[-1] in units else int(text)


def noise_block(size: int = 1024 * 1024) -> bytes:
    lines, total, n = [], 0, 0
    while total < size:
        text = NOISE[n % len(NOISE)].format(t=f"1129/2359{n % 60:02d}.{n * 7919 % 1000000:06d}", n=n * 104729)
        line = (WRAP.format(s=n % 60, ns=n * 7919 % 10 ** 9, stream="stderr" if n % 3 else "stdout") + text + "\n")
        lines.append(line.encode())
        total += len(lines[-1])
        n += 1
    return b"".join(lines)


def generate(path: str, size: int) -> None:
    block = noise_block()
    tail = noise_block(64 * 1024)
    with open(path, "wb") as fh:
        written = 0
        while written + len(block) + len(tail) < size:
            fh.write(block)
            written += len(block)
        for text in (PRECURSOR, FATAL):
            fh.write((WRAP.format(s=59, ns=1, stream="stderr") + text + "\n").encode())
        fh.write(tail)


def best(times: list[float]) -> float:
    return min(times)


def time_grep(path: str, repeat: int) -> float:
    grep = shutil.which("grep")
    if grep is None:
        raise SystemExit("grep is not installed")
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run([grep, "-F", "FATAL:", path], stdout=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - started)
    return best(times)


def time_scan(path: str, repeat: int) -> dict[str, object]:
    runs: list[dict[str, object]] = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", SCAN, path], capture_output=True, text=True, check=True).stdout
        runs.append(json.loads(out))
    fastest = min(runs, key=lambda r: float(r["seconds"]))  # type: ignore[arg-type]
    fastest["peak_rss_kib"] = max(int(r["peak_rss_kib"]) for r in runs)  # type: ignore[call-overload]
    return fastest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1G", help="log size, e.g. 1G, 256M (default 1G)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the best time counts (default 3)")
    parser.add_argument("--dir", default=None, help="where to write the log (default: a temporary directory)")
    parser.add_argument("--keep", action="store_true", help="keep the generated log")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    workdir = tempfile.mkdtemp(prefix="crashscan-", dir=args.dir)
    path = os.path.join(workdir, "container.log")
    try:
        started = time.perf_counter()
        generate(path, parse_size(args.size))
        generated = time.perf_counter() - started
        with open(path, "rb") as fh:  # warm the page cache so both read from memory
            while fh.read(16 * 1024 * 1024):
                pass
        grep_s = time_grep(path, args.repeat)
        scan = time_scan(path, args.repeat)
        result = {"bytes": os.path.getsize(path), "generate_s": round(generated, 2), "grep_s": round(grep_s, 3),
                  "scan_s": round(float(scan["seconds"]), 3),  # type: ignore[arg-type]
                  "ratio": round(float(scan["seconds"]) / grep_s, 2),  # type: ignore[arg-type]
                  "peak_rss_mib": round(int(scan["peak_rss_kib"]) / 1024, 1),  # type: ignore[call-overload]
                  "found": scan["quote"], "counts": scan["counts"], "fatal_lines": scan["fatal_lines"],
                  "lines_parsed": scan["lines_parsed"]}
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            print(f"log: {result['bytes']:,} bytes ({path if args.keep else 'deleted afterwards'})")
            print(f"grep -F 'FATAL:'      {result['grep_s']:.3f} s")
            print(f"crash.scan.scan_file  {result['scan_s']:.3f} s  ({result['ratio']}x grep)")
            print(f"scan peak RSS         {result['peak_rss_mib']} MiB")
            print(f"found                 {result['found']}")
            print(f"signatures            {result['counts']}  (lines parsed: {result['lines_parsed']})")
        return 0 if scan["quote"] == FATAL else 1
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
