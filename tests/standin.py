"""A local test image built ``FROM scratch`` out of host binaries (no registry needed).

The rootfs holds sh, a few coreutils, pactl/paplay/parec and xdpyinfo with their libraries,
``spotify_user`` (uid 1500) and a stand-in ``/usr/bin/spotify`` script that exercises
what the real client needs: the X display, audio, both storage mounts, and crash output.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

STANDIN_IMAGE = "localhost/spotidoctor-standin:test"
BINARIES = ("/bin/sh", "/usr/bin/id", "/usr/bin/cat", "/usr/bin/touch", "/usr/bin/ls", "/usr/bin/stat",
            "/usr/bin/sleep", "/usr/bin/env", "/usr/bin/head", "/usr/bin/printf", "/usr/bin/kill",
            "/usr/bin/df", "/usr/bin/pactl", "/usr/bin/paplay", "/usr/bin/parec", "/usr/bin/xdpyinfo",
            "/usr/bin/tail", "/usr/bin/grep", "/usr/bin/tr", "/usr/bin/readlink", "/usr/bin/ln", "/usr/bin/rm")
HASH_LABEL = "io.spotidoctor.standin-hash"

# Arguments (anything else is ignored, like Spotify's own unknown flags):
#   --probe-x11 --probe-audio --write-storage  exercise one part each (default: all three)
#   --print-oom      print Chromium's out-of-memory FATAL line on stderr
#   --probe-shm      print the size of /dev/shm (`standin: shm <1K-blocks>`)
#   --probe-limits   print the address-space and open-files limits it got
#   --profile-lock   take Chromium's profile lock ($HOME/.cache/spotify/SingletonLock -> HOST-PID) the way
#                    Chromium does: a lock naming another host refuses the start with Chromium's own
#                    message (exit 21), one naming this host is stale and replaced; kept on a non-zero exit
#   --exit=N         exit with N (e.g. 133 for the silent SIGTRAP crash)
#   --uri=URI        append URI as one line to $HOME/.cache/spotify/standin-uris (its storage)
#   --stay           keep running after the probes, like the real client, until stopped; a
#                    second start in the same container (`podman exec ... spotify --uri=URI`)
#                    records its --uri= and exits, like the client's single-instance handoff
STANDIN_SPOTIFY = r"""#!/bin/sh
echo "standin: uid=$(id -u) gid=$(id -g) args=$*"
x11=0; audio=0; storage=0; oom=0; shm=0; limits=0; lock=0; code=0; any=0; stay=0; uris=""
for arg in "$@"; do
  case "$arg" in
    --stay) stay=1; any=1;;
    --uri=*) uris="$uris${arg#--uri=}
";;
    --probe-x11) x11=1; any=1;;
    --probe-audio) audio=1; any=1;;
    --write-storage) storage=1; any=1;;
    --print-oom) oom=1; any=1;;
    --probe-shm) shm=1; any=1;;
    --probe-limits) limits=1; any=1;;
    --profile-lock) lock=1; any=1;;
    --exit=*) code="${arg#--exit=}";;
  esac
done
record_uris() { [ -z "$uris" ] || printf '%s' "$uris" >>"$HOME/.cache/spotify/standin-uris"; }
if [ -f /tmp/standin.pid ] && kill -0 "$(cat /tmp/standin.pid)" 2>/dev/null; then
  record_uris; echo "standin: handed over to the running instance"; exit 0
fi
record_uris
[ "$any" = 0 ] && { x11=1; audio=1; storage=1; }
if [ "$x11" = 1 ]; then
  if xdpyinfo >/tmp/xdpyinfo.out 2>&1; then echo "standin: x11 ok $(head -n 1 /tmp/xdpyinfo.out)"
  else echo "standin: x11 FAILED: $(cat /tmp/xdpyinfo.out)"; code=${code:-0}; [ "$code" = 0 ] && code=11; fi
fi
if [ "$audio" = 1 ]; then
  if pactl info >/tmp/pactl.out 2>&1 && head -c 176400 /dev/urandom | paplay --raw --format=s16le --rate=44100 --channels=2 --client-name=standin-spotify; then
    echo "standin: audio ok"
  else echo "standin: audio FAILED: $(cat /tmp/pactl.out)"; [ "$code" = 0 ] && code=12; fi
fi
if [ "$storage" = 1 ]; then
  if touch "$HOME/.config/spotify/standin-config" "$HOME/.cache/spotify/standin-cache"; then echo "standin: storage ok"
  else echo "standin: storage FAILED"; [ "$code" = 0 ] && code=13; fi
fi
shm_kib() { set -- $(df -k /dev/shm | tail -n 1); echo "$2"; }
if [ "$shm" = 1 ]; then
  echo "standin: shm $(shm_kib)"
fi
if [ "$limits" = 1 ]; then
  grep -E '^Max (address space|open files)' /proc/self/limits | tr -s ' ' | while read -r line; do echo "standin: limit $line"; done
fi
if [ "$lock" = 1 ]; then
  l="$HOME/.cache/spotify/SingletonLock"; me=$(cat /proc/sys/kernel/hostname)
  if target=$(readlink "$l"); then
    if [ "${target%-*}" != "$me" ]; then
      echo "[$$:$$:1207/101010.123456:ERROR:process_singleton_posix.cc(353)] The profile appears to be in use by another Chromium process (${target##*-}) on another computer (${target%-*}). Chromium has locked the profile so that it doesn't get corrupted. If you are sure no other processes are using this profile, you can unlock the profile and relaunch Chromium." >&2
      exit 21
    fi
    rm -f "$l"; echo "standin: replaced its own stale profile lock $target"
  fi
  ln -s "$me-$$" "$l" && echo "standin: profile locked as $me-$$"
  [ "$code" = 0 ] && trap 'rm -f "$l"' EXIT
