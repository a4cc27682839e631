"""The archive writer (0600, anonymous headers), the leak scan (cookies raw/hex/base64,
cut-off copies, names with the redactor's boundaries) and the needles read from a home."""
from __future__ import annotations

import base64
import gzip
import os
import stat
import struct
import tarfile

import pytest

from spotidoctor import layout
from spotidoctor.bundle import archive
from spotidoctor.bundle.identity import Identity
from spotidoctor.bundle.redact import word_pattern
from spotidoctor.bundle.scan import Finding, Needle, gather_needles, scan_archive, scan_members, secret_needle
from spotidoctor.bundle.secrets import mit_cookies
from spotidoctor.probes.x11auth import XauthEntry, readable_entries
from spotidoctor.testing import make_context

COOKIE = bytes(range(256))  # a pulse cookie is 256 bytes
X_COOKIE = bytes.fromhex("29b1aa5f00112233445566778899aabb")


def xauth_entry(family: int, address: bytes, number: bytes, name: bytes, data: bytes) -> bytes:
    out = struct.pack(">H", family)
    for field in (address, number, name, data):
        out += struct.pack(">H", len(field)) + field
    return out


XAUTHORITY = (xauth_entry(256, b"vm", b"71", b"MIT-MAGIC-COOKIE-1", X_COOKIE)
              + xauth_entry(0xFFFF, b"", b"3", b"XDM-AUTHORIZATION-1", b"\x01" * 16))


def write(tmp_path, members: list[tuple[str, bytes]]) -> str:
    return archive.write_temp(str(tmp_path), "spotidoctor-report-x", [archive.Member(n, d) for n, d in members],
                              now=1_700_000_000)


def test_xauthority_cookies_and_truncated_tail() -> None:
    assert readable_entries(XAUTHORITY) == (
        XauthEntry(256, b"vm", b"71", b"MIT-MAGIC-COOKIE-1", X_COOKIE),
        XauthEntry(0xFFFF, b"", b"3", b"XDM-AUTHORIZATION-1", b"\x01" * 16))
    assert mit_cookies(XAUTHORITY) == [X_COOKIE]
    assert readable_entries(XAUTHORITY[:-3]) == readable_entries(XAUTHORITY)[:1]
    assert readable_entries(b"") == () and readable_entries(b"\x01") == ()
    assert mit_cookies(XAUTHORITY[:-3]) == [X_COOKIE]


def test_archive_is_private_and_anonymous(tmp_path) -> None:
    tmp = write(tmp_path, [("summary.md", b"# hi\n"), ("facts/a.txt", b"a")])
    assert stat.S_IMODE(os.stat(tmp).st_mode) == 0o600
    target = str(tmp_path / "user-named-output.tar.gz")
    archive.publish(tmp, target)
    assert not os.path.exists(tmp) and stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert archive.gzip_header_name(target) == b""
    with open(target, "rb") as fh:
        assert b"user-named" not in gzip.decompress(fh.read())
    with tarfile.open(target) as tar:
        infos = tar.getmembers()
    assert [(i.name, i.mode, i.uid, i.gid, i.uname, i.gname) for i in infos] == [
        ("spotidoctor-report-x/summary.md", 0o600, 0, 0, "", ""),
        ("spotidoctor-report-x/facts/a.txt", 0o600, 0, 0, "", "")]
    assert [(m.name, m.data) for m in archive.read_members(target)] == [
        ("spotidoctor-report-x/summary.md", b"# hi\n"), ("spotidoctor-report-x/facts/a.txt", b"a")]


def test_gzip_header_name_is_read_when_present(tmp_path) -> None:
    path = tmp_path / "named.gz"
    with open(path, "wb") as raw, gzip.GzipFile(filename="alice-report.tar", mode="wb", fileobj=raw) as gz:
        gz.write(b"x")
    assert archive.gzip_header_name(str(path)) == b"alice-report.tar"


COOKIE_NEEDLE = secret_needle("pulse cookie ~/.config/pulse/cookie", COOKIE)


