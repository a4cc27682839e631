"""pulse.output-api: whether Spotify can output through PipeWire directly."""
from __future__ import annotations

import os
import stat as stat_mod

from spotidoctor.api import Check, CheckResult, Context, Message
from spotidoctor.facts import AudioApiFacts
from spotidoctor.model import Severity
from spotidoctor.probes.pulse import ServerKind

from .common import OUTPUT, SERVER, kind_of

MSG_PW_GRAPH = (
    "pipewire-0 is the whole PipeWire graph, not just audio: a client on it can also reach video "
    "nodes (cameras, screen casts) that the pulse socket never exposes.")


class SpotifyAudioApi(Check):
    """What it checks: whether Spotify can output through PipeWire directly: the server is
    pipewire-pulse and `$XDG_RUNTIME_DIR/pipewire-0` exists, accepts connections and, unless
    the keep-id profile is used, lets another uid connect (mode o+w, as systemd's
    pipewire.socket makes it; a hand-started pipewire leaves 0755). Records
    the result in the facts `audio_api` ("pipewire", or "pulseaudio": the launcher then adds
    `--audio-api=pulseaudio`) and `pipewire_socket` (path or null).

    Why it matters: recent Spotify versions output through PipeWire by default; without a
    usable `pipewire-0` in the container they play nothing unless told to use PulseAudio.
    On a PulseAudio host a `pipewire-0` that exists (screen sharing) must not be used: it
    has no audio devices.

    Fix safety: none needed; informational.
    """

    id = OUTPUT
    title = "Spotify audio output API"
    category = "audio"
    severity = Severity.INFO
    requires = (SERVER,)
    timeout_s = 15.0
    tags = frozenset({"launch"})

    def run(self, ctx: Context) -> CheckResult:
        path = pipewire_socket_path(ctx)
        st = ctx.probes.fs.stat(path) if path else None
        exists = st is not None and st.is_socket
        usable = exists and path is not None and ctx.probes.pulse.socket_accepts(path)
        # Connecting needs write permission on the socket file, and the container's uid is "other"
        # on the host (systemd's pipewire.socket makes it 0666; a hand-started pipewire uses the umask).
        foreign_ok = ctx.config.profile == "keep-id" or (st is not None and bool(st.perms & stat_mod.S_IWOTH))
        kind = kind_of(ctx)
        if kind is ServerKind.PIPEWIRE and usable and foreign_ok and ctx.config.share_pipewire:
            return self.ok(f"PipeWire ({path})", Message.info(MSG_PW_GRAPH),
                           facts=AudioApiFacts("pipewire", path).to_json())
        facts = AudioApiFacts("pulseaudio", None).to_json()
        if kind is ServerKind.PIPEWIRE and usable and foreign_ok:
            why = (f"{path} would work, but it is not shared: it exposes the whole PipeWire graph "
                   "(cameras, screen casts, every application's streams), while the pulse socket carries "
                   "audio only. Set share_pipewire = true in config.toml to share it anyway.")
        elif kind is ServerKind.PULSEAUDIO and exists:
            why = f"{path} exists but PulseAudio plays the sound (PipeWire there has no audio devices)"
        elif kind is ServerKind.PULSEAUDIO:
            why = "the server is PulseAudio"
        elif usable and st is not None:
            why = (f"{path} has mode {st.perms:04o}: the container's uid {ctx.config.container_uid} (another "
                   "uid on the host) cannot connect to it")
        else:
            why = f"{path or 'pipewire-0'} is {'not accepting connections' if exists else 'missing'}"
        return self.ok("pulseaudio (the launcher adds --audio-api=pulseaudio)", Message.info(why), facts=facts)


def pipewire_socket_path(ctx: Context) -> str | None:
    base = ctx.env.get("PIPEWIRE_RUNTIME_DIR") or ctx.paths.xdg_runtime_dir
    remote = ctx.env.get("PIPEWIRE_REMOTE") or "pipewire-0"
    if os.path.isabs(remote):
        return remote
    return os.path.join(base, remote) if base else None
