"""Audio checks (``pulse.*``): PulseAudio or pipewire-pulse, and the container's own socket.

The container gets sound through a dedicated socket: on PulseAudio a second
``module-native-protocol-unix`` with its own cookie (the original design's
``socket=pulse-socket auth-cookie=pulse-cookie``); on PipeWire an extra
``server.address`` in a pipewire-pulse drop-in (no cookie there). The launcher reads
the facts these checks publish; see ``FACTS`` below and the README's Audio section.
"""
from __future__ import annotations

import dataclasses
import os
import stat as stat_mod
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Union

from spotidoctor import layout, podmaninfo
from spotidoctor.api import Check, CheckResult, Context, Message
from spotidoctor.errors import FixFailed, ParseError, ProbeTimeout, ProbeUnavailable
from spotidoctor.fixes import Fix, FixAvailability, Instruction, MakeDirs, RunCommand, Step, StepEnv, WriteFile
from spotidoctor.types import JSONValue
from spotidoctor.model import Severity, Status
from spotidoctor.probes.pulse import ConnectOutcome, ConnectResult, ModuleInfo, PulseUnreachable, ServerInfo, \
    ServerKind, default_server
from spotidoctor.pulseconf import COOKIE_SIZE, NATIVE_UNIX, NativeSocketConfig, client_conf_problems, \
    client_conf_text, ensure_default_pa, format_module_args, merged_addresses, native_socket_config, \
    parse_client_conf, parse_module_args, parse_server_addresses, pipewire_drop_in_text, read_default_pa, \
    resolve_socket
from spotidoctor.resultcache import age_text, cached, file_facts, verified_note

if TYPE_CHECKING:
    from spotidoctor.bundle.spec import BundleSpec

SERVER = "pulse.server"
SOCKET = "pulse.container-socket"
ACCESS = "pulse.container-access"
PERSIST = "pulse.persistence"
LEFTOVERS = "pulse.leftovers"
OUTPUT = "pulse.output-api"
CLIENT = "pulse.client-config"

FIX_LOAD = "pulse.load-socket-module"
FIX_PERSIST_PA = "pulse.persist-default-pa"
FIX_DROP_IN = "pulse.write-pipewire-drop-in"
FIX_RESTART_PW = "pulse.restart-pipewire-pulse"
FIX_CLIENT = "pulse.write-client-config"

# The original design's module arguments (relative: resolved by the server, FACTS F1.1/F1.2).
SOCKET_ARGS = {"socket": layout.PULSE_SOCKET_NAME, "auth-cookie": layout.PULSE_COOKIE_NAME}
PW_ADDRESS = f"unix:{layout.PULSE_SOCKET_NAME}"
PW_UNIT = "pipewire-pulse.service"
SYSTEM_PW_DIRS = ("/usr/share/pipewire", "/etc/pipewire")
PA_UNIT_HINT = "systemctl --user start pulseaudio.socket pulseaudio.service"

MSG_PW_ISOLATION = (
    "pipewire-pulse checks no cookie: any process that can open this socket gets "
    "full audio access (play, record the microphone, change volumes, see other streams). "
    "Isolation rests only on the socket file: it sits in your 0700 runtime dir and reaches the "
    "container through one bind mount, so keep it that way and do not hand it to other containers.")
MSG_PW_GRAPH = (
    "pipewire-0 is the whole PipeWire graph, not just audio: a client on it can also reach video "
    "nodes (cameras, screen casts) that the pulse socket never exposes.")
MSG_NO_INCLUDE = (
    "{path} exists but does not `.include /etc/pulse/default.pa`: PulseAudio then reads ONLY this "
    "file, which silently disables the whole system configuration (devices, the main socket) at "
    "the next restart.")

# Facts published for the launcher (check id -> keys).
FACTS = {
    SERVER: ("server_kind", "server_name", "server_version", "default_sink"),
    SOCKET: ("server_kind", "server_name", "container_socket", "cookie_path"),
    CLIENT: ("client_conf", "cookie_copy"),
    OUTPUT: ("audio_api", "pipewire_socket"),
}


# -- shared probe answers (one per run, ctx.memo) ---------------------------------------------

def server_info(ctx: Context) -> ServerInfo:
    return ctx.memo.get("pulse.server-info", ctx.probes.pulse.server_info)


def loaded_modules(ctx: Context) -> tuple[ModuleInfo, ...]:
    return ctx.memo.get("pulse.modules", ctx.probes.pulse.modules)


def runtime_dir(ctx: Context) -> str | None:
    """Where relative ``socket=`` values resolve."""
    if ctx.env.get("PULSE_RUNTIME_PATH"):
        return ctx.env["PULSE_RUNTIME_PATH"]
    return os.path.join(ctx.paths.xdg_runtime_dir, "pulse") if ctx.paths.xdg_runtime_dir else None


def config_dir(ctx: Context) -> str:
    """Where relative ``auth-cookie=`` values and the user's default.pa live."""
    return os.path.join(ctx.paths.xdg_config_home, "pulse")


def user_default_pa(ctx: Context) -> str:
    return os.path.join(config_dir(ctx), "default.pa")


def resolve_args(ctx: Context, args: dict[str, str]) -> NativeSocketConfig:
    return native_socket_config(args, runtime_dir(ctx), config_dir(ctx))


def expected_socket(ctx: Context) -> NativeSocketConfig:
    """The original design's dedicated socket, resolved for this user."""
    return resolve_args(ctx, dict(SOCKET_ARGS))


@dataclass(frozen=True)
class Loaded:
    """One loaded module-native-protocol-unix and what its arguments mean."""

    module: ModuleInfo
    config: NativeSocketConfig | None  # None: the argument string does not parse
    problem: str | None = None

    @property
    def dedicated(self) -> bool:
        return self.config is not None and not self.config.is_main_socket


def native_loads(ctx: Context) -> list[Loaded]:
    found = []
    for module in loaded_modules(ctx):
        if module.name != NATIVE_UNIX:
            continue
        try:
            found.append(Loaded(module, resolve_args(ctx, parse_module_args(module.argument))))
        except ParseError as exc:
            found.append(Loaded(module, None, str(exc)))
    return found


def container_module(ctx: Context) -> Loaded | None:
    """The module serving the container: the expected socket, else another dedicated one."""
    wanted = expected_socket(ctx).socket
    dedicated = [item for item in native_loads(ctx) if item.dedicated]
    return next((i for i in dedicated if i.config and i.config.socket == wanted),
                next(iter(dedicated), None))


def kind_of(ctx: Context) -> ServerKind:
    fact = ctx.prior_fact(SERVER, "server_kind")
    if isinstance(fact, str):
        return ServerKind(fact)
    return server_info(ctx).kind


# -- fix steps -------------------------------------------------------------------------------

