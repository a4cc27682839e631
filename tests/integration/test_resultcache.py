"""The result cache and the pause-process id maps against the real podman, as the test user.

- A second `spotidoctor check podman.runtime` in a row reuses the runtime verdict: podman
  is started through a logging wrapper, and no second `podman run` happens; touching the
  containers.conf podman reads forces a real re-test, and so does `--fresh`.
- podman's live id maps read from its pause process equal `podman unshare cat`'s; with a
  private runtime dir (no pause process yet) `podman unshare` answers.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from spotidoctor.checks.podman.runtime import RUNTIME_OK
from spotidoctor.config import Config
from spotidoctor.podman.idmaps import _tmp_dir_configured, id_maps, mapped_owner, pause_process_pid
from spotidoctor.podman.subids import parse_id_map
from tests import servers
from tests.realcontext import real_context

WRAPPER = """#!/bin/sh
printf '%s\\n' "$*" >> {log}
exec {podman} "$@"
"""


@pytest.fixture
def logged_podman(podman: str, tmp_path: Path) -> tuple[dict[str, str], Path]:
    """An env whose `podman` logs every invocation, with a private state dir (so a private
    result cache) and a private copy of the user's containers.conf as $CONTAINERS_CONF."""
    real = shutil.which("podman")
    assert real is not None
    bin_dir, log = tmp_path / "bin", tmp_path / "podman.log"
    bin_dir.mkdir()
    (bin_dir / "podman").write_text(WRAPPER.format(log=log, podman=real))
    (bin_dir / "podman").chmod(0o755)
    user_conf = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "containers" / "containers.conf"
    conf = tmp_path / "containers.conf"
    # The user's own settings (runc on this hybrid-cgroup machine), or none.
    conf.write_text(user_conf.read_text() if user_conf.is_file() else "")
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "XDG_STATE_HOME": str(tmp_path / "state"),
           "CONTAINERS_CONF": str(conf)}
    return env, log


def check(env: Mapping[str, str], tmp_path: Path, *args: str) -> dict[str, dict[str, object]]:
    done = subprocess.run([sys.executable, "-m", "spotidoctor", "check", "podman.runtime", "--json", *args,
                           "--config", str(tmp_path / "none.toml")],
                          capture_output=True, text=True, timeout=300, env=dict(env))
    assert done.returncode == 0, done.stdout + done.stderr
    return {r["id"]: r for r in json.loads(done.stdout)["results"]}


def podman_runs(log: Path) -> int:
    return sum(1 for line in log.read_text().splitlines() if line.startswith("run "))


def infos(log: Path) -> int:
    return sum(1 for line in log.read_text().splitlines() if line.startswith("info "))


def test_a_second_check_reuses_the_runtime_verdict(logged_podman: tuple[dict[str, str], Path],
                                                   tmp_path: Path) -> None:
    env, log = logged_podman
    first = check(env, tmp_path)["podman.runtime"]
    assert first["status"] == "ok" and first["summary"].endswith("started a container")  # type: ignore[union-attr]
    assert (podman_runs(log), infos(log)) == (1, 1)

    second = check(env, tmp_path)
    runtime = second["podman.runtime"]
    assert (podman_runs(log), infos(log)) == (1, 1)  # no container started, podman info not asked
    assert runtime["status"] == "ok"
    assert "ago (nothing it depends on changed since)" in str(runtime["summary"])
    texts = [m["text"] for m in runtime["messages"]]  # type: ignore[union-attr]
    assert any(str(t).startswith("verified ") and "spotidoctor check --fresh" in str(t) for t in texts)
    assert runtime["facts"] == first["facts"]
    assert any("podman info answered" in str(m["text"]) for m in second["podman.rootless"]["messages"])  # type: ignore

    # Touching the containers.conf podman reads: a real re-test (and podman info again).
    conf = Path(env["CONTAINERS_CONF"])
    os.utime(conf, (conf.stat().st_atime, conf.stat().st_mtime + 5))
    third = check(env, tmp_path)["podman.runtime"]
    assert (podman_runs(log), infos(log)) == (2, 2)
    assert third["summary"] == first["summary"] == RUNTIME_OK.format(runtime=first["facts"]["runtime"])  # type: ignore

    # --fresh always re-tests; the run after it may use its pass.
    check(env, tmp_path, "--fresh")
    assert podman_runs(log) == 3
    check(env, tmp_path)
    assert podman_runs(log) == 3
    cache = tmp_path / "state" / "spotidoctor" / "cache"
    assert sorted(p.name for p in cache.iterdir()) == ["podman-info.json", "podman-runtime.json"]
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in cache.iterdir())


