"""The Chromium/CEF log parser: prefix shapes, k8s-file records, signatures, fast scans."""
from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spotidoctor.crash.cef import CefFacts, cef_facts, scan_cef_binary
from spotidoctor.crash.lines import (
    ChromiumLine,
    K8sRecord,
    find_chromium,
    parse_chromium,
    parse_journal,
    parse_k8s,
    parse_log_time,
    parse_timestamped,
)
from spotidoctor.crash.scan import (
    MAX_LINE,
    LogLine,
    ScanResult,
    Wrapper,
    _Assembler,
    scan_chunks,
    scan_file,
    scan_lines,
    split_lines,
)
from spotidoctor.crash.signatures import classify
from spotidoctor.errors import ParseError

DATA = Path(__file__).resolve().parent.parent / "data"
CORPUS = (DATA / "crash_lines.txt").read_text().splitlines()


def line(n: int) -> str:
    """Line ``n`` (1-based) of tests/data/crash_lines.txt."""
    return CORPUS[n - 1]


# (corpus line, pid, tid, stamp, tick, level, basename, line_no, signatures)
PREFIX_TABLE = [
    pytest.param(1, None, None, "1103/173130.577407", None, "FATAL", "memory.cc", 40, ["oom_terminate"],
                 id="spotify-report"),
    pytest.param(2, 871, None, "0729/021001.695932", None, "FATAL", "memory.cc", 22, ["oom_terminate"],
                 id="electron-pid"),
    pytest.param(4, 778, 7, "0131/235140.910186", None, "FATAL", "memory.cc", 22, ["oom_terminate"], id="pid-tid"),
    pytest.param(5, 494, 502, "0131/235140.848732", None, "ERROR", "broker_posix.cc", 46, ["mojo_broker"],
                 id="mojo-broker"),
    pytest.param(7, None, None, "1001/063931.123", None, "FATAL", "memory.cc", 37, ["oom_terminate"],
                 id="wrapped-pid-err-millis"),
    pytest.param(8, 1751, None, "0807/130420.357593", None, "FATAL", "memory.cc", 22, ["oom_terminate"],
                 id="wrapped-clock"),
    pytest.param(9, None, None, "0308/100041.534245", None, "ERROR", "gles2_cmd_decoder.cc", 2664, [],
                 id="gl-noise"),
    pytest.param(10, None, None, "1124/005004", None, "ERROR", "gpu_main.cc", 503, ["gpu_crash"], id="no-fraction"),
    pytest.param(11, 55, 55, "1217/201123.332202", None, "WARNING", "x11_util.cc", 1415, ["mit_shm"], id="mit-shm"),
    pytest.param(12, 10536, None, "1213/141806.469205", None, "ERROR", "platform_shared_memory_region_posix.cc", 220,
                 ["shm_access"], id="shm-access"),
    pytest.param(13, 25213, None, "0406/153645.901261", None, "WARNING", "interprocess_frame_pool.cc", 80,
                 ["shm_alloc_fail"], id="frame-pool"),
    pytest.param(14, 2751, 2751, "0817/200238.758995", None, "ERROR", "sandbox_linux.cc", 378, ["sandbox"],
                 id="sandbox"),
    pytest.param(16, 1234, 5678, "1103/173130.577", 12345678, "ERROR", "foo.cc", 12, [], id="tickcount"),
    pytest.param(17, 1234, 5678, "1103/173130.577407", None, "VERBOSE1", "foo.cc", 12, [], id="verbose"),
    pytest.param(18, 1234, 5678, None, None, "ERROR", "foo.cc", 12, [], id="no-timestamp"),
    pytest.param(19, None, None, None, None, "ERROR", "foo.cc", 12, [], id="no-items"),
    pytest.param(20, None, None, "1129/230057.353515", None, "FATAL", "memory.cc", 22, ["oom_terminate"],
                 id="path-colon-line"),
    pytest.param(21, 13798, 13827, "1129/223342.069360", None, "FATAL", "platform_channel.cc", 154,
                 ["fd_exhausted", "check_failed"], id="check-failed-emfile"),
    pytest.param(22, 18868, 18868, "0100/000000.996302", None, "ERROR", "zygote_linux.cc", 662, [],
                 id="bogus-zygote-stamp"),
    pytest.param(23, None, None, "0225/110712.774383", None, "ERROR", "scoped_ptrace_attach.cc", 27, [],
                 id="crashpad-path"),
]


