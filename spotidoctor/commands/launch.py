"""``spotidoctor launch``: preflight, build the image when missing, run Spotify, diagnose a crash.

0. The configuration is validated before podman is asked anything (exit 2 with the problems).
   One Spotify at a time: when its container runs already, the links are handed to it and the
   launch ends there, before any preflight or lock (``launcher.daily.hand_over``).
1. Preflight: the checks tagged ``launch`` run; their safe fixes are offered (``--yes``
   applies them without asking) under the fix lock; an error-severity problem that remains
   refuses the launch unless ``--force``. The storage guard is never overridable. Every
   setting that widens the sandbox is named.
2. The image is built when it is missing (with the build's progress display), and rebuilt
   first when ``auto_update = true`` and a newer Spotify exists (``commands.launchimage``).
3. The launch supervisor (``spotidoctor.launcher``) opens the channels, runs ``podman run``
   with its output filtered, and stops the channels when it ends; a non-zero exit runs the
   crash diagnosis. ``--dry-run`` prints the command with reasons and the channels.
"""
from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

from spotidoctor.api import Context
from spotidoctor.backend import host as hostfacts
from spotidoctor.backend.runargs import storage_paths
from spotidoctor.backend.storageguard import storage_refusal as refusal
from spotidoctor.commands.launchstamp import ENDED_CLEANLY, Stamper, full_reason, session_key
from spotidoctor.commands.options import LaunchOptions
from spotidoctor.engine.session import Session, make_context, registry_for
from spotidoctor.exitcodes import ExitCode, FinalStatus
from spotidoctor.fixes import Applicability, Fix, Privilege
from spotidoctor.launcher import sandbox
from spotidoctor.launcher.fastpath import FastVerdict, name_in_use, prepare_fast_path
from spotidoctor.launcher.phases import PhaseClock
from spotidoctor.launcher.stamp import forget_stamp
from spotidoctor.lock import exclusive
from spotidoctor.model import CheckResult, Status

if TYPE_CHECKING:
    from spotidoctor.engine.fixer import FixPolicy
    from spotidoctor.engine.fixloop import Confirm
    from spotidoctor.launcher import daily

# What only the full preflight, a build or a dry run needs is imported where it is used:
# the fast path's start-up is most of what a fast launch adds to podman's own time.

# The build runs in step 2 with its own progress display, not as a preflight fix.
DEFERRED_FIXES = frozenset({"image.build"})  # backend.build.BUILD_FIX_ID (a test keeps them equal)
# A missing image is built in step 2: not a reason to refuse the launch.
BUILT_LATER = frozenset({"image.present"})
def preflight_policy() -> FixPolicy:
    from spotidoctor.engine.fixer import FixPolicy

    return FixPolicy(min_applicability=Applicability.SAFE, max_privilege=Privilege.USERNS)

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
    from spotidoctor.commands.live import LiveChecks
    from spotidoctor.commands.reporting import FixProgress
    from spotidoctor.engine.fixer import candidates, refreshed
    from spotidoctor.engine.fixloop import fix_loop
    from spotidoctor.engine.planning import launch_plan
    from spotidoctor.engine.runner import run_checks

    policy = preflight_policy()
    selection = launch_plan(session, slow=not options.dry_run)
    with LiveChecks(out, session.ctx.env, (), show_results=False) as live:  # the status line, on a terminal
        results = run_checks(session, selection, live).results
    fixable = [c for c in candidates(results)
               if policy.allows(c.fix) and c.fix.id not in DEFERRED_FIXES]
    if options.dry_run or not fixable:
        return session, results
    with exclusive(session.ctx.paths.lock_file, "launch"):
        outcome = fix_loop(session, selection, policy, confirmer(options.yes, stdin, out), FixProgress(out))
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
    show_widenings(session.ctx, out)


def show_widenings(ctx: Context, out: TextIO) -> None:
    """Every setting that opens the sandbox, named with what it opens (never applied silently)."""
    for widening in sandbox.widenings(ctx.config, ctx.user, ctx.paths):
        print(f"WARNING: widens the sandbox: {widening.line}", file=out)
    for option in sandbox.unrecognised(ctx.config, ctx.user, ctx.paths):
        print(f"WARNING: {option}", file=out)


# -- pieces of the launch -------------------------------------------------------------------

