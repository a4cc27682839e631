"""A small on-disk cache for slow probe answers that rarely change, so a healthy
``spotidoctor check`` does not redo them on every run: ``podman info``, the OCI runtime's
throw-away container, the container uid's audio connection.

An answer is reused only while BOTH hold:

- its fingerprint is unchanged: a digest of everything the answer depends on, which the
  caller lists (binaries' path/size/mtime, config files' contents, the boot id, env vars,
  the uid, ...); any change is a miss and the probe runs for real;
- it is younger than its TTL.

Only what the caller chooses to keep is stored (``encode`` returns None for anything else,
e.g. a failure), and an answer that is not kept *removes* the stored one: a failure seen by
``--fresh`` (or a fix's re-check) is never hidden by an older pass.

    got = cached(ctx.cache, ctx.probes.fs, "podman-runtime", parts, ttl_s=3600, compute=..., encode=..., decode=...)
    got.value, got.age_s  # age_s: None when computed now, else seconds since it was

Files: ``<state dir>/cache/<key>.json``, mode 0600, written atomically. A damaged, foreign,
oversized or unreadable file is a miss, never an error. Values hold no secrets: callers
store verdicts and facts, never cookie bytes; the fingerprint is stored only as a digest.

The ``ResultCache`` on ``ctx.cache`` says what is allowed: ``ResultCache.off()`` (the
default, and for root) neither reads nor writes; ``fresh()`` (``check --fresh``, ``fix``,
re-checks after fixes, ``report``) recomputes everything and stores what passes.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Generic, TypeVar

from spotidoctor.types import JSONValue

if TYPE_CHECKING:
    from spotidoctor.probes.fs import RealFS

__all__ = ["ResultCache", "Cached", "cached", "fingerprint", "file_facts", "text_digest", "age_text",
           "verified_note", "CACHE_DIR_NAME", "SCHEMA"]

T = TypeVar("T")
SCHEMA = 1
CACHE_DIR_NAME = "cache"
MAX_ENTRY_BYTES = 256 * 1024
# A stored time this far in the future means the clock went back: do not trust the entry.
CLOCK_SKEW_S = 60.0


@dataclass(frozen=True)
class ResultCache:
    """Where the cache lives and what a run may do with it."""

    directory: str | None  # None: no cache at all
    read: bool = True
    write: bool = True
    owner_uid: int = field(default_factory=os.geteuid)  # cache files must belong to this uid
    clock: Callable[[], float] = field(default=time.time, compare=False)

    @classmethod
    def off(cls) -> ResultCache:
        return cls(None, read=False, write=False)

    @classmethod
    def under(cls, state_dir: str, *, fresh: bool = False) -> ResultCache:
        return cls(os.path.join(state_dir, CACHE_DIR_NAME), read=not fresh)

    def fresh(self) -> ResultCache:
        """The same cache, never read: every probe runs for real; passes are stored."""
        return replace(self, read=False)

    @property
    def active(self) -> bool:
        return self.directory is not None and (self.read or self.write)

    def path(self, key: str) -> str:
        assert self.directory is not None
        return os.path.join(self.directory, f"{key}.json")


@dataclass(frozen=True)
class Cached(Generic[T]):
    value: T
    age_s: float | None = None  # None: computed in this run

    @property
    def hit(self) -> bool:
        return self.age_s is not None


def fingerprint(parts: Sequence[JSONValue]) -> str:
    """A digest of the inputs (order matters; values are JSON)."""
    blob = json.dumps(list(parts), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def text_digest(fs: RealFS, path: str, limit: int = 1 << 20) -> JSONValue:
    """A small file's identity by content and time: [path, sha256 of its first ``limit``
    bytes, size, mtime] (a ``touch`` counts as a change too); [path, None] when it does not
    exist. Raises OSError when it cannot be read."""
    st = fs.stat(path)
    if st is None:
        return [path, None]
    if not st.is_file:
        return [path, "not a file", st.mode, st.ino, st.mtime]
    data = fs.read_bytes(path, limit)
    return [path, hashlib.sha256(data).hexdigest(), st.size, st.mtime]


def file_facts(fs: RealFS, path: str) -> JSONValue:
    """A file's identity without reading it (binaries, sockets, package databases):
    [path, size, mtime, inode, mode, uid]; [path, None] when it does not exist."""
    st = fs.stat(path)
    if st is None:
        return [path, None]
    return [path, st.size, st.mtime, st.ino, st.mode, st.uid]


def age_text(seconds: float) -> str:
    """12 s / 12 min / 1 h 5 min."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


