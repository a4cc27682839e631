"""``spotidoctor launch``: preflight, build the image when missing, run Spotify, diagnose a crash.

1. Preflight: the checks tagged ``launch`` run; their safe fixes are offered (``--yes``
   applies them without asking) under the fix lock; an error-severity problem that remains
   refuses the launch unless ``--force``. The storage guard is never overridable.
2. The image is built when it is missing (with the build's progress display), and rebuilt
   first when ``auto_update = true`` and a newer Spotify exists (``commands.launchimage``).
3. ``podman run`` (``spotidoctor.backend.runargs``) runs /usr/bin/spotify as the configured
   uid, attached to the terminal; the launch record is written before and after, and a
   non-zero exit runs the crash diagnosis. ``--dry-run`` prints the command with reasons.
"""
from __future__ import annotations

import dataclasses
import os
import shlex
import sys
import time
from collections.abc import Sequence
from typing import TextIO

from spotidoctor.api import Context
from spotidoctor.backend import host as hostfacts
from spotidoctor.backend.build import BUILD_FIX_ID
from spotidoctor.backend.images import PODMAN_TIMEOUT_S
from spotidoctor.backend.limits import lift_address_space, limits_record
from spotidoctor.backend.runargs import Arg, HostFacts, RunSpec, argv, missing_parts, run_argv, storage_paths
from spotidoctor.backend.storageguard import storage_refusal as refusal
from spotidoctor.commands.launchimage import prepare_image
from spotidoctor.commands.live import LiveChecks
from spotidoctor.commands.options import LaunchOptions
from spotidoctor.commands.reporting import FixProgress
from spotidoctor.crash import launchlog
from spotidoctor.engine.fixer import FixPolicy, candidates, refreshed
from spotidoctor.engine.fixloop import Confirm, fix_loop
from spotidoctor.engine.planning import launch_plan
from spotidoctor.engine.runner import run_checks
from spotidoctor.engine.session import Session, make_session
from spotidoctor.exitcodes import ExitCode
from spotidoctor.fixes import Applicability, Fix, Privilege
from spotidoctor.lock import exclusive
from spotidoctor.model import CheckResult, Status
from spotidoctor.types import JSONValue

# The build runs in step 2 with its own progress display, not as a preflight fix.
DEFERRED_FIXES = frozenset({BUILD_FIX_ID})
# A missing image is built in step 2: not a reason to refuse the launch.
BUILT_LATER = frozenset({"image.present"})
PREFLIGHT_POLICY = FixPolicy(min_applicability=Applicability.SAFE, max_privilege=Privilege.USERNS)
STOPPED = (130, 143)  # Ctrl-C / `podman stop`: the user ended it, not a crash

REFUSED = ("Launch refused: {count} problem(s) must be fixed first: {ids}.\n"
           "  → `spotidoctor fix` applies the safe fixes; `spotidoctor check -v` explains the rest.\n"
           "  → `spotidoctor launch --force` starts anyway (Spotify may fail to start, show nothing or "
           "stay silent).")
FORCED = ("WARNING: --force: launching although {count} check(s) fail: {ids}. "
          "Spotify may fail to start, show no window or play no sound.")
STORAGE_REFUSED = ("Launch refused: spotidoctor will not mount {path} into the container: {reason}.\n"
                   "  → `spotidoctor fix storage` prepares the storage directory; --force does not "
                   "override this guard.")
BUSY_NAME = ("A container named {name} exists already (is Spotify running? see `podman ps -a`). "
             "Stop it with `podman stop {name}`, or set another container_name.")


def blocking(results: Sequence[CheckResult]) -> list[CheckResult]:
    return [r for r in results if r.is_blocking and r.check_id not in BUILT_LATER]


# -- preflight ----------------------------------------------------------------------------

def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def confirmer(yes: bool, stdin: TextIO, out: TextIO) -> Confirm:
    def confirm(fix: Fix) -> bool:
        if fix.id in DEFERRED_FIXES:
            return False
        if yes:
            return True
        if not _isatty(stdin):
            print(f"  not applied: {fix.title} (no terminal to ask; --yes applies safe fixes)", file=out)
            return False
        print(f"Apply safe fix: {fix.title}? [y/N] ", end="", file=out, flush=True)
        return stdin.readline().strip().lower() in ("y", "yes")

    return confirm


