"""Debian version ordering agrees with dpkg itself (``dpkg --compare-versions``) on near-valid
versions built from the grammar's pieces: epochs, digit runs, letters, ``.+~`` and revisions."""
from __future__ import annotations

import shutil
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spotidoctor.backend.debversion import compare_versions
from tests import servers

PIECES = st.sampled_from(["0", "1", "2", "9", "10", "01", "00", "123456789012345678901", "a", "b", "z", "A", "g",
                          ".", "+", "~", "~~", "rc", "bpo"])
UPSTREAM = st.builds(lambda first, rest: first + "".join(rest), st.sampled_from(["0", "1", "2", "10", "01"]),
                     st.lists(PIECES, max_size=6))
REVISION = st.lists(st.sampled_from(["0", "1", "2", "10", "a", ".", "+", "~", "ubuntu", "deb12u"]), min_size=1,
                    max_size=4).map("".join)
VERSIONS = st.builds(lambda epoch, upstream, revision: f"{epoch}{upstream}{revision}",
                     st.sampled_from(["", "0:", "1:", "2:", "10:"]), UPSTREAM,
                     st.one_of(st.just(""), REVISION.map(lambda r: "-" + r)))


def dpkg_compare(a: str, b: str) -> int:
    for op, result in (("lt", -1), ("eq", 0)):
        done = subprocess.run(["dpkg", "--compare-versions", a, op, b], capture_output=True, text=True, timeout=10)
        assert "warning" not in done.stderr and "error" not in done.stderr, done.stderr
        if done.returncode == 0:
            return result
    return 1


@pytest.fixture(scope="module", autouse=True)
def dpkg() -> None:
    if shutil.which("dpkg") is None:
        reason = "dpkg is the reference (Debian/Ubuntu)"
        if servers.IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(VERSIONS, VERSIONS)
def test_ordering_agrees_with_dpkg(a: str, b: str) -> None:
    assert compare_versions(a, b) == dpkg_compare(a, b), (a, b)
