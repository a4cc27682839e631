"""The tagstruct codec of the audio filter: byte-exact against PulseAudio's encoding, round trips,
and nothing but ``TagstructError`` for any other input."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spotidoctor.channels.pulse.tagstruct import (
    S64,
    U8,
    U32,
    U64,
    Arbitrary,
    Boolean,
    ChannelMap,
    CVolume,
    FormatInfo,
    Proplist,
    SampleSpec,
    String,
    TagstructError,
    Timeval,
    Usec,
    Value,
    Volume,
    decode,
    encode,
    peek_command,
)

u32 = st.integers(0, 2**32 - 1)
u8 = st.integers(0, 255)
keys = st.text(st.characters(min_codepoint=1, max_codepoint=127), min_size=1, max_size=20)
proplists = st.builds(Proplist, st.lists(st.tuples(keys, st.binary(max_size=64)), max_size=4).map(tuple))
values: st.SearchStrategy[Value] = st.one_of(
    st.builds(U32, u32), st.builds(U8, u8), st.builds(U64, st.integers(0, 2**64 - 1)),
    st.builds(S64, st.integers(-(2**63), 2**63 - 1)), st.builds(Usec, st.integers(0, 2**64 - 1)),
    st.builds(Volume, u32), st.builds(String, st.none() | st.binary(max_size=40).map(lambda b: b.replace(b"\0", b""))),
    st.builds(Arbitrary, st.binary(max_size=300)), st.builds(Boolean, st.booleans()),
    st.builds(SampleSpec, u8, u8, u32), st.builds(Timeval, u32, u32),
    st.builds(ChannelMap, st.lists(u8, max_size=32).map(tuple)),
    st.builds(CVolume, st.lists(u32, max_size=32).map(tuple)),
    proplists, st.builds(FormatInfo, u8, proplists),
)


def test_bytes_as_pulseaudio_writes_them() -> None:
    # pa_tagstruct_putu32(AUTH=8), putu32(tag 1), putu32(version), put_arbitrary(cookie), puts, puts(NULL),
    # put_boolean, put_proplist({"a": "b\0"}), put_sample_spec(s16le=3, 2ch, 44100)
    data = encode([U32(8), U32(1), U32(35), Arbitrary(b"\x01\x02"), String(b"hi"), String(None), Boolean(True),
                   Proplist((("a", b"b\0"),)), SampleSpec(3, 2, 44100)])
    assert data == (b"L\0\0\0\x08" b"L\0\0\0\x01" b"L\0\0\0\x23" b"x\0\0\0\x02\x01\x02" b"thi\0" b"N" b"1"
                    b"Pta\0L\0\0\0\x02x\0\0\0\x02b\0N" b"a\x03\x02\0\0\xac\x44")


@given(st.lists(values, max_size=12))
@settings(max_examples=300, deadline=None)
def test_encode_then_decode_round_trips(items: list[Value]) -> None:
    assert decode(encode(items)) == items


@given(st.binary(max_size=200))
@settings(max_examples=500, deadline=None)
def test_any_bytes_decode_or_raise_tagstruct_error_and_valid_ones_are_canonical(data: bytes) -> None:
    try:
        decoded = decode(data)
    except TagstructError:
        return
    assert encode(decoded) == data


@given(st.lists(values, min_size=1, max_size=6), st.data())
@settings(max_examples=200, deadline=None)
def test_every_truncation_is_an_error(items: list[Value], data: st.DataObject) -> None:
    whole = encode(items)
    cut = data.draw(st.integers(0, len(whole) - 1))
    try:
        decode(whole[:cut])
    except TagstructError:
        return
    # A cut exactly between two values is a shorter valid tagstruct.
    assert encode(decode(whole[:cut])) == whole[:cut]


@pytest.mark.parametrize("data, why", [
    (b"thi", "no terminating NUL"),
    (b"L\0\0", "truncated"),
    (b"m\x21" + bytes(33), "channels"),
    (b"v\x21" + bytes(4 * 33), "channels"),
    (b"Pt\xc3\xa9\0L\0\0\0\x01x\0\0\0\x01aN", "ASCII"),
    (b"Pt\0L\0\0\0\x01x\0\0\0\x01aN", "ASCII"),
    (b"Pta\0L\0\0\0\x02x\0\0\0\x01aN", "does not match"),
    (b"Pta\0L\0\x01\0\x01x\0\x01\0\x01" + bytes(65537) + b"N", "at most"),
    (b"Z", "unknown tag"),
    (b"fL", "expected"),
])
def test_malformed_input_names_the_problem(data: bytes, why: str) -> None:
    with pytest.raises(TagstructError, match=why):
        decode(data)


def test_peek_reads_command_and_tag_only() -> None:
    assert peek_command(encode([U32(61), U32(0xFFFFFFFF), String(b"rest")])) == (61, 0xFFFFFFFF)
    assert peek_command(encode([String(b"no"), U32(1)])) is None
    assert peek_command(b"L\0\0\0") is None


def test_strings_stay_bytes_and_cannot_hold_nul() -> None:
    assert decode(b"t\xff\xfe\0") == [String(b"\xff\xfe")]
    with pytest.raises(TagstructError):
        encode([String(b"a\0b")])
