"""userns.* checks over a sysroot of fake files and canned commands: kernel knobs, every
subuid/subgid shape, overlaps, newuidmap privileges, the live mapping and its facts."""
from __future__ import annotations

import os
import struct
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from spotidoctor.api import Context
from spotidoctor.checks import podman as podman_checks
from spotidoctor.checks import storage as storage_checks
from spotidoctor.checks.userns import CHECKS
from spotidoctor.checks.userns.common import MIGRATE_FIX_ID
from spotidoctor.checks.userns.kernel import APPARMOR_RESTRICTED, CLONE_DISABLED, USERNS_DISABLED, UserNamespacesEnabled
from spotidoctor.checks.userns.mapping import NOT_MAPPED, STALE_MAP, UserNamespaceMapping
from spotidoctor.checks.userns.newuidmap import HELPER_POWERLESS, NO_HELPER, NewIdMapHelpers, file_caps_grant
from spotidoctor.checks.userns.subid_overlap import SELF_OVERLAP, SubordinateIdsDisjoint
from spotidoctor.checks.userns.subid_ranges import (
    ADD_FIX_ID,
    BELOW_RECOMMENDED,
    MALFORMED,
    NO_RANGE,
    TOO_SMALL,
    SubordinateIdRanges,
    add_subids_fix,
)
from spotidoctor.checks.userns.subid_shared import COVERS_ACCOUNT, SHARED, SubordinateIdsNotShared
from spotidoctor.config import Config
from spotidoctor.engine.fixer import FixPolicy, StepEnvironment, preview
from spotidoctor.engine.planning import plan
from spotidoctor.engine.runner import Runner
from spotidoctor.fixes import Applicability, Privilege, RunCommand
from spotidoctor.model import CheckResult, Message, Status
from spotidoctor.probes.fs import RealFS
from spotidoctor.testing import FakeCommand, FakeCommandRunner, FakeFS, make_context

ALL = (*CHECKS, *podman_checks.CHECKS, *storage_checks.CHECKS)
UID_MAP = "         0       1600          1\n         1     100000      65536\n"
HEALTHY_FILES: dict[str, str | bytes] = {
    "/proc/sys/user/max_user_namespaces": "96365\n",
    "/etc/subuid": "alice:100000:65536\n",
    "/etc/subgid": "alice:100000:65536\n",
    "/etc/passwd": ("root:x:0:0::/root:/bin/sh\nalice:x:1600:1600::/home/alice:/bin/sh\n"
                    "nobody:x:65534:65534::/:/bin/false\n"),
    "/etc/group": "root:x:0:\nalice:x:1600:\n",
    "/usr/bin/newuidmap": "",
    "/usr/bin/newgidmap": "",
}
ROOT_OWNED = {"/usr/bin/newuidmap": (0, 0), "/usr/bin/newgidmap": (0, 0)}


def podman_commands(uid_map: str = UID_MAP, gid_map: str | None = None) -> list[FakeCommand]:
    return [
        FakeCommand(("podman", "--version"), "podman version 4.3.1\n"),
        FakeCommand(("buildah", "--version"),
                    "buildah version 1.28.2 (image-spec 1.1.0-rc2, runtime-spec 1.0.2-dev)\n"),
        FakeCommand(("podman", "unshare", "cat", "/proc/self/uid_map"), uid_map),
        FakeCommand(("podman", "unshare", "cat", "/proc/self/gid_map"), uid_map if gid_map is None else gid_map),
    ]


def context(tmp_path: Path, files: Mapping[str, str | bytes] | None = None,
            commands: Sequence[FakeCommand] = (), missing: Sequence[str] = ("getsubids",),
            config: Config | None = None, fs: RealFS | None = None,
            owners: Mapping[str, tuple[int, int]] | None = None) -> Context:
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    merged = {**HEALTHY_FILES, **(files or {})}
    ctx = make_context(root, files={k: v for k, v in merged.items() if v is not None},
                       commands=FakeCommandRunner(commands, repeat=True, missing=missing),
                       config=config, owners={**ROOT_OWNED, **(owners or {})}, fs=fs)
    for helper in ("newuidmap", "newgidmap"):
        path = root / "usr/bin" / helper
        if path.exists():
            path.chmod(0o4755)
    return ctx


