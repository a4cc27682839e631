"""storage.* checks over a sysroot: the directory and its guard rails, ownership against the
userns.mapping facts (isolated and keep-id), the chown and migration fixes, free space."""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from spotidoctor.api import Context
from spotidoctor.checks.storage import scan as storage_scan
from spotidoctor.checks.storage.common import REFUSED, USE_DEDICATED
from spotidoctor.checks.storage.dir import MISSING, MKDIR_FIX_ID, READY, StorageDirectory
from spotidoctor.checks.storage.free_space import LOW_SPACE, StorageFreeSpace
from spotidoctor.checks.storage.ownership import (
    ALL_RIGHT,
    CHOWN_FIX_ID,
    MIGRATE_FIX_ID,
    NOT_FIXING,
    PRIVATE_CHECKED,
    ROOT_CHOWN_FIX_ID,
    UNMAPPED,
    WRONG,
    StorageOwnership,
)
from spotidoctor.checks.storage.steps import UserNsChown
from spotidoctor.config import Config
from spotidoctor.engine.fixer import FixPolicy, StepEnvironment, apply
from spotidoctor.engine.records import Candidate
from spotidoctor.fixes import Applicability, MakeDirs, Privilege, RunCommand
from spotidoctor.model import CheckResult, Message, Status
from spotidoctor.paths import UserInfo
from spotidoctor.probes.fs import DiskUsage
from spotidoctor.testing import FakeCommand, FakeCommandRunner, FakeFS, make_context

UID, GID = os.getuid(), os.getgid()
ME = UserInfo(UID, GID, "alice", "/home/alice")
STORE = "/home/alice/.spotify"
CONFIG, CACHE = STORE + "/config", STORE + "/cache"
SUB = 101499  # the container user's host uid in these tests


def mapping(profile: str = "isolated") -> CheckResult:
    host = (UID, GID) if profile == "keep-id" else (SUB, SUB)
    return CheckResult("userns.mapping", Status.OK, "mapped", facts={
        "uid_map": [[0, UID, 1], [1, 100000, 65536]], "gid_map": [[0, GID, 1], [1, 100000, 65536]],
        "profile": profile, "container_uid": 1500, "isolated_host_uid": SUB, "isolated_host_gid": SUB,
        "host_uid": host[0], "host_gid": host[1]})


def context(tmp_path: Path, *, dirs: Sequence[str] = (STORE, CONFIG, CACHE), files: Mapping[str, str] | None = None,
            owners: Mapping[str, tuple[int, int]] | None = None, commands: Sequence[FakeCommand] = (),
            profile: str = "isolated", verbose: bool = False, fs: FakeFS | None = None,
            storage_dir: str = STORE) -> Context:
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    for d in dirs:
        (root / d.lstrip("/")).mkdir(parents=True, exist_ok=True)
    (root / "home/alice").mkdir(parents=True, exist_ok=True)
    for d in (root, root / "home", root / "home/alice"):
        d.chmod(0o755)
    ctx = make_context(root, files=files, user=ME, owners=owners, fs=fs,
                       config=Config(profile=profile, storage_dir=storage_dir),
                       commands=FakeCommandRunner(commands, repeat=True))
    prior = {"userns.mapping": mapping(profile), "storage.dir": CheckResult("storage.dir", Status.OK, "ok")}
    return dataclasses.replace(ctx, prior=prior, verbose=verbose)


def owned(paths: Sequence[str], owner: tuple[int, int] = (SUB, SUB)) -> dict[str, tuple[int, int]]:
    return {p: owner for p in paths}


def host(tmp_path: Path, path: str) -> Path:
    return tmp_path / "root" / path.lstrip("/")


# -- storage.dir ----------------------------------------------------------------------------

def test_dir_ready(tmp_path):
    result = StorageDirectory().run(context(tmp_path))
    assert result == CheckResult("storage.dir", Status.OK, READY.format(root=STORE), facts={
        "storage_dir": STORE, "storage_config": CONFIG, "storage_cache": CACHE})


