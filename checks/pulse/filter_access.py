"""pulse.filter-access: the container's uid can play through the audio filter (a connection as that uid)."""
from __future__ import annotations

import logging

from spotidoctor.api import Check, CheckResult, Context, Message
from spotidoctor.channels.pulse import LOGGER_NAME, FilterError, PulseFilter, default_cookie, default_upstream
from spotidoctor.errors import ProbeUnavailable
from spotidoctor.probes.pulse import ConnectResult

from .common import FILTER, SERVER


def _quiet() -> logging.Logger:
    """The test filter's log goes nowhere: the result says what matters (never to the terminal)."""
    logger = logging.getLogger(f"{LOGGER_NAME}.check")
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
        logger.propagate = False
    return logger


class PulseFilterAccess(Check):
    """What it checks: with the default `audio = "filtered"`, a filter like the one each
    launch starts (a private 0700 directory in $XDG_RUNTIME_DIR, one socket) relays a client
    that is NOT you: the container user's uid (`container_uid`, 1500) inside your rootless
    user namespace, i.e. the host subordinate uid the filter will see, connects with
    `podman unshare` + `setpriv` + `pactl info`, without any cookie. Under the keep-id profile
    the container runs as you and the test connects as you.

    Why it matters: it is the proof that the container will get sound through the filter
    (its socket is bind-mounted into the container and must admit the mapped uid), before
    Spotify starts silent.

    Fix safety: none of its own; pulse.server says why the server itself is unreachable.
    Slow (starts `podman unshare`). The filter runs only for the test and is stopped after.
    """

    id = FILTER
    title = "Container uid can play through the audio filter"
    category = "audio"
    requires = (SERVER,)
    timeout_s = 60.0
    tags = frozenset({"slow"})

    def applies(self, ctx: Context) -> str | None:
        if ctx.config.audio != "filtered":
            return 'audio = "direct": the container uses the dedicated socket (pulse.container-access tests it)'
        return None

    def run(self, ctx: Context) -> CheckResult:
        upstream = default_upstream(ctx.env)
        runtime = ctx.paths.xdg_runtime_dir
        if upstream is None or runtime is None:
            return self.fail("the audio filter needs your pulse server's unix socket and XDG_RUNTIME_DIR")
        try:
            with PulseFilter(upstream, runtime_dir=runtime, cookie_path=default_cookie(ctx.env), log=_quiet()) as relay:
                assert relay.socket_path is not None
                result = self._connect(ctx, relay.socket_path)
                stats = relay.stats()
        except FilterError as exc:
            return self.fail(f"the audio filter cannot start: {exc}")
        if isinstance(result, str):
            return self.warn("could not test as another uid", Message.error(
                result, "The userns.* and podman.* checks say why rootless podman cannot run."))
        keep_id = ctx.config.profile == "keep-id"
        who = "you (keep-id profile)" if keep_id else f"container uid {ctx.config.container_uid}"
        if not result.ok:
            return self.fail(f"{who} cannot play through the filter: {result.detail}", Message.error(
                result.detail, "The filter's log lines (spotidoctor -v) say whether it turned the client away."))
        return self.ok(f"{who} connects through the filter without a cookie (server {result.server_name})",
                       facts={"connections": stats.connections, "refused": stats.refusals})

    @staticmethod
    def _connect(ctx: Context, socket: str) -> ConnectResult | str:
        if ctx.config.profile == "keep-id":
            return ctx.probes.pulse.connect_test(f"unix:{socket}", None)
        try:
            uid = ctx.config.container_uid
            return ctx.probes.pulse.connect_as(uid, uid, socket, None)
        except ProbeUnavailable as exc:
            return exc.reason
