"""A FROM-scratch stand-in for the link and sign-in channels, built from host binaries.

busybox (``sh``, ``httpd``, ``nc``) and GIO's ``gio`` (plus the ``gio-launch-desktop``
helper GLib launches through) with the libraries ``ldd`` names, a
``spotify_user`` (uid 1500), and an ``httpd`` CGI at ``/cgi-bin/login`` that answers with the
query string it got, standing in for the client's own 127.0.0.1:4381 sign-in listener. No
Python, no curl, no xdg-utils: the channels must work with ``sh`` alone.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

from tests.standin import _copy_with_libs, build_replacing, label_is

CHANNELS_IMAGE = "localhost/spotidoctor-channels-standin:test"
HASH_LABEL = "io.spotidoctor.channels-standin-hash"
BUSYBOX = "/usr/bin/busybox"
GIO = "/usr/bin/gio"
# GLib starts every desktop entry through this helper (gdesktopappinfo.c): images with GIO have
# it (Debian: libglib2.0-0, the library's own package).
GIO_LAUNCH_DESKTOP = "/usr/lib/x86_64-linux-gnu/glib-2.0/gio-launch-desktop"
APPLETS = ("sh", "httpd", "nc", "cat", "sleep", "printf", "echo", "env", "id", "ls")
LOGIN_CGI = """#!/bin/sh
printf 'Content-Type: text/plain\\r\\n\\r\\n'
printf 'login ok %s\\n' "$QUERY_STRING"
"""
CONTAINERFILE = """\
FROM scratch
COPY rootfs/ /
COPY --chown=1500:1500 rootfs/home/spotify_user /home/spotify_user
USER 1500:1500
ENV HOME=/home/spotify_user
"""


def image_hash() -> str:
    text = "\n".join([LOGIN_CGI, CONTAINERFILE, BUSYBOX, GIO, GIO_LAUNCH_DESKTOP, *APPLETS])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def assemble(root: Path) -> None:
    for binary in (BUSYBOX, GIO, GIO_LAUNCH_DESKTOP):
        _copy_with_libs(root, binary)
    for applet in APPLETS:
        link = root / "usr/bin" / applet
        if not link.exists():
            link.symlink_to("busybox")
    for name in ("bin", "lib", "lib64", "sbin"):
        if not (root / name).exists() and Path(f"/{name}").is_symlink():
            os.symlink(os.readlink(f"/{name}"), root / name)
    etc = root / "etc"
    etc.mkdir(parents=True, exist_ok=True)
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n"
                                "spotify_user:x:1500:1500::/home/spotify_user:/bin/sh\n")
    (etc / "group").write_text("root:x:0:\nspotify_user:x:1500:\n")
    for d in ("tmp", "run", "dev", "proc", "sys", "home/spotify_user/.config/spotify", "www/cgi-bin"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "tmp").chmod(0o1777)
    cgi = root / "www/cgi-bin/login"
    cgi.write_text(LOGIN_CGI)
    cgi.chmod(0o755)


def ensure_image(workdir: Path, tag: str = CHANNELS_IMAGE) -> str:
    """Build (buildah, COPY only) unless an image of this recipe exists."""
    if label_is(tag, HASH_LABEL, image_hash()):
        return tag
    workdir.mkdir(parents=True, exist_ok=True)
    assemble(workdir / "rootfs")
    build_replacing(workdir, tag, CONTAINERFILE + f"LABEL {HASH_LABEL}={image_hash()}\n")
    return tag


# -- the stand-in a whole daily-use launch runs --------------------------------------------------

LAUNCH_IMAGE = "localhost/spotidoctor-launch-standin:test"
LAUNCH_HASH_LABEL = "io.spotidoctor.launch-standin-hash"
# libdbus's and GDBus's clients, and libdbus's `dbus-test-tool echo` (Debian: dbus-tests), which
# owns a name and answers every method call: a player the host's media keys can reach.
DBUS_TOOLS = ("/usr/bin/dbus-send", "/usr/bin/gdbus", "/usr/bin/dbus-test-tool")
LAUNCH_APPLETS = ("httpd", "nc")  # the base's sh and coreutils stay (its spotify script uses them)


def launch_image_hash(base: str) -> str:
    base_id = subprocess.run(["podman", "image", "inspect", "--format", "{{.Id}}", base], capture_output=True,
                             text=True, timeout=120).stdout.strip()
    text = "\n".join([base, base_id, LOGIN_CGI, BUSYBOX, GIO, GIO_LAUNCH_DESKTOP, *DBUS_TOOLS, *LAUNCH_APPLETS])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def ensure_launch_image(workdir: Path, base: str, tag: str = LAUNCH_IMAGE) -> str:
    """``base`` (the daily stand-in: its /usr/bin/spotify records --uri= and stays) plus busybox's
    httpd and nc with the sign-in CGI, GIO's ``gio`` and the D-Bus tools; COPY only."""
    wanted = launch_image_hash(base)
    if label_is(tag, LAUNCH_HASH_LABEL, wanted):
        return tag
    root = workdir / "rootfs"
    for binary in (BUSYBOX, GIO, GIO_LAUNCH_DESKTOP, *DBUS_TOOLS):
        _copy_with_libs(root, binary)
    for applet in LAUNCH_APPLETS:
        (root / "usr/bin" / applet).symlink_to("busybox")
    cgi = root / "www/cgi-bin/login"
    cgi.parent.mkdir(parents=True, exist_ok=True)
    cgi.write_text(LOGIN_CGI)
    cgi.chmod(0o755)
    (workdir / "Containerfile").write_text(f"FROM {base}\nCOPY rootfs/ /\nLABEL {LAUNCH_HASH_LABEL}={wanted}\n")
    subprocess.run(["buildah", "bud", "--quiet", "-t", tag, "-f", str(workdir / "Containerfile"), str(workdir)],
                   check=True, capture_output=True, timeout=600)
    return tag
