"""Without XDG_RUNTIME_DIR (spotidoctor run through su or sudo): no secret is written outside a
runtime dir, and libpulse is never made to leave ``/tmp/pulse-*`` or ``~/.config/pulse/*-runtime``
behind. A real Xvfb runs; spotidoctor is started without XDG_RUNTIME_DIR, as `check` and as
`fix --yes`, with real libpulse."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests import servers


def own_pulse_tmp_dirs() -> set[str]:
    return {p.name for p in Path("/tmp").glob("pulse-*") if p.lstat().st_uid == os.getuid()}


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_no_cookie_copy_and_no_libpulse_leftovers_without_a_runtime_dir(xserver: servers.XServer,
                                                                         tmp_path: Path) -> None:
    env = {**servers.base_env(tmp_path / "user"), **xserver.env()}
    del env["XDG_RUNTIME_DIR"]
    home = Path(env["HOME"])
    # The original design's opt-ins: the container gets a copy of the display's own cookie (the
    # default, an untrusted per-launch cookie, is made by the launch, which refuses without it).
    config = Path(env["XDG_CONFIG_HOME"]) / "spotidoctor" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('audio = "direct"\nx11_trust = "trusted"\n')
    before, home_before = own_pulse_tmp_dirs(), files_under(home)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "spotidoctor", *args], env=env, capture_output=True,
                              text=True, timeout=180)

    checked = cli("check", "--json", "x11", "pulse")
    results = {r["id"]: r for r in json.loads(checked.stdout)["results"]}
    assert results["x11.connect"]["status"] == "ok", results["x11.connect"]  # X itself works
    cookie = results["x11.container-cookie"]
    assert cookie["status"] == "fail" and cookie["summary"].startswith("XDG_RUNTIME_DIR is not set"), cookie
    assert cookie["fixes"] == []
    assert results["pulse.server"]["summary"] == "cannot find the pulse server: XDG_RUNTIME_DIR is not set"

    fixed = cli("fix", "--yes", "x11", "pulse")
    assert fixed.returncode != 0 and "XDG_RUNTIME_DIR" in fixed.stdout, fixed.stdout + fixed.stderr
    created = files_under(home) - home_before
    assert not any("Xauthority" in p or "cookie" in p or p.endswith("-runtime") for p in created), created
    assert not (home / ".local/state/spotidoctor/run").exists()
    assert own_pulse_tmp_dirs() == before
