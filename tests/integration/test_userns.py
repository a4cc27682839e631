"""userns.* against the real system, as the unprivileged test user: the real subordinate
ranges, newuidmap, and podman's live mapping, checked against a file chowned inside
`podman unshare` (an independent witness of what container uid 1500 becomes)."""
from __future__ import annotations

import getpass
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from spotidoctor.api import Context
from spotidoctor.checks import podman as podman_checks
from spotidoctor.checks import userns as userns_checks
from spotidoctor.config import Config
from spotidoctor.engine.planning import plan
from spotidoctor.engine.runner import Runner
from spotidoctor.errors import ProbeUnavailable
from spotidoctor.model import CheckResult, Status
from spotidoctor.podman import subids
from spotidoctor.podman.idmaps import id_maps, mapped_owner
from spotidoctor.podman.info import podman_info
from tests.realcontext import real_context

CHECKS = (*userns_checks.CHECKS, *podman_checks.CHECKS)


def run(ctx: Context, *selectors: str) -> dict[str, CheckResult]:
    return {r.check_id: r for r in Runner(ctx).run(plan(CHECKS, selectors)).results}


def witness_owner(tmp_path: Path, container_uid: int) -> tuple[int, int]:
    """Host owner of a file chowned to container_uid inside podman's namespace."""
    probe = tmp_path / "witness"
    probe.write_text("x")
    subprocess.run(["podman", "unshare", "chown", f"{container_uid}:{container_uid}", str(probe)],
                   check=True, capture_output=True, timeout=60)
    st = os.lstat(probe)
    subprocess.run(["podman", "unshare", "rm", "-f", str(probe)], check=True, timeout=60)
    return st.st_uid, st.st_gid


def test_the_test_users_subordinate_ranges(podman):
    results = run(real_context(config=Config()), "userns.subid-ranges", "userns.subid-overlap", "userns.subid-shared",
                  "userns.newuidmap", "userns.kernel")
    assert {cid: r.status for cid, r in results.items()} == {cid: Status.OK for cid in results}
    ranges = results["userns.subid-ranges"]
    own = subids.parse_subid_text(Path("/etc/subuid").read_bytes()).for_user(getpass.getuser(), os.getuid())
    assert own, "the test user has no subordinate range in /etc/subuid (.ci/setup-test-user gives it one)"
    assert ranges.facts["subuid_ranges"] == [[r.start, r.count] for r in own]
    if shutil.which("getsubids"):  # uidmap's; installed by .ci/run
        assert ranges.facts["subuid_source"] == "getsubids"


def own_first_subuid() -> int:
    """Where the test user's first subordinate range starts, as this machine assigned it."""
    own = subids.parse_subid_text(Path("/etc/subuid").read_bytes()).for_user(getpass.getuser(), os.getuid())
    assert own and own[0].count >= 1500, own
    return own[0].start


def test_live_mapping_facts_match_a_real_chown(podman, tmp_path):
    result = run(real_context(config=Config()), "userns.mapping")["userns.mapping"]
    assert result.status is Status.OK, result
    host_ids = witness_owner(tmp_path, 1500)
    assert (result.facts["host_uid"], result.facts["host_gid"]) == host_ids
    live = subprocess.run(["podman", "unshare", "cat", "/proc/self/uid_map"], capture_output=True, text=True,
                          check=True, timeout=60).stdout
    assert result.facts["uid_map"] == subids.parse_id_map(live).to_json()
    expected = own_first_subuid() + 1500 - 1  # uid N inside is START + N - 1 on the host
    assert host_ids == (expected, expected)
    assert result.summary == f"container uid 1500 is host {expected}:{expected}"


def test_another_container_uid_and_keep_id(podman, tmp_path):
    other = run(real_context(config=Config(container_uid=1000)), "userns.mapping")["userns.mapping"]
    assert (other.facts["host_uid"], other.facts["host_gid"]) == witness_owner(tmp_path, 1000)
    keep = run(real_context(config=Config(profile="keep-id")), "userns.mapping")["userns.mapping"]
    assert (keep.facts["host_uid"], keep.facts["host_gid"]) == (os.getuid(), os.getgid())
    assert keep.facts["isolated_host_uid"] == other.facts["host_uid"] + 500


def test_mapped_owner_api_agrees(podman, tmp_path):
    ctx = real_context(config=Config())
    assert mapped_owner(ctx) == witness_owner(tmp_path, 1500)
    assert mapped_owner(ctx, profile="keep-id") == (os.getuid(), os.getgid())
    maps = id_maps(ctx)
    assert maps.ok and maps is id_maps(ctx)
    info = podman_info(ctx)
    assert info is not None and info.rootless
    assert info.uid_map == maps.uid_map  # podman info's idMappings are the same live map


def test_an_unmapped_container_uid_is_reported(podman):
    ctx = real_context(config=Config())
    maps = id_maps(ctx)
    assert maps.uid_map is not None
    beyond = maps.uid_map.size  # ids 0..size-1 are mapped
    with pytest.raises(ProbeUnavailable, match=f"container uid {beyond} is not mapped"):
        mapped_owner(ctx, beyond)
