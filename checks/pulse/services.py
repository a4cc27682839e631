"""Advice that fits the session: the command that starts or restarts the audio server here.

Two things decide it. Is a systemd user manager running (its private socket
``$XDG_RUNTIME_DIR/systemd/private`` exists and ``systemctl --user is-system-running`` answers)?
Without one, ``systemctl --user`` fails with "Failed to connect to bus". And is the server
PulseAudio or PipeWire (the running server says; when none runs, what is installed and, with a
user manager, which socket unit is enabled)?

Without a user manager, ``pulseaudio --start`` daemonizes, but the daemon exits after 20 s
without clients (daemon.conf's ``exit-idle-time``, pulse-daemon.conf(5)); ``--exit-idle-time=-1``
or ``exit-idle-time = -1`` in ``~/.config/pulse/daemon.conf`` keeps it running. PipeWire has no
such option: pipewire, wireplumber and pipewire-pulse are started as three programs.
"""
from __future__ import annotations

from dataclasses import dataclass

from spotidoctor.api import Context
from spotidoctor.probes.pulse import ServerKind

ACTIVE_STATES = frozenset({"running", "degraded", "starting", "initializing", "maintenance"})
PA_START = "pulseaudio --start --exit-idle-time=-1"
PA_RESTART = "pulseaudio --kill; pulseaudio --start --exit-idle-time=-1"
PA_SYSTEMD_START = "systemctl --user start pulseaudio.socket pulseaudio.service"
PA_SYSTEMD_RESTART = "systemctl --user restart pulseaudio.service"
PW_SYSTEMD_START = "systemctl --user start pipewire.socket pipewire-pulse.socket wireplumber.service"
PW_SYSTEMD_RESTART = "systemctl --user restart pipewire.service wireplumber.service pipewire-pulse.service"
PW_SYSTEMD_RESTART_PULSE = "systemctl --user restart pipewire-pulse.service"
PW_START = "pipewire & sleep 1; wireplumber & pipewire-pulse &"
PW_RESTART = "pkill -x pipewire-pulse; pkill -x wireplumber; pkill -x pipewire; " + PW_START
PW_RESTART_PULSE = "pkill -x pipewire-pulse; pipewire-pulse &"
NO_MANAGER = ("There is no systemd user manager here, so nothing restarts {what}: start it from your session's "
              "startup (an XDG autostart entry, ~/.xsession or ~/.xinitrc)")
PA_KEEP = ("for PulseAudio, put `exit-idle-time = -1` into ~/.config/pulse/daemon.conf, or it exits 20 s after its "
           "last client")
PW_KEEP = "for PipeWire, start pipewire, wireplumber and pipewire-pulse (wireplumber needs the session's D-Bus)"


@dataclass(frozen=True)
class AudioSession:
    """What the advice depends on. ``kind`` is None when it cannot be told (both installed)."""

    user_manager: bool
    kind: ServerKind | None

    def start(self) -> list[str]:
        """Commands that start the server, one per possible kind."""
        return [self._one(kind, restart=False) for kind in self._kinds()]

    def restart(self) -> list[str]:
        return [self._one(kind, restart=True) for kind in self._kinds()]

    def keep_running(self) -> str | None:
        """How to keep it running, when no user manager does (None: one does)."""
        if self.user_manager:
            return None
        kinds = self._kinds()
        what = {ServerKind.PULSEAUDIO: "PulseAudio", ServerKind.PIPEWIRE: "PipeWire"}[kinds[0]] \
            if len(kinds) == 1 else "the audio server"
        parts = [PA_KEEP if kind is ServerKind.PULSEAUDIO else PW_KEEP for kind in kinds]
        return NO_MANAGER.format(what=what) + "; " + "; ".join(parts) + "."

    def advice(self, *, restart: bool) -> tuple[str, ...]:
        commands = self.restart() if restart else self.start()
        verb = "Restart" if restart else "Start"
        names = {ServerKind.PULSEAUDIO: "PulseAudio", ServerKind.PIPEWIRE: "PipeWire"}
        if len(commands) == 1:
            lines = [f"{verb} {names[self._kinds()[0]]}: `{commands[0]}`"]
        else:
            lines = [f"{verb} the server: `{commands[0]}` (PulseAudio) or `{commands[1]}` (PipeWire)"]
        note = self.keep_running()
        return (*lines, note) if note else tuple(lines)

    def _kinds(self) -> list[ServerKind]:
        return [self.kind] if self.kind else [ServerKind.PULSEAUDIO, ServerKind.PIPEWIRE]

    def _one(self, kind: ServerKind, *, restart: bool) -> str:
        if kind is ServerKind.PULSEAUDIO:
            if self.user_manager:
                return PA_SYSTEMD_RESTART if restart else PA_SYSTEMD_START
            return PA_RESTART if restart else PA_START
        if self.user_manager:
            return PW_SYSTEMD_RESTART if restart else PW_SYSTEMD_START
        return PW_RESTART if restart else PW_START


def user_manager_running(ctx: Context) -> bool:
    """A systemd user manager serves this user (asked once per run)."""
    def ask() -> bool:
        runtime = ctx.paths.xdg_runtime_dir
        if not runtime or not ctx.probes.fs.is_socket(f"{runtime}/systemd/private"):
            return False
        done = ctx.probes.cmd.run(("systemctl", "--user", "is-system-running"), timeout=5)
        return not done.timed_out and done.stdout.strip() in ACTIVE_STATES

    return ctx.memo.get("session.user-manager", ask)


def _installed_kind(ctx: Context, user_manager: bool) -> ServerKind | None:
    has_pw = ctx.probes.cmd.which("pipewire-pulse") is not None
    has_pa = ctx.probes.cmd.which("pulseaudio") is not None
    if has_pw != has_pa:
        return ServerKind.PIPEWIRE if has_pw else ServerKind.PULSEAUDIO
    units = (("pipewire-pulse.socket", ServerKind.PIPEWIRE), ("pulseaudio.socket", ServerKind.PULSEAUDIO))
    if has_pw and user_manager:
        for unit, kind in units:
            done = ctx.probes.cmd.run(("systemctl", "--user", "is-enabled", unit), timeout=5)
            if done.ok and done.stdout.strip() in ("enabled", "static", "indirect"):
                return kind
    return None


def audio_session(ctx: Context, kind: ServerKind | None = None) -> AudioSession:
    """The session as the advice needs it; ``kind`` when the running server told it."""
    manager = user_manager_running(ctx)
    return AudioSession(manager, kind or _installed_kind(ctx, manager))
