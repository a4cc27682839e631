"""``spotidoctor fix``: run checks, apply the fixes policy allows, re-check, report.

Safe fixes are applied by `fix` itself (asking for it is the consent, as with
``ruff --fix``); unsafe ones need ``--unsafe`` and a confirmation (or ``--yes``); steps
needing root need ``--allow-root`` and run through ``sudo``, one at a time. Manual fixes
are printed. Re-checking continues for a few rounds, because a fixed prerequisite lets
dependent checks run and offer their own fixes.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from typing import Callable, TextIO

from spotidoctor import fixer
from spotidoctor.commands.common import exit_code, make_plan, problem_rows, run_plan
from spotidoctor.fixes import Applicability, Fix, Privilege
from spotidoctor.lock import exclusive
from spotidoctor.model import CheckResult, Status
from spotidoctor.runner import Plan
from spotidoctor.session import Session, make_session

MAX_ROUNDS = 4
Confirm = Callable[[Fix], bool]


@dataclass
class FixOutcome:
    results: list[CheckResult]
    applied: list[fixer.Applied] = field(default_factory=list)
    withheld: list[tuple[fixer.Candidate, str]] = field(default_factory=list)


def policy_from(args: argparse.Namespace) -> fixer.FixPolicy:
    return fixer.FixPolicy(
        min_applicability=Applicability.UNSAFE if args.unsafe else Applicability.SAFE,
        max_privilege=Privilege.ROOT if args.allow_root else Privilege.USERNS,
    )


def fix_loop(session: Session, selection: Plan, policy: fixer.FixPolicy, confirm: Confirm,
             out: TextIO) -> FixOutcome:
    """Check, apply what policy and ``confirm`` allow, re-check; repeat while fixes appear."""
    env = fixer.StepEnvironment.from_context(session.ctx)
    attempted: set[str] = set()
    outcome = FixOutcome(results=[])
    for _ in range(MAX_ROUNDS):
        outcome.results = run_plan(session, selection).results
        todo = []
        outcome.withheld = []
        for cand in fixer.candidates(outcome.results):
            if cand.fix.id in attempted:
                continue
            if not policy.allows(cand.fix):
                outcome.withheld.append((cand, policy.why_not(cand.fix)))
            elif confirm(cand.fix):
                todo.append(cand)
            else:
                outcome.withheld.append((cand, "declined"))
        if not todo:
            break
        for cand in todo:
            attempted.add(cand.fix.id)
            print(f"→ {cand.fix.title}  [{cand.fix.applicability.label}, {cand.fix.privilege.label}]",
                  file=out)
            applied = fixer.apply(cand, env)
            outcome.applied.append(applied)
            for record in applied.steps:
                print(f"    {'✓' if record.ok else '✗'} {record.outcome}", file=out)
            for description in applied.not_run:
                print(f"    - not run: {description}", file=out)
        session = Session(fixer.refreshed(session.ctx), session.registry)
    return outcome


def _print_plan(session: Session, selection: Plan, policy: fixer.FixPolicy, out: TextIO) -> int:
    report = run_plan(session, selection)
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


def _confirmer(args: argparse.Namespace, stdin: TextIO, out: TextIO) -> Confirm:
    def confirm(fix: Fix) -> bool:
        needs_consent = fix.applicability is Applicability.UNSAFE or fix.privilege is Privilege.ROOT
        if not needs_consent or args.yes:
            return True
        if not stdin.isatty():
            print(f"skipping {fix.id}: {fix.applicability.label}/{fix.privilege.label} fixes need a "
                  "terminal to confirm, or --yes", file=out)
            return False
        print(f"Apply {fix.applicability.label} fix: {fix.title}? [y/N] ", end="", file=out, flush=True)
        return stdin.readline().strip().lower() in ("y", "yes")

    return confirm


def _report(outcome: FixOutcome, session: Session, args: argparse.Namespace, out: TextIO) -> None:
    from spotidoctor.render.text import all_lines, emit

    status = {r.check_id: r.status for r in outcome.results}
    for applied in outcome.applied:
        state = status.get(applied.check_id)
        if not applied.ok:
            verdict = "failed (see above)"
        elif state in (Status.OK, Status.WARN):
            verdict = "fixed (verified)"
        else:
            verdict = f"applied, but {applied.check_id} still reports {state.value if state else '?'}"
        print(f"{applied.fix.id}: {verdict}", file=out)
    if outcome.withheld:
        print("\nNot applied:", file=out)
        env = fixer.StepEnvironment.from_context(session.ctx)
        for cand, why in outcome.withheld:
            print(f"  {cand.result.check_id}: {cand.fix.title} — {why}", file=out)
            for line in fixer.preview(cand.fix, env):
                print("    " + line, file=out)
    print(file=out)
    rows = [*problem_rows(session.registry), *outcome.results]
    emit(all_lines(rows, args.verbose), out, session.ctx.env)


def run(args: argparse.Namespace, stdin: TextIO = sys.stdin, out: TextIO = sys.stdout) -> int:
    session = make_session(args, fresh=True)  # fixes act on, and are verified by, real re-tests
    if args.list_backups:
        return _list_backups(session, out)
    selection = make_plan(session, args.selectors, args.ignore)
    policy = policy_from(args)
    if args.dry_run:
        return _print_plan(session, selection, policy, out)
    with exclusive(session.ctx.paths.lock_file, "fix"):
        outcome = fix_loop(session, selection, policy, _confirmer(args, stdin, out), out)
    _report(outcome, session, args, out)
    return int(exit_code([*problem_rows(session.registry), *outcome.results]))


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