def storage_refusal(ctx: Context) -> tuple[str, str] | None:
    """(path, reason) when a storage directory must not be mounted; never overridable."""
    for path in (ctx.storage_dir, *storage_paths(ctx.storage_dir)):
        reason = refusal(ctx, path)
        if reason:
            return path, reason
    return None




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
    return session if network is None else Session(network_ctx(session.ctx, network), session.registry)


def network_ctx(ctx: Context, network: str | None) -> Context:
    if network is None:
        return ctx
    # Also an override, so a config.toml re-read after fixes keeps it (fixer.refreshed).
    overrides = {**ctx.config_overrides, "network": network}
    return dataclasses.replace(ctx, config=ctx.config.with_overrides(network=network), config_overrides=overrides)


def run(options: LaunchOptions) -> int:
    """The fast path when the last clean launch vouches for the preflight (``launcher.fastpath``),
    else the full launch; ``-v`` ends with where the time went. Once it returns, the launch has
    nothing left to do (channels stopped, record and stamp written): a ``FinalStatus``."""
    code = _run(options)
    return code if options.dry_run else FinalStatus(code)


def _run(options: LaunchOptions) -> int:
    clock = PhaseClock()
    ctx = network_ctx(make_context(options.session), options.network)
    sandbox.validate(ctx.config, ctx.user.home)  # exit 2 before podman is asked anything
    pending = prepare_fast_path(ctx, session_key(options), full_reason=full_reason(options))
    if pending.container_absent:  # no Spotify runs: the live re-checks start before the handover's imports
        pending.start()
    from spotidoctor.launcher import daily

    handed = handover(ctx, options, sys.stdout, sys.stderr, known_absent=pending.container_absent)
    if not isinstance(handed, daily.Start):
        return handed
    clock.mark("is Spotify already running")
    pending.start()
    from spotidoctor.launcher import supervisor  # noqa: F401 - imported while the live re-checks run
    verdict = pending.verdict()
    try:
        if verdict.results is not None:
            clock.mark("preflight (fast path)")
            return launch_trusted(ctx, options, verdict, handed, sys.stdout, sys.stderr, clock)
        if pending.container_absent and daily.is_running(ctx):
            # The store's answer holds only with the fingerprint, which differs: podman is asked.
            again = handover(ctx, options, sys.stdout, sys.stderr)
            if not isinstance(again, daily.Start):
                return again
        if options.session.verbose:
            print(f"Full preflight: {verdict.reason}.", file=sys.stderr if options.dry_run else sys.stdout)
        clock.mark("fast path ruled out")
        session = Session(ctx, registry_for(ctx, options.session))
        clock.mark("loading the checks")
        return launch(session, options, sys.stdin, sys.stdout, sys.stderr, clock=clock, stamper=Stamper(ctx, options),
                      start=handed)
    finally:
        if options.session.verbose and not options.dry_run:
            clock.report(sys.stdout)


def handover(ctx: Context, options: LaunchOptions, out: TextIO, err: TextIO, *,
             known_absent: bool = False) -> int | daily.Start:
    """One Spotify: while it runs, links go to it and nothing else happens (no preflight, no
    lock); the exit status then, else what the new start gets. ``--dry-run`` only says which.
    ``known_absent``: podman's container store has no container of that name (podman not asked)."""
    from spotidoctor.launcher import daily

    if options.dry_run:
        return daily.describe_handover(ctx, options.spotify_args, err)
    return daily.hand_over(ctx, options.spotify_args, out, known_absent=known_absent)


def launch_trusted(ctx: Context, options: LaunchOptions, verdict: FastVerdict, start: daily.Start, out: TextIO,
                   err: TextIO, clock: PhaseClock) -> int:
    """The launch when ``trusted_preflight`` vouched for the preflight: the guards, then Spotify."""
    results = list(verdict.results or ())
    warned = sum(r.status in (Status.WARN, Status.FAIL) for r in results)
    print(f"Preflight: nothing changed since the last clean launch ({len(results)} checks, {warned} warning(s) "
          "then; the storage's owners, X access control and the image re-checked now; `spotidoctor check` "
          "shows all).", file=out)
    if options.session.verbose:
        print(f"  fast path: {verdict.reason}", file=out)
    show_widenings(ctx, out)
    guard = storage_refusal(ctx)
    if guard:
        print(STORAGE_REFUSED.format(path=guard[0], reason=guard[1]), file=out)
        return int(ExitCode.PROBLEMS)
    if verdict.name_busy if verdict.name_busy is not None else name_in_use(ctx):
        print(BUSY_NAME.format(name=ctx.config.container_name), file=out)
        return int(ExitCode.PROBLEMS)
    from spotidoctor.launcher import supervisor
    from spotidoctor.launcher.channels import LaunchRefused

    code: int | None = None
    try:
        code = supervisor.run_container(ctx, results, hostfacts.gather(ctx, results), out, err,
                                        network=options.network, start=start, clock=clock,
                                        image_id=verdict.image_id)
        return code
    except LaunchRefused as exc:
        print(f"Launch refused: {exc}", file=out)
        return int(ExitCode.PROBLEMS)
    finally:
        if code not in ENDED_CLEANLY:
            forget_stamp(ctx)