def test_fix_re_tests_for_real(logged_podman: tuple[dict[str, str], Path], tmp_path: Path) -> None:
    env, log = logged_podman
    check(env, tmp_path)
    done = subprocess.run([sys.executable, "-m", "spotidoctor", "fix", "podman.runtime", "--yes",
                           "--config", str(tmp_path / "none.toml")],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert podman_runs(log) == 2  # `fix` never trusts a remembered pass


def unshare_maps(env: Mapping[str, str] | None = None) -> tuple[str, str]:
    texts = []
    for which in ("uid_map", "gid_map"):
        done = subprocess.run(["podman", "unshare", "cat", f"/proc/self/{which}"], capture_output=True, text=True,
                              timeout=60, env={**os.environ, **(env or {})})
        assert done.returncode == 0, done.stderr
        texts.append(done.stdout)
    return texts[0], texts[1]


def test_pause_process_maps_equal_podman_unshare(podman: str) -> None:
    uid_text, gid_text = unshare_maps()  # also makes sure the pause process runs
    ctx = real_context(config=Config())
    pid = pause_process_pid(ctx)
    if pid is None:
        # The only honest reason: a containers.conf sets tmp_dir (podman 4 keeps pause.pid there).
        assert _tmp_dir_configured(ctx)
        pytest.skip("a containers.conf sets tmp_dir: the id maps come from podman unshare")
    maps = id_maps(ctx)
    assert maps.source == f"pause process {pid}"
    assert (maps.uid_map, maps.gid_map) == (parse_id_map(uid_text), parse_id_map(gid_text))
    assert mapped_owner(ctx) == (maps.uid_map.to_host(1500), maps.gid_map.to_host(1500))  # type: ignore


def test_private_runtime_dir_falls_back_then_finds_the_new_pause_process(podman: str, tmp_path: Path) -> None:
    env = servers.base_env(tmp_path)
    env["XDG_DATA_HOME"] = str(tmp_path / "home" / ".local" / "share")
    user_conf = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "containers" / "containers.conf"
    if user_conf.is_file():  # keep the engine settings (runc), in the private config home
        target = Path(env["XDG_CONFIG_HOME"]) / "containers" / "containers.conf"
        target.parent.mkdir(parents=True)
        target.write_text(user_conf.read_text())
    try:
        before = id_maps(real_context({**os.environ, **env}, config=Config()))
        assert before.source == "podman unshare" and before.ok  # no pause process there yet
        after = id_maps(real_context({**os.environ, **env}, config=Config()))  # the unshare above started one
        assert after.source.startswith("pause process ")
        assert (after.uid_map, after.gid_map) == (before.uid_map, before.gid_map)
        # A containers.conf that moves tmp_dir: the pid file may live elsewhere, so unshare again.
        conf = Path(env["XDG_CONFIG_HOME"]) / "containers" / "containers.conf.d" / "50-tmp.conf"
        conf.parent.mkdir(parents=True)
        conf.write_text(f'[engine]\ntmp_dir = "{tmp_path / "run" / "libpod" / "tmp"}"\n')
        assert id_maps(real_context({**os.environ, **env}, config=Config())).source == "podman unshare"
    finally:
        servers.stop_podman_pause(env)