@dataclass(frozen=True)
class LoadPulseModule(Step):
    """Load a module into the running server through libpulse (what ``pactl load-module`` does)."""

    module: str = NATIVE_UNIX
    arguments: str = ""
    socket_path: str = ""  # already served -> nothing to do
    kind: ClassVar[str] = "pulse-load-module"

    def preview(self, env: StepEnv) -> list[str]:
        if self._served(env):
            return [f"{self.socket_path}: already served"]
        return [f"load into the running server (like `pactl load-module {self.module} {self.arguments}`)"]

    def _served(self, env: StepEnv) -> bool:
        fs, pulse = env.probes.fs, env.probes.pulse
        return bool(self.socket_path) and fs.is_socket(self.socket_path) and pulse.socket_accepts(self.socket_path)

    def apply(self, env: StepEnv) -> str:
        if self._served(env):
            return f"{self.socket_path} is already served"
        try:
            index = env.probes.pulse.load_module(self.module, self.arguments)
        except ProbeUnavailable as exc:
            raise FixFailed(f"loading {self.module} failed: {exc.reason}") from None
        return f"loaded {self.module} {self.arguments} (module #{index})"

    def to_json(self) -> dict[str, JSONValue]:
        data = super().to_json()
        data.update(module=self.module, arguments=self.arguments)
        return data


@dataclass(frozen=True)
class CopyPulseCookie(Step):
    """Copy the socket's cookie for the container; read at apply time, never shown."""

    source: str = ""
    target: str = ""
    mode: int = 0o644
    kind: ClassVar[str] = "copy-cookie"

    def _current(self, env: StepEnv) -> bool:
        fs = env.probes.fs
        st = fs.stat(self.target)
        if st is None or st.perms != self.mode:
            return False
        return fs.read_bytes(self.target) == fs.read_bytes(self.source)

    def preview(self, env: StepEnv) -> list[str]:
        if self._current(env):
            return [f"{self.target}: already up to date"]
        return [f"copy {self.source} -> {self.target} (mode {self.mode:04o}; content not shown)"]

    def apply(self, env: StepEnv) -> str:
        fs = env.probes.fs
        data = fs.read_bytes(self.source)
        if len(data) != COOKIE_SIZE:
            raise FixFailed(f"{self.source} holds {len(data)} bytes, not a {COOKIE_SIZE}-byte cookie; not copied")
        if self._current(env):
            return f"{self.target} already up to date"
        fs.write_atomic(self.target, data, mode=self.mode)
        return f"copied the cookie to {self.target} (mode {self.mode:04o})"

    def to_json(self) -> dict[str, JSONValue]:
        data = super().to_json()
        data.update(source=self.source, target=self.target, mode=f"{self.mode:04o}")
        return data


def load_fix(ctx: Context) -> Fix:
    wanted = expected_socket(ctx)
    arguments = format_module_args(SOCKET_ARGS)
    return Fix.safe(FIX_LOAD, "Load the container socket module into the running PulseAudio now",
                    LoadPulseModule(f"load {NATIVE_UNIX} {arguments}", NATIVE_UNIX, arguments,
                                    wanted.socket or ""),
                    notes=("Gone after a PulseAudio restart unless it is also persisted.",),
                    recheck=(CLIENT, PERSIST))


def persist_pa_fix(ctx: Context, args: dict[str, str]) -> Fix | None:
    path = user_default_pa(ctx)
    try:
        raw: bytes | None = ctx.probes.fs.read_bytes(path)
    except (FileNotFoundError, NotADirectoryError):
        raw = None
    except OSError:
        return None
    current = None if raw is None else raw.decode("utf-8", errors="replace")
    edit = ensure_default_pa(current, args, runtime_dir(ctx))
    if not edit.changed:
        return None
    if raw is not None and current is not None and current.encode() != raw:
        # Rewriting would replace the bytes that are not UTF-8: leave the file to the user.
        return Fix.manual(FIX_PERSIST_PA, "Configure the container socket persistently in your default.pa",
                          Instruction(f"edit {path}", text=f"{path} is not UTF-8 text, so spotidoctor leaves it "
                                      "alone; edit it yourself: " + "; ".join(edit.changes)),
                          notes=edit.notes)
    step = WriteFile(f"{path}: " + "; ".join(edit.changes), path=path, content=edit.text, mode=0o644,
                     backup=True)
    return Fix.safe(FIX_PERSIST_PA, "Configure the container socket persistently in your default.pa", step,
                    notes=edit.notes + ("Takes effect at the next PulseAudio start; the old file is backed up.",),
                    recheck=(SOCKET, PERSIST))


# -- PipeWire drop-ins ------------------------------------------------------------

@dataclass(frozen=True)
class AddressSetting:
    path: str
    addresses: tuple[str, ...] | None  # None: the file does not set server.address
    problem: str | None = None


def _pw_dirs(ctx: Context) -> tuple[str, ...]:
    return (*SYSTEM_PW_DIRS, os.path.join(ctx.paths.xdg_config_home, "pipewire"))


def _setting(ctx: Context, path: str) -> AddressSetting:
    try:
        text = ctx.probes.fs.read_text(path)
        return AddressSetting(path, parse_server_addresses(text))
    except ParseError as exc:
        return AddressSetting(path, None, str(exc))
    except OSError as exc:
        return AddressSetting(path, None, exc.strerror or str(exc))


def pw_settings(ctx: Context) -> list[AddressSetting]:
    """The main pipewire-pulse.conf that wins, then the drop-ins, in load order (last wins)."""
    fs = ctx.probes.fs
    dirs = _pw_dirs(ctx)
    main = next((os.path.join(d, "pipewire-pulse.conf") for d in reversed(dirs)
                 if fs.exists(os.path.join(d, "pipewire-pulse.conf"))), None)
    found = [_setting(ctx, main)] if main else []
    for directory in dirs:
        conf_d = os.path.join(directory, "pipewire-pulse.conf.d")
        found += [_setting(ctx, os.path.join(conf_d, n)) for n in fs.listdir(conf_d) if n.endswith(".conf")]
    return found


def effective_addresses(settings: list[AddressSetting]) -> tuple[tuple[str, ...], str | None]:
    """(the server.address list in force, the file that set it; None: the built-in default)."""
    for setting in reversed(settings):
        if setting.addresses is not None:
            return setting.addresses, setting.path
    return ("unix:native",), None


def _listed(addresses: tuple[str, ...]) -> str:
    return " ".join(f'"{a}"' for a in addresses)


def address_socket(ctx: Context, address: str) -> str | None:
    if not address.startswith("unix:"):
        return None
    return resolve_socket(address[len("unix:"):], runtime_dir(ctx))


