"""dbus.session-bus, dbus.proxy, dbus.filter's verdicts, and network.sign-in, against fakes.
(The filter's proof itself runs with a real dbus-daemon in tests/integration/test_daily_dbus.py.)"""
from __future__ import annotations

import dataclasses
import socket
from pathlib import Path

import pytest

from spotidoctor.api import Check, Context
from spotidoctor.channels.dbus.proof import FilterProof, NameAnswer, NameOutcome
from spotidoctor.checks.dbus.filter import DbusFilter, _from_json, _to_json
from spotidoctor.checks.dbus.proxy import DbusProxyInstalled
from spotidoctor.checks.dbus.session_bus import DbusSessionBus
from spotidoctor.checks.network.sign_in import NetworkSignIn, podman_version
from spotidoctor.config import Config
from spotidoctor.daily.facts import NetworkFacts, SessionBusFacts
from spotidoctor.daily.launchparts import ipv4_only_network
from spotidoctor.facts import PodmanVersionFacts
from spotidoctor.fixes import RunCommand
from spotidoctor.model import CheckResult, Status
from spotidoctor.testing import FakeCommandRunner, make_context
from tests.unit.test_channels_netadvice import LINES, WITH_DEFAULT

NO_DEFAULT = "".join(line for i, line in enumerate(LINES) if i != 2)
MPRIS = "org.mpris.MediaPlayer2.spotify"
FORBIDDEN = "org.spotidoctor.Forbidden"


def test_session_bus_from_the_variable_or_the_runtime_socket(tmp_path: Path) -> None:
    runtime = tmp_path / "run/user/1600"
    runtime.mkdir(parents=True)
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(runtime / "bus"))
        ctx = make_context(tmp_path, env={"XDG_RUNTIME_DIR": "/run/user/1600"})
        result = DbusSessionBus().run(ctx)
        assert result.status is Status.OK and result.summary.endswith("($DBUS_SESSION_BUS_ADDRESS is unset)")
        assert SessionBusFacts.from_json(result.facts) == SessionBusFacts("unix:path=/run/user/1600/bus",
                                                                          "$XDG_RUNTIME_DIR/bus")
    stale = make_context(tmp_path, env={"DBUS_SESSION_BUS_ADDRESS": "unix:path=/run/user/1600/gone"})
    result = DbusSessionBus().run(stale)
    assert result.status is Status.WARN and "not a socket" in result.summary
    assert "dbus-run-session" in result.messages[0].advice[0]


def test_dbus_false_in_the_config_turns_the_checks_off(tmp_path: Path) -> None:
    @dataclasses.dataclass(frozen=True)
    class WithDbus(Config):
        dbus: bool = False  # the launch's setting (config.toml `dbus = false`)

    ctx = make_context(tmp_path, config=WithDbus())
    assert all(check().applies(ctx) for check in (DbusSessionBus, DbusProxyInstalled, DbusFilter))
    assert DbusSessionBus().applies(make_context(tmp_path)) is None


def test_missing_proxy_names_this_distributions_command(tmp_path: Path) -> None:
    ctx = make_context(tmp_path, files={"/etc/os-release": 'ID=fedora\nVERSION_ID="40"\n'},
                       commands=FakeCommandRunner([], missing=["xdg-dbus-proxy", "apt-get", "zypper", "pacman"]))
    result = DbusProxyInstalled().run(ctx)
    assert result.status is Status.WARN and "sudo dnf install xdg-dbus-proxy" in result.messages[0].advice[0]
    [fix] = result.fixes
    assert fix.applicability.label == "manual" and isinstance(fix.steps[0], RunCommand)
    assert fix.steps[0].effective_argv == ("sudo", "--", "dnf", "install", "-y", "xdg-dbus-proxy")
    bare = make_context(tmp_path, commands=FakeCommandRunner([], missing=["xdg-dbus-proxy", "apt-get", "dnf",
                                                                         "zypper", "pacman"]))
    [fix] = DbusProxyInstalled().run(bare).fixes
    assert not isinstance(fix.steps[0], RunCommand)  # no package manager found: an instruction


def proof(mpris: NameOutcome, forbidden: NameOutcome) -> FilterProof:
    return FilterProof(1500, NameAnswer(MPRIS, mpris, mpris.value), NameAnswer(FORBIDDEN, forbidden, forbidden.value))


@pytest.mark.parametrize("mpris, forbidden, status, words", [
    (NameOutcome.OWNED, NameOutcome.REFUSED, Status.OK, "allowed"),
    (NameOutcome.TAKEN, NameOutcome.REFUSED, Status.OK, "allowed"),
    (NameOutcome.OWNED, NameOutcome.OWNED, Status.FAIL, "D-Bus is not filtered"),
    (NameOutcome.REFUSED, NameOutcome.REFUSED, Status.WARN, "media keys will not reach Spotify"),
    (NameOutcome.FAILED, NameOutcome.FAILED, Status.WARN, "cannot own"),
])
def test_filter_verdicts(mpris: NameOutcome, forbidden: NameOutcome, status: Status, words: str) -> None:
    result = DbusFilter().verdict(proof(mpris, forbidden))
    assert result.status is status and words in result.summary


