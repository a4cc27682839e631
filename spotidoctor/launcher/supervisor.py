"""The launch itself, once the preflight passed: channels, ``podman run``, the record, the end.

1. The launch directory (record + container log + channel log) is made, old ones rotated.
2. The channels open (``channels.open_channels``): only now, after the preflight, whose
   runner kills every child still running when the checks end.
3. ``podman run`` runs in the foreground with its output filtered (``podmanrun``); the launch
   record is written before and after.
4. Every channel stops when podman ends, and also when spotidoctor is interrupted (Ctrl-C,
   SIGTERM, SIGHUP unwind through ``finally``); one line says what they refused, and the
   record keeps the details. A non-zero exit runs the crash diagnosis.
"""
from __future__ import annotations

import dataclasses
import os
import sys
import time
from collections.abc import Sequence
from typing import TextIO

from spotidoctor.api import Context
from spotidoctor.backend import host as hostfacts
from spotidoctor.backend.limits import lift_address_space, limits_record
from spotidoctor.backend.runargs import Arg, HostFacts, RunSpec, argv, missing_parts
from spotidoctor.channels.eventlog import FileLog
from spotidoctor.crash import launchlog, podmanerr
from spotidoctor.daily.launchparts import daily_parts
from spotidoctor.launcher import channels as channels_mod
from spotidoctor.launcher.channel import ChannelReport
from spotidoctor.launcher.daily import Start, launch_pairs
from spotidoctor.launcher.phases import PhaseClock
from spotidoctor.launcher.plan import plan_channels
from spotidoctor.launcher.podmanrun import run_filtered, stream_writer
from spotidoctor.model import CheckResult
from spotidoctor.types import JSONValue

__all__ = ["run_container", "make_spec", "launch_dir", "CHANNEL_LOG", "STOPPED"]

CHANNEL_LOG = "channels.log"
STOPPED = (130, 143)  # Ctrl-C / `podman stop`: the user ended it, not a crash


def launch_dir(ctx: Context, launch_id: str) -> str:
    return os.path.join(ctx.paths.launches_dir, launch_id)


def make_spec(ctx: Context, directory: str, *, network: str | None, spotify_args: Sequence[str]) -> RunSpec:
    return RunSpec.from_config(ctx.config, home=ctx.user.home,
                               log_path=os.path.join(directory, launchlog.CONTAINER_LOG),
                               network=network, spotify_args=spotify_args)


def new_record(ctx: Context, spec: RunSpec, pairs: Sequence[Arg], directory: str,
               results: Sequence[CheckResult], host_extra: dict[str, JSONValue]) -> launchlog.LaunchRecord:
    host = {**hostfacts.host_record(ctx, results), **host_extra}
    return launchlog.LaunchRecord(
        launch_id=os.path.basename(directory), directory=directory, started=time.time(),
        argv=tuple(argv(pairs)), image=spec.image, container_name=spec.container_name, profile=spec.profile,
        shm_size=spec.shm_size, spotify_args=(*spec.config_spotify_args, *spec.cli_spotify_args),
        rlimits=limits_record(ctx.probes.procs), host=host)


def diagnose(ctx: Context, record: launchlog.LaunchRecord, out: TextIO) -> None:
    from spotidoctor.crash.launches import diagnose_launch
    from spotidoctor.render.text import emit, result_lines

    code = record.exit_code
    if code in STOPPED:
        print(f"Spotify was stopped (exit status {code}).", file=out)
        return
    print(f"Spotify exited with status {code}; diagnosing (container log: {record.log_path})", file=out)
    try:
        verdict = diagnose_launch(ctx, record)
    except NotImplementedError:
        print("  crash diagnosis is not available in this version; read the container log above.", file=out)
        return
    except Exception as exc:  # the diagnosis must never hide Spotify's own exit status
        print(f"  crash diagnosis failed ({type(exc).__name__}: {exc}); read the container log.", file=out)
        return
    emit(result_lines(verdict, verbose=ctx.verbose), out, ctx.env)


def channels_record(reports: Sequence[ChannelReport]) -> dict[str, JSONValue]:
    return {r.name: {"refused": r.refused, **r.record} for r in reports}


def _mark(clock: PhaseClock | None, phase: str) -> None:
    if clock is not None:
        clock.mark(phase)


def _start_message(ctx: Context, spec: RunSpec, host: HostFacts, warnings: Sequence[str], out: TextIO) -> None:
    for problem in (*warnings, *missing_parts(host)):
        print(f"warning: {problem}", file=out)
    print(f"Starting Spotify from {spec.image} (profile {spec.profile}); container log: {spec.log_path}",
          file=out, flush=True)
    sys.stderr.flush()


def run_container(ctx: Context, results: Sequence[CheckResult], host: HostFacts, out: TextIO, err: TextIO, *,
                  network: str | None, start: Start, clock: PhaseClock | None = None,
                  image_id: str | None = None) -> int:
    """Open the channels, run Spotify (with the daily parts and ``start``'s links), stop the
    channels; Spotify's exit status. ``image_id``: the image's id as the fast path just read it.

    ``channels.LaunchRefused`` (nothing started) when a channel forbids the launch."""
    fs = ctx.probes.fs
    directory = launch_dir(ctx, launchlog.new_launch_id())
    fs.make_private_dirs(directory, top=ctx.paths.state_dir)  # podman's log goes here too
    launchlog.rotate(fs, ctx.paths.launches_dir, ctx.config.keep_launch_logs)
    lifted = lift_address_space() if ctx.config.lift_rlimit_as else None
    spec = make_spec(ctx, directory, network=network, spotify_args=start.other_args)
    parts = daily_parts(ctx, results, image_id=image_id)  # before the channels: it may look inside the image once
    log_path = os.path.join(directory, CHANNEL_LOG)
    plan = plan_channels(ctx, results, spec.network)
    opened = channels_mod.open_channels(ctx, plan, results, container=spec.container_name, log=FileLog(log_path))
    _mark(clock, "channels open")
    code: int | None = None
    try:
        host = opened.apply(host)
        pairs = launch_pairs(spec, host, parts, start)
        used = parts.network[0].removeprefix("--network=") if parts.network else spec.network
        extra: dict[str, JSONValue] = {"launch_profile": spec.profile, "network": used or "podman default",
                                       "audio": plan.audio, "x11_trust": plan.x11_trust}
        if lifted is not None:
            extra["rlimit_as_before"] = [lifted.before.soft, lifted.before.hard]
        record = new_record(ctx, spec, pairs, directory, results, extra)
        launchlog.save(fs, record)
        _start_message(ctx, spec, host, (*opened.warnings, *parts.warnings), out)
        tail = podmanerr.Tail()  # podman's own error line, for the diagnosis
        code = run_filtered(ctx.probes.cmd, argv(pairs), stream_writer(out), podmanerr.teeing(stream_writer(err), tail))
        _mark(clock, "podman run (until Spotify exits)")
    finally:
        reports = opened.stop()
        if code is not None:
            record = dataclasses.replace(record, ended=time.time(), exit_code=code, channels=channels_record(reports),
                                         podman_errors=tail.errors())
            launchlog.save(fs, record)
    print(channels_mod.summary_line(reports, log_path), file=out)
    _mark(clock, "channels stopped, record kept")
    if code != 0:
        diagnose(ctx, record, out)
    return code