def drop_in_fix(ctx: Context, current: tuple[str, ...]) -> Fix:
    path = layout.pipewire_drop_in(ctx.paths)
    ours = [a for a in current if address_socket(ctx, a) != expected_socket(ctx).socket]
    content = pipewire_drop_in_text(merged_addresses(ours, PW_ADDRESS))
    return Fix.safe(FIX_DROP_IN, "Add the container socket to pipewire-pulse (server.address drop-in)",
                    MakeDirs(f"create {os.path.dirname(path)}", path=os.path.dirname(path), mode=0o700),
                    WriteFile(f"write {path}", path=path, content=content, mode=0o644, backup=True),
                    notes=("pipewire-pulse reads it at its next start (see the restart fix).",),
                    recheck=(PERSIST,))


def systemd_manages_pipewire_pulse(ctx: Context) -> bool:
    def ask() -> bool:
        done = ctx.probes.cmd.run(("systemctl", "--user", "is-active", PW_UNIT), timeout=5)
        return done.ok and done.stdout.strip() == "active"

    return ctx.memo.get("pulse.pipewire-pulse-systemd", ask)


def restart_fix(ctx: Context) -> Fix:
    title = "Restart pipewire-pulse so that it opens the container socket"
    note = ("Playing streams are interrupted for a moment; applications reconnect.",)
    if systemd_manages_pipewire_pulse(ctx):
        return Fix.safe(FIX_RESTART_PW, title,
                        RunCommand(f"restart {PW_UNIT}", argv=("systemctl", "--user", "restart", PW_UNIT),
                                   timeout_s=30),
                        notes=note, recheck=(SOCKET,))
    return Fix.manual(FIX_RESTART_PW, title, Instruction(
        "restart pipewire-pulse", text=(
            "pipewire-pulse is not run by a systemd user unit here: restart it the way your session "
            "starts it (log out and back in; or stop the running pipewire-pulse process and start "
            "`pipewire-pulse` again), then run `spotidoctor check pulse`.")), notes=note)


# -- checks ---------------------------------------------------------------------------------

def _unreachable_messages(ctx: Context, exc: PulseUnreachable) -> tuple[str, tuple[Message, ...]]:
    where = default_server(ctx.env)
    path = where[len("unix:"):] if where.startswith("unix:") else None
    if exc.outcome is ConnectOutcome.ACCESS_DENIED:
        return ("the pulse server refused us: access denied", (Message.error(
            exc.reason, "PULSE_SERVER or PULSE_COOKIE may point at another user's server or a stale "
            "cookie; unset them and try `pactl info`."),))
    if not ctx.env.get("XDG_RUNTIME_DIR") and not ctx.env.get("PULSE_SERVER"):
        return ("cannot find the pulse server: XDG_RUNTIME_DIR is not set", (Message.error(
            exc.reason, "libpulse finds the session's server through XDG_RUNTIME_DIR: run spotidoctor from a "
            "terminal of your desktop session (not through sudo or su), or export "
            "XDG_RUNTIME_DIR=/run/user/$(id -u)."),))
    if exc.outcome is not ConnectOutcome.REFUSED or path is None:
        return (f"cannot reach the pulse server: {exc.reason}", (Message.error(
            exc.reason, "`pactl info` should show the same; is a PulseAudio or PipeWire server running for "
            "this user?"),))
    fs = ctx.probes.fs
    if not fs.exists(path):
        return ("no pulse server is running", (Message.error(
            f"nothing at {path}", f"Start one: `{PA_UNIT_HINT}` (or pipewire-pulse.socket on PipeWire).",
            "Or log in to a desktop session that starts one."),))
    if not fs.access(os.path.dirname(path), os.X_OK):
        return ("cannot enter the pulse runtime directory", (Message.error(
            f"{os.path.dirname(path)} is not accessible to uid {ctx.user.uid}; libpulse reports this "
            "as 'Connection refused'", "Run spotidoctor as the user who owns the session."),))
    return ("the pulse socket exists but nothing answers on it", (Message.error(
        f"{path}: connection refused (a stale socket of a server that died)",
        f"Restart the server: `{PA_UNIT_HINT}` (or `systemctl --user restart {PW_UNIT}`)."),))


class PulseServerReachable(Check):
    """What it checks: a pulse server (PulseAudio, or PipeWire's pipewire-pulse) answers on the
    default socket — connected without autospawn and with a timeout — which kind it is, and
    that it has a default sink. Failures give the real reason: access denied, connection
    refused (no server, stale socket, an untraversable directory) or a hung server.

    Why it matters: every audio path of the container ends at this server; the kind decides
    how the container socket is made (a module on PulseAudio, a drop-in on PipeWire).

    Fix safety: none automatic; the advice names the command that starts the server.
    """

    id = SERVER
    title = "Pulse server reachable"
    category = "audio"
    timeout_s = 15.0
    tags = frozenset({"launch"})

    def collect(self, spec: BundleSpec, ctx: Context) -> None:
        """For bug reports: pactl info, native-protocol modules, socket/cookie states (never bytes), client configs."""
        from spotidoctor.bundle.sources import pulse_evidence

        pulse_evidence(spec, ctx)

    def run(self, ctx: Context) -> CheckResult:
        try:
            info = server_info(ctx)
        except ProbeTimeout as exc:
            return self.fail("the pulse server hangs", Message.error(
                exc.reason, f"Restart it: `systemctl --user restart pulseaudio.service` (or {PW_UNIT})."))
        except PulseUnreachable as exc:
            summary, messages = _unreachable_messages(ctx, exc)
            return self.fail(summary, *messages)
        except ProbeUnavailable as exc:
            return self.fail(f"cannot talk to the pulse server: {exc.reason}")
        facts: dict[str, JSONValue] = {"server_kind": info.kind.value, "server_name": info.name,
                                       "server_version": info.version, "default_sink": info.default_sink}
        if not info.default_sink:
            return self.warn(f"{info.display_name} has no default sink: Spotify would play into nothing",
                             Message.hint("No output device is configured.",
                                          "`pactl list short sinks`, then `pactl set-default-sink NAME`."),
                             facts=facts)
        return self.ok(f"{info.display_name}, default sink {info.default_sink}", facts=facts)


def _socket_facts(ctx: Context, socket: str | None, cookie: str | None) -> dict[str, JSONValue]:
    info = server_info(ctx)
    return {"server_kind": info.kind.value, "server_name": info.name, "container_socket": socket,
            "cookie_path": cookie}


