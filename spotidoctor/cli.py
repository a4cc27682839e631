"""Command line: ``spotidoctor check | fix | launch | build | report | desktop | stop | list | explain``.

Kept import-light: subcommand modules (and rich, Xlib, pulsectl) load only when used, so
``--version`` and ``--help`` start fast.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import signal
import sys
import threading
from collections.abc import Iterator, Sequence

from spotidoctor import __version__
from spotidoctor.error_handler import guarded
from spotidoctor.exitcodes import EXIT_CODE_HELP

DESCRIPTION = (
    "Diagnose, fix and launch the Spotify desktop client in a rootless podman container: "
    "X11 display and cookie, PulseAudio/PipeWire socket and cookie, subuid/subgid mapping, "
    "storage ownership, podman runtime, image, and crash logs."
)


def _common(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("configuration (override config.toml)")
    group.add_argument("--config", metavar="PATH",
                       help="config file (default: $XDG_CONFIG_HOME/spotidoctor/config.toml)")
    group.add_argument("--image", metavar="NAME", help="image name (default: spotify_pod)")
    group.add_argument("--container-name", metavar="NAME", help="container name (default: spotify-container)")
    group.add_argument("--storage-dir", metavar="DIR", help="storage with config/ and cache/ (default: ~/.spotify)")
    group.add_argument("--uid", type=int, metavar="UID", help="uid of spotify_user in the image (default: 1500)")
    group.add_argument("--profile", choices=("isolated", "keep-id"), help="run profile (default: isolated)")
    group.add_argument("--checks-dir", action="append", metavar="DIR", help="also load drop-in checks from DIR")
    group.add_argument("--no-plugins", action="store_true", help="only the bundled checks")
    parser.add_argument("-v", "--verbose", action="store_true", help="show info messages, facts, timings")


def _selection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("selectors", nargs="*", metavar="ID_OR_PREFIX",
                        help="checks to run: an id (x11.connect), a namespace (pulse) or a glob (x11.*)")
    parser.add_argument("--ignore", action="append", default=[], metavar="ID",
                        help="do not run this check (or prefix/glob); repeatable")


def _add(sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, target: str,
         help: str) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help, description=help, epilog=EXIT_CODE_HELP,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(target=target)
    _common(parser)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spotidoctor", description=DESCRIPTION, epilog=EXIT_CODE_HELP,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"spotidoctor {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    check = _add(sub, "check", "spotidoctor.commands.check:run", "diagnose (never changes anything)")
    _selection(check)
    check.add_argument("--json", action="store_true", help="print one JSON document (schema 1) on stdout")
    check.add_argument("--fresh", action="store_true",
                       help="re-test everything: do not reuse remembered results of the slow probes "
                            "(podman info, the runtime's test container, the container uid's audio test)")

    fix = _add(sub, "fix", "spotidoctor.commands.fix:run", "apply the fixes that are safe, explain the rest")
    _selection(fix)
    fix.add_argument("--unsafe", action="store_true", help="also apply unsafe fixes (asks first)")
    fix.add_argument("--allow-root", action="store_true", help="allow steps that run through sudo")
    fix.add_argument("--dry-run", action="store_true", help="show commands and file diffs; change nothing")
    fix.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    fix.add_argument("--list-backups", action="store_true", help="list backups of files fixes changed")

    launch = _add(sub, "launch", "spotidoctor.commands.launch:run",
                  "preflight, build the image if missing, run Spotify in the container")
    launch.add_argument("--network", metavar="MODE", help="podman --network (default: podman's own)")
    launch.add_argument("--dry-run", action="store_true", help="print the podman command with reasons; run nothing")
    launch.add_argument("--no-check", action="store_true", help="skip the preflight checks")
    launch.add_argument("-y", "--yes", action="store_true", help="apply safe preflight fixes without asking")
    launch.add_argument("--force", action="store_true", help="launch even when preflight checks fail")
    launch.add_argument("spotify_args", nargs=argparse.REMAINDER, metavar="-- SPOTIFY_ARGS",
                        help="arguments passed to /usr/bin/spotify")

    build = _add(sub, "build", "spotidoctor.commands.build:run", "build the image with buildah")
    build.add_argument("--containerfile", metavar="PATH", help="build this recipe instead of the bundled one")
    build.add_argument("--build-arg", action="append", default=[], metavar="KEY=VALUE", help="repeatable")
    build.add_argument("--no-cache", action="store_true", help="do not reuse cached layers")
    build.add_argument("--network", metavar="MODE",
                       help="network for RUN steps (buildah --network; default: buildah's)")

    report = _add(sub, "report", "spotidoctor.commands.report:run", "write a redacted bug report bundle")
    report.add_argument("-o", "--output", metavar="PATH",
                        help="archive path (default: ./spotidoctor-report-DATE.tar.gz)")
    report.add_argument("--preview", action="store_true", help="list what would be collected and redacted")
    report.add_argument("--no-redact", action="store_true", help="keep user/host names, paths and addresses")
    report.add_argument("--include-logs", type=int, default=3, metavar="N", help="last N launch logs (default 3)")
    report.add_argument("--overwrite", action="store_true", help="replace the -o file if it exists")
    report.add_argument("--time-limit", type=float, default=600.0, metavar="SECONDS",
                        help="stop and write nothing after this long (default 600)")

    desktop = _add(sub, "desktop", "spotidoctor.commands.desktop:run",
                   "add Spotify to the application menu and make it open spotify: links (or remove that)")
    desktop.add_argument("action", choices=("install", "uninstall"))
    _add(sub, "stop", "spotidoctor.commands.stop:run", "stop Spotify's container (the menu's Quit Spotify)")

    _add(sub, "list", "spotidoctor.commands.listing:run_list", "list checks")
    explain = _add(sub, "explain", "spotidoctor.commands.listing:run_explain", "explain one check")
    explain.add_argument("check_id", metavar="ID")
    return parser


def _dispatch(args: argparse.Namespace) -> int:
    """Typed options from the command line, then the subcommand's handler with them."""
    from spotidoctor.commands.options import options_from

    options = options_from(args)
    module_name, _, func_name = args.target.partition(":")
    func = getattr(importlib.import_module(module_name), func_name)
    return int(func(options))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    with _exit_cleanly_on(signal.SIGTERM, signal.SIGHUP):
        return guarded(lambda: _dispatch(args), ["spotidoctor", *argv])


def _terminated(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def _exit_cleanly_on(*signums: signal.Signals) -> Iterator[None]:
    """`kill` or a closed terminal unwinds like an exit, so the command runner stops what it
    started (its children live in their own sessions and would outlive us) and the fix lock
    is released; the default action would kill us on the spot."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, _terminated) for signum in signums}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