def test_filter_could_not_run_and_the_cached_form_round_trips() -> None:
    result = DbusFilter().verdict("cannot test as another uid: setpriv not found")
    assert result.status is Status.WARN and "setpriv" in result.messages[0].text
    passed = proof(NameOutcome.OWNED, NameOutcome.REFUSED)
    assert _from_json(_to_json(passed)) == passed
    with pytest.raises(ValueError):
        _from_json([1500, ["x"]])


# -- network.sign-in ------------------------------------------------------------------------------

def sign_in(tmp_path: Path, *, network: str = "", version: str = "4.3.1", routes: str | None = WITH_DEFAULT,
            tun: bool = True, pasta: bool = False) -> CheckResult:
    files = {"/proc/net/ipv6_route": routes} if routes is not None else {}
    ctx = make_context(tmp_path, files=files, config=Config(network=network),
                       commands=FakeCommandRunner([], missing=() if pasta else ("pasta",)))
    if tun:  # a character device the way udev leaves it: mode 0666
        ctx = with_tun(ctx)
    prior = {"podman.installed": CheckResult("podman.installed", Status.OK, "",
                                             facts=PodmanVersionFacts(version, "1.28.2").to_json())}
    return run_with(NetworkSignIn(), dataclasses.replace(ctx, prior=prior))


def with_tun(ctx: Context) -> Context:
    import stat as stat_mod

    from spotidoctor.probes.fs import StatInfo

    fs = ctx.probes.fs
    real_stat = fs.stat

    def fake_stat(path: str) -> StatInfo | None:
        if path == "/dev/net/tun":
            return StatInfo(0, 0, stat_mod.S_IFCHR | 0o666, 0, 0.0, 5, 1)
        return real_stat(path)

    fs.stat = fake_stat  # type: ignore[method-assign]
    return ctx


def run_with(check: Check, ctx: Context) -> CheckResult:
    return check.run(ctx)


def test_default_network_with_ipv6_needs_nothing(tmp_path: Path) -> None:
    result = sign_in(tmp_path)
    facts = NetworkFacts.from_json(result.facts)
    assert result.status is Status.OK
    assert result.summary == "network podman's default (slirp4netns) reaches the internet"
    assert facts == NetworkFacts("", "slirp4netns", True, True, True, None)
    assert ipv4_only_network([result]) is None


@pytest.mark.parametrize("network, version, expected", [
    ("", "4.3.1", "slirp4netns:enable_ipv6=false"),
    ("pasta", "4.9.3", "pasta:-4"),
    ("", "5.0.2", "pasta:-4"),  # pasta is podman 5's default
])
def test_without_an_ipv6_route_the_launch_goes_ipv4_only(tmp_path: Path, network: str, version: str,
                                                          expected: str) -> None:
    result = sign_in(tmp_path, network=network, version=version, routes=NO_DEFAULT, pasta=True)
    assert result.status is Status.OK and f"IPv4-only (--network={expected})" in result.summary
    arg, why = ipv4_only_network([result]) or ("", "")
    assert arg == f"--network={expected}" and "A firewall might be blocking Spotify" in why


def test_no_ipv6_at_all_counts_as_no_route(tmp_path: Path) -> None:
    result = sign_in(tmp_path, routes=None)
    facts = NetworkFacts.from_json(result.facts)
    assert facts is not None and facts.ipv4_only_network == "slirp4netns:enable_ipv6=false"


def test_network_none_cannot_sign_in(tmp_path: Path) -> None:
    result = sign_in(tmp_path, network="none")
    assert result.status is Status.WARN and result.summary == "network none: Spotify cannot sign in"
    assert "QR code" in result.messages[0].text


def test_tun_and_pasta_advice_only_where_podman_supports_it(tmp_path: Path) -> None:
    old = sign_in(tmp_path, network="pasta", version="4.3.1")
    assert old.status is Status.WARN and old.summary == "network pasta: pasta needs podman 4.4 or later"
    missing = sign_in(tmp_path, version="4.3.1", tun=False)
    assert missing.status is Status.WARN and missing.summary.endswith("/dev/net/tun is missing")
    host = sign_in(tmp_path, network="host", tun=False)
    assert host.status is Status.OK  # host networking opens no tun device


def test_podman_version_parsing() -> None:
    assert podman_version("4.3.1") == (4, 3, 1) and podman_version("5.0") == (5, 0)
    assert podman_version(None) is None and podman_version("unknown") is None