class PulseContainerSocket(Check):
    """What it checks: the dedicated socket the container's audio goes through.
    PulseAudio: a loaded `module-native-protocol-unix` whose `socket=` and `auth-cookie=`
    (relative paths resolve to `$XDG_RUNTIME_DIR/pulse/` and `~/.config/pulse/`) point at an
    existing socket and a 256-byte cookie — by default the original design's
    `socket=pulse-socket auth-cookie=pulse-cookie`. PipeWire: a `server.address` drop-in in
    `~/.config/pipewire/pipewire-pulse.conf.d/` that keeps `"unix:native"` and adds the
    socket, the socket file itself, and a test connection through it.

    Why it matters: the container must not get your main socket; it gets this one (bind-mounted
    as a file) plus, on PulseAudio, the cookie that authenticates its foreign uid.

    Fix safety: safe. PulseAudio: load the module now (through libpulse) and persist it in
    your default.pa (backed up, idempotent). PipeWire: write the drop-in (backed up), then
    restart pipewire-pulse (systemd user unit) or tell you how.
    """

    id = SOCKET
    title = "Container audio socket"
    category = "audio"
    requires = (SERVER,)
    timeout_s = 15.0
    tags = frozenset({"launch"})
    fix_availability = FixAvailability.SOMETIMES

    def run(self, ctx: Context) -> CheckResult:
        if runtime_dir(ctx) is None:
            return self.fail("XDG_RUNTIME_DIR is not set", Message.error(
                "Without it the pulse socket has no stable place to live.",
                "Run spotidoctor from your desktop session (systemd-logind sets XDG_RUNTIME_DIR)."))
        if kind_of(ctx) is ServerKind.PIPEWIRE:
            return self._pipewire(ctx)
        return self._pulseaudio(ctx)

    # -- PulseAudio ----------------------------------------------------------------------
    def _pulseaudio(self, ctx: Context) -> CheckResult:
        chosen = container_module(ctx)
        wanted = expected_socket(ctx)
        if chosen is None or chosen.config is None:
            fixes = tuple(f for f in (load_fix(ctx), persist_pa_fix(ctx, dict(SOCKET_ARGS))) if f)
            return self.fail("no container socket: the socket module is not loaded", Message.error(
                f"No {NATIVE_UNIX} with its own socket and cookie is loaded.",
                f"`pactl load-module {NATIVE_UNIX} {format_module_args(SOCKET_ARGS)}`, and add that line "
                f"after `.include /etc/pulse/default.pa` in {user_default_pa(ctx)} (`spotidoctor fix` does both)."),
                facts=_socket_facts(ctx, wanted.socket, wanted.cookie), fixes=fixes)
        return self._validate(ctx, chosen.module, chosen.config)

    def _validate(self, ctx: Context, module: ModuleInfo, config: NativeSocketConfig) -> CheckResult:
        facts = _socket_facts(ctx, config.socket, config.cookie)
        reload = (f"`pactl unload-module {module.index}` then `pactl load-module {NATIVE_UNIX} "
                  f"{module.argument or ''}`")
        if config.socket is None or not ctx.probes.fs.is_socket(config.socket):
            return self.fail(f"module #{module.index} is loaded but its socket file is missing",
                             Message.error(f"{config.socket}: not a socket (deleted after loading?)", reload),
                             facts=facts)
        problem = _foreign_uid_problem(ctx, config.socket) or self._cookie_problem(ctx, config)
        if problem is not None:
            return self.fail(problem, Message.error(problem, reload), facts=facts)
        tested = ctx.probes.pulse.connect_test(f"unix:{config.socket}", config.cookie)
        if not tested.ok:
            return self.fail(f"the container socket does not answer: {tested.detail}", facts=facts)
        messages: list[Message] = []
        if config.anonymous:
            messages.append(Message.hint("auth-anonymous=1: anything that can open the socket gets in; "
                                         "the cookie protects nothing.",
                                         f"Reload module #{module.index} without auth-anonymous=1."))
        if config.cookie and _size(ctx, config.cookie) > COOKIE_SIZE:
            messages.append(Message.hint(f"{config.cookie} is longer than {COOKIE_SIZE} bytes; only the "
                                         "first 256 are the cookie."))
        summary = f"{config.socket} (module #{module.index}, cookie {config.cookie or 'none'})"
        return (self.warn if messages else self.ok)(summary, *messages, facts=facts)

    @staticmethod
    def _cookie_problem(ctx: Context, config: NativeSocketConfig) -> str | None:
        if config.cookie is None:
            return None if config.anonymous else (
                "auth-cookie-enabled=0 and no auth-anonymous: the container's foreign uid can never "
                "authenticate")
        st = ctx.probes.fs.stat(config.cookie)
        if st is None:
            return f"the cookie file {config.cookie} is missing (the server still uses the old one in memory)"
        if not st.is_file:
            return f"{config.cookie} is not a regular file"
        if st.size < COOKIE_SIZE:
            return (f"{config.cookie} holds {st.size} bytes, not {COOKIE_SIZE}: it no longer matches the "
                    "cookie the server loaded")
        return None

    # -- PipeWire ------------------------------------------------------------------------
    def _pipewire(self, ctx: Context) -> CheckResult:
        wanted = expected_socket(ctx)
        settings = pw_settings(ctx)
        current, origin = effective_addresses(settings)
        sockets = [address_socket(ctx, a) for a in current]
        facts = _socket_facts(ctx, wanted.socket, None)
        native = resolve_socket(None, runtime_dir(ctx))
        broken = [s for s in settings if s.problem]
        notes = [Message.hint(f"{s.path}: not understood ({s.problem}); its server.address is ignored here")
                 for s in broken]
        if native not in sockets:
            return self.fail(f"{origin} sets server.address without \"unix:native\"", Message.error(
                "server.address replaces the default list: at the next pipewire-pulse start every other "
                "application loses its sound.", f"Add \"unix:native\" to the list in {origin}."),
                *notes, facts=facts, fixes=(drop_in_fix(ctx, current), restart_fix(ctx)))
        if wanted.socket not in sockets:
            ours = layout.pipewire_drop_in(ctx.paths)
            if origin and origin != ours and os.path.dirname(origin) == os.path.dirname(ours) \
                    and os.path.basename(origin) > os.path.basename(ours):
                notes.append(Message.hint(f"{origin} is read after {ours} and sets server.address: "
                                          f"add \"{PW_ADDRESS}\" there, or the drop-in has no effect."))
            return self.fail("pipewire-pulse has no container socket configured", Message.error(
                f"server.address is [ {_listed(current)} ] ({origin or 'built-in default'}).",
                f"Write {ours} with server.address = [ \"unix:native\" \"{PW_ADDRESS}\" ] and restart "
                "pipewire-pulse (`spotidoctor fix` writes it)."), *notes,
                facts=facts, fixes=(drop_in_fix(ctx, current), restart_fix(ctx)))
        assert wanted.socket is not None
        return self._pipewire_socket(ctx, wanted.socket, origin, facts, notes)

    def _pipewire_socket(self, ctx: Context, socket: str, origin: str | None,
                         facts: dict[str, JSONValue], notes: list[Message]) -> CheckResult:
        if not ctx.probes.fs.is_socket(socket):
            return self.fail("the container socket is configured but pipewire-pulse has not opened it yet",
                             Message.error(f"{origin} adds it; {socket} does not exist",
                                           "Restart pipewire-pulse."), *notes,
                             facts=facts, fixes=(restart_fix(ctx),))
        tested = ctx.probes.pulse.connect_test(f"unix:{socket}", None)
        if not tested.ok:
            return self.fail(f"the container socket does not answer: {tested.detail}", *notes, facts=facts,
                             fixes=(restart_fix(ctx),))
        problem = _foreign_uid_problem(ctx, socket)
        if problem:
            return self.fail(problem, *notes, facts=facts)
        return self.ok(f"{socket} (configured in {origin}; no cookie on PipeWire)",
                       Message.info(MSG_PW_ISOLATION), *notes, facts=facts)


