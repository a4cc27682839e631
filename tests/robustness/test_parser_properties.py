"""Property-based tests (hypothesis): the text parsers raise nothing but ``ParseError``.

The area tests already fuzz each parser with plain random text; they are not repeated here:
- subuid/subgid files and lines, getsubids output, uid_map: tests/unit/test_subids.py
  (``test_subid_text_never_raises``, ``test_subid_strict_raises_only_parse_error``,
  ``test_id_map_parser_raises_only_parse_error``, ``test_getsubids_parser_raises_only_parse_error``,
  round trips);
- DISPLAY and Xauthority: tests/unit/test_x11auth.py (``test_parse_display_raises_only_parse_error``,
  ``test_reader_raises_only_parse_error``);
- module arguments, default.pa edits, server.address: tests/unit/test_pulseconf.py;
- Chromium/k8s/journal lines and the scanners: tests/unit/test_crashlog.py
  (``test_line_parsers_raise_only_parse_error``, ``test_scanners_never_raise_and_agree_on_chunking``);
- podman info JSON: tests/unit/test_podman_checks.py.

Random text rarely gets past the first character of a grammar. These strategies build
*near-valid* input from the grammar's own pieces (separators, digit runs of any length and
script, quotes, brackets, control characters), so the deep branches — number ranges, dates,
quoting, escapes — are reached; and they fuzz the callers the CLI really goes through (the
x11.display check, default.pa reading, module-argument resolution, the date and stamp helpers).
"""
from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spotidoctor.checks import x11 as x11_checks
from spotidoctor.checks.pulse.conf import (
    format_module_args,
    native_socket_config,
    parse_client_conf,
    parse_module_args,
    read_default_pa,
)
from spotidoctor.crash.lines import (
    ChromiumLine,
    parse_chromium,
    parse_journal,
    parse_k8s,
    parse_log_time,
    parse_timestamped,
)
from spotidoctor.crash.scan import scan_chunks
from spotidoctor.crash.signatures import SIGNATURE_KEYS, classify
from spotidoctor.errors import ParseError
from spotidoctor.model import Status
from spotidoctor.podman import subids
from spotidoctor.probes import x11auth
from spotidoctor.testing import make_context

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Digit runs of any length, in ASCII and other scripts (int() accepts "١٢" and " 1", "+1", "1_0").
DIGITS = st.one_of(
    st.integers(0, 2 ** 70).map(str),
    st.text(st.sampled_from("0123456789"), min_size=0, max_size=25),
    st.text(st.sampled_from("٠١٢٣٤٥٦٧٨٩０１２３"), min_size=1, max_size=4),
    st.sampled_from(["-1", "+1", "1_0", " 1", "1 ", "0x10", "1e5", "", "١٥٠٠", "\x00"]),
)
NOISE = st.text(st.characters(codec="utf-8", categories=["L", "N", "P", "S", "Z", "Cc"]), max_size=6)
NAMES = st.one_of(st.from_regex(r"[a-z_][a-z0-9_-]{0,8}", fullmatch=True), NOISE,
                  st.sampled_from(["alice", "1600", "\ufeffalice", "al ice", "", "#alice", "ali:ce"]))


def only_parse_errors(call: object, *args: object) -> object | None:
    try:
        return call(*args)  # type: ignore[operator]
    except ParseError:
        return None


# -- subuid/subgid lines -------------------------------------------------------------------------

SUBID_LINES = st.builds(lambda name, sep1, start, sep2, count, tail: f"{name}{sep1}{start}{sep2}{count}{tail}",
                        NAMES, st.sampled_from([":", "::", " ", ""]), DIGITS, st.sampled_from([":", ": ", ""]),
                        DIGITS, st.one_of(st.just(""), st.sampled_from(["\r", ":x", " # c", "\t"]), NOISE))


@FUZZ
@given(SUBID_LINES, st.integers(1, 10 ** 6))
def test_subid_line_parser_raises_only_parse_error(line: str, number: int) -> None:
    parsed = only_parse_errors(subids.parse_subid_line, line, number)
    if isinstance(parsed, subids.SubIdRange):
        assert 0 < parsed.count and parsed.last <= subids.MAX_ID and parsed.line == number
        assert str(parsed.start) in line and str(parsed.count) in line


@FUZZ
@given(st.lists(SUBID_LINES, max_size=30), st.sampled_from(["\n", "\r\n", "\r", "\x00"]))
def test_subid_files_of_near_valid_lines_never_raise(lines: list[str], newline: str) -> None:
    parsed = subids.parse_subid_text(newline.join(lines))
    assert all(isinstance(e, ParseError) and e.line for e in parsed.errors)
    assert len(parsed.ranges) + parsed.error_count <= max(1, len(newline.join(lines).split("\n")))