def run(ctx: Context, *selectors: str) -> dict[str, CheckResult]:
    report = Runner(ctx).run(plan(ALL, selectors))
    return {r.check_id: r for r in report.results}


def calls(ctx: Context) -> list[tuple[str, ...]]:
    runner = ctx.probes.cmd
    assert isinstance(runner, FakeCommandRunner)
    return runner.calls


# -- kernel ---------------------------------------------------------------------------------

@pytest.mark.parametrize("files, status, summary", [
    pytest.param({}, Status.OK, "user namespaces enabled (max 96365)", id="healthy"),
    pytest.param({"/proc/sys/user/max_user_namespaces": "0\n"}, Status.FAIL, USERNS_DISABLED, id="max-zero"),
    pytest.param({"/proc/sys/kernel/unprivileged_userns_clone": "0\n"}, Status.FAIL, CLONE_DISABLED,
                 id="debian-clone-off"),
    pytest.param({"/proc/sys/kernel/unprivileged_userns_clone": "1\n"}, Status.OK,
                 "user namespaces enabled (max 96365)", id="debian-clone-on"),
    pytest.param({"/proc/sys/kernel/apparmor_restrict_unprivileged_userns": "1\n"}, Status.WARN,
                 APPARMOR_RESTRICTED, id="ubuntu-apparmor"),
    pytest.param({"/proc/sys/user/max_user_namespaces": "lots\n"}, Status.WARN,
                 "/proc/sys/user/max_user_namespaces holds 'lots', not a number", id="garbage"),
])
def test_kernel_knobs(tmp_path, files, status, summary):
    result = UserNamespacesEnabled().run(context(tmp_path, files))
    assert (result.status, result.summary) == (status, summary)


def test_kernel_missing_file_and_fix(tmp_path):
    ctx = context(tmp_path, {"/proc/sys/user/max_user_namespaces": "0\n"})
    result = UserNamespacesEnabled().run(ctx)
    fix = result.fixes[0]
    assert fix.applicability is Applicability.MANUAL and fix.privilege is Privilege.ROOT
    assert preview(fix, StepEnvironment.from_context(ctx))[1] == "   $ sudo -- sysctl -w user.max_user_namespaces=28633"
    os.unlink(tmp_path / "root/proc/sys/user/max_user_namespaces")
    assert UserNamespacesEnabled().run(ctx).summary == "cannot read /proc/sys/user/max_user_namespaces"


def test_apparmor_warning_says_what_to_do(tmp_path):
    knob = "/proc/sys/kernel/apparmor_restrict_unprivileged_userns"
    result = UserNamespacesEnabled().run(context(tmp_path, {knob: "1"}))
    advice = " ".join(result.messages[0].advice)
    assert "`userns,`" in advice and "apparmor_restrict_unprivileged_userns=0" in advice


# -- subordinate id ranges ------------------------------------------------------------------

def ranges_result(tmp_path: Path, subuid: str, subgid: str | None = None, **kwargs: object) -> CheckResult:
    files = {"/etc/subuid": subuid, "/etc/subgid": subuid if subgid is None else subgid}
    return SubordinateIdRanges().run(context(tmp_path, files, **kwargs))  # type: ignore[arg-type]


