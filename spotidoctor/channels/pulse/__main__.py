"""Run the audio filter on its own until SIGTERM/SIGINT (benchmarks, debugging).

    python -m spotidoctor.channels.pulse [--upstream PATH] [--runtime-dir DIR] [--cookie PATH] [-v]

Prints ``listening on PATH`` once the socket accepts clients, and the final statistics as
one JSON object when it stops.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import signal
import sys
import threading

from spotidoctor.channels.pulse.relay import LOGGER_NAME, FilterError, PulseFilter, default_upstream


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m spotidoctor.channels.pulse", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--upstream", default=default_upstream(os.environ),
                        help="the user's pulse socket (default: as libpulse finds it)")
    parser.add_argument("--runtime-dir", default=os.environ.get("XDG_RUNTIME_DIR"),
                        help="where the private socket directory goes (default: $XDG_RUNTIME_DIR)")
    parser.add_argument("--cookie", help="also authenticate with this cookie file")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log refusals (-vv: everything)")
    args = parser.parse_args(argv)
    if not args.upstream or not args.runtime_dir:
        parser.error("no pulse socket or runtime dir known: pass --upstream and --runtime-dir")
    logging.basicConfig(stream=sys.stderr, format="%(message)s")
    logging.getLogger(LOGGER_NAME).setLevel([logging.ERROR, logging.WARNING, logging.DEBUG][min(args.verbose, 2)])
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    relay = PulseFilter(args.upstream, runtime_dir=args.runtime_dir, cookie_path=args.cookie)
    try:
        path = relay.start()
    except FilterError as exc:
        print(f"spotidoctor audio filter: {exc}", file=sys.stderr)
        return 2
    print(f"listening on {path}", flush=True)
    stop.wait()
    stats = relay.stop()
    print(json.dumps({**dataclasses.asdict(stats), "refusals": stats.refusals}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
