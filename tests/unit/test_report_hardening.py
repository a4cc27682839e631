"""The report against a hostile container (issue 13) and the leak-scan gaps of issue 19: files in
Spotify's storage are never read through a link (the manifest says why), container-chosen names
do not steer redaction, a short "credential" does not fail every report, redaction is one
trie-shaped pattern per list (the same matches as the old alternation), the scan sees a cookie's
tail, a user name in tar headers and the `autologin.x: value` form, and `-o` never overwrites
or leaves its temporary archive behind unless asked."""
from __future__ import annotations

import gzip
import io
import os
import re
import tarfile
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spotidoctor.bundle import archive, contained
from spotidoctor.bundle.collect import Collector, ItemStatus
from spotidoctor.bundle.identity import Identity, gather, prefs_files
from spotidoctor.bundle.redact import _AFTER, _BEFORE, Redactor, TokenMap, distinctive, word_pattern
from spotidoctor.bundle.scan import Needle, gather_needles, header_fields, scan_archive, scan_members, secret_needle
from spotidoctor.bundle.secrets import autologin_values
from spotidoctor.bundle.spec import BundleSpec
from spotidoctor.commands import report
from spotidoctor.errors import UsageError
from spotidoctor.testing import make_context

HOME = "/home/alice"
STORE = f"{HOME}/.spotify"
HISTORY = "ssh root@prod.example -p 2222 # CANARY-HISTORY-LINE\n"


def ctx_with_storage(tmp_path: Path, files: dict[str, str] | None = None):
    files = {f"{HOME}/.bash_history": HISTORY, **(files or {})}
    ctx = make_context(tmp_path / "root", files=files)
    for d in (f"{STORE}/config/Users", f"{STORE}/cache"):
        (tmp_path / "root" / d.lstrip("/")).mkdir(parents=True, exist_ok=True)
    return ctx


def host(tmp_path: Path, path: str) -> Path:
    return tmp_path / "root" / path.lstrip("/")


# -- never through a link in the storage -------------------------------------------------------

@pytest.mark.parametrize("planted, reason", [
    ("config/prefs", contained.SYMLINK),
    ("config/Users/x-user/prefs", contained.SYMLINK),
])
def test_a_planted_symlink_is_skipped_and_the_manifest_says_why(tmp_path: Path, planted: str, reason: str) -> None:
    ctx = ctx_with_storage(tmp_path)
    link = host(tmp_path, f"{STORE}/{planted}")
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(host(tmp_path, f"{HOME}/.bash_history"))
    spec = BundleSpec(origin="storage.dir")
    spec.add_file(f"{STORE}/{planted}", "storage/prefs")
    (item,) = Collector(ctx).run([spec])
    assert (item.entry.status, item.entry.reason, item.text) == (ItemStatus.SKIPPED, reason, None)
    assert f"{STORE}/{planted}" not in prefs_files(ctx)


def test_a_symlinked_directory_on_the_way_and_a_hard_link_are_refused(tmp_path: Path) -> None:
    ctx = ctx_with_storage(tmp_path)
    elsewhere = host(tmp_path, f"{HOME}/secrets")
    elsewhere.mkdir()
    (elsewhere / "prefs").write_text(HISTORY)
    host(tmp_path, f"{STORE}/config/Users/y-user").symlink_to(elsewhere)
    os.link(host(tmp_path, f"{HOME}/.bash_history"), host(tmp_path, f"{STORE}/cache/hist"))
    spec = BundleSpec(origin="storage.dir")
    spec.add_file(f"{STORE}/config/Users/y-user/prefs", "a")
    spec.add_file(f"{STORE}/cache/hist", "b")
    first, second = Collector(ctx).run([spec])
    assert first.entry.reason == contained.PARENT_SYMLINK and first.text is None
    assert second.entry.reason == contained.HARD_LINK.format(count=2) and second.text is None
    assert contained.listdir(ctx.probes.fs, STORE, f"{STORE}/config/Users/y-user") == []


def test_a_real_prefs_file_is_still_collected(tmp_path: Path) -> None:
    ctx = ctx_with_storage(tmp_path, {f"{STORE}/config/prefs": "storage.size=2048\n"})
    spec = BundleSpec(origin="storage.dir")
    spec.add_file(f"{STORE}/config/prefs", "p")
    (item,) = Collector(ctx).run([spec])
    assert (item.entry.status, item.text) == (ItemStatus.COLLECTED, "storage.size=2048\n")


