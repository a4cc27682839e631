"""What the audio filter lets a client (the container) do: one decision per command, with its reason.

The container gets what a music player needs — the server, sink and source descriptions, its
own playback streams with their volume, events — and nothing that changes the server or
reaches other programs. The choices about information:

- server info, sinks and sources (single and lists), LOOKUP_SINK/SOURCE and STAT pass: a player
  picks a device and a sample rate from them; they describe devices, not other programs.
- modules, clients, source outputs and cards are refused: module arguments hold file paths,
  ports and ACLs of the user's set-up, client and stream lists name the other programs (binary,
  pid, what they play or record), cards carry hardware serials and profiles a player never
  switches. The sample cache is refused entirely (uploads are how a client stores sounds in
  the server).
- sink inputs: only the client's own. GET_SINK_INPUT_INFO is answered for its own index only,
  the list reply is cut down to its own entries.

Proplists a client sends (its own and its streams') keep only descriptive keys: the rest can
steer the server. ``filter.apply`` plus ``filter.apply.<name>.parameters`` makes PulseAudio's
module-filter-apply (loaded by Debian's default.pa) load ``module-<name>`` with those
arguments, e.g. module-ladspa-sink with a plugin path: a module load by property.
``module-stream-restore.id`` picks another program's saved volume and device; on pipewire-pulse
the client proplist becomes the PipeWire client's properties and stream properties the node's
(``media.class``, ``node.*``, ``target.*``, ``pipewire.*``, ``client.access``). A ``phone`` media
role would make module-role-cork pause the user's other players.
"""
from __future__ import annotations

from enum import Enum

from spotidoctor.channels.pulse.protocol import Command
from spotidoctor.channels.pulse.tagstruct import Proplist

__all__ = ["Rule", "CLIENT_RULES", "SERVER_ENDS", "rule_for", "reason_for", "sanitize_proplist", "ALLOWED_PROP_KEYS",
           "ALLOWED_PROP_PREFIXES", "ALLOWED_ROLES"]


class Rule(Enum):
    AUTH = "rewritten: no shared memory, the user's credentials and cookie"
    ALLOW = "forwarded (proplists sanitised)"
    OWN_STREAM = "forwarded for a playback stream this connection created"
    OWN_SINK_INPUT = "forwarded for a sink input this connection created"
    CREATE_PLAYBACK = "forwarded; the new stream and sink input become this connection's"
    LIST_OWN_SINK_INPUTS = "forwarded; the reply keeps only this connection's sink inputs"
    REFUSE = "answered with an access error by the filter"