@pytest.mark.parametrize("subuid, count", [
    pytest.param("alice:100000:65536\n", 65536, id="by-name"),
    pytest.param("1600:100000:65536\n", 65536, id="by-uid"),
    pytest.param("alice:300000:1000\nbob:1:99\nalice:400000:65536\n", 66536, id="several-ranges"),
    pytest.param("alice:100000:65536\r\n", 65536, id="crlf"),
    pytest.param("alice:100000:30000\n1600:200000:40000\n", 70000, id="name-and-uid-entries"),
])
def test_enough_ids(tmp_path, subuid, count):
    result = ranges_result(tmp_path, subuid)
    assert result.status is Status.OK
    assert result.summary == f"alice has {count} subuids, {count} subgids"
    assert result.facts["subuid_count"] == count and result.facts["subuid_source"] == "/etc/subuid"


def test_ranges_facts_keep_file_order(tmp_path):
    result = ranges_result(tmp_path, "alice:300000:1000\nalice:400000:65536\n")
    assert result.facts["subuid_ranges"] == [[300000, 1000], [400000, 65536]]


def test_no_entry_prints_one_usermod_line_with_a_free_range(tmp_path):
    subuid = "bob:100000:65536\ncarol:165536:65536\n"
    result = ranges_result(tmp_path, subuid)
    assert result.status is Status.FAIL
    assert result.summary == NO_RANGE.format(kind="uid", user="alice", path="/etc/subuid")
    fix = result.fixes[0]
    assert (fix.id, fix.applicability, fix.privilege) == (ADD_FIX_ID, Applicability.MANUAL, Privilege.ROOT)
    commands = [s.effective_argv for s in fix.steps if isinstance(s, RunCommand)]
    assert commands == [("podman", "system", "migrate"),
                        ("sudo", "--", "usermod", "--add-subuids", "231072-296607", "--add-subgids",
                         "231072-296607", "alice"),
                        ("podman", "system", "migrate")]
    assert not FixPolicy().allows(fix)  # manual: printed, never run


def test_free_range_avoids_both_files_and_login_defs(tmp_path):
    files = {"/etc/subuid": "bob:100000:65536\n", "/etc/subgid": "bob:100000:65536\ncarol:165536:10\n",
             "/etc/login.defs": "SUB_UID_MIN 100000\nSUB_UID_COUNT 65536\n"}
    result = SubordinateIdRanges().run(context(tmp_path, files))
    usermod = [s for s in result.fixes[0].steps if isinstance(s, RunCommand)][1]
    assert usermod.argv[2] == "165546-231081"  # after carol's subgid range


def test_too_small_fails_with_counts(tmp_path):
    result = ranges_result(tmp_path, "alice:200000:1000\n")
    assert result.status is Status.FAIL
    assert result.summary == TOO_SMALL.format(user="alice", count=1000, kind="uid", needed=1500)
    assert result.fixes[0].id == ADD_FIX_ID


def test_exactly_the_container_uid_is_enough_but_warns(tmp_path):
    result = ranges_result(tmp_path, "alice:200000:1500\n")
    assert result.status is Status.WARN
    assert result.summary == BELOW_RECOMMENDED.format(user="alice", count=1500, kind="uid", needed=1500)
    assert result.fixes[0].id == ADD_FIX_ID


def test_configured_container_uid_is_used(tmp_path):
    result = ranges_result(tmp_path, "alice:200000:1500\n", config=Config(container_uid=1501))
    assert result.status is Status.FAIL


def test_only_the_short_file_gets_a_range(tmp_path):
    result = ranges_result(tmp_path, "alice:100000:65536\n", "")
    usermod = [s for s in result.fixes[0].steps if isinstance(s, RunCommand)][1]
    assert usermod.argv == ("usermod", "--add-subgids", "165536-231071", "alice")
    assert result.summary == NO_RANGE.format(kind="gid", user="alice", path="/etc/subgid")


