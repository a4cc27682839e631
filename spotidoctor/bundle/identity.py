"""Who and where this host is: the values the redactor replaces and the scan looks for.

Read through the filesystem probe (so tests use a sysroot) and the context's env/user:
- user names: the login user (always) and the other *real* users in /etc/passwd
  (UID_MIN..UID_MAX from /etc/login.defs); their names can appear in xhost ACLs, subuid
  overlap findings and paths. System accounts (pulse, nobody, ...) are public words.
- the login user's full name (GECOS), home directories, host names (kernel, /etc/hostname,
  /etc/hosts aliases of it), machine ids.
- Spotify account names from ``prefs`` (``autologin.username``), scrubbed even with
  ``--no-redact`` because they belong to the credential lines.

Spotify's storage is written by the container: its files are read without following any link
(``contained``), and at most ``MAX_PREFS_FILES`` prefs files are read (2,000 account
directories must not make 2,000 needles). Which account names are replaced as free words is
decided later (``distinctive``): a name that is also a word of the report's own text (an
account directory called ``podman-user``) is not an identifier worth rewriting the report for.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from spotidoctor import layout
from spotidoctor.bundle import contained
from spotidoctor.bundle.secrets import autologin_values

if TYPE_CHECKING:
    from spotidoctor.api import Context

DEFAULT_UID_MIN = 1000
DEFAULT_UID_MAX = 60000
# Host names that identify nobody.
PUBLIC_HOSTNAMES = frozenset({"localhost", "localhost.localdomain", "localdomain", "localhost6",
                              "ip6-localhost", "ip6-loopback", "(none)", "(null)", ""})
# Other users' names that are also the report's own vocabulary: replacing them would make
# the bundle unreadable while hiding nothing (the login user's name is always replaced).
PUBLIC_WORDS = frozenset({"spotify", "spotify_user", "podman", "buildah", "pulse", "pulseaudio",
                          "pipewire", "user", "users", "home", "root", "nobody", "test", "x11", "xorg",
                          "container", "containers", "storage", "image", "config", "cache"})
UNSPECIFIC_HOMES = frozenset({"/", "/nonexistent", "/tmp", "/var/tmp", "/run", "/home", "/root", "/srv",
                              "/usr", "/var", "/opt", "/dev/null", "/bin", "/sbin"})
_MACHINE_ID = re.compile(r"^[0-9a-fA-F]{32}$")
MAX_PREFS_FILES = 20  # Spotify keeps one per account; real users have a handful
PREFS_READ_BYTES = 256 * 1024


@dataclass(frozen=True)
class Identity:
    login_names: tuple[str, ...] = ()
    other_users: tuple[str, ...] = ()
    full_names: tuple[str, ...] = ()
    homes: tuple[str, ...] = ()
    hostnames: tuple[str, ...] = ()
    machine_ids: tuple[str, ...] = ()
    spotify_users: tuple[str, ...] = ()
    # Spotify prefs files that exist (for "logged in: yes" and the scan).
    prefs_files: tuple[str, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class PasswdEntry:
    name: str
    uid: int
    gecos: str
    home: str


def _text(ctx: Context, path: str, limit: int) -> str:
    """File text, or "" when missing or unreadable: identity is best effort, never fatal."""
    try:
        return ctx.probes.fs.read_text_or_none(path, limit) or ""
    except OSError:
        return ""


def _listdir(ctx: Context, path: str) -> list[str]:
    try:
        return ctx.probes.fs.listdir(path)
    except OSError:
        return []


def _is_file(ctx: Context, path: str) -> bool:
    try:
        st = ctx.probes.fs.stat(path)
    except OSError:
        return False
    return st is not None and st.is_file


def parse_passwd(text: str) -> list[PasswdEntry]:
    """Tolerant: malformed lines (NIS ``+``, comments, short lines) are skipped."""
    entries = []
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) < 7 or not parts[0] or parts[0].startswith(("+", "-", "#")):
            continue
        try:
            uid = int(parts[2])
        except ValueError:
            continue
        entries.append(PasswdEntry(parts[0], uid, parts[4].split(",")[0].strip(), parts[5]))
    return entries


def uid_range(login_defs: str | None) -> tuple[int, int]:
    values = {"UID_MIN": DEFAULT_UID_MIN, "UID_MAX": DEFAULT_UID_MAX}
    for line in (login_defs or "").splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in values and parts[1].isdigit():
            values[parts[0]] = int(parts[1])
    return values["UID_MIN"], values["UID_MAX"]


def _uniq(values: Iterable[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for value in values:
        value = value.strip()
        if value and value not in seen:
            seen[value] = None
    return tuple(seen)


def _homes(candidates: Iterable[str]) -> tuple[str, ...]:
    clean = []
    for home in candidates:
        home = os.path.normpath(home) if home else ""
        if home.startswith("/") and home not in UNSPECIFIC_HOMES and home.count("/") >= 2:
            clean.append(home)
    return _uniq(sorted(clean, key=len, reverse=True))


def hostnames(ctx: Context, extra: Iterable[str] = ()) -> tuple[str, ...]:
    found = [_text(ctx, "/proc/sys/kernel/hostname", 256), _text(ctx, "/etc/hostname", 256).split("#")[0],
             ctx.env.get("HOSTNAME", ""), *extra]
    names = {n.strip().lower() for n in found} - PUBLIC_HOSTNAMES
    short = {n.split(".")[0] for n in names}
    # /etc/hosts: the FQDN and aliases listed next to our own name.
    for line in _text(ctx, "/etc/hosts", 64 * 1024).splitlines():
        fields = line.split("#")[0].split()[1:]
        lowered = [f.lower() for f in fields]
        if any(f in names or f.split(".")[0] in short for f in lowered):
            names.update(lowered)
    names = {n for n in names if n not in PUBLIC_HOSTNAMES and not n.startswith("localhost")}
    names |= {n.split(".")[0] for n in names}
    return tuple(sorted(names - PUBLIC_HOSTNAMES, key=len, reverse=True))


def machine_ids(ctx: Context) -> tuple[str, ...]:
    ids = [_text(ctx, p, 128).strip().lower() for p in ("/etc/machine-id", "/var/lib/dbus/machine-id")]
    return _uniq(i for i in ids if _MACHINE_ID.match(i))


def _prefs_places(ctx: Context) -> list[tuple[str | None, str]]:
    """(container tree or None, path) of every prefs name Spotify may have: the launcher's
    storage and a native install's ~/.config/spotify, the first ``MAX_PREFS_FILES`` accounts."""
    roots = [layout.storage_config(ctx.storage_dir), os.path.join(ctx.paths.xdg_config_home, "spotify")]
    places: list[tuple[str | None, str]] = []
    for root in _uniq(roots):
        tree = contained.tree_of(root + "/prefs", contained.container_trees(ctx))
        users = os.path.join(root, "Users")
        names = contained.listdir(ctx.probes.fs, tree, users) if tree else _listdir(ctx, users)
        candidates = [os.path.join(root, "prefs")]
        candidates += [os.path.join(users, d, "prefs") for d in names[:MAX_PREFS_FILES]]
        places += [(tree, c) for c in candidates]
    return places


