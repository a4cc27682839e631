"""Command line: ``spotidoctor check | fix | launch | build | rollback | report | desktop | stop | list |
explain | completion``.

Kept import-light: subcommand modules (and rich, Xlib, pulsectl) load only when used, so
``--version`` and ``--help`` start fast. The global options (``-v``, ``--config``, the
configuration overrides) are accepted before or after the subcommand; ``spotidoctor --help``
lists them and the exit codes once, each subcommand's ``--help`` only its own options.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import re
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from spotidoctor import __version__
from spotidoctor.error_handler import guarded
from spotidoctor.exitcodes import EXIT_CODE_HELP, ExitCode, FinalStatus
from spotidoctor.suggest import did_you_mean

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

DESCRIPTION = (
    "Diagnose, fix and launch the Spotify desktop client in a rootless podman container: "
    "X11 display and cookie, PulseAudio/PipeWire socket and cookie, subuid/subgid mapping, "
    "storage ownership, podman runtime, image, and crash logs."
)
SUBCOMMAND_EPILOG = ("Global options (-v, --config PATH, --image NAME, --profile, ...) work before or after "
                     "the command; `spotidoctor --help` lists them and the exit codes.")
INVALID_CHOICE = re.compile(r"invalid choice: '(?P<word>[^']*)' \(choose from (?P<choices>.*)\)")


def _image_reference(value: str) -> str:
    """--image as podman would read it: a bad reference is a usage error, never podman's."""
    from spotidoctor.hardening.names import image_problems

    problems = image_problems(value)
    if problems:
        raise argparse.ArgumentTypeError(problems[0])
    return value


class Parser(argparse.ArgumentParser):
    """argparse with "did you mean" on a mistyped command, choice or option."""

    def _print_message(self, message: str, file: SupportsWrite[str] | None = None) -> None:
        # argparse swallows write errors; a closed pipe must reach main() like any other.
        if message:
            (file or sys.stderr).write(message)

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(int(ExitCode.USAGE), f"{self.prog}: error: {_with_hint(message, self)}\n")


def _with_hint(message: str, parser: argparse.ArgumentParser) -> str:
    choice = INVALID_CHOICE.search(message)
    if choice:
        choices = [c.strip().strip("'") for c in choice["choices"].split(",")]
        if message.startswith("argument COMMAND"):
            return f"unknown command {choice['word']!r}{did_you_mean(choice['word'], choices)}; " \
                   f"commands: {', '.join(choices)}"
        return message + did_you_mean(choice["word"], choices)
    if message.startswith("unrecognized arguments:"):
        options = [o for action in parser._actions for o in action.option_strings]
        hints = [did_you_mean(arg.split("=", 1)[0], options) for arg in message.split(":", 1)[1].split()
                 if arg.startswith("-")]
        return message + "".join(hint for hint in hints if hint)
    return message


def _common(parser: argparse.ArgumentParser, *, hidden: bool = False) -> None:
    """The global options. On a subcommand they are ``hidden`` (shown once, by ``--help``)
    and default to "not given", so a value given before the subcommand is kept."""
    extra: dict[str, Any] = {"default": argparse.SUPPRESS} if hidden else {}

    def text(words: str) -> str:
        return argparse.SUPPRESS if hidden else words

    group = parser.add_argument_group("global options (before or after the command; override config.toml)")
    group.add_argument("--config", metavar="PATH",
                       help=text("config file (default: $XDG_CONFIG_HOME/spotidoctor/config.toml)"), **extra)
    group.add_argument("--image", metavar="NAME", type=_image_reference, **extra,
                       help=text("image name (default: spotify_pod; NAME:previous is the one the last rebuild "
                                 "replaced)"))
    group.add_argument("--container-name", metavar="NAME",
                       help=text("container name (default: spotify-container)"), **extra)
    group.add_argument("--storage-dir", metavar="DIR",
                       help=text("storage with config/ and cache/ (default: ~/.spotify)"), **extra)
    group.add_argument("--uid", type=int, metavar="UID",
                       help=text("uid of spotify_user in the image (default: 1500)"), **extra)
    group.add_argument("--profile", choices=("isolated", "keep-id"), help=text("run profile (default: isolated)"),
                       **extra)
    group.add_argument("--checks-dir", action="append", metavar="DIR", help=text("also load drop-in checks from DIR"),
                       **extra)
    group.add_argument("--no-plugins", action="store_true", help=text("only the bundled checks"), **extra)
    group.add_argument("-v", "--verbose", action="store_true", help=text("show info messages, facts, timings"),
                       **extra)


