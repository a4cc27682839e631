"""pulse.audio-mode: how the container reaches the sound server, and what that exposes."""
from __future__ import annotations

from spotidoctor.api import Check, CheckResult, Context, Message
from spotidoctor.model import Severity

from .common import MODE, SERVER

FILTERED = "filtered: the container plays through spotidoctor's playback-only filter (no cookie, no server module)"
DIRECT = ('audio = "direct": any client on the container\'s socket may load modules into your sound server, '
          "i.e. run code as you")
DIRECT_DETAIL = ("The dedicated socket admits the container as a full client: it can load modules (module-ladspa-sink "
                 "loads a library it wrote into its storage, so its code runs inside your sound server as you), "
                 "open an anonymous TCP listener for every local user, change the default devices, record "
                 "(microphone, other programs' sound) and move or kill other programs' streams.")
FILTERED_REFUSES = ("Refused by the filter: module loads and unloads, default device changes, recording, sample "
                    "uploads, moving or killing other clients' streams, device volumes and profiles.")


class PulseAudioMode(Check):
    """What it checks: the audio mode the launch uses (`audio` in config.toml): "filtered"
    (the default: a playback-only filter in front of your server, started per launch) or
    "direct" (the original design's dedicated socket, plus its cookie on PulseAudio).

    Why it matters: a direct socket does not restrict anything once a client is in:
    `pactl load-module` works from the container, and with module-ladspa-sink and a library
    the container wrote, its code runs in your sound server as you. The filter passes
    what a player needs and refuses the rest. Direct fails here, at warning severity, so
    the launch still runs.

    Fix safety: none; remove `audio = "direct"` from config.toml to use the filter.
    """

    id = MODE
    title = "Container audio mode"
    category = "audio"
    severity = Severity.WARNING
    requires = (SERVER,)
    tags = frozenset({"launch"})

    def run(self, ctx: Context) -> CheckResult:
        facts = {"audio": ctx.config.audio}
        if ctx.config.audio == "direct":
            return self.fail(DIRECT, Message.error(DIRECT_DETAIL, 'Remove audio = "direct" from config.toml: the '
                                                                  "default filter plays the same sound."), facts=facts)
        return self.ok(FILTERED, Message.info(FILTERED_REFUSES), facts=facts)
