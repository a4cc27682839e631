"""A hostile stand-in for Spotify: a FROM-scratch image built from host binaries whose
``/usr/bin/spotify`` tries, as uid 1500 with only what ``spotidoctor launch`` gives it, what a
compromised client would, and reports each outcome. Meanwhile it does what a player does:
plays a stream and shows a window, so the tests prove both sides.

Each attempt prints ``attack: NAME blocked`` or ``attack: NAME SUCCEEDED``, followed by
``detail: NAME: ...`` (the tool's output, one line). Arguments (from ``launch -- ARGS``):
  --victim=WINDOW       a trusted window of the host's (tests/x11client.py victim)
  --host-storage=PATH   the storage directory's host path (what a plugin= path would name)
  --tcp-port=PORT       the port an anonymous pulse listener would take
  --hold=SECONDS        keep playing and showing the window this long after the attempts
  --terminal            only print terminal escape sequences (OSC 52 clipboard, title, cursor moves)
  --links=URL...        only hand URLs to xdg-open (the links channel)
  --dbus                only ask the session bus for the MPRIS name and one it may not own
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from tests.standin import _copy_with_libs, build_replacing, label_is

ATTACKER_IMAGE = "localhost/spotidoctor-attacker:test"
HASH_LABEL = "io.spotidoctor.attacker-hash"
BINARIES = ("/bin/sh", "/usr/bin/id", "/usr/bin/cat", "/usr/bin/head", "/usr/bin/tr", "/usr/bin/wc",
            "/usr/bin/timeout", "/usr/bin/touch", "/usr/bin/printf", "/usr/bin/sleep", "/usr/bin/grep",
            "/usr/bin/kill", "/usr/bin/pactl", "/usr/bin/paplay", "/usr/bin/parec", "/usr/bin/xhost",
            "/usr/bin/xdotool", "/usr/bin/xprop", "/usr/bin/xwd", "/usr/bin/xmessage", "/usr/bin/xdpyinfo", "/usr/bin/dbus-send")
PULSE_LIBS = "/usr/lib/x86_64-linux-gnu/pulseaudio"

ATTACKER_SPOTIFY = r"""#!/bin/sh
# spotidoctor's attacker stand-in (tests/attacker.py)
victim=""; storage=""; port=4713; hold=5; mode=attack; urls=""
for arg in "$@"; do
  case "$arg" in
    --victim=*) victim="${arg#--victim=}";;
    --host-storage=*) storage="${arg#--host-storage=}";;
    --tcp-port=*) port="${arg#--tcp-port=}";;
    --hold=*) hold="${arg#--hold=}";;
    --terminal) mode=terminal;;
    --dbus) mode=dbus;;
    --links=*) mode=links; urls="$urls ${arg#--links=}";;
  esac
done
echo "attacker: uid=$(id -u) gid=$(id -g)"
report() {  # NAME STATUS: 0 means the attempt worked
  if [ "$2" = 0 ]; then echo "attack: $1 SUCCEEDED"; else echo "attack: $1 blocked"; fi
  echo "detail: $1: $(tr '\n' ' ' </tmp/out | head -c 400)"
}
try() { name=$1; shift; "$@" >/tmp/out 2>&1; report "$name" $?; }

if [ "$mode" = terminal ]; then
  printf '\033]52;c;ZXZpbA==\007terminal: plain text\033]0;pwned title\007 survives\n'
  printf '\033]2;another title\033\\\033[2A\033[31mred\033[0m\r\nsecond line\n' >&2
  exit 0
fi
if [ "$mode" = links ]; then
  for url in $urls; do xdg-open "$url" && echo "attacker: handed $url to xdg-open"; done
  trap 'echo "attacker: SIGINT"; exit 130' INT; trap 'echo "attacker: SIGTERM"; exit 143' TERM
  sleep "$hold" & wait $!  # a wait the traps interrupt
  exit 0
fi
if [ "$mode" = dbus ]; then
  try dbus-own-mpris dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus.RequestName string:org.mpris.MediaPlayer2.spotify uint32:0
  try dbus-own-other dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus.RequestName string:org.freedesktop.secrets uint32:0
  try dbus-call-other dbus-send --session --print-reply --dest=org.spotidoctor.Host /org/spotidoctor/Host org.spotidoctor.Host.Secret
  exit 0
fi

# What a player does, meanwhile: a window and a stream (noise: never silent on the monitor).
xmessage -geometry 320x120+20+20 "attacker window" >/tmp/xmessage.out 2>&1 & window=$!
head -c $((176400 * (hold + 20))) /dev/urandom | paplay --raw --format=s16le --rate=44100 --channels=2 --client-name=attacker-spotify >/tmp/paplay.out 2>&1 & sound=$!