def test_identity_never_reads_a_host_file_through_the_storage(tmp_path: Path) -> None:
    ctx = ctx_with_storage(tmp_path, {f"{HOME}/.config/gh/hosts.yml": "autologin.username=hostuser\n"})
    host(tmp_path, f"{STORE}/config/prefs").symlink_to(host(tmp_path, f"{HOME}/.config/gh/hosts.yml"))
    ident = gather(ctx)
    assert ident.spotify_users == () and ident.prefs_files == ()


# -- names the container chooses ---------------------------------------------------------------

def test_an_account_directory_named_podman_does_not_rewrite_podman() -> None:
    names = distinctive(("podman", "zq3xk8p", "Image"), ["podman version 4.3.1", "image spotify_pod"])
    assert names == ("zq3xk8p",)
    ident = Identity(spotify_users=names)
    red = Redactor(ident, TokenMap(), identity_on=False)
    text = red.text(f"podman info; {STORE}/config/Users/podman-user/prefs; zq3xk8p logged in")
    assert text == f"podman info; {STORE}/config/Users/spotifyuser0-user/prefs; spotifyuser1 logged in"


def test_a_short_credential_equal_to_a_common_word_does_not_fail_the_report(tmp_path: Path) -> None:
    prefs = f"{STORE}/config/prefs"
    ctx = ctx_with_storage(tmp_path, {prefs: "autologin.saved_credentials=podman\nautologin.username=podman\n"})
    needles = gather_needles(ctx, Identity(prefs_files=(prefs,)), include_names=False)
    assert not scan_members([archive.Member("f", b"podman info: rootless podman 4.3.1")], needles)
    for leak in (b"autologin.saved_credentials=podman", b'"autologin.username": "podman"',
                 b"autologin.saved_credentials: podman"):
        assert scan_members([archive.Member("f", leak)], needles), leak


def test_a_long_credential_is_looked_for_anywhere(tmp_path: Path) -> None:
    prefs = f"{STORE}/config/prefs"
    blob = "AQBm9xY2VyZXQtYmxvYi1mb3ItdGVzdHM="
    ctx = ctx_with_storage(tmp_path, {prefs: f"autologin.saved_credentials={blob}\n"})
    needles = gather_needles(ctx, Identity(prefs_files=(prefs,)), include_names=False)
    assert scan_members([archive.Member("f", f"debug: {blob} end".encode())], needles)


def test_the_colon_form_of_autologin_is_read_and_looked_for(tmp_path: Path) -> None:
    assert autologin_values("autologin.saved_credentials: SECRETVALUE-0123456789abcdef\n") == {
        "autologin.saved_credentials": "SECRETVALUE-0123456789abcdef"}
    prefs = f"{STORE}/config/prefs"
    ctx = ctx_with_storage(tmp_path, {prefs: "autologin.saved_credentials: SECRETVALUE-0123456789abcdef\n"})
    needles = gather_needles(ctx, Identity(prefs_files=(prefs,)), include_names=False)
    assert scan_members([archive.Member("f", b"x SECRETVALUE-0123456789abcdef")], needles)


# -- one trie per list: the same matches as the alternation, linear time ----------------------

_VALUE = st.text(alphabet="abAB01.-_ é", min_size=1, max_size=6)


@settings(max_examples=300, deadline=None)
@given(values=st.lists(_VALUE, min_size=1, max_size=8), text=st.text(alphabet="abAB01.-_ é/xz", max_size=80),
       ignore_case=st.booleans())
def test_the_trie_matches_what_the_alternation_matched(values: list[str], text: str, ignore_case: bool) -> None:
    alternatives = sorted({v.lower() if ignore_case else v for v in values}, key=len, reverse=True)
    old = re.compile(f"{_BEFORE}(?:{'|'.join(re.escape(v) for v in alternatives)}){_AFTER}",
                     re.I if ignore_case else 0)
    new = word_pattern(values, ignore_case=ignore_case)
    assert new is not None
    assert [m.span() for m in new.finditer(text)] == [m.span() for m in old.finditer(text)]