def _foreign_uid_problem(ctx: Context, socket: str) -> str | None:
    """Connecting needs write permission on the socket file; the container's uid is "other"."""
    st = ctx.probes.fs.stat(socket)
    if ctx.config.profile == "keep-id" or st is None or st.perms & stat_mod.S_IWOTH:
        return None
    return (f"{socket} has mode {st.perms:04o}: the container's uid {ctx.config.container_uid} (another uid "
            "on the host) cannot connect to it")


def _size(ctx: Context, path: str) -> int:
    st = ctx.probes.fs.stat(path)
    return st.size if st is not None else 0


# A passing foreign-uid test is trusted this long while its fingerprint holds.
ACCESS_CACHE_TTL_S = 600.0
ACCESS_CACHE_KEY = "pulse-access"
ACCESS_TOOLS = ("podman", "unshare", "mount", "setpriv", "pactl", "sh")
# (with the cookie, without it), or why the test could not run.
Connections = Union[tuple[ConnectResult, ConnectResult], str]


def server_process(ctx: Context) -> JSONValue:
    """[pid, start time] of the pulse server from its pid file in the pulse runtime dir
    (PulseAudio and pipewire-pulse write one), or None when there is none."""
    directory = runtime_dir(ctx)
    fs = ctx.probes.fs
    text = (fs.read_text_or_none(f"{directory}/pid", 32) or "").strip() if directory else ""
    if not text.isdigit():
        return None
    stat = fs.read_text_or_none(f"/proc/{text}/stat", 4096)
    fields = stat.rpartition(")")[2].split() if stat else []
    return [int(text), fields[19] if len(fields) > 19 else None]


def access_fingerprint(ctx: Context, socket: str, cookie: str | None, uid: int, kind: ServerKind) -> list[JSONValue]:
    """What the foreign-uid audio test depends on: podman's fingerprint (``podman unshare``:
    binary, configs, subordinate ids, pause process, boot), the socket (inode, mtime, mode,
    owner: a reloaded module makes a new one), the cookie file's size/mtime/inode (never its
    bytes), the server (kind, version, pid and start time, the module serving the socket),
    the profile and container uid, and the tools the test runs."""
    fs = ctx.probes.fs
    loaded = container_module(ctx) if kind is ServerKind.PULSEAUDIO else None
    info = server_info(ctx)
    tools: list[JSONValue] = [[name, path, file_facts(fs, path) if path else None]
             for name, path in ((n, ctx.probes.cmd.which(n)) for n in ACCESS_TOOLS)]
    return [*podmaninfo.podman_fingerprint(ctx),
            ["socket", socket, file_facts(fs, socket)],
            ["cookie", cookie, file_facts(fs, cookie) if cookie else None],
            ["server", kind.value, info.name, info.version, server_process(ctx)],
            ["module", [loaded.module.index, loaded.module.argument] if loaded else None],
            ["container", ctx.config.profile, uid],
            ["tools", tools]]


def _connections_json(answer: Connections) -> JSONValue:
    assert not isinstance(answer, str)
    return [[r.outcome.value, r.detail, r.server_name] for r in answer]


def _connections_from_json(data: JSONValue) -> Connections:
    if not isinstance(data, list) or len(data) != 2:
        raise ValueError("not a pair")
    pair = []
    for item in data:
        if not isinstance(item, list) or len(item) != 3 or not isinstance(item[1], str) \
                or not isinstance(item[2], (str, type(None))):
            raise ValueError("not a connection")
        pair.append(ConnectResult(ConnectOutcome(item[0]), item[1], item[2]))
    return pair[0], pair[1]


class PulseContainerAccess(Check):
    """What it checks: a connection through the container socket as a DIFFERENT uid — the
    container user's (`container_uid`, 1500) inside your rootless user namespace, i.e. the
    host subordinate uid the server will see — made with `podman unshare` + `setpriv` and
    `pactl info`, once with a private copy of the cookie and once without it. The socket is
    bind-mounted and the cookie copied into a private tmpfs of a throwaway mount namespace,
    so nothing is exposed to other host users.

    Why it matters: it is the only proof that the container will get sound. A same-uid test
    passes on PulseAudio without any cookie (credentials win), so it proves nothing. On
    PulseAudio the connection must succeed WITH the cookie and be refused WITHOUT it; on
    PipeWire (no cookie checks) it must succeed, and the report says what that means.

    A pass is remembered for 10 minutes together with a fingerprint of what it depends on
    (the socket's inode and mtime, the cookie file's size, mtime and inode — never its
    bytes —, the server's pid and version, the module, the profile and container uid, and
    what `podman unshare` depends on); while that is unchanged the check reports the earlier
    pass and says so. `spotidoctor check --fresh`, `fix` and the re-checks after fixes always
    test again; failures are never remembered.

    Fix safety: none of its own; it re-tests what pulse.container-socket and
    pulse.client-config fix. Slow (starts `podman unshare` twice).
    """

    id = ACCESS
    title = "Container uid can use the audio socket"
    category = "audio"
    requires = (SOCKET,)
    timeout_s = 60.0
    tags = frozenset({"slow"})

    def run(self, ctx: Context) -> CheckResult:
        socket = ctx.prior_fact(SOCKET, "container_socket")
        cookie = ctx.prior_fact(SOCKET, "cookie_path")
        if not isinstance(socket, str):
            return self.skip("no container socket to test")
        cookie_path = cookie if isinstance(cookie, str) else None
        if ctx.config.profile == "keep-id":
            return self._same_uid(ctx, socket, cookie_path)
        uid = ctx.config.container_uid
        kind = kind_of(ctx)

        def verdict(answer: Connections) -> CheckResult:
            if isinstance(answer, str):
                return self.warn("could not test as another uid", Message.error(
                    answer, "The userns.* and podman.* checks say why rootless podman cannot run."))
            if kind is ServerKind.PIPEWIRE:
                return self._pipewire(uid, socket, answer[1])
            return self._pulseaudio(uid, socket, *answer)

        got = cached(ctx, ACCESS_CACHE_KEY, lambda: access_fingerprint(ctx, socket, cookie_path, uid, kind),
                     ACCESS_CACHE_TTL_S, lambda: self._connect(ctx, uid, socket, cookie_path),
                     encode=lambda answer: _connections_json(answer) if verdict(answer).status is Status.OK else None,
                     decode=_connections_from_json)
        result = verdict(got.value)
        if got.age_s is None or result.status is not Status.OK:
            return result
        return dataclasses.replace(
            result, summary=f"{result.summary} — {age_text(got.age_s)} ago, nothing it depends on changed since",
            messages=(Message.info(verified_note(got.age_s)), *result.messages))

    @staticmethod
    def _connect(ctx: Context, uid: int, socket: str, cookie: str | None) -> Connections:
        try:
            with_cookie = ctx.probes.pulse.connect_as(uid, uid, socket, cookie)
            without = ctx.probes.pulse.connect_as(uid, uid, socket, None) if cookie else with_cookie
        except ProbeUnavailable as exc:
            return exc.reason
        return with_cookie, without

    def _same_uid(self, ctx: Context, socket: str, cookie: str | None) -> CheckResult:
        tested = ctx.probes.pulse.connect_test(f"unix:{socket}", cookie)
        if tested.ok:
            return self.ok(f"keep-id profile: the container runs as your uid and connects to {socket}")
        return self.fail(f"{socket}: {tested.detail}")

    def _pulseaudio(self, uid: int, socket: str, with_cookie: ConnectResult,
                    without: ConnectResult) -> CheckResult:
        who = f"container uid {uid}"
        if not with_cookie.ok:
            return self.fail(f"{who} cannot use {socket} even with the cookie: {with_cookie.detail}",
                             *_access_advice(with_cookie))
        if without.ok:
            return self.warn(f"{who} connects to {socket} even WITHOUT the cookie", Message.hint(
                "The module accepts foreign uids without authentication (auth-anonymous=1 or an "
                "auth-group), so the cookie protects nothing."))
        return self.ok(f"{who} connects to {socket} with the cookie and is refused without it "
                       f"({without.detail.removeprefix('Connection failure: ')})")

    def _pipewire(self, uid: int, socket: str, result: ConnectResult) -> CheckResult:
        if not result.ok:
            return self.fail(f"container uid {uid} cannot use {socket}: {result.detail}", *_access_advice(result))
        return self.ok(f"container uid {uid} connects to {socket} (PipeWire: no cookie involved)",
                       Message.info(MSG_PW_ISOLATION))


