"""The launch stamp: what the last launch that ran cleanly found, and what it depended on.

``spotidoctor launch`` trusts the stamp's preflight results (the launch fast path,
``launcher.fastpath``) only while ALL of these hold; anything else is the full preflight:

- the stamp is ours (this uid, mode 0600, a regular file, not a symlink), readable, of this
  schema and at most ``STAMP_TTL_S`` old (the clock going back is a miss too);
- its fingerprint equals one computed now (``launch_fingerprint``), a digest of everything the
  trusted checks depend on: spotidoctor's own code and the installed plugins (every source
  file's size and mtime, the site-packages directories), the session options and the ``--network`` of this
  launch, config.toml by content, the environment the checks read (``FINGERPRINT_ENV_PREFIXES``),
  podman's own fingerprint (the result cache's: binaries, configs, subordinate ids,
  newuidmap, runtimes, package databases, userns sysctls, boot id, pause process), the tools
  the checks look up, the X socket and every cookie file (the user's XAUTHORITY, the
  container's copy; a removed cookie changes it), the sound server's sockets, pid file and
  cookies (a restarted server makes a new socket; an unloaded socket module removes its
  socket), the session bus socket, and the storage directory with config/ and cache/;
- the image the launch runs still has the stamp's image id (asked live: ``fastpath``, from
  podman's own image store, or ``podman image inspect`` when that does not answer).

What no stat can see is re-checked live on every launch: the owner of every entry in the
storage (a chown changes no directory) and the X server's access control (``xhost +`` is
server state); see ``fastpath.LIVE_CHECKS``.

The stamp is written only after a launch whose preflight was clean (nothing blocking, no check
errored, nothing fixed, not ``--force``) and whose container exited 0 or was stopped by the
user; a crash removes it. A fast launch does not renew it: the TTL counts from the last full
preflight. The stamp holds check ids, statuses, summaries and facts, never secrets.
"""
from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from spotidoctor.api import Context
from spotidoctor.facts import CookieFacts, DisplayFacts, PulseClientFacts, PulseSocketFacts
from spotidoctor.model import CheckResult, Severity, Status
from spotidoctor.podman.fingerprint import podman_fingerprint
from spotidoctor.probes.x11auth import xauthority_path
from spotidoctor.resultcache import file_facts, fingerprint, text_digest
from spotidoctor.types import JSONValue

__all__ = ["LaunchStamp", "base_fingerprint", "launch_fingerprint", "load_stamp", "save_stamp", "forget_stamp",
           "stamp_path", "clean_preflight", "STAMP_TTL_S", "STAMP_NAME"]

SCHEMA = 1
STAMP_NAME = "launch-stamp.json"
# A day: a launch every morning is checked in full once a day at least; the fingerprint,
# not the age, is what makes the stamp trustworthy.
STAMP_TTL_S = 24 * 3600.0
CLOCK_SKEW_S = 60.0
MAX_STAMP_BYTES = 512 * 1024
# Environment the launch checks read (X, sound, D-Bus, podman, the XDG dirs, the locale).
FINGERPRINT_ENV_PREFIXES = ("DISPLAY", "XAUTHORITY", "WAYLAND_", "XDG_", "PULSE_", "PIPEWIRE_", "DBUS_",
                            "CONTAINER", "SPOTIDOCTOR_", "LANG", "LC_", "HOME", "USER", "LOGNAME", "PATH", "TMPDIR",
                            "TZ", "BROWSER", "SUDO_")
# Programs the launch checks look up in $PATH.
TOOLS = ("podman", "buildah", "conmon", "catatonit", "newuidmap", "newgidmap", "slirp4netns", "pasta",
         "fuse-overlayfs", "xdg-dbus-proxy", "pactl", "pipewire", "xauth")


@dataclass(frozen=True)
class LaunchStamp:
    digest: str
    created: float
    image_id: str
    results: tuple[CheckResult, ...]
    image_store: str = ""  # podman's images.json (graph root, driver), as `podman info` named it


