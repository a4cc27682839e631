"""Fix plans as data: what to change, how safe it is, and with which privilege.

A check never changes anything: it returns ``Fix`` objects inside its result. The fixer
filters them by policy (``--unsafe``, ``--allow-root``), shows them (``--dry-run`` prints
the exact commands and file diffs), applies them step by step and re-runs the checks.

Steps are small frozen dataclasses that know how to ``preview`` and ``apply`` themselves
through a ``StepEnv`` (the probes plus spotidoctor's own paths), so a check module can add
its own step type without touching the fixer. Steps never carry secret values: a step
that installs a cookie reads it at apply time.
"""
from __future__ import annotations

import difflib
import shlex
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import TYPE_CHECKING, ClassVar, Protocol

from spotidoctor.errors import FixFailed

if TYPE_CHECKING:
    from spotidoctor.backups import BackupStore
    from spotidoctor.paths import Paths
    from spotidoctor.probes import Probes
    from spotidoctor.types import JSONValue


class Applicability(IntEnum):
    """Ordered like ruff's: a fix applies when its applicability >= the policy's minimum."""

    MANUAL = 0  # printed as instructions, never executed by spotidoctor
    UNSAFE = 1  # may change behaviour or lose state: needs --unsafe
    SAFE = 2  # idempotent, user-owned state, backed up: applied by `fix`

    @property
    def label(self) -> str:
        return self.name.lower()


class Privilege(IntEnum):
    USER = 0  # as the invoking user
    USERNS = 1  # inside `podman unshare` (still unprivileged)
    ROOT = 2  # needs sudo: only with --allow-root, one step at a time

    @property
    def label(self) -> str:
        return self.name.lower()


class FixAvailability(str, Enum):
    NONE = "none"
    SOMETIMES = "sometimes"
    ALWAYS = "always"


class StepEnv(Protocol):
    """What a step may use while applying itself."""

    @property
    def probes(self) -> Probes: ...

    @property
    def paths(self) -> Paths: ...

    @property
    def backups(self) -> BackupStore: ...

    @property
    def env(self) -> dict[str, str]: ...


def report_progress(env: StepEnv, done: int, total: int | None) -> None:
    """Tell whoever shows the fix how far a long step is (nothing when nobody listens)."""
    listener = getattr(env, "progress", None)
    if callable(listener):
        listener(done, total)


def listens_for_progress(env: StepEnv) -> bool:
    return callable(getattr(env, "progress", None))


@dataclass(frozen=True)
class Step:
    """One action of a fix. Subclasses implement ``preview`` and ``apply``."""

    description: str
    kind: ClassVar[str] = "step"
    # How long a slow step may take and what Ctrl-C does to it ("" for quick steps); `fix`
    # says it in the plan and before the step starts.
    duration_hint: ClassVar[str] = ""

    @property
    def privilege(self) -> Privilege:
        return Privilege.USER

    def preview(self, env: StepEnv) -> list[str]:
        """Exactly what ``apply`` would do, as lines (commands, diffs). Changes nothing."""
        return []

    def apply(self, env: StepEnv) -> str:
        """Do it; return a one-line outcome. Raise ``FixFailed`` to stop the plan."""
        raise FixFailed(f"{self.kind} cannot be applied automatically")

    def to_json(self) -> dict[str, JSONValue]:
        return {"kind": self.kind, "description": self.description, "privilege": self.privilege.label}


@dataclass(frozen=True)
class RunCommand(Step):
    """Run an argv (never a shell string). ROOT steps are prefixed with ``sudo --``."""

    argv: tuple[str, ...] = ()
    run_as: Privilege = Privilege.USER
    timeout_s: float = 120.0
    kind: ClassVar[str] = "run"

    @property
    def privilege(self) -> Privilege:
        return self.run_as

    @property
    def effective_argv(self) -> tuple[str, ...]:
        if self.run_as is Privilege.ROOT:
            return ("sudo", "--", *self.argv)
        return self.argv

    def command_line(self) -> str:
        return shlex.join(self.effective_argv)

    def preview(self, env: StepEnv) -> list[str]:
        return [f"$ {self.command_line()}"]

    def apply(self, env: StepEnv) -> str:
        done = env.probes.cmd.run(self.effective_argv, timeout=self.timeout_s)
        if done.returncode != 0:
            raise FixFailed(f"`{self.command_line()}` failed: {done.error_text()}")
        return f"ran `{self.command_line()}`"

    def to_json(self) -> dict[str, JSONValue]:
        data = super().to_json()
        data["argv"] = list(self.effective_argv)
        return data


