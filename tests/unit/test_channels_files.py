"""Private-directory writes (privatefile) and X socket ownership (x11socket): real files in tmp,
fake stat records for the owners a test user cannot create."""
from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest

from spotidoctor.channels import x11socket
from spotidoctor.channels.privatefile import UnsafeDirectory, remove_private, write_private
from spotidoctor.probes.fs import RealFS, StatInfo

ME = 1616


def st(uid: int, kind: int, perms: int) -> StatInfo:
    return StatInfo(uid, uid, kind | perms, 0, 0.0, 1, 1)


# -- privatefile --------------------------------------------------------------------------------

def test_write_creates_the_private_dir_and_the_file(tmp_path: Path) -> None:
    target = tmp_path / "run" / "cookie"
    write_private(str(target), b"data", mode=0o644)
    assert target.read_bytes() == b"data"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o700
    write_private(str(target), b"new", mode=0o644)
    assert target.read_bytes() == b"new" and os.listdir(target.parent) == ["cookie"]


def test_refuses_a_directory_open_to_others(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    with pytest.raises(UnsafeDirectory, match=r"open to other users \(mode 1777; needs 0700\)"):
        write_private(str(shared / "cookie"), b"x", mode=0o644)
    assert os.listdir(shared) == []


def test_refuses_a_symlinked_directory(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(real)
    with pytest.raises(UnsafeDirectory, match="not a directory \\(a symlink\\?\\)"):
        write_private(str(link / "cookie"), b"x", mode=0o644)
    assert os.listdir(real) == []


def test_a_symlink_at_the_name_is_replaced_not_followed(tmp_path: Path) -> None:
    private = tmp_path / "run"
    private.mkdir(mode=0o700)
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep me")
    (private / "cookie").symlink_to(victim)
    write_private(str(private / "cookie"), b"cookie", mode=0o644)
    assert victim.read_bytes() == b"keep me"
    assert not (private / "cookie").is_symlink() and (private / "cookie").read_bytes() == b"cookie"


def test_remove_private(tmp_path: Path) -> None:
    target = tmp_path / "run" / "cookie"
    write_private(str(target), b"x", mode=0o644)
    assert remove_private(str(target)) is True and not target.exists()
    assert remove_private(str(target)) is False
    assert remove_private(str(tmp_path / "missing-dir" / "cookie")) is False


# -- x11socket (pure) ------------------------------------------------------------------------------

DIR = "/tmp/.X11-unix"
SOCK = "/tmp/.X11-unix/X0"


@pytest.mark.parametrize("owner", [ME, 0])
def test_sticky_dir_of_root_or_the_user_is_fine(owner: int) -> None:
    assert x11socket.socket_dir_problems(DIR, st(owner, stat.S_IFDIR, 0o1777), ME) == ()
    assert x11socket.socket_dir_problems(DIR, None, ME) == ()


def test_socket_dir_of_another_user() -> None:
    assert x11socket.socket_dir_problems(DIR, st(1700, stat.S_IFDIR, 0o1777), ME) == (
        f"{DIR} belongs to uid 1700, not you (uid {ME}) or root: its owner can replace the X sockets in it "
        "with their own",)


def test_socket_dir_writable_without_sticky_bit() -> None:
    assert x11socket.socket_dir_problems(DIR, st(0, stat.S_IFDIR, 0o777), ME) == (
        f"{DIR} is writable by others without the sticky bit (mode 0777): any local user can replace the X "
        "sockets in it",)
    assert x11socket.socket_dir_problems(DIR, st(0, stat.S_IFDIR, 0o775), ME)  # group-writable too
    assert x11socket.socket_dir_problems(DIR, st(0, stat.S_IFDIR, 0o755), ME) == ()


def test_socket_dir_symlink_or_file() -> None:
    assert "is a symlink" in x11socket.socket_dir_problems(DIR, st(ME, stat.S_IFLNK, 0o777), ME)[0]
    assert x11socket.socket_dir_problems(DIR, st(0, stat.S_IFREG, 0o644), ME) == (f"{DIR} is not a directory",)


@pytest.mark.parametrize("owner", [ME, 0])
def test_socket_of_root_or_the_user_is_fine(owner: int) -> None:
    sock = st(owner, stat.S_IFSOCK, 0o777)
    assert x11socket.socket_file_problems(SOCK, sock, sock, ME) == ()
    assert x11socket.socket_file_problems(SOCK, None, None, ME) == ()


def test_socket_of_another_uid() -> None:
    sock = st(101499, stat.S_IFSOCK, 0o777)
    assert x11socket.socket_file_problems(SOCK, sock, sock, ME) == (
        f"{SOCK} belongs to uid 101499, not you (uid {ME}) or root: another user's X server (or a fake one) "
        "would receive your cookie",)


def test_symlinked_socket_needs_both_the_link_and_the_target_trusted() -> None:
    mine = st(ME, stat.S_IFSOCK, 0o777)
    assert x11socket.socket_file_problems(SOCK, st(ME, stat.S_IFLNK, 0o777), mine, ME) == ()
    foreign_link = x11socket.socket_file_problems(SOCK, st(1700, stat.S_IFLNK, 0o777), mine, ME)
    assert foreign_link == (f"{SOCK} is a symlink that belongs to uid 1700, not you (uid {ME}) or root",)
    foreign_target = x11socket.socket_file_problems(SOCK, st(ME, stat.S_IFLNK, 0o777), st(1700, stat.S_IFSOCK, 0o777),
                                                    ME)
    assert len(foreign_target) == 1 and "belongs to uid 1700" in foreign_target[0]


def test_peer_problem() -> None:
    assert x11socket.peer_problem("X server :0", ME, ME) is None
    assert x11socket.peer_problem("X server :0", 0, ME) is None
    assert x11socket.peer_problem("X server :0", 1700, ME) == (
        f"X server :0 is run by uid 1700, not you (uid {ME}) or root: spotidoctor sends no cookie to another "
        "user's X server")
    assert "cannot tell" in (x11socket.peer_problem("X server :0", None, ME) or "")


def test_peer_uid_of_a_real_socket_pair_is_ours() -> None:
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with left, right:
        assert x11socket.peer_uid(left) == os.getuid()


def test_ownership_problems_through_the_fs_probe(tmp_path: Path) -> None:
    socket_dir = tmp_path / "x11"
    socket_dir.mkdir()
    socket_dir.chmod(0o777)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(socket_dir / "X4"))
        problems = x11socket.ownership_problems(RealFS(), 4, os.getuid(), str(socket_dir))
        assert problems == (f"{socket_dir} is writable by others without the sticky bit (mode 0777): any local "
                            "user can replace the X sockets in it",)
        socket_dir.chmod(0o1777)
        assert x11socket.ownership_problems(RealFS(), 4, os.getuid(), str(socket_dir)) == ()
        assert x11socket.ownership_problems(RealFS(), 4, os.getuid() + 1, str(socket_dir)) != ()