def preflight(session: Session, options: LaunchOptions, stdin: TextIO,
              out: TextIO) -> tuple[Session, list[CheckResult]]:
    """Run the launch checks; apply the safe fixes they offer (the lock only while fixing).

    Returns the session to launch with: after fixes, with config.toml read again (a fix
    may have changed it) and fresh shared probe answers.
    """
    selection = launch_plan(session, slow=not options.dry_run)
    with LiveChecks(out, session.ctx.env, (), show_results=False) as live:  # the status line, on a terminal
        results = run_checks(session, selection, live).results
    fixable = [c for c in candidates(results)
               if PREFLIGHT_POLICY.allows(c.fix) and c.fix.id not in DEFERRED_FIXES]
    if options.dry_run or not fixable:
        return session, results
    with exclusive(session.ctx.paths.lock_file, "launch"):
        outcome = fix_loop(session, selection, PREFLIGHT_POLICY, confirmer(options.yes, stdin, out), FixProgress(out))
    if outcome.applied:
        session = Session(refreshed(session.ctx), session.registry)
    return session, outcome.results


def show_preflight(session: Session, results: Sequence[CheckResult], verbose: bool, out: TextIO) -> None:
    from spotidoctor.render import summary_line
    from spotidoctor.render.text import emit, result_lines

    lines = []
    for result in results:
        if verbose or result.status not in (Status.OK, Status.SKIP):
            lines += result_lines(result, verbose)
    lines.append(("bold", f"Preflight: {summary_line(results)}"))
    emit(lines, out, session.ctx.env)


# -- pieces of the launch -------------------------------------------------------------------

def storage_refusal(ctx: Context) -> tuple[str, str] | None:
    """(path, reason) when a storage directory must not be mounted; never overridable."""
    for path in (ctx.storage_dir, *storage_paths(ctx.storage_dir)):
        reason = refusal(ctx, path)
        if reason:
            return path, reason
    return None


def launch_dir(ctx: Context, launch_id: str) -> str:
    return os.path.join(ctx.paths.launches_dir, launch_id)


def make_spec(ctx: Context, options: LaunchOptions, directory: str) -> RunSpec:
    return RunSpec.from_config(ctx.config, home=ctx.user.home,
                               log_path=os.path.join(directory, launchlog.CONTAINER_LOG),
                               network=options.network, spotify_args=options.spotify_args)


def print_dry_run(pairs: Sequence[Arg], out: TextIO) -> None:
    width = min(40, max(len(shlex.quote(arg)) for arg, _ in pairs))
    print("# spotidoctor launch --dry-run: the podman command, one argument per line with why", file=out)
    for arg, why in pairs:
        print(f"{shlex.quote(arg):<{width}}  # {why}", file=out)


def name_in_use(ctx: Context) -> bool:
    done = ctx.probes.cmd.run(("podman", "container", "exists", ctx.config.container_name),
                              timeout=PODMAN_TIMEOUT_S)
    return done.returncode == 0


def new_record(ctx: Context, spec: RunSpec, pairs: Sequence[Arg], directory: str,
               results: Sequence[CheckResult], host_extra: dict[str, JSONValue]) -> launchlog.LaunchRecord:
    host = {**hostfacts.host_record(ctx, results), **host_extra}
    return launchlog.LaunchRecord(
        launch_id=os.path.basename(directory), directory=directory, started=time.time(),
        argv=tuple(argv(pairs)), image=spec.image, container_name=spec.container_name, profile=spec.profile,
        shm_size=spec.shm_size, spotify_args=(*spec.config_spotify_args, *spec.cli_spotify_args),
        rlimits=limits_record(ctx.probes.procs), host=host)


def diagnose(ctx: Context, record: launchlog.LaunchRecord, out: TextIO) -> None:
    from spotidoctor.crash.launches import diagnose_launch
    from spotidoctor.render.text import emit, result_lines

    code = record.exit_code
    if code in STOPPED:
        print(f"Spotify was stopped (exit status {code}).", file=out)
        return
    print(f"Spotify exited with status {code}; diagnosing (container log: {record.log_path})", file=out)
    try:
        verdict = diagnose_launch(ctx, record)
    except NotImplementedError:
        print("  crash diagnosis is not available in this version; read the container log above.", file=out)
        return
    except Exception as exc:  # the diagnosis must never hide Spotify's own exit status
        print(f"  crash diagnosis failed ({type(exc).__name__}: {exc}); read the container log.", file=out)
        return
    emit(result_lines(verdict, verbose=ctx.verbose), out, ctx.env)


