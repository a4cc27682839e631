"""The terminal filter: known attacks, split reads, bounds, and hypothesis properties."""
from __future__ import annotations

import os
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spotidoctor.hardening.terminal import MAX_PENDING, TerminalFilter, filter_bytes, relay

PROPS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ESC = "\x1b"


def run(chunks: list[bytes]) -> bytes:
    filt = TerminalFilter()
    return b"".join(filt.feed(c) for c in chunks) + filt.finish()


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


def unsafe(text: str) -> list[str]:
    """Characters a terminal would act on (C0 but \\t \\n, DEL, C1)."""
    return [c for c in text if (ord(c) < 0x20 and c not in "\t\n") or 0x7F <= ord(c) <= 0x9F]


@pytest.mark.parametrize(("raw", "shown"), [
    (f"{ESC}]52;c;ZXZpbCBjb21tYW5k\x07after", "after"),  # OSC 52 clipboard write, BEL
    (f"{ESC}]52;c;ZXZpbA=={ESC}\\after", "after"),  # ... with ST
    (f"{ESC}]0;fake title\x07{ESC}]2;another{ESC}\\text", "text"),  # window titles
    (f"{ESC}[31mred{ESC}[0m plain", "red plain"),  # SGR colours
    (f"line1{ESC}[1A{ESC}[2K{ESC}[Gspoofed", "line1spoofed"),  # cursor up, erase line
    (f"{ESC}[?1049h{ESC}[?25l{ESC}[6n", ""),  # alt screen, hide cursor, cursor report query
    (f"{ESC}P+q544e\x07{ESC}Pdcs{ESC}\\x", "x"),  # DCS (termcap query)
    (f"{ESC}_apc{ESC}\\{ESC}^pm{ESC}\\{ESC}Xsos{ESC}\\y", "y"),  # APC, PM, SOS
    (f"{ESC}(B{ESC}c{ESC}#8{ESC}7{ESC}8z", "z"),  # charset, reset, DECALN, save/restore
    ("a\x9b31mb\x9d0;t\x9cc", "abc"),  # C1 as UTF-8 (CSI, OSC .. ST)
    ("tab\there\nnext", "tab\there\nnext"),
    ("bell\x07 bs\x08 nul\x00 del\x7f vt\x0b ff\x0c so\x0e", "bell bs nul del vt ff so"),
    ("crlf\r\nlone\rend\r", "crlf\nlone\nend\n"),
    (f"bare{ESC}", "bare"),
    (f"{ESC}{ESC}[1mx{ESC}\n", "x\n"),
    (f"{ESC}]8;;http://evil{ESC}\\link{ESC}]8;;{ESC}\\", "link"),  # hyperlink
    (f"{ESC}]unterminated\nnext line", "\nnext line"),  # a newline ends a stray string
    (f"{ESC}[12\x07x", "x"),  # malformed CSI: dropped up to the control
    ("héllo wörld ✓ 日本 🎵", "héllo wörld ✓ 日本 🎵"),
])
def test_known_sequences(raw: str, shown: str) -> None:
    assert filter_bytes(raw.encode()) == shown.encode()


def test_raw_8bit_c1_and_invalid_utf8() -> None:
    assert filter_bytes(b"a\x9b31mb\x9d0;title\x07c\x85d") == b"abcd"
    assert filter_bytes(b"bad \xff\xfe byte \xc3(") == "bad \ufffd\ufffd byte \ufffd(".encode()


def test_every_split_of_an_osc52_write_is_removed() -> None:
    data = f"before{ESC}]52;c;{'QUJD' * 50}{ESC}\\after\r\n{ESC}[1;31mX{ESC}[m".encode()
    for cut in range(len(data) + 1):
        assert run([data[:cut], data[cut:]]) == b"beforeafter\nX", cut
    assert run([bytes([b]) for b in data]) == b"beforeafter\nX"  # one byte per read


def test_utf8_split_across_reads() -> None:
    data = "ä✓🎵".encode() + b"\xc2\x9b1m!"  # the last: CSI 1 m as UTF-8 C1
    assert run([bytes([b]) for b in data]) == "ä✓🎵!".encode()


