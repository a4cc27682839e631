"""Crash diagnosis end to end: `spotidoctor launch` runs the stand-in image, whose
/usr/bin/spotify prints Chromium's out-of-memory FATAL line and exits 133 (SIGTRAP); then
`spotidoctor check crash` must fail, quote the line, and name the cause that matches how
the launch ran — once with a 64m /dev/shm and once with 2g, so the verdicts differ.

spotidoctor's own state is private (``--config`` file, ``XDG_STATE_HOME``, storage dir, a
unique container name); podman runs with the test user's own configuration and storage.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

OOM_LINE = "[1129/235959.123999:FATAL:memory.cc(40)] Out of memory. size=262144"
CONTAINER_UID = 1500
LAUNCH_TIMEOUT_S = 300
CHECK_TIMEOUT_S = 300


@dataclass
class CrashSetup:
    env: dict[str, str]
    config: Path
    storage: Path
    name: str
    image: str

    def write_config(self, shm_size: str) -> None:
        self.config.write_text(f'image = "{self.image}"\ncontainer_name = "{self.name}"\n'
                               f'storage_dir = "{self.storage}"\nshm_size = "{shm_size}"\n')

    def spotidoctor(self, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "spotidoctor", *args], env=self.env, capture_output=True,
                              text=True, timeout=timeout)

    def launch(self) -> subprocess.CompletedProcess[str]:
        return self.spotidoctor("launch", "--config", str(self.config), "--image", self.image, "--network", "none",
                                "--yes", "--no-check", "--", "--print-oom", "--exit=133", timeout=LAUNCH_TIMEOUT_S)

    def check_crash(self) -> tuple[subprocess.CompletedProcess[str], dict[str, dict[str, object]]]:
        done = self.spotidoctor("check", "crash", "--config", str(self.config), "--json", timeout=CHECK_TIMEOUT_S)
        document = json.loads(done.stdout)
        return done, {r["id"]: r for r in document["results"]}


def _podman(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def crash_setup(tmp_path: Path, standin_image: str) -> Iterator[CrashSetup]:
    storage = tmp_path / "storage"
    for sub in ("config", "cache"):
        (storage / sub).mkdir(parents=True)
    # The isolated profile's container user owns the storage (what `spotidoctor fix storage` does).
    chown = _podman("unshare", "chown", "-R", f"{CONTAINER_UID}:{CONTAINER_UID}", str(storage))
    assert chown.returncode == 0, chown.stderr
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "XAUTHORITY", "PULSE_SERVER")}
    env.update(XDG_STATE_HOME=str(tmp_path / "state"), NO_COLOR="1")
    setup = CrashSetup(env, tmp_path / "config.toml", storage, f"sdtest-crash-{uuid.uuid4().hex[:8]}",
                       standin_image)
    yield setup
    _podman("rm", "--force", "--ignore", setup.name)  # only when a launch was interrupted (--rm otherwise)
    _podman("unshare", "chown", "-R", "0:0", str(storage))  # back to us, so tmp_path can be removed


def _launch_crashes(setup: CrashSetup, shm_size: str) -> None:
    setup.write_config(shm_size)
    done = setup.launch()
    output = done.stdout + done.stderr
    assert done.returncode == 133, output
    newest = sorted((Path(setup.env["XDG_STATE_HOME"]) / "spotidoctor" / "launches").glob("*/launch.json"))[-1]
    assert f"--shm-size={shm_size}" in json.loads(newest.read_text())["argv"]
    # The launcher ran the diagnosis itself and printed the verdict.
    assert "crash.last-launch" in output and OOM_LINE in output, output


def test_oom_crash_verdict_follows_the_shm_size_of_the_launch(crash_setup: CrashSetup) -> None:
    _launch_crashes(crash_setup, "64m")
    done, results = crash_setup.check_crash()
    assert done.returncode == 1, done.stdout + done.stderr
    small = results["crash.last-launch"]
    facts = small["facts"]
    assert small["status"] == "fail", small
    assert facts["quote"] == OOM_LINE and facts["exit_code"] == 133 and facts["signal"] == "SIGTRAP"
    assert facts["logged_at"], facts  # the k8s-file log's own timestamp
    assert facts["cause"] == "dev-shm", facts
    assert "64 MiB" in str(facts["cause_text"]) and facts["settings"]["shm_bytes"] == 64 * 1024 ** 2
    assert [f["id"] for f in small["fixes"]] == ["crash.shm-size"]
    assert results["crash.container"]["status"] == "ok"  # --rm: nothing left over
    first_launch = facts["launch_id"]

    _launch_crashes(crash_setup, "2g")
    done, results = crash_setup.check_crash()
    assert done.returncode == 1, done.stdout + done.stderr
    large = results["crash.last-launch"]
    facts = large["facts"]
    assert large["status"] == "fail" and facts["quote"] == OOM_LINE, large
    assert facts["launch_id"] != first_launch
    assert facts["settings"]["shm_bytes"] == 2 * 1024 ** 3
    assert facts["cause"] != "dev-shm" and "dev-shm" not in facts["also"], facts
    assert "2 GiB" in str(facts["cause_text"]) or facts["cause"] in ("rlimit-as", "overcommit", "nofile"), facts
    # The first crash is now history: a warning, not a failure.
    history = results["crash.history"]
    assert history["status"] == "warn", history
    assert [c["launch_id"] for c in history["facts"]["crashes"]] == [first_launch]
    assert history["facts"]["crashes"][0]["cause"] == "dev-shm"


def test_text_output_quotes_the_line(crash_setup: CrashSetup) -> None:
    _launch_crashes(crash_setup, "64m")
    done = crash_setup.spotidoctor("check", "crash", "--config", str(crash_setup.config), timeout=CHECK_TIMEOUT_S)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f'"{OOM_LINE}"' in done.stdout
    assert "likely cause: /dev/shm was only 64 MiB (--shm-size=64m)" in done.stdout


# -- a stale Chromium profile lock ---------------------------------------------------------------

FOREIGN_LOCK = "e18ba36aa308-6"  # what a container with a random host name left behind


def _launch_with_lock(setup: CrashSetup, *args: str) -> subprocess.CompletedProcess[str]:
    return setup.spotidoctor("launch", "--config", str(setup.config), "--image", setup.image, "--network", "none",
                             "--yes", "--no-check", "--", "--profile-lock", *args, timeout=LAUNCH_TIMEOUT_S)


def _lock_target(storage: Path) -> str | None:
    done = _podman("unshare", "readlink", str(storage / "cache" / "SingletonLock"))
    return done.stdout.strip() if done.returncode == 0 else None


def test_a_stale_profile_lock_is_named_removed_and_never_left_to_block_again(crash_setup: CrashSetup) -> None:
    crash_setup.write_config("1g")
    lock = crash_setup.storage / "cache" / "SingletonLock"
    planted = _podman("unshare", "sh", "-c", f"ln -s {FOREIGN_LOCK} {lock} && chown -h {CONTAINER_UID}:"
                      f"{CONTAINER_UID} {lock}")
    assert planted.returncode == 0, planted.stderr

    refused = _launch_with_lock(crash_setup)
    output = refused.stdout + refused.stderr
    assert refused.returncode == 21, output
    assert "on another computer (e18ba36aa308)" in output and "a stale profile lock" in output, output
    done, results = crash_setup.check_crash()
    verdict = results["crash.last-launch"]
    assert verdict["status"] == "fail" and verdict["facts"]["cause"] == "profile-lock", verdict
    assert [f["id"] for f in verdict["fixes"]] == ["crash.remove-stale-profile-lock"]

    fixed = crash_setup.spotidoctor("fix", "--yes", "--config", str(crash_setup.config), "crash.last-launch",
                                    timeout=CHECK_TIMEOUT_S)
    assert "removed the stale profile lock" in fixed.stdout, fixed.stdout + fixed.stderr
    assert _lock_target(crash_setup.storage) is None

    # A crash now leaves a lock that names the stable host name; the next launch clears it itself.
    crashed = _launch_with_lock(crash_setup, "--exit=133")
    assert crashed.returncode == 133, crashed.stdout + crashed.stderr
    target = _lock_target(crash_setup.storage)
    assert target is not None and target.startswith("spotify-"), target
    again = _launch_with_lock(crash_setup)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"replaced its own stale profile lock {target}" in again.stdout + again.stderr


# -- podman's own error -----------------------------------------------------------------------------------

def test_a_launch_podman_rejects_quotes_podmans_error_line(crash_setup: CrashSetup) -> None:
    # An option this podman does not know: podman refuses the command (exit 125) before any
    # container exists, so the container log is empty and only podman's stderr says why.
    crash_setup.write_config("1g")
    with crash_setup.config.open("a") as fh:
        fh.write('extra_run_args = ["--frobnicate-the-container"]\n')
    done = crash_setup.spotidoctor("launch", "--config", str(crash_setup.config), "--image", crash_setup.image,
                                   "--network", "none", "--yes", "--no-check", timeout=LAUNCH_TIMEOUT_S)
    output = done.stdout + done.stderr
    assert done.returncode == 125, output
    assert '"Error: unknown flag: --frobnicate-the-container"' in output, output
    assert "option podman does not know" in output and "Remove it from extra_run_args" in output, output
    newest = sorted((Path(crash_setup.env["XDG_STATE_HOME"]) / "spotidoctor" / "launches").glob("*/launch.json"))[-1]
    assert json.loads(newest.read_text())["podman_errors"] == ["unknown flag: --frobnicate-the-container"]
    checked, results = crash_setup.check_crash()
    verdict = results["crash.last-launch"]
    assert verdict["facts"]["quote"] == "Error: unknown flag: --frobnicate-the-container", verdict
