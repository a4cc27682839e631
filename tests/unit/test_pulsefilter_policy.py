"""The audio filter's policy table: every command number decided on purpose, and the proplist sanitiser."""
from __future__ import annotations

import pytest

from spotidoctor.channels.pulse.policy import (
    CLIENT_RULES,
    SERVER_ENDS,
    Rule,
    reason_for,
    rule_for,
    sanitize_proplist,
)
from spotidoctor.channels.pulse.protocol import COMMAND_COUNT, Command, command_name
from spotidoctor.channels.pulse.tagstruct import Proplist

# PulseAudio's src/pulsecore/native-common.h, in order (PA_COMMAND_ stripped); PipeWire's
# module-protocol-pulse/commands.h has the same list. A new protocol version adds names here.
NATIVE_COMMON_H = (
    "ERROR TIMEOUT REPLY CREATE_PLAYBACK_STREAM DELETE_PLAYBACK_STREAM CREATE_RECORD_STREAM DELETE_RECORD_STREAM EXIT "
    "AUTH SET_CLIENT_NAME LOOKUP_SINK LOOKUP_SOURCE DRAIN_PLAYBACK_STREAM STAT GET_PLAYBACK_LATENCY "
    "CREATE_UPLOAD_STREAM DELETE_UPLOAD_STREAM FINISH_UPLOAD_STREAM PLAY_SAMPLE REMOVE_SAMPLE GET_SERVER_INFO "
    "GET_SINK_INFO GET_SINK_INFO_LIST GET_SOURCE_INFO GET_SOURCE_INFO_LIST GET_MODULE_INFO GET_MODULE_INFO_LIST "
    "GET_CLIENT_INFO GET_CLIENT_INFO_LIST GET_SINK_INPUT_INFO GET_SINK_INPUT_INFO_LIST GET_SOURCE_OUTPUT_INFO "
    "GET_SOURCE_OUTPUT_INFO_LIST GET_SAMPLE_INFO GET_SAMPLE_INFO_LIST SUBSCRIBE SET_SINK_VOLUME SET_SINK_INPUT_VOLUME "
    "SET_SOURCE_VOLUME SET_SINK_MUTE SET_SOURCE_MUTE CORK_PLAYBACK_STREAM FLUSH_PLAYBACK_STREAM "
    "TRIGGER_PLAYBACK_STREAM SET_DEFAULT_SINK SET_DEFAULT_SOURCE SET_PLAYBACK_STREAM_NAME SET_RECORD_STREAM_NAME "
    "KILL_CLIENT KILL_SINK_INPUT KILL_SOURCE_OUTPUT LOAD_MODULE UNLOAD_MODULE ADD_AUTOLOAD___OBSOLETE "
    "REMOVE_AUTOLOAD___OBSOLETE GET_AUTOLOAD_INFO___OBSOLETE GET_AUTOLOAD_INFO_LIST___OBSOLETE GET_RECORD_LATENCY "
    "CORK_RECORD_STREAM FLUSH_RECORD_STREAM PREBUF_PLAYBACK_STREAM REQUEST OVERFLOW UNDERFLOW PLAYBACK_STREAM_KILLED "
    "RECORD_STREAM_KILLED SUBSCRIBE_EVENT MOVE_SINK_INPUT MOVE_SOURCE_OUTPUT SET_SINK_INPUT_MUTE SUSPEND_SINK "
    "SUSPEND_SOURCE SET_PLAYBACK_STREAM_BUFFER_ATTR SET_RECORD_STREAM_BUFFER_ATTR UPDATE_PLAYBACK_STREAM_SAMPLE_RATE "
    "UPDATE_RECORD_STREAM_SAMPLE_RATE PLAYBACK_STREAM_SUSPENDED RECORD_STREAM_SUSPENDED PLAYBACK_STREAM_MOVED "
    "RECORD_STREAM_MOVED UPDATE_RECORD_STREAM_PROPLIST UPDATE_PLAYBACK_STREAM_PROPLIST UPDATE_CLIENT_PROPLIST "
    "REMOVE_RECORD_STREAM_PROPLIST REMOVE_PLAYBACK_STREAM_PROPLIST REMOVE_CLIENT_PROPLIST STARTED EXTENSION "
    "GET_CARD_INFO GET_CARD_INFO_LIST SET_CARD_PROFILE CLIENT_EVENT PLAYBACK_STREAM_EVENT RECORD_STREAM_EVENT "
    "PLAYBACK_BUFFER_ATTR_CHANGED RECORD_BUFFER_ATTR_CHANGED SET_SINK_PORT SET_SOURCE_PORT SET_SOURCE_OUTPUT_VOLUME "
    "SET_SOURCE_OUTPUT_MUTE SET_PORT_LATENCY_OFFSET ENABLE_SRBCHANNEL DISABLE_SRBCHANNEL REGISTER_MEMFD_SHMID "
    "SEND_OBJECT_MESSAGE"
).split()

