"""Packaging: wheel and sdist ship checks/ as spotidoctor.checks and no top-level `checks`."""
from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """sdist, then the wheel built from that sdist (what `python -m build` does)."""
    out = tmp_path_factory.mktemp("dist")
    src = tmp_path_factory.mktemp("src") / "spotidoctor"
    ignore = shutil.ignore_patterns(".git", "*.egg-info", "__pycache__", ".mypy_cache", ".pytest_cache", "build")
    shutil.copytree(REPO, src, ignore=ignore)
    subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(src)],
                   check=True, capture_output=True, timeout=600)
    return out


def test_wheel_maps_checks_into_the_package(dists: Path) -> None:
    (wheel,) = dists.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "spotidoctor/checks/__init__.py" in names
    assert "spotidoctor/backend/resources/Containerfile" in names
    assert "spotidoctor/channels/resources/xdg-open.sh" in names  # the container's xdg-open shim
    assert not [n for n in names if n.startswith("checks/")]
    top_level = [n for n in names if n.endswith("top_level.txt")]
    if top_level:
        assert zipfile.ZipFile(wheel).read(top_level[0]).decode().split() == ["spotidoctor"]


def test_sdist_contains_the_checks_folder(dists: Path) -> None:
    (sdist,) = dists.glob("*.tar.gz")
    names = tarfile.open(sdist).getnames()
    assert any(n.endswith("/checks/__init__.py") for n in names)


def test_installed_wheel_runs_and_has_no_top_level_checks(dists: Path, tmp_path: Path) -> None:
    (wheel,) = dists.glob("*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "install", "-q", "--no-deps",
                    "--target", str(_site_packages(venv)), str(wheel)], check=True, timeout=300)
    # Dependencies (psutil, rich, ...) come from this environment, appended after the wheel.
    (_site_packages(venv) / "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    python = str(venv / "bin" / "python")
    env = {**os.environ, "HOME": str(tmp_path), "NO_COLOR": "1"}
    env.pop("PYTHONPATH", None)
    no_checks = subprocess.run([python, "-c", "import checks"], capture_output=True, text=True, cwd=tmp_path)
    assert "ModuleNotFoundError: No module named 'checks'" in no_checks.stderr
    where = subprocess.run([python, "-c", "import spotidoctor.checks as c; print(c.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, check=True).stdout
    assert where.startswith(str(venv))
    listing = subprocess.run([python, "-m", "spotidoctor", "list"], capture_output=True, text=True,
                             cwd=tmp_path, env=env, timeout=60)
    assert listing.returncode == 0, listing.stderr
    checked = subprocess.run([python, "-m", "spotidoctor", "check", "--json", "--ignore", "podman",
                              "--ignore", "image", "--ignore", "crash"],
                             capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert checked.returncode in (0, 1), checked.stderr
    assert json.loads(checked.stdout)["schema"] == 1


def test_editable_install_does_not_expose_a_top_level_checks(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", "import checks"], capture_output=True, text=True, cwd=tmp_path)
    assert "No module named 'checks'" in done.stderr


def _site_packages(venv: Path) -> Path:
    return venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
