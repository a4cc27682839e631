"""network.sign-in against this host: its IPv6 routes as the kernel lists them, the installed
podman's version and default network, and an IPv4-only --network value that this podman accepts."""
from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest

from spotidoctor.channels.netadvice import (
    NetworkKind,
    NetworkMode,
    has_ipv6_default_route,
    ipv4_only_network,
    parse_ipv6_routes,
)
from spotidoctor.checks.network import CHECKS as NETWORK_CHECKS
from spotidoctor.checks.network.sign_in import podman_version
from spotidoctor.checks.podman import CHECKS as PODMAN_CHECKS
from spotidoctor.config import Config
from spotidoctor.daily.facts import NetworkFacts
from spotidoctor.engine.planning import plan
from spotidoctor.engine.runner import Runner
from spotidoctor.model import CheckResult
from tests.realcontext import real_context


def sign_in(network: str) -> CheckResult:
    ctx = dataclasses.replace(real_context(), config=Config(network=network))
    results = Runner(ctx).run(plan((*PODMAN_CHECKS, *NETWORK_CHECKS), ["network.sign-in"])).results
    [result] = [r for r in results if r.check_id == "network.sign-in"]
    return result


def test_the_facts_match_this_host(podman: str) -> None:
    facts = NetworkFacts.from_json(sign_in("").facts)
    assert facts is not None
    routes = parse_ipv6_routes(Path("/proc/net/ipv6_route").read_text() if Path("/proc/net/ipv6_route").exists()
                               else "")
    assert facts.ipv6_default_route is has_ipv6_default_route(routes)
    assert facts.reaches_login is True and facts.relay_needed is True
    assert (facts.ipv4_only_network is None) is facts.ipv6_default_route
    none = NetworkFacts.from_json(sign_in("none").facts)
    assert none is not None and none.reaches_login is False


@pytest.mark.parametrize("default", ["slirp4netns", "pasta"])
def test_the_ipv4_only_value_is_one_this_podman_accepts(podman: str, standin_image: str, default: str) -> None:
    version = podman_version(subprocess.run(["podman", "--version"], capture_output=True, text=True,
                                            timeout=60).stdout) or ()
    value = ipv4_only_network(NetworkMode(NetworkKind(default)), version, default)
    if value is None:
        assert default == "pasta" and version < (4, 4)  # no pasta on this podman: nothing offered
        return
    created = subprocess.run(["podman", "create", "--pull=never", f"--network={value}", standin_image],
                             capture_output=True, text=True, timeout=120)
    try:
        assert created.returncode == 0, created.stderr
    finally:
        if created.stdout.strip():
            subprocess.run(["podman", "rm", "--force", created.stdout.strip()], capture_output=True, timeout=120)
