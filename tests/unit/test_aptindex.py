"""The newest package version in a repository's Packages index."""
from __future__ import annotations

import pytest

from spotidoctor.backend.aptindex import newest_version, parse_packages
from spotidoctor.errors import ParseError

# Written by apt-ftparchive for tests/aptrepo.py's stand-in, plus older versions and another package.
PACKAGES = """\
Package: spotify-client
Architecture: amd64
Version: 1:1.2.52.442.g01893f6b
Priority: optional
Section: sound
Maintainer: spotidoctor tests <tests@spotidoctor.invalid>
Installed-Size: 9615
Depends: libasound2, libatk-bridge2.0-0, libatomic1, libcurl3-gnutls, libgbm1, libgtk-3-0, libnss3
Filename: pool/non-free/s/spotify-client/spotify-client_1.2.52.442.g01893f6b_amd64.deb
Size: 3254428
SHA256: 736cb02301a4bc84af19debe2c9440ed65959aaaa77bdeee3d3fffd0f92acef1
Description: Spotify streaming music client (spotidoctor's test stand-in)
 Runs the probes of spotidoctor's stand-in client instead of Spotify.

Package: spotify-client
Architecture: amd64
Version: 1:1.2.9.743.g85d9593d
Filename: pool/non-free/s/spotify-client/spotify-client_1.2.9.743.g85d9593d_amd64.deb

Package: spotify-client
Architecture: i386
Version: 1:1.9.0.1.gffffffff
Filename: pool/non-free/s/spotify-client/spotify-client_1.9.0.1.gffffffff_i386.deb

Package: spotify-client
Architecture: amd64
Version: 1:1.2.52.442.g01893f6b~rc1
Filename: pool/non-free/s/spotify-client/spotify-client_1.2.52.442.g01893f6b~rc1_amd64.deb

Package: spotify-client-0.9.17
Architecture: amd64
Version: 1:9.9.9
"""


def test_newest_for_the_architecture() -> None:
    newest = newest_version(PACKAGES, "spotify-client", "amd64")
    assert newest is not None and str(newest.version) == "1:1.2.52.442.g01893f6b"
    assert newest.filename.endswith("spotify-client_1.2.52.442.g01893f6b_amd64.deb")
    assert newest.fields["Description"].endswith("\nRuns the probes of spotidoctor's stand-in client instead of "
                                                 "Spotify.")


def test_any_architecture_and_absent_packages() -> None:
    newest = newest_version(PACKAGES, "spotify-client")
    assert newest is not None and str(newest.version) == "1:1.9.0.1.gffffffff"
    assert newest_version(PACKAGES, "spotify-client", "arm64") is None
    assert newest_version(PACKAGES, "nothing") is None
    assert newest_version("", "spotify-client") is None


def test_field_names_are_case_insensitive_and_blank_lines_may_repeat() -> None:
    text = "\n\npackage: spotify-client\nversion: 1.0\narchitecture: all\n\n\n"
    [entry] = parse_packages(text)
    assert (entry.package, str(entry.version), entry.architecture) == ("spotify-client", "1.0", "all")
    assert newest_version(text, "spotify-client", "amd64") == entry  # "all" fits every architecture


@pytest.mark.parametrize("text, line", [
    (" continuation first\n", 1),
    ("Package: a\nnot a field\n", 2),
    ("Package: a\nArchitecture: amd64\n", 1),
    ("Package: a\nVersion: 1.0\n\nPackage: b\nVersion: x1 0\n", 4),
])
def test_a_malformed_index_is_a_parse_error_with_the_line(text: str, line: int) -> None:
    with pytest.raises(ParseError, match=f"^line {line}: "):
        parse_packages(text)