def test_missing_dirs_are_created(tmp_path):
    ctx = context(tmp_path, dirs=())
    result = StorageDirectory().run(ctx)
    assert (result.status, result.summary) == (Status.FAIL, MISSING.format(paths=f"{STORE}, {CONFIG}, {CACHE}"))
    fix = result.fixes[0]
    assert (fix.id, fix.applicability) == (MKDIR_FIX_ID, Applicability.SAFE)
    assert fix.steps == tuple(MakeDirs(f"Create {p}", path=p, mode=0o700) for p in (STORE, CONFIG, CACHE))
    assert apply(Candidate(result, fix), StepEnvironment.from_context(ctx)).ok
    assert StorageDirectory().run(ctx).status is Status.OK
    assert oct(host(tmp_path, CONFIG).stat().st_mode & 0o777) == oct(0o700 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_missing_subdir_under_a_container_owned_root(tmp_path):
    ctx = context(tmp_path, dirs=(STORE, CONFIG), owners=owned([STORE, CONFIG]))
    step = StorageDirectory().run(ctx).fixes[0].steps[0]
    assert isinstance(step, RunCommand) and step.privilege is Privilege.USERNS
    assert step.argv == ("podman", "unshare", "mkdir", "-m", "0700", "--", CACHE)


@pytest.mark.parametrize("storage_dir, link, reason", [
    pytest.param("/home/alice/spotify-link", "/home/alice", "/home/alice/spotify-link is a symlink (to /home/alice); "
                 "configure the real directory instead", id="symlink-to-home"),
    pytest.param("/home/alice", None, "/home/alice is your home directory (/home/alice)", id="home"),
    pytest.param("/tmp", None, "/tmp is a system directory", id="tmp"),
])
def test_refused_storage_dirs(tmp_path, storage_dir, link, reason):
    ctx = context(tmp_path, dirs=(), storage_dir=storage_dir)
    if link:
        os.symlink(link, host(tmp_path, storage_dir))
    result = StorageDirectory().run(ctx)
    assert result.status is Status.FAIL and result.fixes == ()
    assert result.summary == REFUSED.format(path=storage_dir)
    assert result.messages[0] == Message.error(reason)
    assert result.messages[-1] == Message.hint(USE_DEDICATED)


def test_symlinked_subdir_is_refused(tmp_path):
    ctx = context(tmp_path, dirs=(STORE, CONFIG))
    os.symlink("/home/alice", host(tmp_path, CACHE))
    result = StorageDirectory().run(ctx)
    assert result.summary == REFUSED.format(path=CACHE) and result.fixes == ()


# -- storage.ownership ----------------------------------------------------------------------

def test_all_owned(tmp_path):
    ctx = context(tmp_path, files={CONFIG + "/prefs": "x"}, owners=owned([CONFIG, CONFIG + "/prefs", CACHE]))
    result = StorageOwnership().run(ctx)
    assert result == CheckResult("storage.ownership", Status.OK, ALL_RIGHT.format(
        count=3, owner=f"{SUB}:{SUB}", who="container uid 1500: profile isolated"),
        facts={"expected_owner": f"{SUB}:{SUB}", "checked": 3, "wrong": 0, "hard_links": 0, "complete": True})


def test_wrong_owner_offers_the_userns_chown(tmp_path):
    ctx = context(tmp_path, files={CONFIG + "/prefs": "x"}, owners=owned([CONFIG, CACHE]))
    result = StorageOwnership().run(ctx)
    assert result.status is Status.FAIL
    assert result.summary == WRONG.format(count="1", ies="y", root=STORE, owner=f"{SUB}:{SUB}",
                                          who="container uid 1500: profile isolated")
    assert result.messages[0] == Message.error(f"{CONFIG}: 1 wrong", f"{CONFIG}/prefs ({UID}:{GID})")
    fix = result.fixes[0]
    assert (fix.id, fix.applicability, fix.privilege) == (CHOWN_FIX_ID, Applicability.SAFE, Privilege.USERNS)
    assert FixPolicy().allows(fix)
    (step,) = fix.steps
    assert isinstance(step, UserNsChown)
    assert (step.path, step.owner) == (CONFIG, (1500, 1500))
    assert step.guard is not None and step.guard.accepted_uids == frozenset({UID, SUB})


def test_fix_runs_the_exact_command(tmp_path):
    # --verbose: one line per entry, counted for the progress display.
    argv = ("podman", "unshare", "find", "-P", CACHE, "-xdev", "!", "(", "-type", "f", "-links", "+1", ")",
            "-exec", "chown", "--verbose", "--no-dereference", "1500:1500", "--", "{}", "+")
    ctx = context(tmp_path, owners=owned([CONFIG]), commands=[FakeCommand(argv)])
    result = StorageOwnership().run(ctx)
    applied = apply(Candidate(result, result.fixes[0]), StepEnvironment.from_context(ctx))
    assert applied.ok and ctx.probes.cmd.calls == [argv]  # type: ignore[attr-defined]


def test_the_chown_reports_its_progress_against_the_scans_count(tmp_path):
    from spotidoctor.checks.storage.steps import PROGRESS_EVERY
    from spotidoctor.engine.reporter import NullReporter

    lines = [f"changed ownership of '{CACHE}/f{i}' from 1000:1000 to 1500:1500" for i in range(PROGRESS_EVERY + 3)]
    files = {f"{CACHE}/f{i}": "x" for i in range(PROGRESS_EVERY + 2)}
    argv = ("podman", "unshare", "find", "-P", CACHE, "-xdev", "!", "(", "-type", "f", "-links", "+1", ")",
            "-exec", "chown", "--verbose", "--no-dereference", "1500:1500", "--", "{}", "+")
    ctx = context(tmp_path, files=files, owners=owned([CONFIG]), verbose=True,
                  commands=[FakeCommand(argv, stdout="\n".join(lines) + "\n")])
    result = StorageOwnership().run(ctx)
    seen = []

    class Recorder(NullReporter):
        def step_progress(self, fix, step, done, total):
            seen.append((done, total))

    applied = apply(Candidate(result, result.fixes[0]), StepEnvironment.from_context(ctx), Recorder())
    assert applied.ok
    assert seen == [(PROGRESS_EVERY, PROGRESS_EVERY + 3), (PROGRESS_EVERY + 3, PROGRESS_EVERY + 3)]


def test_a_failing_chown_names_its_own_error_lines(tmp_path):
    argv = ("podman", "unshare", "find", "-P", CACHE, "-xdev", "!", "(", "-type", "f", "-links", "+1", ")",
            "-exec", "chown", "--verbose", "--no-dereference", "1500:1500", "--", "{}", "+")
    error = f"chown: changing ownership of '{CACHE}/x': Operation not permitted"
    ctx = context(tmp_path, owners=owned([CONFIG]), commands=[FakeCommand(argv, stdout=error + "\n", returncode=1)])
    result = StorageOwnership().run(ctx)
    applied = apply(Candidate(result, result.fixes[0]), StepEnvironment.from_context(ctx))
    assert not applied.ok and "Operation not permitted" in applied.steps[0].outcome


def test_stops_early_unless_verbose(tmp_path):
    files = {f"{CACHE}/f{i}": "x" for i in range(20)}
    quick = StorageOwnership().run(context(tmp_path, files=files, owners=owned([CONFIG])))
    assert quick.summary.startswith("at least 5 entries")
    assert "(stopped early; `--verbose` counts them all)" in quick.messages[0].text
    assert len(quick.messages[0].advice) == 5
    full = StorageOwnership().run(context(tmp_path, files=files, owners=owned([CONFIG]), verbose=True))
    assert full.summary.startswith("21 entries") and full.facts["wrong"] == 21 and full.facts["complete"] is True


def test_keep_id_migration_gives_it_back(tmp_path):
    ctx = context(tmp_path, profile="keep-id", files={CACHE + "/x": "x"},
                  owners=owned([CONFIG, CACHE, CACHE + "/x"]))
    result = StorageOwnership().run(ctx)
    assert result.summary == WRONG.format(count="3", ies="ies", root=STORE, owner=f"{UID}:{GID}",
                                          who="you: profile keep-id")
    fix = result.fixes[0]
    assert (fix.id, fix.applicability) == (MIGRATE_FIX_ID, Applicability.SAFE)
    assert [(s.path, s.owner) for s in fix.steps] == [(CONFIG, (0, 0)), (CACHE, (0, 0))]  # type: ignore[attr-defined]


def test_keep_id_with_your_own_files_is_fine(tmp_path):
    assert StorageOwnership().run(context(tmp_path, profile="keep-id")).status is Status.OK


def test_ids_outside_the_namespace_need_root(tmp_path):
    ctx = context(tmp_path, files={CONFIG + "/by-root": "x"},
                  owners={CONFIG: (SUB, SUB), CONFIG + "/by-root": (4242, 4242), CACHE: (SUB, SUB)})
    result = StorageOwnership().run(ctx)
    assert Message.error(UNMAPPED) in result.messages
    (fix,) = result.fixes
    assert (fix.id, fix.applicability, fix.privilege) == (ROOT_CHOWN_FIX_ID, Applicability.MANUAL, Privilege.ROOT)
    assert fix.steps[0].effective_argv == (  # type: ignore[attr-defined]
        "sudo", "--", "find", "-P", CONFIG, "-xdev", "!", "(", "-type", "f", "-links", "+1", ")",
        "-exec", "chown", "--no-dereference", f"{SUB}:{SUB}", "--", "{}", "+")


def test_guard_failure_means_no_automatic_fix(tmp_path):
    mountinfo = f"40 22 0:41 / {CACHE} rw - tmpfs tmpfs rw\n"
    ctx = context(tmp_path, files={"/proc/self/mountinfo": mountinfo}, owners=owned([CONFIG]))
    result = StorageOwnership().run(ctx)
    assert result.status is Status.FAIL and result.fixes == ()
    assert Message.error(NOT_FIXING.format(reason=f"{CACHE} is a mount point inside {CACHE} "
                                           "(chown -R would cross into it)")) in result.messages


def test_unreadable_directories_are_scanned_inside_the_namespace(tmp_path, monkeypatch):
    private = CONFIG + "/Default"
    find = ("podman", "unshare", "find", "-P", private, "-xdev", "-mindepth", "1",
            "(", "!", "-uid", "1500", "-o", "!", "-gid", "1500", "-o", "(", "-type", "f", "-links", "+1", ")", ")",
            "-printf", r"%U:%G:%y:%n:%p\0%l\0", "-quit")
    ctx = context(tmp_path, dirs=(STORE, CONFIG, private, CACHE), owners=owned([CONFIG, private, CACHE]),
                  commands=[FakeCommand(find, f"0:0:f:1:{private}/Cookies\0\0")])
    real_scandir = os.scandir

    def scandir(path):
        if str(path).endswith("/config/Default"):
            raise PermissionError(13, "Permission denied", path)
        return real_scandir(path)

    monkeypatch.setattr(storage_scan.os, "scandir", scandir)
    result = StorageOwnership().run(ctx)
    assert result.summary.startswith("at least 1 entry")
    # namespace 0:0 is you on the host
    assert result.messages[0].advice == (f"{private}/Cookies ({UID}:{GID})",)
    assert isinstance(result.fixes[0].steps[0], UserNsChown)


def test_needs_the_mapping_facts(tmp_path):
    ctx = dataclasses.replace(context(tmp_path), prior={})
    assert StorageOwnership().run(ctx).status is Status.FAIL


# -- storage.free-space ---------------------------------------------------------------------

class SpaceFS(FakeFS):
    def __init__(self, root: Path, free: int, total: int) -> None:
        super().__init__(root)
        self._usage = DiskUsage(free, total)

    def disk_usage(self, path: str) -> DiskUsage | None:
        return self._usage


@pytest.mark.parametrize("free, total, status", [
    (50 << 30, 100 << 30, Status.OK),
    (1 << 30, 100 << 30, Status.WARN),
    (3 << 30, 100 << 40, Status.WARN),
])
def test_free_space(tmp_path, free, total, status):
    root = tmp_path / "root"
    root.mkdir()
    result = StorageFreeSpace().run(context(tmp_path, fs=SpaceFS(root, free, total)))
    assert result.status is status
    assert result.facts == {"free_bytes": free, "total_bytes": total}
    if status is Status.WARN:
        assert result.summary == LOW_SPACE.format(free=f"{free / (1 << 30):.1f} GiB", root=STORE)


def test_free_space_of_the_real_filesystem(tmp_path):
    result = StorageFreeSpace().run(context(tmp_path))
    assert result.status in (Status.OK, Status.WARN) and result.facts["total_bytes"] > 0


def test_subdir_owned_by_an_old_mapping_gets_a_root_fix(tmp_path):
    # e.g. the range moved from 100000 to 200000: config/ still belongs to the old 101499.
    old = 4242
    ctx = context(tmp_path, files={CONFIG + "/prefs": "x"},
                  owners={CONFIG: (old, old), CONFIG + "/prefs": (old, old), CACHE: (SUB, SUB)})
    assert StorageDirectory().run(ctx).status is Status.OK  # ownership is storage.ownership's question
    result = StorageOwnership().run(ctx)
    assert [f.id for f in result.fixes] == [ROOT_CHOWN_FIX_ID]
    assert not any(m.text.startswith("not fixing") for m in result.messages)


def test_private_directories_noted_when_all_is_well(tmp_path, monkeypatch):
    private = CONFIG + "/Default"
    find = ("podman", "unshare", "find", "-P", private, "-xdev", "-mindepth", "1",
            "(", "!", "-uid", "1500", "-o", "!", "-gid", "1500", "-o", "(", "-type", "f", "-links", "+1", ")", ")",
            "-printf", r"%U:%G:%y:%n:%p\0%l\0", "-quit")
    ctx = context(tmp_path, dirs=(STORE, CONFIG, private, CACHE), owners=owned([CONFIG, private, CACHE]),
                  commands=[FakeCommand(find, "")])
    real_scandir = os.scandir
    monkeypatch.setattr(storage_scan.os, "scandir", lambda p: (_ for _ in ()).throw(PermissionError(13, "denied", p))
                        if str(p).endswith("/config/Default") else real_scandir(p))
    result = StorageOwnership().run(ctx)
    assert result.status is Status.OK
    assert result.messages == (Message.info(PRIVATE_CHECKED.format(count=1)),)
