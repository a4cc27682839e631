"""The README's first command, as a new user would paste it in a fresh clone: to
`spotidoctor check` with `spotidoctor` on PATH, in this shell and in new ones.

Run for real in a fresh HOME made from /etc/skel (what `useradd -m` gives a new account), in
a fresh clone of a local repository made from this checkout, with the `sudo apt-get install
...` part left out (CI installs those packages as root; the test checks that the README names
them). pipx installs the dependencies from PyPI, as it does for a user.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests import servers

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("pipx", "podman", "buildah", "uidmap", "slirp4netns", "fuse-overlayfs")


def first_command() -> list[str]:
    block = (REPO / "README.md").read_text().split("```sh\n", 1)[1].split("```", 1)[0]
    line = next(line for line in block.splitlines() if line and not line.startswith("#"))
    return line.split(" && ")


def local_upstream(tmp: Path) -> Path:
    """A git repository with this checkout's files (the test user's copy has no .git)."""
    repo = tmp / "upstream"
    shutil.copytree(REPO, repo, ignore=shutil.ignore_patterns(".git", "*.egg-info", "__pycache__", ".*_cache",
                                                              "build", "dist"))
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(repo)]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "snapshot"]):
        subprocess.run([*git, *args], check=True, capture_output=True, timeout=120)
    return repo


def test_the_readmes_first_command_puts_spotidoctor_on_path_and_runs_check(tmp_path: Path) -> None:
    servers.require("pipx", "git", "bash")
    steps = first_command()
    apt = steps[0]
    assert apt.startswith("sudo apt-get install")
    assert all(package in apt.split() for package in PACKAGES)
    home = tmp_path / "home"
    shutil.copytree("/etc/skel", home)
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    script = " && ".join([f"git clone -q {local_upstream(tmp_path)} spotidoctor", "cd spotidoctor", *steps[1:]])
    env = {"HOME": str(home), "USER": os.environ.get("USER", "user"), "LANG": "C.UTF-8", "NO_COLOR": "1",
           "PATH": "/usr/local/bin:/usr/bin:/bin", "XDG_RUNTIME_DIR": str(runtime),
           **{k: v for k, v in os.environ.items() if k.startswith("PIP_")}}
    try:
        done = subprocess.run(["bash", "-c", script + '; echo "[exit $?]"'], cwd=home, env=env, capture_output=True,
                              text=True, timeout=900)
    finally:
        servers.stop_podman_pause(env)  # `spotidoctor check` ran podman with the private runtime dir
    assert "[✓] " in done.stdout or "[✗] " in done.stdout, done.stdout + done.stderr  # check ran
    assert "x11.display" in done.stdout and ("Problems found." in done.stdout or "No " in done.stdout)
    assert done.stdout.rstrip().splitlines()[-1] in ("[exit 0]", "[exit 1]"), done.stdout[-2000:] + done.stderr
    for shell in (["bash", "-l", "-c"], ["bash", "-i", "-c"]):  # a new login shell, a new terminal
        found = subprocess.run([*shell, "command -v spotidoctor && spotidoctor --version"], cwd=home,
                               env={k: v for k, v in env.items() if k != "XDG_RUNTIME_DIR"},
                               capture_output=True, text=True, timeout=120)
        assert found.stdout.splitlines()[:1] == [str(home / ".local" / "bin" / "spotidoctor")], found.stderr
