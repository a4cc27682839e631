"""pulse.container-socket: the dedicated socket the container's audio goes through."""
from __future__ import annotations

import os
import stat as stat_mod

from spotidoctor import layout
from spotidoctor.api import Check, CheckResult, Context, Message
from spotidoctor.facts import PulseSocketFacts
from spotidoctor.fixes import FixAvailability
from spotidoctor.probes.pulse import ModuleInfo, ServerKind
from spotidoctor.types import JSONValue

from .common import (
    MSG_PW_ISOLATION,
    PW_ADDRESS,
    SERVER,
    SOCKET,
    SOCKET_ARGS,
    container_module,
    direct_only,
    expected_socket,
    kind_of,
    runtime_dir,
    server_info,
    user_default_pa,
)
from .conf import COOKIE_SIZE, NATIVE_UNIX, NativeSocketConfig, format_module_args, resolve_socket
from .fixes import cookie_readable_fix, drop_in_fix, load_fix, persist_pa_fix, restart_command, restart_fix
from .pipewire import address_socket, effective_addresses, pw_settings, quoted_list


def _socket_facts(ctx: Context, socket: str | None, cookie: str | None) -> dict[str, JSONValue]:
    info = server_info(ctx)
    return PulseSocketFacts(info.kind.value, info.name, socket, cookie).to_json()


class PulseContainerSocket(Check):
    """What it checks: the dedicated socket the container's audio goes through.
    PulseAudio: a loaded `module-native-protocol-unix` whose `socket=` and `auth-cookie=`
    (relative paths resolve to `$XDG_RUNTIME_DIR/pulse/` and `~/.config/pulse/`) point at an
    existing socket and a 256-byte cookie — by default the original design's
    `socket=pulse-socket auth-cookie=pulse-cookie`. PipeWire: a `server.address` drop-in in
    `~/.config/pipewire/pipewire-pulse.conf.d/` that keeps `"unix:native"` and adds the
    socket, the socket file itself, and a test connection through it.

    Only with `audio = "direct"`: the default filtered audio needs none of this (see
    pulse.audio-mode and pulse.filter-access).

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

    def applies(self, ctx: Context) -> str | None:
        return direct_only(ctx)

    def run(self, ctx: Context) -> CheckResult:
        if runtime_dir(ctx) is None:
            return self.fail(layout.NO_RUNTIME_DIR, Message.error(
                "Without it the pulse socket has no stable place to live.", layout.NO_RUNTIME_DIR_ADVICE))
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
        unreadable = self._unreadable(ctx, config.cookie, facts)
        if unreadable is not None:
            return unreadable
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

    def _unreadable(self, ctx: Context, cookie: str | None, facts: dict[str, JSONValue]) -> CheckResult | None:
        """The cookie exists but you cannot read it (e.g. mode 000): the server still checks it
        (it read it at load time), but nothing can copy it for the container."""
        if cookie is None:
            return None
        try:
            ctx.probes.fs.read_bytes(cookie, COOKIE_SIZE)
            return None
        except OSError as exc:
            reason = exc.strerror or str(exc)
        st = ctx.probes.fs.stat(cookie)
        owner, mode = (st.uid, st.perms) if st else (-1, 0)
        return self.fail(f"cannot read the cookie file {cookie}: {reason}", Message.error(
            f"{cookie} (owner uid {owner}, mode {mode:04o}) cannot be read, so its copy for the container "
            "cannot be made; the server still holds the cookie it read when the module was loaded.",
            "Mode 0600 is what PulseAudio gives it."), facts=facts, fixes=(cookie_readable_fix(ctx, cookie, owner),))

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
                f"server.address is [ {quoted_list(current)} ] ({origin or 'built-in default'}).",
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
                                           f"Restart pipewire-pulse: `{restart_command(ctx)}`."), *notes,
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
