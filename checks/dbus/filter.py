"""dbus.filter: through a real filtered channel, the container's uid may own Spotify's MPRIS
name and no other."""
from __future__ import annotations

import dataclasses
import os
import tempfile

from spotidoctor.api import Check, CheckResult, Context, Message, Severity
from spotidoctor.channels.dbus.policy import MPRIS_NAME
from spotidoctor.channels.dbus.proof import FORBIDDEN_NAME, FilterProof, NameAnswer, NameOutcome, prove_filter
from spotidoctor.daily.facts import DbusProxyFacts, SessionBusFacts
from spotidoctor.errors import ProbeUnavailable
from spotidoctor.model import Status
from spotidoctor.podman.fingerprint import podman_fingerprint
from spotidoctor.resultcache import age_text, cached, file_facts, verified_note
from spotidoctor.types import JSONValue

from .common import DISABLED, FILTER, PROXY, SESSION_BUS, dbus_enabled

CACHE_KEY = "dbus-filter"
CACHE_TTL_S = 600.0
PROOF_TOOLS = ("podman", "unshare", "mount", "setpriv", "dbus-send", "sh")
Proof = FilterProof | str  # the proof, or why it could not run


def prove(ctx: Context, bus_address: str, proxy: str) -> Proof:
    """Start a channel like the launch does, ask for both names as the container's uid, stop it."""
    from spotidoctor.channels.dbus.channel import DbusChannel, DbusChannelError

    workdir = ctx.paths.xdg_runtime_dir or tempfile.gettempdir()
    uid = ctx.config.container_uid
    try:
        with DbusChannel.start(bus_address, workdir, runner=ctx.probes.cmd, binary=proxy,
                               os_release=ctx.probes.fs.read_text_or_none("/etc/os-release", 16384)) as channel:
            return prove_filter(ctx.probes.cmd, channel.container_socket, uid, uid)
    except (DbusChannelError, ProbeUnavailable) as exc:
        return str(exc)


def _fingerprint(ctx: Context, bus: SessionBusFacts, proxy: str) -> list[JSONValue]:
    """What the proof depends on: podman's user namespace, the tools, the proxy, the bus socket."""
    fs, which = ctx.probes.fs, ctx.probes.cmd.which
    tools: list[JSONValue] = [[name, path, file_facts(fs, path) if path else None]
                              for name, path in ((n, which(n)) for n in PROOF_TOOLS)]
    socket = bus.bus_address.removeprefix("unix:path=") if bus.bus_address.startswith("unix:path=") else None
    return [*podman_fingerprint(ctx), ["proxy", proxy, file_facts(fs, proxy)], ["tools", tools],
            ["bus", bus.bus_address, file_facts(fs, socket) if socket and os.path.isabs(socket) else None],
            ["container", ctx.config.profile, ctx.config.container_uid]]


def _to_json(proof: Proof) -> JSONValue:
    assert isinstance(proof, FilterProof)
    answers: list[JSONValue] = [[a.name, a.outcome.value, a.detail] for a in (proof.mpris, proof.forbidden)]
    return [proof.uid, *answers]


def _from_json(data: JSONValue) -> Proof:
    if not isinstance(data, list) or len(data) != 3 or type(data[0]) is not int:
        raise ValueError("not a proof")
    answers = []
    for item in data[1:]:
        if not isinstance(item, list) or len(item) != 3 or not all(isinstance(x, str) for x in item):
            raise ValueError("not an answer")
        answers.append(NameAnswer(str(item[0]), NameOutcome(item[1]), str(item[2])))
    return FilterProof(data[0], answers[0], answers[1])


class DbusFilter(Check):
    """What it checks: a filtered D-Bus channel like the launch's (`xdg-dbus-proxy` with
    Flathub's policy for Spotify, behind spotidoctor's authentication relay) lets the
    container's uid — `container_uid` inside your rootless user namespace, a subordinate uid
    on the host, as in the container — own `org.mpris.MediaPlayer2.spotify`, and refuses it
    `org.spotidoctor.Forbidden`. The client is `dbus-send` (libdbus, which Chromium's D-Bus
    code uses) run through `podman unshare` + `setpriv`, with only the channel's socket
    bind-mounted into a private tmpfs; the channel is stopped afterwards.

    Why it matters: it proves media keys and the desktop's player controls can reach
    Spotify, and that the filter holds, from the uid Spotify really has.

    A pass is remembered for 10 minutes while the proxy, the tools, the bus socket and podman's
    user namespace are unchanged; `check --fresh` tests again. Fix safety: none of its own
    (dbus.session-bus and dbus.proxy say what is missing). Slow (two `podman unshare`).
    """

    id = FILTER
    title = "The filtered D-Bus admits Spotify's MPRIS name and nothing else"
    category = "desktop"
    severity = Severity.WARNING
    requires = (SESSION_BUS, PROXY)
    timeout_s = 90.0
    tags = frozenset({"slow"})

    def applies(self, ctx: Context) -> str | None:
        return None if dbus_enabled(ctx.config) else DISABLED

    def run(self, ctx: Context) -> CheckResult:
        bus, proxy = ctx.prior_facts(SessionBusFacts), ctx.prior_facts(DbusProxyFacts)
        if bus is None or proxy is None:
            return self.skip("no session bus or no xdg-dbus-proxy")
        got = cached(ctx.cache, ctx.probes.fs, CACHE_KEY, lambda: _fingerprint(ctx, bus, proxy.proxy_path),
                     CACHE_TTL_S, lambda: prove(ctx, bus.bus_address, proxy.proxy_path),
                     encode=lambda p: _to_json(p) if isinstance(p, FilterProof) and p.proved else None,
                     decode=_from_json)
        result = self.verdict(got.value)
        if got.age_s is None or result.status is not Status.OK:
            return result
        return dataclasses.replace(
            result, summary=f"{result.summary} — {age_text(got.age_s)} ago, nothing it depends on changed since",
            messages=(Message.info(verified_note(got.age_s)), *result.messages))

    def verdict(self, proof: Proof) -> CheckResult:
        if isinstance(proof, str):
            return self.warn("could not test the filtered D-Bus", Message.error(
                proof, "The userns.* and podman.* checks say why rootless podman cannot run."))
        facts: dict[str, JSONValue] = {"mpris": proof.mpris.outcome.value, "forbidden": proof.forbidden.outcome.value}
        if proof.proved:
            return self.ok(f"as uid {proof.uid}: {MPRIS_NAME} allowed, {FORBIDDEN_NAME} refused",
                           Message.info(proof.summary()), facts=facts)
        if proof.forbidden.outcome is NameOutcome.OWNED:
            return self.fail(f"the filter let uid {proof.uid} own {FORBIDDEN_NAME}: D-Bus is not filtered",
                             Message.error(proof.summary(), "Report this as a bug in spotidoctor."), facts=facts)
        return self.warn(f"uid {proof.uid} cannot own {MPRIS_NAME}: media keys will not reach Spotify",
                         Message.error(proof.summary()), facts=facts)
