"""The tagstruct: the self-describing value sequence every native-protocol packet carries.

Each value is a one-byte tag and its payload (big-endian integers). The decoder accepts
exactly what PulseAudio's src/pulsecore/tagstruct.c accepts (NUL-terminated strings,
at most 32 channels, proplist keys in ASCII, proplist values of at most 64 KiB whose
declared length matches) and raises ``TagstructError`` on anything else; the encoder
writes the one canonical form, so ``encode(decode(b)) == b`` for every valid ``b``.
"""
from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["TagstructError", "U32", "U8", "U64", "S64", "Usec", "Volume", "String", "Arbitrary", "Boolean",
           "SampleSpec", "Timeval", "ChannelMap", "CVolume", "Proplist", "FormatInfo", "Value", "decode", "encode",
           "peek_command", "CHANNELS_MAX", "PROP_VALUE_MAX"]

CHANNELS_MAX = 32  # PA_CHANNELS_MAX
PROP_VALUE_MAX = 64 * 1024  # MAX_TAG_SIZE: the largest proplist value

_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_S64 = struct.Struct(">q")
_SAMPLE_SPEC = struct.Struct(">BBI")
_TIMEVAL = struct.Struct(">II")


class TagstructError(ValueError):
    """The bytes are not a valid tagstruct (the message says where and why)."""


@dataclass(frozen=True, slots=True)
class U32:
    value: int


@dataclass(frozen=True, slots=True)
class U8:
    value: int


@dataclass(frozen=True, slots=True)
class U64:
    value: int


@dataclass(frozen=True, slots=True)
class S64:
    value: int


@dataclass(frozen=True, slots=True)
class Usec:
    value: int


@dataclass(frozen=True, slots=True)
class Volume:
    value: int


@dataclass(frozen=True, slots=True)
class String:
    """``None`` is the NULL string (its own tag); text is kept as bytes, never decoded."""

    value: bytes | None


@dataclass(frozen=True, slots=True)
class Arbitrary:
    data: bytes


@dataclass(frozen=True, slots=True)
class Boolean:
    value: bool


@dataclass(frozen=True, slots=True)
class SampleSpec:
    format: int
    channels: int
    rate: int


@dataclass(frozen=True, slots=True)
class Timeval:
    sec: int
    usec: int


@dataclass(frozen=True, slots=True)
class ChannelMap:
    positions: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class CVolume:
    values: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Proplist:
    """Key/value pairs in wire order; keys are ASCII, values raw bytes."""

    items: tuple[tuple[str, bytes], ...]

    def get(self, key: str) -> bytes | None:
        return next((value for k, value in self.items if k == key), None)


@dataclass(frozen=True, slots=True)
class FormatInfo:
    encoding: int
    props: Proplist


Value = (U32 | U8 | U64 | S64 | Usec | Volume | String | Arbitrary | Boolean | SampleSpec | Timeval | ChannelMap
         | CVolume | Proplist | FormatInfo)

# -- decoding -------------------------------------------------------------------------------


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, count: int) -> bytes:
        end = self.pos + count
        if end > len(self.data):
            raise TagstructError(f"truncated at byte {self.pos} (needs {count} more)")
        chunk = self.data[self.pos:end]
        self.pos = end
        return chunk

    def tag(self) -> int:
        return self.take(1)[0]

    def expect(self, tag: bytes) -> None:
        found = self.tag()
        if found != tag[0]:
            raise TagstructError(f"expected {tag!r} at byte {self.pos - 1}, found {bytes([found])!r}")

    def u32(self) -> int:
        return int(_U32.unpack(self.take(4))[0])

    def cstring(self) -> bytes:
        end = self.data.find(b"\0", self.pos)
        if end < 0:
            raise TagstructError(f"string at byte {self.pos} has no terminating NUL")
        text = self.data[self.pos:end]
        self.pos = end + 1
        return text


def _string(r: _Reader) -> bytes | None:
    tag = r.tag()
    if tag == ord("N"):
        return None
    if tag != ord("t"):
        raise TagstructError(f"expected a string at byte {r.pos - 1}")
    return r.cstring()


def _proplist_body(r: _Reader) -> Proplist:
    items: list[tuple[str, bytes]] = []
    while True:
        key = _string(r)
        if key is None:
            return Proplist(tuple(items))
        if not key or not key.isascii():
            raise TagstructError(f"proplist key {key!r} is not a non-empty ASCII name")
        r.expect(b"L")
        length = r.u32()
        if length > PROP_VALUE_MAX:
            raise TagstructError(f"proplist value of {length} bytes (at most {PROP_VALUE_MAX})")
        r.expect(b"x")
        if r.u32() != length:
            raise TagstructError("proplist value length does not match its declared length")
        items.append((key.decode("ascii"), r.take(length)))