def test_malformed_lines_are_reported_with_numbers(tmp_path):
    result = ranges_result(tmp_path, "# ok\nalice:100000:65536\nbob 165536 65536\nzed:1:x\n")
    assert result.status is Status.WARN
    assert result.summary == MALFORMED.format(path="/etc/subuid", count=2)
    advice = result.messages[0].advice
    assert advice[0].startswith("line 3: expected NAME_OR_UID:START:COUNT")
    assert advice[1] == "line 4: COUNT is not a number: 'x'"
    assert advice[-1] == "Correct or remove them: `sudoedit /etc/subuid`."


def test_malformed_own_line_means_no_range(tmp_path):
    result = ranges_result(tmp_path, "alice:100000:65536x\n")
    assert result.status is Status.FAIL
    assert [m.text for m in result.messages] == [
        NO_RANGE.format(kind="uid", user="alice", path="/etc/subuid"),
        NO_RANGE.format(kind="gid", user="alice", path="/etc/subgid"),
        MALFORMED.format(path="/etc/subuid", count=1), MALFORMED.format(path="/etc/subgid", count=1)]


@pytest.mark.parametrize("content", [
    pytest.param(b"", id="empty"),
    pytest.param(bytes(range(256)) * 100, id="binary"),
    pytest.param(b"x" * (3 << 20), id="huge"),
    pytest.param(None, id="absent"),
])
def test_odd_files_do_not_crash(tmp_path, content):
    ctx = context(tmp_path, {"/etc/subuid": content or b"", "/etc/subgid": "alice:100000:65536\n"})
    if content is None:
        os.unlink(tmp_path / "root/etc/subuid")
    result = SubordinateIdRanges().run(ctx)
    assert result.status is Status.FAIL
    assert result.messages[0].text == NO_RANGE.format(kind="uid", user="alice", path="/etc/subuid")


def test_getsubids_is_preferred_and_covers_nss(tmp_path):
    cmds = [FakeCommand(("getsubids", "alice"), "0: alice 500000 65536\n"),
            FakeCommand(("getsubids", "-g", "alice"), "0: alice 500000 65536\n")]
    result = ranges_result(tmp_path, "", commands=cmds, missing=())
    assert result.status is Status.OK
    assert result.facts["subuid_ranges"] == [[500000, 65536]] and result.facts["subuid_source"] == "getsubids"
    assert "NSS" in result.messages[0].text


def test_getsubids_saying_none_wins(tmp_path):
    cmds = [FakeCommand(("getsubids", "alice"), "", "Error fetching ranges\n", 1),
            FakeCommand(("getsubids", "-g", "alice"), "0: alice 100000 65536\n")]
    result = ranges_result(tmp_path, "alice:100000:65536\n", commands=cmds, missing=())
    assert result.status is Status.FAIL
    assert result.summary == NO_RANGE.format(kind="uid", user="alice", path="/etc/subuid")


def test_broken_getsubids_falls_back_to_the_file(tmp_path):
    cmds = [FakeCommand(("getsubids", "alice"), "garbage\n"),
            FakeCommand(("getsubids", "-g", "alice"), "", "segfault", 139)]
    result = ranges_result(tmp_path, "alice:100000:65536\n", commands=cmds, missing=())
    assert result.status is Status.OK
    assert result.facts["subuid_source"] == "/etc/subuid"
    assert [m.text for m in result.messages] == [
        "cannot read getsubids output: line 1: unexpected getsubids output: 'garbage'",
        "getsubids failed: segfault"]


def test_add_subids_fix_notes_migrate_and_storage():
    fix = add_subids_fix("alice", 165536, 65536)
    assert any("podman system migrate" in n for n in fix.notes)
    assert any("spotidoctor fix storage" in n for n in fix.notes)
    assert fix.title == "Give alice the subordinate ids 165536-231071 (65536 ids; overlaps nobody)"


# -- overlaps --------------------------------------------------------------------------------

