"""The bundled Containerfile: what it installs, how it trusts Spotify's key, who runs Spotify."""
from __future__ import annotations

import re

from spotidoctor.backend.recipe import KEY_URL_ARG, UID_ARG, bundled_text

TEXT = bundled_text()
# Instructions with their continuation lines joined; comments dropped.
INSTRUCTIONS = [line for line in re.sub(r"\\\n\s*", " ", TEXT).splitlines()
                if line.strip() and not line.lstrip().startswith("#")]


def stages() -> list[list[str]]:
    found: list[list[str]] = []
    for line in INSTRUCTIONS:
        if line.startswith("FROM "):
            found.append([])
        if found:
            found[-1].append(line)
    return found


def test_debian_base_is_a_build_argument() -> None:
    assert INSTRUCTIONS[0] == "ARG BASE_IMAGE=docker.io/library/debian:bookworm-slim"
    assert [s[0] for s in stages()] == ["FROM ${BASE_IMAGE} AS keyring", "FROM ${BASE_IMAGE}"]


def test_key_url_is_a_build_argument_with_a_current_default() -> None:
    [arg] = [line for line in INSTRUCTIONS if line.startswith(f"ARG {KEY_URL_ARG}=")]
    assert re.fullmatch(rf"ARG {KEY_URL_ARG}=https://download\.spotify\.com/debian/pubkey_[0-9A-F]{{16}}\.(asc|gpg)",
                        arg)
    assert "https://www.spotify.com/us/download/linux/" in TEXT  # where to find the next key


def test_repository_is_trusted_through_signed_by_only() -> None:
    assert 'deb [signed-by=/usr/share/keyrings/spotify.gpg] $SPOTIFY_REPO stable non-free' in TEXT
    assert "apt-key" not in TEXT.replace("never apt-key", "")
    assert "trusted.gpg.d" not in TEXT


def test_final_image_has_spotify_and_no_build_tools_sudo_or_x_server_utilities() -> None:
    keyring, final = stages()
    final_text = " ".join(final)
    assert "spotify-client" in final_text and "libpulse0" in final_text
    assert "curl" in " ".join(keyring) and "gnupg" in " ".join(keyring)
    for unwanted in ("sudo", "curl", "gnupg", "xauth", "x11-xserver-utils", "xserver", "xhost", "x11-utils"):
        assert unwanted not in final_text, unwanted
    assert "--no-install-recommends" in final_text


def test_spotify_user_with_the_configured_uid() -> None:
    final = stages()[1]
    assert f"ARG {UID_ARG}=1500" in final
    assert any(f'useradd --uid "${UID_ARG}" --gid "${UID_ARG}"' in line and "spotify_user" in line for line in final)
    assert final[-2:] == ["WORKDIR /home/spotify_user", 'ENTRYPOINT ["/usr/bin/spotify"]']
    assert f"USER ${{{UID_ARG}}}:${{{UID_ARG}}}" in final
    assert "ENV HOME=/home/spotify_user TMPDIR=/tmp" in final


def test_pulse_client_config_disables_autospawn_and_shm() -> None:
    assert "RUN printf 'autospawn = no\\nenable-shm = no\\n' >/etc/pulse/client.conf" in INSTRUCTIONS


def test_build_prints_the_spotify_version_for_the_label() -> None:
    assert "dpkg-query -W -f='spotidoctor-spotify-version=${Version}\\n' spotify-client" in TEXT
