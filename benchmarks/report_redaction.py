"""Benchmark: report redaction and leak scan against the number of Spotify account directories.

    python benchmarks/report_redaction.py [--accounts 250,500,1000,2000] [--text-mb 4] [--repeat 3]
                                          [--old-up-to 1000] [--json PATH]

A container can make thousands of ``Users/<name>-user`` directories, each with a prefs file
naming an account; issue 13 measured 225 s for a report with 2,000 of them (one alternation of
every name, tried at each position of the text, and one needle per prefs file). For each
count this builds such a storage in a temporary sysroot and times, in process:
  identity  ``identity.gather`` (prefs files read, at most MAX_PREFS_FILES of them)
  redact    ``Redactor.text`` over ``--text-mb`` of report-like text naming some accounts
  scan      ``gather_needles`` + ``scan_members`` over the redacted text
  total     the three together
and, for counts up to ``--old-up-to``, ``old-redact``: the same text through the former pattern
(every account name in one longest-first alternation) as the baseline. The median of
``--repeat`` rounds. Timings are reported, never asserted: linear means the new columns stay
flat as the count grows (the text is the same size), while the baseline grows with it.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spotidoctor.bundle import archive  # noqa: E402
from spotidoctor.bundle.identity import gather  # noqa: E402
from spotidoctor.bundle.redact import _AFTER, _BEFORE, Redactor, TokenMap  # noqa: E402
from spotidoctor.bundle.scan import gather_needles, scan_members  # noqa: E402
from spotidoctor.testing import make_context  # noqa: E402

HOME = "/home/alice"
LINE = ("[1207/101500.{n:06d}:INFO:cef_log.cpp(8)] podman storage {name} playback {n} ms via "
        "/home/alice/.spotify/config/Users/{name}-user/prefs on host vm\n")


def account(i: int) -> str:
    """Random-looking names, like Spotify's canonical user names (no shared prefix to help)."""
    return hashlib.sha1(str(i).encode()).hexdigest()[:12]


def storage(root: Path, count: int) -> None:
    users = root / HOME.lstrip("/") / ".spotify/config/Users"
    for i in range(count):
        d = users / f"{account(i)}-user"
        d.mkdir(parents=True)
        (d / "prefs").write_text(f'autologin.username="{account(i)}"\nstorage.size=2048\n')
    (root / HOME.lstrip("/") / ".spotify/cache").mkdir(parents=True)


def report_text(count: int, size: int) -> str:
    out, n = [], 0
    total = 0
    while total < size:
        line = LINE.format(n=n, name=account(n % count))
        out.append(line)
        total += len(line)
        n += 1
    return "".join(out)


def old_pattern(names: list[str]) -> re.Pattern[str]:
    body = "|".join(re.escape(v) for v in sorted(set(names), key=len, reverse=True))
    return re.compile(f"{_BEFORE}(?:{body}){_AFTER}", re.I)


def one_round(count: int, text: str, old: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "root"
        storage(root, count)
        ctx = make_context(root)
        times: dict[str, float] = {}
        started = time.perf_counter()
        ident = gather(ctx)
        times["identity"] = time.perf_counter() - started
        started = time.perf_counter()
        redacted = Redactor(ident, TokenMap(), identity_on=True).text(text)
        times["redact"] = time.perf_counter() - started
        started = time.perf_counter()
        needles = gather_needles(ctx, ident, include_names=True)
        scan_members([archive.Member("log", redacted.encode())], needles)
        times["scan"] = time.perf_counter() - started
        times["total"] = times["identity"] + times["redact"] + times["scan"]
        if old:
            pattern = old_pattern([account(i) for i in range(count)])
            started = time.perf_counter()
            pattern.sub("x", text)
            times["old-redact"] = time.perf_counter() - started
        return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", default="250,500,1000,2000")
    parser.add_argument("--text-mb", type=float, default=4.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--old-up-to", type=int, default=1000, help="time the former alternation up to this count")
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args()
    counts = [int(c) for c in args.accounts.split(",")]
    rows = []
    print(f"{'accounts':>8}  {'identity':>9}  {'redact':>8}  {'scan':>8}  {'total':>8}  {'old-redact':>10}")
    for count in counts:
        text = report_text(count, int(args.text_mb * 1e6))
        rounds = [one_round(count, text, count <= args.old_up_to) for _ in range(args.repeat)]
        row = {"accounts": count, **{k: statistics.median(r[k] for r in rounds) for k in rounds[0]}}
        rows.append(row)
        old = f"{row['old-redact']:10.2f}" if "old-redact" in row else f"{'-':>10}"
        print(f"{count:8d}  {row['identity']:9.2f}  {row['redact']:8.2f}  {row['scan']:8.2f}  "
              f"{row['total']:8.2f}  {old}")
    if args.json:
        Path(args.json).write_text(json.dumps({"text_mb": args.text_mb, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