def test_own_ranges_overlapping(tmp_path):
    subuid = "alice:200000:1000\nalice:200000:65536\n"
    result = SubordinateIdsDisjoint().run(context(tmp_path, {"/etc/subuid": subuid}))
    assert result.status is Status.FAIL
    assert result.summary == (SELF_OVERLAP.format(kind="uid")
                              + ": alice:200000:1000 (line 1) overlaps alice:200000:65536 (line 2)")
    assert [s.description for s in result.fixes[0].steps][1].startswith("Delete the duplicate line")


def test_name_and_uid_entries_of_the_same_user_overlap(tmp_path):
    result = SubordinateIdsDisjoint().run(context(tmp_path, {"/etc/subgid": "alice:1:100\n1600:50:100\n"}))
    assert result.status is Status.FAIL
    assert result.summary.startswith(SELF_OVERLAP.format(kind="gid"))


def test_no_overlap(tmp_path):
    result = SubordinateIdsDisjoint().run(context(tmp_path))
    assert result == CheckResult("userns.subid-overlap", Status.OK, "no overlapping ranges of your own")


def test_shared_with_another_user(tmp_path):
    subuid = "bob:100000:65536\nalice:165535:65536\n"
    result = SubordinateIdsNotShared().run(context(tmp_path, {"/etc/subuid": subuid}))
    assert result.status is Status.FAIL
    assert result.summary == SHARED.format(kind="uid", other="bob's 100000:65536 (/etc/subuid line 1)")
    assert result.fixes[0].applicability is Applicability.MANUAL


def test_range_covering_a_real_account(tmp_path):
    files = {"/etc/passwd": HEALTHY_FILES["/etc/passwd"] + "ldapuser:x:120000:100::/home/l:/bin/sh\n"}
    result = SubordinateIdsNotShared().run(context(tmp_path, files))
    assert result.messages == (Message.error(COVERS_ACCOUNT.format(
        kind="uid", span="100000-165535", name="ldapuser", number=120000)),)


def test_not_shared(tmp_path):
    files = {"/etc/subuid": "alice:100000:65536\nbob:165536:65536\n"}
    assert SubordinateIdsNotShared().run(context(tmp_path, files)).status is Status.OK


# -- newuidmap / newgidmap ------------------------------------------------------------------

def caps(magic: int, permitted: int, rootid: int | None = None) -> bytes:
    data = struct.pack("<IIIII", magic, permitted & 0xFFFFFFFF, 0, permitted >> 32, 0)
    return data + (struct.pack("<I", rootid) if rootid is not None else b"")


@pytest.mark.parametrize("xattr, cap, granted", [
    pytest.param(caps(0x02000001, 1 << 7), 7, True, id="v2-cap_setuid+ep"),
    pytest.param(caps(0x02000000, 1 << 7), 7, False, id="v2-not-effective"),
    pytest.param(caps(0x02000001, 1 << 6), 7, False, id="v2-wrong-cap"),
    pytest.param(caps(0x02000001, 1 << 6), 6, True, id="v2-cap_setgid+ep"),
    pytest.param(caps(0x03000001, 1 << 7, 0), 7, True, id="v3-rootid-0"),
    pytest.param(caps(0x03000001, 1 << 7, 100000), 7, False, id="v3-namespaced"),
    pytest.param(b"\x01\x00", 7, False, id="short"),
    pytest.param(None, 7, False, id="none"),
])
def test_file_caps(xattr, cap, granted):
    assert file_caps_grant(xattr, cap) is granted


def test_helpers_setuid_root(tmp_path):
    result = NewIdMapHelpers().run(context(tmp_path))
    assert result.status is Status.OK
    assert result.summary == "newuidmap: setuid root, newgidmap: setuid root"


def test_helpers_without_privilege(tmp_path):
    ctx = context(tmp_path)
    (tmp_path / "root/usr/bin/newgidmap").chmod(0o755)
    result = NewIdMapHelpers().run(ctx)
    assert result.status is Status.FAIL
    assert result.summary == HELPER_POWERLESS.format(path="/usr/bin/newgidmap", cap="cap_setgid")
    step = result.fixes[0].steps[0]
    assert isinstance(step, RunCommand) and step.effective_argv == (
        "sudo", "--", "setcap", "cap_setgid+ep", "/usr/bin/newgidmap")