def launch(session: Session, options: LaunchOptions, stdin: TextIO, out: TextIO, err: TextIO, *,
           clock: PhaseClock | None = None, stamper: Stamper | None = None, start: daily.Start | None = None) -> int:
    """The full launch; ``start`` when ``run`` already ruled out a handover to a running Spotify."""
    from spotidoctor.launcher import daily

    sandbox.validate(session.ctx.config, session.ctx.user.home)  # exit 2 before podman is asked anything
    if start is None:
        handed = handover(session.ctx, options, out, err)
        if not isinstance(handed, daily.Start):
            return handed
        start = handed
    results: list[CheckResult] = []
    shown = err if options.dry_run else out
    if not options.no_check:
        checked, results = preflight(session, options, stdin, shown)
        if stamper is not None:
            stamper.after_preflight(checked.ctx, results, fixed=checked is not session)
        session = checked
        show_preflight(session, results, options.session.verbose, shown)
    else:
        show_widenings(session.ctx, shown)
    if clock is not None:
        clock.mark("preflight (full)")
    ctx = session.ctx
    sandbox.validate(ctx.config, ctx.user.home)  # a fix may have changed config.toml
    refused = gate(results, options.force, shown, err)
    guard = storage_refusal(ctx)
    if options.dry_run:
        from spotidoctor.commands import dryrunnotes

        dryrunnotes.report_unchecked([] if options.no_check else dryrunnotes.unchecked(session), err)
        return _dry_run(ctx, options, start, results, guard, refused, out, err)
    if refused:
        return refused
    if guard:
        print(STORAGE_REFUSED.format(path=guard[0], reason=guard[1]), file=out)
        return int(ExitCode.PROBLEMS)
    from spotidoctor.commands.launchimage import prepare_image

    code = prepare_image(ctx, results, out)  # built when missing, updated first with auto_update
    if code:
        return code
    if name_in_use(ctx):
        print(BUSY_NAME.format(name=ctx.config.container_name), file=out)
        return int(ExitCode.PROBLEMS)
    if clock is not None:
        clock.mark("image and container name")
    from spotidoctor.launcher import supervisor
    from spotidoctor.launcher.channels import LaunchRefused

    try:
        code = supervisor.run_container(ctx, results, hostfacts.gather(ctx, results), out, err,
                                        network=options.network, start=start, clock=clock)
        if stamper is not None:
            stamper.after_run(ctx, code)
        return code
    except LaunchRefused as exc:
        print(f"Launch refused: {exc}", file=out)
        return int(ExitCode.PROBLEMS)


def _dry_run(ctx: Context, options: LaunchOptions, start: daily.Start, results: Sequence[CheckResult],
             guard: tuple[str, str] | None, refused: int, out: TextIO, err: TextIO) -> int:
    from spotidoctor.commands import dryrunnotes
    from spotidoctor.launcher import daily, supervisor
    from spotidoctor.launcher.dryrun import print_dry_run
    from spotidoctor.launcher.plan import plan_channels

    host = hostfacts.gather(ctx, results)
    spec = supervisor.make_spec(ctx, supervisor.launch_dir(ctx, "LAUNCH_ID"), network=options.network,
                                spotify_args=start.other_args)
    caveat = dryrunnotes.caveat([r.check_id for r in blocking(results)], guard is not None)
    print_dry_run(spec, plan_channels(ctx, results, spec.network), host, ctx, out, err, caveat=caveat,
                  daily=daily.dry_run_parts(ctx, results, err), start=start)
    if guard:
        print(STORAGE_REFUSED.format(path=guard[0], reason=guard[1]), file=err)
    return int(ExitCode.PROBLEMS) if (refused or guard) else 0