def _access_advice(result: ConnectResult) -> tuple[Message, ...]:
    advice = {
        ConnectOutcome.ACCESS_DENIED: "The cookie does not match the module's: reload the module, or check "
                                      "that auth-cookie= names the file the server really loaded.",
        ConnectOutcome.REFUSED: "Nothing answers on the socket for a foreign uid (stale socket, or the "
                                "socket file is not world-connectable).",
        ConnectOutcome.TIMEOUT: "The server accepted the connection and never answered: restart it.",
    }.get(result.outcome, "See the reason above.")
    return (Message.error(result.detail, advice),)


@dataclass(frozen=True)
class PaScriptScan:
    files: tuple[str, ...]
    lines: tuple[tuple[str, int, NativeSocketConfig], ...]  # (file, line number, config)


def scan_pa_scripts(ctx: Context, first: str, depth: int = 4) -> PaScriptScan:
    """Follow ``.include`` (files and directories of ``*.pa``) from ``first``."""
    fs = ctx.probes.fs
    files: list[str] = []
    found: list[tuple[str, int, NativeSocketConfig]] = []
    todo = [(first, 0)]
    while todo:
        path, level = todo.pop(0)
        if path in files or level > depth:
            continue
        if fs.is_dir(path):
            todo[0:0] = [(os.path.join(path, n), level + 1) for n in fs.listdir(path) if n.endswith(".pa")]
            continue
        try:
            text = fs.read_text_or_none(path)
        except OSError:  # unreadable: the daemon (same user) could not read it either
            text = None
        if text is None:
            continue
        files.append(path)
        parsed = read_default_pa(text)
        found += [(path, line.number, resolve_args(ctx, dict(line.module_args)))
                  for line in parsed.native_unix_loads if line.module_args is not None]
        todo[0:0] = [(inc, level + 1) for inc in parsed.includes]
    return PaScriptScan(tuple(files), tuple(found))


class PulseSocketPersistent(Check):
    """What it checks: that the container socket survives a restart of the audio server.
    PulseAudio: a `load-module module-native-protocol-unix` line for that socket in the
    startup script it really reads — your `~/.config/pulse/default.pa` if it exists (which
    must `.include /etc/pulse/default.pa`, or the whole system configuration is silently
    disabled), else `/etc/pulse/default.pa` and its `default.pa.d`. PipeWire: the drop-in is
    persistent by nature.

    Why it matters: a module loaded only at runtime is gone after a logout or a server
    restart, and Spotify in the container then gets no sound.

    Fix safety: safe. Writes your default.pa starting with `.include /etc/pulse/default.pa`,
    then the load-module line after `.nofail` (idempotent, never duplicated; the old file is
    backed up with a timestamp; lines it does not understand are kept and reported).
    """

    id = PERSIST
    title = "Container audio socket survives a restart"
    category = "audio"
    requires = (SERVER,)
    timeout_s = 15.0
    fix_availability = FixAvailability.SOMETIMES

    def run(self, ctx: Context) -> CheckResult:
        if kind_of(ctx) is ServerKind.PIPEWIRE:
            return self._pipewire(ctx)
        return self._pulseaudio(ctx)

    def _target(self, ctx: Context) -> tuple[dict[str, str], str | None, bool]:
        chosen = container_module(ctx)
        if chosen is not None and chosen.config is not None:
            return dict(chosen.config.args), chosen.config.socket, True
        return dict(SOCKET_ARGS), expected_socket(ctx).socket, False

    def _pulseaudio(self, ctx: Context) -> CheckResult:
        args, socket, loaded = self._target(ctx)
        path = user_default_pa(ctx)
        try:
            text = ctx.probes.fs.read_text_or_none(path)
        except OSError as exc:
            return self.fail(f"cannot read {path}: {exc.strerror or exc}", Message.error(
                "PulseAudio (running as you) cannot read it either, so it starts without any configuration.",
                f"`ls -l {path}`: it must belong to you (was it written with sudo?)."))
        fix = persist_pa_fix(ctx, args)
        fixes = (fix,) if fix else ()
        if text is not None:
            parsed = read_default_pa(text)
            if not parsed.includes_system and not parsed.self_contained:
                return self.fail(f"{path} disables the system PulseAudio configuration",
                                 Message.error(MSG_NO_INCLUDE.format(path=path),
                                               "Make `.include /etc/pulse/default.pa` its first line."),
                                 fixes=fixes)
        scan = scan_pa_scripts(ctx, path if text is not None else "/etc/pulse/default.pa")
        where = next(((f, n) for f, n, cfg in scan.lines if cfg.socket == socket), None)
        if where is not None:
            return self.ok(f"configured in {where[0]} line {where[1]}")
        if loaded:
            return self.warn(f"{socket} is loaded at runtime only: gone after the next PulseAudio restart",
                             Message.hint(f"Not in {', '.join(scan.files) or path}."), fixes=fixes)
        return self.warn("the container socket is not configured persistently",
                         Message.hint(f"Not in {', '.join(scan.files) or path}."), fixes=fixes)

    def _pipewire(self, ctx: Context) -> CheckResult:
        wanted = expected_socket(ctx).socket
        current, origin = effective_addresses(pw_settings(ctx))
        if wanted in [address_socket(ctx, a) for a in current]:
            return self.ok(f"configured in {origin} (a pipewire-pulse drop-in is persistent)")
        return self.warn("pipewire-pulse has no persistent container socket",
                         Message.hint("PipeWire has no runtime way to add a unix socket; a drop-in does it."),
                         fixes=(drop_in_fix(ctx, current),))


