"""PulseAudio / pipewire-pulse configuration as data: parse, resolve, edit, generate.

Pure functions over text and env mappings (no I/O), shared by the pulse.* checks, their
fixes and the launcher. The traps they encode: the server stores module argument strings
verbatim, quoting included (shlex splits them); relative ``socket=`` / ``auth-cookie=``
resolve to the pulse runtime / config dirs; a cookie shorter than 256 bytes is rewritten by
the server; a user ``default.pa`` replaces the system one (``man 5 default.pa``), and so
does a user ``client.conf`` (``man 5 pulse-client.conf``); a PipeWire ``server.address``
drop-in replaces the default list (so it must repeat ``"unix:native"``).
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from spotidoctor.errors import ParseError
from spotidoctor.probes.pulseargs import format_module_args, parse_bool, parse_module_args

__all__ = [
    "NATIVE_UNIX", "SYSTEM_DEFAULT_PA", "INCLUDE_SYSTEM", "COOKIE_SIZE", "NATIVE_SOCKET",
    "parse_module_args", "format_module_args", "parse_bool", "pulse_runtime_dir",
    "pulse_config_dir", "resolve_socket", "resolve_cookie", "NativeSocketConfig",
    "native_socket_config", "PaLine", "DefaultPa", "read_default_pa", "PaEdit",
    "ensure_default_pa", "load_module_line", "parse_server_addresses",
    "pipewire_drop_in_text", "merged_addresses", "client_conf_text", "parse_client_conf",
    "ClientConfProblem", "client_conf_problems",
]

NATIVE_UNIX = "module-native-protocol-unix"
SYSTEM_DEFAULT_PA = "/etc/pulse/default.pa"
INCLUDE_SYSTEM = f".include {SYSTEM_DEFAULT_PA}"
COOKIE_SIZE = 256  # PA_NATIVE_COOKIE_LENGTH
NATIVE_SOCKET = "native"  # what the main module serves when socket= is absent
DEFAULT_COOKIE = "cookie"  # what a module uses when auth-cookie= is absent

# -- path resolution ----------------------------------------------------

def pulse_runtime_dir(env: Mapping[str, str]) -> str | None:
    """Where relative ``socket=`` values live: $PULSE_RUNTIME_PATH, else $XDG_RUNTIME_DIR/pulse.

    None without either: PulseAudio then uses a legacy per-machine dir that a container
    launcher should not rely on.
    """
    if env.get("PULSE_RUNTIME_PATH"):
        return env["PULSE_RUNTIME_PATH"]
    runtime = env.get("XDG_RUNTIME_DIR")
    return os.path.join(runtime, "pulse") if runtime else None


def pulse_config_dir(env: Mapping[str, str], home: str) -> str:
    """Where relative ``auth-cookie=`` values live: ${XDG_CONFIG_HOME:-~/.config}/pulse."""
    config_home = env.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    return os.path.join(config_home, "pulse")


def resolve_socket(value: str | None, runtime_dir: str | None) -> str | None:
    """The socket file a ``socket=`` value names (absent: the main ``native`` socket)."""
    name = value if value else NATIVE_SOCKET
    if os.path.isabs(name):
        return os.path.normpath(name)
    return os.path.normpath(os.path.join(runtime_dir, name)) if runtime_dir else None


def resolve_cookie(value: str | None, config_dir: str) -> str:
    """The cookie file an ``auth-cookie=`` value names (absent: the default ``cookie``)."""
    name = value if value else DEFAULT_COOKIE
    return os.path.normpath(name if os.path.isabs(name) else os.path.join(config_dir, name))


@dataclass(frozen=True)
class NativeSocketConfig:
    """What one ``module-native-protocol-unix`` load means, paths resolved."""

    socket: str | None  # None: relative socket= without a runtime dir
    cookie: str | None  # None: cookie authentication disabled
    anonymous: bool
    args: Mapping[str, str]

    @property
    def is_main_socket(self) -> bool:
        return self.socket is not None and os.path.basename(self.socket) == NATIVE_SOCKET \
            and "socket" not in self.args


def native_socket_config(args: Mapping[str, str], runtime_dir: str | None,
                         config_dir: str) -> NativeSocketConfig:
    """Resolve parsed module arguments (``cookie=`` is the old alias of ``auth-cookie=``)."""
    enabled = parse_bool(args.get("auth-cookie-enabled", "1"))
    cookie_value = args.get("auth-cookie", args.get("cookie"))
    cookie = resolve_cookie(cookie_value, config_dir) if enabled is not False else None
    return NativeSocketConfig(
        socket=resolve_socket(args.get("socket"), runtime_dir),
        cookie=cookie,
        anonymous=parse_bool(args.get("auth-anonymous", "0")) is True,
        args=dict(args),
    )


# -- default.pa ----------------------------------------------------------------

@dataclass(frozen=True)
class PaLine:
    number: int  # 1-based
    text: str
    command: str  # "" for blank/comment lines; ".include", "load-module", ...
    argument: str  # the rest of the line
    module: str | None = None  # for load-module
    module_args: Mapping[str, str] | None = None  # parsed; None when they do not parse
    problem: str | None = None  # why the line was not understood


@dataclass(frozen=True)
class DefaultPa:
    """A parsed ``default.pa``-style script."""

    lines: tuple[PaLine, ...]

    @property
    def includes(self) -> tuple[str, ...]:
        return tuple(os.path.normpath(line.argument) for line in self.lines
                     if line.command == ".include" and line.argument)

    @property
    def includes_system(self) -> bool:
        return SYSTEM_DEFAULT_PA in self.includes

    @property
    def native_unix_loads(self) -> tuple[PaLine, ...]:
        return tuple(line for line in self.lines if line.module == NATIVE_UNIX)

    @property
    def self_contained(self) -> bool:
        """Looks like a full copy of the system file: it loads the main native socket itself."""
        return any(line.module_args is not None and "socket" not in line.module_args
                   for line in self.native_unix_loads)

    @property
    def not_understood(self) -> tuple[PaLine, ...]:
        return tuple(line for line in self.lines if line.problem)


_DIRECTIVES = {".include", ".fail", ".nofail", ".ifexists", ".else", ".endif"}


def _pa_line(number: int, raw: str) -> PaLine:
    text = raw.strip()
    if not text or text[0] in "#;":
        return PaLine(number, raw, "", "")
    command, _, argument = text.partition(" ")
    command, argument = command.strip(), argument.strip()
    if command.startswith(".") and command not in _DIRECTIVES:
        return PaLine(number, raw, command, argument, problem=f"unknown directive {command}")
    if command != "load-module":
        return PaLine(number, raw, command, argument)
    module, _, module_text = argument.partition(" ")
    if not module:
        return PaLine(number, raw, command, argument, problem="load-module without a module name")
    try:
        parsed = parse_module_args(module_text.strip() or None)
    except ParseError as exc:
        return PaLine(number, raw, command, argument, module, None, str(exc))
    return PaLine(number, raw, command, argument, module, parsed)


def read_default_pa(text: str) -> DefaultPa:
    """Parse a script. Never raises: lines it does not understand carry a ``problem``."""
    return DefaultPa(tuple(_pa_line(n, raw) for n, raw in enumerate(text.splitlines(), 1)))


def load_module_line(args: Mapping[str, str]) -> str:
    return f"load-module {NATIVE_UNIX} {format_module_args(args)}".rstrip()


@dataclass(frozen=True)
class PaEdit:
    """The result of ``ensure_default_pa``: the new text and what changed, in words."""

    text: str
    changes: tuple[str, ...]
    notes: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.changes)


_MARK = "# Added by spotidoctor (pulse.persistence): the Spotify container's audio socket."


def _socket_key(args: Mapping[str, str], runtime_dir: str | None) -> str:
    """The resolved socket path; the raw value when it cannot be resolved here."""
    return resolve_socket(args.get("socket"), runtime_dir) or f"?{args.get('socket')}"


def ensure_default_pa(text: str | None, args: Mapping[str, str], runtime_dir: str | None) -> PaEdit:
    """Make a user default.pa include the system one and load our socket, idempotently.

    - no file: ``.include /etc/pulse/default.pa`` then our line;
    - no include, not a full copy of the system file: the include goes first;
    - a line already serving the same socket (whatever its spelling): left alone;
    - everything else, including lines this parser does not understand, is kept verbatim.
    ``.nofail`` before our line: a failing load must never stop the whole daemon.
    """
    wanted = _socket_key(args, runtime_dir)
    parsed = read_default_pa(text or "")
    lines = (text or "").splitlines()
    changes: list[str] = []
    notes = [f"line {line.number} left as it is ({line.problem}): {line.text.strip()}"
             for line in parsed.not_understood]
    if not parsed.includes_system and not parsed.self_contained:
        lines = [INCLUDE_SYSTEM, *lines]
        changes.append(f"insert `{INCLUDE_SYSTEM}` as the first line")
    elif parsed.self_contained and not parsed.includes_system:
        notes.append("the file loads the main socket itself (a full copy of the system file), "
                     f"so `{INCLUDE_SYSTEM}` is not added")
    if not any(line.module_args is not None and _socket_key(line.module_args, runtime_dir) == wanted
               for line in parsed.native_unix_loads):
        lines += [_MARK, ".nofail", load_module_line(args)]
        changes.append(f"append `{load_module_line(args)}`")
    if not changes:
        return PaEdit(text or "", (), tuple(notes))
    return PaEdit("\n".join(lines) + "\n", tuple(changes), tuple(notes))


# -- PipeWire server.address ----------------------------------------------------

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}=:,]|[^\s\[\]{}=:,"#]+|#[^\n]*|\s+')


def _tokens(text: str) -> Iterator[str]:
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise ParseError(f"unexpected character {text[pos]!r}", line=text.count("\n", 0, pos) + 1)
        token = match.group()
        pos = match.end()
        if token.isspace() or token.startswith("#"):
            continue
        yield token


def _unquote(token: str) -> str:
    return token[1:-1].replace('\\"', '"').replace("\\\\", "\\") if token.startswith('"') else token


def _address_list(tokens: list[str], start: int) -> tuple[tuple[str, ...], int]:
    """Parse ``[ "unix:native" { address = "unix:x" ... } ]`` from ``tokens[start]``."""
    if start >= len(tokens) or tokens[start] != "[":
        raise ParseError("server.address is not a list")
    found: list[str] = []
    i = start + 1
    while i < len(tokens) and tokens[i] != "]":
        token = tokens[i]
        if token == "{":
            depth, j, address = 1, i + 1, None
            while j < len(tokens) and depth:
                depth += {"{": 1, "}": -1}.get(tokens[j], 0)
                if depth == 1 and _unquote(tokens[j]) == "address" and j + 2 < len(tokens) \
                        and tokens[j + 1] in ("=", ":"):
                    address = _unquote(tokens[j + 2])
                j += 1
            if depth:
                raise ParseError("unclosed { in server.address")
            if address:
                found.append(address)
            i = j
            continue
        if token != ",":
            found.append(_unquote(token))
        i += 1
    if i >= len(tokens):
        raise ParseError("unclosed [ in server.address")
    return tuple(found), i + 1


def parse_server_addresses(text: str) -> tuple[str, ...] | None:
    """The ``server.address`` list a pipewire-pulse config file sets, or None when it sets none.

    SPA-JSON is relaxed JSON: bare words, ``=`` or ``:``, optional commas, ``#`` comments.
    The last assignment in the file wins. Raises only ``ParseError``.
    """
    tokens = list(_tokens(text))
    result: tuple[str, ...] | None = None
    for i, token in enumerate(tokens):
        if _unquote(token) == "server.address" and i + 1 < len(tokens) and tokens[i + 1] in ("=", ":"):
            result, _ = _address_list(tokens, i + 2)
    return result


def merged_addresses(current: Sequence[str], extra: str) -> tuple[str, ...]:
    """The list our drop-in must set: what is effective now, "unix:native", and ours."""
    merged = [a for a in current]
    for needed in ("unix:native", extra):
        if needed not in merged:
            merged.append(needed)
    return tuple(merged)


def pipewire_drop_in_text(addresses: Sequence[str]) -> str:
    listed = " ".join('"' + a.replace("\\", "\\\\").replace('"', '\\"') + '"' for a in addresses)
    return ("# Written by spotidoctor: an extra pulse socket for the Spotify container.\n"
            "# server.address REPLACES the default list, so \"unix:native\" must stay in it,\n"
            "# or every other application loses its sound at the next restart.\n"
            "pulse.properties = {\n"
            f"    server.address = [ {listed} ]\n"
            "}\n")


# -- client.conf -------------------------------------------------------

def client_conf_text(server: str | None = None, cookie_file: str | None = None) -> str:
    """The container's client config: never spawn a daemon, never try SHM across the boundary."""
    lines = ["# Written by spotidoctor for the Spotify container (pulse.client-config).",
             "# SHM cannot work across the container boundary; a daemon must never be spawned.",
             "autospawn = no", "enable-shm = no"]
    if server:
        lines.append(f"default-server = {server}")
    if cookie_file:
        lines.append(f"cookie-file = {cookie_file}")
    return "\n".join(lines) + "\n"


def parse_client_conf(text: str) -> dict[str, str]:
    """``key = value`` lines (``#``/``;`` comments); later keys win, like libpulse."""
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ParseError(f"{line!r} is not key = value", line=number)
        values[key.strip().lower()] = value.strip()
    return values


@dataclass(frozen=True)
class ClientConfProblem:
    key: str
    found: str | None
    wanted: str


def client_conf_problems(values: Mapping[str, str]) -> tuple[ClientConfProblem, ...]:
    """What keeps a parsed client.conf from being safe for the container."""
    problems = []
    if parse_bool(values.get("autospawn", "yes")) is not False:
        problems.append(ClientConfProblem("autospawn", values.get("autospawn"), "no"))
    shm = parse_bool(values.get("enable-shm", "yes"))
    if "disable-shm" in values and "enable-shm" not in values:
        shm = parse_bool(values["disable-shm"]) is not True
    if shm is not False:
        problems.append(ClientConfProblem("enable-shm", values.get("enable-shm"), "no"))
    return tuple(problems)
