"""Find checks: bundled (``spotidoctor.checks``), installed plugins (entry-point group
``spotidoctor.checks``) and drop-in files (``$XDG_CONFIG_HOME/spotidoctor/checks.d/*.py``).

Discovery and validation are separate pure-ish stages, like flake8's finder. A plugin
that fails to import, or declares a bad check, becomes a ``PluginProblem`` that the CLI
reports as an error row; it never stops the run.

Only code the running user (or root) owns and nobody else can change is imported
(``plugintrust``): run as root with another user's ``HOME``, that user's drop-ins and
user-site plugins are skipped, and ``list`` says why.
"""
from __future__ import annotations

import graphlib
import hashlib
import importlib
import importlib.util
import os
import pkgutil
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from types import ModuleType

from spotidoctor.api import ID_PATTERN, NAMESPACES, Check
from spotidoctor.engine.plugintrust import Trust, read_trusted_source
from spotidoctor.errors import PluginLoadError
from spotidoctor.model import Severity

ENTRY_POINT_GROUP = "spotidoctor.checks"
DROPIN_PREFIX = "spotidoctor._dropin"


@dataclass(frozen=True)
class Loaded:
    check: type[Check]
    origin: str  # "bundled", "plugin <dist> (<entry point>)", "drop-in <path>"


@dataclass(frozen=True)
class PluginProblem:
    origin: str
    message: str
    check_id: str | None = None


@dataclass(frozen=True)
class Registry:
    loaded: tuple[Loaded, ...]
    problems: tuple[PluginProblem, ...]

    @property
    def checks(self) -> tuple[type[Check], ...]:
        return tuple(entry.check for entry in self.loaded)

    def origin_of(self, check_id: str) -> str:
        return next((e.origin for e in self.loaded if e.check.id == check_id), "?")

    def by_id(self) -> dict[str, type[Check]]:
        return {entry.check.id: entry.check for entry in self.loaded}


# -- sources -----------------------------------------------------------------------------

def _checks_of(obj: object) -> list[type[Check]]:
    """A module exporting CHECKS, a Check subclass, or an iterable of them."""
    if isinstance(obj, ModuleType):
        obj = getattr(obj, "CHECKS", None)
        if obj is None:
            raise TypeError("module has no CHECKS tuple")
    if isinstance(obj, type):
        obj = (obj,)
    if not isinstance(obj, Iterable):
        raise TypeError(f"expected Check classes, got {type(obj).__name__}")
    found = list(obj)
    for item in found:
        if not (isinstance(item, type) and issubclass(item, Check)):
            raise TypeError(f"{item!r} is not a spotidoctor.api.Check subclass")
    return found


def bundled(only: Sequence[str] | None = None) -> Iterator[tuple[str, object]]:
    """The bundled check packages in ``ORDER``; ``only``: just these (``("storage", "x11")``)."""
    package = importlib.import_module("spotidoctor.checks")
    order = list(getattr(package, "ORDER", ()))

    def rank(info: pkgutil.ModuleInfo) -> tuple[int, str]:
        return (order.index(info.name) if info.name in order else len(order), info.name)

    for info in sorted(pkgutil.iter_modules(package.__path__), key=rank):
        if only is not None and info.name not in only:
            continue
        name = f"{package.__name__}.{info.name}"
        try:
            yield "bundled", importlib.import_module(name)
        except Exception as exc:  # a broken bundled module must not hide the others
            yield "bundled", PluginLoadError(name, exc)


def entry_points(disabled: Sequence[str] = (), trust: Trust | None = None) -> Iterator[tuple[str, object]]:
    from importlib.metadata import distributions

    trust = trust or Trust()
    seen: set[tuple[str, str]] = set()
    for dist in distributions():
        ours = [ep for ep in dist.entry_points if ep.group == ENTRY_POINT_GROUP]
        if not ours:
            continue  # dist.name parses the METADATA file: only for plugins (~8 ms a run)
        dist_name = dist.name or "?"
        for ep in ours:
            # Some Pythons have a distribution on sys.path twice (RHEL); load it once.
            if (dist_name, ep.name) in seen:
                continue
            seen.add((dist_name, ep.name))
            origin = f"plugin {dist_name} ({ep.name})"
            if ep.name in disabled or dist_name in disabled:
                continue
            problem = trust.module_problem(ep.module)
            if problem:
                yield origin, PluginLoadError(origin, UntrustedPlugin(problem))
                continue
            try:
                yield origin, ep.load()
            except Exception as exc:
                yield origin, PluginLoadError(origin, exc)


def dropin_files(directories: Sequence[str]) -> list[str]:
    files = []
    for directory in directories:
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            continue
        files += [os.path.join(directory, n) for n in names if n.endswith(".py") and not n.startswith(".")]
    return files


class UntrustedPlugin(ImportError):
    """The plugin's code belongs to someone else or others may change it: never imported."""

    def __repr__(self) -> str:
        return f"not imported: {self}"


