"""pulse.leftovers: leftovers of earlier setups (duplicate modules, stale sockets, odd cookies)."""
from __future__ import annotations

import os

from spotidoctor.api import Check, CheckResult, Context, Message
from spotidoctor.model import Severity
from spotidoctor.probes.pulse import ServerKind

from .common import LEFTOVERS, SERVER, Loaded, config_dir, container_module, kind_of, native_loads, user_default_pa
from .conf import COOKIE_SIZE
from .pipewire import pw_settings


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
