"""``spotidoctor fix``: run checks, apply the fixes policy allows, re-check, report.

Safe fixes are applied by `fix` itself (asking for it is the consent, as with
``ruff --fix``); unsafe ones need ``--unsafe`` and a confirmation (or ``--yes``); steps
needing root need ``--allow-root`` and run through ``sudo``, one at a time. Manual fixes
are printed. The check -> fix -> re-check loop itself is the engine's (``engine.fixloop``).
"""
from __future__ import annotations

import sys
from typing import TextIO

from spotidoctor.commands.fixsummary import summary_lines
from spotidoctor.commands.options import FixOptions
from spotidoctor.commands.reporting import FixProgress
from spotidoctor.engine import fixer
from spotidoctor.engine.fixloop import Confirm, fix_loop
from spotidoctor.engine.planning import Plan, session_plan
from spotidoctor.engine.results import exit_code, with_problem_rows
from spotidoctor.engine.runner import run_checks
from spotidoctor.engine.session import Session, make_session
from spotidoctor.fixes import Applicability, Fix, Privilege
from spotidoctor.lock import exclusive


def policy_from(options: FixOptions) -> fixer.FixPolicy:
    return fixer.FixPolicy(
        min_applicability=Applicability.UNSAFE if options.unsafe else Applicability.SAFE,
        max_privilege=Privilege.ROOT if options.allow_root else Privilege.USERNS,
    )


def _print_plan(session: Session, selection: Plan, policy: fixer.FixPolicy, out: TextIO) -> int:
    report = run_checks(session, selection)
    env = fixer.StepEnvironment.from_context(session.ctx)
    cands = fixer.candidates(report.results)
    if not cands:
        print("Nothing to fix.", file=out)
    for cand in cands:
        verdict = "would apply" if policy.allows(cand.fix) else f"not applied ({policy.why_not(cand.fix)})"
        print(f"{cand.result.check_id}: {cand.fix.title}  [{cand.fix.applicability.label}, "
              f"{cand.fix.privilege.label}] — {verdict}", file=out)
        for line in fixer.preview(cand.fix, env):
            print("  " + line, file=out)
    print("(dry run: nothing was changed)", file=out)
    return int(exit_code(report.results))


def _confirmer(yes: bool, stdin: TextIO, out: TextIO) -> Confirm:
    def confirm(fix: Fix) -> bool:
        needs_consent = fix.applicability is Applicability.UNSAFE or fix.privilege is Privilege.ROOT
        if not needs_consent or yes:
            return True
        if not stdin.isatty():
            print(f"skipping {fix.title!r}: {fix.applicability.label}/{fix.privilege.label} fixes need a "
                  "terminal to confirm, or --yes", file=out)
            return False
        print(f"Apply {fix.applicability.label} fix: {fix.title}? [y/N] ", end="", file=out, flush=True)
        return stdin.readline().strip().lower() in ("y", "yes")

    return confirm


def run(options: FixOptions, stdin: TextIO = sys.stdin, out: TextIO = sys.stdout) -> int:
    session = make_session(options.session, fresh=True)  # fixes act on, and are verified by, real re-tests
    if options.list_backups:
        return _list_backups(session, out)
    selection = session_plan(session, options.selectors, options.ignore)
    policy = policy_from(options)
    if options.dry_run:
        return _print_plan(session, selection, policy, out)
    progress = FixProgress(out, policy, session.ctx.env)
    with exclusive(session.ctx.paths.lock_file, "fix"), progress:
        outcome = fix_loop(session, selection, policy, _confirmer(options.yes, stdin, out), progress)
    results = with_problem_rows(session.registry, outcome.results)
    partial = bool(options.selectors or options.ignore)
    progress.output.lines(summary_lines(outcome, results, fixer.StepEnvironment.from_context(session.ctx), partial))
    return int(exit_code(results))


def _list_backups(session: Session, out: TextIO) -> int:
    import shlex
    import time

    from spotidoctor.backups import BackupStore

    store = BackupStore(session.ctx.probes.fs, session.ctx.paths.backup_dir)
    entries = store.entries()
    if not entries:
        print("No backups.", file=out)
    for entry in entries:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry.created))
        print(f"{when}  {entry.original}\n    restore: cp -- {shlex.quote(entry.copy)} "
              f"{shlex.quote(entry.original)}", file=out)
    return 0