@pytest.mark.parametrize("n,pid,tid,stamp,tick,level,basename,line_no,signatures", PREFIX_TABLE)
def test_prefix_shapes(n, pid, tid, stamp, tick, level, basename, line_no, signatures):
    parsed = parse_chromium(line(n))
    assert (parsed.pid, parsed.tid, parsed.stamp, parsed.tick, parsed.level, parsed.basename, parsed.line_no) == (
        pid, tid, stamp, tick, level, basename, line_no)
    assert [key for key, _ in classify(line(n))] == signatures


def test_whole_record_of_a_pathed_line():
    assert parse_chromium(line(20)) == ChromiumLine(
        level="FATAL", location="base/process/memory.cc", line_no=22, message="Out of memory. size=262144",
        stamp="1129/230057.353515")


def test_corpus_signature_counts_match_crashes_4_4():
    """The 19 published and synthetic lines give oom_terminate 7 and one each of six others."""
    counts: dict[str, int] = {}
    for text in CORPUS[:19]:
        for key, _ in classify(text):
            counts[key] = counts.get(key, 0) + 1
    assert counts == {"oom_terminate": 7, "mojo_broker": 1, "gpu_crash": 1, "mit_shm": 1, "shm_access": 1,
                      "shm_alloc_fail": 1, "sandbox": 1}


@pytest.mark.parametrize("n,key,groups", [
    (1, "oom_terminate", {"size": "26214"}),
    (6, "oom_terminate", {"size": "4194304"}),
    (12, "shm_access", {"dir": "/dev/shm:"}),
    (13, "shm_alloc_fail", {"bytes": "8294400"}),
    (24, "shm_low", {"mb": "1"}),
    (28, "shm_create_fail", {"path": "/dev/shm/.org.chromium.Chromium.vMiJ7Z", "err": "Too many open files (24)"}),
    (30, "thread_fail", {"err": "Resource temporarily unavailable (11)"}),
    (31, "thread_fail", {}),
    (32, "gpu_crash", {}),
    (33, "no_display", {}),
    (34, "no_display", {}),
    (35, "mit_shm", {}),
    (36, "sandbox", {}),
    (38, "signal_dump", {"sig": "11", "code": "SEGV_MAPERR", "addr": "000000000000"}),
    (39, "oom_new_handler", {"size": "16384"}),
    (40, "v8_oom", {"where": "Failed to reserve virtual memory for CodeRange"}),
    (41, "kernel_oomkill", {"comm": "chromium"}),
    (42, "pulse", {}),
    (43, "pulse", {}),
    (44, "shell_signal", {}),
    (45, "shm_access", {}),
    (46, "gpu_crash", {"code": "139"}),
])
def test_signature_groups(n, key, groups):
    found = dict(classify(line(n)))
    assert found[key] == groups


def test_every_corpus_line_that_starts_a_chromium_prefix_parses():
    for text in CORPUS:
        if "[" in text and ("ERROR:" in text or "FATAL:" in text or "WARNING:" in text):
            assert find_chromium(text) is not None, text


def test_non_chromium_lines_are_none_or_parse_error():
    for text in ("Authorization required, but no authorization protocol specified", "[warn] epoll_create: x",
                 "[probe] paints=1", "", "[FATAL]", "[ERROR:foo.cc] no line number"):
        assert find_chromium(text) is None
        with pytest.raises(ParseError):
            parse_chromium(text)


def test_stamp_as_datetime_and_bogus_stamp():
    assert parse_chromium(line(1)).when(2026).isoformat() == "2026-11-03T17:31:30.577407"
    assert parse_chromium(line(7)).when(2026).isoformat() == "2026-10-01T06:39:31.123000"
    assert parse_chromium(line(22)).when(2026) is None  # 0100/000000 from a zygote child
    assert parse_chromium(line(19)).when(2026) is None
    assert parse_chromium(line(1)).display_stamp() == "11-03 17:31:30.577407"


# -- wrappers ---------------------------------------------------------------------------

@pytest.mark.parametrize("text,expected", [
    ("2026-11-29T22:51:29.041084741+00:00 stdout F hello-from-probe",
     K8sRecord("2026-11-29T22:51:29.041084741+00:00", "stdout", False, "hello-from-probe")),
    ("2026-11-29T22:51:29.041084741Z stderr P part one ", K8sRecord("2026-11-29T22:51:29.041084741Z", "stderr",
                                                                    True, "part one ")),
    ("2026-11-29T22:51:29+01:00 stdout F", K8sRecord("2026-11-29T22:51:29+01:00", "stdout", False, "")),
    ("2026-11-29T22:51:29.1-0500 stderr F:x tagged", K8sRecord("2026-11-29T22:51:29.1-0500", "stderr", False,
                                                                "tagged")),
])
def test_k8s_records(text, expected):
    assert parse_k8s(text) == expected


