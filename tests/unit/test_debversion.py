"""Debian version ordering (dpkg's rules): epochs, tildes, letters before other characters."""
from __future__ import annotations

import pytest

from spotidoctor.backend.debversion import DebVersion, compare_versions, parse_version, version_key
from spotidoctor.errors import ParseError


@pytest.mark.parametrize("lower, higher", [
    ("1.0", "1.0.1"),
    ("1.0~rc1", "1.0"),  # a tilde sorts before the end of the string: pre-releases first
    ("1.0~rc1", "1.0~rc2"),
    ("1.0~~", "1.0~~a"),  # dpkg's own example: ~~ < ~~a < ~ < (nothing) < a
    ("1.0~~a", "1.0~"),
    ("1.0~", "1.0"),
    ("1.0", "1.0a"),
    ("1.0a", "1.0+"),  # letters sort before every other character
    ("1.0+", "1.0."),
    ("1.0", "1.0+b1"),
    ("2.0", "1:0.1"),  # the epoch wins over everything
    ("1:2.0", "2:0.1"),
    ("1.0-1", "1.0-2"),
    ("1.0-1", "1.0-1.1"),
    ("1.0-9", "1.0-10"),  # numbers, not strings
    ("1.9", "1.10"),
    ("1.0-1~bpo1", "1.0-1"),
    ("1.2.52.442.g01893f6b", "1.2.53.440.g7b2f582a"),  # Spotify's own versions
    ("1:1.2.52.442.g01893f6b", "1:1.2.52.442.g01893f6c"),
    ("1:1.2.9.1.gabc", "1:1.2.10.1.gabc"),
    ("0.9", "1" + "0" * 5000),  # digit runs of any length
])
def test_ordering(lower: str, higher: str) -> None:
    assert compare_versions(lower, higher) == -1
    assert compare_versions(higher, lower) == 1
    assert compare_versions(lower, lower) == 0


@pytest.mark.parametrize("a, b", [
    ("1.0", "0:1.0"),  # no epoch is epoch 0
    ("1.0", "1.0-0"),  # no revision equals revision 0
    ("1.01", "1.1"),  # leading zeros do not count
    ("1.0-01", "1.0-1"),
])
def test_equal(a: str, b: str) -> None:
    assert compare_versions(a, b) == 0


def test_parts() -> None:
    assert parse_version("1:1.2.52.442.g01893f6b") == DebVersion(1, "1.2.52.442.g01893f6b", "")
    assert parse_version("2:1.0-rc-1ubuntu2") == DebVersion(2, "1.0-rc", "1ubuntu2")  # the last hyphen
    assert parse_version("1:2:3") == DebVersion(1, "2:3", "")  # colons after the epoch belong upstream
    assert str(parse_version(" 0:1.0-1 ")) == "1.0-1"


@pytest.mark.parametrize("text", ["", " ", "1.0 1", ":1.0", "a1.0", "1.0-", "1.0:1", "x:1.0", "1_0", "1.0-a_b",
                                  "2147483648:1", "1.0-1:2", "１.0", "-1"])
def test_versions_dpkg_refuses_are_parse_errors(text: str) -> None:
    with pytest.raises(ParseError):
        parse_version(text)


def test_sorting_with_the_key() -> None:
    versions = ["1:1.0", "1.0~rc1", "1.0", "1.0-1", "1.0+b1", "0.9"]
    assert sorted(versions, key=version_key) == ["0.9", "1.0~rc1", "1.0", "1.0-1", "1.0+b1", "1:1.0"]
