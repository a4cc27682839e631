"""Build a report bundle: run the checks, execute every collection spec, assemble the
redacted members. Reads only; writing and the leak scan are the command's job.

    bundle = gather(session, Options())
    members = assemble(bundle, Redactor(bundle.identity, tokens), created="...")
"""
from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from spotidoctor import __version__
from spotidoctor.api import Check, Context
from spotidoctor.bundle import contained
from spotidoctor.bundle import identity as identity_mod
from spotidoctor.bundle.archive import Member
from spotidoctor.bundle.collect import GLOBAL_ORIGIN, Collector, Item, ItemStatus, Limits, ManifestEntry
from spotidoctor.bundle.identity import Identity
from spotidoctor.bundle.logs import launch_logs
from spotidoctor.bundle.redact import Redactor, distinctive
from spotidoctor.bundle.sources import global_spec
from spotidoctor.bundle.spec import BundleSpec
from spotidoctor.bundle.summary import SummaryInput, render
from spotidoctor.engine.planning import session_plan
from spotidoctor.engine.registry import Registry
from spotidoctor.engine.reporter import Reporter
from spotidoctor.engine.results import exit_code, with_problem_rows
from spotidoctor.engine.runner import run_checks
from spotidoctor.engine.session import Session
from spotidoctor.model import CheckResult
from spotidoctor.render.jsonout import document
from spotidoctor.types import JSONValue

MANIFEST_SCHEMA = 1


@dataclass(frozen=True)
class Options:
    redact: bool = True
    include_logs: int = 3
    collect_timeout_s: float = 5.0  # a check's collect() only declares; it must be quick
    limits: Limits = field(default_factory=Limits)


@dataclass(frozen=True)
class Bundle:
    results: list[CheckResult]
    items: list[Item]
    identity: Identity
    exit_code: int  # what `spotidoctor check` would have returned


def plugin_lines(registry: Registry) -> list[str]:
    lines = [f"{e.check.id} [{e.origin}]" for e in registry.loaded]
    return lines + [f"problem: {p.origin}: {p.message}" for p in registry.problems]


def gather(session: Session, options: Options, *, extra_hostnames: Iterable[str] = (),
           reporter: Reporter | None = None, on_item: Callable[[int, int], None] | None = None) -> Bundle:
    """``reporter`` sees the checks run, ``on_item(done, total)`` the collection (progress)."""
    ctx = session.ctx
    selection = session_plan(session)
    report = run_checks(session, selection, reporter)
    results = with_problem_rows(session.registry, report.results)
    ident = identity_mod.gather(ctx, extra_hostnames=extra_hostnames)
    # collect() sees every result in ctx.prior, so a failed check can ask for more evidence.
    with_results = dataclasses.replace(ctx, prior={r.check_id: r for r in results})
    specs, notes = check_specs(selection.checks, with_results, options.collect_timeout_s)
    collector = Collector(ctx, limits=options.limits)
    items = collector.run([global_spec(ctx, plugin_lines=plugin_lines(session.registry)), *specs], on_item)
    items += collector.admit(notes)
    items += collector.admit(launch_logs(ctx, options.include_logs))
    vocabulary = [i.text for i in items if i.text is not None and not _container_written(i, ctx)]
    ident = dataclasses.replace(ident, spotify_users=distinctive(ident.spotify_users, vocabulary))
    return Bundle(results, items, ident, int(exit_code(results)))


def _container_written(item: Item, ctx: Context) -> bool:
    """Text Spotify (the container) chose: its logs and files from its storage."""
    return item.entry.kind == "log" or contained.tree_of(item.entry.source, contained.container_trees(ctx)) is not None


def check_specs(checks: Sequence[type[Check]], ctx: Context, timeout_s: float) -> tuple[list[BundleSpec], list[Item]]:
    """Each check's ``collect()`` on its own spec, bounded in time; failures become notes."""
    specs: list[BundleSpec] = []
    notes: list[Item] = []
    for check in checks:
        if check.collect is Check.collect:  # declares nothing
            continue
        spec = BundleSpec(origin=check.id)
        problem = _declare(check, spec, ctx, timeout_s)
        if problem:
            notes.append(Item(ManifestEntry(f"facts/checks/{check.id}", "collect", f"{check.id}.collect()",
                                            check.id, ItemStatus.SKIPPED, problem)))
        else:
            specs.append(spec)
    return specs, notes


def _declare(check: type[Check], spec: BundleSpec, ctx: Context, timeout_s: float) -> str | None:
    outcome: list[str | None] = []

    def target() -> None:
        try:
            check().collect(spec, ctx)
            outcome.append(None)
        except Exception as exc:
            outcome.append(f"collect() raised {type(exc).__name__}: {exc}")

    thread = threading.Thread(target=target, daemon=True, name=f"collect {check.id}")
    thread.start()
    thread.join(timeout_s)
    if not outcome:
        return f"collect() did not finish within {timeout_s:g}s; its items were dropped"
    return outcome[0]


# -- assembling the members --------------------------------------------------------------------

def _json(doc: object) -> str:
    # ensure_ascii=False: a non-ASCII user name must stay visible to the redactor and the scan.
    return json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n"


def manifest_doc(bundle: Bundle, redactor: Redactor, created: str,
                 extra: Sequence[ManifestEntry]) -> dict[str, JSONValue]:
    entries: list[JSONValue] = []
    for entry in [*(i.entry for i in bundle.items), *extra]:
        data = entry.to_json()
        data["name"] = redactor.name(entry.name)  # exactly the member's name
        entries.append(data)
    return {"schema": MANIFEST_SCHEMA, "spotidoctor_version": __version__, "created": created,
            "redacted": redactor.identity_on, "items": entries}


def assemble(bundle: Bundle, redactor: Redactor, *, created: str) -> list[Member]:
    """Every member, redacted: collected items, summary.md, results.json, manifest.json,
    redaction.json (counts only, never values)."""
    members = [Member(redactor.name(i.entry.name), redactor.text(i.text).encode())
               for i in bundle.items if i.text is not None]
    summary = render(SummaryInput(bundle.results, bundle.items, redactor.identity_on, created))
    results = document("report", bundle.results, bundle.exit_code,
                       extra={"report": {"created": created, "redacted": redactor.identity_on}})
    generated = [("summary.md", summary), ("results.json", _json(results))]
    members += [Member(name, redactor.text(text).encode()) for name, text in generated]
    extra = [ManifestEntry(name, "generated", "spotidoctor", GLOBAL_ORIGIN, ItemStatus.COLLECTED,
                           size=len(text.encode())) for name, text in
             [*generated, ("manifest.json", ""), ("redaction.json", "")]]
    manifest = _json(manifest_doc(bundle, redactor, created, extra))
    members.append(Member("manifest.json", redactor.text(manifest).encode()))
    members.append(Member("redaction.json", _json(redaction_doc(redactor)).encode()))
    return members


def redaction_doc(redactor: Redactor) -> dict[str, object]:
    return {
        "identity_redaction": "on" if redactor.identity_on else "off (--no-redact)",
        **redactor.summary(),
        "never_collected": ["pulse cookies", "Xauthority contents", "Spotify autologin.* (credentials)",
                            "values of environment variables whose names look secret", "private keys"],
        "token_map": "kept outside the archive, in the user's state directory",
    }
