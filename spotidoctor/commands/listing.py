"""``spotidoctor list [--json]`` and ``spotidoctor explain ID_OR_NAMESPACE``."""
from __future__ import annotations

import json
from collections.abc import Sequence

from spotidoctor.api import Check
from spotidoctor.commands.options import ExplainOptions, ListOptions
from spotidoctor.engine.registry import Registry
from spotidoctor.engine.session import make_session
from spotidoctor.errors import UsageError
from spotidoctor.fixes import FixAvailability
from spotidoctor.render.doctext import namespace_of, package_doc, plain
from spotidoctor.suggest import did_you_mean
from spotidoctor.types import JSONValue

FIX_LABEL = {FixAvailability.NONE: "-", FixAvailability.SOMETIMES: "sometimes",
             FixAvailability.ALWAYS: "yes"}
LIST_SCHEMA = 1


def run_list(options: ListOptions) -> int:
    session = make_session(options.session)
    if options.json:
        print(json.dumps(list_document(session.registry), indent=2))
        return 0
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


def check_to_json(check: type[Check], origin: str) -> dict[str, JSONValue]:
    requires: list[JSONValue] = [*check.requires]
    tags: list[JSONValue] = [*sorted(check.tags)]
    return {"id": check.id, "namespace": namespace_of(check.id), "title": check.title,
            "category": check.category, "severity": check.severity.name.lower(),
            "requires": requires, "tags": tags,
            "fixes": check.fix_availability.value, "timeout_s": check.timeout_s, "origin": origin}


def list_document(registry: Registry) -> dict[str, JSONValue]:
    """``list --json``: schema 1; add keys, never rename or remove."""
    return {"schema": LIST_SCHEMA,
            "checks": [check_to_json(e.check, e.origin) for e in registry.loaded],
            "problems": [{"origin": p.origin, "message": p.message, "check_id": p.check_id}
                         for p in registry.problems]}


def run_explain(options: ExplainOptions) -> int:
    session = make_session(options.session)
    registry = session.registry
    wanted = options.check_id.rstrip(".")
    check = registry.by_id().get(wanted)
    if check is not None:
        explain_check(check, registry.origin_of(check.id))
        return 0
    members = [c for c in registry.checks if namespace_of(c.id) == wanted]
    if members:
        explain_namespace(wanted, members)
        return 0
    known = [*registry.by_id(), *{namespace_of(c.id) for c in registry.checks}]
    raise UsageError(f"unknown check or namespace {options.check_id!r}{did_you_mean(wanted, known)} "
                     "(see `spotidoctor list`)")


def explain_check(check: type[Check], origin: str) -> None:
    print(f"{check.id}: {check.title}")
    print(f"  category: {check.category}   severity: {check.severity.name.lower()}   "
          f"timeout: {check.timeout_s:g}s   fixes: {FIX_LABEL[check.fix_availability]}")
    if check.requires:
        print(f"  requires: {', '.join(check.requires)}")
    if check.tags:
        print(f"  tags: {', '.join(sorted(check.tags))}")
    print(f"  from: {origin}")
    print()
    print(plain(check.explanation()))


def explain_namespace(namespace: str, members: Sequence[type[Check]]) -> None:
    print(f"{namespace}: {len(members)} check(s)")
    doc = package_doc(members[0], namespace)
    if doc:
        print()
        print(doc)
    print()
    width = max(len(c.id) for c in members)
    for check in members:
        needs = f"  (after {', '.join(check.requires)})" if check.requires else ""
        print(f"  {check.id:<{width}}  {check.title}{needs}")
    print(f"\nEach one in full: spotidoctor explain {members[0].id}")
