"""What several pulse checks ask: check ids, the server and its modules (once per run), and
where relative ``socket=`` / ``auth-cookie=`` paths resolve.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from spotidoctor import layout
from spotidoctor.api import Context
from spotidoctor.errors import ParseError
from spotidoctor.facts import PulseServerFacts
from spotidoctor.probes.pulse import ModuleInfo, ServerInfo, ServerKind

from .conf import NATIVE_UNIX, NativeSocketConfig, native_socket_config, parse_module_args

SERVER = "pulse.server"
SOCKET = "pulse.container-socket"
ACCESS = "pulse.container-access"
PERSIST = "pulse.persistence"
LEFTOVERS = "pulse.leftovers"
OUTPUT = "pulse.output-api"
CLIENT = "pulse.client-config"
MODE = "pulse.audio-mode"
EXPOSURE = "pulse.exposure"
FILTER = "pulse.filter-access"

FILTERED_SKIP = ('audio = "filtered": the container reaches your server through spotidoctor\'s playback-only '
                 "filter; no dedicated socket, module or cookie copy is needed")


def direct_only(ctx: Context) -> str | None:
    """The skip reason of the checks that prepare the original design's direct socket."""
    return FILTERED_SKIP if ctx.config.audio == "filtered" else None


# The original design's module arguments. The server resolves relative values: socket= in its runtime
# dir ($XDG_RUNTIME_DIR/pulse), auth-cookie= in $XDG_CONFIG_HOME/pulse (pulsecore/authkey.c).
SOCKET_ARGS = {"socket": layout.PULSE_SOCKET_NAME, "auth-cookie": layout.PULSE_COOKIE_NAME}
PW_ADDRESS = f"unix:{layout.PULSE_SOCKET_NAME}"
PW_UNIT = "pipewire-pulse.service"


PA_UNIT_HINT = "systemctl --user start pulseaudio.socket pulseaudio.service"

MSG_PW_ISOLATION = (
    "pipewire-pulse checks no cookie: any process that can open this socket gets "
    "full audio access (play, record the microphone, change volumes, see other streams). "
    "Isolation rests only on the socket file: it sits in your 0700 runtime dir and reaches the "
    "container through one bind mount, so keep it that way and do not hand it to other containers.")


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
    published = ctx.prior_facts(PulseServerFacts)
    if published is not None:
        return ServerKind(published.server_kind)
    return server_info(ctx).kind