@pytest.mark.parametrize("text", ["hello", "2026-11-29T22:51:29Z stdin F x", "2026-11-29 22:51:29 stdout F x",
                                  "2026-11-29T22:51:29Z stdout X x", ""])
def test_not_k8s_records(text):
    with pytest.raises(ParseError):
        parse_k8s(text)


def test_journal_and_timestamped_lines():
    record = parse_journal((DATA / "crash_journal.txt").read_text().splitlines()[3])
    assert (record.time, record.host, record.ident, record.pid) == ("2026-11-29T22:51:29+0000", "desk",
                                                                    "spotify-container", 4242)
    assert record.message.endswith("Out of memory. size=262144")
    assert parse_timestamped("2026-11-29T22:51:23.392108588Z to-stderr") == (
        "2026-11-29T22:51:23.392108588Z", "to-stderr")
    with pytest.raises(ParseError):
        parse_journal("-- No entries --")


@pytest.mark.parametrize("value,expected", [
    ("2026-11-29T22:51:29.041084741+00:00", "2026-11-29T22:51:29.041084+00:00"),
    ("2026-11-29T22:51:29Z", "2026-11-29T22:51:29+00:00"),
    ("2026-11-29T23:51:29+0100", "2026-11-29T22:51:29+00:00"),
    ("2026-11-29T22:51:29.5", "2026-11-29T22:51:29.500000+00:00"),
])
def test_log_times(value, expected):
    assert parse_log_time(value).isoformat() == expected


@pytest.mark.parametrize("value", ["", "yesterday", "2026-13-40T99:00:00Z",
                                   "9999-12-31T00:59:00-23:59", "0001-01-01T00:00:00+23:59"])
def test_bad_log_times(value):
    assert parse_log_time(value) is None


# -- logical lines ----------------------------------------------------------------------

K8S_EXPECTED = [
    LogLine("standin: uid=1500 gid=1500 args=--print-oom --exit=133", 0, "2026-11-29T22:51:29.041084741+00:00",
            "stdout"),
    LogLine("[1129/235959.100000:ERROR:bus.cc(399)] Failed to connect to the bus: Could not parse server address",
            100, "2026-11-29T22:51:29.100000000+00:00", "stderr"),
    LogLine("interleaved stdout line", 354, "2026-11-29T22:51:29.200000001+00:00", "stdout"),
    LogLine("[1129/235959.123456:ERROR:broker_posix.cc(46)] Received unexpected number of handles", 245,
            "2026-11-29T22:51:29.200000000+00:00", "stderr"),
    LogLine("[1129/235959.123999:FATAL:memory.cc(40)] Out of memory. size=262144", 490,
            "2026-11-29T22:51:29.300000000+00:00", "stderr"),
    LogLine("", 695, "2026-11-29T22:51:29.400000000+00:00", "stdout"),
    LogLine("", 741, "2026-11-29T22:51:29.500000000+00:00", "stdout"),
    LogLine("not a k8s record line (raw text in the log)", 786),
    LogLine("Trace/breakpoint trap (core dumped)", 830, "2026-11-29T22:51:29.600000000Z", "stderr"),
    LogLine("unterminated partial at the end", 906, "2026-11-29T22:51:29.700000000+00:00", "stderr"),
]


def _lines(data: bytes, wrapper: Wrapper = Wrapper.K8S, chunk: int = 7) -> list[LogLine]:
    assembler = _Assembler(wrapper, MAX_LINE)
    chunks = [data[i:i + chunk] for i in range(0, len(data), chunk)]
    out = []
    for offset, raw, cut in split_lines(chunks):
        out += assembler.feed(offset, raw.decode("utf-8", "replace"), cut)
    return out + list(assembler.flush())


@pytest.mark.parametrize("chunk", [1, 7, 4096])
def test_k8s_partials_are_joined_per_stream_in_any_chunking(chunk):
    assert _lines((DATA / "crash_k8s_partial.log").read_bytes(), chunk=chunk) == K8S_EXPECTED


def test_split_lines_offsets_and_cap():
    data = b"ab\n" + b"x" * 10 + b"\n\nlast"
    assert list(split_lines([data[:4], data[4:9], data[9:]], max_bytes=4)) == [
        (0, b"ab", False), (3, b"xxxx", True), (14, b"", False), (15, b"last", False)]


