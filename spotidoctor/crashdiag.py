"""Crash diagnosis: read the sources, correlate with how the launch ran, name the cause.

Used by the ``crash.*`` checks and by ``spotidoctor launch`` (``diagnose_launch``) right
after Spotify exits non-zero. The reasoning follows CRASHES §6:

1. Sources, each bounded in size and time; a missing one is a fact, not an error:
   spotidoctor's own per-launch k8s-file logs (``launchlog``), ``podman logs`` of a
   container of the configured name that still exists, and the user journal.
2. The log's killer line decides the event: Chromium's out-of-memory FATAL (or its silent
   twin, a SIGTRAP/SIGILL exit without a line, from builds that use ``IMMEDIATE_CRASH``),
   or one of the other known killers (fd exhaustion, sandbox, display, GPU, ...).
3. For out-of-memory, the launch's settings (its recorded podman argv, rlimits and host
   facts, ``podman container inspect`` while the container exists, the live host) are
   checked cause by cause in the order the ``size=`` value suggests.
   A cause the launcher can remove is a fix plan that changes spotidoctor's config, so the
   next launch uses it; host-level causes are manual, with exact commands.
"""
from __future__ import annotations

import json
import os
import re
import signal
import time
from dataclasses import dataclass, field, replace
from enum import IntEnum
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

from spotidoctor import crashlog, launchlog
from spotidoctor.config import Config, reload
from spotidoctor.crashlog import CefFacts, Hit, ScanResult, Wrapper
from spotidoctor.errors import ConfigError, ProbeUnavailable
from spotidoctor.fixes import Fix, Instruction, SetConfig
from spotidoctor.model import CheckResult, Message, Severity, Status
from spotidoctor.types import JSONValue

if TYPE_CHECKING:
    from spotidoctor.api import Context
    from spotidoctor.launchlog import LaunchRecord

# -- bounds ------------------------------------------------------------------------------
LOG_SCAN_BYTES = 1024 ** 3  # the newest GiB of a launch log (about a second to scan)
LOG_SCAN_SECONDS = 30.0
MAX_RECORDS = 10  # launch records looked at (the launcher keeps keep_launch_logs)
PODMAN_TIMEOUT_S = 15.0
PODMAN_LOG_LINES = 5000
JOURNAL_TIMEOUT_S = 15.0
JOURNAL_LINES = 2000
JOURNAL_DAYS = 7
CEF_TIMEOUT_S = 60.0
# Where Spotify's packages put libcef.so inside an image (deb, tarball, flatpak layouts).
CEF_PATHS = ("/usr/share/spotify/libcef.so", "/opt/spotify/libcef.so", "/usr/lib/spotify/libcef.so",
             "/app/extra/share/spotify/libcef.so")
CHECK_ID = "crash.last-launch"

GiB = 1024 ** 3
MiB = 1024 ** 2
PODMAN_DEFAULT_SHM = 64 * MiB  # podman's default --shm-size
SHM_TOO_SMALL = 256 * MiB  # below this Spotify is at high risk
SHM_FIX = "2g"
NOFILE_LOW = 1024  # Chromium failed at 64..128 in the reproductions
NOFILE_RECOMMENDED = 4096
NOFILE_FIX = 65536
AS_NEEDED = 128 * GiB  # new Chromium needs more than 64 GiB of address space
DATA_LOW = 4 * GiB
MEMORY_LOW = 4 * GiB
SHM_SIZES = (262144, 524288, 4194304, 8294400)  # tiles, bitmaps, discardable chunks, 1080p frames
USER_STOP = (130, 143)  # SIGINT / SIGTERM: someone stopped it
PODMAN_ERRORS = {125: "podman itself failed", 126: "the command could not be invoked",
                 127: "the command was not found in the image"}

# -- user-facing texts (tests assert against these) --------------------------------------
SILENT_NOTE = ("Spotify died with {sig} and logged nothing: newer Chromium builds reach the same "
               "out-of-memory path silently (IMMEDIATE_CRASH, exit 133/132), so the `Out of memory. size=` "
               "line is missing because of the build, not because the cause is different.")
SILENT_NOTE_LEGACY = ("This build's libcef.so still contains `Out of memory. size=`, so an out-of-memory "
                      "crash would have been logged; the silent {sig} is more likely a CHECK or another trap.")
SIZE_TRUNCATED = "size={size} is very likely a cut-off {full} (the reported line is truncated)."
SIZE_SHM = "size={size} is a shared-memory request (a 256x256 tile is 262144 bytes): shared memory ran out."
SIZE_HEAP = "size=0 means a heap allocation failed (the size was not known)."
SIZE_BUG = "size={size} is absurdly large: an allocation-size bug in Spotify, not the environment."
NO_CAUSE = ("Nothing in how this launch ran explains it: {summary}. It may be genuine memory pressure "
            "or a bug in this Spotify build.")


class Strength(IntEnum):
    POSSIBLE = 1
    LIKELY = 2


@dataclass(frozen=True)
class Cause:
    """A named cause with its evidence, advice and fix plans."""

    key: str
    text: str
    advice: tuple[str, ...] = ()
    fixes: tuple[Fix, ...] = ()
    strength: Strength = Strength.LIKELY
    settled: bool = False  # the config for the next launch already removes it
    short: str = ""  # a few words for summaries

    @property
    def label(self) -> str:
        return self.short or self.key

    def to_json(self) -> dict[str, JSONValue]:
        return {"key": self.key, "short": self.label, "text": self.text, "strength": self.strength.name.lower(),
                "settled": self.settled, "fixes": [f.id for f in self.fixes]}


# -- small parsers -----------------------------------------------------------------------

_SIZE = re.compile(r"(\d{1,15}(?:\.\d{1,6})?)\s*([kmgtp]?)(?:i?b)?", re.I)
_UNITS = {"": 1, "k": 1024, "m": MiB, "g": GiB, "t": 1024 ** 4, "p": 1024 ** 5}


def parse_size(text: str | None) -> int | None:
    """podman's size syntax (``64m``, ``2g``, ``65536000``, ``1.5GiB``) in bytes."""
    if not text:
        return None
    m = _SIZE.fullmatch(text.strip())
    if m is None:
        return None
    return int(float(m[1]) * _UNITS[m[2].lower()])


def human(size: int | None) -> str:
    if size is None:
        return "unlimited"
    for unit, factor in (("GiB", GiB), ("MiB", MiB), ("KiB", 1024)):
        if size >= factor:
            value = size / factor
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{size} bytes"


def parse_ulimit(text: str) -> tuple[str, int | None, int | None] | None:
    """``nofile=1024:4096`` / ``data=-1`` -> (name, soft, hard); -1 means unlimited."""
    name, _, value = text.partition("=")
    soft_s, _, hard_s = value.partition(":")
    try:
        soft = int(soft_s)
        hard = int(hard_s) if hard_s else soft
    except ValueError:
        return None
    return name.strip(), (None if soft < 0 else soft), (None if hard < 0 else hard)


def signal_name(exit_code: int | None) -> str | None:
    """podman reports a signal death as 128 + signal number."""
    if exit_code is None or not 128 < exit_code < 128 + 65:
        return None
    try:
        return signal.Signals(exit_code - 128).name
    except ValueError:
        return f"signal {exit_code - 128}"


def describe_exit(exit_code: int | None) -> str:
    if exit_code is None:
        return "exit status unknown"
    sig = signal_name(exit_code)
    return f"exit status {exit_code} ({sig})" if sig else f"exit status {exit_code}"


# -- the podman argv of a launch ----------------------------------------------------------

_VALUE_OPTIONS = frozenset({
    "--shm-size", "--ipc", "--ulimit", "--memory", "-m", "--memory-swap", "--pids-limit", "--security-opt",
    "--mount", "--tmpfs", "--name", "-v", "--volume", "-e", "--env", "--env-file", "--network", "--net",
    "--log-driver", "--log-opt", "--userns", "--user", "-u", "--entrypoint", "--device", "--group-add",
    "--runtime", "--cap-drop", "--cap-add", "--hostname", "-h", "--workdir", "-w", "--label", "-l",
    "--annotation", "--pod", "--cpus", "--add-host", "--dns", "--secret", "--uidmap", "--gidmap", "--sysctl",
    "--pull", "--init-path", "--cgroupns", "--cgroups", "--uts", "--pid", "--platform", "--arch", "--os",
    "--stop-signal", "--stop-timeout", "--timeout", "--publish", "-p", "--expose", "--tz", "--umask",
    "--mac-address", "--ip", "--ip6", "--health-cmd", "--restart", "--systemd", "--cidfile", "--conmon-pidfile",
})