def stamp_path(ctx: Context) -> str:
    return os.path.join(ctx.paths.state_dir, STAMP_NAME)


def clean_preflight(results: Sequence[CheckResult]) -> bool:
    """No check errored and nothing blocks the launch: warnings, skips and the non-blocking
    failures of the opt-ins (``audio = "direct"`` is always reported) are what the launch
    accepted, and the fast path accepts no more than that."""
    return bool(results) and not any(r.status is Status.ERROR or r.is_blocking for r in results)


# -- the fingerprint ---------------------------------------------------------------------------

def _env(ctx: Context) -> dict[str, JSONValue]:
    return {k: v for k, v in sorted(ctx.env.items()) if k.startswith(FINGERPRINT_ENV_PREFIXES)}


def _code(ctx: Context) -> list[JSONValue]:
    """spotidoctor's and the bundled checks' source files (an upgrade or an edit changes one),
    and the site-packages directories on sys.path (a plugin installed or removed changes one)."""
    import spotidoctor

    fs = ctx.probes.fs
    trees = [os.path.dirname(spotidoctor.__file__)]
    checks = importlib.util.find_spec("spotidoctor.checks")  # found, not imported
    trees += list(checks.submodule_search_locations or ()) if checks else []
    sites = [p for p in sys.path if p.startswith("/") and p.rstrip("/").endswith(("site-packages", "dist-packages"))]
    return [getattr(spotidoctor, "__version__", "?"), [_sources(tree) for tree in trees],
            [file_facts(fs, d) for d in sites]]


def _sources(tree: str) -> list[JSONValue]:
    """[relative path, size, mtime] of every .py below ``tree`` (a few hundred stats)."""
    found: list[JSONValue] = []
    for root, dirs, files in os.walk(tree):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                try:
                    st = os.stat(os.path.join(root, name))
                except OSError:
                    continue
                found.append([os.path.relpath(os.path.join(root, name), tree), st.st_size, st.st_mtime])
    return found


def _x11(ctx: Context, results: Sequence[CheckResult]) -> list[JSONValue]:
    display = DisplayFacts.of(results)
    cookie = CookieFacts.of(results)
    return [file_facts(ctx.probes.fs, display.socket_path) if display else None,
            file_facts(ctx.probes.fs, cookie.cookie_file) if cookie else None]


def _user_cookies(ctx: Context) -> list[JSONValue]:
    fs = ctx.probes.fs
    runtime = ctx.paths.xdg_runtime_dir or ""
    server = ctx.env.get("PULSE_SERVER", "")
    paths = [xauthority_path(ctx.env, ctx.user.home) or "", f"{runtime}/pulse/native", f"{runtime}/pipewire-0",
             f"{ctx.user.home}/.config/pulse/cookie", f"{ctx.paths.xdg_config_home}/pulse/cookie",
             f"{ctx.user.home}/.pulse-cookie"]
    if server.startswith("unix:"):
        paths.append(server[5:])
    pid = fs.read_text_or_none(f"{runtime}/pulse/pid", 64) if runtime else None
    return [[file_facts(fs, p) for p in paths if p], pid]


def _pulse(ctx: Context, results: Sequence[CheckResult]) -> list[JSONValue]:
    paths: list[str] = []
    dedicated = PulseSocketFacts.of(results)
    if dedicated:
        paths += [p for p in (dedicated.container_socket, dedicated.cookie_path) if p]
    client = PulseClientFacts.of(results)
    if client:
        paths += [p for p in (client.client_conf, client.cookie_copy) if p]
    return [file_facts(ctx.probes.fs, p) for p in paths]


def _storage(ctx: Context) -> list[JSONValue]:
    fs = ctx.probes.fs
    out: list[JSONValue] = []
    for path in (ctx.storage_dir, f"{ctx.storage_dir}/config", f"{ctx.storage_dir}/cache"):
        st = fs.lstat(path)
        out.append([path, None] if st is None else [path, st.ino, st.mode, st.uid, st.gid, st.mtime])
    return out


