"""Hard links, symlinks pointing out and incomplete scans in the storage (issue 13 and 19):
the scan lists hard-linked files whoever owns them and symlink targets without following them,
storage.ownership never chowns a hard link and offers the private copy instead, a tree it cannot
fully list is a warning with short messages, and the copy helper keeps every other name intact."""
from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from spotidoctor.backend import linkcopy
from spotidoctor.checks.storage import scan as storage_scan
from spotidoctor.checks.storage.findings import COPY_FIX_ID, MAX_PATH_CHARS, short
from spotidoctor.checks.storage.ownership import CHOWN_FIX_ID, StorageOwnership
from spotidoctor.checks.storage.scan import HardLink, scan_ownership
from spotidoctor.checks.storage.steps import CopyHardLinks, UserNsChown, link_copy_argv
from spotidoctor.engine.fixer import StepEnvironment
from spotidoctor.errors import FixFailed
from spotidoctor.fixes import Applicability, Privilege
from spotidoctor.model import Status
from spotidoctor.probes.fs import RealFS
from spotidoctor.testing import FakeCommand
from tests.unit.test_storage_checks import CACHE, CONFIG, GID, STORE, SUB, UID, context, host, owned

OWNER = (os.getuid(), os.getgid())


# -- the scan ---------------------------------------------------------------------------------

def test_scan_lists_hard_linked_files_whoever_owns_them(tmp_path: Path) -> None:
    (tmp_path / "tree/sub").mkdir(parents=True)
    outside = tmp_path / "bashrc"
    outside.write_text("alias ls='ls --color'\n")
    os.link(outside, tmp_path / "tree/sub/linked")
    (tmp_path / "tree/plain").write_text("x")
    scan = scan_ownership(RealFS(tmp_path), "/tree", OWNER)
    st = os.stat(outside)
    assert scan.ok and scan.hard_link_count == 1
    assert scan.hard_links == (HardLink("/tree/sub/linked", OWNER[0], OWNER[1], 2, st.st_dev, st.st_ino),)


def test_scan_keeps_a_symlinks_target_without_following_it(tmp_path: Path) -> None:
    (tmp_path / "tree").mkdir()
    os.symlink("/home/al/.bashrc", tmp_path / "tree/x")
    scan = scan_ownership(RealFS(tmp_path), "/tree", (4242, 4242))
    link = next(s for s in scan.samples if s.path == "/tree/x")
    assert link.link_to == "/home/al/.bashrc"
    assert str(link) == f"/tree/x ({OWNER[0]}:{OWNER[1]}) -> /home/al/.bashrc"


def test_a_directory_that_cannot_be_listed_for_another_reason_is_not_covered(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "tree/deep/er").mkdir(parents=True)
    real = os.scandir

    def scandir(path):  # what a path beyond PATH_MAX gives
        if str(path).endswith("/deep"):
            raise OSError(errno.ENAMETOOLONG, "File name too long", path)
        return real(path)

    monkeypatch.setattr(storage_scan.os, "scandir", scandir)
    scan = scan_ownership(RealFS(tmp_path), "/tree", OWNER)
    assert scan.not_covered == (("/tree/deep", "File name too long"),) and scan.unreadable == ()


# -- storage.ownership ------------------------------------------------------------------------

def test_a_hard_link_is_reported_and_never_chowned(tmp_path: Path) -> None:
    ctx = context(tmp_path, files={CONFIG + "/prefs": "x"}, owners=owned([CONFIG, CACHE]))
    bashrc = host(tmp_path, "/home/alice/.bashrc")
    bashrc.write_text("secret-ish\n")
    os.link(bashrc, host(tmp_path, CONFIG + "/linked"))
    result = StorageOwnership().run(ctx)
    assert result.status is Status.FAIL
    assert result.summary.endswith(f"; 1 hard-linked file in {STORE}")
    (message,) = [m for m in result.messages if "hard-linked" in m.text]
    assert message.text.startswith("1 hard-linked file in the storage: each shares its content and owner with "
                                   "another name outside the storage; spotidoctor never chowns one")
    assert message.advice[0] == f"{CONFIG}/linked ({UID}:{GID}, 2 names, 1 outside the storage)"
    assert "find ~ -xdev -samefile" in message.advice[1]
    assert result.facts["hard_links"] == 1
    chown, copy = result.fixes
    assert chown.id == CHOWN_FIX_ID and isinstance(chown.steps[0], UserNsChown)
    # The chown itself skips every regular file with more than one link.
    assert ("!", "(", "-type", "f", "-links", "+1", ")") == chown.steps[0].argv[6:13]  # type: ignore[attr-defined]
    assert (copy.id, copy.applicability, copy.privilege) == (COPY_FIX_ID, Applicability.UNSAFE, Privilege.USERNS)
    (step,) = copy.steps
    assert isinstance(step, CopyHardLinks) and (step.path, step.owner) == (CONFIG, (1500, 1500))
    assert any("podman unshare cp --preserve=mode,timestamps" in note for note in copy.notes)


def test_two_names_inside_the_storage_are_not_called_outside(tmp_path: Path) -> None:
    ctx = context(tmp_path, files={CONFIG + "/a": "x"}, owners=owned([CONFIG, CONFIG + "/a", CONFIG + "/b", CACHE]))
    os.link(host(tmp_path, CONFIG + "/a"), host(tmp_path, CONFIG + "/b"))
    result = StorageOwnership().run(ctx)
    (message,) = [m for m in result.messages if "hard-linked" in m.text]
    assert "outside" not in message.text and "outside" not in message.advice[0]
    assert [f.id for f in result.fixes] == [COPY_FIX_ID]  # owners are right: nothing to chown


