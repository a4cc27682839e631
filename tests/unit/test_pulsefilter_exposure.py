"""Modules that let clients into the user's sound server without authentication (pure logic + probe)."""
from __future__ import annotations

import pytest

from spotidoctor.channels.pulse.exposure import Exposure, exposed_modules, scan_server
from spotidoctor.probes.pulse import ModuleInfo, ServerInfo, ServerKind

PA, PW = ServerKind.PULSEAUDIO, ServerKind.PIPEWIRE


def reasons(name: str, argument: str | None, kind: ServerKind = PA) -> list[str]:
    return [e.reason for e in exposed_modules([ModuleInfo(7, name, argument)], kind)]


SAFE = [
    ("module-native-protocol-unix", None),
    ("module-native-protocol-unix", "socket=pulse-socket auth-cookie=pulse-cookie"),
    ("module-native-protocol-tcp", "listen=127.0.0.1 port=4713"),
    ("module-native-protocol-tcp", "listen=::1"),
    ("module-native-protocol-tcp", "listen=localhost auth-ip-acl=127.0.0.1;127.0.0.0/8;::1"),
    ("module-native-protocol-tcp", "listen=127.0.0.1 auth-anonymous=0"),
    ("module-native-protocol-unix", "auth-anonymous=no auth-group=audio auth-group-enable=0"),
    ("module-cli-protocol-unix", None),
    ("module-http-protocol-unix", "socket=http"),
    ("module-simple-protocol-unix", None),
    ("module-null-sink", "sink_name=x"),
    ("module-dbus-protocol", "access=local"),
    ("libpipewire-module-protocol-pulse", '{ server.address = [ "tcp:4713" ] }'),
]


@pytest.mark.parametrize("name, argument", SAFE)
def test_authenticated_or_private_modules_pass(name: str, argument: str | None) -> None:
    assert reasons(name, argument) == []


@pytest.mark.parametrize("name, argument, expected", [
    ("module-native-protocol-tcp", "auth-anonymous=1", "auth-anonymous=1: anyone who reaches port 4713 on every "
                                                       "address controls the sound server without a cookie"),
    ("module-native-protocol-tcp", "listen=127.0.0.1 auth-anonymous=true port=14713",
     "auth-anonymous=1: anyone who reaches port 14713 on 127.0.0.1 controls the sound server without a cookie"),
    ("module-native-protocol-tcp", "auth-ip-acl=127.0.0.1;192.168.0.0/16",
     "auth-ip-acl admits 192.168.0.0/16 without a cookie (port 4713 on every address)"),
    ("module-native-protocol-tcp", "listen=127.0.0.1 auth-ip-acl=0.0.0.0/0",
     "auth-ip-acl admits 0.0.0.0/0 without a cookie (port 4713 on 127.0.0.1)"),
    ("module-native-protocol-tcp", None,
     "listens on port 4713 on every address, reachable from the network (a cookie is still required)"),
    ("module-native-protocol-tcp", "listen=192.168.1.5",
     "listens on port 4713 on 192.168.1.5, reachable from the network (a cookie is still required)"),
    ("module-native-protocol-unix", "auth-anonymous=1 socket=/tmp/anon",
     "auth-anonymous=1: every user and container that can reach the socket /tmp/anon controls the sound server "
     "without a cookie"),
    ("module-native-protocol-unix", "auth-group=audio",
     "auth-group=audio: members of group audio are admitted without a cookie"),
    ("module-esound-protocol-tcp", "auth-anonymous=1 listen=127.0.0.1",
     "auth-anonymous=1: anyone who reaches port 16001 on 127.0.0.1 controls the sound server without a cookie"),
    ("module-simple-protocol-tcp", "listen=127.0.0.1",
     "no authentication: anyone who reaches port 4711 on 127.0.0.1 can play sound"),
    ("module-simple-protocol-tcp", "record=1",
     "no authentication: anyone who reaches port 4711 on every address can play sound and record it (record=1)"),
    ("module-cli-protocol-tcp", "listen=127.0.0.1",
     "no authentication: anyone who reaches port 4712 on 127.0.0.1 can run any server command, module loads "
     "included (code runs as you)"),
    ("module-cli-protocol-unix", "socket=/tmp/cli",
     "no authentication: anyone who can open the socket /tmp/cli can run any server command, module loads included "
     "(code runs as you)"),
    ("module-http-protocol-tcp", None, "no authentication: anyone who reaches port 4714 on every address can listen "
                                       "to every source (live sound) and read the server's state"),
    ("module-dbus-protocol", "access=local,remote",
     "access=local,remote: anonymous D-Bus clients on TCP port 24883 control the sound server"),
    ("module-x11-publish", "display=:0",
     "publishes the pulse cookie on the X display: every X client (a container with a display too) can read it"),
])
def test_each_open_door_has_a_one_line_reason(name: str, argument: str | None, expected: str) -> None:
    assert reasons(name, argument) == [expected]


def test_pipewire_pulse_admits_tcp_clients_without_any_cookie() -> None:
    assert reasons("module-native-protocol-tcp", "listen=127.0.0.1", PW) == [
        "pipewire-pulse checks no cookies: anyone who reaches port 4713 on 127.0.0.1 is admitted as a client"]
    assert reasons("module-native-protocol-tcp", "port=4713 listen=127.0.0.1 auth-anonymous=1", PW) == [
        "auth-anonymous=1: anyone who reaches port 4713 on 127.0.0.1 is admitted with unrestricted access"]


def test_several_reasons_are_separate_findings_and_name_the_module() -> None:
    found = exposed_modules([ModuleInfo(3, "module-native-protocol-tcp", "auth-anonymous=1 auth-ip-acl=10.0.0.0/8"),
                             ModuleInfo(4, "module-null-sink", None)], PA)
    assert [(e.index, e.module) for e in found] == [(3, "module-native-protocol-tcp")] * 2


def test_unreadable_arguments_are_a_finding_not_a_crash() -> None:
    assert reasons("module-native-protocol-tcp", 'listen="127.0.0.1') == [
        "its arguments cannot be read; check them by hand"]


class FakeProbe:
    def __init__(self, name: str, modules: tuple[ModuleInfo, ...]) -> None:
        self.name, self._modules, self.asked = name, modules, []

    def server_info(self, server: str | None = None) -> ServerInfo:
        self.asked.append(("info", server))
        return ServerInfo(self.name, "16.1", "sink")

    def modules(self, server: str | None = None) -> tuple[ModuleInfo, ...]:
        self.asked.append(("modules", server))
        return self._modules


def test_scan_server_judges_by_the_servers_kind() -> None:
    tcp = (ModuleInfo(536870913, "module-native-protocol-tcp", "listen=127.0.0.1"),)
    info, found = scan_server(FakeProbe("PulseAudio (on PipeWire 0.3.65)", tcp), "unix:/x")  # type: ignore[arg-type]
    assert info.kind is PW and [e.index for e in found] == [536870913]
    info, found = scan_server(FakeProbe("pulseaudio", tcp))  # type: ignore[arg-type]
    assert info.kind is PA and found == ()
    assert Exposure(1, "m", "r").reason == "r"
