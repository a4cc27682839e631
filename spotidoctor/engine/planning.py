"""What to run: ``check SELECTOR... --ignore ...`` (selectors pull in their prerequisites),
the configured ignores, and the launch preflight (the checks tagged ``launch``)."""
from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from spotidoctor.api import Check
from spotidoctor.engine.session import Session
from spotidoctor.errors import UsageError
from spotidoctor.suggest import did_you_mean

LAUNCH_TAG = "launch"
SLOW_TAG = "slow"  # starts containers: left out of dry runs


def matches(check_id: str, selector: str) -> bool:
    """``x11.display`` exact; ``x11`` or ``x11.`` a namespace; ``x11.*`` / ``*cookie*`` globs."""
    if any(ch in selector for ch in "*?["):
        return fnmatch.fnmatchcase(check_id, selector)
    return check_id == selector or check_id.startswith(selector.rstrip(".") + ".")


@dataclass(frozen=True)
class Plan:
    checks: tuple[type[Check], ...]  # in registry order, prerequisites included
    ignored: frozenset[str] = frozenset()


def plan(available: Sequence[type[Check]], selectors: Sequence[str] = (),
         ignore: Iterable[str] = ()) -> Plan:
    """What to run for ``check SELECTOR... --ignore ...``; unknown selectors are usage errors."""
    by_id = {c.id: c for c in available}
    ignore = tuple(ignore)
    for selector in selectors:
        if not any(matches(cid, selector) for cid in by_id):
            known = [*by_id, *{cid.partition(".")[0] for cid in by_id}]
            raise UsageError(f"no check matches {selector!r}{did_you_mean(selector.rstrip('.'), known)} "
                             "(see `spotidoctor list`)")
    wanted = {cid for cid in by_id if not selectors or any(matches(cid, s) for s in selectors)}
    stack = list(wanted)
    while stack:  # pull in prerequisites (ruff/flake8 --select semantics)
        for req in by_id[stack.pop()].requires:
            if req not in wanted:
                wanted.add(req)
                stack.append(req)
    ignored = frozenset(cid for cid in wanted if any(matches(cid, s) for s in ignore))
    chosen = tuple(c for c in available if c.id in wanted)
    return Plan(chosen, ignored)


def session_plan(session: Session, selectors: Sequence[str] = (), ignore: Sequence[str] = ()) -> Plan:
    """``plan`` over the session's checks, the config's ``ignore`` list added to ``ignore``."""
    return plan(session.registry.checks, selectors, [*session.ctx.config.ignore, *ignore])


def launch_plan(session: Session, *, slow: bool = True) -> Plan:
    """The checks tagged ``launch``, their prerequisites, minus the configured ignores.

    ``slow=False`` (dry runs) also leaves out checks tagged ``slow``, which start throwaway
    containers; their dependents are then skipped.
    """
    checks = session.registry.checks
    tagged = [c.id for c in checks if LAUNCH_TAG in c.tags]
    if not tagged:
        return Plan(())
    ignore = [*session.ctx.config.ignore, *([] if slow else [c.id for c in checks if SLOW_TAG in c.tags])]
    return plan(checks, tagged, ignore)
