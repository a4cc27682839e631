"""podman.* against the real podman, as the unprivileged test user.

The crun/runc diagnosis runs on this very machine: its cgroups are hybrid (v1 hierarchies
plus a cgroup2 mount with controllers), where crun fails. The test user's own
containers.conf already selects runc, so these tests point podman at a fresh config home
(XDG_CONFIG_HOME, HOME unchanged) or a fresh CONTAINERS_CONF, see crun fail, run
`spotidoctor fix`, and see the check pass.
"""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from spotidoctor.api import Context
from spotidoctor.checks import podman as podman_checks
from spotidoctor.checks import userns as userns_checks
from spotidoctor.checks.podman.network import NO_TUN, TUN_NO_ACCESS
from spotidoctor.checks.podman.runtime import HYBRID, RUNC_FIX_ID, RUNTIME_OK
from spotidoctor.config import Config
from spotidoctor.engine.planning import plan
from spotidoctor.engine.runner import Runner
from spotidoctor.model import CheckResult, Status
from spotidoctor.podman.info import podman_info
from tests import servers
from tests.realcontext import real_context

CHECKS = (*userns_checks.CHECKS, *podman_checks.CHECKS)


def run(ctx: Context, *selectors: str) -> dict[str, CheckResult]:
    return {r.check_id: r for r in Runner(ctx).run(plan(CHECKS, selectors)).results}


def podman_runtime(env: Mapping[str, str]) -> str:
    done = subprocess.run(["podman", "info", "--format", "{{.Host.OCIRuntime.Name}}"], capture_output=True,
                          text=True, timeout=60, env={**os.environ, **env})
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def hybrid_cgroups() -> bool:
    """cgroup v1 hierarchies plus a cgroup2 mount that has controllers: crun refuses those
    ("cgroups in hybrid mode not supported")."""
    v1, v2 = False, []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        fstype = fields[fields.index("-") + 1]
        v1 = v1 or fstype == "cgroup"
        if fstype == "cgroup2":
            v2.append(fields[4])
    return v1 and any(Path(p, "cgroup.controllers").read_text().strip() for p in v2)


def spotidoctor(*args: str, env: Mapping[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"), **env}
    return subprocess.run([sys.executable, "-m", "spotidoctor", *args, "--config", str(tmp_path / "none.toml")],
                          capture_output=True, text=True, timeout=300, env=full)


@pytest.fixture
def crun_fails() -> None:
    servers.require("crun", "runc")
    if not hybrid_cgroups():
        message = "this host's cgroups are not hybrid: crun works here"
        if servers.IN_CI:
            pytest.fail(message + " (CI runs on the hybrid-cgroup VM)")
        pytest.skip(message)


def graph_driver() -> str:
    """The storage driver podman really uses for this user (the machine decides, not the test)."""
    return subprocess.run(["podman", "info", "--format", "{{.Store.GraphDriverName}}"], capture_output=True,
                          text=True, check=True, timeout=120).stdout.strip()


def test_installed_rootless_and_runtime_with_the_users_config(podman):
    results = run(real_context(config=Config()), "podman.runtime")
    driver = graph_driver()
    rootless = Status.WARN if driver == "vfs" else Status.OK  # vfs copies every layer: a warning
    assert {cid: r.status for cid, r in results.items()} == {
        "podman.installed": Status.OK, "podman.rootless": rootless, "podman.runtime": Status.OK}
    assert f"storage {driver})" in results["podman.rootless"].summary
    version = subprocess.run(["podman", "--version"], capture_output=True, text=True, check=True).stdout
    assert results["podman.installed"].facts["podman_version"] in version
    runtime = podman_runtime({})
    assert results["podman.runtime"].summary == RUNTIME_OK.format(runtime=runtime)
    assert results["podman.runtime"].facts["runtime"] == runtime
    assert results["podman.runtime"].facts["keep_groups_supported"] is (runtime == "crun")


def test_podman_honours_a_fresh_xdg_config_home(podman, crun_fails, tmp_path):
    # The precondition of the next test: without the user's containers.conf podman picks crun.
    assert podman_runtime({}) == "runc"
    assert podman_runtime({"XDG_CONFIG_HOME": str(tmp_path / "cfg")}) == "crun"
    (tmp_path / "c.conf").write_text("")  # podman refuses a CONTAINERS_CONF that does not exist
    assert podman_runtime({"CONTAINERS_CONF": str(tmp_path / "c.conf")}) == "crun"


@pytest.mark.parametrize("variable", ["XDG_CONFIG_HOME", "CONTAINERS_CONF"])
def test_crun_on_hybrid_cgroups_is_diagnosed_and_fixed(podman, crun_fails, tmp_path, variable):
    if variable == "XDG_CONFIG_HOME":
        env = {"XDG_CONFIG_HOME": str(tmp_path / "cfg")}
        conf = tmp_path / "cfg/containers/containers.conf"
    else:
        conf = tmp_path / "c.conf"
        conf.write_text('# mine\n[containers]\nlog_driver = "k8s-file"\n')
        env = {"CONTAINERS_CONF": str(conf)}
    before = run(real_context({**os.environ, **env}, config=Config()), "podman.runtime")["podman.runtime"]
    assert (before.status, before.summary) == (Status.FAIL, HYBRID), before
    assert "cgroups in hybrid mode not supported" in before.messages[0].text
    assert before.fixes[0].id == RUNC_FIX_ID and before.facts["runtime"] == "crun"

    done = spotidoctor("fix", "podman.runtime", env=env, tmp_path=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "podman.runtime: fixed (verified)" in done.stdout
    assert '[engine]\nruntime = "runc"\n' in conf.read_text()
    if variable == "CONTAINERS_CONF":
        assert conf.read_text().startswith('# mine\n[containers]\nlog_driver = "k8s-file"\n')
        backups = list((tmp_path / "state/spotidoctor/backups").rglob("*c.conf"))
        assert [b.read_text() for b in backups] == ['# mine\n[containers]\nlog_driver = "k8s-file"\n']

    after = run(real_context({**os.environ, **env}, config=Config()), "podman.runtime")["podman.runtime"]
    assert (after.status, after.facts["runtime"]) == (Status.OK, "runc")
    assert podman_runtime(env) == "runc"


def test_network_diagnosis_matches_the_tun_device(podman):
    result = run(real_context(config=Config()), "podman.network")["podman.network"]
    tun = "/dev/net/tun"
    if not os.path.exists(tun):
        assert result.summary == NO_TUN.format(problem="missing")
    elif not os.access(tun, os.R_OK | os.W_OK):
        assert result.summary == NO_TUN.format(problem=TUN_NO_ACCESS)  # this VM: crw------- root
        assert result.fixes[0].steps[0].effective_argv == ("sudo", "--", "chmod", "0666", tun)  # type: ignore[attr-defined]
    else:
        assert result.status is Status.OK and result.summary.startswith("network mode")
    info = podman_info(real_context(config=Config()))
    assert info is not None and result.facts["network_mode"] == info.default_network