fi
if [ "$oom" = 1 ]; then
  echo "[1129/235959.123456:ERROR:broker_posix.cc(46)] Received unexpected number of handles" >&2
  echo "[1129/235959.123999:FATAL:memory.cc(40)] Out of memory. size=262144" >&2
fi
if [ "$stay" = 1 ]; then
  echo $$ >/tmp/standin.pid
  echo "standin: running"
  exec sleep 2147483647
fi
exit "$code"
"""

CONTAINERFILE = """\
FROM scratch
COPY rootfs/ /
USER 1500:1500
ENV HOME=/home/spotify_user
LABEL org.opencontainers.image.title=spotidoctor-standin
CMD ["/usr/bin/spotify"]
"""


def standin_hash() -> str:
    """What the image is made of: a stale cached stand-in is rebuilt when this changes."""
    text = "\n".join([STANDIN_SPOTIFY, CONTAINERFILE, *BINARIES])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def label_is(tag: str, label: str, value: str) -> bool:
    """Whether image ``tag`` exists and carries ``label=value`` (a cached test image's recipe hash)."""
    done = subprocess.run(["podman", "image", "inspect", "--format", f'{{{{index .Labels "{label}"}}}}', tag],
                          capture_output=True, text=True, timeout=120)
    return done.returncode == 0 and done.stdout.strip() == value


def build_replacing(workdir: Path, tag: str, containerfile: str) -> None:
    """``buildah bud`` of ``workdir`` (COPY only) as ``tag``; the outdated image the tag leaves
    is removed (a container still using it keeps it: rmi then fails, harmlessly)."""
    old = subprocess.run(["podman", "image", "inspect", "--format", "{{.Id}}", tag], capture_output=True,
                         text=True, timeout=120).stdout.strip()
    (workdir / "Containerfile").write_text(containerfile)
    subprocess.run(["buildah", "bud", "--quiet", "-t", tag, "-f", str(workdir / "Containerfile"), str(workdir)],
                   check=True, capture_output=True, timeout=600)
    if old:
        subprocess.run(["podman", "rmi", old], capture_output=True, timeout=120)


def is_current(tag: str = STANDIN_IMAGE) -> bool:
    return label_is(tag, HASH_LABEL, standin_hash())


def ensure_current(workdir: Path, tag: str = STANDIN_IMAGE) -> str:
    """Rebuild a cached stand-in built from an older version of this file."""
    if is_current(tag):
        return tag
    old = subprocess.run(["podman", "image", "inspect", "--format", "{{.Id}}", tag], capture_output=True,
                         text=True, timeout=120).stdout.strip()
    build_standin(workdir, tag)
    if old:  # now untagged; a container still using it keeps it (rmi then fails, harmlessly)
        subprocess.run(["podman", "rmi", old], capture_output=True, timeout=120)
    return tag


def _copy_with_libs(root: Path, binary: str) -> None:
    _copy(root, binary)
    out = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
    for line in out.splitlines():
        for token in line.split():
            if token.startswith("/"):
                _copy(root, token)


def _copy(root: Path, path: str) -> None:
    """Copy ``path`` into ``root``; symlinks are recreated so sonames resolve."""
    target = root / path.lstrip("/")
    if target.exists() or target.is_symlink():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    if os.path.islink(path):
        link = os.readlink(path)
        os.symlink(link, target)
        _copy(root, os.path.normpath(os.path.join(os.path.dirname(path), link)))
    else:
        shutil.copy2(path, target)


def assemble_rootfs(root: Path, spotify_script: str = STANDIN_SPOTIFY) -> None:
    for binary in BINARIES:
        _copy_with_libs(root, binary)
    # libpulse's loadable common library and the loader's merged-/usr layout.
    for lib in Path("/usr/lib/x86_64-linux-gnu/pulseaudio").glob("*.so"):
        _copy_with_libs(root, str(lib))
    for name in ("bin", "lib", "lib64", "sbin"):
        if not (root / name).exists() and Path(f"/{name}").is_symlink():
            os.symlink(os.readlink(f"/{name}"), root / name)
    etc = root / "etc"
    (etc / "pulse").mkdir(parents=True, exist_ok=True)
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n"
                                "spotify_user:x:1500:1500::/home/spotify_user:/bin/sh\n")
    (etc / "group").write_text("root:x:0:\nspotify_user:x:1500:\n")
    (etc / "pulse" / "client.conf").write_text("autospawn = no\nenable-shm = no\n")
    for d in ("tmp", "run", "dev", "proc", "sys", "home/spotify_user/.config/spotify",
              "home/spotify_user/.cache/spotify"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "tmp").chmod(0o1777)
    spotify = root / "usr/bin/spotify"
    spotify.write_text(spotify_script)
    spotify.chmod(0o755)


def build_standin(workdir: Path, tag: str = STANDIN_IMAGE, env: dict[str, str] | None = None) -> str:
    """Build the image with buildah (COPY only, so no OCI runtime is needed to build)."""
    workdir.mkdir(parents=True, exist_ok=True)
    assemble_rootfs(workdir / "rootfs")
    containerfile = workdir / "Containerfile"
    # The home must belong to the container user; buildah's COPY --chown does that.
    containerfile.write_text(CONTAINERFILE.replace(
        "COPY rootfs/ /\n", "COPY rootfs/ /\nCOPY --chown=1500:1500 rootfs/home/spotify_user /home/spotify_user\n")
        + f"LABEL {HASH_LABEL}={standin_hash()}\n")
    subprocess.run(["buildah", "bud", "--quiet", "-t", tag, "-f", str(containerfile), str(workdir)],
                   check=True, capture_output=True, env=env)
    return tag
