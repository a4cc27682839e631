"""Networking for sign-in, as pure functions the checks can build on (no I/O here).

- ``login_reach``: can the chosen ``--network`` reach Spotify's login at all, and is the
  callback relay needed (every mode but ``host``, whose 127.0.0.1 is the host's own).
- ``parse_ipv6_routes`` / ``has_ipv6_default_route``: /proc/net/ipv6_route. Hosts without an
  IPv6 route fail sign-in with "A firewall might be blocking Spotify" when the container still
  gets IPv6 (pasta copies the host's addresses; slirp4netns enables IPv6 by default).
- ``ipv4_only_network``: the ``--network`` value that keeps the container IPv4-only for the
  installed podman (slirp4netns ``enable_ipv6=false``; pasta ``-4``, pasta itself needing
  podman >= 4.4).
- ``network_advice``: /dev/net/tun (slirp4netns and pasta create their tap device through it)
  and pasta, only where the installed podman supports it.

Sources: podman-run(1) ``--network`` (v4.3.1, v4.4.0, v5.0.0: ``none`` "no network
connectivity"; ``host`` uses the host's network; slirp4netns ``enable_ipv6`` "Default is
true"; ``pasta[:OPTIONS,...]`` with comma-separated pasta(1) options, new in 4.4.0), podman
5.0 release notes (rootless default swapped from slirp4netns to pasta), passt/pasta(1)
(``-4, --ipv4-only``; a tap interface in the namespace).
"""
from __future__ import annotations

import ipaddress
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

__all__ = ["NetworkKind", "NetworkMode", "parse_network", "effective_network", "Reach", "login_reach",
           "Ipv6Route", "parse_ipv6_routes", "has_ipv6_default_route", "ipv4_only_network", "TunState", "tun_state",
           "Advice", "network_advice", "PASTA_MIN_PODMAN", "PASTA_DEFAULT_PODMAN"]

PASTA_MIN_PODMAN = (4, 4)  # --network pasta arrived in podman 4.4.0
PASTA_DEFAULT_PODMAN = (5, 0)  # ... and became the rootless default in 5.0.0
RTF_UP = 0x0001
RTF_REJECT = 0x0200
_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")


class NetworkKind(str, Enum):
    DEFAULT = "default"  # no --network: podman's rootless default
    PRIVATE = "private"  # a new namespace with the rootless default stack
    NONE = "none"
    HOST = "host"
    SLIRP4NETNS = "slirp4netns"
    PASTA = "pasta"
    BRIDGE = "bridge"
    NAMED = "named"  # a user-defined network (or several, comma-separated)
    CONTAINER = "container"  # container:NAME
    NS = "ns"  # ns:PATH


@dataclass(frozen=True)
class NetworkMode:
    kind: NetworkKind
    options: tuple[str, ...] = ()
    target: str = ""  # the network, container or namespace path

    def text(self) -> str:
        """Back to a ``--network`` value ("" for podman's default)."""
        if self.kind is NetworkKind.DEFAULT:
            return ""
        if self.kind is NetworkKind.NAMED:
            return self.target
        if self.kind in (NetworkKind.CONTAINER, NetworkKind.NS):
            return f"{self.kind.value}:{self.target}"
        options = ":" + ",".join(self.options) if self.options else ""
        return f"{self.kind.value}{options}"


_WITH_OPTIONS = {k.value: k for k in (NetworkKind.SLIRP4NETNS, NetworkKind.PASTA, NetworkKind.BRIDGE)}
_PLAIN = {k.value: k for k in (NetworkKind.NONE, NetworkKind.HOST, NetworkKind.PRIVATE)}


def parse_network(value: str) -> NetworkMode:
    """A ``--network`` value (``network`` in config.toml) as podman reads it."""
    value = value.strip()
    if not value:
        return NetworkMode(NetworkKind.DEFAULT)
    head, sep, rest = value.partition(":")
    if head in _PLAIN and not sep:
        return NetworkMode(_PLAIN[head])
    if head in _WITH_OPTIONS:
        return NetworkMode(_WITH_OPTIONS[head], tuple(o for o in rest.split(",") if o) if sep else ())
    if head in ("container", "ns") and sep and rest:
        return NetworkMode(NetworkKind(head), (), rest)
    return NetworkMode(NetworkKind.NAMED, (), value)


def effective_network(mode: NetworkMode, default_network: str) -> NetworkMode:
    """``default``/``private`` resolved to the rootless stack podman uses (``PodmanInfo.default_network``)."""
    if mode.kind in (NetworkKind.DEFAULT, NetworkKind.PRIVATE):
        return parse_network(default_network or "slirp4netns")
    return mode


# -- can sign-in work at all ----------------------------------------------------------------

@dataclass(frozen=True)
class Reach:
    reaches: bool | None  # None: the mode alone does not tell
    why: str
    relay_needed: bool  # host 127.0.0.1:4381 must be relayed into the container


def login_reach(mode: NetworkMode, default_network: str) -> Reach:
    mode = effective_network(mode, default_network)
    kind = mode.kind
    if kind is NetworkKind.NONE:
        return Reach(False, "network 'none' has no connectivity: Spotify can neither sign in nor stream "
                            "(use the default network; the QR code needs the network too)", True)
    if kind is NetworkKind.HOST:
        return Reach(True, "the host's network: Spotify's 127.0.0.1:4381 is the host's own (no relay needed), "
                           "but the container also reaches every service on the host", False)
    if kind in (NetworkKind.SLIRP4NETNS, NetworkKind.PASTA):
        return Reach(True, f"{kind.value} gives the container outbound connectivity; the sign-in callback to "
                           "127.0.0.1:4381 is relayed into it", True)
    if kind in (NetworkKind.BRIDGE, NetworkKind.NAMED):
        return Reach(True, "a podman network reaches the internet unless it was created --internal; the "
                           "sign-in callback is relayed into the container", True)
    return Reach(None, f"the container uses the network of {mode.text()}: sign-in works only if that one "
                       "reaches the internet", True)