def test_a_symlink_pointing_out_says_so(tmp_path: Path) -> None:
    ctx = context(tmp_path, owners=owned([CONFIG, CACHE]))
    os.symlink("/home/alice/.bashrc", host(tmp_path, CONFIG + "/x"))
    result = StorageOwnership().run(ctx)
    assert result.messages[0].advice == (f"{CONFIG}/x ({UID}:{GID}) -> /home/alice/.bashrc (a symlink pointing out "
                                         "of the storage; never followed)",)
    hint = result.messages[1]
    assert hint.text.startswith(f"1 symlink in the storage points out of it (e.g. {CONFIG}/x -> /home/alice/.bashrc): "
                                "spotidoctor never follows a symlink")
    assert hint.advice == (f"If you did not make it, remove it: `podman unshare rm -- {CONFIG}/x`.",)


def test_an_incomplete_scan_is_a_warning_with_short_messages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    deep = CACHE + "/" + "/".join(["d"] * 30)
    ctx = context(tmp_path, dirs=(STORE, CONFIG, CACHE, deep), owners=owned([CONFIG, CACHE]))
    monkeypatch.setattr(storage_scan.os, "scandir", _too_long_below(CACHE + "/d/d/d", os.scandir))
    monkeypatch.setattr(RealFS, "lstat", lambda self, path: _lstat_owned(self, path))
    result = StorageOwnership().run(ctx)
    assert result.status is Status.WARN and result.facts["complete"] is False
    assert "but the scan is incomplete: 1 directory not covered" in result.summary
    (note,) = [m for m in result.messages if "could not be scanned" in m.text]
    assert note.text == ("1 directory of the storage could not be scanned: File name too long; "
                         "their contents were not checked")
    assert all(len(line) <= MAX_PATH_CHARS for line in note.advice)


def _too_long_below(prefix: str, real):
    def scandir(path):
        if prefix in str(path):
            raise OSError(errno.ENAMETOOLONG, "File name too long", path)
        return real(path)
    return scandir


def _lstat_owned(fs: RealFS, path: str):
    st = os.lstat(fs.host(path))
    from spotidoctor.probes.fs import StatInfo
    return StatInfo(SUB, SUB, st.st_mode, st.st_size, st.st_mtime, st.st_dev, st.st_ino, st.st_nlink)


def test_short_paths_keep_both_ends() -> None:
    long = "/s/cache/" + "a/" * 5000 + "end"
    cut = short(long)
    assert len(cut) <= MAX_PATH_CHARS and cut.startswith("/s/cache/") and cut.endswith("a/end") and "…" in cut
    assert short("/s/x") == "/s/x"


# -- the copy step and its helper -------------------------------------------------------------

def test_copy_step_rechecks_the_guards_and_runs_the_helper(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    argv = link_copy_argv(CONFIG, (1500, 1500))
    assert argv[:2] == ("podman", "unshare") and argv[3:] == ("-m", "spotidoctor.backend.linkcopy", "--owner",
                                                             "1500:1500", "--", CONFIG)
    ctx = context(tmp_path, commands=[FakeCommand(argv, f"copied {CONFIG}/linked\n")])
    from spotidoctor.checks.storage.common import storage_guard
    step = CopyHardLinks("copy", path=CONFIG, owner=(1500, 1500), guard=storage_guard(ctx))
    env = StepEnvironment.from_context(ctx)
    assert step.apply(env) == f"{CONFIG}: 1 hard-linked file(s) replaced by private copies owned by 1500:1500"
    os.rename(host(tmp_path, CONFIG), host(tmp_path, STORE + "/real"))
    os.symlink("/home/alice", host(tmp_path, CONFIG))
    with pytest.raises(FixFailed, match="refusing to copy"):
        step.apply(env)
    with pytest.raises(FixFailed, match="no guard rails"):
        CopyHardLinks("copy", path=CONFIG).apply(env)


def test_linkcopy_gives_the_storage_its_own_copy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home_file = tmp_path / "bashrc"
    home_file.write_text("the user's file\n")
    home_file.chmod(0o4640)  # set-id bits must not be copied
    store = tmp_path / "store"
    (store / "sub").mkdir(parents=True)
    os.link(home_file, store / "sub/linked")
    os.symlink(home_file, store / "link")  # never followed, never replaced
    (store / "plain").write_text("x")
    before = os.stat(home_file)
    assert linkcopy.main(["--owner", f"{OWNER[0]}:{OWNER[1]}", str(store)]) == 0
    assert capsys.readouterr().out == f"copied {store}/sub/linked\n"
    after = os.stat(home_file)
    copy = os.stat(store / "sub/linked")
    assert (after.st_ino, after.st_nlink, after.st_mode) == (before.st_ino, 1, before.st_mode)
    assert copy.st_ino != before.st_ino and copy.st_nlink == 1
    assert stat.S_IMODE(copy.st_mode) == 0o640 and copy.st_mtime_ns == before.st_mtime_ns
    assert (store / "sub/linked").read_text() == home_file.read_text() == "the user's file\n"
    assert os.readlink(store / "link") == str(home_file)
    assert sorted(os.listdir(store / "sub")) == ["linked"]  # no temporary copy left


def test_linkcopy_reports_what_it_could_not_copy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert linkcopy.main(["--owner", "1:1", str(tmp_path / "missing")]) == 1
    assert "cannot scan" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        linkcopy.main(["--owner", "x", str(tmp_path)])
