"""Immutable result model shared by checks, runner, renderers, fixer and report."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum, IntEnum

from spotidoctor.fixes import Fix
from spotidoctor.types import JSONScalar, JSONValue

__all__ = ["JSONScalar", "JSONValue", "Status", "Severity", "MessageKind", "Message", "CheckResult"]


class Status(str, Enum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"
    ERROR = "error"  # the check could not run: it crashed, timed out, or a plugin failed to load

    @property
    def is_problem(self) -> bool:
        return self in (Status.FAIL, Status.ERROR)


class Severity(IntEnum):
    """Impact of a FAIL. Only ERROR-severity failures make ``check`` exit 1."""

    INFO = 0
    WARNING = 1
    ERROR = 2


class MessageKind(str, Enum):
    INFO = "info"  # shown with --verbose
    HINT = "hint"
    ERROR = "error"


@dataclass(frozen=True)
class Message:
    """One finding, with nvim-style advice bullets (exact commands where possible)."""

    text: str
    kind: MessageKind = MessageKind.ERROR
    advice: tuple[str, ...] = ()
    url: str | None = None

    @classmethod
    def info(cls, text: str, *advice: str) -> Message:
        return cls(text, MessageKind.INFO, tuple(advice))

    @classmethod
    def hint(cls, text: str, *advice: str) -> Message:
        return cls(text, MessageKind.HINT, tuple(advice))

    @classmethod
    def error(cls, text: str, *advice: str) -> Message:
        return cls(text, MessageKind.ERROR, tuple(advice))


@dataclass(frozen=True)
class CheckResult:
    """What one check found. Built by ``Check.ok/warn/fail/skip``; stamped by the runner."""

    check_id: str
    status: Status
    summary: str
    messages: tuple[Message, ...] = ()
    fixes: tuple[Fix, ...] = ()
    facts: Mapping[str, JSONValue] = field(default_factory=dict)
    severity: Severity = Severity.ERROR
    duration_s: float = field(default=0.0, compare=False)
    title: str = field(default="", compare=False)  # stamped by the runner from the check class
    category: str = field(default="", compare=False)

    @property
    def is_blocking(self) -> bool:
        """True when this result alone makes ``check`` exit 1."""
        return self.status.is_problem and self.severity is Severity.ERROR

    @classmethod
    def skip(cls, check_id: str, reason: str) -> CheckResult:
        return cls(check_id, Status.SKIP, reason)

    @classmethod
    def error(cls, check_id: str, reason: str, *advice: str) -> CheckResult:
        messages = (Message.error(reason, *advice),) if advice else ()
        return cls(check_id, Status.ERROR, reason, messages)
