"""A rotated signing key: the key apt missed, the repository, and the exact rebuild command."""
from __future__ import annotations

import shlex

import pytest

from spotidoctor.backend.failures import Command, FailureKind, classify
from spotidoctor.backend.keyrotation import MissingKey, find_missing_key, key_url_guess, rebuild_prefix

# apt 2.6 (Debian 12, gpgv), as a build log shows it.
GPGV_LOG = """\
Get:4 http://127.0.0.1:41235 stable InRelease [1210 B]
Err:4 http://127.0.0.1:41235 stable InRelease
  The following signatures couldn't be verified because the public key is not available: NO_PUBKEY AA20C7AB16CDA594
W: GPG error: http://127.0.0.1:41235 stable InRelease: The following signatures couldn't be verified because the public key is not available: NO_PUBKEY AA20C7AB16CDA594
E: The repository 'http://127.0.0.1:41235 stable InRelease' is not signed.
Error: building at STEP "RUN set -eu; apt-get update": while running runtime: exit status 100
""".splitlines()  # noqa: E501
# apt 3.0 (Debian 13, Sequoia's sqv).
SQV_LOG = """\
Err:5 https://repository.spotify.com stable InRelease
  Sub-process /usr/bin/sqv returned an error code (1), error message is: Missing key 7AA298319813EF392C23518252AFAF4A082E547D, which is needed to verify signature.
E: The repository 'https://repository.spotify.com stable InRelease' is not signed.
""".splitlines()  # noqa: E501


def test_gpgv_names_the_long_key_id_and_the_repository() -> None:
    assert find_missing_key(GPGV_LOG) == MissingKey("AA20C7AB16CDA594", "", "http://127.0.0.1:41235")


def test_sqv_names_the_fingerprint_whose_last_16_digits_are_the_key_id() -> None:
    missing = find_missing_key(SQV_LOG)
    assert missing == MissingKey("52AFAF4A082E547D", "7AA298319813EF392C23518252AFAF4A082E547D",
                                 "https://repository.spotify.com")
    assert missing is not None and missing.named == missing.fingerprint


def test_no_key_named_is_no_rotation() -> None:
    assert find_missing_key(["E: The repository 'https://repository.spotify.com stable InRelease' is not signed."]) \
        is None
    assert find_missing_key(["EXPKEYSIG 7A3A762FAFD4A51F Spotify"]) is None  # expired, not missing


def test_the_key_url_follows_spotifys_naming() -> None:
    assert key_url_guess("C85668DF69375001") == "https://download.spotify.com/debian/pubkey_C85668DF69375001.asc"


def test_rebuild_repeats_the_build_with_the_new_key() -> None:
    prefix = rebuild_prefix("localhost/x:1", "/home/a/My Recipe/Containerfile", "host",
                            {"SPOTIFY_UID": "1500", "SPOTIFY_KEY_URL": "old", "BASE_IMAGE": "debian:bookworm"})
    failure = classify(GPGV_LOG, 100, rebuild=prefix)
    assert failure.kind is FailureKind.SIGNING_KEY
    assert failure.summary == ("Spotify's repository (http://127.0.0.1:41235) is signed with key AA20C7AB16CDA594, "
                               "which this build does not have: Spotify has rotated its signing key")
    advice = failure.advice_for(Command.BUILD)
    [command] = [a for a in advice if a.startswith("spotidoctor build")]
    assert shlex.split(command) == [
        "spotidoctor", "build", "--image", "localhost/x:1", "--containerfile", "/home/a/My Recipe/Containerfile",
        "--network", "host", "--build-arg", "BASE_IMAGE=debian:bookworm",
        "--build-arg", "SPOTIFY_KEY_URL=https://download.spotify.com/debian/pubkey_AA20C7AB16CDA594.asc"]
    assert "NO_PUBKEY AA20C7AB16CDA594" in failure.evidence
    assert failure.url == "https://www.spotify.com/us/download/linux/"
    assert any("https://www.spotify.com/us/download/linux/" in a for a in advice)


@pytest.mark.parametrize("recipe, network, expected", [
    ("bundled", "", ["spotidoctor", "build", "--image", "spotify_pod"]),
    ("bundled", "none", ["spotidoctor", "build", "--image", "spotify_pod", "--network", "none"]),
])
def test_rebuild_prefix_of_a_plain_build(recipe: str, network: str, expected: list[str]) -> None:
    assert list(rebuild_prefix("spotify_pod", recipe, network, {"SPOTIFY_UID": "1500"})) == expected


def test_sqv_rotation_is_classified_with_the_fingerprint() -> None:
    failure = classify(SQV_LOG, 100)
    assert "signed with key 7AA298319813EF392C23518252AFAF4A082E547D" in failure.summary
    assert any(a.endswith("SPOTIFY_KEY_URL=https://download.spotify.com/debian/pubkey_52AFAF4A082E547D.asc")
               for a in failure.advice_for(Command.BUILD))
