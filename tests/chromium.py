"""A Chromium test image: Debian's ``chromium`` as a Spotify stand-in (Chromium is the engine
inside Spotify), built with spotidoctor's own ``build --containerfile`` FROM the local Debian
base (tests/debian.py).

``/usr/bin/spotify`` starts Chromium in app mode on a local page that plays a quiet 440 Hz
WebAudio tone without a user gesture and shows the AudioContext's state in the window title
("spotidoctor chromium stand-in: running"). It never uses the network: everything is a
file:// page, background networking, component updates, sync and DNS are switched off, and
the tests launch it with ``--network none`` anyway. Spotify's own arguments (such as
``--audio-api=pulseaudio``) are ignored.

Chromium's sandbox cannot start under ``spotidoctor launch``: its namespace sandbox chroots
into /proc/self/fdinfo/, and podman's default seccomp profile allows chroot(2) only to
containers that keep CAP_SYS_CHROOT, which ``--cap-drop=all`` removes ("Check failed:
sys_chroot(...)", the zygote exits). So the wrapper passes ``--no-sandbox``; a launch that
adds the capability back can ask for the sandbox with ``--env=STANDIN_SANDBOX=1``.

The profile is a fresh temporary directory; ``--env=STANDIN_PROFILE=DIR`` keeps it in DIR instead
(in the persistent storage, where a crashed launch leaves Chromium's profile lock).

The image is rebuilt only when this file or the base image changes (a hash label).
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from tests.debian import image_id, label

CHROMIUM_IMAGE = "localhost/spotidoctor-chromium:test"
HASH_LABEL = "io.spotidoctor.chromium-standin-hash"
PAGE = "/usr/share/spotidoctor-standin/tone.html"
WINDOW_TITLE = "spotidoctor chromium stand-in"
BUILD_TIMEOUT_S = 1800

TONE_HTML = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{WINDOW_TITLE}</title></head>
<body style="background:#1db954;color:#fff;font:24px sans-serif">
<p>{WINDOW_TITLE}</p><p id="state">starting</p>
<script>
// A quiet, endless 440 Hz tone: a live stream on the sound server for as long as the page is open.
const audio = new AudioContext();
const tone = audio.createOscillator();
const gain = audio.createGain();
tone.frequency.value = 440;
gain.gain.value = 0.1;
tone.connect(gain).connect(audio.destination);
tone.start();
function show() {{
  document.getElementById("state").textContent = audio.state;
  document.title = "{WINDOW_TITLE}: " + audio.state;
}}
audio.onstatechange = show;
audio.resume().then(show);
show();
</script>
</body></html>
"""

# Flags: no first-run UI, no network of any kind, the tone may play without a click.
WRAPPER = f"""#!/bin/sh
# Chromium as a Spotify stand-in (spotidoctor's tests/chromium.py). Spotify's arguments are ignored.
sandbox=--no-sandbox
[ "${{STANDIN_SANDBOX:-0}}" = 1 ] && sandbox=
profile=${{STANDIN_PROFILE:-$(mktemp -d "${{TMPDIR:-/tmp}}/chromium-profile.XXXXXX")}}
mkdir -p "$profile"
echo "standin: chromium uid=$(id -u) profile=$profile sandbox=${{sandbox:-on}}"
exec /usr/bin/chromium $sandbox \\
    --user-data-dir="$profile" --no-first-run --no-default-browser-check --password-store=basic \\
    --autoplay-policy=no-user-gesture-required \\
    --disable-background-networking --disable-component-update --disable-sync --disable-default-apps \\
    --disable-extensions --disable-domain-reliability --disable-client-side-phishing-detection \\
    --disable-breakpad --no-pings --dns-prefetch-disable --host-resolver-rules="MAP * ~NOTFOUND" \\
    --disable-features=Translate,OptimizationHints,MediaRouter,CertificateTransparencyComponentUpdater \\
    --window-position=0,0 --window-size=800,600 \\
    --app=file://{PAGE}
"""

CONTAINERFILE = """\
ARG BASE_IMAGE=localhost/spotidoctor-debian:bookworm
FROM ${BASE_IMAGE}
ARG SPOTIFY_UID=1500
RUN set -eu; \\
    export DEBIAN_FRONTEND=noninteractive; \\
    apt-get update; \\
    apt-get install -y --no-install-recommends chromium pulseaudio-utils x11-utils xdotool fonts-liberation2; \\
    apt-get clean; \\
    rm -rf /var/lib/apt/lists/*; \\
    printf 'autospawn = no\\nenable-shm = no\\n' >/etc/pulse/client.conf; \\
    groupadd --gid "$SPOTIFY_UID" spotify_user; \\
    useradd --uid "$SPOTIFY_UID" --gid "$SPOTIFY_UID" --create-home --home-dir /home/spotify_user \\
        --shell /usr/sbin/nologin spotify_user; \\
    mkdir -p /home/spotify_user/.config/spotify /home/spotify_user/.cache/spotify; \\
    chown -R "$SPOTIFY_UID:$SPOTIFY_UID" /home/spotify_user
COPY tone.html PAGE
COPY spotify /usr/bin/spotify
LABEL org.opencontainers.image.title=spotidoctor-chromium-standin
ENV HOME=/home/spotify_user TMPDIR=/tmp
USER ${SPOTIFY_UID}:${SPOTIFY_UID}
WORKDIR /home/spotify_user
ENTRYPOINT ["/usr/bin/spotify"]
""".replace("PAGE", PAGE)


def standin_hash(base_id: str) -> str:
    """What the image is made of: this recipe, its two files and the exact base image."""
    return hashlib.sha256("\0".join([CONTAINERFILE, WRAPPER, TONE_HTML, base_id]).encode()).hexdigest()[:16]


def write_context(directory: Path, base_id: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "tone.html").write_text(TONE_HTML)
    (directory / "spotify").write_text(WRAPPER)
    (directory / "spotify").chmod(0o755)  # COPY keeps the mode
    containerfile = directory / "Containerfile"
    containerfile.write_text(CONTAINERFILE + f"LABEL {HASH_LABEL}={standin_hash(base_id)}\n")
    return containerfile


def ensure_chromium_image(work: Path, base: str, tag: str = CHROMIUM_IMAGE) -> str:
    """Build ``tag`` with ``spotidoctor build --containerfile`` unless it is current."""
    base_id = image_id(base)
    if label(tag, HASH_LABEL) == standin_hash(base_id):
        return tag
    containerfile = write_context(work / "context", base_id)
    env = {**os.environ, "XDG_STATE_HOME": str(work / "state"), "NO_COLOR": "1"}
    done = subprocess.run([sys.executable, "-m", "spotidoctor", "build", "--containerfile", str(containerfile),
                           "--image", tag, "--network", "host", "--build-arg", f"BASE_IMAGE={base}"],
                          env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    if done.returncode != 0:
        raise RuntimeError(f"building {tag} failed:\n{done.stdout}\n{done.stderr}")
    return tag
