"""Networking for sign-in: network modes, IPv6 routes, IPv4-only arguments, tun and pasta advice."""
from __future__ import annotations

import stat

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spotidoctor.channels.netadvice import (
    NetworkKind,
    NetworkMode,
    TunState,
    has_ipv6_default_route,
    ipv4_only_network,
    login_reach,
    network_advice,
    parse_ipv6_routes,
    parse_network,
    tun_state,
)

ZERO = "0" * 32


def route(dest: str, prefix: str, hop: str, metric: str, flags: str, device: str) -> str:
    """One /proc/net/ipv6_route line (source prefix, refcount and use are not read)."""
    return f"{dest} {prefix} {ZERO} 00 {hop} {metric} 00000001 00000000 {flags} {device:>8}\n"


# /proc/net/ipv6_route of a host with IPv6, as read on the test VM: a default route via fd00::1
# on eth0, and the kernel's null entry on lo (flags 0x00200200: RTF_REJECT, not RTF_UP).
LINES = [
    route("fd" + "0" * 30, "40", ZERO, "00000100", "00000001", "eth0"),
    route("fe80" + "0" * 28, "40", ZERO, "00000100", "00000001", "eth0"),
    route(ZERO, "00", "fd" + "0" * 29 + "1", "00000400", "00000003", "eth0"),
    route("0" * 31 + "1", "80", ZERO, "00000000", "80200001", "lo"),
    route(ZERO, "00", ZERO, "ffffffff", "00200200", "lo"),
]
WITH_DEFAULT = "".join(LINES)
# Link-local and loopback only (IPv6 on, no router): the null entry must not count as a default.
WITHOUT_DEFAULT = LINES[1] + LINES[3] + LINES[4]
# A VPN that splits the default into ::/1 and 8000::/1.
VPN_SPLIT = route(ZERO, "01", ZERO, "00000400", "00000001", "wg0") + route("8" + "0" * 31, "01", ZERO, "00000400",
                                                                            "00000001", "wg0")
# A default route that is administratively unreachable (`ip -6 route add unreachable default`).
UNREACHABLE_DEFAULT = route(ZERO, "00", ZERO, "00000400", "00000201", "lo")


@pytest.mark.parametrize("text, expected", [
    (WITH_DEFAULT, True), (WITHOUT_DEFAULT, False), ("", False), (VPN_SPLIT, True), (UNREACHABLE_DEFAULT, False),
])
def test_ipv6_default_route(text: str, expected: bool) -> None:
    assert has_ipv6_default_route(parse_ipv6_routes(text)) is expected


def test_route_fields_are_read_as_hex() -> None:
    routes = parse_ipv6_routes(WITH_DEFAULT)
    assert len(routes) == 5
    default = routes[2]
    assert (str(default.network), str(default.next_hop), default.metric, default.flags, default.device) == (
        "::/0", "fd00::1", 0x400, 0x3, "eth0")
    assert default.usable and not routes[4].usable


def test_malformed_lines_are_skipped() -> None:
    text = "garbage\n" + LINES[2].replace("00000400", "zzzz") + "x " * 10 + "\n"
    assert parse_ipv6_routes(text) == []
    assert parse_ipv6_routes(text + LINES[2])[0].device == "eth0"


@given(st.text(max_size=400))
def test_the_route_parser_never_raises(text: str) -> None:
    has_ipv6_default_route(parse_ipv6_routes(text))


# -- network modes ------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, kind, options, target", [
    ("", NetworkKind.DEFAULT, (), ""),
    ("none", NetworkKind.NONE, (), ""),
    ("host", NetworkKind.HOST, (), ""),
    ("private", NetworkKind.PRIVATE, (), ""),
    ("slirp4netns", NetworkKind.SLIRP4NETNS, (), ""),
    ("slirp4netns:port_handler=slirp4netns,enable_ipv6=true", NetworkKind.SLIRP4NETNS,
     ("port_handler=slirp4netns", "enable_ipv6=true"), ""),
    ("pasta:-t,4381", NetworkKind.PASTA, ("-t", "4381"), ""),
    ("bridge", NetworkKind.BRIDGE, (), ""),
    ("container:other", NetworkKind.CONTAINER, (), "other"),
    ("ns:/run/netns/x", NetworkKind.NS, (), "/run/netns/x"),
    ("mynet", NetworkKind.NAMED, (), "mynet"),
    ("net1,net2", NetworkKind.NAMED, (), "net1,net2"),
])
def test_parse_network(value: str, kind: NetworkKind, options: tuple[str, ...], target: str) -> None:
    mode = parse_network(value)
    assert (mode.kind, mode.options, mode.target) == (kind, options, target)
    assert mode.text() == value


@pytest.mark.parametrize("value, default, reaches, relay", [
    ("none", "slirp4netns", False, True),
    ("host", "slirp4netns", True, False),
    ("slirp4netns", "slirp4netns", True, True),
    ("pasta", "pasta", True, True),
    ("", "pasta", True, True),
    ("private", "slirp4netns", True, True),
    ("bridge", "slirp4netns", True, True),
    ("mynet", "slirp4netns", True, True),
    ("container:vpn", "slirp4netns", None, True),
    ("ns:/run/netns/x", "slirp4netns", None, True),
])
def test_login_reach(value: str, default: str, reaches: bool | None, relay: bool) -> None:
    reach = login_reach(parse_network(value), default)
    assert (reach.reaches, reach.relay_needed) == (reaches, relay) and reach.why


