"""What a check wants in a bug report, declared, not collected (the sos idea).

A check's ``collect(spec, ctx)`` calls ``add_*``; the report command executes the spec
later with size caps, timeouts and redaction, and records every item in the manifest.
"""
from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_MAX_BYTES = 256 * 1024
DEFAULT_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class FileItem:
    path: str
    name: str  # path inside the archive, under facts/
    max_bytes: int = DEFAULT_MAX_BYTES
    only_lines_matching: str | None = None  # a regex; keeps just those lines (e.g. this user's subuid)


@dataclass(frozen=True)
class CommandItem:
    argv: tuple[str, ...]
    name: str
    timeout_s: float = DEFAULT_TIMEOUT_S
    max_bytes: int = DEFAULT_MAX_BYTES


@dataclass(frozen=True)
class EnvItem:
    names: tuple[str, ...]
    name: str = "environment.txt"


@dataclass(frozen=True)
class TextItem:
    name: str
    text: str


BundleItem = FileItem | CommandItem | EnvItem | TextItem


@dataclass
class BundleSpec:
    """Collected per check; ``origin`` is the check id that declared each item."""

    items: list[tuple[str, BundleItem]] = field(default_factory=list)
    forbidden: list[str] = field(default_factory=list)
    origin: str = "spotidoctor"

    def add_file(self, path: str, name: str | None = None, *, max_bytes: int = DEFAULT_MAX_BYTES,
                 only_lines_matching: str | None = None) -> None:
        self.items.append((self.origin, FileItem(path, name or path.strip("/").replace("/", "_"),
                                                 max_bytes, only_lines_matching)))

    def add_command(self, argv: tuple[str, ...], name: str, *, timeout_s: float = DEFAULT_TIMEOUT_S,
                    max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.items.append((self.origin, CommandItem(tuple(argv), name, timeout_s, max_bytes)))

    def add_env(self, *names: str, name: str = "environment.txt") -> None:
        self.items.append((self.origin, EnvItem(tuple(names), name)))

    def add_text(self, name: str, text: str) -> None:
        self.items.append((self.origin, TextItem(name, text)))

    def forbid(self, path: str) -> None:
        """Never collect this path (cookies, Xauthority, Spotify prefs)."""
        self.forbidden.append(path)
