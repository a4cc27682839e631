"""The image-reference validator agrees with the real podman: ``podman image exists REF`` ends
125 ("invalid reference format", "repository name must be lowercase", ...) exactly for the
references spotidoctor refuses, and 0/1 (present/absent) for the ones it accepts."""
from __future__ import annotations

import subprocess

import pytest

from spotidoctor.hardening.names import image_problems

REFERENCES = [
    "spotify_pod", "localhost/spotify_pod:latest", "localhost:5000/team/spotify-pod:1.2.3", "a--b", "a__b",
    "docker:latest", "abcdef012345", "quay.io/x/y@sha256:" + "0" * 64, "a" * 255,
    "spotify_pod:", "a..b", "Spotify_Pod", "spotify pod", "spotify_pod@sha256:abc", "a" * 256, "x:bad/tag",
    "_leading", "trailing-", "ok/-bad",
]


@pytest.mark.parametrize("ref", REFERENCES)
def test_validator_matches_podman(podman: str, ref: str) -> None:
    done = subprocess.run(["podman", "image", "exists", "--", ref], capture_output=True, text=True, timeout=60)
    podman_refuses = done.returncode == 125
    assert podman_refuses == bool(image_problems(ref)), (done.returncode, done.stderr, image_problems(ref))
