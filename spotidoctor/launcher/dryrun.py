"""``launch --dry-run``: the podman command as the launch would run it, channels included.

Nothing is started. Standard output is the command only, one argument per line with its
reason (the channels' mounts and variables at placeholder paths, made when the launch
starts); what the trust level, the audio mode, the D-Bus policy and the sign-in relay mean
goes to standard error with the preflight, which also names every setting that widens the
sandbox.
"""
from __future__ import annotations

import dataclasses
import os
import shlex
from collections.abc import Sequence
from typing import TextIO

from spotidoctor.api import Context
from spotidoctor.backend.runargs import Arg, HostFacts, RunSpec, run_argv
from spotidoctor.channels.dbus.channel import run_args as dbus_run_args
from spotidoctor.channels.dbus.policy import policy_args
from spotidoctor.channels.runparts import run_args
from spotidoctor.channels.urlopen import CHANNEL_DIR_NAME, channel_env, channel_mounts
from spotidoctor.daily.launchparts import DailyParts
from spotidoctor.launcher.channel import CONTAINER_BUS
from spotidoctor.launcher.channels import WORKDIR_PREFIX
from spotidoctor.launcher.daily import Start, launch_pairs
from spotidoctor.launcher.display import COOKIE_NAME
from spotidoctor.launcher.plan import ChannelPlan

__all__ = ["planned_host", "print_dry_run"]

RANDOM = "XXXXXXXX"  # mkdtemp's part of a directory name, made when the launch starts


def planned_host(ctx: Context, plan: ChannelPlan, host: HostFacts) -> HostFacts:
    """``host`` with the channels the launch would open, at their placeholder paths."""
    runtime = ctx.paths.xdg_runtime_dir or "$XDG_RUNTIME_DIR"
    workdir = os.path.join(runtime, WORKDIR_PREFIX + RANDOM)
    if plan.x11_trust == "untrusted" and host.display_number is not None:
        host = dataclasses.replace(host, x11_cookie=os.path.join(workdir, COOKIE_NAME), x11_untrusted=True)
    if plan.audio == "filtered":
        host = dataclasses.replace(host, pulse_socket=os.path.join(runtime, f"spotidoctor-pulse-{RANDOM}", "native"),
                                   audio_filtered=True, pulse_cookie=None, pulse_client_conf=None)
    added: list[Arg] = []
    if plan.dbus_address is not None:
        added += dbus_run_args(os.path.join(runtime, f"dbus-{RANDOM}", "bus"), CONTAINER_BUS)
    root = os.path.join(workdir, CHANNEL_DIR_NAME)
    added += run_args(channel_mounts(root), channel_env())
    return dataclasses.replace(host, channels=(*host.channels, *added))


def _argv_lines(pairs: Sequence[Arg], out: TextIO) -> None:
    width = min(40, max(len(shlex.quote(arg)) for arg, _ in pairs))
    for arg, why in pairs:
        print(f"{shlex.quote(arg):<{width}}  # {why}", file=out)


def _channel_lines(plan: ChannelPlan, out: TextIO) -> None:
    print(f"# display: {plan.x11_means}", file=out)
    if plan.x11_fallback:
        print(f"#   (x11_trust asks for untrusted: {plan.x11_fallback})", file=out)
    print(f"# audio: {plan.audio_means}", file=out)
    if plan.dbus_address is None:
        print(f"# D-Bus: none ({plan.dbus_note})", file=out)
    else:
        print(f"# D-Bus: {plan.dbus_address} through xdg-dbus-proxy, with this policy:", file=out)
        for arg, why in policy_args():
            print(f"#   {arg}  ({why})", file=out)
    print("# links: http(s) links the container opens go to your browser through xdg-open on the host", file=out)
    if plan.callback_port is None:
        print(f"# sign-in: no relay ({plan.callback_note})", file=out)
    else:
        print(f"# sign-in: 127.0.0.1:{plan.callback_port} on the host is relayed into the container's own "
              f"127.0.0.1:{plan.callback_port} while it runs (reachable by every local user meanwhile)", file=out)


def print_dry_run(spec: RunSpec, plan: ChannelPlan, host: HostFacts, ctx: Context, out: TextIO,
                  err: TextIO, *, caveat: str = "", daily: DailyParts | None = None,
                  start: Start | None = None) -> None:
    """The command on ``out``, what the channels mean on ``err``; ``caveat`` ends the header
    line (the command is not ready while a check fails). ``daily``: the scale, language and
    network parts and ``start``'s links, spliced in as the launch does."""
    _channel_lines(plan, err)
    print("# spotidoctor launch --dry-run: the podman command, one argument per line with why" + caveat, file=out)
    planned = planned_host(ctx, plan, host)
    pairs = run_argv(spec, planned) if daily is None else launch_pairs(spec, planned, daily, start or Start())
    _argv_lines(pairs, out)
