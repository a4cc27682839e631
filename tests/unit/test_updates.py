"""The update check on fakes: Release and Packages parsing, gpgv's status lines, every answer of
``query_repository``, and the remembered answer.

tests/data/spotify_testing_{Release,Packages}.txt are Spotify's own ``testing`` suite index of
January 2023 (kept in github.com/kpcyrd/spotify-launcher's data/ directory): the Release names
the Packages file's size and SHA-256, which these bytes match. The gpgv status lines are
gpgv 2.2.40's, from a clearsigned file checked against a keyring with and without its key.
"""
from __future__ import annotations

import gzip
import lzma
import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from spotidoctor.backend.aptrelease import (
    check_index,
    clearsigned_text,
    decompress,
    packages_candidates,
    parse_release,
)
from spotidoctor.backend.gpgv import Verdict, parse_status
from spotidoctor.backend.updates import UpdateAnswer, UpdateQuery, UpdateStatus, debian_arch, query_repository
from spotidoctor.errors import ParseError
from spotidoctor.probes.command import Completed
from spotidoctor.probes.http import HttpError, bypasses, proxies_from
from spotidoctor.testing import FakeHttp, make_context

DATA = Path(__file__).resolve().parents[1] / "data"
RELEASE = (DATA / "spotify_testing_Release.txt").read_text()
PACKAGES = (DATA / "spotify_testing_Packages.txt").read_bytes()
REPO = "http://repo.test"
DIST = f"{REPO}/dists/stable"
NEWEST = "1:1.1.84.716.gc5f8b819-2"
GOOD = ("[GNUPG:] NEWSIG t@x.invalid\n[GNUPG:] KEY_CONSIDERED 1EC3840A86676B2AEF0B6644D4937B0999A4AE39 0\n"
        "[GNUPG:] GOODSIG D4937B0999A4AE39 T <t@x.invalid>\n[GNUPG:] VALIDSIG 1EC3840A86676B2AEF0B6644D4937B0999A4AE39 "
        "2026-12-07 1796612393 0 4 0 22 8 01 1EC3840A86676B2AEF0B6644D4937B0999A4AE39\n")
MISSING = ("[GNUPG:] PLAINTEXT 74 0 \n[GNUPG:] NEWSIG u@x.invalid\n[GNUPG:] ERRSIG 912245B33E509986 22 8 01 "
           "1796612393 9 4202F724C118DC76A22081ED912245B33E509986\n[GNUPG:] NO_PUBKEY 912245B33E509986\n")


def clearsign(text: str) -> bytes:
    escaped = "\n".join("- " + line if line.startswith("-") else line for line in text.splitlines())
    return (f"-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n{escaped}\n-----BEGIN PGP SIGNATURE-----\n\n"
            "iHUEARYKAB0WIQQew4QKhmdrKu8LZkTUk3sJmaSuOQUCZ3QAAAAKCRDUk3sJmaSuOQ==\n-----END PGP SIGNATURE-----\n"
            ).encode()


class FakeGpgv:
    """gpgv as the update check runs it: writes the signed text to --output, prints ``status``."""

    def __init__(self, status: str = GOOD, installed: bool = True, returncode: int = 0) -> None:
        self.status, self.installed, self.returncode = status, installed, returncode
        self.argv: list[tuple[str, ...]] = []

    def which(self, name: str) -> str | None:
        return "/usr/bin/gpgv" if self.installed and name == "gpgv" else None

    def run(self, argv: Sequence[str], **_: object) -> Completed:
        self.argv.append(tuple(argv))
        output, signed = argv[argv.index("--output") + 1], argv[-1]
        if self.returncode == 0:
            with open(signed, "rb") as fh, open(output, "w") as out:
                out.write(clearsigned_text(fh.read()))
        return Completed(tuple(argv), self.returncode, self.status, "")


def ask(tmp_path: Path, http: FakeHttp, gpgv: FakeGpgv | None = None, installed: str = NEWEST,
        keyring: str = "/keys/image.gpg", arch: str = "amd64") -> UpdateAnswer:
    ctx = make_context(tmp_path)
    probes = ctx.probes.__class__(gpgv or FakeGpgv(), ctx.probes.fs, ctx.probes.x11, ctx.probes.pulse,  # type: ignore[arg-type]
                                  ctx.probes.procs, http)
    return query_repository(probes, UpdateQuery(REPO, arch, installed, keyring))


def served(**extra: bytes | HttpError) -> FakeHttp:
    return FakeHttp({f"{DIST}/InRelease": clearsign(RELEASE), f"{DIST}/non-free/binary-amd64/Packages": PACKAGES,
                     f"{DIST}/non-free/binary-amd64/Packages.gz": HttpError("gz", "HTTP 404 Not Found", 404),
                     **{f"{DIST}/{k}": v for k, v in extra.items()}})


