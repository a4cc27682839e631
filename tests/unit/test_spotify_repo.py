"""The repository the recipe installs Spotify from: SPOTIFY_REPO, the spotify_repo setting, the label."""
from __future__ import annotations

import re
import subprocess

import pytest

from spotidoctor import config
from spotidoctor.backend.build import build_fix
from spotidoctor.backend.recipe import (
    LABEL_SPOTIFY_REPO,
    REPO_ARG,
    SPOTIFY_REPO_DEFAULT,
    bundled_text,
    effective_build_args,
)
from spotidoctor.errors import ConfigError

TEXT = bundled_text()
JOINED = re.sub(r"\\\n\s*", " ", TEXT)
GOOD = ("https://repository.spotify.com", "http://127.0.0.1:8080", "https://mirror.example/spotify/",
        "http://user@host:1/a_b~c%20d+e")
BAD = ("", "ftp://repository.spotify.com", "repository.spotify.com", "[trusted=yes] http://evil",
       "http://a b", "https://x stable main\ndeb http://evil", "http://x]", "file:///tmp/repo")


def test_the_recipe_takes_the_repository_as_a_build_argument_with_spotifys_as_default() -> None:
    assert f"ARG {REPO_ARG}={SPOTIFY_REPO_DEFAULT}" in TEXT.splitlines()
    assert 'deb [signed-by=/usr/share/keyrings/spotify.gpg] $SPOTIFY_REPO stable non-free' in TEXT
    assert f'{LABEL_SPOTIFY_REPO}="${{{REPO_ARG}}}"' in TEXT


def test_the_recipe_installs_cjk_and_emoji_fonts_and_the_tray_library() -> None:
    [install] = [line for line in JOINED.splitlines() if "spotify-client;" in line and "apt-get install" in line]
    for package in ("fonts-noto-cjk", "fonts-noto-color-emoji", "libayatana-appindicator3-1"):
        assert f" {package} " in install, package


def _recipe_guard() -> str:
    """The recipe's own check of SPOTIFY_REPO (the `case ... esac` before the source line)."""
    [guard] = re.findall(r'case "\$SPOTIFY_REPO" in .*? esac;', JOINED)
    return str(guard)


@pytest.mark.parametrize("url", GOOD)
def test_recipe_guard_accepts_http_urls(url: str) -> None:
    done = subprocess.run(["sh", "-c", _recipe_guard() + " echo accepted"], env={"SPOTIFY_REPO": url},
                          capture_output=True, text=True, timeout=10)
    assert (done.returncode, done.stdout) == (0, "accepted\n"), done.stderr


@pytest.mark.parametrize("url", BAD)
def test_recipe_guard_refuses_what_would_change_the_apt_source_line(url: str) -> None:
    done = subprocess.run(["sh", "-c", _recipe_guard() + " echo accepted"], env={"SPOTIFY_REPO": url},
                          capture_output=True, text=True, timeout=10)
    assert done.returncode == 2 and "accepted" not in done.stdout and "SPOTIFY_REPO must be" in done.stderr


@pytest.mark.parametrize("url", GOOD)
def test_spotify_repo_setting_accepts_http_urls(url: str) -> None:
    assert config.from_mapping({"spotify_repo": url}, "test.toml").spotify_repo == url


@pytest.mark.parametrize("url", [u for u in BAD if u] + [3])
def test_spotify_repo_setting_refuses_anything_else(url: object) -> None:
    with pytest.raises(ConfigError, match="spotify_repo must be an http"):
        config.from_mapping({"spotify_repo": url}, "test.toml")


def test_the_setting_becomes_the_build_argument_only_when_set() -> None:
    assert effective_build_args(1500, []) == {"SPOTIFY_UID": "1500"}
    assert effective_build_args(1500, [], spotify_repo="http://127.0.0.1:1") == {
        "SPOTIFY_UID": "1500", REPO_ARG: "http://127.0.0.1:1"}
    # build_args and --build-arg still win, in that order.
    assert effective_build_args(1500, ["SPOTIFY_REPO=http://b"], spotify_repo="http://a")[REPO_ARG] == "http://b"
    assert effective_build_args(1500, ["SPOTIFY_REPO=http://b"], ["SPOTIFY_REPO=http://c"],
                                spotify_repo="http://a")[REPO_ARG] == "http://c"


def test_the_build_fix_passes_the_configured_repository() -> None:
    fix = build_fix(config.Config(spotify_repo="http://127.0.0.1:8080"))
    [step] = fix.steps
    assert "SPOTIFY_REPO=http://127.0.0.1:8080" in step.build_args  # type: ignore[attr-defined]
