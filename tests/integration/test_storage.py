"""storage.* against the real filesystem and `podman unshare`, as the unprivileged test user:
a wrongly owned tree fails, `spotidoctor fix storage` hands every entry to the mapped uid,
symlinks pointing out of the tree are not followed, the keep-id migration gives it back,
and a storage path that is a symlink to $HOME is refused."""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from spotidoctor.api import Context
from spotidoctor.checks import podman as podman_checks
from spotidoctor.checks import storage as storage_checks
from spotidoctor.checks import userns as userns_checks
from spotidoctor.checks.storage.common import REFUSED
from spotidoctor.checks.storage.dir import READY
from spotidoctor.config import Config
from spotidoctor.engine.planning import plan
from spotidoctor.engine.runner import Runner
from spotidoctor.model import CheckResult, Status
from spotidoctor.podman.idmaps import mapped_owner
from tests.realcontext import real_context

CHECKS = (*userns_checks.CHECKS, *podman_checks.CHECKS, *storage_checks.CHECKS)


def run(ctx: Context, *selectors: str) -> dict[str, CheckResult]:
    return {r.check_id: r for r in Runner(ctx).run(plan(CHECKS, selectors)).results}


def spotidoctor(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    return subprocess.run([sys.executable, "-m", "spotidoctor", *args, "--config", str(tmp_path / "none.toml")],
                          capture_output=True, text=True, timeout=600, env=env)


def owners(root: Path) -> dict[str, tuple[int, int]]:
    """Every entry's (uid, gid), lstat semantics, as `podman unshare` sees nothing special."""
    found = {str(root): (os.lstat(root).st_uid, os.lstat(root).st_gid)}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            st = os.lstat(os.path.join(dirpath, name))
            found[os.path.join(dirpath, name)] = (st.st_uid, st.st_gid)
    return found


@pytest.fixture
def sandbox(podman: str, tmp_path: Path) -> Iterator[Path]:
    """A scratch dir removed through `podman unshare` (the container user owns parts of it)."""
    base = tmp_path / "sandbox"
    base.mkdir()
    yield base
    subprocess.run(["podman", "unshare", "rm", "-rf", "--", str(base)], timeout=120)


def make_storage(base: Path) -> tuple[Path, Path, Path]:
    """~/.spotify-like tree with a file, a subdir, and symlinks to a file and a dir outside it."""
    outside_file, outside_dir = base / "outside.txt", base / "outsidedir"
    outside_file.write_text("not Spotify's")
    outside_dir.mkdir()
    (outside_dir / "keep").write_text("not Spotify's either")
    store = base / "spotify"
    (store / "config/Users/me").mkdir(parents=True)
    (store / "config/prefs").write_text("x")
    (store / "cache/Data/ab").mkdir(parents=True)
    for i in range(50):
        (store / f"cache/Data/ab/chunk{i}").write_bytes(b"\0" * 16)
    os.symlink(outside_file, store / "config/link-to-file")
    os.symlink("../../outsidedir", store / "cache/link-to-dir")
    return store, outside_file, outside_dir


def test_wrong_owner_fails_then_fix_hands_everything_to_the_mapped_uid(sandbox, tmp_path):
    store, outside_file, outside_dir = make_storage(sandbox)
    ctx = real_context(config=Config(storage_dir=str(store)))
    expected = mapped_owner(ctx)
    before = run(ctx, "storage")
    assert before["storage.dir"].summary == READY.format(root=store)
    ownership = before["storage.ownership"]
    assert ownership.status is Status.FAIL
    # Without --verbose each of config/ and cache/ stops after the first 5 wrong entries.
    assert ownership.summary.startswith("at least 10 entries")
    verbose_ctx = real_context(config=Config(storage_dir=str(store)), verbose=True)
    verbose = run(verbose_ctx, "storage.ownership")["storage.ownership"]
    tree_entries = len(owners(store / "config")) + len(owners(store / "cache"))
    assert verbose.facts["wrong"] == tree_entries and verbose.facts["complete"] is True

    done = spotidoctor(tmp_path, "fix", "storage", "--storage-dir", str(store))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "storage.ownership: fixed (verified)" in done.stdout

    for sub in ("config", "cache"):
        assert set(owners(store / sub).values()) == {expected}, sub
    # The symlinks themselves changed, their targets outside the tree did not.
    assert os.lstat(store / "config/link-to-file").st_uid == expected[0]
    assert os.lstat(outside_file).st_uid == os.getuid()
    assert set(owners(outside_dir).values()) == {(os.getuid(), os.getgid())}
    after = run(ctx, "storage.ownership")["storage.ownership"]
    assert after.status is Status.OK and after.summary.startswith(f"{tree_entries} entries owned by")


def test_private_directories_are_checked_inside_the_namespace(sandbox, tmp_path):
    store, _, _ = make_storage(sandbox)
    assert spotidoctor(tmp_path, "fix", "storage", "--storage-dir", str(store)).returncode == 0
    private = store / "config/Default"
    # As Chromium does: a 0700 directory of the container user, with a stray root-owned file.
    subprocess.run(["podman", "unshare", "sh", "-c",
                    f"mkdir -m 0700 '{private}' && chown 1500:1500 '{private}' && touch '{private}/stray'"],
                   check=True, timeout=60)
    with pytest.raises(PermissionError):
        os.listdir(private)
    result = run(real_context(config=Config(storage_dir=str(store))), "storage.ownership")["storage.ownership"]
    assert result.status is Status.FAIL
    assert result.messages[0].advice == (f"{private}/stray ({os.getuid()}:{os.getgid()})",)
    done = spotidoctor(tmp_path, "fix", "storage.ownership", "--storage-dir", str(store))
    assert "fixed (verified)" in done.stdout, done.stdout + done.stderr


def test_keep_id_migration_gives_the_tree_back(sandbox, tmp_path):
    store, _, _ = make_storage(sandbox)
    assert spotidoctor(tmp_path, "fix", "storage", "--storage-dir", str(store)).returncode == 0
    assert os.lstat(store / "config/prefs").st_uid != os.getuid()
    done = spotidoctor(tmp_path, "fix", "storage", "--storage-dir", str(store), "--profile", "keep-id")
    assert "storage.ownership: fixed (verified)" in done.stdout, done.stdout + done.stderr
    for sub in ("config", "cache"):
        assert set(owners(store / sub).values()) == {(os.getuid(), os.getgid())}


def test_symlink_to_home_is_refused_and_home_is_untouched(sandbox, tmp_path):
    home = Path(os.environ["HOME"])
    link = sandbox / "spotify-link"
    os.symlink(home, link)
    home_owner = (os.lstat(home).st_uid, os.lstat(home).st_gid)
    result = run(real_context(config=Config(storage_dir=str(link))), "storage.dir")["storage.dir"]
    assert (result.status, result.summary) == (Status.FAIL, REFUSED.format(path=link))
    assert result.messages[0].text == f"{link} is a symlink (to {home}); configure the real directory instead"
    assert result.fixes == ()
    done = spotidoctor(tmp_path, "fix", "storage", "--storage-dir", str(link))
    assert done.returncode == 1 and "chown" not in done.stdout
    assert (os.lstat(home).st_uid, os.lstat(home).st_gid) == home_owner


def test_home_itself_is_refused(podman):
    home = os.environ["HOME"]
    result = run(real_context(config=Config(storage_dir=str(home))), "storage.dir")["storage.dir"]
    assert result.summary == REFUSED.format(path=home) and result.fixes == ()


def test_missing_storage_is_created_then_owned(sandbox, tmp_path):
    store = sandbox / "fresh"
    done = spotidoctor(tmp_path, "fix", "storage", "--storage-dir", str(store))
    assert done.returncode == 0, done.stdout + done.stderr
    expected = mapped_owner(real_context(config=Config(storage_dir=str(store))))
    assert os.lstat(store).st_uid == os.getuid()
    assert {os.lstat(store / "config")[4:6], os.lstat(store / "cache")[4:6]} == {expected}


def test_a_hard_link_to_a_users_file_keeps_its_owner_after_fix(sandbox, tmp_path):
    """Issue 13: chown acts on the inode; a hard link to ~/.bashrc inside the storage must never
    hand the user's file to the container. The unsafe fix gives the storage its own copy."""
    store, _, _ = make_storage(sandbox)
    users_file = sandbox / "bashrc"
    users_file.write_text("export PATH=$HOME/bin:$PATH\n")
    users_file.chmod(0o644)
    os.link(users_file, store / "config/linked")
    mine = (os.getuid(), os.getgid())
    ctx = real_context(config=Config(storage_dir=str(store)))
    expected = mapped_owner(ctx)
    before = run(ctx, "storage")["storage.ownership"]
    assert any(m.text.startswith("1 hard-linked file in the storage") and
               m.advice[0] == f"{store}/config/linked ({mine[0]}:{mine[1]}, 2 names, 1 outside the storage)"
               for m in before.messages), before.messages

    done = spotidoctor(tmp_path, "fix", "storage", "--storage-dir", str(store))
    assert "storage.ownership: Give the storage to the container user" in done.stdout, done.stdout + done.stderr
    assert (os.stat(users_file).st_uid, os.stat(users_file).st_gid) == mine
    assert users_file.read_text() == "export PATH=$HOME/bin:$PATH\n" and os.stat(users_file).st_nlink == 2
    assert os.lstat(store / "config/prefs")[4:6] == expected  # everything else was chowned
    after = run(ctx, "storage.ownership")["storage.ownership"]
    assert after.status is Status.FAIL and after.facts["hard_links"] == 1

    done = spotidoctor(tmp_path, "fix", "storage.ownership", "--storage-dir", str(store), "--unsafe", "--yes")
    copied = "storage.ownership: fixed (verified) — Replace the hard-linked files in the storage by private copies"
    assert copied in done.stdout, done.stdout + done.stderr
    user_st, copy_st = os.stat(users_file), os.lstat(store / "config/linked")
    assert (user_st.st_uid, user_st.st_gid, user_st.st_nlink) == (*mine, 1)
    assert copy_st[4:6] == expected and copy_st.st_ino != user_st.st_ino
    assert users_file.read_text() == "export PATH=$HOME/bin:$PATH\n"
    assert run(ctx, "storage.ownership")["storage.ownership"].status is Status.OK


def test_a_symlink_pointing_out_is_named_with_its_target(sandbox, tmp_path):
    """Issue 19 #2: a link, where it points, that it is never followed, and what to do."""
    store, _, _ = make_storage(sandbox)
    assert spotidoctor(tmp_path, "fix", "storage", "--storage-dir", str(store)).returncode == 0
    bashrc = Path(os.environ["HOME"]) / ".bashrc"
    os.symlink(bashrc, store / "x-link")  # the storage root is the user's: plant it one level up first
    subprocess.run(["podman", "unshare", "mv", "--", str(store / "x-link"), str(store / "config/x")],
                   check=True, timeout=60)
    result = run(real_context(config=Config(storage_dir=str(store))), "storage.ownership")["storage.ownership"]
    assert result.status is Status.FAIL
    assert result.messages[0].advice == (f"{store}/config/x ({os.getuid()}:{os.getgid()}) -> {bashrc} "
                                         "(a symlink pointing out of the storage; never followed)",)
    remove = f"If you did not make it, remove it: `podman unshare rm -- {store}/config/x`."
    assert result.messages[1].advice == (remove,)


def test_a_tree_deeper_than_linux_paths_is_a_short_warning(sandbox, tmp_path):
    """Issue 19 #8: 10,000 nested directories cannot all be listed by path; that is a warning
    saying what was not covered, not a pass, and no message line is kilobytes long."""
    store, _, _ = make_storage(sandbox)
    fd = os.open(store / "cache", os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(10_000):
            os.mkdir("d", dir_fd=fd)
            inner = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = inner
    finally:
        os.close(fd)
    # As the container user would own it (chown -R walks any depth; paths are not passed whole).
    ns_owner = "1500:1500"
    for sub in ("config", "cache"):
        subprocess.run(["podman", "unshare", "chown", "-R", "-P", ns_owner, "--", str(store / sub)], check=True,
                       timeout=300)
    done = spotidoctor(tmp_path, "check", "storage", "--storage-dir", str(store), "--fresh")
    assert done.returncode == 0, done.stdout + done.stderr  # a warning, not a failure
    (line,) = [ln for ln in done.stdout.splitlines() if "storage.ownership" in ln]
    assert "but the scan is incomplete: 1 directory not covered" in line, done.stdout
    assert "File name too long" in done.stdout
    assert max(len(ln) for ln in done.stdout.splitlines()) < 400
