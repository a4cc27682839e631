"""pipewire-pulse's configuration as the pulse checks read it: which ``server.address`` is in
force (the main file, then the drop-ins in load order) and where its sockets are."""
from __future__ import annotations

import os
from dataclasses import dataclass

from spotidoctor.api import Context
from spotidoctor.errors import ParseError

from .common import runtime_dir
from .conf import parse_server_addresses, resolve_socket

SYSTEM_PW_DIRS = ("/usr/share/pipewire", "/etc/pipewire")


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


def quoted_list(addresses: tuple[str, ...]) -> str:
    return " ".join(f'"{a}"' for a in addresses)


def address_socket(ctx: Context, address: str) -> str | None:
    if not address.startswith("unix:"):
        return None
    return resolve_socket(address[len("unix:"):], runtime_dir(ctx))