def load_dropin(path: str, trust: Trust | None = None) -> ModuleType:
    """Import a file under a private unique name; never via sys.path (a drop-in called
    ``x11.py`` must not shadow anything). The source is read from one open descriptor whose
    owner and mode were checked, so the file cannot be swapped between check and import."""
    source, problem = read_trusted_source(path, trust or Trust())
    if problem:
        raise UntrustedPlugin(problem)
    digest = hashlib.sha1(os.path.abspath(path).encode()).hexdigest()[:8]
    stem = "".join(c if c.isalnum() else "_" for c in os.path.basename(path)[:-3])
    name = f"{DROPIN_PREFIX}.{stem}_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before exec: dataclasses and pickling look it up
    try:
        exec(compile(source, path, "exec"), module.__dict__)  # noqa: S102 - the checked bytes, not the path again
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def dropins(directories: Sequence[str], trust: Trust | None = None) -> Iterator[tuple[str, object]]:
    for path in dropin_files(directories):
        origin = f"drop-in {path}"
        try:
            yield origin, load_dropin(path, trust)
        except Exception as exc:
            yield origin, PluginLoadError(origin, exc)


# -- validation --------------------------------------------------------------------------

def _metadata_problem(check: type[Check], origin: str) -> str | None:
    check_id = getattr(check, "id", None)
    if not isinstance(check_id, str) or not ID_PATTERN.match(check_id):
        return f"{check.__name__}: invalid id {check_id!r} (expected dotted lowercase, e.g. x11.display)"
    if origin == "bundled" and check_id.split(".")[0] not in NAMESPACES:
        return f"{check_id}: bundled checks must use one of the namespaces {', '.join(NAMESPACES)}"
    if not isinstance(getattr(check, "title", None), str) or not check.title:
        return f"{check_id}: missing title"
    severity: object = getattr(check, "severity", None)
    if not isinstance(severity, Severity):
        return f"{check_id}: severity must be a spotidoctor.api.Severity"
    if not (isinstance(check.timeout_s, (int, float)) and check.timeout_s > 0):
        return f"{check_id}: timeout_s must be a positive number"
    if inspect_abstract(check):
        return f"{check_id}: run() is not implemented"
    return None


def inspect_abstract(check: type[Check]) -> bool:
    return bool(getattr(check, "__abstractmethods__", None))


def build(sources: Iterable[tuple[str, object]]) -> Registry:
    loaded: list[Loaded] = []
    problems: list[PluginProblem] = []
    origins: dict[str, str] = {}
    for origin, payload in sources:
        if isinstance(payload, PluginLoadError):
            skipped = isinstance(payload.original, UntrustedPlugin)
            message = repr(payload.original) if skipped else f"failed to load: {payload.original!r}"
            problems.append(PluginProblem(origin, message))
            continue
        try:
            checks = _checks_of(payload)
        except TypeError as exc:
            problems.append(PluginProblem(origin, str(exc)))
            continue
        for check in checks:
            problem = _metadata_problem(check, origin)
            if problem is None and check.id in origins:
                problem = f"{check.id}: duplicate id (also defined by {origins[check.id]})"
            if problem:
                problems.append(PluginProblem(origin, problem, getattr(check, "id", None)))
                continue
            origins[check.id] = origin
            loaded.append(Loaded(check, origin))
    return _drop_unresolvable(Registry(tuple(loaded), tuple(problems)))


def _drop_unresolvable(registry: Registry) -> Registry:
    """Remove checks whose ``requires`` name unknown ids or form a cycle (reported)."""
    known = registry.by_id()
    problems = list(registry.problems)
    bad: set[str] = set()
    for entry in registry.loaded:
        missing = [r for r in entry.check.requires if r not in known]
        if missing:
            problems.append(PluginProblem(entry.origin, f"{entry.check.id}: requires unknown check(s) "
                                          f"{', '.join(missing)}", entry.check.id))
            bad.add(entry.check.id)
    graph = {cid: set(c.requires) for cid, c in known.items()}
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        cycle = exc.args[1]
        problems.append(PluginProblem("registry", f"requires cycle: {' -> '.join(cycle)}"))
        bad.update(cycle)
    # Anything depending (transitively) on a dropped check goes too.
    changed = True
    while changed:
        changed = False
        for cid, check in known.items():
            if cid not in bad and any(r in bad for r in check.requires):
                bad.add(cid)
                changed = True
                problems.append(PluginProblem(registry.origin_of(cid),
                                              f"{cid}: a required check was rejected", cid))
    kept = tuple(e for e in registry.loaded if e.check.id not in bad)
    return Registry(kept, tuple(problems))


def discover(dropin_dirs: Sequence[str] = (), *, plugins: bool = True,
             disabled: Sequence[str] = (), trust: Trust | None = None) -> Registry:
    """``trust``: whose code may be imported (default: the running euid and root)."""
    def sources() -> Iterator[tuple[str, object]]:
        yield from bundled()
        if plugins:
            yield from entry_points(disabled, trust)
            yield from dropins(dropin_dirs, trust)

    return build(sources())