def _selection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("selectors", nargs="*", metavar="ID_OR_PREFIX",
                        help="checks to run: an id (x11.connect), a namespace (pulse) or a glob (x11.*)")
    parser.add_argument("--ignore", action="append", default=[], metavar="ID",
                        help="do not run this check (or prefix/glob); repeatable")


def _add(sub: argparse._SubParsersAction[Any], name: str, target: str,
         help: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help, description=help, epilog=SUBCOMMAND_EPILOG)
    parser.set_defaults(target=target)
    _common(parser, hidden=True)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="spotidoctor", description=DESCRIPTION, epilog=EXIT_CODE_HELP,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"spotidoctor {__version__}")
    _common(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

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

    _add(sub, "rollback", "spotidoctor.commands.rollback:run",
         "make IMAGE:previous (the image the last rebuild replaced) current again")

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

    listing = _add(sub, "list", "spotidoctor.commands.listing:run_list", "list checks")
    listing.add_argument("--json", action="store_true", help="print the checks as one JSON document")
    explain = _add(sub, "explain", "spotidoctor.commands.listing:run_explain",
                   "explain a check, or every check of a namespace (pulse)")
    explain.add_argument("check_id", metavar="ID_OR_NAMESPACE")
    completion = _add(sub, "completion", "spotidoctor.commands.completion:run",
                      "print a shell completion script (bash, zsh or fish)")
    completion.add_argument("shell", choices=("bash", "zsh", "fish"))
    return parser


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The subcommands' parsers by name, in the order ``--help`` lists them."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def parse(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace:
    """``parse_args``, but an unknown option is the subcommand's error (its usage, its options)."""
    args, extras = parser.parse_known_args(list(argv))
    if extras:
        owner = subcommands(parser).get(args.command or "", parser)
        owner.error(f"unrecognized arguments: {' '.join(extras)}")
    return args


def _dispatch(args: argparse.Namespace) -> int:
    """Typed options from the command line, then the subcommand's handler with them."""
    from spotidoctor.commands.options import options_from

    options = options_from(args)
    module_name, _, func_name = args.target.partition(":")
    func = getattr(importlib.import_module(module_name), func_name)
    code = func(options)
    return code if isinstance(code, FinalStatus) else int(code)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; a reader that goes away (``| head``) ends it quietly. Run as the
    program (no ``argv``), a ``FinalStatus`` ends the process at once (``_exit_now``)."""
    try:
        code = _main(list(sys.argv[1:] if argv is None else argv))
        sys.stdout.flush()
    except BrokenPipeError:
        return _reader_gone()
    if argv is None and isinstance(code, FinalStatus):
        _exit_now(code)
    return code


def _exit_now(code: int) -> None:
    """``os._exit`` once stdout and stderr are flushed and only daemon threads are left (they
    would be stopped at exit anyway); otherwise the normal exit, which waits for the others."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return
    if all(t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        os._exit(code)


def _main(argv: list[str]) -> int:
    parser = build_parser()
    try:
        args = parse(parser, argv)
    except SystemExit as exc:  # --help, --version, a usage error: argparse has printed it
        return exc.code if isinstance(exc.code, int) else int(ExitCode.USAGE)
    if args.command is None:
        parser.print_help()
        return int(ExitCode.USAGE)
    with _exit_cleanly_on(signal.SIGTERM, signal.SIGHUP):
        return guarded(lambda: _dispatch(args), ["spotidoctor", *argv])


def _reader_gone() -> int:
    """``spotidoctor list | head -1``: say nothing more, and keep Python from complaining
    when it flushes stdout at exit; the status a shell gives a program SIGPIPE ended."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
    return int(ExitCode.PIPE_CLOSED)


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