@dataclass(frozen=True)
class Instruction(Step):
    """Something only the user can do (log in again, ask an admin). Only ever printed."""

    text: str = ""
    kind: ClassVar[str] = "instruction"

    def preview(self, env: StepEnv) -> list[str]:
        return [self.text or self.description]


@dataclass(frozen=True)
class WriteFile(Step):
    """Write a text file atomically (temp file, fsync, rename), backing up the old one.

    Idempotent: identical content is left alone. ``secret`` hides the content in previews.
    ``private``: the file is spotidoctor's own (its runtime dir): the directory must be ours
    and private, never a symlink, or the step fails (``privatefs``).
    """

    path: str = ""
    content: str = ""
    mode: int = 0o644
    backup: bool = True
    secret: bool = False
    private: bool = False
    kind: ClassVar[str] = "write-file"

    def preview(self, env: StepEnv) -> list[str]:
        old = env.probes.fs.read_text_or_none(self.path)
        if old == self.content:
            return [f"{self.path}: already up to date"]
        if self.secret:
            return [f"write {self.path} (mode {self.mode:04o}; content not shown)"]
        diff = difflib.unified_diff(
            (old or "").splitlines(keepends=True),
            self.content.splitlines(keepends=True),
            fromfile=f"{self.path} (current)" if old is not None else "/dev/null",
            tofile=f"{self.path} (new)",
        )
        return [line.rstrip("\n") for line in diff]

    def apply(self, env: StepEnv) -> str:
        fs = env.probes.fs
        old = fs.read_text_or_none(self.path)
        if old == self.content:
            return f"{self.path} already up to date"
        saved = env.backups.save(self.path) if (self.backup and old is not None) else None
        if self.private:
            fs.write_private(self.path, self.content.encode(), mode=self.mode)
        else:
            fs.write_atomic(self.path, self.content.encode(), mode=self.mode)
        return f"wrote {self.path}" + (f" (backup: {saved})" if saved else "")

    def to_json(self) -> dict[str, JSONValue]:
        data = super().to_json()
        data["path"] = self.path
        data["mode"] = f"{self.mode:04o}"
        return data


@dataclass(frozen=True)
class MakeDirs(Step):
    """``private``: one of spotidoctor's own directories: an existing one must already be
    ours and private (0700, not a symlink), or the step fails saying so."""

    path: str = ""
    mode: int = 0o700
    private: bool = False
    kind: ClassVar[str] = "mkdir"

    def preview(self, env: StepEnv) -> list[str]:
        if env.probes.fs.is_dir(self.path):
            return [f"{self.path}: exists"]
        return [f"$ mkdir -p -m {self.mode:04o} -- {shlex.quote(self.path)}"]

    def apply(self, env: StepEnv) -> str:
        existed = env.probes.fs.is_dir(self.path)
        if self.private:
            env.probes.fs.make_private_dirs(self.path)
        else:
            env.probes.fs.makedirs(self.path, mode=self.mode)
        return f"{self.path} exists" if existed else f"created {self.path}"

    def to_json(self) -> dict[str, JSONValue]:
        data = super().to_json()
        data["path"] = self.path
        return data


@dataclass(frozen=True)
class Fix:
    """A plan: ordered steps plus how safe it is. ``privilege`` is the highest step privilege."""

    id: str
    title: str
    applicability: Applicability
    steps: tuple[Step, ...] = ()
    notes: tuple[str, ...] = ()
    needs_network: bool = False
    recheck: tuple[str, ...] = field(default=())  # extra check ids to re-run afterwards

    @property
    def privilege(self) -> Privilege:
        return max((s.privilege for s in self.steps), default=Privilege.USER)

    @classmethod
    def safe(cls, id: str, title: str, *steps: Step, notes: tuple[str, ...] = (),
             needs_network: bool = False, recheck: tuple[str, ...] = ()) -> Fix:
        return cls(id, title, Applicability.SAFE, steps, notes, needs_network, recheck)

    @classmethod
    def unsafe(cls, id: str, title: str, *steps: Step, notes: tuple[str, ...] = (),
               needs_network: bool = False, recheck: tuple[str, ...] = ()) -> Fix:
        return cls(id, title, Applicability.UNSAFE, steps, notes, needs_network, recheck)

    @classmethod
    def manual(cls, id: str, title: str, *steps: Step, notes: tuple[str, ...] = ()) -> Fix:
        return cls(id, title, Applicability.MANUAL, steps, notes)

    def to_json(self) -> dict[str, JSONValue]:
        return {
            "id": self.id,
            "description": self.title,
            "applicability": self.applicability.label,
            "privilege": self.privilege.label,
            "needs_network": self.needs_network,
            "notes": list(self.notes),
            "steps": [s.to_json() for s in self.steps],
        }