class PulseLeftovers(Check):
    """What it checks: leftovers of earlier setups. PulseAudio: the socket module loaded more
    than once (each run of the original script loaded another), a second module on the same
    socket path, module arguments that do not parse, modules whose socket file is gone, and
    cookie files of the wrong size (the server rewrites shorter ones).
    PipeWire: several drop-ins setting `server.address` (only the last counts), and a
    PulseAudio `default.pa` that pipewire-pulse never reads.

    Why it matters: duplicates hide which socket the container really uses, and a cookie
    file that changed under a loaded module no longer authenticates anyone.

    Fix safety: none automatic; the advice lists the exact `pactl unload-module N` commands
    (unloading a module another program uses would cut it off).
    """

    id = LEFTOVERS
    title = "No audio leftovers of earlier setups"
    category = "audio"
    severity = Severity.WARNING
    requires = (SERVER,)
    timeout_s = 15.0

    def run(self, ctx: Context) -> CheckResult:
        found = self._pipewire(ctx) if kind_of(ctx) is ServerKind.PIPEWIRE else self._pulseaudio(ctx)
        if not found:
            return self.ok("none found")
        return self.warn(f"{len(found)} leftover(s)", *found)

    def _pulseaudio(self, ctx: Context) -> list[Message]:
        loads = native_loads(ctx)
        found = [Message.hint(f"module #{i.module.index}: arguments do not parse ({i.problem})")
                 for i in loads if i.problem]
        dedicated = [i for i in loads if i.dedicated and i.config]
        by_socket: dict[str | None, list[Loaded]] = {}
        for item in dedicated:
            assert item.config is not None
            by_socket.setdefault(item.config.socket, []).append(item)
        chosen = container_module(ctx)
        for socket, items in by_socket.items():
            if len(items) > 1:
                found.append(Message.hint(f"{len(items)} modules on the same socket {socket}: "
                                          + ", ".join(f"#{i.module.index}" for i in items)))
        extra = [i for i in dedicated if chosen is None or i.module.index != chosen.module.index]
        if extra:
            found.append(Message.hint(
                f"{len(dedicated)} dedicated socket modules are loaded; the container uses "
                f"#{chosen.module.index if chosen else '?'}",
                *(f"`pactl unload-module {i.module.index}`  # {i.module.argument}" for i in extra)))
        found += self._stale_sockets(ctx, dedicated) + self._cookie_sizes(ctx, loads)
        return found

    @staticmethod
    def _stale_sockets(ctx: Context, dedicated: list[Loaded]) -> list[Message]:
        return [Message.hint(f"module #{i.module.index}: its socket {i.config.socket} is gone",
                             f"`pactl unload-module {i.module.index}`")
                for i in dedicated if i.config and i.config.socket and not ctx.probes.fs.exists(i.config.socket)]

    @staticmethod
    def _cookie_sizes(ctx: Context, loads: list[Loaded]) -> list[Message]:
        paths = {i.config.cookie for i in loads if i.config and i.config.cookie}
        paths.add(os.path.join(config_dir(ctx), "cookie"))
        found = []
        for path in sorted(paths):
            st = ctx.probes.fs.stat(path)
            if st is not None and st.is_file and st.size != COOKIE_SIZE:
                found.append(Message.hint(f"{path} holds {st.size} bytes, not {COOKIE_SIZE}",
                                          "A cookie is exactly 256 bytes; a shorter file is rewritten by the "
                                          "server, a longer one is only partly used."))
        return found

    @staticmethod
    def _pipewire(ctx: Context) -> list[Message]:
        user_dir = os.path.join(ctx.paths.xdg_config_home, "pipewire")
        setters = [s for s in pw_settings(ctx) if s.addresses is not None and s.path.startswith(user_dir)]
        found = []
        if len(setters) > 1:
            found.append(Message.hint(f"{len(setters)} of your pipewire-pulse configs set server.address; "
                                      f"only the last ({setters[-1].path}) counts",
                                      *(s.path for s in setters[:-1])))
        if ctx.probes.fs.exists(user_default_pa(ctx)):
            found.append(Message.hint(f"{user_default_pa(ctx)} is not used by pipewire-pulse",
                                      "Harmless while PipeWire serves pulse clients; it matters again if "
                                      "you switch back to PulseAudio (`spotidoctor check pulse` then)."))
        return found


class SpotifyAudioApi(Check):
    """What it checks: whether Spotify can output through PipeWire directly: the server is
    pipewire-pulse and `$XDG_RUNTIME_DIR/pipewire-0` exists, accepts connections and, unless
    the keep-id profile is used, lets another uid connect (mode o+w, as systemd's
    pipewire.socket makes it; a hand-started pipewire leaves 0755). Records
    the result in the facts `audio_api` ("pipewire", or "pulseaudio": the launcher then adds
    `--audio-api=pulseaudio`) and `pipewire_socket` (path or null).

    Why it matters: recent Spotify versions output through PipeWire by default; without a
    usable `pipewire-0` in the container they play nothing unless told to use PulseAudio.
    On a PulseAudio host a `pipewire-0` that exists (screen sharing) must not be used: it
    has no audio devices.

    Fix safety: none needed; informational.
    """

    id = OUTPUT
    title = "Spotify audio output API"
    category = "audio"
    severity = Severity.INFO
    requires = (SERVER,)
    timeout_s = 15.0
    tags = frozenset({"launch"})

    def run(self, ctx: Context) -> CheckResult:
        path = pipewire_socket_path(ctx)
        st = ctx.probes.fs.stat(path) if path else None
        exists = st is not None and st.is_socket
        usable = exists and path is not None and ctx.probes.pulse.socket_accepts(path)
        # Connecting needs write permission on the socket file, and the container's uid is "other"
        # on the host (systemd's pipewire.socket makes it 0666; a hand-started pipewire uses the umask).
        foreign_ok = ctx.config.profile == "keep-id" or (st is not None and bool(st.perms & stat_mod.S_IWOTH))
        kind = kind_of(ctx)
        if kind is ServerKind.PIPEWIRE and usable and foreign_ok and ctx.config.share_pipewire:
            return self.ok(f"PipeWire ({path})", Message.info(MSG_PW_GRAPH),
                           facts={"audio_api": "pipewire", "pipewire_socket": path})
        facts: dict[str, JSONValue] = {"audio_api": "pulseaudio", "pipewire_socket": None}
        if kind is ServerKind.PIPEWIRE and usable and foreign_ok:
            why = (f"{path} would work, but it is not shared: it exposes the whole PipeWire graph "
                   "(cameras, screen casts, every application's streams), while the pulse socket carries "
                   "audio only. Set share_pipewire = true in config.toml to share it anyway.")
        elif kind is ServerKind.PULSEAUDIO and exists:
            why = f"{path} exists but PulseAudio plays the sound (PipeWire there has no audio devices)"
        elif kind is ServerKind.PULSEAUDIO:
            why = "the server is PulseAudio"
        elif usable and st is not None:
            why = (f"{path} has mode {st.perms:04o}: the container's uid {ctx.config.container_uid} (another "
                   "uid on the host) cannot connect to it")
        else:
            why = f"{path or 'pipewire-0'} is {'not accepting connections' if exists else 'missing'}"
        return self.ok("pulseaudio (the launcher adds --audio-api=pulseaudio)", Message.info(why), facts=facts)