def base_fingerprint(ctx: Context, session_key: Mapping[str, JSONValue]) -> str:
    """What does not depend on the preflight's results: code, session, config, environment,
    podman, tools, the user's X and sound server sockets and cookies, the storage directories.
    The full path takes it before and after its checks: a change while they ran means no stamp.
    Raises OSError when something cannot be read (then: no fast path)."""
    which = ctx.probes.cmd.which
    tools: list[JSONValue] = [[name, file_facts(ctx.probes.fs, found) if (found := which(name)) else None]
                              for name in TOOLS]
    return fingerprint([
        ["code", _code(ctx)],
        ["session", dict(session_key)],
        ["config", text_digest(ctx.probes.fs, ctx.paths.config_file)],
        ["env", _env(ctx)],
        ["uid", ctx.user.uid, ctx.user.gid],
        ["podman", list(podman_fingerprint(ctx))],
        ["tools", tools],
        ["servers", _user_cookies(ctx)],
        ["storage", _storage(ctx)],
    ])


def launch_fingerprint(ctx: Context, results: Sequence[CheckResult], base: str) -> str:
    """``base`` plus the files the results name: the display's socket, and the container's
    cookie copy, dedicated sound socket and client config when the opt-ins use them."""
    return fingerprint([base, ["x11", _x11(ctx, results)], ["pulse", _pulse(ctx, results)]])


# -- results as JSON ----------------------------------------------------------------------------

def _result_json(result: CheckResult) -> dict[str, JSONValue]:
    return {"id": result.check_id, "status": result.status.value, "summary": result.summary,
            "severity": int(result.severity), "facts": dict(result.facts), "title": result.title,
            "category": result.category}


def _result_from(data: Mapping[str, JSONValue]) -> CheckResult:
    facts = data["facts"]
    severity = data["severity"]
    if not isinstance(facts, dict) or not isinstance(severity, int):
        raise TypeError("facts/severity")
    return CheckResult(str(data["id"]), Status(data["status"]), str(data["summary"]), facts=facts,
                       severity=Severity(severity), title=str(data["title"]), category=str(data["category"]))


# -- the file ------------------------------------------------------------------------------------

def load_stamp(ctx: Context, *, now: float | None = None) -> LaunchStamp | None:
    """The stamp, or None when there is none or it cannot be trusted as a file (not ours,
    writable by others, damaged, of another schema, too old or from the future)."""
    fs = ctx.probes.fs
    path = stamp_path(ctx)
    try:
        st = fs.lstat(path)
        if (st is None or not st.is_file or st.uid != os.geteuid() or st.perms & 0o077
                or st.size > MAX_STAMP_BYTES):
            return None
        data = json.loads(fs.read_bytes(path, MAX_STAMP_BYTES))
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            return None
        created = float(data["created"])
        age = (time.time() if now is None else now) - created
        if age > STAMP_TTL_S or age < -CLOCK_SKEW_S:
            return None
        results = tuple(_result_from(r) for r in data["results"])
        return LaunchStamp(str(data["digest"]), created, str(data["image_id"]), results,
                           str(data.get("image_store") or ""))
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return None


def save_stamp(ctx: Context, stamp: LaunchStamp) -> None:
    """Write the stamp (0600, atomically, never through a symlink); a failure costs only
    a full preflight next time."""
    data = {"schema": SCHEMA, "digest": stamp.digest, "created": stamp.created, "image_id": stamp.image_id,
            "image_store": stamp.image_store, "results": [_result_json(r) for r in stamp.results]}
    try:
        blob = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
        if len(blob) <= MAX_STAMP_BYTES:
            ctx.probes.fs.write_private(stamp_path(ctx), blob, mode=0o600, top=ctx.paths.state_dir)
    except (OSError, ValueError, TypeError):
        forget_stamp(ctx)


def forget_stamp(ctx: Context) -> None:
    try:
        ctx.probes.fs.unlink(stamp_path(ctx))
    except OSError:
        pass
