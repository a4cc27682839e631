"""network.sign-in: the launch's network can reach Spotify's login, and IPv6 will not get in the way."""
from __future__ import annotations

import os
import re

from spotidoctor.api import Check, CheckResult, Context, Message, Severity
from spotidoctor.channels.netadvice import (
    PASTA_DEFAULT_PODMAN,
    effective_network,
    has_ipv6_default_route,
    ipv4_only_network,
    login_reach,
    network_advice,
    parse_ipv6_routes,
    parse_network,
    tun_state,
)
from spotidoctor.daily.facts import NetworkFacts
from spotidoctor.facts import PodmanFacts, PodmanVersionFacts

IPV6_ROUTES = "/proc/net/ipv6_route"
TUN = "/dev/net/tun"
ADVICE_SUMMARY = {"pasta-unsupported": "pasta needs podman 4.4 or later", "pasta-missing": "pasta is not installed",
                  "tun-missing": "/dev/net/tun is missing", "tun-no-access": "/dev/net/tun is not open to you"}
_VERSION = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")


def podman_version(text: str | None) -> tuple[int, ...] | None:
    match = _VERSION.search(text or "")
    return tuple(int(part) for part in match.groups() if part is not None) if match else None


def default_network(ctx: Context, version: tuple[int, ...]) -> str:
    """podman's rootless default: from `podman info` when podman.rootless published it, else by
    version (slirp4netns before 5.0, pasta since)."""
    published = ctx.prior_facts(PodmanFacts)
    if published is not None and published.default_network:
        return published.default_network
    return "pasta" if version >= PASTA_DEFAULT_PODMAN else "slirp4netns"


class NetworkSignIn(Check):
    """What it checks: the network the launch uses (`network` in config.toml or `--network`,
    else podman's default) can reach Spotify's login at all (`none` cannot; `host` can, and
    then needs no callback relay); whether this host has an IPv6 route to the internet
    (/proc/net/ipv6_route), and if not, which IPv4-only `--network` value the launch uses for
    the installed podman (slirp4netns `enable_ipv6=false`; pasta `-4`, pasta needing podman ≥
    4.4); and /dev/net/tun and pasta, only for modes that use them on this podman.
    Publishes `NetworkFacts` for the launch.

    Why it matters: without a network Spotify can neither sign in nor stream; on hosts
    without IPv6, a container that still gets IPv6 fails sign-in with "A firewall might be
    blocking Spotify".

    Fix safety: none (the advice names the setting or the root command).
    """

    id = "network.sign-in"
    title = "Spotify can sign in with the launch's network"
    category = "container"
    severity = Severity.WARNING
    requires = ("podman.installed", "podman.rootless")
    tags = frozenset({"launch"})

    def run(self, ctx: Context) -> CheckResult:
        version_facts = ctx.prior_facts(PodmanVersionFacts)
        version = podman_version(version_facts.podman_version if version_facts else None)
        if version is None:
            return self.skip("podman's version is unknown (podman.installed)")
        default = default_network(ctx, version)
        mode = parse_network(ctx.config.network)
        effective = effective_network(mode, default)
        reach = login_reach(mode, default)
        routes = ctx.probes.fs.read_text_or_none(IPV6_ROUTES, 1 << 20)
        ipv6 = has_ipv6_default_route(parse_ipv6_routes(routes or ""))
        ipv4 = None if ipv6 else ipv4_only_network(mode, version, default)
        tun = ctx.probes.fs.stat(TUN)
        advice = network_advice(mode, version, default, tun_state(tun.mode if tun else None, tun.gid if tun else 0,
                                                                  (ctx.user.gid, *os.getgroups())),
                                ctx.probes.cmd.which("pasta") is not None)
        facts = NetworkFacts(ctx.config.network, effective.text(), reach.reaches, reach.relay_needed, ipv6, ipv4)
        messages = [self._ipv6_message(ipv6, ipv4, effective.text()), *(Message.hint(a.text) for a in advice)]
        name = ctx.config.network or f"podman's default ({default})"
        if reach.reaches is False:
            return self.warn(f"network {name}: Spotify cannot sign in", Message.error(reach.why), *messages,
                             facts=facts.to_json())
        if advice:
            short = ADVICE_SUMMARY.get(advice[0].code, advice[0].code)
            return self.warn(f"network {name}: {short}", *messages, facts=facts.to_json())
        summary = f"network {name} reaches the internet" if reach.reaches else f"network {name}: {reach.why}"
        if ipv4:
            summary += f"; IPv4-only (--network={ipv4}): no IPv6 route"
        return self.ok(summary, Message.info(reach.why), *messages, facts=facts.to_json())

    @staticmethod
    def _ipv6_message(ipv6: bool, ipv4: str | None, effective: str) -> Message:
        if ipv6:
            return Message.info("this host has an IPv6 route to the internet: the container keeps IPv6")
        if ipv4:
            return Message.info(f"this host has no IPv6 route to the internet: the launch runs the container "
                                f"IPv4-only with --network={ipv4}, so sign-in does not try IPv6 and fail with "
                                "'A firewall might be blocking Spotify'")
        return Message.info(f"this host has no IPv6 route; network {effective or 'default'} has no IPv6 switch "
                            "spotidoctor could use")