def test_joined_partials_are_capped():
    parts = [f"2026-11-29T22:51:29Z stderr P {'y' * 1000}" for _ in range(40)]
    text = "\n".join([*parts, "2026-11-29T22:51:29Z stderr F end"]) + "\n"
    (only,) = _lines(text.encode())
    assert len(only.text) == MAX_LINE and only.truncated


# -- scans ------------------------------------------------------------------------------

def _scan_file(path: Path, **kwargs) -> ScanResult:
    with open(path, "rb", buffering=0) as fh:
        return scan_file(fh, os.path.getsize(path), **kwargs)


def test_scan_of_the_k8s_log():
    scan = _scan_file(DATA / "crash_k8s_partial.log")
    assert [(h.signature, h.quote, h.line.logged_at) for h in scan.hits] == [
        ("mojo_broker", "[1129/235959.123456:ERROR:broker_posix.cc(46)] Received unexpected number of handles",
         "2026-11-29T22:51:29.200000000+00:00"),
        ("oom_terminate", "[1129/235959.123999:FATAL:memory.cc(40)] Out of memory. size=262144",
         "2026-11-29T22:51:29.300000000+00:00"),
        ("shell_signal", "Trace/breakpoint trap (core dumped)", "2026-11-29T22:51:29.600000000Z"),
    ]
    assert scan.latest["oom_terminate"].size == 262144
    assert scan.counts == {"oom_terminate": 1, "mojo_broker": 1, "shell_signal": 1}
    assert scan.last("mojo_broker", "oom_terminate").signature == "oom_terminate"


def test_binary_junk_is_text_that_does_not_match():
    scan = _scan_file(DATA / "crash_junk.bin")
    (hit,) = scan.hits
    assert hit.signature == "oom_terminate" and hit.size == 26214
    assert "\x1b" not in hit.quote and hit.quote.endswith("size=26214?[0m")  # escapes neutralised
    assert scan_chunks([(DATA / "crash_junk.bin").read_bytes()]).counts == {"oom_terminate": 1}


def test_very_long_lines_are_capped_not_held():
    scan = _scan_file(DATA / "crash_longline.log")
    assert [h.quote for h in scan.hits] == ["[1129/235959.123999:FATAL:memory.cc(40)] Out of memory. size=262144"]
    assert scan.truncated_lines == 2 and scan.fatal_lines == 2  # the hidden FATAL sits past the line cap
    assert scan.lines == 3


def _big_log(tmp_path: Path, noise_lines: int, middle_fatal: bool = True) -> Path:
    noise = b"2026-11-29T22:51:29.000000000+00:00 stderr F [1129/235959.1:ERROR:bus.cc(399)] noise GPU process\n"
    path = tmp_path / "big.log"
    with open(path, "wb") as fh:
        fh.write(b"2026-11-29T22:51:00Z stderr F [1129/235900.1:ERROR:x.cc(1)] Too many open files early\n")
        fh.write(noise * noise_lines)
        if middle_fatal:
            fh.write(b"2026-11-29T22:51:10Z stderr F [1129/235910.1:ERROR:broker_posix.cc(46)] Received unexpected "
                     b"number of handles\n")
            fh.write(b"2026-11-29T22:51:10Z stderr F [1129/235910.2:FATAL:memory.cc(40)] Out of memory. "
                     b"size=524288\n")
        fh.write(noise * noise_lines)
        fh.write(b"2026-11-29T22:51:59Z stderr F Received signal 11 SEGV_MAPERR 000000000000\n")
    return path


def test_fast_scan_finds_the_middle_fatal_with_its_context_and_the_tail(tmp_path):
    path = _big_log(tmp_path, 2000)
    fast = _scan_file(path, tail_window=1024, context_before=512, context_after=256, chunk_bytes=4096)
    assert [h.signature for h in fast.hits if h.signature != "gpu_crash"] == [
        "mojo_broker", "oom_terminate", "signal_dump"]
    assert "fd_exhausted" not in fast.counts  # far from any FATAL line and from the end: not parsed
    full = scan_chunks([path.read_bytes()])
    assert full.counts["fd_exhausted"] == 1
    assert fast.latest["oom_terminate"] == full.latest["oom_terminate"]
    assert fast.latest["signal_dump"] == full.latest["signal_dump"]
    assert fast.fatal_lines == 1