def pipewire_socket_path(ctx: Context) -> str | None:
    base = ctx.env.get("PIPEWIRE_RUNTIME_DIR") or ctx.paths.xdg_runtime_dir
    remote = ctx.env.get("PIPEWIRE_REMOTE") or "pipewire-0"
    if os.path.isabs(remote):
        return remote
    return os.path.join(base, remote) if base else None


class PulseClientConfig(Check):
    """What it checks: the files handed to the container. A client config
    (`$XDG_RUNTIME_DIR/spotidoctor/pulse-client.conf`) with `autospawn = no` and
    `enable-shm = no` (SHM cannot work across the container boundary); on
    PulseAudio a copy of the socket's cookie (`$XDG_RUNTIME_DIR/spotidoctor/pulse-cookie`),
    owned by you, mode 0644, exactly the server's 256 bytes, inside a directory other users
    cannot enter — it is mounted read-only, and a copy the container user owned would fail
    there.

    Why it matters: without the cookie copy the container is refused ("Access denied");
    a stale copy (the cookie changed) fails the same way.

    Fix safety: safe. Writes both files atomically (the cookie is read when the fix runs and
    never shown); re-running changes nothing.
    """

    id = CLIENT
    title = "Container audio client config and cookie copy"
    category = "audio"
    requires = (SOCKET,)
    timeout_s = 15.0
    tags = frozenset({"launch"})
    fix_availability = FixAvailability.ALWAYS

    def run(self, ctx: Context) -> CheckResult:
        conf = layout.pulse_client_conf(ctx.paths)
        source = ctx.prior_fact(SOCKET, "cookie_path")
        cookie = source if isinstance(source, str) else None
        copy = layout.pulse_cookie_copy(ctx.paths) if cookie else None
        facts: dict[str, JSONValue] = {"client_conf": conf, "cookie_copy": copy}
        problems = self._conf_problems(ctx, conf, cookie is not None)
        if cookie and copy:
            problems += self._copy_problems(ctx, cookie, copy)
        if problems:
            return self.fail(problems[0], *(Message.error(p) for p in problems), facts=facts,
                             fixes=(self._fix(ctx, conf, cookie, copy),))
        return self.ok(f"{conf}" + (f" and {copy}" if copy else " (no cookie on PipeWire)"), facts=facts)

    @staticmethod
    def _conf_text(with_cookie: bool) -> str:
        return client_conf_text(f"unix:{layout.CONTAINER_PULSE_SOCKET}",
                                layout.CONTAINER_PULSE_COOKIE if with_cookie else None)

    def _conf_problems(self, ctx: Context, conf: str, with_cookie: bool) -> list[str]:
        try:
            text = ctx.probes.fs.read_text_or_none(conf)
        except OSError as exc:
            return [f"cannot read {conf}: {exc.strerror or exc}"]
        if text is None:
            return [f"{conf} is missing"]
        try:
            values = parse_client_conf(text)
        except ParseError as exc:
            return [f"{conf}: {exc}"]
        problems = [f"{conf}: {p.key} is {p.found or 'unset (default yes)'}, must be {p.wanted}"
                    for p in client_conf_problems(values)]
        wanted_cookie = layout.CONTAINER_PULSE_COOKIE if with_cookie else None
        if values.get("cookie-file") != wanted_cookie and (wanted_cookie or "cookie-file" in values):
            problems.append(f"{conf}: cookie-file should be {wanted_cookie or 'unset'} for this server")
        return problems

    @staticmethod
    def _copy_problems(ctx: Context, cookie: str, copy: str) -> list[str]:
        fs = ctx.probes.fs
        st = fs.stat(copy)
        if st is None:
            return [f"the cookie copy {copy} is missing"]
        problems = []
        if st.uid != ctx.user.uid:
            problems.append(f"{copy} belongs to uid {st.uid}, not you: a container-owned copy mounted "
                            "read-only is refused")
        if st.perms != 0o644:
            problems.append(f"{copy} has mode {st.perms:04o}, must be 0644 (readable by the container user)")
        try:
            same = fs.read_bytes(copy) == fs.read_bytes(cookie)
        except OSError as exc:
            return problems + [f"cannot read the cookie to compare: {exc.strerror or exc}"]
        if not same:
            problems.append(f"{copy} is not the server's current cookie ({cookie}); the container would "
                            "be refused")
        return problems + _exposure(ctx, copy)

    def _fix(self, ctx: Context, conf: str, cookie: str | None, copy: str | None) -> Fix:
        directory = ctx.paths.runtime_dir
        steps: list[Step] = [
            MakeDirs(f"create {directory}", path=directory, mode=0o700),
            WriteFile(f"write {conf}", path=conf, content=self._conf_text(cookie is not None), mode=0o644,
                      backup=False)]
        if cookie and copy:
            steps.append(CopyPulseCookie(f"copy the cookie to {copy}", source=cookie, target=copy))
        return Fix.safe(FIX_CLIENT, "Write the container's pulse client config and cookie copy", *steps,
                        recheck=(ACCESS,))


def _exposure(ctx: Context, copy: str) -> list[str]:
    """A 0644 copy is fine only behind a directory other users cannot enter."""
    directory = os.path.dirname(copy)
    for path in (directory, os.path.dirname(directory)):
        st = ctx.probes.fs.stat(path)
        if st is not None and not st.perms & stat_mod.S_IXOTH:
            return []
    return [f"{directory} and its parent can be entered by every local user, so the 0644 cookie copy "
            "is readable by all of them: make the directory 0700"]


CHECKS = (PulseServerReachable, PulseContainerSocket, PulseContainerAccess, PulseSocketPersistent,
          PulseLeftovers, SpotifyAudioApi, PulseClientConfig)
