"""pulse.server: a pulse server answers, which kind it is, and that it has a default sink."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

from spotidoctor.api import Check, CheckResult, Context, Message
from spotidoctor.errors import ProbeTimeout, ProbeUnavailable
from spotidoctor.facts import PulseServerFacts
from spotidoctor.probes.pulse import ConnectOutcome, PulseUnreachable, default_server

from .common import SERVER, server_info
from .services import audio_session

if TYPE_CHECKING:
    from spotidoctor.bundle.spec import BundleSpec


def _unreachable_messages(ctx: Context, exc: PulseUnreachable) -> tuple[str, tuple[Message, ...]]:
    where = default_server(ctx.env)
    path = where[len("unix:"):] if where.startswith("unix:") else None
    if exc.outcome is ConnectOutcome.ACCESS_DENIED:
        return ("the pulse server refused us: access denied", (Message.error(
            exc.reason, "PULSE_SERVER or PULSE_COOKIE may point at another user's server or a stale "
            "cookie; unset them and try `pactl info`."),))
    if not ctx.env.get("XDG_RUNTIME_DIR") and not ctx.env.get("PULSE_SERVER"):
        return ("cannot find the pulse server: XDG_RUNTIME_DIR is not set", (Message.error(
            exc.reason, "libpulse finds the session's server through XDG_RUNTIME_DIR: run spotidoctor from a "
            "terminal of your desktop session (not through sudo or su), or export "
            "XDG_RUNTIME_DIR=/run/user/$(id -u)."),))
    if exc.outcome is not ConnectOutcome.REFUSED or path is None:
        return (f"cannot reach the pulse server: {exc.reason}", (Message.error(
            exc.reason, "`pactl info` should show the same; is a PulseAudio or PipeWire server running for "
            "this user?"),))
    fs = ctx.probes.fs
    if not fs.exists(path):
        return ("no pulse server is running", (Message.error(
            f"nothing at {path}", *audio_session(ctx).advice(restart=False),
            "Or log in to a desktop session that starts one."),))
    if not fs.access(os.path.dirname(path), os.X_OK):
        return ("cannot enter the pulse runtime directory", (Message.error(
            f"{os.path.dirname(path)} is not accessible to uid {ctx.user.uid}; libpulse reports this "
            "as 'Connection refused'", "Run spotidoctor as the user who owns the session."),))
    return ("the pulse socket exists but nothing answers on it", (Message.error(
        f"{path}: connection refused (a stale socket of a server that died)",
        *audio_session(ctx).advice(restart=False)),))


class PulseServerReachable(Check):
    """What it checks: a pulse server (PulseAudio, or PipeWire's pipewire-pulse) answers on the
    default socket — connected without autospawn and with a timeout — which kind it is, and
    that it has a default sink. Failures give the real reason: access denied, connection
    refused (no server, stale socket, an untraversable directory) or a hung server.

    Why it matters: every audio path of the container ends at this server; the kind decides
    how the container socket is made (a module on PulseAudio, a drop-in on PipeWire).

    Fix safety: none automatic; the advice names the command that starts the server.
    """

    id = SERVER
    title = "Pulse server reachable"
    category = "audio"
    timeout_s = 15.0
    tags = frozenset({"launch"})

    def collect(self, spec: BundleSpec, ctx: Context) -> None:
        """For bug reports: pactl info, native-protocol modules, socket/cookie states (never bytes), client configs."""
        from .evidence import pulse_evidence  # only reports load the bundle code

        pulse_evidence(spec, ctx)

    def run(self, ctx: Context) -> CheckResult:
        try:
            info = server_info(ctx)
        except ProbeTimeout as exc:
            return self.fail("the pulse server hangs", Message.error(
                exc.reason, *audio_session(ctx).advice(restart=True)))
        except PulseUnreachable as exc:
            summary, messages = _unreachable_messages(ctx, exc)
            return self.fail(summary, *messages)
        except ProbeUnavailable as exc:
            return self.fail(f"cannot talk to the pulse server: {exc.reason}")
        facts = PulseServerFacts(info.kind.value, info.name, info.version, info.default_sink).to_json()
        if not info.default_sink:
            return self.warn(f"{info.display_name} has no default sink: Spotify would play into nothing",
                             Message.hint("No output device is configured.",
                                          "`pactl list short sinks`, then `pactl set-default-sink NAME`."),
                             facts=facts)
        if info.only_null_sinks:
            names = ", ".join(s.name for s in info.sinks)
            return self.warn(f"{info.display_name} has only a null sink ({names}): nothing will be heard",
                             Message.hint("A null sink plays into nothing: the server found no sound device (a "
                                          "headless session, a missing driver, or a device another program holds).",
                                          "`pactl list short cards` lists the devices it sees; `aplay -l` the "
                                          "kernel's."), facts=facts)
        return self.ok(f"{info.display_name}, default sink {info.default_sink}", facts=facts)