# -- Release and Packages ---------------------------------------------------------------------

def test_spotifys_release_names_the_packages_file_these_bytes_are() -> None:
    release = parse_release(RELEASE)
    assert release.architectures == ("amd64", "i386") and release.components == ("non-free",)
    assert release.get("date") == "Tue, 17 Jan 2023 13:00:32 UTC"
    [gz, plain] = packages_candidates(release, "non-free", "amd64")
    assert (gz.path, gz.size, plain.path, plain.size) == ("non-free/binary-amd64/Packages.gz", 666,
                                                          "non-free/binary-amd64/Packages", 1224)
    assert check_index(plain, PACKAGES) == ""
    assert check_index(plain, PACKAGES.replace(b"extra", b"extrA")).startswith(
        "non-free/binary-amd64/Packages has SHA-256 ")
    assert check_index(plain, PACKAGES + b"\n") == ("non-free/binary-amd64/Packages has 1225 bytes, the signed "
                                                    "Release says 1224")
    assert packages_candidates(release, "non-free", "arm64") == []


@pytest.mark.parametrize("text", ["not a field line\n", " continuation first\n",
                                  "SHA256:\n 1234 12 non-free/binary-amd64/Packages\n"])
def test_malformed_release_is_a_parse_error(text: str) -> None:
    with pytest.raises(ParseError):
        parse_release(text)


def test_decompress_by_extension_with_a_limit() -> None:
    assert decompress("Packages.gz", gzip.compress(PACKAGES), 4096) == PACKAGES
    assert decompress("Packages.xz", lzma.compress(PACKAGES), 4096) == PACKAGES
    assert decompress("Packages", PACKAGES, 4096) == PACKAGES
    with pytest.raises(ParseError, match="larger than 100 bytes"):
        decompress("Packages.gz", gzip.compress(b"x" * 10_000), 100)
    with pytest.raises(ParseError, match="cannot be decompressed"):
        decompress("Packages.xz", b"not xz", 4096)


def test_clearsigned_text_undoes_dash_escaping_and_drops_the_armor() -> None:
    assert clearsigned_text(clearsign("Origin: x\n-dash line\n")) == "Origin: x\n-dash line\n"
    with pytest.raises(ParseError, match="not a clearsigned message"):
        clearsigned_text(b"<html>Please log in</html>")


# -- gpgv's status lines ----------------------------------------------------------------------

def test_gpgv_status_verdicts() -> None:
    good = parse_status(GOOD)
    assert good.ok and good.fingerprint == "1EC3840A86676B2AEF0B6644D4937B0999A4AE39"
    missing = parse_status(MISSING)
    assert (missing.verdict, missing.key_id, missing.fingerprint) == (
        Verdict.MISSING_KEY, "912245B33E509986", "4202F724C118DC76A22081ED912245B33E509986")
    assert parse_status("[GNUPG:] NODATA 1\n[GNUPG:] NODATA 2\n").verdict is Verdict.NOT_SIGNED
    assert parse_status("[GNUPG:] EXPKEYSIG 7A3A762FAFD4A51F Spotify\n").verdict is Verdict.EXPIRED_KEY
    assert parse_status("[GNUPG:] BADSIG D4937B0999A4AE39 T\n").verdict is Verdict.BAD
    assert parse_status("[GNUPG:] GOODSIG D4937B0999A4AE39 T\n").verdict is Verdict.NOT_SIGNED  # no VALIDSIG
    assert parse_status("").verdict is Verdict.NOT_SIGNED
    assert parse_status(MISSING + GOOD).ok  # old and new key both sign while a key rotates


# -- every answer -----------------------------------------------------------------------------

def test_newest_installed_is_current_and_the_gz_404_falls_back_to_the_plain_index(tmp_path: Path) -> None:
    http = served()
    gpgv = FakeGpgv()
    answer = ask(tmp_path, http, gpgv)
    assert (answer.status, answer.newest, answer.verified) == (UpdateStatus.CURRENT, NEWEST, True)
    assert answer.key_id == "1EC3840A86676B2AEF0B6644D4937B0999A4AE39"
    assert answer.release_date == "Tue, 17 Jan 2023 13:00:32 UTC"
    assert http.asked == [f"{DIST}/InRelease", f"{DIST}/non-free/binary-amd64/Packages.gz",
                          f"{DIST}/non-free/binary-amd64/Packages"]
    [argv] = gpgv.argv
    assert argv[:2] == ("/usr/bin/gpgv", "--homedir") and argv[3:5] == ("--keyring", "/keys/image.gpg")
    assert not os.path.exists(argv[-1])  # the scratch files are gone


