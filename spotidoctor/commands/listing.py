"""``spotidoctor list [--json]`` and ``spotidoctor explain ID_OR_NAMESPACE``."""
from __future__ import annotations

import inspect
import json
import sys
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
    owners = fix_owners(registry, wanted)
    if owners is not None:
        explain_fix(wanted, owners, registry)
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


def _source(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError:
        return ""


def _class_source(cls: type) -> str:
    try:
        return inspect.getsource(cls)
    except (OSError, TypeError):
        return ""


def fix_owners(registry: Registry, fix_id: str) -> list[type[Check]] | None:
    """The checks whose module has the fix id ``fix_id`` (a fix's id is a string constant or
    literal in its domain's code: ``"x11.write-container-cookie"``); an empty list when only
    another loaded module has it (a shared ``fixes.py``, ``backend.build``); None when no
    loaded module of spotidoctor or its plugins knows it."""
    literal = f'"{fix_id}"'
    members = [c for c in registry.checks if namespace_of(c.id) == namespace_of(fix_id)]
    owners = [c for c in members if literal in _class_source(c)]
    owners = owners or [c for c in members if literal in _source(inspect.getsourcefile(c) or "")]
    if owners:
        return owners
    loaded = [m for name, m in list(sys.modules.items()) if name.startswith("spotidoctor") and m is not None]
    if any(fix_id in (v for v in vars(m).values() if isinstance(v, str)) for m in loaded):
        return []
    return None


def explain_fix(fix_id: str, owners: Sequence[type[Check]], registry: Registry) -> None:
    if owners:
        ids = ", ".join(c.id for c in owners)
        print(f"{fix_id}: a fix offered by {ids}")
        print(f"  `spotidoctor fix --dry-run {owners[0].id}` shows what it would change; "
              f"`spotidoctor fix {owners[0].id}` applies it when it is safe.")
        print("  What each fix changes and how to undo it: docs/security.md.\n")
        explain_check(owners[0], registry.origin_of(owners[0].id))
        return
    namespace = namespace_of(fix_id)
    print(f"{fix_id}: a fix of the {namespace} checks")
    print(f"  `spotidoctor explain {namespace}` lists them; `spotidoctor fix --dry-run {namespace}` shows "
          "what their fixes would change. What each fix changes and how to undo it: docs/security.md.")


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