@FUZZ
@given(st.text(max_size=400))
def test_login_defs_parser_never_raises(text: str) -> None:
    defs = subids.parse_login_defs(text)
    assert 0 < defs.sub_count and defs.sub_min < defs.sub_max <= subids.MAX_ID


# -- uid_map ---------------------------------------------------------------------------------------

MAP_ROWS = st.lists(st.builds(lambda a, b, c, pad: f"{pad}{a}{pad}{b} {c}{pad}", DIGITS, DIGITS, DIGITS,
                              st.sampled_from(["", " ", "   ", "\t", "\u00a0"])), min_size=0, max_size=12)


@FUZZ
@given(MAP_ROWS, st.booleans())
def test_uid_map_of_near_valid_rows_raises_only_parse_error(rows: list[str], many: bool) -> None:
    text = "\n".join(rows * (40 if many else 1)) + "\n"
    id_map = only_parse_errors(subids.parse_id_map, text)
    if isinstance(id_map, subids.IdMap):
        assert 0 < len(id_map.entries) <= 340 and all(e.length > 0 for e in id_map.entries)
        id_map.to_host(1500), id_map.to_inside(100000)  # arithmetic on whatever was accepted


@FUZZ
@given(st.binary(max_size=300))
def test_uid_map_from_bytes_raises_only_parse_error(data: bytes) -> None:
    only_parse_errors(subids.parse_id_map, data.decode("utf-8", errors="replace"))


# -- DISPLAY ---------------------------------------------------------------------------------------

DISPLAYS = st.builds(
    lambda proto, host, colon, number, dot, screen: f"{proto}{host}{colon}{number}{dot}{screen}",
    st.sampled_from(["", "unix/", "tcp/", "inet/", "unix:", "/"]),
    st.one_of(st.sampled_from(["", "unix", "localhost", "[::1]", "::1", "host.example", "a" * 300]), NOISE),
    st.sampled_from([":", "::", "", ":/"]), DIGITS, st.sampled_from(["", ".", ".."]), DIGITS)


@FUZZ
@given(DISPLAYS)
def test_display_parser_raises_only_parse_error(raw: str) -> None:
    name = only_parse_errors(x11auth.parse_display, raw)
    if isinstance(name, x11auth.DisplayName):
        assert 0 <= name.number <= 59535 and name.raw == raw
        assert x11auth.parse_display(name.canonical).number == name.number  # what the container gets
        assert name.socket_path == f"/tmp/.X11-unix/X{name.number}"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(st.one_of(DISPLAYS, st.text(max_size=30)))
def test_the_display_check_never_crashes_on_any_display(tmp_path: Path, raw: str) -> None:
    if "\x00" in raw:  # an environment variable cannot hold NUL
        return
    ctx = make_context(tmp_path, env={"DISPLAY": raw})
    result = x11_checks.DisplaySet().run(ctx)
    assert result.status in (Status.OK, Status.WARN, Status.FAIL) and result.summary


# -- module argument strings -------------------------------------------------------------------------

WORDS = st.one_of(st.from_regex(r"[a-z][a-z0-9_.-]{0,10}", fullmatch=True), NOISE,
                  st.sampled_from(["socket", "auth-cookie", "cookie", "auth-anonymous", "auth-cookie-enabled"]))
VALUES = st.one_of(NOISE, st.sampled_from(["pulse-socket", "/run/user/1/pulse/x", "yes", "0", "", "a b", "~/c",
                                           "../../etc/passwd", "$HOME", "a=b"]))
QUOTES = st.sampled_from(["", "'", '"', "\\", "\\'", '\\"'])
ARG_STRINGS = st.lists(st.builds(lambda k, eq, q1, v, q2: f"{k}{eq}{q1}{v}{q2}", WORDS,
                                 st.sampled_from(["=", "", "=="]), QUOTES, VALUES, QUOTES), max_size=6).map(" ".join)


@FUZZ
@given(ARG_STRINGS, st.one_of(st.none(), st.just("/run/user/1600")))
def test_module_arguments_raise_only_parse_error_and_resolve(text: str, runtime_dir: str | None) -> None:
    args = only_parse_errors(parse_module_args, text)
    if isinstance(args, dict):
        config = native_socket_config(args, runtime_dir, "/home/alice/.config/pulse")
        assert config.socket is None or config.socket.startswith("/")
        assert config.cookie is None or config.cookie.startswith("/")
        written = only_parse_errors(format_module_args, args)  # (refuses names it would not write)
        assert written is None or parse_module_args(written) == args  # what spotidoctor writes reads back