# -- IPv6 routes --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Ipv6Route:
    network: ipaddress.IPv6Network
    next_hop: ipaddress.IPv6Address
    metric: int
    flags: int
    device: str

    @property
    def usable(self) -> bool:
        """Up, not a reject ("unreachable") route, not the loopback's null entry."""
        return bool(self.flags & RTF_UP) and not self.flags & RTF_REJECT and self.device != "lo"

    @property
    def reaches_internet(self) -> bool:
        """A default route, or one covering all global unicast space (a VPN's ::/1 split)."""
        return self.usable and self.network.supernet_of(_GLOBAL_UNICAST)


def _route(line: str) -> Ipv6Route | None:
    # dest prefix src src_prefix next_hop metric refcnt use flags device (hex, /proc/net/ipv6_route)
    fields = line.split()
    if len(fields) != 10:
        return None
    dest, prefix, _, _, hop, metric, _, _, flags, device = fields
    try:
        network = ipaddress.IPv6Network((int(dest, 16), int(prefix, 16)), strict=False)
        return Ipv6Route(network, ipaddress.IPv6Address(int(hop, 16)), int(metric, 16), int(flags, 16), device)
    except ValueError:
        return None


def parse_ipv6_routes(text: str) -> list[Ipv6Route]:
    """Every well-formed line of /proc/net/ipv6_route; anything else is skipped."""
    return [r for r in (_route(line) for line in text.splitlines()) if r is not None]


def has_ipv6_default_route(routes: Iterable[Ipv6Route]) -> bool:
    return any(r.reaches_internet for r in routes)


# -- IPv4-only networking -------------------------------------------------------------------

def ipv4_only_network(mode: NetworkMode, podman_version: tuple[int, ...], default_network: str) -> str | None:
    """The ``--network`` value that keeps the container IPv4-only, or None when the mode has no
    IPv6 switch here (none, host, podman networks, another container's) or podman lacks it."""
    mode = effective_network(mode, default_network)
    if mode.kind is NetworkKind.SLIRP4NETNS:
        options = [o for o in mode.options if not o.startswith("enable_ipv6=")]
        return NetworkMode(NetworkKind.SLIRP4NETNS, (*options, "enable_ipv6=false")).text()
    if mode.kind is NetworkKind.PASTA and podman_version >= PASTA_MIN_PODMAN:
        if {"-4", "--ipv4-only"} & set(mode.options):
            return mode.text()
        options = [o for o in mode.options if o not in ("-6", "--ipv6-only")]
        return NetworkMode(NetworkKind.PASTA, (*options, "-4")).text()
    return None


# -- /dev/net/tun and pasta -------------------------------------------------------------------

class TunState(str, Enum):
    USABLE = "usable"
    MISSING = "missing"
    NO_ACCESS = "no-access"


def tun_state(mode: int | None, gid: int = 0, user_gids: Iterable[int] = ()) -> TunState:
    """From ``lstat("/dev/net/tun")`` (None: absent). slirp4netns and pasta open it inside the
    user namespace, where the device's root owner is unmapped: the 'other' bits (or a group
    the user is in) must allow read and write."""
    if mode is None or not stat.S_ISCHR(mode):
        return TunState.MISSING
    if mode & 0o006 == 0o006 or (mode & 0o060 == 0o060 and gid in set(user_gids)):
        return TunState.USABLE
    return TunState.NO_ACCESS


@dataclass(frozen=True)
class Advice:
    code: str  # stable, for tests and --json
    text: str


def _dotted(version: tuple[int, ...]) -> str:
    return ".".join(str(p) for p in version)


def network_advice(mode: NetworkMode, podman_version: tuple[int, ...], default_network: str, tun: TunState,
                   pasta_installed: bool) -> list[Advice]:
    """What to tell the user about the network the launch will use (empty: nothing to say)."""
    effective = effective_network(mode, default_network)
    kind = effective.kind
    advice: list[Advice] = []
    if kind is NetworkKind.PASTA and podman_version < PASTA_MIN_PODMAN:
        advice.append(Advice("pasta-unsupported",
                             f"pasta needs podman >= 4.4; podman {_dotted(podman_version)} cannot use it: "
                             "set network = \"slirp4netns\" (or leave it unset)"))
    elif kind is NetworkKind.PASTA and not pasta_installed:
        advice.append(Advice("pasta-missing", "network pasta needs the pasta program: install the passt package"))
    uses_tun = kind in (NetworkKind.SLIRP4NETNS, NetworkKind.PASTA, NetworkKind.BRIDGE, NetworkKind.NAMED)
    if uses_tun and tun is TunState.MISSING:
        advice.append(Advice("tun-missing",
                             f"/dev/net/tun does not exist: {kind.value} creates its network device through it, so "
                             "the container cannot start. As root: `modprobe tun` (and add tun to "
                             "/etc/modules-load.d/ to keep it)"))
    elif uses_tun and tun is TunState.NO_ACCESS:
        advice.append(Advice("tun-no-access",
                             f"/dev/net/tun is not open to everyone (read and write): {kind.value} fails with "
                             "'open(\"/dev/net/tun\"): Permission denied'. As root: `chmod 0666 /dev/net/tun` "
                             "(udev's default mode), or use network = \"none\" (no sign-in, no streaming)"))
    return advice