def test_fast_scan_size_bound_and_deadline(tmp_path):
    path = _big_log(tmp_path, 2000)
    size = path.stat().st_size
    bounded = _scan_file(path, max_bytes=size // 4, tail_window=1024, chunk_bytes=4096)
    assert bounded.bytes_skipped == size - size // 4 and "oom_terminate" not in bounded.counts
    assert "signal_dump" in bounded.counts
    late = _scan_file(path, deadline=0.0, tail_window=1024, chunk_bytes=4096)  # already past: tail only
    assert late.incomplete and "signal_dump" in late.counts and late.fatal_lines == 0


def test_fatal_marker_across_chunk_boundaries_is_found_once(tmp_path):
    path = tmp_path / "edge.log"
    body = b"x" * 4093 + b"[1129/1:FATAL:memory.cc(40)] Out of memory. size=0\n" + b"y" * 9000 + b"\n"
    path.write_bytes(body)
    for chunk in (4090, 4094, 4096, 4097, 4100):
        scan = _scan_file(path, tail_window=16, context_before=64, context_after=64, chunk_bytes=chunk)
        assert scan.fatal_lines == 1 and scan.counts == {"oom_terminate": 1}, chunk


def test_scan_lines_for_command_output():
    scan = scan_lines((DATA / "crash_podman_logs.txt").read_text().splitlines(), Wrapper.TIMESTAMPED)
    assert [(h.signature, h.line.offset, h.line.logged_at) for h in scan.hits] == [
        ("mojo_broker", 1, "2026-11-29T22:51:23.400000000Z"), ("oom_terminate", 2, "2026-11-29T22:51:23.500000000Z")]
    journal = scan_lines((DATA / "crash_journal.txt").read_text().splitlines(), Wrapper.JOURNAL)
    assert journal.latest["oom_terminate"].line == LogLine(
        "[1129/235959.123999:FATAL:memory.cc(40)] Out of memory. size=262144", 3, "2026-11-29T22:51:29+0000",
        "spotify-container")


def test_hits_are_bounded(tmp_path):
    lines = ["[1:FATAL:memory.cc(40)] Out of memory. size=0"] * 1000
    scan = scan_lines(lines, max_hits=10)
    assert len(scan.hits) == 10 and scan.counts == {"oom_terminate": 1000}
    assert scan.latest["oom_terminate"].line.offset == 999


# -- libcef.so --------------------------------------------------------------------------

def test_cef_facts_from_grep_output():
    old = cef_facts((DATA / "crash_cef_grep_m89.txt").read_text().splitlines())
    assert old == CefFacts("89.0.4389.114", True, False) and old.milestone == 89
    new = cef_facts((DATA / "crash_cef_grep_m156.txt").read_text().splitlines())
    assert new == CefFacts("156.0.8078.108", False, True)
    assert cef_facts([]) == CefFacts(None, False, False)


@pytest.mark.parametrize("chunk", [1, 5, 13, 64, 1 << 20])
def test_cef_binary_scan_counts_each_string_once(chunk):
    blob = (b"\x00junk\x0066.0.3359.181\x00" * 3 + b"Chrome/66.0.3359.181 \x00" + b"\x0012.0.1234.5\x00"
            + b"\x001066.0.3359.1811\x00Out of memory. size=\x00" + b"\xff" * 100 + b"\x00156.0.8078.108\x00")
    chunks = [blob[i:i + chunk] for i in range(0, len(blob), chunk)]
    facts = scan_cef_binary(chunks)
    assert facts == CefFacts("66.0.3359.181", True, False)


# -- properties -------------------------------------------------------------------------

TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300)
PREFIXY = st.builds(lambda a, b, c: a + b + c, TEXT,
                    st.sampled_from(["[", "[1:", "[1:2:1103/173130.5:", "FATAL:", "Out of memory. size=",
                                     "2026-11-29T22:51:29Z stderr P ", "(", ")]", ":99999999999999999999999]"]),
                    TEXT)


@settings(max_examples=400, deadline=None)
@given(st.one_of(TEXT, PREFIXY, st.binary(max_size=300)))
def test_line_parsers_raise_only_parse_error(value):
    for parser in (parse_chromium, parse_k8s, parse_journal, parse_timestamped):
        try:
            parser(value)
        except ParseError:
            pass
    find_chromium(value)
    classify(value)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=200), PREFIXY.map(str.encode)), max_size=20),
       st.integers(min_value=1, max_value=64))
def test_scanners_never_raise_and_agree_on_chunking(parts, chunk):
    data = b"\n".join(parts)
    whole = scan_chunks([data])
    pieces = scan_chunks([data[i:i + chunk] for i in range(0, len(data), chunk)])
    assert whole == pieces
    fast = scan_file(io.BytesIO(data), len(data))  # small: the tail window covers everything
    assert fast.counts == whole.counts


def test_non_text_input_is_a_parse_error():
    with pytest.raises(ParseError):
        parse_chromium(42)  # type: ignore[arg-type]
