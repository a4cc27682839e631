"""spotidoctor.podman.subids: subuid/subgid parsing, getsubids, uid_map, the mapping arithmetic,
overlaps and free-range selection; property tests that the parsers only raise ParseError."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spotidoctor.errors import ParseError
from spotidoctor.podman.subids import (
    MAX_ERRORS,
    MAX_FILE_BYTES,
    IdMap,
    IdMapEntry,
    LoginDefs,
    SubIdRange,
    choose_free_start,
    default_map,
    overlaps,
    parse_getsubids,
    parse_id_map,
    parse_login_defs,
    parse_subid_line,
    parse_subid_text,
    total_count,
)

# -- /etc/subuid lines ---------------------------------------------------------------------


@pytest.mark.parametrize("line, expected", [
    pytest.param("alice:100000:65536", SubIdRange("alice", 100000, 65536, 7), id="name"),
    pytest.param("1600:100000:65536", SubIdRange("1600", 100000, 65536, 7), id="numeric-uid"),
    pytest.param("alice:100000:65536\r", SubIdRange("alice", 100000, 65536, 7), id="crlf"),
    pytest.param("  alice:100000:65536\t", SubIdRange("alice", 100000, 65536, 7), id="surrounding-blanks"),
    pytest.param("alice:4294901759:65536", SubIdRange("alice", 4294901759, 65536, 7), id="top-of-id-space"),
    pytest.param("", None, id="blank"),
    pytest.param("   \r", None, id="blank-crlf"),
    pytest.param("# alice:1:1", None, id="comment"),
])
def test_good_lines(line, expected):
    assert parse_subid_line(line, 7) == expected


@pytest.mark.parametrize("line, message", [
    pytest.param("alice:100000", "got 2 field(s)", id="two-fields"),
    pytest.param("alice:100000:65536:x", "got 4 field(s)", id="four-fields"),
    pytest.param("alice 100000 65536", "got 1 field(s)", id="spaces"),
    pytest.param(":100000:65536", "bad user name", id="empty-name"),
    pytest.param("al ice:100000:65536", "bad user name", id="space-in-name"),
    pytest.param("alice:1e5:65536", "START is not a number", id="float-start"),
    pytest.param("alice:-1:65536", "START is not a number", id="negative"),
    pytest.param("alice:+100000:65536", "START is not a number", id="plus-sign"),
    pytest.param("alice:100_000:65536", "START is not a number", id="underscore"),
    pytest.param("alice:١٠٠:65536", "START is not a number", id="arabic-digits"),
    pytest.param("alice: 100000:65536", "START is not a number", id="blank-inside"),
    pytest.param("alice:100000:", "COUNT is not a number", id="empty-count"),
    pytest.param("alice:100000:0", "COUNT is 0", id="zero-count"),
    pytest.param("alice:4294967290:65536", "goes past the largest id", id="past-uid-space"),
    pytest.param("alice:99999999999:1", "START is not a number", id="eleven-digits"),
    pytest.param("ali\x00ce:1:1", "bad user name", id="nul-byte"),
    pytest.param("\ufffd\ufffd:1:1", "bad user name", id="binary-junk"),
])
def test_bad_lines_name_the_line(line, message):
    with pytest.raises(ParseError) as info:
        parse_subid_line(line, 12)
    assert info.value.line == 12
    assert message in str(info.value)
    assert str(info.value).startswith("line 12: ")


def test_file_with_every_shape():
    text = ("# subordinate ids\n"
            "alice:100000:65536\r\n"
            "\n"
            "bob:165536:65536\n"
            "garbage line\n"
            "1600:300000:1000\n"
            "carol:231072:0\n"
            "alice:400000:65536")
    parsed = parse_subid_text(text)
    assert parsed.ranges == (SubIdRange("alice", 100000, 65536, 2), SubIdRange("bob", 165536, 65536, 4),
                             SubIdRange("1600", 300000, 1000, 6), SubIdRange("alice", 400000, 65536, 8))
    assert [e.line for e in parsed.errors] == [5, 7]
    assert parsed.error_count == 2 and not parsed.truncated
    assert parsed.for_user("alice", 1600) == (SubIdRange("alice", 100000, 65536, 2),
                                              SubIdRange("1600", 300000, 1000, 6),
                                              SubIdRange("alice", 400000, 65536, 8))
    assert total_count(parsed.for_user("alice", 1600)) == 65536 + 1000 + 65536
    assert parsed.for_user("dave", 1700) == ()


def test_line_numbers_count_newlines_only():
    # \x0b and U+2028 are line breaks for str.splitlines, not for sed or shadow.
    parsed = parse_subid_text("alice:1:1\x0bjunk\nbob:10:10\u2028\nzed:5:5\n")
    assert [e.line for e in parsed.errors] == [1, 2]
    assert parsed.ranges == (SubIdRange("zed", 5, 5, 3),)


def test_strict_raises_the_first_error():
    with pytest.raises(ParseError) as info:
        parse_subid_text("alice:1:1\nbroken\nworse\n", strict=True)
    assert info.value.line == 2


def test_lone_surrogates_do_not_crash():
    parsed = parse_subid_text("\ud800:1:1\nalice:1:1\n\udcff\n")
    assert parsed.for_user("alice", 1) == (SubIdRange("alice", 1, 1, 2),)
    assert [e.line for e in parsed.errors] == [3]


def test_empty_and_binary_files():
    assert parse_subid_text("") == parse_subid_text(b"")
    assert parse_subid_text("").ranges == () and parse_subid_text("").errors == ()
    binary = bytes(range(256)) * 4 + b"\nalice:100000:65536\n"
    parsed = parse_subid_text(binary)
    assert parsed.for_user("alice", 1) == (SubIdRange("alice", 100000, 65536, parsed.ranges[0].line),)
    assert parsed.error_count >= 1


def test_huge_file_is_capped_and_errors_are_bounded():
    line = b"x" * 99 + b"\n"
    data = b"alice:100000:65536\n" + line * (MAX_FILE_BYTES // 50)
    parsed = parse_subid_text(data)
    assert parsed.truncated
    assert parsed.ranges == (SubIdRange("alice", 100000, 65536, 1),)
    assert len(parsed.errors) == MAX_ERRORS
    assert parsed.error_count == (MAX_FILE_BYTES - 19) // 100  # whole lines within the cap, minus the good one


# -- getsubids -----------------------------------------------------------------------------

def test_getsubids_output():
    assert parse_getsubids("0: sdtest 100000 65536\n1: sdtest 300000 1000\n") == (
        SubIdRange("sdtest", 100000, 65536), SubIdRange("sdtest", 300000, 1000))
    assert parse_getsubids("0: 1600 100000 65536\n", owner="alice") == (SubIdRange("alice", 100000, 65536),)
    assert parse_getsubids("") == ()


@pytest.mark.parametrize("text", ["Error fetching ranges", "0: a b c", "0: alice 1 0", "0: alice 4294967295 5"])
def test_getsubids_garbage(text):
    with pytest.raises(ParseError):
        parse_getsubids(text)


# -- uid_map and the mapping arithmetic -----------------------------------------------------

REAL_MAP = "         0       1600          1\n         1     100000      65536\n"  # right-aligned columns


def test_parse_real_uid_map():
    assert parse_id_map(REAL_MAP) == IdMap((IdMapEntry(0, 1600, 1), IdMapEntry(1, 100000, 65536)))


@pytest.mark.parametrize("text", ["", "\n\n", "0 1600", "0 1600 1 5", "a b c", "0 1600 0", "-1 5 5"])
def test_bad_uid_maps(text):
    with pytest.raises(ParseError):
        parse_id_map(text)


@pytest.mark.parametrize("ranges, container_id, host", [
    pytest.param([(100000, 65536)], 1500, 101499, id="single-range"),
    pytest.param([(100000, 65536)], 0, 1600, id="root-is-the-user"),
    pytest.param([(100000, 65536)], 1, 100000, id="first-subordinate"),
    pytest.param([(100000, 65536)], 65536, 165535, id="last-subordinate"),
    pytest.param([(100000, 65536)], 65537, None, id="past-the-range"),
    pytest.param([(300000, 1000), (400000, 65536)], 1500, 400499, id="two-ranges"),
    pytest.param([(300000, 1000), (400000, 65536)], 1000, 300999, id="end-of-first-range"),
    pytest.param([(300000, 1000), (400000, 65536)], 1001, 400000, id="start-of-second-range"),
    pytest.param([(200000, 1000)], 1500, None, id="too-small"),
    pytest.param([(200000, 1500)], 1500, 201499, id="exactly-1500-is-enough"),
    pytest.param([(200000, 1499)], 1500, None, id="1499-is-not"),
    pytest.param([], 1500, None, id="no-ranges"),
])
def test_mapping_arithmetic(ranges, container_id, host):
    id_map = default_map(1600, [SubIdRange("alice", s, c) for s, c in ranges])
    assert id_map.to_host(container_id) == host
    if host is not None:
        assert id_map.to_inside(host) == container_id


def test_default_map_matches_podmans_live_map():
    assert default_map(1600, [SubIdRange("sdtest", 100000, 65536)]) == parse_id_map(REAL_MAP)
    two = default_map(1700, [SubIdRange("u", 300000, 1000), SubIdRange("u", 400000, 65536)])
    assert two.render() == "0 1700 1 / 1 300000 1000 / 1001 400000 65536"  # ranges laid end to end
    assert two.to_json() == [[0, 1700, 1], [1, 300000, 1000], [1001, 400000, 65536]]
    assert two.size == 1 + 1000 + 65536


def test_keep_id_map_composes():
    # Inside a keep-id container, relative to podman's namespace: 0 1 1500 / 1500 0 1 / 1501 1501 64036.
    inner = parse_id_map("0 1 1500\n1500 0 1\n1501 1501 64036\n")
    outer = parse_id_map(REAL_MAP)
    assert outer.to_host(inner.to_host(1500)) == 1600
    assert outer.to_host(inner.to_host(0)) == 100000


# -- overlaps and free ranges --------------------------------------------------------------

def r(start, count, owner="alice", line=0):
    return SubIdRange(owner, start, count, line)


def test_overlaps_within_and_across():
    mine = [r(200000, 1000, line=1), r(200000, 65536, line=2), r(300000, 10, line=3)]
    assert [(o.first.line, o.second.line) for o in overlaps(mine)] == [(1, 2)]
    others = [r(265535, 10, "bob", 4), r(265536, 10, "carol", 5), r(100, 10, "dave", 6)]
    found = overlaps(mine, others)
    assert [(o.first.line, o.second.owner) for o in found] == [(2, "bob")]
    assert "overlaps bob:265535:10 (line 4)" in str(found[0])
    assert overlaps([r(1, 5)], [r(6, 5, "bob")]) == ()  # touching is fine


@pytest.mark.parametrize("taken, avoid, expected", [
    pytest.param([], [], 100000, id="empty"),
    pytest.param([r(100000, 65536, "sdtest")], [], 165536, id="after-the-first-user"),
    pytest.param([r(165536, 65536, "b"), r(100000, 65536, "a")], [], 231072, id="unsorted"),
    pytest.param([r(100000, 1000, "a"), r(200000, 65536, "b")], [], 101000, id="gap-big-enough"),
    pytest.param([r(100000, 1000, "a"), r(150000, 65536, "b")], [], 215536, id="gap-too-small"),
    pytest.param([r(0, 4000000000, "a")], [], None, id="no-room"),
    pytest.param([], [100500], 100501, id="avoid-account-ids"),
    pytest.param([r(120000, 10, "a"), r(100000, 65536, "b")], [], 165536, id="nested-spans"),
])
def test_choose_free_start(taken, avoid, expected):
    assert choose_free_start(taken, 65536, avoid=avoid) == expected
    if expected is not None:
        chosen = r(expected, 65536, "new")
        assert not overlaps([chosen], taken)


def test_login_defs():
    text = "# comment\nSUB_UID_MIN  200000\nSUB_UID_MAX 900000\nSUB_GID_MIN 250000\nSUB_UID_COUNT 70000\njunk\n"
    assert parse_login_defs(text) == LoginDefs(250000, 900000, 70000)
    assert parse_login_defs("") == LoginDefs()
    assert parse_login_defs("SUB_UID_MIN 5\nSUB_UID_MAX 4\n") == LoginDefs()


# -- property tests: only ParseError escapes ------------------------------------------------

@settings(max_examples=400)
@given(st.one_of(st.text(), st.binary(), st.text(st.characters(codec=None, categories=["Cs", "Lu", "Nd", "Po"]))))
def test_subid_text_never_raises(data):
    parsed = parse_subid_text(data)
    for rng in parsed.ranges:
        assert rng.count > 0 and rng.last <= 2**32 - 2
    assert all(isinstance(e, ParseError) and e.line for e in parsed.errors)


@settings(max_examples=400)
@given(st.text())
def test_subid_strict_raises_only_parse_error(text):
    try:
        parse_subid_text(text, strict=True)
    except ParseError:
        pass


_line = st.builds(lambda name, start, count: f"{name}:{start}:{count}",
                  st.from_regex(r"[a-z_][a-z0-9_-]{0,8}", fullmatch=True),
                  st.integers(0, 2**31), st.integers(1, 2**20))


@settings(max_examples=200)
@given(st.lists(_line, max_size=20))
def test_well_formed_files_round_trip(lines):
    parsed = parse_subid_text("\n".join(lines))
    assert parsed.errors == ()
    assert [f"{x.owner}:{x.start}:{x.count}" for x in parsed.ranges] == lines


@settings(max_examples=400)
@given(st.text())
def test_id_map_parser_raises_only_parse_error(text):
    try:
        id_map = parse_id_map(text)
    except ParseError:
        return
    assert id_map.entries


@settings(max_examples=200)
@given(st.lists(st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.integers(1, 2**32 - 1)),
                min_size=1, max_size=10))
def test_id_map_round_trip(rows):
    text = "\n".join(f"{a:>10} {b:>10} {c:>10}" for a, b, c in rows) + "\n"
    assert parse_id_map(text).to_json() == [list(row) for row in rows]


@settings(max_examples=200)
@given(st.text())
def test_getsubids_parser_raises_only_parse_error(text):
    try:
        parse_getsubids(text)
    except ParseError:
        pass