REFUSED = ("LOAD_MODULE UNLOAD_MODULE SET_DEFAULT_SINK SET_DEFAULT_SOURCE MOVE_SINK_INPUT MOVE_SOURCE_OUTPUT "
           "KILL_CLIENT KILL_SINK_INPUT KILL_SOURCE_OUTPUT SET_SINK_VOLUME SET_SINK_MUTE SET_SOURCE_VOLUME "
           "SET_SOURCE_MUTE SET_CARD_PROFILE SET_SINK_PORT SET_SOURCE_PORT SUSPEND_SINK SUSPEND_SOURCE "
           "CREATE_UPLOAD_STREAM PLAY_SAMPLE REMOVE_SAMPLE CREATE_RECORD_STREAM EXTENSION SEND_OBJECT_MESSAGE "
           "REGISTER_MEMFD_SHMID ENABLE_SRBCHANNEL DISABLE_SRBCHANNEL EXIT GET_MODULE_INFO GET_MODULE_INFO_LIST "
           "GET_CLIENT_INFO GET_CLIENT_INFO_LIST GET_SOURCE_OUTPUT_INFO_LIST").split()
PLAYER = {
    Rule.AUTH: ["AUTH"],
    Rule.ALLOW: ["SET_CLIENT_NAME", "GET_SERVER_INFO", "GET_SINK_INFO", "GET_SINK_INFO_LIST", "GET_SOURCE_INFO_LIST",
                 "SUBSCRIBE", "LOOKUP_SINK", "UPDATE_CLIENT_PROPLIST"],
    Rule.CREATE_PLAYBACK: ["CREATE_PLAYBACK_STREAM"],
    Rule.OWN_STREAM: ["DELETE_PLAYBACK_STREAM", "DRAIN_PLAYBACK_STREAM", "CORK_PLAYBACK_STREAM",
                      "FLUSH_PLAYBACK_STREAM", "TRIGGER_PLAYBACK_STREAM", "PREBUF_PLAYBACK_STREAM",
                      "GET_PLAYBACK_LATENCY", "SET_PLAYBACK_STREAM_NAME", "SET_PLAYBACK_STREAM_BUFFER_ATTR",
                      "UPDATE_PLAYBACK_STREAM_SAMPLE_RATE", "UPDATE_PLAYBACK_STREAM_PROPLIST"],
    Rule.OWN_SINK_INPUT: ["SET_SINK_INPUT_VOLUME", "SET_SINK_INPUT_MUTE", "GET_SINK_INPUT_INFO"],
    Rule.LIST_OWN_SINK_INPUTS: ["GET_SINK_INPUT_INFO_LIST"],
}


def test_the_command_numbers_are_pulseaudios() -> None:
    assert [c.name for c in Command] == NATIVE_COMMON_H
    assert [c.value for c in Command] == list(range(len(NATIVE_COMMON_H)))
    assert COMMAND_COUNT == 105


def test_every_command_number_is_classified_with_a_reason() -> None:
    unclassified = [c.name for c in Command if c not in CLIENT_RULES]
    assert not unclassified, f"decide these commands in policy.CLIENT_RULES: {unclassified}"
    assert all(isinstance(rule, Rule) and len(why) > 5 for rule, why in CLIENT_RULES.values())


@pytest.mark.parametrize("name", REFUSED)
def test_what_changes_the_server_or_other_programs_is_refused(name: str) -> None:
    assert rule_for(Command[name]) is Rule.REFUSE


@pytest.mark.parametrize("rule, name", [(rule, name) for rule, names in PLAYER.items() for name in names])
def test_what_a_player_needs_passes(rule: Rule, name: str) -> None:
    assert rule_for(Command[name]) is rule


def test_server_to_client_commands_and_unknown_numbers_are_refused_from_a_client() -> None:
    for name in ("REQUEST", "UNDERFLOW", "SUBSCRIBE_EVENT", "STARTED", "PLAYBACK_STREAM_KILLED", "REPLY", "ERROR"):
        assert rule_for(Command[name]) is Rule.REFUSE
    for number in (COMMAND_COUNT, COMMAND_COUNT + 1, 4096, 2**32 - 1):
        assert rule_for(number) is Rule.REFUSE
        assert reason_for(number) == "an unknown command"
        assert command_name(number) == f"unknown command {number}"


def test_the_server_may_never_set_up_shared_memory() -> None:
    assert {c.name for c in SERVER_ENDS} == {"ENABLE_SRBCHANNEL", "DISABLE_SRBCHANNEL", "REGISTER_MEMFD_SHMID"}


def test_only_descriptive_proplist_keys_survive() -> None:
    props = Proplist((
        ("application.name", b"Spotify\0"), ("application.process.binary", b"spotify\0"), ("media.name", b"Song\0"),
        ("media.role", b"music\0"), ("window.x11.display", b":0\0"),
        ("filter.apply", b"ladspa-sink\0"), ("filter.apply.ladspa-sink.parameters", b"plugin=/tmp/x.so label=x\0"),
        ("filter.want", b"echo-cancel\0"), ("module-stream-restore.id", b"sink-input-by-application-name:Firefox\0"),
        ("media.class", b"Audio/Sink\0"), ("node.name", b"x\0"), ("target.object", b"y\0"),
        ("pipewire.access", b"unrestricted\0"), ("client.access", b"unrestricted\0"), ("media.category", b"Manager\0"),
    ))
    kept, dropped = sanitize_proplist(props)
    assert [k for k, _ in kept.items] == ["application.name", "application.process.binary", "media.name",
                                          "media.role", "window.x11.display"]
    assert set(dropped) == {k for k, _ in props.items} - {k for k, _ in kept.items}


def test_the_phone_role_is_dropped_other_roles_stay() -> None:
    assert sanitize_proplist(Proplist((("media.role", b"phone\0"),))) == (Proplist(()), ("media.role",))
    untouched = Proplist((("media.role", b"video\0"),))
    assert sanitize_proplist(untouched) == (untouched, ())
