"""The storage guard rails (spotidoctor.backend.storageguard), the ownership scan (fast and probe paths, early
exit, symlinks never followed, unreadable directories), the userns scan and UserNsChown."""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from spotidoctor.api import Context
from spotidoctor.backend import storageguard
from spotidoctor.backend.storageguard import StorageGuard, refusals, storage_refusal
from spotidoctor.checks.storage import scan as storage_scan
from spotidoctor.checks.storage.scan import OwnershipScan, WrongOwner, scan_in_userns, scan_ownership
from spotidoctor.checks.storage.steps import UserNsChown, chown_argv
from spotidoctor.config import Config
from spotidoctor.engine.fixer import StepEnvironment
from spotidoctor.errors import FixFailed
from spotidoctor.fixes import Privilege
from spotidoctor.paths import UserInfo
from spotidoctor.probes.fs import RealFS, StatInfo
from spotidoctor.testing import FakeCommand, FakeCommandRunner, FakeFS, make_context

ME = UserInfo(os.getuid(), os.getgid(), "alice", "/home/alice")
OWNER = (os.getuid(), os.getgid())
STORE = "/home/alice/.spotify"
MAPS = [FakeCommand(("podman", "unshare", "cat", "/proc/self/uid_map"), "0 1600 1\n1 100000 65536\n"),
        FakeCommand(("podman", "unshare", "cat", "/proc/self/gid_map"), "0 1600 1\n1 100000 65536\n")]


def context(tmp_path: Path, files: Mapping[str, str] | None = None, commands: Sequence[FakeCommand] = (),
            owners: Mapping[str, tuple[int, int]] | None = None, fs: RealFS | None = None,
            storage_dir: str = STORE) -> Context:
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    (root / "home/alice/.spotify").mkdir(parents=True, exist_ok=True)
    ctx = make_context(root, files=files, user=ME, config=Config(storage_dir=storage_dir), owners=owners, fs=fs,
                       commands=FakeCommandRunner(commands, repeat=True, missing=("podman",)))
    for d in (root, root / "home", root / "home/alice"):
        d.chmod(0o755)
    return ctx


def host(tmp_path: Path, path: str) -> Path:
    return tmp_path / "root" / path.lstrip("/")


def guard(ctx: Context, *owners: int) -> StorageGuard:
    return storageguard.guard_for(ctx, owner_uids=owners)


# -- guard rails ----------------------------------------------------------------------------

@pytest.mark.parametrize("path, reason", [
    pytest.param("/", "/ is a system directory", id="root"),
    pytest.param("/home/alice", "/home/alice is your home directory (/home/alice)", id="home"),
    pytest.param("/home", "/home is an ancestor of your home directory (/home/alice)", id="home-parent"),
    pytest.param("/tmp", "/tmp is a system directory", id="tmp"),
    pytest.param("/var/tmp", "/var/tmp is a system directory", id="var-tmp"),
    pytest.param("/etc/spotify", "/etc/spotify is inside the system directory /etc", id="etc"),
    pytest.param("/usr/share/x", "/usr/share/x is inside the system directory /usr", id="usr"),
    pytest.param("relative/dir", "relative/dir is not an absolute path", id="relative"),
    pytest.param("/home/alice/other", "/home/alice/other is outside the configured storage directory "
                 "/home/alice/.spotify", id="outside-storage"),
])
def test_places_never_used(tmp_path, path, reason):
    ctx = context(tmp_path, storage_dir="/" if path == "/" else STORE)
    assert reason in refusals(ctx.probes.fs, guard(ctx), path)


def test_runtime_dir_is_refused(tmp_path):
    runtime = f"/run/user/{ME.uid}"
    ctx = context(tmp_path, storage_dir=runtime + "/spotify")
    found = refusals(ctx.probes.fs, guard(ctx), runtime + "/spotify", must_exist=False)
    assert f"{runtime}/spotify overlaps $XDG_RUNTIME_DIR ({runtime}), which holds your session's sockets" in found


def test_the_storage_dir_passes(tmp_path):
    ctx = context(tmp_path)
    assert refusals(ctx.probes.fs, guard(ctx), STORE) == []
    assert refusals(ctx.probes.fs, guard(ctx), STORE + "/config", must_exist=False) == []
    assert refusals(ctx.probes.fs, guard(ctx), STORE + "/config") == [f"{STORE}/config does not exist"]
    assert storage_refusal(ctx) is None  # podman missing: only your own uid is accepted, and it is yours


