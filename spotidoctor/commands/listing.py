"""``spotidoctor list`` and ``spotidoctor explain ID``."""
from __future__ import annotations

from spotidoctor.commands.options import ExplainOptions, ListOptions
from spotidoctor.engine.session import make_session
from spotidoctor.errors import UsageError
from spotidoctor.fixes import FixAvailability

FIX_LABEL = {FixAvailability.NONE: "-", FixAvailability.SOMETIMES: "sometimes",
             FixAvailability.ALWAYS: "yes"}


def run_list(options: ListOptions) -> int:
    session = make_session(options.session)
    checks = session.registry.checks
    width = max((len(c.id) for c in checks), default=10)
    print(f"{'ID':<{width}}  {'FIX':<9}  TITLE")
    for entry in session.registry.loaded:
        check = entry.check
        origin = "" if entry.origin == "bundled" else f"  [{entry.origin}]"
        print(f"{check.id:<{width}}  {FIX_LABEL[check.fix_availability]:<9}  {check.title}{origin}")
    for problem in session.registry.problems:
        print(f"! {problem.origin}: {problem.message}")
    return 0


def run_explain(options: ExplainOptions) -> int:
    session = make_session(options.session)
    check = session.registry.by_id().get(options.check_id)
    if check is None:
        raise UsageError(f"unknown check {options.check_id!r} (see `spotidoctor list`)")
    print(f"{check.id}: {check.title}")
    print(f"  category: {check.category}   severity: {check.severity.name.lower()}   "
          f"timeout: {check.timeout_s:g}s   fixes: {FIX_LABEL[check.fix_availability]}")
    if check.requires:
        print(f"  requires: {', '.join(check.requires)}")
    if check.tags:
        print(f"  tags: {', '.join(sorted(check.tags))}")
    print(f"  from: {session.registry.origin_of(check.id)}")
    print()
    print(check.explanation())
    return 0