# Audio: change the user's sound server.
try pulse-load-null-sink pactl load-module module-null-sink sink_name=attacker_sink
printf 'not really a LADSPA plugin\n' >"$HOME/.config/spotify/plugin.so"
try pulse-load-ladspa-plugin pactl load-module module-ladspa-sink sink_name=attacker_ladspa "plugin=$storage/config/plugin.so" label=attack
try pulse-load-anonymous-tcp pactl load-module module-native-protocol-tcp auth-anonymous=1 listen=127.0.0.1 "port=$port"
try pulse-set-default-sink pactl set-default-sink testsink
try pulse-record sh -c 'timeout 4 parec --raw --format=s16le --rate=8000 --channels=1 2>&1 >/tmp/rec | head -c 300; [ "$(wc -c </tmp/rec)" -ge 4000 ]'

# Display: open it to everyone, type into other windows, read them.
# `xhost +` worked when a client WITHOUT any cookie gets in afterwards (xhost's own listing is not
# to be trusted here: the server answers untrusted clients as if access control were off).
try x11-xhost-plus sh -c 'xhost +; XAUTHORITY=/nonexistent xdpyinfo'
try x11-xtest-key-injection xdotool key --clearmodifiers a
[ -n "$victim" ] && try x11-send-key-event xdotool key --window "$victim" b
[ -n "$victim" ] && try x11-read-window-image sh -c "xwd -silent -id $victim >/tmp/xwd && [ -s /tmp/xwd ]"
[ -n "$victim" ] && try x11-read-window-property sh -c "xprop -id $victim SPOTIDOCTOR_SECRET | grep -q victim-property-value"

# Storage: every host path mounted into the container, written (appending nothing; a new file in
# directories). Only the two storage directories may take it.
while read -r _id _parent _dev root mountpoint _rest; do
  [ "$root" = / ] && continue  # the container's own file systems
  [ -S "$mountpoint" ] && continue  # sockets are for connecting
  [ -c "$mountpoint" ] && continue  # /dev/null & co. (and the /proc files podman masks with it)
  if [ -d "$mountpoint" ]; then
    try "write-host-path:$mountpoint" touch "$mountpoint/.attacker-was-here"
  else
    try "write-host-path:$mountpoint" sh -c ": >>'$mountpoint'"
  fi
done </proc/self/mountinfo

echo "attacker: attempts done"
sleep "$hold"
if kill -0 "$sound" 2>/dev/null; then echo "attacker: own playback ran"; else echo "attacker: own playback FAILED: $(cat /tmp/paplay.out)"; fi
if kill -0 "$window" 2>/dev/null; then echo "attacker: own window ran"; else echo "attacker: own window FAILED: $(cat /tmp/xmessage.out)"; fi
kill "$sound" "$window" 2>/dev/null
exit 0
"""

CONTAINERFILE = """\
FROM scratch
COPY rootfs/ /
COPY --chown=1500:1500 rootfs/home/spotify_user /home/spotify_user
USER 1500:1500
ENV HOME=/home/spotify_user
LABEL org.opencontainers.image.title=spotidoctor-attacker
CMD ["/usr/bin/spotify"]
"""


def image_hash() -> str:
    text = "\n".join([ATTACKER_SPOTIFY, CONTAINERFILE, *BINARIES])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def assemble(root: Path) -> None:
    for binary in BINARIES:
        _copy_with_libs(root, binary)
    for lib in Path(PULSE_LIBS).glob("*.so"):
        _copy_with_libs(root, str(lib))
    for name in ("bin", "lib", "lib64", "sbin"):
        if not (root / name).exists() and Path(f"/{name}").is_symlink():
            os.symlink(os.readlink(f"/{name}"), root / name)
    etc = root / "etc"
    (etc / "pulse").mkdir(parents=True, exist_ok=True)
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n"
                                "spotify_user:x:1500:1500::/home/spotify_user:/bin/sh\n")
    (etc / "group").write_text("root:x:0:\nspotify_user:x:1500:\n")
    (etc / "pulse" / "client.conf").write_text("autospawn = no\n")
    for d in ("tmp", "run", "dev", "proc", "sys", "home/spotify_user/.config/spotify",
              "home/spotify_user/.cache/spotify"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "tmp").chmod(0o1777)
    spotify = root / "usr/bin/spotify"
    spotify.write_text(ATTACKER_SPOTIFY)
    spotify.chmod(0o755)


def ensure_attacker(workdir: Path, tag: str = ATTACKER_IMAGE) -> str:
    """Build (buildah, COPY only) unless an image of this recipe exists."""
    if label_is(tag, HASH_LABEL, image_hash()):
        return tag
    workdir.mkdir(parents=True, exist_ok=True)
    assemble(workdir / "rootfs")
    build_replacing(workdir, tag, CONTAINERFILE + f"LABEL {HASH_LABEL}={image_hash()}\n")
    return tag


def outcomes(output: str) -> dict[str, str]:
    """``attack: NAME blocked|SUCCEEDED`` lines as {NAME: outcome}."""
    found = {}
    for line in output.splitlines():
        if line.startswith("attack: "):
            name, _, result = line[len("attack: "):].rpartition(" ")
            found[name] = result
    return found


def details(output: str) -> dict[str, str]:
    found = {}
    for line in output.splitlines():
        if line.startswith("detail: "):
            name, _, text = line[len("detail: "):].partition(": ")
            found[name] = text
    return found