def test_symlink_to_home_is_refused(tmp_path):
    ctx = context(tmp_path, storage_dir="/home/alice/link")
    os.symlink("/home/alice", host(tmp_path, "/home/alice/link"))
    assert storage_refusal(ctx) == ("/home/alice/link is a symlink (to /home/alice); configure the real directory "
                                    "instead")


def test_symlinked_parent_is_refused(tmp_path):
    ctx = context(tmp_path, storage_dir="/home/alice/ln/spotify")
    host(tmp_path, "/home/alice/real/spotify").mkdir(parents=True)
    os.symlink("real", host(tmp_path, "/home/alice/ln"))
    assert storage_refusal(ctx) == ("/home/alice/ln/spotify resolves to /home/alice/real/spotify (a parent "
                                    "directory is a symlink); set storage_dir to /home/alice/real/spotify instead")


def test_not_a_directory(tmp_path):
    ctx = context(tmp_path, files={"/home/alice/.spotify/config": "x"})
    assert storage_refusal(ctx, STORE + "/config") == f"{STORE}/config is not a directory"


def test_owned_by_a_stranger(tmp_path):
    ctx = context(tmp_path, owners={STORE: (4242, 4242)})
    assert storage_refusal(ctx) == f"{STORE} is owned by uid 4242, which is neither you nor the container user"


def test_owned_by_the_container_user(tmp_path):
    ctx = context(tmp_path, owners={STORE: (101499, 101499)}, commands=MAPS)
    ctx.probes.cmd._missing.clear()  # type: ignore[attr-defined]  # podman "exists" here
    assert storage_refusal(ctx) is None
    assert storage_refusal(ctx, owner_uids=()) is not None


def test_ancestor_owned_by_someone_else(tmp_path):
    ctx = context(tmp_path, storage_dir="/home/alice/x/spotify", owners={"/home/alice/x": (4242, 4242)})
    host(tmp_path, "/home/alice/x/spotify").mkdir(parents=True)
    assert storage_refusal(ctx) == ("/home/alice/x (a parent of /home/alice/x/spotify) is owned by uid 4242, "
                                    "not by you or root")


@pytest.mark.parametrize("mode, refused", [(0o777, True), (0o1777, False), (0o775, False)])
def test_world_writable_parent(tmp_path, mode, refused):
    ctx = context(tmp_path, storage_dir="/home/alice/shared/spotify")
    host(tmp_path, "/home/alice/shared/spotify").mkdir(parents=True)
    host(tmp_path, "/home/alice/shared").chmod(mode)
    reason = "/home/alice/shared (a parent of /home/alice/shared/spotify) is writable by everyone"
    assert (storage_refusal(ctx) == reason) is refused


def test_mount_points_inside(tmp_path):
    mountinfo = ("22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
                 "40 22 0:41 / /home/alice/.spotify/cache\\040dir rw - tmpfs tmpfs rw\n")
    ctx = context(tmp_path, files={"/proc/self/mountinfo": mountinfo})
    assert storage_refusal(ctx) == (f"{STORE}/cache dir is a mount point inside {STORE} "
                                    "(chown -R would cross into it)")
    assert storageguard.mount_points_under(ctx.probes.fs, "/home/alice/other") == []


class MountFS(FakeFS):
    def ismount(self, path: str) -> bool:
        return path == STORE


