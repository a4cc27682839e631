"""Pure helpers for the ``dbus.*`` checks and the launch dry run: addresses, the session bus,
the proxy's install command, the policy's arguments, the other-uid proof's classification."""
from __future__ import annotations

from collections.abc import Sequence

import pytest

from spotidoctor.channels.dbus import SPOTIFY_POLICY, policy_args
from spotidoctor.channels.dbus.address import (
    BusAddress,
    escape_value,
    find_session_bus,
    parse_address,
    unix_path_address,
)
from spotidoctor.channels.dbus.install import find_proxy, install_advice
from spotidoctor.channels.dbus.policy import MPRIS_NAME, proxy_argv
from spotidoctor.channels.dbus.proof import (
    FORBIDDEN_NAME,
    SETUP_DONE,
    NameOutcome,
    classify_request_name,
    prove_filter,
    request_name_argv,
    run_as_argv,
)
from spotidoctor.errors import ParseError, ProbeUnavailable
from spotidoctor.probes.command import Completed

# -- addresses -------------------------------------------------------------------------------


def test_parse_address_unescapes_and_keeps_the_order() -> None:
    parsed = parse_address("unix:path=/run/user/1000/my%20bus,guid=0123;unix:abstract=/tmp/dbus-x;tcp:host=h,port=1")
    assert parsed == (BusAddress("unix", (("path", "/run/user/1000/my bus"), ("guid", "0123"))),
                      BusAddress("unix", (("abstract", "/tmp/dbus-x"),)),
                      BusAddress("tcp", (("host", "h"), ("port", "1"))))
    assert parsed[0].get("path") == "/run/user/1000/my bus" and parsed[0].get("abstract") is None


@pytest.mark.parametrize("text", ["", ";", "/run/bus", "unix:path", "unix:=x", "unix:path=%zz", "unix:path=%4"])
def test_parse_address_refuses_what_is_not_an_address(text: str) -> None:
    with pytest.raises(ParseError):
        parse_address(text)


def test_escaping_round_trips() -> None:
    for path in ("/run/spotidoctor/bus", "/home/al ice/ü,;=%/bus", "/a\\b*c"):
        assert parse_address(unix_path_address(path))[0].get("path") == path
    assert escape_value("/run/x y") == "/run/x%20y"
    assert unix_path_address("/run/spotidoctor/bus") == "unix:path=/run/spotidoctor/bus"


def sockets(*paths: str):
    return lambda path: path in paths


def test_the_variable_with_a_socket_path() -> None:
    env = {"DBUS_SESSION_BUS_ADDRESS": "unix:path=/run/user/1000/bus", "XDG_RUNTIME_DIR": "/run/user/1000"}
    found = find_session_bus(env, sockets("/run/user/1000/bus"))
    assert found.problem is None and found.bus is not None
    assert (found.bus.address, found.bus.source, found.bus.socket_path) == (
        "unix:path=/run/user/1000/bus", "DBUS_SESSION_BUS_ADDRESS", "/run/user/1000/bus")


def test_an_abstract_address_is_fine_for_the_proxy() -> None:
    found = find_session_bus({"DBUS_SESSION_BUS_ADDRESS": "unix:abstract=/tmp/dbus-AbC,guid=12"}, sockets())
    assert found.bus is not None and found.bus.abstract == "/tmp/dbus-AbC" and found.bus.socket_path is None
    assert "the proxy runs" in (found.bus.note or "")


def test_the_first_reachable_entry_wins_and_stale_ones_are_explained() -> None:
    env = {"DBUS_SESSION_BUS_ADDRESS": "unix:path=/gone/bus;unix:path=/run/user/1000/bus"}
    found = find_session_bus(env, sockets("/run/user/1000/bus"))
    assert found.bus is not None and found.bus.socket_path == "/run/user/1000/bus"
    missing = find_session_bus({"DBUS_SESSION_BUS_ADDRESS": "unix:path=/gone/bus;unix:tmpdir=/tmp"}, sockets())
    assert missing.bus is None
    assert missing.problem == ("DBUS_SESSION_BUS_ADDRESS names no reachable bus: /gone/bus is not a socket (an address "
                               "left over from an earlier session?); unix:tmpdir=/unix:dir= is an address to listen "
                               "on, not to connect to")


def test_runtime_yes_means_the_runtime_dir_socket() -> None:
    env = {"DBUS_SESSION_BUS_ADDRESS": "unix:runtime=yes", "XDG_RUNTIME_DIR": "/run/user/7"}
    found = find_session_bus(env, sockets("/run/user/7/bus"))
    assert found.bus is not None and found.bus.socket_path == "/run/user/7/bus"


