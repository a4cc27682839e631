"""Execute ``BundleSpec``s through the probes: size caps, timeouts, forbidden paths, a
manifest entry for every item (sos ``timeout_hit``: the bundle admits what it missed).

Nothing here raises for a broken host: a missing file, a missing ``podman``, a hung X
server or an unreadable directory each become a manifest entry with the reason. Content
stays in memory (no plaintext staging directory to leak); redaction happens later, on
everything at once.
"""
from __future__ import annotations

import fnmatch
import glob as glob_mod
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum

from spotidoctor import layout
from spotidoctor.api import Context
from spotidoctor.bundle import contained
from spotidoctor.bundle.redact import default_map_path
from spotidoctor.bundle.secrets import is_secret_name, secret_basename
from spotidoctor.bundle.spec import BundleSpec, CommandItem, EnvItem, FileItem, GlobItem, TextItem, Transform
from spotidoctor.probes.command import Completed
from spotidoctor.types import JSONValue

GLOBAL_ORIGIN = "spotidoctor"
TRUNCATION_NOTE = "\n[... truncated by spotidoctor: {kept} of {total} bytes kept ...]\n"
BINARY_SNIFF_BYTES = 8192
# Interpreters would let a declared "command" read anything; checks declare argv, not scripts.
REFUSED_PROGRAMS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "fish", "busybox", "env", "xauth",
                              "sudo", "pkexec", "su", "doas"})
NOT_FOUND_REASON = "command not found"


class ItemStatus(str, Enum):
    COLLECTED = "collected"
    TRUNCATED = "truncated"  # collected, cut at the size cap
    FAILED = "failed"  # ran / read, but with an error (the output is kept as evidence)
    TIMED_OUT = "timed-out"  # partial output kept
    SKIPPED = "skipped"  # not collected; ``reason`` says why


@dataclass(frozen=True)
class ManifestEntry:
    name: str  # path inside the archive
    kind: str  # file | command | env | text | glob | log | generated | collect
    source: str  # a path, an argv, variable names
    origin: str  # the check id that declared it, or "spotidoctor"
    status: ItemStatus
    reason: str = ""
    size: int = 0  # bytes in the archive (before redaction)
    original_size: int | None = None  # bytes before truncation/filtering, when known
    duration_s: float = 0.0
    returncode: int | None = None

    @property
    def truncated(self) -> bool:
        return self.status is ItemStatus.TRUNCATED

    def to_json(self) -> dict[str, JSONValue]:
        return {"name": self.name, "kind": self.kind, "source": self.source, "origin": self.origin,
                "status": self.status.value, "reason": self.reason, "size": self.size,
                "original_size": self.original_size, "duration_s": round(self.duration_s, 3),
                "returncode": self.returncode, "truncated": self.truncated,
                "skipped": self.status is ItemStatus.SKIPPED}


@dataclass(frozen=True)
class Item:
    entry: ManifestEntry
    text: str | None = None  # None when nothing was collected


@dataclass(frozen=True)
class Limits:
    total_bytes: int = 24 * 1024 * 1024  # the whole bundle, before compression
    item_bytes: int = 2 * 1024 * 1024  # no single item above this, whatever the spec asks
    max_timeout_s: float = 60.0  # no single command above this
    time_budget_s: float = 240.0  # all commands and file reads together; later ones are skipped


# -- forbidden paths ---------------------------------------------------------------------------

def expand(path: str, ctx: Context) -> str:
    """``~`` is the user's home; relative paths are refused later (they mean nothing here)."""
    if path == "~" or path.startswith("~/"):
        path = ctx.user.home + path[1:]
    return os.path.normpath(path) if path else path


