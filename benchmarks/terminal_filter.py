"""Benchmark: the terminal filter's throughput against a plain copy, in the same run.

    python benchmarks/terminal_filter.py [--size 32M] [--chunk 65536] [--repeat 5] [--json PATH]

Three inputs, each ``--size`` bytes, fed in ``--chunk`` reads (what the relay does with a
pipe): Spotify-like log lines (ASCII, some UTF-8), the same with ANSI colour codes on every
line, and a hostile stream dense with OSC/CSI sequences and C1 bytes. For each, the median of
``--repeat`` rounds (after a warm-up; filter and copy interleaved) of:
  copy    chunks written to /dev/null unchanged
  filter  ``TerminalFilter.feed`` on each chunk, the result written to /dev/null
Reports MB/s (10^6 bytes per second) for both and the filter's share of the copy's speed.
Timings are reported, never asserted.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spotidoctor.hardening.terminal import TerminalFilter  # noqa: E402

LINE = ("[1207/101500.{n:06d}:INFO:cef_log.cpp(8)] playback position {n} ms, buffer {n} bytes; "
        "track “Señorita ✓” 🎵\n")
COLOUR = "\x1b[32m{line}\x1b[0m"
HOSTILE = ("\x1b]52;c;ZXZpbCBjb21tYW5kCg==\x07\x1b]0;fake title\x1b\\\x1b[2K\x1b[1A\x1b[?1049h"
           "text \u009b31m\u0085 more \x1b[38;5;196mred\x1b[m\r\n")


def make(kind: str, size: int) -> bytes:
    out = bytearray()
    n = 0
    while len(out) < size:
        line = LINE.format(n=n)
        piece = {"plain": line, "colour": COLOUR.format(line=line), "hostile": HOSTILE}[kind]
        out += piece.encode("utf-8")
        n += 1
    return bytes(out[:size])


def _copy(chunks: list[bytes], fd: int) -> None:
    for chunk in chunks:
        os.write(fd, chunk)


def _filter(chunks: list[bytes], fd: int) -> None:
    filt = TerminalFilter()
    for chunk in chunks:
        os.write(fd, filt.feed(chunk))
    os.write(fd, filt.finish())


def _seconds(work: Callable[[list[bytes], int], None], chunks: list[bytes], fd: int) -> float:
    started = time.perf_counter()
    work(chunks, fd)
    return time.perf_counter() - started


def measure(data: bytes, chunk: int, repeat: int) -> dict[str, float]:
    chunks = [data[i:i + chunk] for i in range(0, len(data), chunk)]
    fd = os.open(os.devnull, os.O_WRONLY)
    try:
        _seconds(_copy, chunks, fd), _seconds(_filter, chunks, fd)  # warm-up
        copies, filters = [], []
        for _ in range(repeat):
            copies.append(_seconds(_copy, chunks, fd))
            filters.append(_seconds(_filter, chunks, fd))
    finally:
        os.close(fd)
    copy_s, filter_s = statistics.median(copies), statistics.median(filters)
    return {"copy_mb_s": len(data) / copy_s / 1e6, "filter_mb_s": len(data) / filter_s / 1e6,
            "filter_vs_copy": copy_s / filter_s}


def parse_size(text: str) -> int:
    units = {"K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}
    text = text.strip().upper()
    return int(float(text[:-1]) * units[text[-1]]) if text[-1] in units else int(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="32M")
    parser.add_argument("--chunk", type=int, default=65536)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json")
    args = parser.parse_args()
    size = parse_size(args.size)
    results = {}
    print(f"terminal filter, {size / 1e6:.1f} MB per input in {args.chunk}-byte reads, median of {args.repeat}")
    print(f"{'input':<8} {'copy MB/s':>10} {'filter MB/s':>12} {'filter/copy':>12}")
    for kind in ("plain", "colour", "hostile"):
        figure = measure(make(kind, size), args.chunk, args.repeat)
        results[kind] = figure
        print(f"{kind:<8} {figure['copy_mb_s']:>10.0f} {figure['filter_mb_s']:>12.1f} "
              f"{figure['filter_vs_copy']:>11.3f}x")
    if args.json:
        Path(args.json).write_text(json.dumps({"size": size, "chunk": args.chunk, "repeat": args.repeat,
                                               "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