@dataclass(frozen=True)
class RunOptions:
    """What a recorded ``podman run`` argv says about the resources it gave Spotify."""

    shm_size: str | None = None
    ipc: str | None = None
    ulimits: tuple[str, ...] = ()
    memory: str | None = None
    pids_limit: str | None = None
    security_opts: tuple[str, ...] = ()
    shm_mount_size: str | None = None  # --mount/--tmpfs on /dev/shm
    shm_bind: bool = False  # a volume over /dev/shm
    command: tuple[str, ...] = ()  # after the image: Spotify's own arguments

    def ulimit(self, name: str) -> tuple[int | None, int | None] | None:
        for item in reversed(self.ulimits):  # the last one wins
            parsed = parse_ulimit(item)
            if parsed and parsed[0] == name:
                return parsed[1], parsed[2]
        return None

    @property
    def seccomp(self) -> str | None:
        for opt in self.security_opts:
            key, sep, value = opt.replace(":", "=", 1).partition("=")
            if sep and key == "seccomp":
                return value
        return None


def parse_run_argv(argv: Sequence[str], image: str = "") -> RunOptions:
    tokens = list(argv)
    if "run" in tokens:
        tokens = tokens[tokens.index("run") + 1:]
    found: dict[str, list[str]] = {}
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token == "--":
            index += 1
            break
        if token == image or not token.startswith("-"):
            break
        name, eq, value = token.partition("=")
        if not eq and name in _VALUE_OPTIONS and index + 1 < len(tokens):
            index += 1
            value = tokens[index]
        found.setdefault(name, []).append(value)
        index += 1
    return _run_options(found, tuple(tokens[index + 1:]))


def _last(found: Mapping[str, list[str]], *names: str) -> str | None:
    values = [v for n in names for v in found.get(n, [])]
    return values[-1] if values else None


def _run_options(found: Mapping[str, list[str]], command: tuple[str, ...]) -> RunOptions:
    shm_mount = None
    for item in found.get("--mount", []):
        fields = dict(part.partition("=")[::2] for part in item.split(","))
        if fields.get("destination", fields.get("dst", fields.get("target"))) == "/dev/shm":
            shm_mount = fields.get("tmpfs-size", "unlimited")
    for item in found.get("--tmpfs", []):
        path, _, opts = item.partition(":")
        if path == "/dev/shm":
            sizes = [o.partition("=")[2] for o in opts.split(",") if o.startswith("size=")]
            shm_mount = sizes[-1] if sizes else "unlimited"
    volumes = found.get("-v", []) + found.get("--volume", [])
    return RunOptions(
        shm_size=_last(found, "--shm-size"), ipc=_last(found, "--ipc"), ulimits=tuple(found.get("--ulimit", [])),
        memory=_last(found, "--memory", "-m"), pids_limit=_last(found, "--pids-limit"),
        security_opts=tuple(found.get("--security-opt", [])), shm_mount_size=shm_mount,
        shm_bind=any(v.split(":")[1:2] == ["/dev/shm"] for v in volumes), command=command,
    )


# -- podman container inspect -------------------------------------------------------------

@dataclass(frozen=True)
class ContainerInfo:
    """The parts of ``podman container inspect`` the diagnosis uses."""

    id: str
    name: str
    image: str = ""
    status: str = ""
    exit_code: int | None = None
    oom_killed: bool = False
    started_at: str = ""
    finished_at: str = ""
    shm_size: int | None = None
    ipc_mode: str = ""
    memory: int = 0
    pids_limit: int = 0
    ulimits: Mapping[str, tuple[int | None, int | None]] = field(default_factory=dict)
    security_opt: tuple[str, ...] = ()
    log_path: str = ""

    @property
    def running(self) -> bool:
        return self.status in ("running", "paused", "created", "configured", "initialized")

    @classmethod
    def from_inspect(cls, data: Mapping[str, object]) -> ContainerInfo:
        state = _mapping(data.get("State"))
        host = _mapping(data.get("HostConfig"))
        log = _mapping(host.get("LogConfig"))
        ulimits = {}
        for item in _list(host.get("Ulimits")):
            entry = _mapping(item)
            name = str(entry.get("Name", "")).lower().removeprefix("rlimit_")
            ulimits[name] = (_limit_value(entry.get("Soft")), _limit_value(entry.get("Hard")))
        return cls(
            id=str(data.get("Id", ""))[:12], name=str(data.get("Name", "")),
            image=str(data.get("ImageName") or data.get("Image") or ""), status=str(state.get("Status", "")),
            exit_code=_int_or_none(state.get("ExitCode")), oom_killed=bool(state.get("OOMKilled")),
            started_at=str(state.get("StartedAt", "")), finished_at=str(state.get("FinishedAt", "")),
            shm_size=_int_or_none(host.get("ShmSize")), ipc_mode=str(host.get("IpcMode", "")),
            memory=_int_or_none(host.get("Memory")) or 0, pids_limit=_int_or_none(host.get("PidsLimit")) or 0,
            ulimits=ulimits, security_opt=tuple(str(s) for s in _list(host.get("SecurityOpt"))),
            log_path=str(log.get("Path", "")),
        )


