"""The PulseAudio native protocol's constants, as both PulseAudio and pipewire-pulse speak it.

A connection carries frames. Each starts with a 20-byte descriptor of five big-endian u32:
length, channel, offset high, offset low, flags. Channel 0xFFFFFFFF marks a packet (a
command: a tagstruct that starts with the command number and a tag); any other channel
marks a memblock, i.e. audio data for that stream. Sources: PulseAudio's
src/pulsecore/pstream.c (descriptor, flags, FRAME_SIZE_MAX_ALLOW), native-common.h (the
command numbers), pulse/internal.h (the version flags) and pulse/def.h (error codes); the
same numbering in PipeWire's src/modules/module-protocol-pulse/commands.h.
"""
from __future__ import annotations

import struct
from enum import IntEnum

DESCRIPTOR = struct.Struct(">IIIII")
DESCRIPTOR_SIZE = DESCRIPTOR.size
PACKET_CHANNEL = 0xFFFFFFFF
NO_TAG = 0xFFFFFFFF
INVALID_INDEX = 0xFFFFFFFF
# A frame may carry at most this many bytes (pstream.c FRAME_SIZE_MAX_ALLOW: one sample upload).
FRAME_SIZE_MAX = 16 * 1024 * 1024

# Descriptor flags: the top byte says "shared memory" (a block reference, release, revoke).
FLAG_SHM_MASK = 0xFF000000
FLAG_SEEK_MASK = 0x000000FF
SEEK_RELATIVE_END = 3  # the largest valid pa_seek_mode_t

# AUTH's version word: the low 16 bits are the version, the top bits capabilities.
VERSION_MASK = 0x0000FFFF
FLAG_SHM = 0x80000000  # "I can use POSIX shared memory"
FLAG_MEMFD = 0x40000000  # "I can use memfd shared memory"
# Version 13 (PulseAudio 0.9.11, 2008) added proplists and the capability bits.
MIN_VERSION = 13
COOKIE_LENGTH = 256  # PA_NATIVE_COOKIE_LENGTH

# pulse/def.h
ERR_ACCESS = 1
ERR_PROTOCOL = 7
ERR_VERSION = 17