def default_forbidden(ctx: Context) -> list[str]:
    """Never collected, whatever a check declares: keys and keyrings, browser profiles, the
    pulse cookies (they let anyone in), Xauthority files (they hold the X cookie), Spotify's
    credentials (``autologin.*`` in its prefs) and everything else that authenticates."""
    paths = ctx.paths
    home = ctx.user.home
    forbidden = [
        f"{home}/.ssh", f"{home}/.gnupg", f"{home}/.pki", f"{home}/.password-store",
        f"{home}/.local/share/keyrings", f"{home}/.docker", f"{home}/.netrc", f"{home}/.Xauthority",
        f"{home}/.pulse-cookie", f"{home}/.mozilla", f"{home}/.config/google-chrome", f"{home}/.config/chromium",
        os.path.join(paths.xdg_config_home, "pulse", "cookie"),
        os.path.join(paths.xdg_config_home, "containers", "auth.json"),
        layout.pulse_cookie(paths), layout.pulse_cookie_copy(paths),
        os.path.join(paths.runtime_dir, "Xauthority-*"),
        os.path.dirname(default_map_path(paths.state_dir)),
        "/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/etc/sudoers.d",
        # Other processes' environments and memory hold whatever secrets they were given.
        "/proc/*/environ", "/proc/*/mem", "/proc/kcore", "/dev",
    ]
    for name in ("XAUTHORITY", "PULSE_COOKIE", "ICEAUTHORITY", "REGISTRY_AUTH_FILE"):
        if ctx.env.get(name):
            forbidden.append(ctx.env[name])
    if paths.xdg_runtime_dir:
        forbidden += [os.path.join(paths.xdg_runtime_dir, "containers", "auth.json"),
                      os.path.join(paths.xdg_runtime_dir, "gdm", "Xauthority"),
                      os.path.join(paths.xdg_runtime_dir, "keyring")]
    return forbidden


class Forbidden:
    """Paths never read: exact files, whole directories, globs, and credential-like names."""

    def __init__(self, ctx: Context, paths: Iterable[str]) -> None:
        self._ctx = ctx
        self._rules = sorted({expand(p, ctx) for p in paths if p})

    def why(self, path: str) -> str | None:
        """The reason ``path`` must not be collected, or None. Checks the symlink target too."""
        candidates = {path}
        try:
            candidates.add(self._ctx.probes.fs.realpath(path))
        except OSError:
            pass
        for candidate in candidates:
            rule = secret_basename(candidate)
            if rule:
                return f"forbidden: the name looks like credential material ({rule})"
            for forbidden in self._rules:
                if _covers(forbidden, candidate):
                    return f"forbidden path ({forbidden})"
        return None


def _covers(rule: str, path: str) -> bool:
    if any(ch in rule for ch in "*?["):
        return fnmatch.fnmatchcase(path, rule) or fnmatch.fnmatchcase(path, rule + "/*")
    return path == rule or path.startswith(rule.rstrip("/") + "/")


# -- text helpers ------------------------------------------------------------------------------

def cap_text(text: str, max_bytes: int, *, total: int | None = None) -> tuple[str, bool, int]:
    """(text cut to ``max_bytes`` on a character boundary, truncated?, original size).

    ``total``: the size of the source when ``text`` is already a cut-off read of it."""
    data = text.encode("utf-8", errors="replace")
    size = max(total or 0, len(data))
    if len(data) <= max_bytes:
        return text, False, size
    kept = data[:max_bytes].decode("utf-8", errors="ignore")
    return kept + TRUNCATION_NOTE.format(kept=max_bytes, total=size), True, size


def keep_lines(text: str, regex: str | None) -> str:
    if not regex:
        return text
    pattern = re.compile(regex)
    return "".join(line for line in text.splitlines(keepends=True) if pattern.search(line))


def safe_name(name: str) -> str:
    """A relative archive path without ``..``, absolute parts or odd characters."""
    parts = []
    for part in name.replace("\\", "/").split("/"):
        part = part.strip()
        if part in ("", ".", ".."):
            continue
        parts.append(re.sub(r"[^A-Za-z0-9._@+=,-]", "_", part)[:120])
    return "/".join(parts) or "item"


# -- the collector -----------------------------------------------------------------------------

@dataclass
class _State:
    started: float
    total: int = 0
    names: set[str] = field(default_factory=set)
    command_cache: dict[tuple[tuple[str, ...], tuple[tuple[str, str], ...]], Completed] = field(default_factory=dict)
    hung: set[str] = field(default_factory=set)  # programs that timed out once: not asked again