def test_unterminated_osc_is_skipped_without_storing_it() -> None:
    filt = TerminalFilter(max_string=1000)
    assert filt.feed(f"ok{ESC}]52;c;".encode()) == b"ok"
    for _ in range(5):
        assert filt.feed(b"A" * 100) == b""  # skipped, not buffered
    assert filt.feed(b"B" * 600) == b""
    assert filt.feed(b"CC") == b"CC"  # past max_string: abandoned, inert text again
    assert filt._pending == "" and filt.finish() == b""


def test_incomplete_sequence_pending_is_bounded() -> None:
    filt = TerminalFilter()
    assert filt.feed(f"{ESC}[{'1;' * 500}".encode()) == b""  # longer than any real CSI
    assert len(filt._pending) <= MAX_PENDING
    assert filt.feed(b"mtext") == b"mtext"  # its end shows as inert text


def test_finish_drops_an_incomplete_sequence() -> None:
    filt = TerminalFilter()
    assert filt.feed(b"x\x1b[3") == b"x" and filt.finish() == b""
    filt = TerminalFilter()
    assert filt.feed(b"\xe2\x9c") == b"" and filt.finish() == "\ufffd".encode()


def test_relay_between_file_descriptors() -> None:
    src_r, src_w = os.pipe()
    dst_r, dst_w = os.pipe()
    payload = f"hi{ESC}]52;c;eA==\x07 there\n".encode() * 100
    os.write(src_w, payload)
    os.close(src_w)
    assert relay(src_r, dst_w, chunk=7) == len(payload)
    os.close(dst_w)
    out = b""
    while chunk := os.read(dst_r, 65536):
        out += chunk
    os.close(src_r)
    os.close(dst_r)
    assert out == b"hi there\n" * 100


# -- properties -------------------------------------------------------------------------------------

INTERESTING = [b"\x1b", b"[", b"]", b"\\", b"P", b"_", b"^", b"X", b"(", b"#", b"0", b"1", b";", b"?", b"m",
               b"52", b"c;", b"\x07", b"\x9b", b"\x9c", b"\x9d", b"\xc2\x9b", b"\xc2\x9c", b"\xc2\x9d", b"\r", b"\n",
               b"\t", b"\x00", b"\x08", b"\x7f", b"\x18", b"a", "é".encode(), "🎵".encode(), b"\xe2", b"\xff"]
nasty = st.lists(st.one_of(st.sampled_from(INTERESTING), st.binary(max_size=4)), max_size=60).map(b"".join)
cuts = st.lists(st.integers(min_value=0, max_value=10_000), max_size=8)
PLAIN = st.characters(blacklist_categories=("Cs",), blacklist_characters=[
    chr(c) for c in (*range(0x00, 0x20), *range(0x7F, 0xA0)) if chr(c) not in "\t\n"])


@PROPS
@given(nasty, cuts)
def test_output_never_carries_escape_or_control(data: bytes, where: list[int]) -> None:
    out = run(split(data, where)).decode("utf-8")  # valid UTF-8, always
    assert unsafe(out) == []


@PROPS
@given(st.binary(max_size=200), cuts)
def test_arbitrary_bytes_are_safe_too(data: bytes, where: list[int]) -> None:
    assert unsafe(run(split(data, where)).decode("utf-8")) == []


@PROPS
@given(st.text(alphabet=PLAIN, max_size=300), cuts)
def test_plain_text_passes_unchanged(text: str, where: list[int]) -> None:
    data = text.encode("utf-8")
    assert run(split(data, where)) == data


@PROPS
@given(nasty.filter(lambda d: len(d) <= MAX_PENDING), cuts)
def test_reads_split_anywhere_give_the_same_output(data: bytes, where: list[int]) -> None:
    assert run(split(data, where)) == filter_bytes(data)


def test_large_random_stream_is_safe() -> None:
    rng = random.Random(1)
    data = bytes(rng.getrandbits(8) for _ in range(200_000))
    out = run([data[i:i + 4093] for i in range(0, len(data), 4093)])
    assert unsafe(out.decode("utf-8")) == []