@FUZZ
@given(st.lists(st.one_of(st.builds(lambda a: f"load-module module-native-protocol-unix {a}", ARG_STRINGS),
                          st.builds(lambda a: f".include {a}", VALUES),
                          st.sampled_from([".ifexists x.so", ".endif", ".nofail", ".fail", "### c", "", "load-module",
                                           "set-default-sink", "\x00\ufffd"]), NOISE), max_size=12))
def test_default_pa_reader_never_raises(lines: list[str]) -> None:
    parsed = read_default_pa("\n".join(lines))
    assert parsed is not None


@FUZZ
@given(st.lists(st.builds(lambda k, sep, v: f"{k}{sep}{v}", WORDS, st.sampled_from(["=", " = ", "", ":"]), VALUES),
                max_size=8).map("\n".join))
def test_client_conf_raises_only_parse_error(text: str) -> None:
    values = only_parse_errors(parse_client_conf, text)
    assert values is None or all(k == k.strip().lower() for k in values)


# -- Chromium log lines -----------------------------------------------------------------------------

PREFIXES = st.builds(
    lambda pid, tid, mon, day, h, m, s, frac, tick, level, file, line, msg:
        f"[{pid}:{tid}:{mon}{day}/{h}{m}{s}{frac}:{tick}{level}:{file}({line})] {msg}",
    DIGITS, DIGITS, st.sampled_from(["00", "01", "12", "13", "99", "1", ""]), st.sampled_from(["00", "31", "32", "99"]),
    st.sampled_from(["00", "23", "24", "99"]), st.sampled_from(["00", "59", "60"]), st.sampled_from(["00", "61", "99"]),
    st.sampled_from(["", ".", ".123", ".123456", ".1234567", ".99999999999"]),
    st.sampled_from(["", "123:", "9" * 25 + ":"]),
    st.sampled_from(["FATAL", "ERROR", "INFO", "VERBOSE1", "VERBOSE999", "fatal", "UNKNOWN", ""]),
    st.one_of(st.sampled_from(["memory.cc", "base/process/memory.cc", "", "a(b)", "x:y"]), NOISE), DIGITS,
    st.one_of(st.sampled_from(["Out of memory. size=262144", "Out of memory. size=" + "9" * 40, ""]), NOISE))


@FUZZ
@given(PREFIXES, st.integers(1, 9999))
def test_chromium_lines_raise_only_parse_error_and_their_stamps_never_raise(text: str, year: int) -> None:
    line = only_parse_errors(parse_chromium, text)
    if isinstance(line, ChromiumLine):
        line.when(year)  # None for impossible dates (month 13, 24:00), never an exception
        line.display_stamp()
        assert line.basename is not None
    for sig, groups in classify(text):
        assert sig in SIGNATURE_KEYS and all(isinstance(v, str) for v in groups.values())


TIMESTAMPS = st.builds(lambda y, mo, d, h, mi, s, frac, zone: f"{y}-{mo}-{d}T{h}:{mi}:{s}{frac}{zone}",
                       st.sampled_from(["2026", "0000", "9999", "10000"]), st.sampled_from(["01", "12", "13", "00"]),
                       st.sampled_from(["01", "29", "30", "31", "32"]), st.sampled_from(["00", "23", "24"]),
                       st.sampled_from(["00", "59", "60"]), st.sampled_from(["00", "59", "60", "61"]),
                       st.sampled_from(["", ".1", ".123456789", ",5", ".1234567890"]),
                       st.sampled_from(["Z", "+00:00", "+0000", "-23:59", "+24:00", "+99:99", ""]))


@FUZZ
@given(TIMESTAMPS, st.sampled_from(["stdout", "stderr", "stdin"]), st.sampled_from(["F", "P", "X", "F:x"]),
       st.one_of(PREFIXES, NOISE))
def test_wrapped_lines_raise_only_parse_error(stamp: str, stream: str, tag: str, message: str) -> None:
    parse_log_time(stamp)  # None for impossible times, never an exception
    only_parse_errors(parse_k8s, f"{stamp} {stream} {tag} {message}")
    only_parse_errors(parse_journal, f"{stamp} host spotify[{stream}]: {message}")
    only_parse_errors(parse_timestamped, f"{stamp} {message}")


@settings(max_examples=100, deadline=None)
@given(st.lists(st.builds(lambda stamp, tag, msg: f"{stamp} stderr {tag} {msg}", TIMESTAMPS,
                          st.sampled_from(["F", "P"]), st.one_of(PREFIXES, NOISE)), max_size=20))
def test_k8s_logs_of_near_valid_records_scan_without_raising(records: list[str]) -> None:
    data = "\n".join(records).encode("utf-8", errors="surrogatepass")
    result = scan_chunks([data])
    assert result.lines >= 0 and all(h.line.text is not None for h in result.hits)
    for hit in result.hits:
        assert (hit.quote, hit.size, hit.chromium) is not None  # the properties the verdict reads never raise