class Collector:
    """Run specs against ``ctx.probes``; ``run`` returns one ``Item`` per declared item."""

    def __init__(self, ctx: Context, *, forbidden: Iterable[str] = (), limits: Limits = Limits(),
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ctx = ctx
        self.limits = limits
        self._clock = clock
        self._extra_forbidden = list(forbidden)
        self._state = _State(clock())
        self._trees = contained.container_trees(ctx)

    def run(self, specs: Sequence[BundleSpec],
            on_item: Callable[[int, int], None] | None = None) -> list[Item]:
        """Execute every item of every spec; forbidden paths of any spec apply to all.
        ``on_item(done, total)`` after each declared item (the progress display)."""
        forbidden = Forbidden(self.ctx, [*default_forbidden(self.ctx), *self._extra_forbidden,
                                         *(p for s in specs for p in s.forbidden)])
        total = sum(len(spec.items) for spec in specs)
        items: list[Item] = []
        done = 0
        for spec in specs:
            for origin, item in spec.items:
                items += self.admit(self._one(origin, item, forbidden, self._state))
                done += 1
                if on_item is not None:
                    on_item(done, total)
        return items

    def admit(self, items: Iterable[Item]) -> list[Item]:
        """Give items made elsewhere (logs, notes) unique names and count them against the cap."""
        return [self._account(item, self._state) for item in items]

    # -- bookkeeping ---------------------------------------------------------------------------
    def _account(self, item: Item, state: _State) -> Item:
        name = _unique(item.entry.name, state.names)
        entry = replace(item.entry, name=name)
        if item.text is None:
            return Item(entry)
        size = len(item.text.encode("utf-8", errors="replace"))
        if state.total + size > self.limits.total_bytes:
            return Item(replace(entry, status=ItemStatus.SKIPPED, size=0, original_size=size,
                                reason=f"bundle size cap reached ({self.limits.total_bytes} bytes)"))
        state.total += size
        return Item(replace(entry, size=size), item.text)

    def _one(self, origin: str, item: object, forbidden: Forbidden, state: _State) -> list[Item]:
        # ``object``: a plugin may put anything into ``spec.items``.
        name = f"{_prefix(origin, str(getattr(item, 'name', 'item')))}/{safe_name(str(getattr(item, 'name', 'item')))}"
        if isinstance(item, (FileItem, GlobItem)) and self._clock() - state.started > self.limits.time_budget_s:
            source = getattr(item, "path", getattr(item, "pattern", ""))
            return [Item(ManifestEntry(name, "file", source, origin, ItemStatus.SKIPPED,
                                       f"time budget of {self.limits.time_budget_s:g}s for collecting used up"))]
        if isinstance(item, FileItem):
            return [self._file(origin, name, item.path, item.max_bytes, item.only_lines_matching,
                               item.transform, forbidden)]
        if isinstance(item, CommandItem):
            return [self._command(origin, name, item, forbidden, state)]
        if isinstance(item, EnvItem):
            return [self._env(origin, name, item.names)]
        if isinstance(item, TextItem):
            return [self._text(origin, name, item.text)]
        if isinstance(item, GlobItem):
            return self._glob(origin, name, item, forbidden)
        return [Item(ManifestEntry(name, "unknown", repr(item), origin, ItemStatus.SKIPPED,
                                   f"unknown item type {type(item).__name__}"))]

    # -- files ---------------------------------------------------------------------------------
    def _file(self, origin: str, name: str, path: str, max_bytes: int, lines: str | None,
              transform: Transform | None, forbidden: Forbidden, kind: str = "file") -> Item:
        path = expand(path, self.ctx)
        entry = ManifestEntry(name, kind, path, origin, ItemStatus.SKIPPED)
        if not os.path.isabs(path):
            return Item(replace(entry, reason="not an absolute path"))
        reason = forbidden.why(path)
        if reason:
            return Item(replace(entry, reason=reason))
        tree = contained.tree_of(path, self._trees)
        if tree is not None:
            return self._contained_file(entry, tree, path, max_bytes, lines, transform)
        fs = self.ctx.probes.fs
        try:
            st = fs.stat(path)
        except OSError as exc:  # e.g. EACCES on a directory owned by the mapped subuid
            return Item(replace(entry, status=ItemStatus.FAILED, reason=f"cannot read: {exc.strerror or exc}"))
        if st is None:
            return Item(replace(entry, reason="not found"))
        if not st.is_file:  # a FIFO or device would block or never end; a socket has no content
            return Item(replace(entry, reason="a directory" if st.is_dir else "not a regular file"))
        started = self._clock()
        limit = min(max_bytes, self.limits.item_bytes)
        try:
            data = fs.read_bytes(path, limit + 1)
        except OSError as exc:
            return Item(replace(entry, status=ItemStatus.FAILED, reason=f"cannot read: {exc.strerror or exc}"))
        if b"\0" in data[:BINARY_SNIFF_BYTES]:
            return Item(replace(entry, reason="binary content (only text is collected)"))
        text = data.decode("utf-8", errors="replace")
        duration = self._clock() - started
        return self._finish(entry, text, limit, lines, transform, duration, cut=len(data) > limit,
                            total=max(st.size, len(data)))

    def _contained_file(self, entry: ManifestEntry, tree: str, path: str, max_bytes: int, lines: str | None,
                        transform: Transform | None) -> Item:
        """A file the container can write: never through a link, never a hard link (``contained``)."""
        started = self._clock()
        limit = min(max_bytes, self.limits.item_bytes)
        try:
            data, size = contained.read_bytes(self.ctx.probes.fs, tree, path, limit + 1)
        except contained.Refused as exc:
            return Item(replace(entry, reason=str(exc)))
        except FileNotFoundError:
            return Item(replace(entry, reason="not found"))
        except OSError as exc:
            return Item(replace(entry, status=ItemStatus.FAILED, reason=f"cannot read: {exc.strerror or exc}"))
        if b"\0" in data[:BINARY_SNIFF_BYTES]:
            return Item(replace(entry, reason="binary content (only text is collected)"))
        return self._finish(entry, data.decode("utf-8", errors="replace"), limit, lines, transform,
                            self._clock() - started, cut=len(data) > limit, total=max(size, len(data)))

    def _finish(self, entry: ManifestEntry, text: str, limit: int, lines: str | None,
                transform: Transform | None, duration: float, *, cut: bool = False,
                total: int | None = None, status: ItemStatus = ItemStatus.COLLECTED, reason: str = "",
                returncode: int | None = None, tail: str = "") -> Item:
        try:
            text = keep_lines(text, lines)
        except re.error as exc:
            return Item(replace(entry, status=ItemStatus.SKIPPED, reason=f"bad line filter: {exc}"))
        if transform is not None:
            try:
                text = transform(text)
            except Exception as exc:  # a sanitiser that fails must not let raw content through
                return Item(replace(entry, status=ItemStatus.FAILED, duration_s=duration,
                                    reason=f"transform failed ({type(exc).__name__}); content dropped"))
        text, truncated, size = cap_text(text + tail, limit, total=total if cut else None)
        if truncated and status is ItemStatus.COLLECTED:
            status = ItemStatus.TRUNCATED
            reason = reason or f"capped at {limit} bytes"
        return Item(replace(entry, status=status, reason=reason, duration_s=duration, returncode=returncode,
                            original_size=total if total is not None else size), text)

    def _glob(self, origin: str, name: str, item: GlobItem, forbidden: Forbidden) -> list[Item]:
        pattern = expand(item.pattern, self.ctx)
        fs = self.ctx.probes.fs
        if not os.path.isabs(pattern):
            return [Item(ManifestEntry(name, "glob", pattern, origin, ItemStatus.SKIPPED, "not an absolute path"))]
        matches = sorted(fs.unhost(m) for m in glob_mod.glob(fs.host(pattern)))
        if not matches:
            return [Item(ManifestEntry(name, "glob", pattern, origin, ItemStatus.SKIPPED, "no match"))]
        found = [self._file(origin, f"{name}/{safe_name(os.path.basename(m))}", m, item.max_bytes, None, None,
                            forbidden, kind="glob") for m in matches[: item.max_files]]
        if len(matches) > item.max_files:
            found.append(Item(ManifestEntry(name, "glob", pattern, origin, ItemStatus.SKIPPED,
                                            f"{len(matches) - item.max_files} more match(es) over the "
                                            f"limit of {item.max_files} files")))
        return found

    # -- commands ------------------------------------------------------------------------------
    def _command(self, origin: str, name: str, item: CommandItem, forbidden: Forbidden, state: _State) -> Item:
        entry = ManifestEntry(name, "command", " ".join(item.argv), origin, ItemStatus.SKIPPED)
        refusal = self._refusal(item.argv, forbidden)
        if refusal:
            return Item(replace(entry, reason=refusal))
        if self._clock() - state.started > self.limits.time_budget_s:
            return Item(replace(entry, reason=f"time budget of {self.limits.time_budget_s:g}s for commands used up"))
        program = os.path.basename(item.argv[0])
        if program in state.hung:  # a hung podman would otherwise cost every podman item its timeout
            return Item(replace(entry, reason=f"an earlier {program} command timed out (hung)"))
        timeout = max(0.1, min(item.timeout_s, self.limits.max_timeout_s))
        key = (item.argv, item.env)
        started = self._clock()
        done = state.command_cache.get(key)
        if done is None:
            try:
                done = self.ctx.probes.cmd.run(item.argv, timeout=timeout, env=dict(item.env) or None)
            except Exception as exc:  # a plugin's runner, a fake: report it, keep collecting
                reason = f"could not run: {type(exc).__name__}: {exc}"
                return Item(replace(entry, status=ItemStatus.FAILED, reason=reason))
            state.command_cache[key] = done
        duration = done.duration_s or (self._clock() - started)
        if done.not_found:
            return Item(replace(entry, reason=NOT_FOUND_REASON, returncode=done.returncode, duration_s=duration))
        status, reason = ItemStatus.COLLECTED, ""
        if done.timed_out:
            state.hung.add(program)
            status, reason = ItemStatus.TIMED_OUT, f"timed out after {timeout:g}s; partial output kept"
        elif done.returncode != 0:
            status, reason = ItemStatus.FAILED, f"exit status {done.returncode}"
        tail = f"\n--- stderr ---\n{done.stderr}" if done.stderr.strip() else ""
        limit = min(item.max_bytes, self.limits.item_bytes)
        return self._finish(entry, done.stdout, limit, item.only_lines_matching, item.transform, duration,
                            status=status, reason=reason, returncode=done.returncode, tail=tail)

    def _refusal(self, argv: tuple[str, ...], forbidden: Forbidden) -> str | None:
        if not argv or not argv[0]:
            return "empty command"
        program = os.path.basename(argv[0])
        if program in REFUSED_PROGRAMS:
            return f"refused: {program} (declare the real command, never a shell or xauth)"
        for arg in argv[1:]:
            for candidate in _paths_in(arg):
                reason = forbidden.why(expand(candidate, self.ctx))
                if reason:
                    return f"refused: an argument names a {reason}"
        return None

    # -- env and text --------------------------------------------------------------------------
    def _env(self, origin: str, name: str, names: Sequence[str]) -> Item:
        lines = [_env_line(n, self.ctx.env) for n in names]
        withheld = sum(1 for n in names if is_secret_name(n) and n in self.ctx.env)
        text = "".join(lines)
        reason = f"{withheld} value(s) withheld: the names look secret" if withheld else ""
        return Item(ManifestEntry(name, "env", ",".join(names), origin, ItemStatus.COLLECTED, reason,
                                  original_size=len(text.encode())), text)

    def _text(self, origin: str, name: str, text: str) -> Item:
        capped, truncated, size = cap_text(text, self.limits.item_bytes)
        status = ItemStatus.TRUNCATED if truncated else ItemStatus.COLLECTED
        return Item(ManifestEntry(name, "text", "generated by " + origin, origin, status,
                                  f"capped at {self.limits.item_bytes} bytes" if truncated else "",
                                  original_size=size), capped)


def _env_line(name: str, env: Mapping[str, str]) -> str:
    # "NAME is ..." rather than "NAME: ...": the scrubber would take a value after "TOKEN:".
    if name not in env:
        return f"{name} is not set\n"
    if is_secret_name(name):
        return f"{name} is set; value withheld (the name looks secret)\n"
    return f"{name}={env[name]}\n"


def _paths_in(arg: str) -> list[str]:
    """Paths an argument may name: itself, ``--opt=/path``, ``unix:/path``."""
    found = []
    for piece in re.split(r"[=,]", arg):
        piece = piece.removeprefix("unix:")
        if piece.startswith(("/", "~")):
            found.append(piece)
    return found


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 2
    while candidate in taken:
        stem, dot, ext = name.rpartition(".")
        candidate = f"{stem}-{n}.{ext}" if dot and "/" not in ext else f"{name}-{n}"
        n += 1
    taken.add(candidate)
    return candidate


def _prefix(origin: str, name: str) -> str:
    """``facts/`` for the report's own items and for a check's items inside its own
    namespace (``x11.display`` may write ``x11/...``); anything else goes below
    ``facts/checks/<check id>/`` so two checks can never overwrite each other."""
    namespace = origin.split(".", 1)[0]
    if origin == GLOBAL_ORIGIN or (namespace and name.split("/", 1)[0] == namespace):
        return "facts"
    return f"facts/checks/{safe_name(origin)}"
