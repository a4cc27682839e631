"""`spotidoctor desktop install|uninstall` for real: desktop-file-validate accepts the entry,
xdg-mime names it as the spotify: handler, the icons come out of the image (podman create +
cp) or fall back to spotidoctor's own, desktop.entry reports it current, and uninstall leaves
the private XDG tree as it found it."""
from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from spotidoctor.daily.desktopentry import DESKTOP_ID
from tests import servers
from tests.aptrepo import png
from tests.daily import ICON_SIZES, ensure_daily_image, podman_store, private_xdg, spotidoctor

MIME = "x-scheme-handler/spotify"


@pytest.fixture(scope="module")
def daily_image(standin_image: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    return ensure_daily_image(tmp_path_factory.mktemp("daily-image"), standin_image)


@pytest.fixture
def env(podman: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    servers.require("desktop-file-validate", "xdg-mime")
    yield private_xdg(tmp_path / "xdg", podman_store())


PODMANS_OWN = ("containers", "cni")  # podman's config and the network lock podman create takes


def tree(env: dict[str, str]) -> dict[str, bytes | None]:
    """Every path below the private data and config homes (contents for files), podman's own left out."""
    found: dict[str, bytes | None] = {}
    for name in ("XDG_DATA_HOME", "XDG_CONFIG_HOME"):
        root = Path(env[name])
        for path in sorted(root.rglob("*")):
            if path.relative_to(root).parts[0] not in PODMANS_OWN:
                found[str(path)] = path.read_bytes() if path.is_file() and not path.is_symlink() else None
    return found


def xdg_mime_default(env: dict[str, str]) -> str:
    return subprocess.run(["xdg-mime", "query", "default", MIME], env=env, capture_output=True, text=True,
                          timeout=30).stdout.strip()


def entry_path(env: dict[str, str]) -> Path:
    return Path(env["XDG_DATA_HOME"]) / "applications" / DESKTOP_ID


def check_entry(env: dict[str, str]) -> dict[str, object]:
    done = spotidoctor(env, "check", "desktop.entry", "--json")
    document = json.loads(done.stdout)
    [result] = [r for r in document["results"] if r["id"] == "desktop.entry"]
    return result  # type: ignore[no-any-return]


def test_install_validates_registers_and_uninstall_restores(env: dict[str, str], daily_image: str) -> None:
    Path(env["XDG_CONFIG_HOME"], "mimeapps.list").write_text("[Default Applications]\ntext/html=firefox.desktop\n")
    before = tree(env)
    assert check_entry(env)["status"] == "warn"

    done = spotidoctor(env, "desktop", "install", "--image", daily_image, "--container-name", "sd daily")
    assert done.returncode == 0, done.stdout + done.stderr
    entry = entry_path(env)
    validated = subprocess.run(["desktop-file-validate", str(entry)], capture_output=True, text=True, timeout=30)
    assert validated.returncode == 0 and validated.stdout == "", validated.stdout
    assert xdg_mime_default(env) == DESKTOP_ID
    text = entry.read_text()
    exec_line = next(line for line in text.splitlines() if line.startswith("Exec=") and " launch " in line)
    program = exec_line.removeprefix("Exec=").split(" ")[0]
    assert os.path.isabs(program) and os.access(program, os.X_OK), exec_line
    assert exec_line.endswith(f'launch --image {daily_image} --container-name "sd daily" %U')
    icons = Path(env["XDG_DATA_HOME"]) / "icons/hicolor"
    assert sorted(p.relative_to(icons).as_posix() for p in icons.rglob("*.png")) == [
        f"{size}x{size}/apps/spotidoctor-spotify.png" for size in sorted(ICON_SIZES, key=str)]
    assert (icons / "48x48/apps/spotidoctor-spotify.png").read_bytes() == png(48)  # Spotify's own, from the image
    assert check_entry(env)["status"] == "ok"

    done = spotidoctor(env, "desktop", "uninstall")
    assert done.returncode == 0, done.stdout + done.stderr
    assert tree(env) == before
    assert xdg_mime_default(env) == ""
    assert check_entry(env)["status"] == "warn"


def test_an_image_without_icons_gets_the_fallback(env: dict[str, str], standin_image: str) -> None:
    done = spotidoctor(env, "desktop", "install", "--image", standin_image)
    assert done.returncode == 0, done.stdout + done.stderr
    svg = Path(env["XDG_DATA_HOME"]) / "icons/hicolor/scalable/apps/spotidoctor-spotify.svg"
    assert svg.read_text().startswith("<?xml") and "has no /usr/share/spotify/icons" in done.stdout
    assert not list((Path(env["XDG_DATA_HOME"]) / "icons").rglob("*.png"))
    validated = subprocess.run(["desktop-file-validate", str(entry_path(env))], capture_output=True, text=True,
                               timeout=30)
    assert validated.returncode == 0 and validated.stdout == ""
    spotidoctor(env, "desktop", "uninstall")
    assert not Path(env["XDG_DATA_HOME"], "icons").exists() and not entry_path(env).exists()


def test_no_container_is_left_behind(env: dict[str, str], daily_image: str) -> None:
    def containers() -> set[str]:
        listed = subprocess.run(["podman", "ps", "-a", "--format", "{{.ID}}"], env=env, capture_output=True,
                                text=True, timeout=60)
        return set(listed.stdout.split())

    before = containers()
    assert spotidoctor(env, "desktop", "install", "--image", daily_image).returncode == 0
    assert containers() == before
    spotidoctor(env, "desktop", "uninstall")