class Command(IntEnum):
    """Every command number of protocol version 35 (native-common.h, in order)."""

    ERROR = 0
    TIMEOUT = 1
    REPLY = 2
    CREATE_PLAYBACK_STREAM = 3
    DELETE_PLAYBACK_STREAM = 4
    CREATE_RECORD_STREAM = 5
    DELETE_RECORD_STREAM = 6
    EXIT = 7
    AUTH = 8
    SET_CLIENT_NAME = 9
    LOOKUP_SINK = 10
    LOOKUP_SOURCE = 11
    DRAIN_PLAYBACK_STREAM = 12
    STAT = 13
    GET_PLAYBACK_LATENCY = 14
    CREATE_UPLOAD_STREAM = 15
    DELETE_UPLOAD_STREAM = 16
    FINISH_UPLOAD_STREAM = 17
    PLAY_SAMPLE = 18
    REMOVE_SAMPLE = 19
    GET_SERVER_INFO = 20
    GET_SINK_INFO = 21
    GET_SINK_INFO_LIST = 22
    GET_SOURCE_INFO = 23
    GET_SOURCE_INFO_LIST = 24
    GET_MODULE_INFO = 25
    GET_MODULE_INFO_LIST = 26
    GET_CLIENT_INFO = 27
    GET_CLIENT_INFO_LIST = 28
    GET_SINK_INPUT_INFO = 29
    GET_SINK_INPUT_INFO_LIST = 30
    GET_SOURCE_OUTPUT_INFO = 31
    GET_SOURCE_OUTPUT_INFO_LIST = 32
    GET_SAMPLE_INFO = 33
    GET_SAMPLE_INFO_LIST = 34
    SUBSCRIBE = 35
    SET_SINK_VOLUME = 36
    SET_SINK_INPUT_VOLUME = 37
    SET_SOURCE_VOLUME = 38
    SET_SINK_MUTE = 39
    SET_SOURCE_MUTE = 40
    CORK_PLAYBACK_STREAM = 41
    FLUSH_PLAYBACK_STREAM = 42
    TRIGGER_PLAYBACK_STREAM = 43
    SET_DEFAULT_SINK = 44
    SET_DEFAULT_SOURCE = 45
    SET_PLAYBACK_STREAM_NAME = 46
    SET_RECORD_STREAM_NAME = 47
    KILL_CLIENT = 48
    KILL_SINK_INPUT = 49
    KILL_SOURCE_OUTPUT = 50
    LOAD_MODULE = 51
    UNLOAD_MODULE = 52
    ADD_AUTOLOAD___OBSOLETE = 53
    REMOVE_AUTOLOAD___OBSOLETE = 54
    GET_AUTOLOAD_INFO___OBSOLETE = 55
    GET_AUTOLOAD_INFO_LIST___OBSOLETE = 56
    GET_RECORD_LATENCY = 57
    CORK_RECORD_STREAM = 58
    FLUSH_RECORD_STREAM = 59
    PREBUF_PLAYBACK_STREAM = 60
    REQUEST = 61
    OVERFLOW = 62
    UNDERFLOW = 63
    PLAYBACK_STREAM_KILLED = 64
    RECORD_STREAM_KILLED = 65
    SUBSCRIBE_EVENT = 66
    MOVE_SINK_INPUT = 67
    MOVE_SOURCE_OUTPUT = 68
    SET_SINK_INPUT_MUTE = 69
    SUSPEND_SINK = 70
    SUSPEND_SOURCE = 71
    SET_PLAYBACK_STREAM_BUFFER_ATTR = 72
    SET_RECORD_STREAM_BUFFER_ATTR = 73
    UPDATE_PLAYBACK_STREAM_SAMPLE_RATE = 74
    UPDATE_RECORD_STREAM_SAMPLE_RATE = 75
    PLAYBACK_STREAM_SUSPENDED = 76
    RECORD_STREAM_SUSPENDED = 77
    PLAYBACK_STREAM_MOVED = 78
    RECORD_STREAM_MOVED = 79
    UPDATE_RECORD_STREAM_PROPLIST = 80
    UPDATE_PLAYBACK_STREAM_PROPLIST = 81
    UPDATE_CLIENT_PROPLIST = 82
    REMOVE_RECORD_STREAM_PROPLIST = 83
    REMOVE_PLAYBACK_STREAM_PROPLIST = 84
    REMOVE_CLIENT_PROPLIST = 85
    STARTED = 86
    EXTENSION = 87
    GET_CARD_INFO = 88
    GET_CARD_INFO_LIST = 89
    SET_CARD_PROFILE = 90
    CLIENT_EVENT = 91
    PLAYBACK_STREAM_EVENT = 92
    RECORD_STREAM_EVENT = 93
    PLAYBACK_BUFFER_ATTR_CHANGED = 94
    RECORD_BUFFER_ATTR_CHANGED = 95
    SET_SINK_PORT = 96
    SET_SOURCE_PORT = 97
    SET_SOURCE_OUTPUT_VOLUME = 98
    SET_SOURCE_OUTPUT_MUTE = 99
    SET_PORT_LATENCY_OFFSET = 100
    ENABLE_SRBCHANNEL = 101
    DISABLE_SRBCHANNEL = 102
    REGISTER_MEMFD_SHMID = 103
    SEND_OBJECT_MESSAGE = 104


COMMAND_COUNT = len(Command)  # PA_COMMAND_MAX


def command_name(number: int) -> str:
    """A name for logs: the enum's, or the number of an unknown command."""
    try:
        return Command(number).name
    except ValueError:
        return f"unknown command {number}"