def test_without_the_variable_the_runtime_dir_default() -> None:
    found = find_session_bus({"XDG_RUNTIME_DIR": "/run/user/7"}, sockets("/run/user/7/bus"))
    assert found.bus is not None
    assert (found.bus.address, found.bus.source) == ("unix:path=/run/user/7/bus", "$XDG_RUNTIME_DIR/bus")
    none = find_session_bus({"XDG_RUNTIME_DIR": "/run/user/7"}, sockets())
    assert none.bus is None and none.problem == ("no session bus: DBUS_SESSION_BUS_ADDRESS is unset and "
                                                 "/run/user/7/bus is not a socket")
    assert find_session_bus({}, sockets()).problem == ("no session bus: DBUS_SESSION_BUS_ADDRESS and "
                                                       "XDG_RUNTIME_DIR are both unset")


def test_bad_or_odd_variables() -> None:
    bad = find_session_bus({"DBUS_SESSION_BUS_ADDRESS": "/run/user/1000/bus"}, sockets("/run/user/1000/bus"))
    assert bad.bus is None and (bad.problem or "").startswith("DBUS_SESSION_BUS_ADDRESS is not a D-Bus address")
    tcp = find_session_bus({"DBUS_SESSION_BUS_ADDRESS": "tcp:host=localhost,port=1234"}, sockets())
    assert tcp.bus is not None and tcp.bus.note == "a TCP address: unusual for a session bus"
    other = find_session_bus({"DBUS_SESSION_BUS_ADDRESS": "autolaunch:"}, sockets())
    assert other.bus is None and "autolaunch: transport is not supported" in (other.problem or "")


# -- installing the proxy ----------------------------------------------------------------------


@pytest.mark.parametrize(("os_release", "command"), [
    ('ID=debian\nVERSION_ID="12"\n', "sudo apt install xdg-dbus-proxy"),
    ("ID=linuxmint\nID_LIKE='ubuntu debian'\n", "sudo apt install xdg-dbus-proxy"),
    ('ID="fedora"\n', "sudo dnf install xdg-dbus-proxy"),
    ('ID="rocky"\nID_LIKE="rhel centos fedora"\n', "sudo dnf install xdg-dbus-proxy"),
    ("ID=endeavouros\nID_LIKE=arch\n", "sudo pacman -S xdg-dbus-proxy"),
])
def test_install_advice_for_the_distribution(os_release: str, command: str) -> None:
    assert f"`{command}`" in install_advice(os_release)
    assert install_advice(os_release).count("sudo") == 1


def test_install_advice_lists_all_when_unknown() -> None:
    advice = install_advice("ID=gentoo\n")
    assert advice.count("sudo") == 3 and install_advice(None) == advice


def test_find_proxy_uses_the_runners_which() -> None:
    assert find_proxy(lambda name: f"/usr/bin/{name}") == "/usr/bin/xdg-dbus-proxy"
    assert find_proxy(lambda name: None) is None


# -- the policy --------------------------------------------------------------------------------


def test_policy_args_are_flathubs_with_a_reason_each() -> None:
    pairs = policy_args()
    assert [arg for arg, _ in pairs] == [
        "--filter", "--own=org.mpris.MediaPlayer2.spotify", "--talk=org.freedesktop.Notifications",
        "--talk=org.freedesktop.ScreenSaver", "--talk=org.gnome.SettingsDaemon.MediaKeys",
        "--talk=org.kde.StatusNotifierWatcher"]
    assert all(why and not why.endswith(".") for _, why in pairs)


def test_proxy_argv_puts_the_fd_first_and_the_policy_after_the_address() -> None:
    argv = proxy_argv("/usr/bin/xdg-dbus-proxy", "unix:path=/run/user/1/bus", "/run/user/1/sd/proxy.sock", 7)
    assert argv[:4] == ("/usr/bin/xdg-dbus-proxy", "--fd=7", "unix:path=/run/user/1/bus", "/run/user/1/sd/proxy.sock")
    assert argv[4:] == tuple(arg for arg, _ in policy_args(SPOTIFY_POLICY))


# -- the other-uid proof -------------------------------------------------------------------------

MARK = f"{SETUP_DONE} 1500\n"
WARNING = 'time="x" level=warning msg="\\"/\\" is not a shared mount"\n'


def test_classify_request_name() -> None:
    owned = classify_request_name("n", 0, "method return time=1 sender=org.freedesktop.DBus\n   uint32 1\n", MARK)
    assert owned.outcome is NameOutcome.OWNED
    assert classify_request_name("n", 0, "   uint32 3\n", MARK).outcome is NameOutcome.TAKEN
    refused = classify_request_name("n", 1, "", WARNING + MARK + "Error org.freedesktop.DBus.Error.ServiceUnknown: "
                                                               "org.freedesktop.DBus.Error.ServiceUnknown\n")
    assert refused.outcome is NameOutcome.REFUSED and refused.detail.startswith("Error org.freedesktop")
    failed = classify_request_name("n", 1, "", MARK + "Failed to open connection to \"session\" message bus: Did "
                                                      "not receive a reply.\n")
    assert failed.outcome is NameOutcome.FAILED and "Did not receive a reply" in failed.detail
    assert classify_request_name("n", 0, "garbage", "").outcome is NameOutcome.FAILED