def _mapping(value: object) -> Mapping[str, object]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def _int_or_none(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d{1,20}", value.strip()):
        return int(value)
    return None


def _limit_value(value: object) -> int | None:
    number = _int_or_none(value)
    return None if number is None or number < 0 or number >= 2 ** 62 else number


# -- sources ------------------------------------------------------------------------------

@dataclass(frozen=True)
class SourceNote:
    """What happened when reading one source (a missing source is a fact)."""

    name: str
    state: str  # read | missing | unavailable | timeout | error | skipped
    detail: str = ""

    def text(self) -> str:
        return f"{self.name}: {self.state}" + (f" ({self.detail})" if self.detail else "")


def _now() -> float:
    return time.time()


def recent_records(ctx: Context) -> list[LaunchRecord]:
    """Launch records, newest first (at most MAX_RECORDS)."""
    return launchlog.records(ctx.probes.fs, ctx.paths.launches_dir)[:MAX_RECORDS]


def scan_launch_log(ctx: Context, record: LaunchRecord,
                    seconds: float = LOG_SCAN_SECONDS) -> tuple[ScanResult | None, SourceNote]:
    """The launch's k8s-file log, newest ``LOG_SCAN_BYTES`` of it, within ``seconds``."""
    name = f"launch log {record.log_path}"
    try:
        # RealFS has no streaming reader, and a log can be huge: open it under the sysroot.
        with open(ctx.probes.fs.host(record.log_path), "rb", buffering=0) as fh:
            size = os.fstat(fh.fileno()).st_size
            scan = crashlog.scan_file(fh, size, max_bytes=LOG_SCAN_BYTES, deadline=time.monotonic() + seconds)
    except FileNotFoundError:
        return None, SourceNote(name, "missing")
    except OSError as exc:
        return None, SourceNote(name, "error", exc.strerror or str(exc))
    detail = f"{human(scan.bytes_total)}, {scan.lines} lines parsed"
    if scan.bytes_skipped:
        detail += f", oldest {human(scan.bytes_skipped)} not scanned (size bound)"
    if scan.incomplete:
        detail += f", {scan.incomplete}"
    return scan, SourceNote(name, "read", detail)


def inspect_container(ctx: Context, name: str) -> tuple[ContainerInfo | None, SourceNote]:
    """``podman container inspect NAME`` (memoized per run)."""
    return ctx.memo.get(f"crash.inspect:{name}", lambda: _inspect(ctx, name))


def _inspect(ctx: Context, name: str) -> tuple[ContainerInfo | None, SourceNote]:
    label = f"container {name}"
    if ctx.probes.cmd.which("podman") is None:
        return None, SourceNote(label, "unavailable", "podman is not installed")
    done = ctx.probes.cmd.run(("podman", "container", "inspect", name), timeout=PODMAN_TIMEOUT_S)
    if done.timed_out:
        return None, SourceNote(label, "timeout", done.error_text())
    if done.returncode != 0:
        return None, SourceNote(label, "missing", "no such container (launches use --rm)")
    try:
        data = json.loads(done.stdout)
        info = ContainerInfo.from_inspect(data[0] if isinstance(data, list) else data)
    except (ValueError, IndexError, TypeError, AttributeError):
        return None, SourceNote(label, "error", "unreadable inspect output")
    return info, SourceNote(label, "read", f"{info.status}, exit {info.exit_code}")


def container_logs(ctx: Context, name: str) -> tuple[ScanResult | None, SourceNote]:
    """``podman logs --timestamps --tail N NAME``, streamed through the scanner."""
    label = f"podman logs {name}"
    scanner = crashlog.LineScanner(Wrapper.TIMESTAMPED)
    done = ctx.probes.cmd.stream(("podman", "logs", "--timestamps", f"--tail={PODMAN_LOG_LINES}", name),
                                 scanner.feed, timeout=PODMAN_TIMEOUT_S)
    if done.timed_out:
        return scanner.result("timed out"), SourceNote(label, "timeout", done.error_text())
    if done.returncode != 0:
        return None, SourceNote(label, "missing", done.error_text(120))
    return scanner.result(), SourceNote(label, "read", f"last {PODMAN_LOG_LINES} lines at most")


def journal_scan(ctx: Context) -> tuple[ScanResult | None, SourceNote]:
    """The user journal's lines of the container and of a host Spotify (memoized per run)."""
    return ctx.memo.get("crash.journal", lambda: _journal(ctx))


def journal_argv(container_name: str, since: float) -> tuple[str, ...]:
    # Field matches keep the query on the journal side; "+" ORs the two.
    return ("journalctl", "--user", "--no-pager", "--quiet", "--output=short-iso", f"--since=@{int(since)}",
            f"--lines={JOURNAL_LINES}", f"CONTAINER_NAME={container_name}", "+", "SYSLOG_IDENTIFIER=spotify")


def _journal(ctx: Context) -> tuple[ScanResult | None, SourceNote]:
    label = "user journal"
    if ctx.probes.cmd.which("journalctl") is None:
        return None, SourceNote(label, "unavailable", "journalctl is not installed")
    scanner = crashlog.LineScanner(Wrapper.JOURNAL)
    argv = journal_argv(ctx.config.container_name, _now() - JOURNAL_DAYS * 86400)
    done = ctx.probes.cmd.stream(argv, scanner.feed, timeout=JOURNAL_TIMEOUT_S)
    if done.timed_out:
        return scanner.result("timed out"), SourceNote(label, "timeout", done.error_text())
    if done.returncode != 0:
        return None, SourceNote(label, "unavailable", done.error_text(120))
    return scanner.result(), SourceNote(label, "read", f"last {JOURNAL_DAYS} days, {JOURNAL_LINES} lines at most")


def cef_argv(image: str) -> tuple[str, ...]:
    """grep inside the image prints each version string and marker of libcef.so on its own line."""
    return ("podman", "run", "--rm", "--pull=never", "--network=none", "--cap-drop=all", "--entrypoint=grep",
            image, "-a", "-o", "-h", "-s", "-w", "-E", "-e", crashlog.VERSION_PATTERN,
            "-e", re.escape(crashlog.LEGACY_OOM), "-e", crashlog.MEMFD_MARKER, *CEF_PATHS)


def image_cef(ctx: Context, image: str) -> tuple[CefFacts | None, SourceNote]:
    """Chromium facts of the image's libcef.so, memoized per image."""
    return ctx.memo.get(f"crash.cef:{image}", lambda: _image_cef(ctx, image))


def _image_cef(ctx: Context, image: str) -> tuple[CefFacts | None, SourceNote]:
    label = f"libcef.so in {image}"
    if not image or ctx.probes.cmd.which("podman") is None:
        return None, SourceNote(label, "unavailable", "no image or no podman")
    done = ctx.probes.cmd.run(cef_argv(image), timeout=CEF_TIMEOUT_S)
    if done.timed_out:
        return None, SourceNote(label, "timeout", done.error_text())
    facts = crashlog.cef_facts(done.stdout.splitlines())
    if facts.version or facts.legacy_oom_log or facts.memfd:
        return facts, SourceNote(label, "read", facts.version or "no version string")
    reasons = {1: "no libcef.so markers found", 2: "no libcef.so at the usual paths",
               125: "image not available locally", 126: "grep cannot run in the image",
               127: "the image has no grep"}
    return None, SourceNote(label, "unavailable", reasons.get(done.returncode, done.error_text(120)))


def next_launch_config(ctx: Context) -> Config:
    """The config the next launch will use: config.toml as it is now (a fix may just have
    changed it), flags still overriding it; the loaded one when the file is unreadable now."""
    if not ctx.probes.fs.exists(ctx.paths.config_file):
        return ctx.config
    try:
        return reload(ctx.probes.fs, ctx.paths.config_file, ctx.config_overrides)
    except ConfigError:
        return ctx.config


# -- settings: how a launch ran -----------------------------------------------------------

@dataclass(frozen=True)
class Limit:
    soft: int | None
    hard: int | None
    source: str

    def text(self) -> str:
        return f"{_num(self.soft)}:{_num(self.hard)} ({self.source})"


def _num(value: int | None) -> str:
    return "unlimited" if value is None else str(value)


@dataclass(frozen=True)
class Settings:
    """The correlation inputs of one launch."""

    shm_bytes: int | None = PODMAN_DEFAULT_SHM  # None: not a private tmpfs (ipc=host)
    shm_source: str = "podman's default"
    ipc: str = ""
    dev_shm_disabled: bool = False  # Spotify got --disable-dev-shm-usage
    address_space: Limit | None = None
    nofile: Limit | None = None
    podman_nofile_hard: int | None = None  # the most a rootless container can get
    data: Limit | None = None
    data_from_config: bool = False
    memory: int | None = None
    pids_limit: int | None = None
    seccomp: str | None = None
    overcommit: int | None = None
    commit_headroom: int | None = None
    cgroup_memory_max: int | None = None
    host_shm_free: int | None = None
    oom_killed: bool = False

    def summary(self) -> str:
        parts = [f"/dev/shm {self.shm_text()}"]
        parts.append(f"address space {human(self.address_space.soft) if self.address_space else 'unknown'}")
        parts.append(f"vm.overcommit_memory={self.overcommit if self.overcommit is not None else '?'}")
        if self.nofile:
            parts.append(f"open files {_num(self.nofile.hard)}")
        if self.data:
            parts.append(f"data {human(self.data.soft)}")
        return ", ".join(parts)

    def shm_text(self) -> str:
        if self.ipc == "none":
            return "absent (--ipc=none)"
        if self.shm_bytes is None:
            return f"shared with the host ({self.shm_source})"
        return f"{human(self.shm_bytes)} ({self.shm_source})"

    def to_json(self) -> dict[str, JSONValue]:
        def lim(limit: Limit | None) -> JSONValue:
            return None if limit is None else {"soft": limit.soft, "hard": limit.hard, "source": limit.source}

        return {"shm_bytes": self.shm_bytes, "shm_source": self.shm_source, "ipc": self.ipc,
                "dev_shm_disabled": self.dev_shm_disabled, "address_space": lim(self.address_space),
                "nofile": lim(self.nofile), "data": lim(self.data), "memory": self.memory,
                "pids_limit": self.pids_limit, "seccomp": self.seccomp, "overcommit_memory": self.overcommit,
                "commit_headroom": self.commit_headroom, "cgroup_memory_max": self.cgroup_memory_max}


def _recorded_limit(rlimits: Mapping[str, object], name: str) -> tuple[int | None, int | None] | None:
    value = rlimits.get(name)
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        return None
    soft, hard = value
    if not all(v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in (soft, hard)):
        return None
    return _limit_value(soft) if soft is not None else None, _limit_value(hard) if hard is not None else None


def settings_for(ctx: Context, record: LaunchRecord | None, container: ContainerInfo | None,
                 nxt: Config) -> Settings:
    """Everything known about how a launch (or a leftover container) ran."""
    opts = parse_run_argv(record.argv, record.image) if record else RunOptions()
    rlimits: Mapping[str, object] = record.rlimits if record else {}
    host: Mapping[str, JSONValue] = record.host if record else {}
    spotify_args = (*opts.command, *(record.spotify_args if record else ()))
    shm_bytes, shm_source = _shm(opts, container, record)
    ipc = opts.ipc or (container.ipc_mode if container and container.ipc_mode in ("host", "none") else "")
    data, data_cfg = _data_limit(opts, container, rlimits, nxt)
    return Settings(
        shm_bytes=None if ipc == "host" else shm_bytes, shm_source="--ipc=host" if ipc == "host" else shm_source,
        ipc=ipc, dev_shm_disabled="--disable-dev-shm-usage" in spotify_args,
        address_space=_address_space(ctx, rlimits), nofile=_nofile(opts, container, rlimits),
        podman_nofile_hard=(_recorded_limit(rlimits, "nofile") or (None, None))[1],
        data=data, data_from_config=data_cfg,
        memory=parse_size(opts.memory) or (container.memory if container and container.memory else None),
        pids_limit=_int_or_none(opts.pids_limit) or (container.pids_limit if container else None) or None,
        seccomp=opts.seccomp or _container_seccomp(container),
        overcommit=_overcommit(ctx, host), commit_headroom=_commit_headroom(ctx),
        cgroup_memory_max=_cgroup_memory_max(ctx),
        host_shm_free=_host_shm_free(ctx) if ipc == "host" else None,
        oom_killed=bool(container and container.oom_killed),
    )


def _shm(opts: RunOptions, container: ContainerInfo | None, record: LaunchRecord | None) -> tuple[int | None, str]:
    if opts.shm_mount_size:
        return parse_size(opts.shm_mount_size), f"tmpfs mount size={opts.shm_mount_size}"
    if opts.shm_size:
        return parse_size(opts.shm_size), f"--shm-size={opts.shm_size}"
    if container and container.shm_size:
        return container.shm_size, "podman inspect ShmSize"
    if record is not None and parse_size(record.shm_size):
        return parse_size(record.shm_size), f"shm_size={record.shm_size} (launch record)"
    return PODMAN_DEFAULT_SHM, "podman's default" if record else "podman's default (assumed)"


def _address_space(ctx: Context, rlimits: Mapping[str, object]) -> Limit | None:
    recorded = _recorded_limit(rlimits, "as")
    if recorded is not None:
        return Limit(recorded[0], recorded[1], "recorded by the launch")
    try:
        current = ctx.probes.procs.rlimits().get("as")
    except (ProbeUnavailable, OSError):  # the probe cannot tell: the limit is unknown
        return None
    return Limit(current.soft, current.hard, "this shell; not recorded by the launch") if current else None


def _nofile(opts: RunOptions, container: ContainerInfo | None, rlimits: Mapping[str, object]) -> Limit | None:
    given = opts.ulimit("nofile")
    if given is not None:
        return Limit(given[0], given[1], "--ulimit")
    if container and "nofile" in container.ulimits:
        soft, hard = container.ulimits["nofile"]
        return Limit(soft, hard, "podman inspect")
    recorded = _recorded_limit(rlimits, "nofile")
    return Limit(recorded[0], recorded[1], "podman's own limit, inherited") if recorded else None


def _data_limit(opts: RunOptions, container: ContainerInfo | None, rlimits: Mapping[str, object],
                nxt: Config) -> tuple[Limit | None, bool]:
    given = opts.ulimit("data")
    if given is not None and given[0] is not None:
        in_config = any(u.startswith("data=") for u in nxt.ulimits)
        return Limit(given[0], given[1], "--ulimit"), in_config
    if container and container.ulimits.get("data", (None, None))[0] is not None:
        soft, hard = container.ulimits["data"]
        return Limit(soft, hard, "podman inspect"), False
    recorded = _recorded_limit(rlimits, "data")
    if recorded and recorded[0] is not None:
        return Limit(recorded[0], recorded[1], "inherited from the launching shell"), False
    return None, False


def _container_seccomp(container: ContainerInfo | None) -> str | None:
    for opt in container.security_opt if container else ():
        if opt.startswith("seccomp=") or opt.startswith("seccomp:"):
            return opt[len("seccomp="):]
    return None


def _overcommit(ctx: Context, host: Mapping[str, JSONValue]) -> int | None:
    for key in ("overcommit_memory", "overcommit", "vm.overcommit_memory"):
        value = _int_or_none(host.get(key))
        if value is not None:
            return value
    text = ctx.probes.fs.read_text_or_none("/proc/sys/vm/overcommit_memory", 64)
    return _int_or_none(text.strip()) if text else None


def _commit_headroom(ctx: Context) -> int | None:
    text = ctx.probes.fs.read_text_or_none("/proc/meminfo", 64 * 1024) or ""
    values = {m[1]: int(m[2]) * 1024 for m in re.finditer(r"^(CommitLimit|Committed_AS):\s+(\d{1,15}) kB", text, re.M)}
    if len(values) != 2:
        return None
    return values["CommitLimit"] - values["Committed_AS"]


def _cgroup_memory_max(ctx: Context) -> int | None:
    """The tightest memory limit on this session's cgroup path (v2 memory.max, v1 limit)."""
    fs = ctx.probes.fs
    text = fs.read_text_or_none("/proc/self/cgroup", 64 * 1024) or ""
    limits = []
    for line in text.splitlines():
        hid, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hid == "0" and not controllers:
            base, name = "/sys/fs/cgroup", "memory.max"
        elif "memory" in controllers.split(","):
            base, name = "/sys/fs/cgroup/memory", "memory.limit_in_bytes"
        else:
            continue
        parts = [p for p in path.split("/") if p and p != ".."]
        for depth in range(len(parts), 0, -1):
            value = _int_or_none((fs.read_text_or_none("/".join([base, *parts[:depth], name]), 64) or "").strip())
            if value is not None and value < 2 ** 60:
                limits.append(value)
    return min(limits) if limits else None


def _host_shm_free(ctx: Context) -> int | None:
    usage = ctx.probes.fs.disk_usage("/dev/shm")
    return usage.free_bytes if usage else None


# -- causes -------------------------------------------------------------------------------

def _set_config(fix_id: str, title: str, key: str, value: str | bool | tuple[str, ...],
                *, safe: bool = True, notes: tuple[str, ...] = ()) -> Fix:
    step = SetConfig(f"set {key} in spotidoctor's config (the next launch uses it)", key=key, value=value)
    maker = Fix.safe if safe else Fix.unsafe
    return maker(fix_id, title, step, notes=notes)


def _manual(fix_id: str, title: str, *commands: str, notes: tuple[str, ...] = ()) -> Fix:
    return Fix.manual(fix_id, title, *(Instruction(c, text=c) for c in commands), notes=notes)


def _without_ipc_none(args: tuple[str, ...]) -> tuple[str, ...]:
    """``args`` without ``--ipc=none`` / ``--ipc none``."""
    kept: list[str] = []
    skip = False
    for index, arg in enumerate(args):
        if skip:
            skip = False
            continue
        if arg == "--ipc=none":
            continue
        if arg == "--ipc" and args[index + 1:index + 2] == ("none",):
            skip = True
            continue
        kept.append(arg)
    return tuple(kept)


def cause_dev_shm(s: Settings, nxt: Config, cef: CefFacts | None) -> Cause | None:
    """CRASHES §2 cause 1 (and 9): a small, full, or missing /dev/shm."""
    if s.ipc == "none":
        args = _without_ipc_none(nxt.extra_run_args)
        settled = args == nxt.extra_run_args
        fix = _set_config("crash.drop-ipc-none", "remove --ipc=none from extra_run_args", "extra_run_args", args,
                          safe=False)
        return Cause("dev-shm", "The container had no /dev/shm at all (--ipc=none): Chromium cannot create "
                     "shared memory.", ("Remove --ipc=none from extra_run_args.",), () if settled else (fix,),
                     settled=settled, short="no /dev/shm (--ipc=none)")
    if s.dev_shm_disabled:
        return None
    if s.shm_bytes is None:
        free = s.host_shm_free
        if free is not None and free < SHM_TOO_SMALL:
            return Cause("dev-shm", f"The host's /dev/shm (shared through --ipc=host) has only {human(free)} free.",
                         ("Free space in /dev/shm on the host (`df -h /dev/shm`).",), strength=Strength.POSSIBLE,
                         short=f"the host's /dev/shm has {human(free)} free")
        return None
    if s.shm_bytes >= SHM_TOO_SMALL:
        return None
    strength = Strength.LIKELY
    note = ""
    if cef is not None and cef.memfd and not s.seccomp:
        strength, note = Strength.POSSIBLE, " This build uses memfd shared memory, so /dev/shm is only its fallback."
    fixed = parse_size(nxt.shm_size) or 0
    settled = fixed >= SHM_TOO_SMALL and fixed > s.shm_bytes
    return Cause(
        "dev-shm",
        f"/dev/shm in the container was only {s.shm_text()}; Chromium keeps its shared memory there and "
        f"fails when it is full (podman's default is 64 MB).{note}",
        (f"spotidoctor fix crash: sets shm_size = \"{SHM_FIX}\" (podman --shm-size={SHM_FIX}); "
         "/dev/shm is charged to memory only as it is used.",
         "Alternative: spotify_args = [\"--disable-dev-shm-usage\"] (shared memory in /tmp; untested with "
         "Spotify)."),
        () if settled else (_set_config("crash.shm-size", f"give the container a {SHM_FIX} /dev/shm", "shm_size",
                                        SHM_FIX),),
        strength, settled, f"/dev/shm was only {human(s.shm_bytes)} ({s.shm_source})",
    )


def cause_address_space(s: Settings, nxt: Config) -> Cause | None:
    """CRASHES §2 cause 2: RLIMIT_AS (ulimit -v), which rootless podman passes into the container."""
    limit = s.address_space
    if limit is None or limit.soft is None:
        return None
    strength = Strength.LIKELY if limit.soft < AS_NEEDED else Strength.POSSIBLE
    short = f"address space limited to {human(limit.soft)} (ulimit -v)"
    text = (f"The address space was limited to {human(limit.soft)} (ulimit -v, {limit.source}); Chromium reserves "
            f"far more than that (new builds need over 64 GiB) and dies when a mapping fails.")
    if limit.hard is None or limit.hard > limit.soft:
        settled = nxt.lift_rlimit_as
        fix = _set_config("crash.lift-rlimit-as", "raise the address-space limit before starting podman",
                          "lift_rlimit_as", True)
        hard = human(limit.hard) if limit.hard is not None else "unlimited"
        return Cause("rlimit-as", text, (f"The hard limit is {hard}: spotidoctor can raise the soft limit "
                                         "before podman (lift_rlimit_as = true).",),
                     () if settled else (fix,), strength, settled, short)
    commands = (
        f"The hard limit is {human(limit.hard)}; only root can raise it. Find it with: "
        "grep -rn -w as /etc/security/limits.conf /etc/security/limits.d/ ; "
        "systemctl --user show -p LimitAS",
        "Remove that `as` line (or LimitAS=), log out and in, then check: ulimit -Hv   (must print unlimited)",
    )
    return Cause("rlimit-as", text, commands,
                 (_manual("crash.raise-hard-rlimit-as", "remove the hard address-space limit (admin)", *commands),),
                 strength, short=short + ", hard")


def cause_overcommit(s: Settings) -> Cause | None:
    """CRASHES §2 cause 3: strict overcommit on the host (not per container)."""
    if s.overcommit != 2:
        return None
    headroom = f" (commit headroom now {human(max(s.commit_headroom, 0))})" if s.commit_headroom is not None else ""
    commands = ("sudo sysctl -w vm.overcommit_memory=0",
                "echo 'vm.overcommit_memory = 0' | sudo tee /etc/sysctl.d/60-spotidoctor-overcommit.conf")
    return Cause("overcommit", f"The host has vm.overcommit_memory=2 (strict commit accounting){headroom}: "
                 "Chromium's reservations fail. It is a host setting; no container option changes it.",
                 commands, (_manual("crash.overcommit", "allow memory overcommit on the host (admin)", *commands,
                                    notes=("Or keep 2 and raise vm.overcommit_ratio / add swap.",)),),
                 short="vm.overcommit_memory=2 on the host")


def cause_nofile(s: Settings, nxt: Config, *, seen_in_log: bool = False) -> Cause | None:
    """CRASHES §2 cause 4: too few file descriptors (shared memory creation gets EMFILE)."""
    limit = s.nofile
    hard = limit.hard if limit else None
    if not seen_in_log and (hard is None or hard >= NOFILE_RECOMMENDED):
        return None
    strength = Strength.LIKELY if seen_in_log or (hard is not None and hard < NOFILE_LOW) else Strength.POSSIBLE
    shown = limit.text() if limit else "unknown"
    text = f"Spotify ran out of file descriptors (open files limit {shown})."
    short = "out of file descriptors"
    if not seen_in_log:
        text = f"The open files limit was {shown}; Chromium needs thousands (at least {NOFILE_RECOMMENDED})."
        short = f"open files limit {_num(hard)}"
    target = NOFILE_FIX
    ceiling = s.podman_nofile_hard
    if ceiling is not None and ceiling < target:
        target = ceiling
    configured = next((parse_ulimit(u) for u in reversed(nxt.ulimits) if u.startswith("nofile=")), None)
    settled = bool(configured and configured[2] is not None and configured[2] >= max(NOFILE_RECOMMENDED,
                                                                                     (hard or 0) + 1))
    if target < NOFILE_RECOMMENDED:
        commands = (f"Your hard open-files limit is {target}; raise it (admin) in /etc/security/limits.conf, e.g. "
                    f"`{'<user>'} hard nofile {NOFILE_FIX}`, then log in again and check `ulimit -Hn`.",)
        return Cause("nofile", text, commands, (_manual("crash.raise-hard-nofile", "raise the hard open-files "
                                                        "limit (admin)", *commands),), strength, settled, short)
    value = tuple(u for u in nxt.ulimits if not u.startswith("nofile=")) + (f"nofile={target}:{target}",)
    return Cause("nofile", text, (f"spotidoctor fix crash: ulimits gets nofile={target}:{target} "
                                  "(podman --ulimit).",),
                 () if settled else (_set_config("crash.ulimit-nofile", f"let Spotify open {target} files",
                                                 "ulimits", value),), strength, settled, short)


def cause_data(s: Settings, nxt: Config) -> Cause | None:
    """CRASHES §2 cause 5: RLIMIT_DATA (counts private writable mappings since Linux 4.7)."""
    limit = s.data
    if limit is None or limit.soft is None:
        return None
    strength = Strength.LIKELY if limit.soft < DATA_LOW else Strength.POSSIBLE
    text = f"The data segment was limited to {human(limit.soft)} ({limit.source})."
    short = f"data size limited to {human(limit.soft)}"
    if s.data_from_config:
        value = tuple(u for u in nxt.ulimits if not u.startswith("data="))
        return Cause("rlimit-data", text, ("spotidoctor fix crash: removes data= from ulimits.",),
                     (_set_config("crash.drop-ulimit-data", "drop the data-size limit", "ulimits", value),), strength,
                     short=short)
    settled = limit.source == "--ulimit" and not any(u.startswith("data=") for u in nxt.ulimits) and \
        not any(a.startswith("--ulimit") for a in nxt.extra_run_args)
    commands = ("ulimit -d unlimited   # in the shell that runs spotidoctor launch",
                "or remove the `data` line from /etc/security/limits.conf (admin) and log in again")
    return Cause("rlimit-data", text, commands,
                 () if settled else (_manual("crash.rlimit-data", "remove the data-size limit", *commands),),
                 strength, settled, short)


def cause_seccomp(s: Settings) -> Cause | None:
    """CRASHES §2 cause 8: a custom seccomp profile that blocks memfd_create."""
    if not s.seccomp or s.seccomp == "unconfined":
        return None
    return Cause("seccomp", f"The container used a custom seccomp profile ({s.seccomp}); if it blocks memfd_create, "
                 "Chromium falls back to /dev/shm.",
                 ("Make sure the profile allows memfd_create and clone3, or use podman's default profile.",),
                 strength=Strength.POSSIBLE, short="a custom seccomp profile")


def cause_memory_limit(s: Settings) -> Cause | None:
    """CRASHES §2 cause 6: a memory cgroup limit (a kernel OOM kill, never the FATAL line)."""
    limits = [v for v in (s.memory, s.cgroup_memory_max) if v]
    if not limits and not s.oom_killed:
        return None
    smallest = min(limits) if limits else None
    if smallest is not None and smallest >= MEMORY_LOW and not s.oom_killed:
        return None
    where = f"a memory limit of {human(smallest)}" if smallest else "the memory limit"
    return Cause("memory-limit", f"The kernel killed Spotify for exceeding {where}"
                 + (" (podman: OOMKilled)." if s.oom_killed else "."),
                 ("Remove --memory from extra_run_args or raise it to 4g or more; /dev/shm use counts too.",
                  "Check the user slice: systemctl --user show -p MemoryMax"),
                 strength=Strength.LIKELY if s.oom_killed or (smallest and smallest < MEMORY_LOW) else
                 Strength.POSSIBLE, short=f"memory limit {human(smallest)}" if smallest else "memory limit")


# -- out-of-memory reasoning ---------------------------------------------------------------

def read_size(size: int | None, shm_precursors: bool) -> tuple[str, tuple[str, ...]]:
    """(bucket, notes) for the ``size=`` of the OOM line."""
    if size is None:
        return "unknown", ()
    if size >= 2 ** 31:
        return "size-bug", (SIZE_BUG.format(size=size),)
    notes: list[str] = []
    full = next((k for k in SHM_SIZES if len(str(k)) == len(str(size)) + 1 and str(k).startswith(str(size))
                 and size != 0), None)
    if full is not None:
        notes.append(SIZE_TRUNCATED.format(size=size, full=full))
        size = full
    if size == 0:
        return "heap", (*notes, SIZE_HEAP)
    if size in SHM_SIZES or size % 65536 == 0 or shm_precursors:
        return "shm", (*notes, SIZE_SHM.format(size=size))
    return "other", tuple(notes)


_ORDER = {
    "shm": ("dev-shm", "nofile", "seccomp", "rlimit-as", "overcommit", "rlimit-data"),
    "heap": ("rlimit-as", "overcommit", "rlimit-data", "dev-shm", "nofile", "seccomp"),
    "other": ("dev-shm", "rlimit-as", "overcommit", "nofile", "rlimit-data", "seccomp"),
    "unknown": ("dev-shm", "rlimit-as", "overcommit", "nofile", "rlimit-data", "seccomp"),
    "size-bug": ("dev-shm", "rlimit-as", "overcommit", "nofile", "rlimit-data", "seccomp"),
}


def oom_causes(s: Settings, nxt: Config, cef: CefFacts | None, bucket: str) -> list[Cause]:
    """Every cause that applies, most likely first: strength, then the bucket's order."""
    found = {c.key: c for c in (cause_dev_shm(s, nxt, cef), cause_address_space(s, nxt), cause_overcommit(s),
                                cause_nofile(s, nxt), cause_data(s, nxt), cause_seccomp(s)) if c is not None}
    ordered = [found[k] for k in _ORDER[bucket] if k in found]
    return sorted(ordered, key=lambda c: -c.strength)  # sorted() is stable: the order holds within a strength


def no_cause(s: Settings, bucket: str, nxt: Config) -> Cause:
    advice = ["Watch memory while it runs (`podman stats`); a bigger /dev/shm or "
              "spotify_args = [\"--disable-dev-shm-usage\"] may still help.",
              "If it keeps happening, rebuild for a newer Spotify (`spotidoctor build --no-cache`) and report it "
              "(`spotidoctor report`)."]
    fixes: tuple[Fix, ...] = ()
    if bucket == "shm" and "--disable-dev-shm-usage" not in nxt.spotify_args and not s.dev_shm_disabled:
        fixes = (_set_config("crash.disable-dev-shm-usage", "let Chromium keep shared memory in /tmp instead",
                             "spotify_args", (*nxt.spotify_args, "--disable-dev-shm-usage"), safe=False,
                             notes=("Untested with Spotify.",)),)
    return Cause("none-found", NO_CAUSE.format(summary=s.summary()), tuple(advice), fixes, Strength.POSSIBLE,
                 short=f"none of the known limits (/dev/shm {human(s.shm_bytes)})" if s.shm_bytes else
                 "none of the known limits")


# -- verdicts -----------------------------------------------------------------------------

# A FATAL line can match several signatures; the most specific names the event.
_SPECIFIC = ("oom_terminate", "oom_new_handler", "shm_access", "sandbox", "fd_exhausted", "thread_fail",
             "no_display", "gpu_crash", "mit_shm", "check_failed", "v8_oom", "kernel_oomkill", "signal_dump",
             "shell_signal", "pulse", "shm_create_fail", "shm_alloc_fail", "mojo_broker", "shm_low")
_FATAL_ALWAYS = frozenset({"signal_dump", "shell_signal", "kernel_oomkill", "no_display"})
_NOTABLE = ("fd_exhausted", "thread_fail", "mit_shm", "gpu_crash", "v8_oom", "shm_create_fail", "shm_alloc_fail",
            "mojo_broker", "shm_low", "shm_access", "sandbox", "pulse")
_SHM_PRECURSORS = ("shm_low", "mojo_broker", "shm_alloc_fail", "shm_create_fail")
_OOM = ("oom_terminate", "oom_new_handler")


def _is_fatal(hit: Hit) -> bool:
    if hit.signature in _FATAL_ALWAYS:
        return True
    if hit.signature == "gpu_crash" and "isn't usable" in hit.line.text:
        return True
    chromium = hit.chromium
    return chromium is not None and chromium.is_fatal


def killer(scan: ScanResult | None) -> Hit | None:
    """The line that ended the run: an OOM line if any, else the latest fatal-class line."""
    if scan is None:
        return None
    oom = scan.last(*_OOM)
    if oom is not None:
        return oom
    fatal = [h for h in scan.hits if _is_fatal(h)]
    if not fatal:
        return None
    offset = fatal[-1].line.offset
    same_line = [h for h in fatal if h.line.offset == offset]
    return min(same_line, key=lambda h: _SPECIFIC.index(h.signature))


def notable(scan: ScanResult | None) -> Hit | None:
    """The latest non-fatal known error (context when nothing fatal was logged)."""
    return scan.last(*_NOTABLE) if scan else None


@dataclass(frozen=True)
class Verdict:
    """What happened in one launch (or container, or journal entry) and why."""

    source: str  # "launch 20261129-235959-abc123"
    launch_id: str | None
    crashed: bool
    event: str  # a signature key, "silent-trap", "exit", "podman-error", "clean", "stopped", "running"
    headline: str
    quote: str | None = None
    logged_at: str | None = None
    chromium_time: str | None = None
    exit_code: int | None = None
    cause: Cause | None = None
    also: tuple[Cause, ...] = ()
    evidence: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    extra: Mapping[str, JSONValue] = field(default_factory=dict)

    @property
    def signal(self) -> str | None:
        return signal_name(self.exit_code)

    @property
    def settled(self) -> bool:
        return self.cause is not None and self.cause.settled

    @property
    def fixes(self) -> tuple[Fix, ...]:
        return self.cause.fixes if self.cause else ()

    def summary(self) -> str:
        if self.cause is None:
            return self.headline
        kind = "likely cause" if self.cause.strength is Strength.LIKELY else "possible cause"
        pending = " (fixed in the config; launch again)" if self.cause.settled else ""
        return f"{self.headline}; {kind}: {self.cause.label}{pending}"

    def to_json(self) -> dict[str, JSONValue]:
        return {
            "source": self.source, "launch_id": self.launch_id, "crashed": self.crashed, "event": self.event,
            "headline": self.headline, "quote": self.quote, "logged_at": self.logged_at,
            "chromium_time": self.chromium_time, "exit_code": self.exit_code, "signal": self.signal,
            "cause": self.cause.key if self.cause else None, "cause_text": self.cause.text if self.cause else None,
            "cause_short": self.cause.label if self.cause else None, "settled": self.settled,
            "also": [c.key for c in self.also], "evidence": list(self.evidence),
            "notes": list(self.notes), **self.extra,
        }


@dataclass(frozen=True)
class Inputs:
    """Everything a verdict is judged from (built from the sources, or faked in tests)."""

    source: str
    launch_id: str | None
    exit_code: int | None
    finished: bool
    scan: ScanResult | None
    settings: Settings
    next_config: Config
    cef: Callable[[], CefFacts | None] = lambda: None  # asked only when it matters (a podman run)


def judge(inputs: Inputs) -> Verdict:
    """The verdict for one run: pure, so every rule is testable with faked inputs."""
    hit = killer(inputs.scan)
    code = inputs.exit_code
    base = Verdict(inputs.source, inputs.launch_id, False, "clean", "", exit_code=code)
    if hit is not None:
        return _with_quote(_judge_hit(inputs, hit, base), hit)
    if code is None:
        return replace(base, event="running" if not inputs.finished else "unknown",
                       headline="still running, or the launch was not recorded to the end")
    if code == 0:
        return replace(base, headline="exited normally (status 0)")
    if code in USER_STOP:
        return replace(base, event="stopped", headline=f"was stopped ({describe_exit(code)})")
    if code in PODMAN_ERRORS:
        return _podman_error(base, code, inputs.scan)
    if code in (132, 133):
        return _oom_verdict(inputs, None, replace(base, crashed=True, event="silent-trap"))
    if code == 137:
        return _killed(inputs, base)
    return _unexplained(inputs, base)


def _with_quote(verdict: Verdict, hit: Hit) -> Verdict:
    chromium = hit.chromium
    return replace(verdict, quote=hit.quote, logged_at=hit.line.logged_at,
                   chromium_time=chromium.display_stamp() if chromium else None)


def _judge_hit(inputs: Inputs, hit: Hit, base: Verdict) -> Verdict:
    code = inputs.exit_code
    crashed = code not in (0, None) and code not in USER_STOP
    base = replace(base, crashed=crashed, event=hit.signature)
    if hit.signature in _OOM:
        return _oom_verdict(inputs, hit, base)
    what, cause = _rule(inputs, hit)
    prefix = "Spotify crashed" if crashed else "Spotify logged a fatal error"
    return replace(base, headline=f"{prefix}: {what}, {describe_exit(code)}", cause=cause,
                   evidence=_evidence(inputs.scan, hit))


def _rule(inputs: Inputs, hit: Hit) -> tuple[str, Cause | None]:
    """What a killer line means and its cause, per signature."""
    s, nxt = inputs.settings, inputs.next_config
    rules: dict[str, Callable[[], tuple[str, Cause | None]]] = {
        "shm_access": lambda: ("/dev/shm is missing or not writable", _shm_access(s, nxt)),
        "sandbox": lambda: ("Chromium's sandbox could not start", _sandbox(nxt)),
        "fd_exhausted": lambda: ("ran out of file descriptors", cause_nofile(s, nxt, seen_in_log=True)),
        "thread_fail": lambda: ("could not create threads or processes", _threads(s, nxt)),
        "no_display": lambda: ("could not open the X display", _display()),
        "gpu_crash": lambda: ("the GPU process failed", _gpu(nxt)),
        "mit_shm": lambda: ("the X server refused the container's shared memory (MIT-SHM)", _mit_shm()),
        "check_failed": lambda: ("an internal check failed", _check_failed(hit)),
        "v8_oom": lambda: ("JavaScript ran out of memory", _v8()),
        "kernel_oomkill": lambda: ("killed by the kernel's OOM killer", cause_memory_limit(s) or _memory_pressure()),
        "signal_dump": lambda: (f"crashed with signal {hit.groups.get('sig', '?')}", _segfault()),
        "shell_signal": lambda: (f"died: {hit.quote}", _segfault()),
        "pulse": lambda: ("could not connect to the audio server", _pulse()),
    }
    rule = rules.get(hit.signature)
    return rule() if rule else (crashlog.MEANING.get(hit.signature, hit.signature), None)


def _evidence(scan: ScanResult | None, hit: Hit | None, limit: int = 5) -> tuple[str, ...]:
    """Known error lines logged before the killer line (the precursors), oldest first."""
    if scan is None:
        return ()
    before = [h for h in scan.hits if hit is None or h.line.offset < hit.line.offset]
    seen: list[str] = []
    for h in reversed(before):
        if h.quote not in seen:
            seen.append(h.quote)
        if len(seen) >= limit:
            break
    return tuple(reversed(seen))


def _oom_verdict(inputs: Inputs, hit: Hit | None, base: Verdict) -> Verdict:
    s, nxt = inputs.settings, inputs.next_config
    scan = inputs.scan
    precursors = bool(scan and any(k in scan.latest for k in _SHM_PRECURSORS))
    size = hit.size if hit else None
    bucket, notes = read_size(size, precursors)
    cef = inputs.cef()
    notes = (*notes, *_cef_notes(cef, hit is None, base.exit_code))
    causes = oom_causes(s, nxt, cef, bucket)
    if bucket == "size-bug":
        causes = [Cause("size-bug", SIZE_BUG.format(size=size),
                        ("Report it (`spotidoctor report`) and try a newer Spotify (`spotidoctor build --no-cache`).",),
                        short="an allocation-size bug"),
                  *causes]
    if not causes:
        causes = [no_cause(s, bucket, nxt)]
    what = f"out of memory (size={size})" if size is not None else "silent out-of-memory trap"
    crashed = base.crashed or (hit is not None and base.exit_code not in (0, None, *USER_STOP))
    if hit is not None and not crashed:
        headline = f"Spotify logged an out-of-memory FATAL (size={size}) but {_exit_phrase(base.exit_code)}"
    else:
        headline = f"Spotify crashed: {what}, {describe_exit(base.exit_code)}"
    extra: dict[str, JSONValue] = {"size": size, "size_reading": bucket, "settings": s.to_json()}
    if cef is not None:
        extra.update(cef.to_json())  # type: ignore[arg-type]
    return replace(base, crashed=crashed, headline=headline, cause=causes[0], also=tuple(causes[1:]),
                   evidence=_evidence(scan, hit), notes=notes, extra=extra)


def _exit_phrase(code: int | None) -> str:
    if code is None:
        return "its exit status is not known"
    if code == 0:
        return "exited normally (a child process died)"
    return f"was stopped ({describe_exit(code)})"


def _cef_notes(cef: CefFacts | None, silent: bool, code: int | None) -> tuple[str, ...]:
    sig = signal_name(code) or describe_exit(code)
    notes = []
    if cef is not None:
        version = f"Chromium {cef.version}" if cef.version else "an unknown Chromium"
        logs = "logs" if cef.legacy_oom_log else "does not log"
        shm = "memfd" if cef.memfd else "/dev/shm files"
        notes.append(f"The image's libcef.so is {version}; it {logs} out-of-memory lines and keeps shared memory "
                     f"in {shm}.")
    if silent:
        legacy = cef is not None and cef.legacy_oom_log
        notes.append((SILENT_NOTE_LEGACY if legacy else SILENT_NOTE).format(sig=sig))
    return tuple(notes)


def _killed(inputs: Inputs, base: Verdict) -> Verdict:
    cause = cause_memory_limit(inputs.settings) or Cause(
        "killed", "Something sent SIGKILL: the kernel's OOM killer or `podman kill`/`podman stop` after its "
        "timeout.", ("Look for `Killed process` in `journalctl -k` (may need admin rights).",),
        strength=Strength.POSSIBLE, short="SIGKILL (OOM killer or podman kill)")
    return replace(base, crashed=True, event="killed", headline=f"Spotify was killed, {describe_exit(137)}",
                   cause=cause, evidence=_evidence(inputs.scan, None))


def _podman_error(base: Verdict, code: int, scan: ScanResult | None) -> Verdict:
    return replace(base, crashed=True, event="podman-error",
                   headline=f"the container did not run: {PODMAN_ERRORS[code]} (exit status {code})",
                   cause=Cause("podman-error", "podman could not start Spotify.",
                               ("Run `spotidoctor check podman image` and look at the launch's log.",),
                               short="podman error"),
                   evidence=_evidence(scan, None))


def _unexplained(inputs: Inputs, base: Verdict) -> Verdict:
    """A non-zero exit without a fatal line: the last known error, if any, gets its own advice."""
    code = base.exit_code
    verdict = replace(base, crashed=True, event="exit", evidence=_evidence(inputs.scan, None),
                      headline=f"Spotify exited with {describe_exit(code)} and no fatal log line")
    context = notable(inputs.scan)
    what, cause = _rule(inputs, context) if context else ("", None)
    if context is None or cause is None:
        return replace(verdict, cause=Cause(
            "unknown", f"Spotify ended with {describe_exit(code)} and logged no known fatal error.",
            ("Read the launch's whole log; spotify_args = [\"--show-console\"] makes Spotify log more.",),
            strength=Strength.POSSIBLE, short="unknown"))
    verdict = replace(verdict, event=context.signature, evidence=_evidence(inputs.scan, context),
                      headline=f"{verdict.headline}; the last known error: {what}",
                      cause=replace(cause, strength=Strength.POSSIBLE))
    return _with_quote(verdict, context)


def _shm_access(s: Settings, nxt: Config) -> Cause:
    if s.ipc == "none":
        cause = cause_dev_shm(s, nxt, None)
        if cause is not None:
            return cause
    where = " (a volume is mounted over it)" if s.shm_source.startswith("tmpfs") or s.ipc else ""
    return Cause("dev-shm-access", f"Chromium could not use /dev/shm{where}: it must be a writable tmpfs with "
                 "mode 1777.", ("Do not mount a host directory over /dev/shm; use shm_size instead.",
                                "Remove --ipc=none or a /dev/shm volume from extra_run_args."),
                 short="/dev/shm not usable")


def _sandbox(nxt: Config) -> Cause:
    settled = "--no-sandbox" in nxt.spotify_args
    fix = _set_config("crash.no-sandbox", "run Spotify without Chromium's own sandbox (the container is the "
                      "sandbox)", "spotify_args", (*nxt.spotify_args, "--no-sandbox"), safe=False)
    return Cause("sandbox", "Chromium's sandbox needs user namespaces or a setuid helper that a rootless "
                 "container does not offer.", ("spotify_args = [\"--no-sandbox\"]: the container already "
                                               "isolates Spotify.",),
                 () if settled else (fix,), settled=settled, short="Chromium's sandbox")


def _threads(s: Settings, nxt: Config) -> Cause:
    data = cause_data(s, nxt)
    if data is not None:
        return data
    limit = f" (pids limit {s.pids_limit})" if s.pids_limit else ""
    return Cause("threads", f"Thread or process creation failed{limit}.",
                 ("Remove --pids-limit from extra_run_args or use --pids-limit=-1.",
                  "Check `ulimit -u` in the launching shell and the user slice's TasksMax."),
                 strength=Strength.POSSIBLE, short="thread/process limits")


def _display() -> Cause:
    return Cause("display", "Spotify could not open the X display: the socket, DISPLAY or the X cookie in the "
                 "container is wrong.", ("Run `spotidoctor check x11` and `spotidoctor fix x11`.",),
                 short="X display access")


def _gpu(nxt: Config) -> Cause:
    settled = "--disable-gpu" in nxt.spotify_args
    fix = _set_config("crash.disable-gpu", "render without the GPU", "spotify_args",
                      (*nxt.spotify_args, "--disable-gpu"))
    return Cause("gpu", "The GPU process could not start or crashed (no usable GPU in the container).",
                 ("spotify_args = [\"--disable-gpu\"] renders in software.",
                  "If it persists, clear Spotify's cache directory (its GPU shader cache)."),
                 () if settled else (fix,), settled=settled, short="no usable GPU")


def _mit_shm() -> Cause:
    # The launcher's --ipc=private is deliberate (and --ipc=host conflicts with --shm-size),
    # so there is no config fix to offer; Chromium usually falls back to plain X requests.
    return Cause("mit-shm", "The X server cannot attach shared memory (MIT-SHM) from the container's private IPC "
                 "namespace. Chromium normally falls back to plain X requests, so this is rarely what ends Spotify.",
                 ("If the window stays blank, try spotify_args = [\"--disable-gpu\"]; the private IPC namespace "
                  "keeps the host's shared memory out of the container's reach on purpose.",),
                 strength=Strength.POSSIBLE, short="MIT-SHM across IPC namespaces")


def _check_failed(hit: Hit) -> Cause:
    condition = hit.groups.get("cond", "").strip() or "NOTREACHED"
    return Cause("check-failed", f"A Chromium CHECK failed ({crashlog.printable(condition, 120)}): usually a bug in "
                 "this Spotify build or an environment it does not expect.",
                 ("Rebuild for a newer Spotify: spotidoctor build --no-cache",
                  "If it persists, write a report: spotidoctor report"), strength=Strength.POSSIBLE,
                 short="a failed CHECK (a bug)")


def _v8() -> Cause:
    return Cause("v8-oom", "A renderer's JavaScript heap or V8 reservation ran out (also caused by address-space "
                 "limits and overcommit=2).", ("Check `ulimit -v` and vm.overcommit_memory; restart Spotify.",),
                 strength=Strength.POSSIBLE, short="JavaScript heap")


def _memory_pressure() -> Cause:
    return Cause("memory-pressure", "The kernel's OOM killer ended a Spotify process: the host or its cgroup ran "
                 "out of memory.", ("Close other programs or raise the memory limit of the user slice.",),
                 short="memory pressure")


def _segfault() -> Cause:
    return Cause("segfault", "Spotify crashed with a fatal signal (a bug, a broken GPU driver or a damaged cache).",
                 ("Try spotify_args = [\"--disable-gpu\"]; clear Spotify's cache directory; rebuild the image.",),
                 strength=Strength.POSSIBLE, short="a fatal signal")


def _pulse() -> Cause:
    return Cause("pulse", "Spotify could not connect to the audio server (socket or cookie).",
                 ("Run `spotidoctor check pulse` and `spotidoctor fix pulse`.",), strength=Strength.POSSIBLE,
                 short="audio server access")


# -- launches -----------------------------------------------------------------------------

def container_matches(container: ContainerInfo, record: LaunchRecord) -> bool:
    """Whether a leftover container is the one this launch started."""
    if container.log_path and container.log_path == record.log_path:
        return True
    started = crashlog.parse_log_time(container.started_at.replace(" ", "T", 1).split(" ")[0])
    return (container.name.lstrip("/") == record.container_name and started is not None
            and abs(started.timestamp() - record.started) < 120)


def _journal_window(journal: ScanResult | None, start: float, end: float | None) -> ScanResult | None:
    """The journal hits logged while a launch ran (used when its own log is missing)."""
    if journal is None:
        return None
    stop = (end or _now()) + 5
    hits = []
    for hit in journal.hits:
        when = crashlog.parse_log_time(hit.line.logged_at or "")
        if when is not None and start - 5 <= when.timestamp() <= stop:
            hits.append(hit)
    latest: dict[str, Hit] = {}
    for hit in hits:
        latest[hit.signature] = hit
    counts: dict[str, int] = {}
    for hit in hits:
        counts[hit.signature] = counts.get(hit.signature, 0) + 1
    return ScanResult(tuple(hits), latest, counts, len(hits), 0)


def launch_inputs(ctx: Context, record: LaunchRecord, *, deep: bool = True) -> tuple[Inputs, list[SourceNote]]:
    """Read a launch's sources. ``deep`` adds podman inspect and the image's libcef.so."""
    scan, note = scan_launch_log(ctx, record)
    notes = [note]
    if scan is None or scan.bytes_total == 0:
        journal, jnote = journal_scan(ctx)
        notes.append(jnote)
        scan = _journal_window(journal, record.started, record.ended) or scan
    container = None
    if deep:
        info, cnote = inspect_container(ctx, record.container_name or ctx.config.container_name)
        notes.append(cnote)
        container = info if info is not None and container_matches(info, record) else None
    nxt = next_launch_config(ctx)
    settings = settings_for(ctx, record, container, nxt)
    exit_code = record.exit_code if record.exit_code is not None else (container.exit_code if container and
                                                                        not container.running else None)

    def cef() -> CefFacts | None:
        if not deep:
            return None
        facts, cef_note = image_cef(ctx, record.image or ctx.config.image)
        notes.append(cef_note)
        return facts

    inputs = Inputs(f"launch {record.launch_id}", record.launch_id, exit_code,
                    record.finished or bool(container and not container.running), scan, settings, nxt, cef)
    return inputs, notes


def _when(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def verdict_messages(verdict: Verdict, started: float | None = None) -> list[Message]:
    messages = []
    if verdict.quote:
        when = [f"logged {verdict.logged_at}" if verdict.logged_at else "",
                f"Chromium clock {verdict.chromium_time}" if verdict.chromium_time else "",
                f"{verdict.source}" + (f" started {_when(started)}" if started else ""),
                describe_exit(verdict.exit_code)]
        messages.append(Message.error(f'"{verdict.quote}"', "; ".join(w for w in when if w)))
    if verdict.cause is not None:
        prefix = "Cause" if verdict.cause.strength is Strength.LIKELY else "Possible cause"
        settled = ("The config already has the fix; launch again to confirm.",) if verdict.cause.settled else ()
        messages.append(Message.error(f"{prefix}: {verdict.cause.text}", *verdict.cause.advice, *settled))
    for other in verdict.also:
        messages.append(Message.hint(f"Also possible: {other.text}", *other.advice))
    for note in verdict.notes:
        messages.append(Message.hint(note))
    if verdict.evidence:
        messages.append(Message.info("Logged before it:", *verdict.evidence))
    return messages


def result_for(check_id: str, severity: Severity, verdict: Verdict, notes: Sequence[SourceNote],
               started: float | None = None) -> CheckResult:
    """A crash verdict as a check result: FAIL for a crash (WARN once the config has its fix)."""
    facts: dict[str, JSONValue] = {**verdict.to_json(), "sources": [n.text() for n in notes]}
    messages = verdict_messages(verdict, started)
    messages += [Message.info(n.text()) for n in notes]
    if verdict.crashed:
        status = Status.WARN if verdict.settled else Status.FAIL
    elif verdict.quote:
        status = Status.WARN  # a fatal line, but the run itself ended normally or is still running
    else:
        status = Status.OK
    summary = f"{verdict.source}: {verdict.summary()}"
    fixes = () if status is Status.OK else verdict.fixes
    return CheckResult(check_id, status, summary, tuple(messages), fixes, facts, severity)


def diagnose_launch(ctx: Context, record: LaunchRecord) -> CheckResult:
    """The verdict for one finished launch (quoted line, cause, fix plans)."""
    inputs, notes = launch_inputs(ctx, record)
    verdict = judge(inputs)
    return result_for(CHECK_ID, Severity.ERROR, verdict, notes, record.started)


def container_inputs(ctx: Context, info: ContainerInfo) -> tuple[Inputs, list[SourceNote]]:
    """A container of the configured name that spotidoctor did not record (or outlived its record)."""
    scan, note = container_logs(ctx, info.name.lstrip("/") or ctx.config.container_name)
    nxt = next_launch_config(ctx)
    settings = settings_for(ctx, None, info, nxt)
    notes = [note]

    def cef() -> CefFacts | None:
        facts, cef_note = image_cef(ctx, info.image or ctx.config.image)
        notes.append(cef_note)
        return facts

    exit_code = None if info.running else info.exit_code
    inputs = Inputs(f"container {info.name.lstrip('/')} ({info.id})", None, exit_code, not info.running, scan,
                    settings, nxt, cef)
    return inputs, notes


def unattributed_journal(journal: ScanResult | None, records: Sequence[LaunchRecord]) -> list[Hit]:
    """Fatal journal lines outside every recorded launch (Spotify started some other way)."""
    if journal is None:
        return []
    found = []
    for hit in journal.hits:
        if not _is_fatal(hit):
            continue
        when = crashlog.parse_log_time(hit.line.logged_at or "")
        stamp = when.timestamp() if when else None
        inside = stamp is not None and any(r.started - 5 <= stamp <= (r.ended or _now()) + 5 for r in records)
        if not inside:
            found.append(hit)
    return found
