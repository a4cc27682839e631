"""spotidoctor's own files (privatefs): only into directories it owns with private modes, never
through a symlink; the lock, backups, launch records, the result cache, cookie copies and the
pulse client config all go through it. Foreign ownership is simulated by changing the uid
privatefs compares against (a test user cannot chown; the integration test uses podman unshare)."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from spotidoctor import lock, privatefs
from spotidoctor.backups import BackupStore
from spotidoctor.checks.pulse.steps import CopyPulseCookie
from spotidoctor.engine.fixer import StepEnvironment
from spotidoctor.errors import LockBusy
from spotidoctor.fixes import MakeDirs, WriteFile
from spotidoctor.privatefs import UnsafeDirectory, open_private_file, write_private
from spotidoctor.probes.fs import RealFS
from spotidoctor.testing import make_context


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_every_directory_from_top_down_is_created_private(tmp_path: Path) -> None:
    top = tmp_path / "state" / "spotidoctor"
    write_private(str(top / "backups" / "20260101" / "copy"), b"x", mode=0o600, top=str(top))
    for d in (top, top / "backups", top / "backups" / "20260101"):
        assert mode(d) == 0o700, d
    assert mode(top / "backups" / "20260101" / "copy") == 0o600


def test_a_world_writable_directory_is_refused_even_with_tighten(tmp_path: Path) -> None:
    shared = tmp_path / "run" / "spotidoctor"
    shared.mkdir(parents=True)
    shared.chmod(0o1777)
    with pytest.raises(UnsafeDirectory, match=r"open to other users \(mode 1777; needs 0700\)"):
        write_private(str(shared / "pulse-cookie"), b"c" * 256, mode=0o644, tighten=True)
    assert os.listdir(shared) == []


def test_tighten_makes_a_readable_directory_of_ours_private(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    state.chmod(0o755)
    with pytest.raises(UnsafeDirectory, match="mode 0755"):
        write_private(str(state / "f"), b"x", mode=0o600)
    write_private(str(state / "f"), b"x", mode=0o600, tighten=True)
    assert mode(state) == 0o700


def test_a_foreign_directory_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = tmp_path / "spotidoctor"
    runtime.mkdir(mode=0o700)
    me = os.getuid()
    monkeypatch.setattr(privatefs.os, "getuid", lambda: me + 1)  # i.e. the directory is someone else's
    with pytest.raises(UnsafeDirectory, match=rf"belongs to uid {me}, not to you \(uid {me + 1}\)"):
        write_private(str(runtime / "pulse-cookie"), b"c", mode=0o644, tighten=True)
    assert os.listdir(runtime) == []


def test_a_symlink_below_top_is_refused(tmp_path: Path) -> None:
    top = tmp_path / "state"
    top.mkdir(mode=0o700)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (top / "launches").symlink_to(elsewhere)
    with pytest.raises(UnsafeDirectory, match="is not a directory \\(a symlink\\?\\)"):
        write_private(str(top / "launches" / "id" / "launch.json"), b"{}", mode=0o600, top=str(top))
    assert os.listdir(elsewhere) == []


def test_open_private_file_never_opens_a_symlink(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    victim = tmp_path / "victim"
    victim.write_text("keep")
    (state / "lock").symlink_to(victim)
    with pytest.raises(UnsafeDirectory, match="is a symlink"):
        open_private_file(str(state / "lock"), os.O_RDWR | os.O_CREAT)
    assert victim.read_text() == "keep"


def test_the_lock_refuses_a_state_dir_others_can_write(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(0o777)
    with pytest.raises(UnsafeDirectory), lock.exclusive(str(state / "lock"), "fix"):
        pass
    state.chmod(0o755)  # readable only: made private, then locked as before
    with lock.exclusive(str(state / "lock"), "fix"):
        with pytest.raises(LockBusy), lock.exclusive(str(state / "lock"), "fix"):
            pass
    assert mode(state) == 0o700


def test_backups_never_go_through_a_symlinked_directory(tmp_path: Path) -> None:
    original = tmp_path / "default.pa"
    original.write_text("load-module x\n")
    backups = tmp_path / "state" / "backups"
    backups.parent.mkdir(mode=0o700)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    backups.symlink_to(elsewhere)
    with pytest.raises(UnsafeDirectory):
        BackupStore(RealFS(), str(backups)).save(str(original))
    assert os.listdir(elsewhere) == []


def _pulse_env(tmp_path: Path):
    root = tmp_path / "root"
    ctx = make_context(root, files={"/home/alice/.config/pulse/pulse-cookie": b"c" * 256})
    return root, StepEnvironment.from_context(ctx)


def test_the_pulse_cookie_copy_refuses_a_world_writable_runtime_dir(tmp_path: Path) -> None:
    root, env = _pulse_env(tmp_path)
    runtime = root / "run/user/1000/spotidoctor"
    runtime.mkdir(parents=True)
    runtime.chmod(0o777)
    step = CopyPulseCookie("copy", source="/home/alice/.config/pulse/pulse-cookie",
                           target="/run/user/1000/spotidoctor/pulse-cookie")
    with pytest.raises(UnsafeDirectory, match="open to other users"):
        step.apply(env)
    conf = WriteFile("conf", path="/run/user/1000/spotidoctor/pulse-client.conf", content="x", private=True)
    with pytest.raises(UnsafeDirectory):
        conf.apply(env)
    with pytest.raises(UnsafeDirectory):
        MakeDirs("mkdir", path="/run/user/1000/spotidoctor", private=True).apply(env)
    assert os.listdir(runtime) == []


def test_the_pulse_cookie_copy_is_written_into_a_private_dir(tmp_path: Path) -> None:
    root, env = _pulse_env(tmp_path)
    (root / "run/user/1000").mkdir(parents=True)
    step = CopyPulseCookie("copy", source="/home/alice/.config/pulse/pulse-cookie",
                           target="/run/user/1000/spotidoctor/pulse-cookie")
    assert step.apply(env).startswith("copied the cookie")
    assert mode(root / "run/user/1000/spotidoctor") == 0o700
    assert mode(root / "run/user/1000/spotidoctor/pulse-cookie") == 0o644