class ScriptedRunner:
    """Answers the proof's two podman argvs by the name they ask for (the scratch dir is random)."""

    def __init__(self, answers: dict[str, Completed], missing: Sequence[str] = ()) -> None:
        self.answers = answers
        self.missing = set(missing)
        self.calls: list[tuple[str, ...]] = []

    def which(self, name: str) -> str | None:
        return None if name in self.missing else f"/usr/bin/{name}"

    def run(self, argv: Sequence[str], *, timeout: float = 10.0, **_: object) -> Completed:
        self.calls.append(tuple(argv))
        return self.answers[argv[-2].split(":", 1)[1]]


def answer(returncode: int, stdout: str = "", stderr: str = MARK, timed_out: bool = False) -> Completed:
    return Completed(("podman",), returncode, stdout, stderr, timed_out)


def test_the_proof_holds_when_mpris_is_owned_and_the_other_name_refused() -> None:
    refused = MARK + "Error org.freedesktop.DBus.Error.ServiceUnknown: x"
    runner = ScriptedRunner({MPRIS_NAME: answer(0, "   uint32 1\n"), FORBIDDEN_NAME: answer(1, "", refused)})
    proof = prove_filter(runner, "/run/user/1/sd/dbus-x/bus", 1500, 1500)  # type: ignore[arg-type]
    assert proof.proved
    assert proof.summary().startswith("as uid 1500: org.mpris.MediaPlayer2.spotify owned (owned); "
                                      "org.spotidoctor.Forbidden refused")
    first = runner.calls[0]
    assert first[:9] == ("/usr/bin/podman", "unshare", "--", "unshare", "--mount", "--", "sh", "-c", first[8])
    assert first[10:] == (first[10], "/run/user/1/sd/dbus-x/bus", "1500", "1500",
                          *request_name_argv("/usr/bin/dbus-send", MPRIS_NAME))
    assert first == run_as_argv("/usr/bin/podman", first[10], "/run/user/1/sd/dbus-x/bus", 1500, 1500,
                                request_name_argv("/usr/bin/dbus-send", MPRIS_NAME))


def test_the_proof_fails_on_an_unfiltered_bus() -> None:
    runner = ScriptedRunner({MPRIS_NAME: answer(0, "   uint32 1\n"), FORBIDDEN_NAME: answer(0, "   uint32 1\n")})
    proof = prove_filter(runner, "/s", 1500, 1500)  # type: ignore[arg-type]
    assert not proof.proved and proof.forbidden.outcome is NameOutcome.OWNED


def test_the_proof_cannot_run_without_its_tools_or_a_user_namespace() -> None:
    with pytest.raises(ProbeUnavailable, match="dbus-send, setpriv not found"):
        prove_filter(ScriptedRunner({}, missing=("setpriv", "dbus-send")), "/s", 1500, 1500)  # type: ignore[arg-type]
    broken = answer(125, "", 'Error: cannot set up namespace using "/usr/bin/newuidmap": exit status 1\n')
    with pytest.raises(ProbeUnavailable, match="cannot test as another uid: Error: cannot set up namespace"):
        prove_filter(ScriptedRunner({MPRIS_NAME: broken}), "/s", 1500, 1500)  # type: ignore[arg-type]


def test_a_client_that_hangs_is_a_failed_answer() -> None:
    hung = answer(124, "", MARK, timed_out=True)
    runner = ScriptedRunner({MPRIS_NAME: hung, FORBIDDEN_NAME: hung})
    proof = prove_filter(runner, "/s", 1500, 1500, timeout=3)  # type: ignore[arg-type]
    assert (proof.mpris.outcome, proof.mpris.detail) == (NameOutcome.FAILED, "no answer within 3s")


def test_run_args_bind_the_socket_read_only_and_set_the_address() -> None:
    from spotidoctor.channels.dbus import run_args

    pairs = run_args("/run/user/1000/spotidoctor/dbus-x/bus", "/run/spotidoctor/bus")
    assert [arg for arg, _ in pairs] == ["--volume=/run/user/1000/spotidoctor/dbus-x/bus:/run/spotidoctor/bus:ro",
                                         "--env=DBUS_SESSION_BUS_ADDRESS=unix:path=/run/spotidoctor/bus"]
    assert all(why for _, why in pairs)
