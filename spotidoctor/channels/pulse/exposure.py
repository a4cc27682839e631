"""Which modules of the user's sound server let clients in without authentication.

Pure logic over the module list (name and argument string, as ``pactl list modules`` shows
them), plus ``scan_server`` that asks a ``PulseProbe`` for that list. Each finding is one
line saying who gets in and what they can do. What counts, from the servers' sources:

- module-native-protocol-tcp/-unix and module-esound-protocol-*: ``auth-anonymous=1`` admits
  everyone who reaches the socket; ``auth-ip-acl`` admits the listed networks without a cookie;
  ``auth-group`` (unix) admits that group's members (PulseAudio protocol-native.c, command_auth).
  A TCP listener without ``listen=`` binds every address (module-protocol-stub.c).
- pipewire-pulse checks no cookie at all (pulse-server.c do_command_auth): its TCP module
  admits everyone who reaches the port, as a "restricted" client unless ``auth-anonymous=1``
  (server.c); what restricted means is up to the session manager.
- module-simple-protocol-*, module-cli-protocol-* and module-http-protocol-* have no
  authentication; the CLI one executes any command (module loads), the HTTP one streams the
  sources (live sound) to whoever asks. Their unix sockets are only flagged when placed
  outside the private pulse runtime directory (an absolute ``socket=``).
- module-dbus-protocol with ``access=remote`` accepts anonymous D-Bus clients over TCP.
- module-x11-publish copies the cookie into a property of the X root window, readable by
  every X client, a container with a display included.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from spotidoctor.errors import ParseError
from spotidoctor.probes.pulse import ModuleInfo, PulseProbe, ServerInfo, ServerKind
from spotidoctor.probes.pulseargs import parse_bool, parse_module_args

__all__ = ["Exposure", "exposed_modules", "scan_server"]


@dataclass(frozen=True)
class Exposure:
    index: int  # the module's index (``pactl unload-module INDEX`` removes it)
    module: str
    reason: str  # one line


_DEFAULT_PORTS = {"native": 4713, "simple": 4711, "cli": 4712, "http": 4714, "esound": 16001}


def _true(args: Mapping[str, str], key: str) -> bool:
    return parse_bool(args.get(key, "0")) is True


def _loopback(address: str) -> bool:
    if address.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


def _where(args: Mapping[str, str], protocol: str) -> str:
    port = args.get("port", str(_DEFAULT_PORTS[protocol]))
    listen = args.get("listen")
    return f"port {port} on {'every address' if not listen else listen}"


def _network(args: Mapping[str, str]) -> bool:
    """Whether a TCP listener is reachable from other machines (no ``listen=`` binds everything)."""
    return not args.get("listen") or not _loopback(args["listen"])


def _wide_acl(acl: str) -> list[str]:
    """The ACL entries that are not loopback (the ACL is ``;``-separated addresses/prefixes)."""
    wide = []
    for entry in filter(None, (part.strip() for part in acl.split(";"))):
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            wide.append(entry)
            continue
        if not network.is_loopback:
            wide.append(entry)
    return wide


def _tcp_findings(args: Mapping[str, str], protocol: str, kind: ServerKind) -> list[str]:
    where = _where(args, protocol)
    found = []
    anonymous = _true(args, "auth-anonymous")
    if kind is ServerKind.PIPEWIRE and protocol == "native":
        found.append(f"auth-anonymous=1: anyone who reaches {where} is admitted with unrestricted access" if anonymous
                     else f"pipewire-pulse checks no cookies: anyone who reaches {where} is admitted as a client")
    elif anonymous:
        found.append(f"auth-anonymous=1: anyone who reaches {where} controls the sound server without a cookie")
    wide = _wide_acl(args.get("auth-ip-acl", ""))
    if wide:
        found.append(f"auth-ip-acl admits {', '.join(wide)} without a cookie ({where})")
    if not found and _network(args):
        found.append(f"listens on {where}, reachable from the network (a cookie is still required)")
    return found


def _unix_findings(args: Mapping[str, str]) -> list[str]:
    socket = args.get("socket", "native")
    found = []
    if _true(args, "auth-anonymous"):
        found.append(f"auth-anonymous=1: every user and container that can reach the socket {socket} controls "
                     f"the sound server without a cookie")
    group = args.get("auth-group")
    if group and parse_bool(args.get("auth-group-enable", "1")) is not False:
        found.append(f"auth-group={group}: members of group {group} are admitted without a cookie")
    return found


def _open_what(protocol: str, args: Mapping[str, str]) -> str:
    if protocol == "simple":
        return "can play sound" + (" and record it (record=1)" if _true(args, "record") else "")
    if protocol == "cli":
        return "can run any server command, module loads included (code runs as you)"
    return "can listen to every source (live sound) and read the server's state"


def _open_findings(protocol: str, transport: str, args: Mapping[str, str]) -> list[str]:
    """Protocols without any authentication (simple, cli, http)."""
    what = _open_what(protocol, args)
    if transport == "tcp":
        return [f"no authentication: anyone who reaches {_where(args, protocol)} {what}"]
    socket = args.get("socket", "")
    if socket.startswith("/"):
        return [f"no authentication: anyone who can open the socket {socket} {what}"]
    return []  # the default socket lives in the private (0700) pulse runtime directory


def _findings(name: str, args: Mapping[str, str], kind: ServerKind) -> list[str]:
    parts = name.split("-")  # module-<protocol>-protocol-<transport>
    if len(parts) == 4 and parts[0] == "module" and parts[2] == "protocol" and parts[3] in ("tcp", "unix"):
        protocol, transport = parts[1], parts[3]
        if protocol in ("native", "esound"):
            return _tcp_findings(args, protocol, kind) if transport == "tcp" else _unix_findings(args)
        if protocol in ("simple", "cli", "http"):
            return _open_findings(protocol, transport, args)
    if name == "module-dbus-protocol" and "remote" in args.get("access", ""):
        port = args.get("tcp_port", "24883")
        return [f"access={args['access']}: anonymous D-Bus clients on TCP port {port} control the sound server"]
    if name == "module-x11-publish":
        return ["publishes the pulse cookie on the X display: every X client (a container with a display too) "
                "can read it"]
    return []


def exposed_modules(modules: Iterable[ModuleInfo], kind: ServerKind) -> tuple[Exposure, ...]:
    """Every module that admits clients without authentication, one finding per reason."""
    found = []
    for module in modules:
        if not module.name.startswith("module-"):
            continue  # pipewire's own libpipewire-module-* entries (SPA-JSON arguments)
        try:
            args = parse_module_args(module.argument)
        except ParseError:
            found.append(Exposure(module.index, module.name, "its arguments cannot be read; check them by hand"))
            continue
        found += [Exposure(module.index, module.name, reason) for reason in _findings(module.name, args, kind)]
    return tuple(found)


def scan_server(probe: PulseProbe, server: str | None = None) -> tuple[ServerInfo, tuple[Exposure, ...]]:
    """Ask the server (bounded by the probe's timeouts) and judge its module list.

    Raises what the probe raises (``PulseUnreachable``, ``ProbeTimeout``).
    """
    info = probe.server_info(server)
    return info, exposed_modules(probe.modules(server), info.kind)
