"""Tests for behaviour that small mutations of the doctor changed without any test failing:
exact boundaries, a right uid with a wrong gid, the real walker crossing into another
filesystem, spellings of the system include, a root fix held back, an unsafe fix in the
launch preflight, a warning's fix, a launch stopped with SIGTERM, and a config edit that
keeps size and mtime."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from spotidoctor.api import Check, CheckResult, Context
from spotidoctor.checks.pulse.conf import ensure_default_pa, read_default_pa
from spotidoctor.checks.storage import scan as storage_scan
from spotidoctor.checks.storage.scan import WrongOwner, scan_ownership
from spotidoctor.engine import fixer
from spotidoctor.engine.fixloop import fix_loop
from spotidoctor.engine.planning import plan
from spotidoctor.engine.registry import Loaded, Registry
from spotidoctor.engine.session import Session
from spotidoctor.fixes import Fix, Privilege, RunCommand, WriteFile
from spotidoctor.model import Status
from spotidoctor.podman.subids import SubIdRange, choose_free_start
from spotidoctor.probes.fs import RealFS
from spotidoctor.testing import FakeCommand, FakeCommandRunner, FakeFS, make_context

ME = (os.getuid(), os.getgid())


# -- a free subordinate gap of exactly the needed size ------------------------------------------------

def r(start: int, count: int, owner: str) -> SubIdRange:
    return SubIdRange(owner, start, count)


@pytest.mark.parametrize(("taken", "expected"), [
    pytest.param([r(100000, 1000, "a"), r(166536, 65536, "b")], 101000, id="gap-exactly-65536"),
    pytest.param([r(100000, 1000, "a"), r(166535, 65536, "b")], 232071, id="gap-one-short"),
])
def test_a_gap_of_exactly_the_needed_size_is_used(taken: list[SubIdRange], expected: int) -> None:
    assert choose_free_start(taken, 65536) == expected


def test_a_range_ending_exactly_at_the_ceiling_fits() -> None:
    assert choose_free_start([], 65536, floor=100000, ceiling=165535) == 100000
    assert choose_free_start([], 65536, floor=100000, ceiling=165534) is None


# -- ownership walkers: a right uid with a wrong gid, another filesystem -------------------------------

def make_tree(root: Path) -> None:
    (root / "tree/sub/deeper").mkdir(parents=True)
    (root / "tree/a").write_text("a")
    (root / "tree/sub/b").write_text("b")
    (root / "tree/sub/deeper/c").write_text("c")


def test_the_root_entry_with_the_right_uid_and_a_wrong_gid_is_wrong(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    scan = scan_ownership(RealFS(tmp_path), "/file", (ME[0], ME[1] + 1))
    assert (scan.wrong, scan.samples) == (1, (WrongOwner("/file", ME[0], ME[1]),))


def test_the_real_walker_flags_a_right_uid_with_a_wrong_gid(tmp_path: Path) -> None:
    make_tree(tmp_path)
    scan = scan_ownership(RealFS(tmp_path), "/tree", (ME[0], ME[1] + 1))
    assert (scan.checked, scan.wrong) == (6, 6)  # every entry, not just the root


def test_the_probe_walker_flags_a_right_uid_with_a_wrong_gid(tmp_path: Path) -> None:
    make_tree(tmp_path)
    fs = FakeFS(tmp_path, owners={"/tree/sub/b": (ME[0], ME[1] + 1)})
    scan = scan_ownership(fs, "/tree", ME)
    assert (scan.wrong, scan.samples) == (1, (WrongOwner("/tree/sub/b", ME[0], ME[1] + 1),))


def test_the_real_walker_lists_another_filesystem_and_does_not_enter_it(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    make_tree(tmp_path)
    real_stat = os.stat

    def stat(path, *args, **kwargs):  # "sub" is a mount point: another st_dev
        st = real_stat(path, *args, **kwargs)
        if path == "sub" and kwargs.get("dir_fd") is not None:
            fields = list(st[:10])
            fields[2] = st.st_dev + 1
            return os.stat_result(fields)
        return st

    monkeypatch.setattr(storage_scan.os, "stat", stat)
    scan = scan_ownership(RealFS(tmp_path), "/tree", ME)
    assert scan.mounts == ("/tree/sub",)
    assert scan.checked == 3  # tree, a and sub itself; nothing below sub


# -- the system include, however it is spelled ---------------------------------------------------------

@pytest.mark.parametrize("spelling", ["/etc/pulse/default.pa", "/etc/pulse//default.pa", "/etc/pulse/./default.pa"])
def test_the_system_include_counts_however_it_is_spelled(spelling: str) -> None:
    text = f".include {spelling}\nload-module module-null-sink\n"
    assert read_default_pa(text).includes_system
    edit = ensure_default_pa(text, {"socket": "pulse-socket", "auth-cookie": "pulse-cookie"}, "/run/user/1600")
    assert sum(line.startswith(".include") for line in edit.text.splitlines()) == 1  # never a second one


def test_another_include_is_not_the_system_one() -> None:
    assert not read_default_pa(".include /etc/pulse/default.pa.d\n").includes_system
    assert not read_default_pa(".include /etc/pulse/system.pa\n").includes_system


# -- fixes: root held back, a warning's fix offered -----------------------------------------------------

FLAG = "/home/alice/flag"


class NeedsRoot(Check):
    id = "userns.fake-root"
    title = "needs root"

    def run(self, ctx: Context) -> CheckResult:
        if ctx.probes.fs.exists(FLAG):
            return self.ok("done")
        return self.fail("needs root", fixes=(Fix.safe("userns.fake-root-fix", "as root", RunCommand(
            "touch as root", argv=("touch", FLAG), run_as=Privilege.ROOT)),))


class Warns(Check):
    id = "pulse.fake-warns"
    title = "warns"

    def run(self, ctx: Context) -> CheckResult:
        if ctx.probes.fs.exists(FLAG):
            return self.ok("done")
        return self.warn("only a warning", fixes=(Fix.safe("pulse.fake-warn-fix", "write the flag",
                                                           WriteFile("write", path=FLAG, content="x\n")),))


def session_of(tmp_path: Path, check: type[Check], runner: FakeCommandRunner) -> Session:
    ctx = make_context(tmp_path, commands=runner)
    return Session(ctx, Registry((Loaded(check, "test"),), ()))


def test_a_root_fix_is_held_back_without_allow_root(tmp_path: Path) -> None:
    runner = FakeCommandRunner([])  # any command would be an AssertionError
    session = session_of(tmp_path, NeedsRoot, runner)
    outcome = fix_loop(session, plan([NeedsRoot]), fixer.FixPolicy(), lambda fix: True)
    assert outcome.applied == [] and runner.calls == []
    [(candidate, why)] = outcome.withheld
    assert candidate.fix.id == "userns.fake-root-fix" and why == "needs root privileges: needs --allow-root"


def test_with_allow_root_the_root_fix_runs_through_sudo(tmp_path: Path) -> None:
    runner = FakeCommandRunner([FakeCommand(("sudo", "--", "touch", FLAG))])
    session = session_of(tmp_path, NeedsRoot, runner)
    outcome = fix_loop(session, plan([NeedsRoot]), fixer.FixPolicy(max_privilege=Privilege.ROOT), lambda fix: True)
    assert [a.fix.id for a in outcome.applied] == ["userns.fake-root-fix"] and runner.exhausted


def test_a_warnings_safe_fix_is_offered_and_applied(tmp_path: Path) -> None:
    session = session_of(tmp_path, Warns, FakeCommandRunner([]))
    assert [c.fix.id for c in fixer.candidates([Warns().run(session.ctx)])] == ["pulse.fake-warn-fix"]
    outcome = fix_loop(session, plan([Warns]), fixer.FixPolicy(), lambda fix: True)
    assert [a.ok for a in outcome.applied] == [True]
    assert [r.status for r in outcome.results] == [Status.OK]


def test_a_passing_results_fix_is_never_offered(tmp_path: Path) -> None:
    ok = CheckResult("x.ok", Status.OK, "fine", fixes=(Fix.safe("x.fix", "t", WriteFile("w", path=FLAG)),))
    skipped = dataclasses.replace(ok, status=Status.SKIP)
    assert fixer.candidates([ok, skipped]) == []


# -- the result cache: an edit that keeps size and mtime ---------------------------------------------------

def test_a_same_size_config_edit_with_its_mtime_put_back_is_still_seen(tmp_path: Path) -> None:
    from spotidoctor.podman.info import podman_info, podman_info_age
    from tests.unit.test_resultcache import INFO, Clock, fill, podman_ctx, podman_runner

    root, clock, runner = fill(tmp_path), Clock(), podman_runner()
    conf = root / "home/alice/.config/containers/containers.conf"
    podman_info(podman_ctx(tmp_path, runner, clock))
    podman_info(podman_ctx(tmp_path, runner, clock))
    assert runner.calls.count(INFO) == 1  # remembered
    before = conf.stat()
    old = conf.read_bytes()
    new = old.replace(b"runc", b"crun") if b"runc" in old else old[:-1] + (b"#" if old[-1:] != b"#" else b"!")
    assert len(new) == len(old) and new != old
    conf.write_bytes(new)
    os.utime(conf, ns=(before.st_atime_ns, before.st_mtime_ns))  # what `cp -p` or an editor's backup restore does
    assert conf.stat().st_size == before.st_size and conf.stat().st_mtime_ns == before.st_mtime_ns
    ctx = podman_ctx(tmp_path, runner, clock)
    podman_info(ctx)
    assert podman_info_age(ctx) is None and runner.calls.count(INFO) == 2


# -- libpulse's error codes, and a write that changes nothing ----------------------------------------------

@pytest.mark.parametrize(("errno_", "outcome"), [
    (1, "access-denied"), (6, "refused"), (13, "refused"), (8, "timeout"), (2, "failed"), (0, "failed"),
])
def test_libpulse_error_codes_keep_their_meaning(errno_: int, outcome: str) -> None:
    from spotidoctor.probes.pulse import _reason_outcome

    assert _reason_outcome(errno_).value == outcome  # pulse/def.h: PA_ERR_ACCESS 1, CONNECTIONREFUSED 6, ...


def test_writing_identical_content_changes_nothing(tmp_path: Path) -> None:
    ctx = make_context(tmp_path, files={FLAG: "same\n"})
    env = fixer.StepEnvironment.from_context(ctx)
    path = tmp_path / FLAG.lstrip("/")
    os.utime(path, ns=(1, 1))
    step = WriteFile("write", path=FLAG, content="same\n", backup=True)
    assert step.preview(env) == [f"{FLAG}: already up to date"]
    assert step.apply(env) == f"{FLAG} already up to date"
    assert path.stat().st_mtime_ns == 1  # not rewritten
    assert not (tmp_path / ctx.paths.backup_dir.lstrip("/")).exists()  # and not backed up
