"""What a check wants in a bug report, declared, not collected (the sos idea).

A check's ``collect(spec, ctx)`` calls ``add_*``; the report command executes the spec
later with size caps, timeouts and redaction, and records every item in the manifest::

    def collect(self, spec: BundleSpec, ctx: Context) -> None:
        spec.add_command(("podman", "info", "--format", "json"), "podman-info.json", timeout_s=30)
        spec.add_file("/etc/subuid", "subuid", only_lines_matching=rf"^({ctx.user.name}|{ctx.user.uid}):")
        spec.add_env("DISPLAY", "XDG_SESSION_TYPE")
        spec.forbid("~/.config/pulse")  # never, even if another item names it

Names are paths inside the archive (under ``facts/checks/<check id>/``); ``~`` in paths is
the user's home. During a report ``ctx.prior`` holds every check's result, so a check can
declare more evidence when it failed. Whatever is declared, the collector refuses credential material (cookies,
Xauthority, keys, Spotify ``autologin.*``) and redacts the rest.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

DEFAULT_MAX_BYTES = 256 * 1024
DEFAULT_TIMEOUT_S = 10.0
DEFAULT_MAX_FILES = 20

# Applied to the collected text before redaction (e.g. keep only some keys of a JSON
# document). Must not raise; if it does, the item's content is dropped, not kept raw.
Transform = Callable[[str], str]


@dataclass(frozen=True)
class FileItem:
    path: str
    name: str  # path inside the archive, under facts/
    max_bytes: int = DEFAULT_MAX_BYTES
    only_lines_matching: str | None = None  # a regex; keeps just those lines (e.g. this user's subuid)
    transform: Transform | None = field(default=None, compare=False)


@dataclass(frozen=True)
class CommandItem:
    argv: tuple[str, ...]
    name: str
    timeout_s: float = DEFAULT_TIMEOUT_S
    max_bytes: int = DEFAULT_MAX_BYTES
    only_lines_matching: str | None = None  # applied to stdout
    env: tuple[tuple[str, str], ...] = ()  # overrides for this command only
    transform: Transform | None = field(default=None, compare=False)


@dataclass(frozen=True)
class EnvItem:
    names: tuple[str, ...]
    name: str = "environment.txt"


@dataclass(frozen=True)
class TextItem:
    name: str
    text: str


@dataclass(frozen=True)
class GlobItem:
    pattern: str  # e.g. "~/.config/containers/*.conf"
    name: str  # a directory inside the archive; each match keeps its base name
    max_bytes: int = DEFAULT_MAX_BYTES
    max_files: int = DEFAULT_MAX_FILES


BundleItem = FileItem | CommandItem | EnvItem | TextItem | GlobItem


@dataclass
class BundleSpec:
    """Collected per check; ``origin`` is the check id that declared each item."""

    items: list[tuple[str, BundleItem]] = field(default_factory=list)
    forbidden: list[str] = field(default_factory=list)
    origin: str = "spotidoctor"

    def add_file(self, path: str, name: str | None = None, *, max_bytes: int = DEFAULT_MAX_BYTES,
                 only_lines_matching: str | None = None, transform: Transform | None = None) -> None:
        self.items.append((self.origin, FileItem(path, name or path.strip("/").replace("/", "_"),
                                                 max_bytes, only_lines_matching, transform)))

    def add_command(self, argv: tuple[str, ...], name: str, *, timeout_s: float = DEFAULT_TIMEOUT_S,
                    max_bytes: int = DEFAULT_MAX_BYTES, only_lines_matching: str | None = None,
                    env: dict[str, str] | None = None, transform: Transform | None = None) -> None:
        self.items.append((self.origin, CommandItem(tuple(argv), name, timeout_s, max_bytes,
                                                    only_lines_matching, tuple(sorted((env or {}).items())),
                                                    transform)))

    def add_env(self, *names: str, name: str = "environment.txt") -> None:
        self.items.append((self.origin, EnvItem(tuple(names), name)))

    def add_text(self, name: str, text: str) -> None:
        self.items.append((self.origin, TextItem(name, text)))

    def add_glob(self, pattern: str, name: str, *, max_bytes: int = DEFAULT_MAX_BYTES,
                 max_files: int = DEFAULT_MAX_FILES) -> None:
        self.items.append((self.origin, GlobItem(pattern, name, max_bytes, max_files)))

    def forbid(self, path: str) -> None:
        """Never collect this path (a file, a directory and all below it, or a glob)."""
        self.forbidden.append(path)
