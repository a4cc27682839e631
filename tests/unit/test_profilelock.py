"""A stale Chromium profile lock after a crashed launch: the verdict names it and the fix
removes it only while no Spotify container runs."""
from __future__ import annotations

from pathlib import Path

import pytest

from spotidoctor.config import Config
from spotidoctor.crash.profilelock import FIX_ID, RemoveStaleProfileLock, stale_lock_fix
from spotidoctor.crash.scan import scan_chunks
from spotidoctor.crash.settings import Settings
from spotidoctor.crash.verdict import Inputs, judge
from spotidoctor.engine import fixer
from spotidoctor.errors import FixFailed
from spotidoctor.fixes import Applicability, Privilege
from spotidoctor.testing import FakeCommand, FakeCommandRunner, make_context

IN_USE = ("[6:6:1207/101010.123456:ERROR:process_singleton_posix.cc(353)] The profile appears to be in use by "
          "another Chromium process (6) on another computer (e18ba36aa308). Chromium has locked the profile so "
          "that it doesn't get corrupted. If you are sure no other processes are using this profile, you can "
          "unlock the profile and relaunch Chromium.")
STORAGE = "/home/alice/.spotify"
LOCK = f"{STORAGE}/cache/Browser/SingletonLock"
FIND = ("podman", "unshare", "find", f"{STORAGE}/config", f"{STORAGE}/cache", "-maxdepth", "4", "-name",
        "SingletonLock", "-type", "l", "-printf", "%p\\t%l\\n")
PS_NAME = ("podman", "ps", "--quiet", "--filter", "name=^spotify-container$")
PS_IMAGE = ("podman", "ps", "--quiet", "--filter", "ancestor=spotify_pod")
RM = ("podman", "unshare", "rm", "-f", "--", LOCK, f"{STORAGE}/cache/Browser/SingletonSocket",
      f"{STORAGE}/cache/Browser/SingletonCookie")


def test_a_launch_refused_by_its_own_stale_lock_is_named_with_the_fix() -> None:
    inputs = Inputs("launch L1", "L1", 21, True, scan_chunks([(IN_USE + "\n").encode()]), Settings(), Config(),
                    lambda: None)
    verdict = judge(inputs)
    assert (verdict.event, verdict.crashed) == ("profile_in_use", True)
    assert verdict.quote is not None and "on another computer (e18ba36aa308)" in verdict.quote
    assert verdict.cause is not None and verdict.cause.key == "profile-lock"
    assert "names host e18ba36aa308, pid 6" in verdict.cause.text
    [fix] = verdict.fixes
    assert (fix.id, fix.applicability, fix.privilege) == (FIX_ID, Applicability.SAFE, Privilege.USERNS)


def env_for(tmp_path: Path, *commands: FakeCommand) -> tuple[fixer.StepEnvironment, FakeCommandRunner]:
    runner = FakeCommandRunner(commands, ordered=True)
    ctx = make_context(tmp_path, commands=runner)
    return fixer.StepEnvironment.from_context(ctx), runner


STEP = stale_lock_fix(Config()).steps[0]


def test_the_fix_removes_the_lock_and_its_companions_when_nothing_runs(tmp_path: Path) -> None:
    env, runner = env_for(tmp_path, FakeCommand(PS_NAME), FakeCommand(PS_IMAGE),
                          FakeCommand(FIND, stdout=f"{LOCK}\te18ba36aa308-6\n"), FakeCommand(RM), FakeCommand(FIND))
    assert isinstance(STEP, RemoveStaleProfileLock)
    assert STEP.apply(env) == f"removed the stale profile lock {LOCK} (-> e18ba36aa308-6)"
    assert runner.exhausted


@pytest.mark.parametrize("running", [
    pytest.param((FakeCommand(PS_NAME, stdout="abc123\n"), FakeCommand(PS_IMAGE)), id="by-name"),
    pytest.param((FakeCommand(PS_NAME), FakeCommand(PS_IMAGE, stdout="def456\n")), id="by-image"),
])
def test_the_fix_never_touches_the_lock_while_a_container_runs(tmp_path: Path, running: tuple) -> None:
    env, runner = env_for(tmp_path, *running)
    with pytest.raises(FixFailed, match="is running"):
        STEP.apply(env)
    assert not any(call[:2] == ("podman", "unshare") for call in runner.calls)


def test_the_fix_refuses_when_podman_cannot_tell(tmp_path: Path) -> None:
    env, runner = env_for(tmp_path, FakeCommand(PS_NAME, stderr="Error: cannot connect", returncode=125))
    with pytest.raises(FixFailed, match="cannot tell whether Spotify's container runs"):
        STEP.apply(env)


def test_only_links_inside_the_storage_count_and_a_lock_that_stays_fails(tmp_path: Path) -> None:
    found = f"{LOCK}\te18ba36aa308-6\n/elsewhere/SingletonLock\tx-1\n{STORAGE}/cache/NotALock\ty-2\n"
    env, _ = env_for(tmp_path, FakeCommand(PS_NAME), FakeCommand(PS_IMAGE), FakeCommand(FIND, stdout=found),
                     FakeCommand(RM), FakeCommand(FIND, stdout=f"{LOCK}\te18ba36aa308-6\n"))
    with pytest.raises(FixFailed, match=f"could not remove {LOCK}"):
        STEP.apply(env)


def test_nothing_to_remove(tmp_path: Path) -> None:
    env, _ = env_for(tmp_path, FakeCommand(PS_NAME), FakeCommand(PS_IMAGE), FakeCommand(FIND, returncode=1))
    assert STEP.apply(env) == "no profile lock left in the storage"