C = Command
R = Rule
# Client -> server: every command number, deliberately. A command missing here is refused.
CLIENT_RULES: dict[Command, tuple[Rule, str]] = {
    C.ERROR: (R.REFUSE, "the server never asks a client anything (only a shared-memory set-up would)"),
    C.TIMEOUT: (R.REFUSE, "a pseudo command, never on the wire"),
    C.REPLY: (R.REFUSE, "the server never asks a client anything (only a shared-memory set-up would)"),
    C.CREATE_PLAYBACK_STREAM: (R.CREATE_PLAYBACK, "a player's own stream"),
    C.DELETE_PLAYBACK_STREAM: (R.OWN_STREAM, "ends its own stream"),
    C.CREATE_RECORD_STREAM: (R.REFUSE, "recording: no microphone and no monitor of other programs' sound"),
    C.DELETE_RECORD_STREAM: (R.REFUSE, "there are no record streams"),
    C.EXIT: (R.REFUSE, "stops the user's sound server"),
    C.AUTH: (R.AUTH, "the connection's first command"),
    C.SET_CLIENT_NAME: (R.ALLOW, "names the client (its proplist is sanitised)"),
    C.LOOKUP_SINK: (R.ALLOW, "a sink's index by name"),
    C.LOOKUP_SOURCE: (R.ALLOW, "a source's index by name"),
    C.DRAIN_PLAYBACK_STREAM: (R.OWN_STREAM, "waits for its own stream to play out"),
    C.STAT: (R.ALLOW, "memory pool statistics"),
    C.GET_PLAYBACK_LATENCY: (R.OWN_STREAM, "its own stream's timing"),
    C.CREATE_UPLOAD_STREAM: (R.REFUSE, "sample cache: stores sounds in the server"),
    C.DELETE_UPLOAD_STREAM: (R.REFUSE, "sample cache"),
    C.FINISH_UPLOAD_STREAM: (R.REFUSE, "sample cache"),
    C.PLAY_SAMPLE: (R.REFUSE, "sample cache: plays sounds stored by others"),
    C.REMOVE_SAMPLE: (R.REFUSE, "sample cache: removes other programs' sounds"),
    C.GET_SERVER_INFO: (R.ALLOW, "server name, version, default devices"),
    C.GET_SINK_INFO: (R.ALLOW, "an output device's description"),
    C.GET_SINK_INFO_LIST: (R.ALLOW, "output devices"),
    C.GET_SOURCE_INFO: (R.ALLOW, "an input device's description (describing it records nothing)"),
    C.GET_SOURCE_INFO_LIST: (R.ALLOW, "input devices, for a device picker"),
    C.GET_MODULE_INFO: (R.REFUSE, "module arguments reveal the user's set-up (paths, ports, ACLs)"),
    C.GET_MODULE_INFO_LIST: (R.REFUSE, "module arguments reveal the user's set-up (paths, ports, ACLs)"),
    C.GET_CLIENT_INFO: (R.REFUSE, "names other programs (binary, pid, user)"),
    C.GET_CLIENT_INFO_LIST: (R.REFUSE, "names other programs (binary, pid, user)"),
    C.GET_SINK_INPUT_INFO: (R.OWN_SINK_INPUT, "its own stream's volume and state"),
    C.GET_SINK_INPUT_INFO_LIST: (R.LIST_OWN_SINK_INPUTS, "only its own entries: others say what other "
                                                         "programs play"),
    C.GET_SOURCE_OUTPUT_INFO: (R.REFUSE, "says which programs record"),
    C.GET_SOURCE_OUTPUT_INFO_LIST: (R.REFUSE, "says which programs record"),
    C.GET_SAMPLE_INFO: (R.REFUSE, "sample cache"),
    C.GET_SAMPLE_INFO_LIST: (R.REFUSE, "sample cache"),
    C.SUBSCRIBE: (R.ALLOW, "change events (object type and index only)"),
    C.SET_SINK_VOLUME: (R.REFUSE, "device-wide volume"),
    C.SET_SINK_INPUT_VOLUME: (R.OWN_SINK_INPUT, "its own stream's volume"),
    C.SET_SOURCE_VOLUME: (R.REFUSE, "device-wide volume"),
    C.SET_SINK_MUTE: (R.REFUSE, "device-wide mute"),
    C.SET_SOURCE_MUTE: (R.REFUSE, "device-wide mute"),
    C.CORK_PLAYBACK_STREAM: (R.OWN_STREAM, "pauses its own stream"),
    C.FLUSH_PLAYBACK_STREAM: (R.OWN_STREAM, "drops its own buffered audio"),
    C.TRIGGER_PLAYBACK_STREAM: (R.OWN_STREAM, "starts its own stream"),
    C.SET_DEFAULT_SINK: (R.REFUSE, "changes the user's default output"),
    C.SET_DEFAULT_SOURCE: (R.REFUSE, "changes the user's default input"),
    C.SET_PLAYBACK_STREAM_NAME: (R.OWN_STREAM, "renames its own stream"),
    C.SET_RECORD_STREAM_NAME: (R.REFUSE, "there are no record streams"),
    C.KILL_CLIENT: (R.REFUSE, "disconnects another program"),
    C.KILL_SINK_INPUT: (R.REFUSE, "ends a stream (DELETE_PLAYBACK_STREAM ends its own)"),
    C.KILL_SOURCE_OUTPUT: (R.REFUSE, "ends another program's recording"),
    C.LOAD_MODULE: (R.REFUSE, "runs code in the user's sound server"),
    C.UNLOAD_MODULE: (R.REFUSE, "changes the user's sound set-up"),
    C.ADD_AUTOLOAD___OBSOLETE: (R.REFUSE, "obsolete"),
    C.REMOVE_AUTOLOAD___OBSOLETE: (R.REFUSE, "obsolete"),
    C.GET_AUTOLOAD_INFO___OBSOLETE: (R.REFUSE, "obsolete"),
    C.GET_AUTOLOAD_INFO_LIST___OBSOLETE: (R.REFUSE, "obsolete"),
    C.GET_RECORD_LATENCY: (R.REFUSE, "there are no record streams"),
    C.CORK_RECORD_STREAM: (R.REFUSE, "there are no record streams"),
    C.FLUSH_RECORD_STREAM: (R.REFUSE, "there are no record streams"),
    C.PREBUF_PLAYBACK_STREAM: (R.OWN_STREAM, "re-buffers its own stream"),
    C.REQUEST: (R.REFUSE, "sent by the server, not by clients"),
    C.OVERFLOW: (R.REFUSE, "sent by the server, not by clients"),
    C.UNDERFLOW: (R.REFUSE, "sent by the server, not by clients"),
    C.PLAYBACK_STREAM_KILLED: (R.REFUSE, "sent by the server, not by clients"),
    C.RECORD_STREAM_KILLED: (R.REFUSE, "sent by the server, not by clients"),
    C.SUBSCRIBE_EVENT: (R.REFUSE, "sent by the server, not by clients"),
    C.MOVE_SINK_INPUT: (R.REFUSE, "moves streams between devices (the user's choice)"),
    C.MOVE_SOURCE_OUTPUT: (R.REFUSE, "moves recordings between devices"),
    C.SET_SINK_INPUT_MUTE: (R.OWN_SINK_INPUT, "mutes its own stream"),
    C.SUSPEND_SINK: (R.REFUSE, "suspends a device for everyone"),
    C.SUSPEND_SOURCE: (R.REFUSE, "suspends a device for everyone"),
    C.SET_PLAYBACK_STREAM_BUFFER_ATTR: (R.OWN_STREAM, "its own stream's buffering"),
    C.SET_RECORD_STREAM_BUFFER_ATTR: (R.REFUSE, "there are no record streams"),
    C.UPDATE_PLAYBACK_STREAM_SAMPLE_RATE: (R.OWN_STREAM, "its own stream's rate"),
    C.UPDATE_RECORD_STREAM_SAMPLE_RATE: (R.REFUSE, "there are no record streams"),
    C.PLAYBACK_STREAM_SUSPENDED: (R.REFUSE, "sent by the server, not by clients"),
    C.RECORD_STREAM_SUSPENDED: (R.REFUSE, "sent by the server, not by clients"),
    C.PLAYBACK_STREAM_MOVED: (R.REFUSE, "sent by the server, not by clients"),
    C.RECORD_STREAM_MOVED: (R.REFUSE, "sent by the server, not by clients"),
    C.UPDATE_RECORD_STREAM_PROPLIST: (R.REFUSE, "there are no record streams"),
    C.UPDATE_PLAYBACK_STREAM_PROPLIST: (R.OWN_STREAM, "its own stream's description (sanitised)"),
    C.UPDATE_CLIENT_PROPLIST: (R.ALLOW, "its own description (sanitised)"),
    C.REMOVE_RECORD_STREAM_PROPLIST: (R.REFUSE, "there are no record streams"),
    C.REMOVE_PLAYBACK_STREAM_PROPLIST: (R.OWN_STREAM, "its own stream's description"),
    C.REMOVE_CLIENT_PROPLIST: (R.ALLOW, "its own description"),
    C.STARTED: (R.REFUSE, "sent by the server, not by clients"),
    C.EXTENSION: (R.REFUSE, "module extensions (stream-restore, device-manager) edit the user's settings"),
    C.GET_CARD_INFO: (R.REFUSE, "hardware profiles and serials a player never switches"),
    C.GET_CARD_INFO_LIST: (R.REFUSE, "hardware profiles and serials a player never switches"),
    C.SET_CARD_PROFILE: (R.REFUSE, "changes the hardware set-up for everyone"),
    C.CLIENT_EVENT: (R.REFUSE, "sent by the server, not by clients"),
    C.PLAYBACK_STREAM_EVENT: (R.REFUSE, "sent by the server, not by clients"),
    C.RECORD_STREAM_EVENT: (R.REFUSE, "sent by the server, not by clients"),
    C.PLAYBACK_BUFFER_ATTR_CHANGED: (R.REFUSE, "sent by the server, not by clients"),
    C.RECORD_BUFFER_ATTR_CHANGED: (R.REFUSE, "sent by the server, not by clients"),
    C.SET_SINK_PORT: (R.REFUSE, "switches a device's port for everyone"),
    C.SET_SOURCE_PORT: (R.REFUSE, "switches a device's port for everyone"),
    C.SET_SOURCE_OUTPUT_VOLUME: (R.REFUSE, "another program's recording volume"),
    C.SET_SOURCE_OUTPUT_MUTE: (R.REFUSE, "another program's recording"),
    C.SET_PORT_LATENCY_OFFSET: (R.REFUSE, "changes a device for everyone"),
    C.ENABLE_SRBCHANNEL: (R.REFUSE, "shared memory: all audio goes through the filter's socket"),
    C.DISABLE_SRBCHANNEL: (R.REFUSE, "shared memory: all audio goes through the filter's socket"),
    C.REGISTER_MEMFD_SHMID: (R.REFUSE, "shared memory: all audio goes through the filter's socket"),
    C.SEND_OBJECT_MESSAGE: (R.REFUSE, "messages to server objects (modules, cards) change settings"),
}
del C, R