def run_container(ctx: Context, options: LaunchOptions, results: Sequence[CheckResult], host: HostFacts,
                  out: TextIO) -> int:
    fs = ctx.probes.fs
    directory = launch_dir(ctx, launchlog.new_launch_id())
    fs.make_private_dirs(directory, top=ctx.paths.state_dir)  # podman's log goes here too
    launchlog.rotate(fs, ctx.paths.launches_dir, ctx.config.keep_launch_logs)
    lifted = lift_address_space() if ctx.config.lift_rlimit_as else None
    spec = make_spec(ctx, options, directory)
    pairs = run_argv(spec, host)
    extra: dict[str, JSONValue] = {"launch_profile": spec.profile, "network": spec.network or "podman default"}
    if lifted is not None:
        extra["rlimit_as_before"] = [lifted.before.soft, lifted.before.hard]
    record = new_record(ctx, spec, pairs, directory, results, extra)
    launchlog.save(fs, record)
    for problem in missing_parts(host):
        print(f"warning: {problem}", file=out)
    print(f"Starting Spotify from {spec.image} (profile {spec.profile}); container log: {spec.log_path}",
          file=out, flush=True)
    sys.stderr.flush()
    code = ctx.probes.cmd.interactive(argv(pairs))
    record = dataclasses.replace(record, ended=time.time(), exit_code=code)
    launchlog.save(fs, record)
    if code != 0:
        diagnose(ctx, record, out)
    return code


# -- the command ------------------------------------------------------------------------------

def gate(results: Sequence[CheckResult], force: bool, out: TextIO, err: TextIO) -> int:
    problems = blocking(results)
    if not problems:
        return 0
    ids = ", ".join(r.check_id for r in problems)
    if not force:
        print(REFUSED.format(count=len(problems), ids=ids), file=out)
        return int(ExitCode.PROBLEMS)
    print(FORCED.format(count=len(problems), ids=ids), file=err, flush=True)
    return 0


def with_network(session: Session, network: str | None) -> Session:
    """``--network`` becomes the config's ``network``, so the preflight checks the mode the
    launch will use (a broken default network does not matter with ``--network none``)."""
    if network is None:
        return session
    ctx = session.ctx
    # Also an override, so a config.toml re-read after fixes keeps it (fixer.refreshed).
    overrides = {**ctx.config_overrides, "network": network}
    ctx = dataclasses.replace(ctx, config=ctx.config.with_overrides(network=network), config_overrides=overrides)
    return Session(ctx, session.registry)


def run(options: LaunchOptions) -> int:
    session = with_network(make_session(options.session), options.network)
    return launch(session, options, sys.stdin, sys.stdout, sys.stderr)


def launch(session: Session, options: LaunchOptions, stdin: TextIO, out: TextIO, err: TextIO) -> int:
    results: list[CheckResult] = []
    shown = err if options.dry_run else out
    if not options.no_check:
        session, results = preflight(session, options, stdin, shown)
        show_preflight(session, results, options.session.verbose, shown)
    ctx = session.ctx
    refused = gate(results, options.force, shown, err)
    guard = storage_refusal(ctx)
    if options.dry_run:
        return _dry_run(ctx, options, results, guard, refused, out, err)
    if refused:
        return refused
    if guard:
        print(STORAGE_REFUSED.format(path=guard[0], reason=guard[1]), file=out)
        return int(ExitCode.PROBLEMS)
    code = prepare_image(ctx, results, out)  # built when missing, updated first with auto_update
    if code:
        return code
    if name_in_use(ctx):
        print(BUSY_NAME.format(name=ctx.config.container_name), file=out)
        return int(ExitCode.PROBLEMS)
    return run_container(ctx, options, results, hostfacts.gather(ctx, results), out)


def _dry_run(ctx: Context, options: LaunchOptions, results: Sequence[CheckResult], guard: tuple[str, str] | None,
             refused: int, out: TextIO, err: TextIO) -> int:
    host = hostfacts.gather(ctx, results)
    print_dry_run(run_argv(make_spec(ctx, options, launch_dir(ctx, "LAUNCH_ID")), host), out)
    if guard:
        print(STORAGE_REFUSED.format(path=guard[0], reason=guard[1]), file=err)
    return int(ExitCode.PROBLEMS) if (refused or guard) else 0