def verified_note(age_s: float) -> str:
    """What a result taken from the cache says about itself (an info message)."""
    return (f"verified {age_text(age_s)} ago; nothing it depends on changed since — "
            "`spotidoctor check --fresh` re-tests")


def cached(cache: ResultCache, fs: RealFS, key: str, fingerprint_parts: Callable[[], Sequence[JSONValue]],
           ttl_s: float, compute: Callable[[], T], encode: Callable[[T], JSONValue | None],
           decode: Callable[[JSONValue], T]) -> Cached[T]:
    """``compute()``'s answer, or the stored one while its fingerprint matches and it is
    younger than ``ttl_s``. ``encode`` returns None for answers that must not be kept
    (failures); ``decode`` may raise ValueError/KeyError/TypeError for a stored value it does
    not understand (a miss). ``fingerprint_parts`` failing (a file that cannot be read, a
    server that went away): no caching this time. ``compute`` raising forgets the kept answer
    and lets the exception through. ``cache`` is usually ``ctx.cache``, ``fs`` ``ctx.probes.fs``."""
    if not cache.active:
        return Cached(compute())
    try:
        digest = fingerprint(fingerprint_parts())
    except Exception:  # noqa: BLE001 - whatever cannot be fingerprinted is simply not cached
        return Cached(compute())
    path = cache.path(key)
    if cache.read:
        stored = _load(fs, cache, path, key, digest, ttl_s)
        if stored is not None:
            kept, age = stored
            try:
                return Cached(decode(kept), age)
            except (ValueError, KeyError, TypeError, AttributeError):
                pass  # written by another version: recompute
    try:
        answer = compute()
    except Exception:
        if cache.write:
            _store(fs, cache, path, key, digest, None)
        raise
    if cache.write:
        try:
            encoded = encode(answer)
        except (ValueError, TypeError):
            encoded = None
        _store(fs, cache, path, key, digest, encoded)
    return Cached(answer)


def _load(fs: RealFS, cache: ResultCache, path: str, key: str, digest: str,
          ttl_s: float) -> tuple[JSONValue, float] | None:
    try:
        st = fs.lstat(path)
        if (st is None or not st.is_file or st.uid != cache.owner_uid or st.perms & 0o022
                or st.size > MAX_ENTRY_BYTES):
            return None
        entry = json.loads(fs.read_bytes(path, MAX_ENTRY_BYTES))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(entry, dict) or entry.get("schema") != SCHEMA or entry.get("key") != key:
        return None
    created = entry.get("created")
    if entry.get("fingerprint") != digest or not isinstance(created, (int, float)) or isinstance(created, bool):
        return None
    age = cache.clock() - float(created)
    if age > ttl_s or age < -CLOCK_SKEW_S or "value" not in entry:
        return None
    return entry["value"], max(0.0, age)


def _store(fs: RealFS, cache: ResultCache, path: str, key: str, digest: str, encoded: JSONValue | None) -> None:
    """Keep ``encoded``, or forget what was kept when it is None. Never fails the caller."""
    try:
        if encoded is None:
            fs.unlink(path)
            return
        entry = {"schema": SCHEMA, "key": key, "fingerprint": digest, "created": cache.clock(), "value": encoded}
        data = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()
        if len(data) > MAX_ENTRY_BYTES:
            fs.unlink(path)
            return
        fs.write_private(path, data, mode=0o600)  # a private directory of ours, never a symlink
    except (OSError, ValueError, TypeError):
        pass  # a read-only or full disk costs a re-test next time, nothing more