# Server -> client: the server is the user's own, so what it sends passes, except the commands
# that set up shared memory (they carry file descriptors): the filter never negotiates it, so
# one of these means the server ignored that; the connection ends.
SERVER_ENDS = frozenset({Command.ENABLE_SRBCHANNEL, Command.DISABLE_SRBCHANNEL, Command.REGISTER_MEMFD_SHMID})


_BY_NUMBER: dict[int, tuple[Rule, str]] = {int(k): v for k, v in CLIENT_RULES.items()}


def rule_for(command: int) -> Rule:
    """The rule for a command number from the client; unknown numbers are refused."""
    entry = _BY_NUMBER.get(command)
    return entry[0] if entry else Rule.REFUSE


def reason_for(command: int) -> str:
    """Why the rule for ``command`` is what it is (for the refusal log)."""
    entry = _BY_NUMBER.get(command)
    return entry[1] if entry else "an unknown command"


# -- proplists ---------------------------------------------------------------------------------

ALLOWED_PROP_PREFIXES = ("application.", "window.")
ALLOWED_PROP_KEYS = frozenset({
    "media.name", "media.title", "media.artist", "media.copyright", "media.software", "media.language",
    "media.filename", "media.icon", "media.icon_name", "media.role",
})
# Every role of pulse/proplist.h except "phone" (module-role-cork pauses other streams for it).
ALLOWED_ROLES = frozenset({b"video", b"music", b"game", b"event", b"animation", b"production", b"a11y", b"test"})


def _keeps(key: str, value: bytes) -> bool:
    if key == "media.role":
        return value.rstrip(b"\0") in ALLOWED_ROLES
    return key in ALLOWED_PROP_KEYS or key.startswith(ALLOWED_PROP_PREFIXES)


def sanitize_proplist(props: Proplist) -> tuple[Proplist, tuple[str, ...]]:
    """``props`` with only descriptive keys, and the keys it dropped."""
    kept = tuple((k, v) for k, v in props.items if _keeps(k, v))
    if len(kept) == len(props.items):
        return props, ()
    dropped = tuple(k for k, v in props.items if not _keeps(k, v))
    return Proplist(kept), dropped