def test_none_says_the_qr_code_does_not_help_either() -> None:
    assert "QR code needs the network too" in login_reach(parse_network("none"), "slirp4netns").why


# -- IPv4 only ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, version, default, expected", [
    ("slirp4netns", (4, 3, 1), "slirp4netns", "slirp4netns:enable_ipv6=false"),
    ("slirp4netns:enable_ipv6=true,port_handler=slirp4netns", (4, 3, 1), "slirp4netns",
     "slirp4netns:port_handler=slirp4netns,enable_ipv6=false"),
    ("", (4, 3, 1), "slirp4netns", "slirp4netns:enable_ipv6=false"),
    ("private", (4, 9, 0), "slirp4netns", "slirp4netns:enable_ipv6=false"),
    ("", (5, 0, 0), "pasta", "pasta:-4"),
    ("pasta", (4, 4, 0), "slirp4netns", "pasta:-4"),
    ("pasta:-t,4381", (4, 9, 3), "slirp4netns", "pasta:-t,4381,-4"),
    ("pasta:--ipv4-only", (5, 2), "pasta", "pasta:--ipv4-only"),
    ("pasta:-6", (5, 2), "pasta", "pasta:-4"),
    ("pasta", (4, 3, 1), "slirp4netns", None),  # podman 4.3 has no pasta mode
    ("none", (5, 0), "pasta", None),
    ("host", (5, 0), "pasta", None),
    ("bridge", (4, 3, 1), "slirp4netns", None),
    ("container:x", (4, 3, 1), "slirp4netns", None),
])
def test_ipv4_only_network(value: str, version: tuple[int, ...], default: str, expected: str | None) -> None:
    assert ipv4_only_network(parse_network(value), version, default) == expected


# -- /dev/net/tun and pasta ---------------------------------------------------------------------------

CHR = stat.S_IFCHR


@pytest.mark.parametrize("mode, gid, groups, state", [
    (None, 0, (), TunState.MISSING),
    (stat.S_IFREG | 0o666, 0, (), TunState.MISSING),
    (CHR | 0o666, 0, (), TunState.USABLE),
    (CHR | 0o600, 0, (), TunState.NO_ACCESS),  # what the test VM has
    (CHR | 0o660, 108, (108,), TunState.USABLE),
    (CHR | 0o660, 108, (20,), TunState.NO_ACCESS),
])
def test_tun_state(mode: int | None, gid: int, groups: tuple[int, ...], state: TunState) -> None:
    assert tun_state(mode, gid, groups) is state


def codes(value: str, version: tuple[int, ...], default: str, tun: TunState, pasta: bool) -> list[str]:
    return [a.code for a in network_advice(parse_network(value), version, default, tun, pasta)]


def test_a_healthy_setup_needs_no_advice() -> None:
    assert codes("", (4, 3, 1), "slirp4netns", TunState.USABLE, False) == []
    assert codes("", (5, 0), "pasta", TunState.USABLE, True) == []


def test_tun_advice_only_where_the_mode_needs_tun() -> None:
    assert codes("", (4, 3, 1), "slirp4netns", TunState.NO_ACCESS, False) == ["tun-no-access"]
    assert codes("pasta", (4, 4), "slirp4netns", TunState.MISSING, True) == ["tun-missing"]
    assert codes("none", (4, 3, 1), "slirp4netns", TunState.MISSING, False) == []
    assert codes("host", (4, 3, 1), "slirp4netns", TunState.NO_ACCESS, False) == []
    text = network_advice(parse_network(""), (4, 3, 1), "slirp4netns", TunState.NO_ACCESS, False)[0].text
    assert "chmod 0666 /dev/net/tun" in text and "Permission denied" in text


def test_pasta_advice_follows_the_podman_version() -> None:
    assert codes("pasta", (4, 3, 1), "slirp4netns", TunState.USABLE, True) == ["pasta-unsupported"]
    assert codes("pasta", (4, 4, 0), "slirp4netns", TunState.USABLE, True) == []
    assert codes("pasta", (4, 4, 0), "slirp4netns", TunState.USABLE, False) == ["pasta-missing"]
    assert codes("", (5, 0, 0), "pasta", TunState.USABLE, False) == ["pasta-missing"]
    assert codes("slirp4netns", (5, 0, 0), "pasta", TunState.USABLE, False) == []
    unsupported = network_advice(parse_network("pasta"), (4, 3, 1), "slirp4netns", TunState.USABLE, True)[0]
    assert "podman 4.3.1 cannot use it" in unsupported.text


def test_network_mode_text_round_trips_options() -> None:
    assert NetworkMode(NetworkKind.PASTA, ("-t", "4381", "-4")).text() == "pasta:-t,4381,-4"
    assert NetworkMode(NetworkKind.DEFAULT).text() == ""
