"""spotidoctor.checks.pulse.conf: module arguments, path resolution, default.pa, SPA-JSON addresses, client.conf."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spotidoctor.checks.pulse.conf import (
    INCLUDE_SYSTEM,
    ClientConfProblem,
    NativeSocketConfig,
    client_conf_problems,
    client_conf_text,
    ensure_default_pa,
    format_module_args,
    merged_addresses,
    native_socket_config,
    parse_bool,
    parse_client_conf,
    parse_module_args,
    parse_server_addresses,
    pipewire_drop_in_text,
    pulse_config_dir,
    pulse_runtime_dir,
    read_default_pa,
    resolve_cookie,
    resolve_socket,
)
from spotidoctor.errors import ParseError

RUNTIME = "/run/user/1600/pulse"
CONFIG = "/home/alice/.config/pulse"
OURS = {"socket": "pulse-socket", "auth-cookie": "pulse-cookie"}
OUR_LINE = "load-module module-native-protocol-unix socket=pulse-socket auth-cookie=pulse-cookie"
MARK = "# Added by spotidoctor (pulse.persistence): the Spotify container's audio socket."


# -- module arguments ------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    pytest.param(None, {}, id="no-arguments-is-None"),
    pytest.param("", {}, id="empty"),
    pytest.param("socket=pulse-socket auth-cookie=pulse-cookie", OURS, id="original-design"),
    pytest.param("socket=\"q socket\" auth-cookie='q cookie'", {"socket": "q socket", "auth-cookie": "q cookie"},
                 id="quoted-verbatim"),
    pytest.param("socket=a\\ b", {"socket": "a b"}, id="backslash-escape"),
    pytest.param("  socket=x   auth-anonymous=1 ", {"socket": "x", "auth-anonymous": "1"}, id="extra-spaces"),
    pytest.param("sink_name=testsink sink_properties=device.description=\"Test Sink\"",
                 {"sink_name": "testsink", "sink_properties": "device.description=Test Sink"}, id="nested-equals"),
    pytest.param("socket=", {"socket": ""}, id="empty-value"),
    pytest.param("cookie=old-name", {"cookie": "old-name"}, id="old-alias"),
])
def test_parse_module_args(text: str | None, expected: dict[str, str]) -> None:
    assert parse_module_args(text) == expected


@pytest.mark.parametrize("text, why", [
    pytest.param('socket="unclosed', "No closing quotation", id="unclosed-double"),
    pytest.param("socket='unclosed", "No closing quotation", id="unclosed-single"),
    pytest.param("socket=x\\", "No escaped character", id="dangling-backslash"),
    pytest.param("socket", "is not key=value", id="no-equals"),
    pytest.param("=value", "is not key=value", id="empty-key"),
    pytest.param("socket=a socket=b", "given twice", id="repeated-key"),
])
def test_parse_module_args_errors(text: str, why: str) -> None:
    with pytest.raises(ParseError, match=why):
        parse_module_args(text)


def test_format_quotes_only_when_needed() -> None:
    assert format_module_args(OURS) == "socket=pulse-socket auth-cookie=pulse-cookie"
    assert format_module_args({"socket": "q socket", "x": ""}) == "socket='q socket' x=''"
    assert format_module_args({"k": "0\n"}) == "k='0\n'"  # found by hypothesis: `$` matches before "\n"
    with pytest.raises(ParseError):
        format_module_args({"a b": "x"})


_KEY = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_-0123456789.", min_size=1, max_size=12)


@given(st.text(max_size=80))
@settings(max_examples=400)
def test_parse_module_args_raises_only_parse_error(text: str) -> None:
    try:
        parsed = parse_module_args(text)
    except ParseError:
        return
    assert all(isinstance(k, str) and k and isinstance(v, str) for k, v in parsed.items())


@given(st.dictionaries(_KEY, st.text(max_size=20), max_size=5))
def test_format_then_parse_round_trips(args: dict[str, str]) -> None:
    assert parse_module_args(format_module_args(args)) == args


@pytest.mark.parametrize("value, expected", [
    ("1", True), ("yes", True), ("On", True), ("true", True), ("0", False), ("no", False), ("off", False),
    ("false", False), ("maybe", None), ("", None)])
def test_parse_bool(value: str, expected: bool | None) -> None:
    assert parse_bool(value) is expected


# -- paths: relative socket= and auth-cookie= ------------------------------------------------------

@pytest.mark.parametrize("env, expected", [
    ({"XDG_RUNTIME_DIR": "/run/user/1600"}, RUNTIME),
    ({"XDG_RUNTIME_DIR": "/run/user/1600", "PULSE_RUNTIME_PATH": "/tmp/prp"}, "/tmp/prp"),
    ({}, None),
])
def test_pulse_runtime_dir(env: dict[str, str], expected: str | None) -> None:
    assert pulse_runtime_dir(env) == expected


def test_pulse_config_dir_honours_xdg_config_home() -> None:
    assert pulse_config_dir({}, "/home/alice") == CONFIG
    assert pulse_config_dir({"XDG_CONFIG_HOME": "/cfg"}, "/home/alice") == "/cfg/pulse"


@pytest.mark.parametrize("value, runtime, expected", [
    ("pulse-socket", RUNTIME, f"{RUNTIME}/pulse-socket"),
    ("/abs/socket", RUNTIME, "/abs/socket"),
    ("/abs//x/../socket", None, "/abs/socket"),
    (None, RUNTIME, f"{RUNTIME}/native"),
    ("pulse-socket", None, None),
])
def test_resolve_socket(value: str | None, runtime: str | None, expected: str | None) -> None:
    assert resolve_socket(value, runtime) == expected


@pytest.mark.parametrize("value, expected", [
    ("pulse-cookie", f"{CONFIG}/pulse-cookie"), ("sub/rt-cookie", f"{CONFIG}/sub/rt-cookie"),
    ("/home/alice/abs-cookie", "/home/alice/abs-cookie"), (None, f"{CONFIG}/cookie")])
def test_resolve_cookie(value: str | None, expected: str) -> None:
    assert resolve_cookie(value, CONFIG) == expected


@pytest.mark.parametrize("args, expected", [
    pytest.param(OURS, NativeSocketConfig(f"{RUNTIME}/pulse-socket", f"{CONFIG}/pulse-cookie", False, OURS),
                 id="ours"),
    pytest.param({"socket": "s", "cookie": "c"}, NativeSocketConfig(f"{RUNTIME}/s", f"{CONFIG}/c", False,
                                                                    {"socket": "s", "cookie": "c"}), id="alias"),
    pytest.param({"socket": "s", "auth-cookie-enabled": "0", "auth-anonymous": "1"},
                 NativeSocketConfig(f"{RUNTIME}/s", None, True,
                                    {"socket": "s", "auth-cookie-enabled": "0", "auth-anonymous": "1"}),
                 id="anonymous-no-cookie"),
    pytest.param({}, NativeSocketConfig(f"{RUNTIME}/native", f"{CONFIG}/cookie", False, {}), id="main"),
])
def test_native_socket_config(args: dict[str, str], expected: NativeSocketConfig) -> None:
    config = native_socket_config(args, RUNTIME, CONFIG)
    assert config == expected
    assert config.is_main_socket is (args == {})


# -- default.pa (a user file replaces the system one) ----------------------------------------------

SYSTEM_COPY = """.fail
load-module module-device-restore
.ifexists module-udev-detect.so
load-module module-udev-detect
.endif
load-module module-native-protocol-unix
"""


@pytest.mark.parametrize("text, expected, changes", [
    pytest.param(None, f"{INCLUDE_SYSTEM}\n{MARK}\n.nofail\n{OUR_LINE}\n",
                 ("insert", "append"), id="no-file"),
    pytest.param("load-module module-null-sink\n",
                 f"{INCLUDE_SYSTEM}\nload-module module-null-sink\n{MARK}\n.nofail\n{OUR_LINE}\n",
                 ("insert", "append"), id="no-include"),
    pytest.param(f"{INCLUDE_SYSTEM}\n", f"{INCLUDE_SYSTEM}\n{MARK}\n.nofail\n{OUR_LINE}\n", ("append",),
                 id="include-only"),
    pytest.param(f"{INCLUDE_SYSTEM}\n{OUR_LINE}\n", f"{INCLUDE_SYSTEM}\n{OUR_LINE}\n", (), id="complete"),
    pytest.param(f"{INCLUDE_SYSTEM}\nload-module module-native-protocol-unix auth-cookie=pulse-cookie "
                 f"socket={RUNTIME}/pulse-socket\n", None, (), id="same-socket-other-spelling"),
    pytest.param(f"  .include   /etc/pulse/default.pa  \n{OUR_LINE}\n", None, (), id="spacing"),
    pytest.param(SYSTEM_COPY, f"{SYSTEM_COPY}{MARK}\n.nofail\n{OUR_LINE}\n", ("append",), id="full-copy"),
])
def test_ensure_default_pa(text: str | None, expected: str | None, changes: tuple[str, ...]) -> None:
    edit = ensure_default_pa(text, OURS, RUNTIME)
    assert edit.text == (text if expected is None else expected)
    assert tuple(c.split()[0] for c in edit.changes) == changes
    again = ensure_default_pa(edit.text, OURS, RUNTIME)
    assert (again.text, again.changes) == (edit.text, ())  # idempotent: never duplicated


def test_ensure_default_pa_keeps_what_it_does_not_understand() -> None:
    text = f"{INCLUDE_SYSTEM}\n.weird thing\nload-module module-native-protocol-unix socket=\"broken\n"
    edit = ensure_default_pa(text, OURS, RUNTIME)
    assert edit.text == f"{text}{MARK}\n.nofail\n{OUR_LINE}\n"
    assert edit.notes == ("line 2 left as it is (unknown directive .weird): .weird thing",
                          "line 3 left as it is (module arguments 'socket=\"broken': No closing quotation): "
                          "load-module module-native-protocol-unix socket=\"broken")


def test_ensure_default_pa_full_copy_says_why_no_include() -> None:
    assert "is not added" in ensure_default_pa(SYSTEM_COPY, OURS, RUNTIME).notes[0]


def test_ensure_without_runtime_dir_compares_raw_values() -> None:
    edit = ensure_default_pa(f"{INCLUDE_SYSTEM}\n{OUR_LINE}\n", OURS, None)
    assert not edit.changed


def test_read_default_pa_properties() -> None:
    parsed = read_default_pa(f"# comment\n; other\n{INCLUDE_SYSTEM}\n.include /etc/pulse/default.pa.d\n"
                             f"{OUR_LINE}\nload-module\nset-default-sink x\n")
    assert parsed.includes == ("/etc/pulse/default.pa", "/etc/pulse/default.pa.d")
    assert parsed.includes_system and not parsed.self_contained
    assert [line.number for line in parsed.native_unix_loads] == [5]
    assert [line.problem for line in parsed.not_understood] == ["load-module without a module name"]


@given(st.lists(st.text(alphabet=st.characters(blacklist_characters="\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"),
                        max_size=40), max_size=8))
def test_ensure_default_pa_never_raises_and_is_idempotent(lines: list[str]) -> None:
    text = "\n".join(lines) + "\n"
    edit = ensure_default_pa(text, OURS, RUNTIME)
    for line in lines:
        assert line in edit.text  # nothing of the user's is dropped
    assert not ensure_default_pa(edit.text, OURS, RUNTIME).changed


# -- PipeWire server.address (a drop-in replaces the default list) ---------------------------------

@pytest.mark.parametrize("text, expected", [
    pytest.param('pulse.properties = {\n    server.address = [ "unix:native" "unix:pulse-socket" ]\n}\n',
                 ("unix:native", "unix:pulse-socket"), id="drop-in"),
    pytest.param('pulse.properties = {\n  server.address = [\n    "unix:native"\n    #"unix:/tmp/x"\n'
                 '    #"tcp:4713"\n  ]\n}\n', ("unix:native",), id="stock-with-comments"),
    pytest.param('"pulse.properties": { "server.address": ["unix:native", "tcp:4713"] }', ("unix:native", "tcp:4713"),
                 id="strict-json"),
    pytest.param('pulse.properties = { server.address = [ { address = "tcp:4713" max-clients = 64 } '
                 '"unix:native" ] }', ("tcp:4713", "unix:native"), id="object-form"),
    pytest.param("pulse.properties = { pulse.min.req = 256/48000 }", None, id="not-set"),
    pytest.param('a = { server.address = [ "unix:a" ] }\nb = { server.address = [ "unix:b" ] }', ("unix:b",),
                 id="last-wins"),
    pytest.param("", None, id="empty"),
])
def test_parse_server_addresses(text: str, expected: tuple[str, ...] | None) -> None:
    assert parse_server_addresses(text) == expected


@pytest.mark.parametrize("text", [
    'server.address = "unix:native"', "server.address = [ \"unix:native\"", 'server.address = [ "unclosed ]',
    "server.address = [ { address = x ]"])
def test_parse_server_addresses_errors(text: str) -> None:
    with pytest.raises(ParseError):
        parse_server_addresses(text)


@given(st.text(max_size=120))
@settings(max_examples=300)
def test_parse_server_addresses_raises_only_parse_error(text: str) -> None:
    try:
        parse_server_addresses("pulse.properties = { server.address = " + text)
        parse_server_addresses(text)
    except ParseError:
        pass


def test_drop_in_keeps_native_and_round_trips() -> None:
    addresses = merged_addresses(("tcp:4713",), "unix:pulse-socket")
    assert addresses == ("tcp:4713", "unix:native", "unix:pulse-socket")
    assert parse_server_addresses(pipewire_drop_in_text(addresses)) == addresses
    assert merged_addresses(("unix:native", "unix:pulse-socket"), "unix:pulse-socket") == (
        "unix:native", "unix:pulse-socket")


# -- client.conf -----------------------------------------------------------------------------------

def test_client_conf_text_is_safe_for_the_container() -> None:
    text = client_conf_text("unix:/run/spotidoctor/pulse-native", "/run/spotidoctor/pulse-cookie")
    values = parse_client_conf(text)
    assert values == {"autospawn": "no", "enable-shm": "no", "default-server": "unix:/run/spotidoctor/pulse-native",
                      "cookie-file": "/run/spotidoctor/pulse-cookie"}
    assert client_conf_problems(values) == ()
    assert "cookie-file" not in client_conf_text()


@pytest.mark.parametrize("text, problems", [
    ("", (ClientConfProblem("autospawn", None, "no"), ClientConfProblem("enable-shm", None, "no"))),
    ("autospawn = no\nenable-shm = yes\n", (ClientConfProblem("enable-shm", "yes", "no"),)),
    ("autospawn=false\ndisable-shm = yes\n", ()),
    ("autospawn = no\n; enable-shm = no\nenable-shm = no\nenable-shm = 1\n",
     (ClientConfProblem("enable-shm", "1", "no"),)),
])
def test_client_conf_problems(text: str, problems: tuple[ClientConfProblem, ...]) -> None:
    assert client_conf_problems(parse_client_conf(text)) == problems


def test_parse_client_conf_error() -> None:
    with pytest.raises(ParseError, match="line 2"):
        parse_client_conf("autospawn = no\nthis is not a setting\n")
