"""pulse.persistence: the container socket survives a restart of the audio server."""
from __future__ import annotations

import os
from dataclasses import dataclass

from spotidoctor.api import Check, CheckResult, Context, Message
from spotidoctor.fixes import FixAvailability
from spotidoctor.probes.pulse import ServerKind

from .common import (
    PERSIST,
    SERVER,
    SOCKET_ARGS,
    container_module,
    direct_only,
    expected_socket,
    kind_of,
    resolve_args,
    user_default_pa,
)
from .conf import NativeSocketConfig, read_default_pa
from .fixes import drop_in_fix, persist_pa_fix
from .pipewire import address_socket, effective_addresses, pw_settings

MSG_NO_INCLUDE = (
    "{path} exists but does not `.include /etc/pulse/default.pa`: PulseAudio then reads ONLY this "
    "file, which silently disables the whole system configuration (devices, the main socket) at "
    "the next restart.")


@dataclass(frozen=True)
class PaScriptScan:
    files: tuple[str, ...]
    lines: tuple[tuple[str, int, NativeSocketConfig], ...]  # (file, line number, config)


def scan_pa_scripts(ctx: Context, first: str, depth: int = 4) -> PaScriptScan:
    """Follow ``.include`` (files and directories of ``*.pa``) from ``first``."""
    fs = ctx.probes.fs
    files: list[str] = []
    found: list[tuple[str, int, NativeSocketConfig]] = []
    todo = [(first, 0)]
    while todo:
        path, level = todo.pop(0)
        if path in files or level > depth:
            continue
        if fs.is_dir(path):
            todo[0:0] = [(os.path.join(path, n), level + 1) for n in fs.listdir(path) if n.endswith(".pa")]
            continue
        try:
            text = fs.read_text_or_none(path)
        except OSError:  # unreadable: the daemon (same user) could not read it either
            text = None
        if text is None:
            continue
        files.append(path)
        parsed = read_default_pa(text)
        found += [(path, line.number, resolve_args(ctx, dict(line.module_args)))
                  for line in parsed.native_unix_loads if line.module_args is not None]
        todo[0:0] = [(inc, level + 1) for inc in parsed.includes]
    return PaScriptScan(tuple(files), tuple(found))


class PulseSocketPersistent(Check):
    """What it checks: that the container socket survives a restart of the audio server.
    PulseAudio: a `load-module module-native-protocol-unix` line for that socket in the
    startup script it really reads — your `~/.config/pulse/default.pa` if it exists (which
    must `.include /etc/pulse/default.pa`, or the whole system configuration is silently
    disabled), else `/etc/pulse/default.pa` and its `default.pa.d`. PipeWire: the drop-in is
    persistent by nature.

    Only with `audio = "direct"`: the default filtered audio needs none of this (see
    pulse.audio-mode and pulse.filter-access).

    Why it matters: a module loaded only at runtime is gone after a logout or a server
    restart, and Spotify in the container then gets no sound.

    Fix safety: safe. Writes your default.pa starting with `.include /etc/pulse/default.pa`,
    then the load-module line after `.nofail` (idempotent, never duplicated; the old file is
    backed up with a timestamp; lines it does not understand are kept and reported).
    """

    id = PERSIST
    title = "Container audio socket survives a restart"
    category = "audio"
    requires = (SERVER,)
    timeout_s = 15.0
    fix_availability = FixAvailability.SOMETIMES

    def applies(self, ctx: Context) -> str | None:
        return direct_only(ctx)

    def run(self, ctx: Context) -> CheckResult:
        if kind_of(ctx) is ServerKind.PIPEWIRE:
            return self._pipewire(ctx)
        return self._pulseaudio(ctx)

    def _target(self, ctx: Context) -> tuple[dict[str, str], str | None, bool]:
        chosen = container_module(ctx)
        if chosen is not None and chosen.config is not None:
            return dict(chosen.config.args), chosen.config.socket, True
        return dict(SOCKET_ARGS), expected_socket(ctx).socket, False

    def _pulseaudio(self, ctx: Context) -> CheckResult:
        args, socket, loaded = self._target(ctx)
        path = user_default_pa(ctx)
        try:
            text = ctx.probes.fs.read_text_or_none(path)
        except OSError as exc:
            return self.fail(f"cannot read {path}: {exc.strerror or exc}", Message.error(
                "PulseAudio (running as you) cannot read it either, so it starts without any configuration.",
                f"`ls -l {path}`: it must belong to you (was it written with sudo?)."))
        fix = persist_pa_fix(ctx, args)
        fixes = (fix,) if fix else ()
        if text is not None:
            parsed = read_default_pa(text)
            if not parsed.includes_system and not parsed.self_contained:
                return self.fail(f"{path} disables the system PulseAudio configuration",
                                 Message.error(MSG_NO_INCLUDE.format(path=path),
                                               "Make `.include /etc/pulse/default.pa` its first line."),
                                 fixes=fixes)
        scan = scan_pa_scripts(ctx, path if text is not None else "/etc/pulse/default.pa")
        where = next(((f, n) for f, n, cfg in scan.lines if cfg.socket == socket), None)
        if where is not None:
            return self.ok(f"configured in {where[0]} line {where[1]}")
        where_not = self._where_not(scan.files, path, text is not None)
        if loaded:
            return self.warn(f"{socket} is loaded at runtime only: gone after the next PulseAudio restart",
                             Message.hint(where_not), fixes=fixes)
        return self.warn("the container socket is not configured persistently", Message.hint(where_not), fixes=fixes)

    @staticmethod
    def _where_not(read: tuple[str, ...], user_pa: str, user_pa_exists: bool) -> str:
        """Where it was looked for, and which file the fix writes (your own default.pa, which
        PulseAudio reads instead of the system one once it exists)."""
        looked = f"Not in {', '.join(read) or user_pa} (what PulseAudio reads now)."
        if user_pa_exists:
            return looked
        return (f"{looked} The fix creates {user_pa}: PulseAudio then reads it instead of /etc/pulse/default.pa, "
                "so it starts with `.include /etc/pulse/default.pa`.")

    def _pipewire(self, ctx: Context) -> CheckResult:
        wanted = expected_socket(ctx).socket
        current, origin = effective_addresses(pw_settings(ctx))
        if wanted in [address_socket(ctx, a) for a in current]:
            return self.ok(f"configured in {origin} (a pipewire-pulse drop-in is persistent)")
        return self.warn("pipewire-pulse has no persistent container socket",
                         Message.hint("PipeWire has no runtime way to add a unix socket; a drop-in does it."),
                         fixes=(drop_in_fix(ctx, current),))