def test_setuid_but_not_root_owned_is_powerless(tmp_path):
    ctx = context(tmp_path, owners={"/usr/bin/newuidmap": (1600, 1600)})
    assert NewIdMapHelpers().run(ctx).status is Status.FAIL


class CapsFS(FakeFS):
    """Fedora ships newuidmap with file capabilities and no setuid bit."""

    def getxattr(self, path: str, name: str) -> bytes | None:
        cap = 7 if path.endswith("newuidmap") else 6
        return caps(0x02000001, 1 << cap) if name == "security.capability" else None


def test_helpers_with_file_capabilities(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    ctx = context(tmp_path, fs=CapsFS(root, ROOT_OWNED))
    for helper in ("newuidmap", "newgidmap"):
        (root / "usr/bin" / helper).chmod(0o755)
    result = NewIdMapHelpers().run(ctx)
    assert result.summary == "newuidmap: file capability, newgidmap: file capability"


def test_helpers_missing(tmp_path):
    ctx = context(tmp_path, missing=("getsubids", "newuidmap", "newgidmap", "dnf", "zypper", "pacman"))
    for helper in ("newuidmap", "newgidmap"):
        os.unlink(tmp_path / "root/usr/bin" / helper)
    result = NewIdMapHelpers().run(ctx)
    assert result.summary == NO_HELPER.format(name="newuidmap")
    step = result.fixes[0].steps[0]
    assert isinstance(step, RunCommand) and step.effective_argv == ("sudo", "--", "apt-get", "install", "-y", "uidmap")


# -- the live mapping ------------------------------------------------------------------------

def test_mapping_publishes_host_ids(tmp_path):
    ctx = context(tmp_path, commands=podman_commands())
    result = run(ctx, "userns.mapping")["userns.mapping"]
    assert result == CheckResult("userns.mapping", Status.OK, "container uid 1500 is host 101499:101499", facts={
        "uid_map": [[0, 1600, 1], [1, 100000, 65536]], "gid_map": [[0, 1600, 1], [1, 100000, 65536]],
        "profile": "isolated", "container_uid": 1500, "isolated_host_uid": 101499, "isolated_host_gid": 101499,
        "host_uid": 101499, "host_gid": 101499})


def test_mapping_with_two_ranges(tmp_path):
    files = {"/etc/subuid": "alice:300000:1000\nalice:400000:65536\n",
             "/etc/subgid": "alice:300000:1000\nalice:400000:65536\n"}
    live = "0 1600 1\n1 300000 1000\n1001 400000 65536\n"
    result = run(context(tmp_path, files, podman_commands(live)), "userns.mapping")["userns.mapping"]
    assert (result.status, result.facts["host_uid"], result.facts["host_gid"]) == (Status.OK, 400499, 400499)


def test_mapping_keep_id_is_the_user(tmp_path):
    ctx = context(tmp_path, commands=podman_commands(), config=Config(profile="keep-id"))
    result = run(ctx, "userns.mapping")["userns.mapping"]
    assert (result.facts["host_uid"], result.facts["host_gid"]) == (1600, 1600)
    assert result.facts["isolated_host_uid"] == 101499
    assert result.summary == "profile keep-id: container uid 1500 is you (1600:1600)"


def test_stale_mapping_offers_migrate(tmp_path):
    files = {"/etc/subuid": "alice:200000:65536\n", "/etc/subgid": "alice:200000:65536\n"}
    old = "0 1600 1\n1 200000 1000\n"
    result = run(context(tmp_path, files, podman_commands(old)), "userns.mapping")["userns.mapping"]
    assert result.status is Status.FAIL
    assert result.summary == STALE_MAP.format(live="0 1600 1 / 1 200000 1000", expected="0 1600 1 / 1 200000 65536")
    fix = result.fixes[0]
    assert (fix.id, fix.applicability, fix.privilege) == (MIGRATE_FIX_ID, Applicability.UNSAFE, Privilege.USER)
    assert fix.steps[0].effective_argv == ("podman", "system", "migrate")  # type: ignore[attr-defined]
    assert any("stops all your running containers" in n for n in fix.notes)


def test_single_mapping_without_ranges_in_the_namespace_is_stale(tmp_path):
    result = run(context(tmp_path, commands=podman_commands("0 1600 1\n")), "userns.mapping")["userns.mapping"]
    assert result.status is Status.FAIL and result.fixes[0].id == MIGRATE_FIX_ID


def test_unmapped_container_uid(tmp_path):
    # The files changed under a map that was right for them: e.g. container_uid raised.
    ctx = context(tmp_path, files={"/etc/subuid": "alice:100000:65536\n"}, commands=podman_commands(),
                  config=Config(container_uid=65537))
    result = UserNamespaceMapping().run(ctx)
    assert result.summary == NOT_MAPPED.format(uid=65537, live="0 1600 1 / 1 100000 65536")


@pytest.mark.parametrize("stderr, summary, fix_ids", [
    pytest.param('Error: invalid internal status, try resetting the pause process with "podman system migrate"',
                 "podman's pause process is in a bad state", [MIGRATE_FIX_ID], id="pause-process"),
    pytest.param("newuidmap: write to uid_map failed: Operation not permitted",
                 "the kernel refused to set up the user namespace", [], id="not-permitted"),
    pytest.param("something else", "`podman unshare` failed", [], id="other"),
])
def test_unshare_failures(tmp_path, stderr, summary, fix_ids):
    cmds = podman_commands()
    cmds[2] = FakeCommand(("podman", "unshare", "cat", "/proc/self/uid_map"), "", stderr, 125)
    result = run(context(tmp_path, commands=cmds), "userns.mapping")["userns.mapping"]
    assert (result.status, result.summary, [f.id for f in result.fixes]) == (Status.FAIL, summary, fix_ids)


def test_one_root_cause_is_reported_once(tmp_path):
    files = {"/etc/subuid": "alice:200000:1000\n", "/etc/subgid": "alice:200000:1000\n"}
    ctx = context(tmp_path, files, podman_commands())
    results = run(ctx, "userns", "storage")
    assert results["userns.subid-ranges"].status is Status.FAIL
    assert results["userns.mapping"].status is Status.SKIP
    assert results["userns.mapping"].summary == "requires userns.subid-ranges (fail)"
    assert results["storage.ownership"].status is Status.SKIP
    assert ("podman", "unshare", "cat", "/proc/self/uid_map") not in calls(ctx)


def test_unshare_runs_once_for_all_checks(tmp_path):
    ctx = context(tmp_path, commands=podman_commands())
    run(ctx, "userns", "storage.ownership")
    assert calls(ctx).count(("podman", "unshare", "cat", "/proc/self/uid_map")) == 1
    assert calls(ctx).count(("podman", "unshare", "cat", "/proc/self/gid_map")) == 1


def test_subid_ranges_do_not_advise_giving_root_subordinate_ids(tmp_path) -> None:
    from spotidoctor.engine.planning import plan
    from spotidoctor.engine.runner import Runner
    from spotidoctor.paths import UserInfo

    ctx = make_context(tmp_path, user=UserInfo(0, 0, "root", "/root"), files={"/etc/subuid": "", "/etc/subgid": ""})
    (result,) = Runner(ctx).run(plan(CHECKS, ["userns.subid-ranges"])).results
    assert result.status is Status.SKIP
    assert result.summary.startswith("running as root: subordinate ids matter for the user who runs Spotify")
    assert result.fixes == ()