def test_two_thousand_names_are_one_pattern() -> None:
    names = [f"acct{i:04d}x" for i in range(2000)]
    pattern = word_pattern(names, ignore_case=True)
    assert pattern is not None and "|" in pattern.pattern
    assert pattern.pattern.count("acct") == 1  # the shared prefix appears once: a trie, not a list
    assert pattern.findall("x acct0042x acct9999x ACCT1999X") == ["acct0042x", "ACCT1999X"]


# -- leak-scan gaps -----------------------------------------------------------------------------

@pytest.mark.parametrize("size", [256, 255, 40, 17])
def test_a_cookie_tail_at_the_very_end_of_a_member_is_found(size: int) -> None:
    cookie = bytes((i * 73 + 5) % 251 + 1 for i in range(size))
    needle = secret_needle("pulse cookie", cookie)
    assert needle is not None
    for tail in (cookie[-(16 + 7):], cookie[-16:]):
        for form in (tail, tail.hex().encode(), tail.hex().upper().encode()):
            assert scan_members([archive.Member("log", b"x" * 100 + form)], [needle]), (size, len(tail))


def _tar_with_owner(path: Path, uname: str) -> None:
    with gzip.open(path, "wb") as gz, tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("top/x")
        info.size, info.uname, info.gname = 1, uname, ""  # the owner name alone, as the issue found it
        tar.addfile(info, io.BytesIO(b"x"))


def test_a_user_name_in_the_tar_headers_is_found(tmp_path: Path) -> None:
    path = tmp_path / "a.tar.gz"
    _tar_with_owner(path, "alice")
    needle = Needle("login name", words=word_pattern(["alice"], ignore_case=False))
    assert scan_archive(str(path), [needle])  # the member walk sees info.uname
    raw = archive.raw_tar(str(path))
    # The raw stream alone has the version "00" right before "alice": no word boundary there ...
    assert not scan_members([archive.Member("raw", raw)], [needle])
    # ... the backstop splits the header into its fields.
    assert b"\nalice\n" in header_fields(raw)
    assert scan_members([archive.Member("fields", header_fields(raw))], [needle])


# -- report -o ------------------------------------------------------------------------------------

def test_a_taken_output_name_is_a_usage_error_before_any_work(tmp_path: Path) -> None:
    taken = tmp_path / "report.tar.gz"
    taken.write_text("an older report")
    with pytest.raises(UsageError, match="already exists; name another file with -o, or pass --overwrite"):
        report.output_path(str(taken), time.time())
    assert report.output_path(str(taken), time.time(), overwrite=True) == str(taken)
    (tmp_path / "dir.tar.gz").mkdir()  # a directory at the name is never replaced, even with --overwrite
    with pytest.raises(UsageError):
        report.write_scanned(str(tmp_path / "dir.tar.gz"), "top", [archive.Member("a", b"x")], [], time.time(),
                             overwrite=True)
    assert sorted(os.listdir(tmp_path)) == ["dir.tar.gz", "report.tar.gz"]


def test_a_name_taken_meanwhile_leaves_nothing_behind(tmp_path: Path) -> None:
    target = tmp_path / "report.tar.gz"
    target.write_text("appeared while the report ran")
    with pytest.raises(UsageError) as caught:
        report.write_scanned(str(target), "top", [archive.Member("a", b"x")], [], time.time())
    assert caught.value.exit_code == 2
    assert target.read_text() == "appeared while the report ran"
    assert sorted(os.listdir(tmp_path)) == ["report.tar.gz"]  # no .spotidoctor-report-*.tmp


def test_overwrite_replaces_a_symlink_at_the_name_not_its_target(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    target = tmp_path / "report.tar.gz"
    target.symlink_to(victim)
    report.write_scanned(str(target), "top", [archive.Member("a", b"x")], [], time.time(), overwrite=True)
    assert victim.read_text() == "keep me" and not target.is_symlink()
    assert sorted(os.listdir(tmp_path)) == ["report.tar.gz", "victim"]


def test_the_report_has_an_overall_time_limit() -> None:
    with pytest.raises(report.ReportTimedOut, match="did not finish within its time limit of 0.05s"):
        with report.time_limit(0.05):
            time.sleep(5)
    with report.time_limit(5):
        pass  # and the timer is off again afterwards
    time.sleep(0.06)
