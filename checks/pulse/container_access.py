"""pulse.container-access: the container's uid can use the socket (a connection as that uid)."""
from __future__ import annotations

import dataclasses

from spotidoctor.api import Check, CheckResult, Context, Message
from spotidoctor.errors import ProbeUnavailable
from spotidoctor.facts import PulseSocketFacts
from spotidoctor.model import Status
from spotidoctor.podman.fingerprint import podman_fingerprint
from spotidoctor.probes.pulse import ConnectOutcome, ConnectResult, ServerKind
from spotidoctor.resultcache import age_text, cached, file_facts, verified_note
from spotidoctor.types import JSONValue

from .common import (
    ACCESS,
    MSG_PW_ISOLATION,
    SOCKET,
    container_module,
    direct_only,
    kind_of,
    runtime_dir,
    server_info,
)

# A passing foreign-uid test is trusted this long while its fingerprint holds.
ACCESS_CACHE_TTL_S = 600.0
ACCESS_CACHE_KEY = "pulse-access"
ACCESS_TOOLS = ("podman", "unshare", "mount", "setpriv", "pactl", "sh")
# (with the cookie, without it), or why the test could not run.
Connections = tuple[ConnectResult, ConnectResult] | str


def server_process(ctx: Context) -> JSONValue:
    """[pid, start time] of the pulse server from its pid file in the pulse runtime dir
    (PulseAudio and pipewire-pulse write one), or None when there is none."""
    directory = runtime_dir(ctx)
    fs = ctx.probes.fs
    text = (fs.read_text_or_none(f"{directory}/pid", 32) or "").strip() if directory else ""
    if not text.isdigit():
        return None
    stat = fs.read_text_or_none(f"/proc/{text}/stat", 4096)
    fields = stat.rpartition(")")[2].split() if stat else []
    return [int(text), fields[19] if len(fields) > 19 else None]


def access_fingerprint(ctx: Context, socket: str, cookie: str | None, uid: int, kind: ServerKind) -> list[JSONValue]:
    """What the foreign-uid audio test depends on: podman's fingerprint (``podman unshare``:
    binary, configs, subordinate ids, pause process, boot), the socket (inode, mtime, mode,
    owner: a reloaded module makes a new one), the cookie file's size/mtime/inode (never its
    bytes), the server (kind, version, pid and start time, the module serving the socket),
    the profile and container uid, and the tools the test runs."""
    fs = ctx.probes.fs
    loaded = container_module(ctx) if kind is ServerKind.PULSEAUDIO else None
    info = server_info(ctx)
    tools: list[JSONValue] = [[name, path, file_facts(fs, path) if path else None]
             for name, path in ((n, ctx.probes.cmd.which(n)) for n in ACCESS_TOOLS)]
    return [*podman_fingerprint(ctx),
            ["socket", socket, file_facts(fs, socket)],
            ["cookie", cookie, file_facts(fs, cookie) if cookie else None],
            ["server", kind.value, info.name, info.version, server_process(ctx)],
            ["module", [loaded.module.index, loaded.module.argument] if loaded else None],
            ["container", ctx.config.profile, uid],
            ["tools", tools]]


def _connections_json(answer: Connections) -> JSONValue:
    assert not isinstance(answer, str)
    return [[r.outcome.value, r.detail, r.server_name] for r in answer]


def _connections_from_json(data: JSONValue) -> Connections:
    if not isinstance(data, list) or len(data) != 2:
        raise ValueError("not a pair")
    pair = []
    for item in data:
        if not isinstance(item, list) or len(item) != 3 or not isinstance(item[1], str) \
                or not isinstance(item[2], (str, type(None))):
            raise ValueError("not a connection")
        pair.append(ConnectResult(ConnectOutcome(item[0]), item[1], item[2]))
    return pair[0], pair[1]