def _channels(r: _Reader) -> int:
    count = r.take(1)[0]
    if count > CHANNELS_MAX:
        raise TagstructError(f"{count} channels (at most {CHANNELS_MAX})")
    return count


def _one(r: _Reader) -> Value:  # noqa: C901 - one branch per tag, as in tagstruct.c
    tag = chr(r.data[r.pos])
    if tag in "tN":
        return String(_string(r))
    r.pos += 1
    if tag == "L":
        return U32(r.u32())
    if tag == "B":
        return U8(r.take(1)[0])
    if tag == "R":
        return U64(int(_U64.unpack(r.take(8))[0]))
    if tag == "r":
        return S64(int(_S64.unpack(r.take(8))[0]))
    if tag == "U":
        return Usec(int(_U64.unpack(r.take(8))[0]))
    if tag == "V":
        return Volume(r.u32())
    if tag in "10":
        return Boolean(tag == "1")
    if tag == "x":
        return Arbitrary(r.take(r.u32()))
    if tag == "a":
        fmt, channels, rate = _SAMPLE_SPEC.unpack(r.take(_SAMPLE_SPEC.size))
        return SampleSpec(int(fmt), int(channels), int(rate))
    if tag == "T":
        sec, usec = _TIMEVAL.unpack(r.take(_TIMEVAL.size))
        return Timeval(int(sec), int(usec))
    if tag == "m":
        return ChannelMap(tuple(r.take(_channels(r))))
    if tag == "v":
        count = _channels(r)
        return CVolume(tuple(int(v) for v in struct.unpack(f">{count}I", r.take(4 * count))))
    if tag == "P":
        return _proplist_body(r)
    if tag == "f":
        r.expect(b"B")
        encoding = r.take(1)[0]
        r.expect(b"P")
        return FormatInfo(encoding, _proplist_body(r))
    raise TagstructError(f"unknown tag {tag!r} at byte {r.pos - 1}")


def decode(data: bytes) -> list[Value]:
    """Every value of a packet's tagstruct, or ``TagstructError``."""
    r = _Reader(bytes(data))
    values: list[Value] = []
    while r.pos < len(r.data):
        values.append(_one(r))
    return values


_PEEK = struct.Struct(">xIxI")


def peek_command(data: bytes, offset: int = 0) -> tuple[int, int] | None:
    """The command number and tag of the packet at ``offset`` without decoding the rest."""
    if len(data) < offset + 10 or data[offset] != 0x4C or data[offset + 5] != 0x4C:  # 'L'
        return None
    command, tag = _PEEK.unpack_from(data, offset)
    return int(command), int(tag)


# -- encoding -------------------------------------------------------------------------------


def _put_string(out: bytearray, value: bytes | None) -> None:
    if value is None:
        out += b"N"
        return
    if b"\0" in value:
        raise TagstructError("a string cannot contain NUL")
    out += b"t" + value + b"\0"


def _put_proplist(out: bytearray, props: Proplist) -> None:
    out += b"P"
    for key, value in props.items:
        _put_string(out, key.encode("ascii"))
        out += b"L" + _U32.pack(len(value)) + b"x" + _U32.pack(len(value)) + value
    out += b"N"


def _put(out: bytearray, v: Value) -> None:  # noqa: C901 - one branch per tag
    if isinstance(v, String):
        _put_string(out, v.value)
    elif isinstance(v, U32):
        out += b"L" + _U32.pack(v.value)
    elif isinstance(v, U8):
        out += b"B" + bytes([v.value])
    elif isinstance(v, U64):
        out += b"R" + _U64.pack(v.value)
    elif isinstance(v, S64):
        out += b"r" + _S64.pack(v.value)
    elif isinstance(v, Usec):
        out += b"U" + _U64.pack(v.value)
    elif isinstance(v, Volume):
        out += b"V" + _U32.pack(v.value)
    elif isinstance(v, Boolean):
        out += b"1" if v.value else b"0"
    elif isinstance(v, Arbitrary):
        out += b"x" + _U32.pack(len(v.data)) + v.data
    elif isinstance(v, SampleSpec):
        out += b"a" + _SAMPLE_SPEC.pack(v.format, v.channels, v.rate)
    elif isinstance(v, Timeval):
        out += b"T" + _TIMEVAL.pack(v.sec, v.usec)
    elif isinstance(v, ChannelMap):
        out += b"m" + bytes([len(v.positions), *v.positions])
    elif isinstance(v, CVolume):
        out += b"v" + bytes([len(v.values)]) + struct.pack(f">{len(v.values)}I", *v.values)
    elif isinstance(v, Proplist):
        _put_proplist(out, v)
    else:
        out += b"fB" + bytes([v.encoding])
        _put_proplist(out, v.props)


def encode(values: Iterable[Value]) -> bytes:
    """The canonical bytes of ``values`` (``struct.error``/``TagstructError`` for out-of-range input)."""
    out = bytearray()
    for value in values:
        _put(out, value)
    return bytes(out)