@pytest.mark.parametrize(("leak", "found"), [
    pytest.param(COOKIE, True, id="raw"),
    pytest.param(COOKIE.hex().encode(), True, id="hex"),
    pytest.param(COOKIE.hex().upper().encode(), True, id="hex-upper"),
    pytest.param(base64.b64encode(COOKIE), True, id="base64"),
    pytest.param(COOKIE[100:124], True, id="cut-off-raw-24-bytes"),
    pytest.param(b"cookie=" + COOKIE[37:61].hex().encode() + b"...", True, id="cut-off-hex"),
    pytest.param(COOKIE[100:110], False, id="too-short-to-be-sure"),
    pytest.param(b"nothing here", False, id="clean"),
])
def test_cookie_needle(tmp_path, leak: bytes, found: bool) -> None:
    tmp = write(tmp_path, [("facts/log.txt", b"before " + leak + b" after")])
    expected = [Finding("pulse cookie ~/.config/pulse/cookie", "spotidoctor-report-x/facts/log.txt")] if found else []
    assert scan_archive(tmp, [COOKIE_NEEDLE]) == expected  # type: ignore[list-item]


@pytest.mark.parametrize(("text", "found"), [
    ("owner al", True), ("/home/al/x", True), ("al_backup", True), ("alsa mal", False), ("AL", False),
])
def test_login_name_needle_uses_the_redactors_boundaries(tmp_path, text: str, found: bool) -> None:
    needle = Needle("login name", words=word_pattern(["al"], ignore_case=False))
    tmp = write(tmp_path, [("facts/x.txt", text.encode())])
    assert bool(scan_archive(tmp, [needle])) is found


@pytest.mark.parametrize(("text", "found"), [
    ("hostname: VM", True), ("vm.example.com", True), ("kvm vmware", False),
    ("vm.overcommit_memory = 0", False), ("/proc/sys/vm/max_map_count", False),
])
def test_short_host_name_needle(tmp_path, text: str, found: bool) -> None:
    needle = Needle("host name", words=word_pattern(["vm"], ignore_case=True))
    tmp = write(tmp_path, [("facts/x.txt", text.encode())])
    assert bool(scan_archive(tmp, [needle])) is found


def test_names_are_scanned_too(tmp_path) -> None:
    needle = Needle("login name", words=word_pattern(["alice"], ignore_case=False))
    tmp = write(tmp_path, [("facts/home_alice_.config/x.txt", b"clean")])
    assert scan_archive(tmp, [needle]) == [
        Finding("login name", "the name or headers of spotidoctor-report-x/facts/home_alice_.config/x.txt")]
    assert scan_members([archive.Member("facts/alice.txt", b"")], [needle]) == [
        Finding("login name", "facts/alice.txt")]


def test_needles_from_a_home_hold_no_values_in_their_labels(tmp_path) -> None:
    home = "/home/alice"
    prefs = f"{home}/.spotify/config/prefs"
    files = {f"{home}/.config/pulse/cookie": COOKIE, f"{home}/.config/pulse/pulse-cookie": COOKIE[::-1],
             f"{home}/.Xauthority": XAUTHORITY,
             prefs: 'autologin.username="canaryuser"\nautologin.saved_credentials="CANARYSECRET0123456789"\n'
                    'autologin.enabled=true\n'}
    ctx = make_context(tmp_path, files=files, env={"DISPLAY": ":71"})
    identity = Identity(login_names=("alice",), hostnames=("vm",), prefs_files=(prefs,),
                        spotify_users=("canaryuser",))  # as gather() finds it: a distinctive name
    needles = gather_needles(ctx, identity, include_names=True)
    labels = [n.label for n in needles]
    assert labels == [
        "pulse cookie ~/.config/pulse/cookie", "pulse cookie ~/.config/pulse/pulse-cookie",
        "X MIT-MAGIC-COOKIE-1 #1 from ~/.Xauthority",
        "Spotify autologin.username from ~/.spotify/config/prefs",
        "Spotify autologin.saved_credentials from ~/.spotify/config/prefs",
        "Spotify autologin.enabled from ~/.spotify/config/prefs",  # only next to its key: `true` is a word
        "login name", "host name"]
    assert not any(secret in " ".join(labels) for secret in ("canaryuser", "CANARYSECRET", X_COOKIE.hex()))
    for leak in (COOKIE[::-1].hex(), X_COOKIE.hex(), "CANARYSECRET0123456789", "user canaryuser here", "alice"):
        assert scan_members([archive.Member("f", leak.encode())], needles), leak
    assert not scan_members([archive.Member("f", b"rootless: true, on host0 as obfuscateduser0")], needles)
    assert scan_members([archive.Member("f", b"autologin.enabled: true")], needles)
    without_names = gather_needles(ctx, identity, include_names=False)
    assert [n.label for n in without_names] == labels[:-2]


def test_no_secrets_means_no_needles(tmp_path) -> None:
    ctx = make_context(tmp_path)
    assert gather_needles(ctx, Identity(), include_names=True) == []
    assert layout.pulse_cookie(ctx.paths).endswith("/pulse/pulse-cookie")