class PulseContainerAccess(Check):
    """What it checks: a connection through the container socket as a DIFFERENT uid — the
    container user's (`container_uid`, 1500) inside your rootless user namespace, i.e. the
    host subordinate uid the server will see — made with `podman unshare` + `setpriv` and
    `pactl info`, once with a private copy of the cookie and once without it. The socket is
    bind-mounted and the cookie copied into a private tmpfs of a throwaway mount namespace,
    so nothing is exposed to other host users.

    Only with `audio = "direct"`: the default filtered audio needs none of this (see
    pulse.audio-mode and pulse.filter-access).

    Why it matters: it is the only proof that the container will get sound. A same-uid test
    passes on PulseAudio without any cookie (credentials win), so it proves nothing. On
    PulseAudio the connection must succeed WITH the cookie and be refused WITHOUT it; on
    PipeWire (no cookie checks) it must succeed, and the report says what that means.

    A pass is remembered for 10 minutes together with a fingerprint of what it depends on
    (the socket's inode and mtime, the cookie file's size, mtime and inode — never its
    bytes —, the server's pid and version, the module, the profile and container uid, and
    what `podman unshare` depends on); while that is unchanged the check reports the earlier
    pass and says so. `spotidoctor check --fresh`, `fix` and the re-checks after fixes always
    test again; failures are never remembered.

    Fix safety: none of its own; it re-tests what pulse.container-socket and
    pulse.client-config fix. Slow (starts `podman unshare` twice).
    """

    id = ACCESS
    title = "Container uid can use the audio socket"
    category = "audio"
    requires = (SOCKET,)
    timeout_s = 60.0
    tags = frozenset({"slow"})

    def applies(self, ctx: Context) -> str | None:
        return direct_only(ctx)

    def run(self, ctx: Context) -> CheckResult:
        published = ctx.prior_facts(PulseSocketFacts)
        socket = published.container_socket if published else None
        if socket is None:
            return self.skip("no container socket to test")
        cookie_path = published.cookie_path if published else None
        if ctx.config.profile == "keep-id":
            return self._same_uid(ctx, socket, cookie_path)
        uid = ctx.config.container_uid
        kind = kind_of(ctx)

        def verdict(answer: Connections) -> CheckResult:
            if isinstance(answer, str):
                return self.warn("could not test as another uid", Message.error(
                    answer, "The userns.* and podman.* checks say why rootless podman cannot run."))
            if kind is ServerKind.PIPEWIRE:
                return self._pipewire(uid, socket, answer[1])
            return self._pulseaudio(uid, socket, *answer)

        got = cached(ctx.cache, ctx.probes.fs, ACCESS_CACHE_KEY,
                     lambda: access_fingerprint(ctx, socket, cookie_path, uid, kind), ACCESS_CACHE_TTL_S,
                     lambda: self._connect(ctx, uid, socket, cookie_path),
                     encode=lambda answer: _connections_json(answer) if verdict(answer).status is Status.OK else None,
                     decode=_connections_from_json)
        result = verdict(got.value)
        if got.age_s is None or result.status is not Status.OK:
            return result
        return dataclasses.replace(
            result, summary=f"{result.summary} — {age_text(got.age_s)} ago, nothing it depends on changed since",
            messages=(Message.info(verified_note(got.age_s)), *result.messages))

    @staticmethod
    def _connect(ctx: Context, uid: int, socket: str, cookie: str | None) -> Connections:
        try:
            with_cookie = ctx.probes.pulse.connect_as(uid, uid, socket, cookie)
            without = ctx.probes.pulse.connect_as(uid, uid, socket, None) if cookie else with_cookie
        except ProbeUnavailable as exc:
            return exc.reason
        return with_cookie, without

    def _same_uid(self, ctx: Context, socket: str, cookie: str | None) -> CheckResult:
        tested = ctx.probes.pulse.connect_test(f"unix:{socket}", cookie)
        if tested.ok:
            return self.ok(f"keep-id profile: the container runs as your uid and connects to {socket}")
        return self.fail(f"{socket}: {tested.detail}")

    def _pulseaudio(self, uid: int, socket: str, with_cookie: ConnectResult,
                    without: ConnectResult) -> CheckResult:
        who = f"container uid {uid}"
        if not with_cookie.ok:
            return self.fail(f"{who} cannot use {socket} even with the cookie: {with_cookie.detail}",
                             *_access_advice(with_cookie))
        if without.ok:
            return self.warn(f"{who} connects to {socket} even WITHOUT the cookie", Message.hint(
                "The module accepts foreign uids without authentication (auth-anonymous=1 or an "
                "auth-group), so the cookie protects nothing."))
        return self.ok(f"{who} connects to {socket} with the cookie and is refused without it "
                       f"({without.detail.removeprefix('Connection failure: ')})")

    def _pipewire(self, uid: int, socket: str, result: ConnectResult) -> CheckResult:
        if not result.ok:
            return self.fail(f"container uid {uid} cannot use {socket}: {result.detail}", *_access_advice(result))
        return self.ok(f"container uid {uid} connects to {socket} (PipeWire: no cookie involved)",
                       Message.info(MSG_PW_ISOLATION))


def _access_advice(result: ConnectResult) -> tuple[Message, ...]:
    advice = {
        ConnectOutcome.ACCESS_DENIED: "The cookie does not match the module's: reload the module, or check "
                                      "that auth-cookie= names the file the server really loaded.",
        ConnectOutcome.REFUSED: "Nothing answers on the socket for a foreign uid (stale socket, or the "
                                "socket file is not world-connectable).",
        ConnectOutcome.TIMEOUT: "The server accepted the connection and never answered: restart it.",
    }.get(result.outcome, "See the reason above.")
    return (Message.error(result.detail, advice),)
