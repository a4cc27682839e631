"""Typed options per command, built from the parsed command line in one place (``options_from``).

Command handlers take these frozen dataclasses, never an ``argparse.Namespace``. The options
every command shares are the engine's ``SessionOptions``.
"""
from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

from spotidoctor.engine.session import SessionOptions

# Commands that may answer from the result cache (`check --fresh` turns it off).
READS_CACHE = frozenset({"check", "launch"})


@dataclass(frozen=True)
class CheckOptions:
    session: SessionOptions
    selectors: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    json: bool = False


@dataclass(frozen=True)
class FixOptions:
    session: SessionOptions
    selectors: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    unsafe: bool = False
    allow_root: bool = False
    dry_run: bool = False
    yes: bool = False
    list_backups: bool = False


@dataclass(frozen=True)
class LaunchOptions:
    session: SessionOptions
    network: str | None = None
    dry_run: bool = False
    no_check: bool = False
    yes: bool = False
    force: bool = False
    spotify_args: tuple[str, ...] = ()


@dataclass(frozen=True)
class BuildOptions:
    session: SessionOptions
    containerfile: str | None = None
    build_args: tuple[str, ...] = ()
    no_cache: bool = False
    network: str | None = None


@dataclass(frozen=True)
class RollbackOptions:
    session: SessionOptions


@dataclass(frozen=True)
class ReportOptions:
    session: SessionOptions
    output: str | None = None
    preview: bool = False
    no_redact: bool = False
    include_logs: int = 3
    overwrite: bool = False  # replace an existing -o file
    time_limit_s: float = 600.0  # the whole report, checks included


@dataclass(frozen=True)
class ListOptions:
    session: SessionOptions
    json: bool = False


@dataclass(frozen=True)
class ExplainOptions:
    session: SessionOptions
    check_id: str


@dataclass(frozen=True)
class DesktopOptions:
    session: SessionOptions
    action: str  # "install" | "uninstall"


@dataclass(frozen=True)
class StopOptions:
    session: SessionOptions


@dataclass(frozen=True)
class CompletionOptions:
    session: SessionOptions
    shell: str = "bash"


CommandOptions = (CheckOptions | FixOptions | LaunchOptions | BuildOptions | ReportOptions | ListOptions
                  | ExplainOptions | DesktopOptions | StopOptions | CompletionOptions | RollbackOptions)


def session_options(args: argparse.Namespace, *, fresh: bool = False) -> SessionOptions:
    """The options every subcommand has (``cli._common``)."""
    return SessionOptions(
        config_path=args.config, image=args.image, container_name=args.container_name,
        storage_dir=args.storage_dir, container_uid=args.uid, profile=args.profile,
        checks_dirs=tuple(args.checks_dir or ()), plugins=not args.no_plugins, verbose=args.verbose,
        reuse_cache=args.command in READS_CACHE and not fresh,
    )


def _check(args: argparse.Namespace) -> CheckOptions:
    return CheckOptions(session_options(args, fresh=args.fresh), tuple(args.selectors), tuple(args.ignore),
                        args.json)


def _fix(args: argparse.Namespace) -> FixOptions:
    return FixOptions(session_options(args), tuple(args.selectors), tuple(args.ignore), args.unsafe,
                      args.allow_root, args.dry_run, args.yes, args.list_backups)


def _launch(args: argparse.Namespace) -> LaunchOptions:
    spotify_args = list(args.spotify_args or ())
    if spotify_args[:1] == ["--"]:  # `launch -- --some-flag`: the separator is not an argument
        spotify_args = spotify_args[1:]
    return LaunchOptions(session_options(args), args.network, args.dry_run, args.no_check, args.yes, args.force,
                         tuple(spotify_args))


def _build(args: argparse.Namespace) -> BuildOptions:
    return BuildOptions(session_options(args), args.containerfile, tuple(args.build_arg), args.no_cache,
                        args.network)


def _rollback(args: argparse.Namespace) -> RollbackOptions:
    return RollbackOptions(session_options(args))


def _report(args: argparse.Namespace) -> ReportOptions:
    return ReportOptions(session_options(args), args.output, args.preview, args.no_redact, args.include_logs,
                         args.overwrite, args.time_limit)


def _list(args: argparse.Namespace) -> ListOptions:
    return ListOptions(session_options(args), args.json)


def _explain(args: argparse.Namespace) -> ExplainOptions:
    return ExplainOptions(session_options(args), args.check_id)


def _desktop(args: argparse.Namespace) -> DesktopOptions:
    return DesktopOptions(session_options(args), args.action)


def _stop(args: argparse.Namespace) -> StopOptions:
    return StopOptions(session_options(args))


def _completion(args: argparse.Namespace) -> CompletionOptions:
    return CompletionOptions(session_options(args), args.shell)


BUILDERS: dict[str, Callable[[argparse.Namespace], CommandOptions]] = {
    "check": _check, "fix": _fix, "launch": _launch, "build": _build, "report": _report, "list": _list,
    "explain": _explain, "desktop": _desktop, "stop": _stop, "completion": _completion, "rollback": _rollback,
}


def options_from(args: argparse.Namespace) -> CommandOptions:
    """The typed options of the subcommand ``args`` was parsed for."""
    return BUILDERS[args.command](args)
