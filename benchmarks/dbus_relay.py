"""Benchmark: the D-Bus relay's added latency, ``Peer.Ping`` round trips through the relay vs
straight to ``xdg-dbus-proxy`` (and, for context, straight to the bus).

    python benchmarks/dbus_relay.py [--pings 1000] [--rounds 10] [--json PATH]

Starts a private ``dbus-daemon`` and a real ``DbusChannel`` (proxy + relay), opens one
raw-protocol connection per path (tests/dbuswire.py, authenticated once, not timed) and
times sequential ``org.freedesktop.DBus.Peer.Ping`` calls to the bus. The paths take turns
in ``--rounds`` blocks, so load on the machine hits all of them alike. Reports the median,
90th and 99th percentile per round trip and the relay's added median. Reporting only:
timings are never asserted. Run it as a normal user (the test user's venv has everything).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]

from spotidoctor.channels.dbus.channel import DbusChannel  # noqa: E402
from spotidoctor.probes.command import SubprocessRunner  # noqa: E402
from tests import servers  # noqa: E402
from tests.dbusservers import start_session_bus  # noqa: E402
from tests.dbuswire import BUS, Connection  # noqa: E402

WARMUP = 50


def ping_times(conn: Connection, count: int) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        conn.call(BUS[0], "/", "org.freedesktop.DBus.Peer", "Ping")
        times.append(time.perf_counter() - started)
    return times


def summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {"median_us": statistics.median(ordered) * 1e6, "p90_us": ordered[int(len(ordered) * 0.9)] * 1e6,
            "p99_us": ordered[int(len(ordered) * 0.99)] * 1e6, "mean_us": statistics.fmean(ordered) * 1e6}


def measure(paths: dict[str, str], pings: int, rounds: int) -> dict[str, list[float]]:
    conns = {name: Connection(path) for name, path in paths.items()}
    try:
        for conn in conns.values():
            ping_times(conn, WARMUP)
        times: dict[str, list[float]] = {name: [] for name in paths}
        per_round = max(1, pings // rounds)
        for _ in range(rounds):
            for name, conn in conns.items():
                times[name] += ping_times(conn, per_round)
        return times
    finally:
        for conn in conns.values():
            conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pings", type=int, default=1000, help="round trips per path (default 1000)")
    parser.add_argument("--rounds", type=int, default=10, help="blocks the paths take turns in (default 10)")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    if os.geteuid() == 0:
        raise SystemExit("run this as a normal user (e.g. the test user's venv from .ci/test-as-user)")
    with tempfile.TemporaryDirectory(prefix="spotidoctor-dbus-bench-") as tmp:
        bus = start_session_bus(Path(tmp) / "session")
        workdir = Path(tmp) / "run"
        workdir.mkdir(mode=0o700)
        try:
            with DbusChannel.start(bus.address, str(workdir), runner=SubprocessRunner(bus.env)) as channel:
                paths = {"bus (no proxy)": bus.socket_path, "proxy": channel.proxy_socket,
                         "relay -> proxy": channel.container_socket}
                times = measure(paths, args.pings, args.rounds)
        finally:
            servers.stop(bus.proc)
    figures = {name: summary(values) for name, values in times.items()}
    added = figures["relay -> proxy"]["median_us"] - figures["proxy"]["median_us"]
    print(f"Peer.Ping round trips to the bus, {len(times['proxy'])} per path, {args.rounds} interleaved rounds")
    print(f"{'path':<16} {'median':>9} {'p90':>9} {'p99':>9} {'mean':>9}  (µs)")
    for name, figure in figures.items():
        print(f"{name:<16} {figure['median_us']:>9.1f} {figure['p90_us']:>9.1f} {figure['p99_us']:>9.1f} "
              f"{figure['mean_us']:>9.1f}")
    print(f"relay adds {added:.1f} µs per round trip (median), "
          f"{added / figures['proxy']['median_us'] * 100:.0f}% of the proxy's")
    if args.json:
        Path(args.json).write_text(json.dumps({"pings": len(times["proxy"]), "rounds": args.rounds,
                                               "figures": figures, "relay_added_median_us": added}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