def test_the_dir_itself_is_a_mount_point(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    ctx = context(tmp_path, fs=MountFS(root))
    assert storage_refusal(ctx) == f"{STORE} is a mount point"


# -- ownership scan -------------------------------------------------------------------------

def make_tree(base: Path) -> None:
    """config/ with files, a subdir, a symlink to a file outside and one to a dir outside."""
    (base / "outside").mkdir()
    for i in range(10):
        (base / "outside" / f"f{i}").write_text("x")
    (base / "outside.txt").write_text("x")
    tree = base / "tree"
    (tree / "sub/deeper").mkdir(parents=True)
    (tree / "a").write_text("a")
    (tree / "sub/b").write_text("b")
    (tree / "sub/deeper/c").write_text("c")
    os.symlink("../outside.txt", tree / "file-link")
    os.symlink("../outside", tree / "dir-link")
    os.symlink("/nonexistent", tree / "dangling")


def test_scan_counts_entries_and_never_follows_symlinks(tmp_path):
    make_tree(tmp_path)
    fs = RealFS(tmp_path)
    scan = scan_ownership(fs, "/tree", OWNER)
    # tree, a, sub, sub/b, sub/deeper, sub/deeper/c and three links; nothing from outside/.
    assert scan == OwnershipScan("/tree", OWNER, checked=9, wrong=0)


def test_scan_reports_every_wrong_entry_and_samples(tmp_path):
    make_tree(tmp_path)
    scan = scan_ownership(RealFS(tmp_path), "/tree", (4242, 4242))
    assert (scan.checked, scan.wrong, scan.complete, len(scan.samples)) == (9, 9, True, 5)
    assert scan.samples[0] == WrongOwner("/tree", OWNER[0], OWNER[1])
    assert str(scan.samples[0]) == f"/tree ({OWNER[0]}:{OWNER[1]})"


def test_scan_stops_early(tmp_path):
    make_tree(tmp_path)
    scan = scan_ownership(RealFS(tmp_path), "/tree", (4242, 4242), stop_after=3, max_samples=2)
    assert (scan.wrong, scan.complete, len(scan.samples)) == (3, False, 2)


def test_scan_asks_a_fake_probe_for_owners(tmp_path):
    make_tree(tmp_path)
    fs = FakeFS(tmp_path, owners={"/tree/sub/b": (1, 2), "/tree/dir-link": (3, 4)})
    scan = scan_ownership(fs, "/tree", OWNER)
    assert scan.wrong == 2
    assert sorted(scan.samples, key=lambda s: s.path) == [WrongOwner("/tree/dir-link", 3, 4, "../outside"),
                                                          WrongOwner("/tree/sub/b", 1, 2)]
    assert str(scan.samples[0]) in ("/tree/dir-link (3:4) -> ../outside", "/tree/sub/b (1:2)")


def test_scan_of_a_single_file_and_a_missing_root(tmp_path):
    (tmp_path / "file").write_text("x")
    assert scan_ownership(RealFS(tmp_path), "/file", OWNER).checked == 1
    with pytest.raises(FileNotFoundError):
        scan_ownership(RealFS(tmp_path), "/missing", OWNER)


def test_scan_lists_unreadable_directories(tmp_path, monkeypatch):
    make_tree(tmp_path)
    real_scandir = os.scandir

    def scandir(path):  # the container user's 0700 directory (root would read it anyway)
        if str(path).endswith("/tree/sub"):
            raise PermissionError(13, "Permission denied", path)
        return real_scandir(path)

    monkeypatch.setattr(storage_scan.os, "scandir", scandir)
    scan = scan_ownership(RealFS(tmp_path), "/tree", OWNER)
    assert scan.unreadable == ("/tree/sub",)
    assert scan.checked == 6  # sub itself is seen from its parent, its contents are not


class OtherDeviceFS(FakeFS):
    def lstat(self, path: str) -> StatInfo | None:
        st = super().lstat(path)
        if st is not None and path == "/tree/sub":
            return StatInfo(st.uid, st.gid, st.mode, st.size, st.mtime, st.dev + 1, st.ino)
        return st


def test_scan_does_not_enter_other_filesystems(tmp_path):
    make_tree(tmp_path)
    scan = scan_ownership(OtherDeviceFS(tmp_path), "/tree", OWNER)
    assert scan.mounts == ("/tree/sub",) and scan.checked == 6


def test_scan_of_thousands_of_entries(tmp_path):
    base = tmp_path / "big"
    for d in range(50):
        sub = base / f"d{d:02}"
        sub.mkdir(parents=True)
        for f in range(100):
            (sub / f"f{f}").touch()
    fs = FakeFS(tmp_path, owners={"/big/d17/f3": (9, 9)})
    assert scan_ownership(RealFS(tmp_path), "/big", OWNER).checked == 1 + 50 + 5000
    scan = scan_ownership(fs, "/big", OWNER, stop_after=1)
    assert (scan.wrong, scan.samples, scan.complete) == (1, (WrongOwner("/big/d17/f3", 9, 9),), False)


# -- the userns scan ------------------------------------------------------------------------

FIND = ("podman", "unshare", "find", "-P", "/s/config/priv", "-xdev", "-mindepth", "1",
        "(", "!", "-uid", "1500", "-o", "!", "-gid", "1500", "-o", "(", "-type", "f", "-links", "+1", ")", ")",
        "-printf", r"%U:%G:%y:%n:%p\0%l\0")


def test_scan_in_userns(tmp_path):
    out = ("0:0:f:1:/s/config/priv/a\0\0" + "0:1500:d:2:/s/config/priv/b c\0\0"
           + "1500:1500:f:2:/s/config/priv/linked\0\0" + "0:0:l:1:/s/config/priv/x\0/home/al/.bashrc\0")
    ctx = context(tmp_path, commands=[FakeCommand(FIND, out)])
    found = scan_in_userns(ctx, ["/s/config/priv"], (1500, 1500), stop_early=False)
    assert found == storage_scan.UserNsScan(3, (WrongOwner("/s/config/priv/a", 0, 0),
                                           WrongOwner("/s/config/priv/b c", 0, 1500),
                                           WrongOwner("/s/config/priv/x", 0, 0, "/home/al/.bashrc")),
                                           hard_links=(storage_scan.HardLink("/s/config/priv/linked", 1500, 1500, 2),))
    ctx = context(tmp_path, commands=[FakeCommand((*FIND, "-quit"), "0:0:f:1:/s/config/priv/a\0\0")])
    early = scan_in_userns(ctx, ["/s/config/priv"], (1500, 1500), stop_early=True)
    assert (early.wrong, early.complete) == (1, False)


def test_scan_in_userns_failure(tmp_path):
    ctx = context(tmp_path, commands=[FakeCommand(FIND, "", "Error: cannot re-exec", 125)])
    found = scan_in_userns(ctx, ["/s/config/priv"], (1500, 1500), stop_early=False)
    assert found.error == "`podman unshare find` failed: Error: cannot re-exec" and not found.complete


# -- UserNsChown ----------------------------------------------------------------------------

CHOWN = ("podman", "unshare", "find", "-P", STORE + "/config", "-xdev", "!", "(", "-type", "f", "-links", "+1", ")",
         "-exec", "chown", "--no-dereference", "1500:1500", "--", "{}", "+")


def chown_step(ctx: Context) -> UserNsChown:
    return UserNsChown("Give config to the container user", path=STORE + "/config", owner=(1500, 1500),
                       guard=guard(ctx))


def test_chown_argv_is_the_safe_form():
    assert chown_argv(STORE + "/config", (1500, 1500)) == CHOWN


def test_chown_step_applies_after_the_guards(tmp_path):
    ctx = context(tmp_path, commands=[FakeCommand(CHOWN)])
    host(tmp_path, STORE + "/config").mkdir()
    step = chown_step(ctx)
    env = StepEnvironment.from_context(ctx)
    assert step.privilege is Privilege.USERNS
    assert step.preview(env) == [f"$ podman unshare find -P {STORE}/config -xdev '!' '(' -type f -links +1 ')' "
                                 "-exec chown --no-dereference 1500:1500 -- '{}' +"]
    assert step.apply(env) == f"chowned {STORE}/config to 1500:1500 inside podman unshare"
    assert ctx.probes.cmd.calls == [CHOWN]  # type: ignore[attr-defined]
    assert step.to_json()["argv"] == list(CHOWN)


def test_chown_step_rechecks_at_apply_time(tmp_path):
    ctx = context(tmp_path, commands=[FakeCommand(CHOWN)])
    host(tmp_path, STORE + "/config").mkdir()
    step = chown_step(ctx)
    # Between the check and the fix, config/ became a symlink to the home directory.
    host(tmp_path, STORE + "/config").rmdir()
    os.symlink("/home/alice", host(tmp_path, STORE + "/config"))
    env = StepEnvironment.from_context(ctx)
    refused = f"{STORE}/config is a symlink (to /home/alice); configure the real directory instead"
    assert step.preview(env)[1] == f"(would refuse: {refused})"
    with pytest.raises(FixFailed, match="refusing to chown"):
        step.apply(env)
    assert ctx.probes.cmd.calls == []  # type: ignore[attr-defined]


def test_chown_step_without_guard_refuses(tmp_path):
    ctx = context(tmp_path)
    with pytest.raises(FixFailed, match="no guard rails"):
        UserNsChown("x", path=STORE).apply(StepEnvironment.from_context(ctx))


def test_chown_failure_is_reported(tmp_path):
    ctx = context(tmp_path, commands=[FakeCommand(CHOWN, "", "chown: changing ownership: Invalid argument", 1)])
    host(tmp_path, STORE + "/config").mkdir()
    with pytest.raises(FixFailed, match="Invalid argument"):
        chown_step(ctx).apply(StepEnvironment.from_context(ctx))


def test_scan_in_userns_caps_its_argv(tmp_path):
    dirs = [f"/s/d{i}" for i in range(storage_scan.MAX_FIND_DIRS + 3)]
    argv = ("podman", "unshare", "find", "-P", *dirs[:storage_scan.MAX_FIND_DIRS], *FIND[5:])
    ctx = context(tmp_path, commands=[FakeCommand(argv, "")])
    found = scan_in_userns(ctx, dirs, (1500, 1500), stop_early=False)
    assert found.error == f"only the first {storage_scan.MAX_FIND_DIRS} of {len(dirs)} directories were scanned"
    assert not found.complete
