"""The dbus.* checks against a real private `dbus-daemon --session`: the bus is found, the real
xdg-dbus-proxy is installed, and dbus.filter's proof — a real channel, a libdbus client as the
container's uid through `podman unshare` + `setpriv` — owns the MPRIS name and is refused
another; the channel it started is gone afterwards."""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from spotidoctor.checks.dbus import CHECKS
from spotidoctor.engine.planning import plan
from spotidoctor.engine.runner import Runner
from spotidoctor.model import CheckResult, Status
from tests import servers
from tests.dbusservers import SessionBus, start_session_bus
from tests.realcontext import real_context

TOOLS = ("dbus-daemon", "xdg-dbus-proxy", "dbus-send", "podman", "setpriv", "unshare")


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[SessionBus]:
    servers.require(*TOOLS)
    session = start_session_bus(tmp_path / "session")
    yield session
    servers.stop(session.proc)


def run_dbus_checks(env: dict[str, str]) -> dict[str, CheckResult]:
    ctx = real_context(env)
    return {r.check_id: r for r in Runner(ctx).run(plan(CHECKS)).results}


def channel_dirs(runtime: str) -> set[str]:
    return {name for name in os.listdir(runtime) if name.startswith("dbus-")}


def test_the_filter_admits_mpris_and_refuses_another_name_as_the_container_uid(bus: SessionBus) -> None:
    env = {**os.environ, "DBUS_SESSION_BUS_ADDRESS": bus.address}
    runtime = env["XDG_RUNTIME_DIR"]
    before = channel_dirs(runtime)
    results = run_dbus_checks(env)
    assert results["dbus.session-bus"].status is Status.OK, results["dbus.session-bus"]
    assert results["dbus.session-bus"].facts["bus_address"] == bus.address
    assert results["dbus.proxy"].status is Status.OK
    proof = results["dbus.filter"]
    assert proof.status is Status.OK, proof
    assert proof.facts == {"mpris": "owned", "forbidden": "refused"}
    assert channel_dirs(runtime) == before  # the channel was stopped and its directory removed


def test_a_dead_bus_is_a_warning_and_nothing_is_proved(bus: SessionBus, tmp_path: Path) -> None:
    servers.stop(bus.proc)
    Path(bus.socket_path).unlink(missing_ok=True)
    results = run_dbus_checks({**os.environ, "DBUS_SESSION_BUS_ADDRESS": bus.address})
    assert results["dbus.session-bus"].status is Status.WARN and "not a socket" in results["dbus.session-bus"].summary
    assert results["dbus.proxy"].status is Status.OK  # installed, whatever the bus does
    assert results["dbus.filter"].status is Status.SKIP


def test_a_bus_that_refuses_the_user_cannot_prove_anything(bus: SessionBus) -> None:
    """The socket is there but nobody answers like a bus: the channel cannot start."""
    servers.stop(bus.proc)
    Path(bus.socket_path).unlink(missing_ok=True)
    hung = servers.hung_unix_server(Path(bus.socket_path))
    try:
        results = run_dbus_checks({**os.environ, "DBUS_SESSION_BUS_ADDRESS": bus.address})
    finally:
        hung.close()
    proof = results["dbus.filter"]
    assert proof.status is Status.WARN and proof.summary == "could not test the filtered D-Bus", proof
    assert "D-Bus channel did not start" in proof.messages[0].text


def test_the_cached_pass_is_reused_and_fresh_tests_again(bus: SessionBus, tmp_path: Path) -> None:
    from spotidoctor.resultcache import ResultCache

    env = {**os.environ, "DBUS_SESSION_BUS_ADDRESS": bus.address}
    ctx = real_context(env)
    cache = ResultCache.under(str(tmp_path / "state"))
    first = Runner(dataclasses.replace(ctx, cache=cache.fresh())).run(plan(CHECKS)).results
    again = Runner(dataclasses.replace(ctx, cache=cache)).run(plan(CHECKS)).results
    [first_proof] = [r for r in first if r.check_id == "dbus.filter"]
    [cached_proof] = [r for r in again if r.check_id == "dbus.filter"]
    assert first_proof.status is Status.OK and "ago, nothing it depends on changed since" in cached_proof.summary
