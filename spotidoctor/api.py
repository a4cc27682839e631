"""The public surface for check authors (bundled, entry-point and drop-in checks).

A check is a class with declarative metadata and a read-only ``run(ctx)``::

    from spotidoctor.api import Check, Context, CheckResult, Message

    class SpotifyPrefsPresent(Check):
        '''What it checks: ... Why it matters: ... Fix safety: ...'''

        id = "storage.prefs-present"
        title = "Spotify has saved its preferences"
        category = "storage"

        def run(self, ctx: Context) -> CheckResult:
            if ctx.probes.fs.exists(ctx.storage_dir + "/config/prefs"):
                return self.ok("prefs file present")
            return self.warn("no prefs yet", Message.hint("Log in once to create it."))

    CHECKS = (SpotifyPrefsPresent,)

Checks talk to the system only through ``ctx.probes``; they return fixes as data and
never apply them.
"""
from __future__ import annotations

import abc
import inspect
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from spotidoctor.config import Config
from spotidoctor.facts import F, Facts
from spotidoctor.fixes import Fix, FixAvailability
from spotidoctor.memo import Memo
from spotidoctor.model import CheckResult, Message, MessageKind, Severity, Status
from spotidoctor.paths import Paths, UserInfo
from spotidoctor.probes import Probes
from spotidoctor.resultcache import ResultCache
from spotidoctor.types import JSONValue

if TYPE_CHECKING:
    from spotidoctor.bundle.spec import BundleSpec

__all__ = ["Check", "Context", "CheckResult", "Message", "MessageKind", "Severity", "Status", "Fix",
           "FixAvailability", "Facts", "ID_PATTERN", "NAMESPACES"]

ID_PATTERN = re.compile(r"^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)+$")
# Bundled checks live in these namespaces; other tools and scripts rely on them.
NAMESPACES = ("x11", "pulse", "userns", "podman", "storage", "image", "crash", "dbus", "network", "desktop")


@dataclass(frozen=True)
class Context:
    """Everything a check may look at. Frozen; the runner gives each check its own copy."""

    probes: Probes
    env: Mapping[str, str]
    user: UserInfo
    paths: Paths
    config: Config
    memo: Memo = field(default_factory=Memo, compare=False)
    prior: Mapping[str, CheckResult] = field(default_factory=dict)
    verbose: bool = False
    config_overrides: Mapping[str, object] = field(default_factory=dict)  # from flags
    # Slow, rarely-changing probe answers kept between runs (off unless the session turns it on).
    cache: ResultCache = field(default_factory=ResultCache.off, compare=False)

    @property
    def storage_dir(self) -> str:
        return self.config.storage_path(self.user.home)

    def prior_fact(self, check_id: str, key: str) -> JSONValue:
        """A fact published by a prerequisite (declared in ``requires``), or None."""
        result = self.prior.get(check_id)
        return None if result is None else result.facts.get(key)

    def prior_facts(self, kind: type[F]) -> F | None:
        """The typed facts a prerequisite published (``kind.publisher`` is in ``requires``), or None."""
        result = self.prior.get(kind.publisher)
        return None if result is None else kind.from_json(result.facts)


class Check(abc.ABC):
    """Base class for checks. Subclass, set the metadata, implement ``run``."""

    id: ClassVar[str]
    title: ClassVar[str]
    category: ClassVar[str] = "general"
    severity: ClassVar[Severity] = Severity.ERROR
    requires: ClassVar[tuple[str, ...]] = ()
    timeout_s: ClassVar[float] = 10.0
    # "launch": part of the `spotidoctor launch` preflight; "slow": starts containers etc.
    tags: ClassVar[frozenset[str]] = frozenset()
    fix_availability: ClassVar[FixAvailability] = FixAvailability.NONE

    def applies(self, ctx: Context) -> str | None:
        """None when the check applies here, else the reason it is skipped."""
        return None

    @abc.abstractmethod
    def run(self, ctx: Context) -> CheckResult:
        """Diagnose. Read-only: fixes are returned, never applied."""

    def collect(self, spec: BundleSpec, ctx: Context) -> None:  # noqa: B027 - optional: most checks declare nothing
        """Declare what a bug report should contain for this check (optional)."""

    # -- result helpers -----------------------------------------------------------------
    def _result(self, status: Status, summary: str, messages: tuple[Message, ...],
                facts: Mapping[str, JSONValue] | None, fixes: tuple[Fix, ...]) -> CheckResult:
        return CheckResult(self.id, status, summary, messages, fixes, dict(facts or {}), self.severity)

    def ok(self, summary: str, *messages: Message, facts: Mapping[str, JSONValue] | None = None,
           fixes: tuple[Fix, ...] = ()) -> CheckResult:
        return self._result(Status.OK, summary, messages, facts, fixes)

    def warn(self, summary: str, *messages: Message, facts: Mapping[str, JSONValue] | None = None,
             fixes: tuple[Fix, ...] = ()) -> CheckResult:
        return self._result(Status.WARN, summary, messages, facts, fixes)

    def fail(self, summary: str, *messages: Message, facts: Mapping[str, JSONValue] | None = None,
             fixes: tuple[Fix, ...] = ()) -> CheckResult:
        return self._result(Status.FAIL, summary, messages, facts, fixes)

    def skip(self, reason: str, *, facts: Mapping[str, JSONValue] | None = None) -> CheckResult:
        return self._result(Status.SKIP, reason, (), facts, ())

    # -- documentation ------------------------------------------------------------------
    @classmethod
    def explanation(cls) -> str:
        return inspect.cleandoc(cls.__doc__ or "") or cls.title