def test_an_older_image_has_an_update(tmp_path: Path) -> None:
    answer = ask(tmp_path, served(), installed="1:1.1.80.699.gc3dac750-2")
    assert answer.status is UpdateStatus.AVAILABLE and answer.update_available and answer.newest == NEWEST


def test_a_newer_image_than_the_repository_is_current(tmp_path: Path) -> None:
    assert ask(tmp_path, served(), installed="1:1.2.52.442.g01893f6b").status is UpdateStatus.CURRENT


def test_offline_is_unreachable_with_the_reason(tmp_path: Path) -> None:
    http = FakeHttp({f"{DIST}/InRelease": HttpError(f"{DIST}/InRelease", "the name does not resolve")})
    answer = ask(tmp_path, http)
    assert answer.status is UpdateStatus.UNREACHABLE
    assert answer.detail == f"{DIST}/InRelease: the name does not resolve"


def test_a_key_the_image_lacks_is_a_rotation(tmp_path: Path) -> None:
    answer = ask(tmp_path, served(), FakeGpgv(MISSING, returncode=2))
    assert answer.status is UpdateStatus.KEY_ROTATED
    assert answer.key_id == "4202F724C118DC76A22081ED912245B33E509986"
    assert answer.detail == ("InRelease is signed with key 4202F724C118DC76A22081ED912245B33E509986, which the "
                             "image's keyring does not have")


def test_a_changed_index_is_not_trusted(tmp_path: Path) -> None:
    answer = ask(tmp_path, served(**{"non-free/binary-amd64/Packages.gz": gzip.compress(PACKAGES, mtime=1)}))
    assert answer.status is UpdateStatus.UNTRUSTED and answer.newest == ""
    assert answer.detail.startswith("non-free/binary-amd64/Packages.gz has SHA-256 ")
    assert answer.detail.endswith("the signed Release says e036c4ff7b9f4327…")
    too_big = HttpError(f"{DIST}/non-free/binary-amd64/Packages.gz", "larger than 666 bytes", too_large=True)
    answer = ask(tmp_path, served(**{"non-free/binary-amd64/Packages.gz": too_big}))
    assert (answer.status, answer.detail) == (UpdateStatus.UNTRUSTED, "non-free/binary-amd64/Packages.gz is larger "
                                              "than the signed Release says (666 bytes)")


def test_a_captive_portal_page_is_not_trusted(tmp_path: Path) -> None:
    http = FakeHttp({f"{DIST}/InRelease": b"<html>log in</html>"})
    answer = ask(tmp_path, http, FakeGpgv("[GNUPG:] NODATA 1\n", returncode=2))
    assert answer.status is UpdateStatus.UNTRUSTED and "not a signed message" in answer.detail


def test_without_gpgv_the_answer_says_it_was_not_verified(tmp_path: Path) -> None:
    answer = ask(tmp_path, served(), FakeGpgv(installed=False), installed="1:1.0-1")
    assert (answer.status, answer.verified) == (UpdateStatus.AVAILABLE, False)


def test_another_architecture_is_not_listed(tmp_path: Path) -> None:
    answer = ask(tmp_path, served(), arch="arm64")
    assert answer.status is UpdateStatus.NOT_LISTED
    assert answer.detail == "the Release lists no non-free/binary-arm64 index (architectures: amd64 i386)"


def test_a_bad_version_label_is_not_trusted(tmp_path: Path) -> None:
    answer = ask(tmp_path, served(), installed="not a version")
    assert answer.status is UpdateStatus.UNTRUSTED and answer.newest == NEWEST


def test_answers_survive_the_cache_and_reject_foreign_shapes() -> None:
    answer = UpdateAnswer(UpdateStatus.AVAILABLE, "1:1.0", NEWEST, "", False, "ABC", "today")
    assert UpdateAnswer.from_json(answer.to_json()) == answer
    with pytest.raises((TypeError, KeyError, ValueError)):
        UpdateAnswer.from_json({**answer.to_json(), "verified": "yes"})
    with pytest.raises((TypeError, KeyError, ValueError)):
        UpdateAnswer.from_json({**answer.to_json(), "status": "maybe"})


def test_podman_architecture_names_become_debians() -> None:
    assert [debian_arch(a) for a in ("amd64", "arm64", "arm", "386", "ppc64le", "riscv64")] == [
        "amd64", "arm64", "armhf", "i386", "ppc64el", "riscv64"]


def test_proxies_come_from_the_given_environment_and_no_proxy_bypasses() -> None:
    assert proxies_from({"https_proxy": "http://p:3128", "HTTP_PROXY": "http://q:8080", "no_proxy": ".corp"}) == {
        "https": "http://p:3128", "http": "http://q:8080", "no": ".corp"}
    assert bypasses("repo.corp", ".corp") and bypasses("corp", "corp") and bypasses("x.y", "*")
    assert not bypasses("repository.spotify.com", "spotify.co,localhost")