def prefs_candidates(ctx: Context) -> tuple[str, ...]:
    """Prefs names that exist as anything (a symlink too): the report declares them all, so the
    manifest says why one was not collected."""
    return tuple(path for _, path in _prefs_places(ctx) if ctx.probes.fs.lstat(path) is not None)[:MAX_PREFS_FILES]


def prefs_files(ctx: Context) -> tuple[str, ...]:
    """The prefs files that are regular files, reached without a link (the ones read)."""
    fs = ctx.probes.fs
    found = [path for tree, path in _prefs_places(ctx)
             if (contained.is_file(fs, tree, path) if tree else _is_file(ctx, path))]
    return tuple(found[:MAX_PREFS_FILES])


def prefs_text(ctx: Context, path: str) -> str:
    """A prefs file's text ("" when missing, unreadable or refused), never through a link."""
    tree = contained.tree_of(path, contained.container_trees(ctx))
    if tree is None:
        return _text(ctx, path, PREFS_READ_BYTES)
    try:
        return contained.read_bytes(ctx.probes.fs, tree, path, PREFS_READ_BYTES)[0].decode("utf-8", "replace")
    except (contained.Refused, OSError):
        return ""


def spotify_users(ctx: Context, files: Iterable[str]) -> tuple[str, ...]:
    names = []
    for path in files:
        values = autologin_values(prefs_text(ctx, path))
        names += [v for k, v in values.items() if k in ("autologin.username", "autologin.canonical_username")]
        parent = os.path.basename(os.path.dirname(path))
        if parent.endswith("-user"):  # Users/<spotify name>-user/prefs
            names.append(parent[: -len("-user")])
    return _uniq(names)


def gather(ctx: Context, *, extra_hostnames: Iterable[str] = ()) -> Identity:
    entries = parse_passwd(_text(ctx, "/etc/passwd", 4 * 1024 * 1024))
    low, high = uid_range(_text(ctx, "/etc/login.defs", 256 * 1024))
    logins = _uniq([ctx.user.name, ctx.env.get("USER", ""), ctx.env.get("LOGNAME", ""),
                    ctx.env.get("SUDO_USER", "")])
    mine = [e for e in entries if e.uid == ctx.user.uid or e.name in logins]
    real = [e for e in entries if low <= e.uid <= high and e not in mine]
    others = _uniq(e.name for e in real if e.name.lower() not in PUBLIC_WORDS and e.name not in logins)
    full = _uniq(e.gecos for e in mine if len(e.gecos) >= 3 and e.gecos not in logins)
    homes = _homes([ctx.user.home, ctx.env.get("HOME", ""), *(e.home for e in mine), *(e.home for e in real)])
    prefs = prefs_files(ctx)
    return Identity(login_names=logins, other_users=others, full_names=full, homes=homes,
                    hostnames=hostnames(ctx, extra_hostnames), machine_ids=machine_ids(ctx),
                    spotify_users=spotify_users(ctx, prefs), prefs_files=prefs)
