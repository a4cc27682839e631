"""The files the URL channel gives the container, and the host directory that holds them.

``<workdir>/urlopen`` (0755, inside the caller's private 0700 directory) is bind-mounted
read-only at ``/run/spotidoctor/url``: the ``xdg-open`` shim (``resources/xdg-open.sh``), a
desktop entry that runs it and a ``mimeapps.list`` that makes it GIO's default for
``x-scheme-handler/{http,https,spotify}`` (found through ``XDG_DATA_DIRS``/``XDG_CONFIG_DIRS``:
GLib reads ``mimeapps.list`` in every config dir and in each data dir's ``applications/``, and
takes the first default whose desktop entry it can load, gdesktopappinfo.c), and the FIFO the
shim writes: 0622, so a container user that is not you (the isolated profile) may write it
but not read it; nobody else on the host can reach it through the private directory.
"""
from __future__ import annotations

import os
import shutil
import stat
from importlib import resources

from spotidoctor.channels.urlcheck import MAX_URL_BYTES

CONTAINER_DIR = "/run/spotidoctor/url"
SHIM_NAME = "xdg-open"
FIFO_NAME = "url.fifo"
CONTAINER_SHIM = f"{CONTAINER_DIR}/{SHIM_NAME}"
CONTAINER_FIFO = f"{CONTAINER_DIR}/{FIFO_NAME}"
CONTAINER_XDG_OPEN = "/usr/bin/xdg-open"
DATA_SUBDIR = "share"  # XDG_DATA_DIRS entry: share/applications/<desktop id>
CONFIG_SUBDIR = "config"  # XDG_CONFIG_DIRS entry: config/mimeapps.list
DESKTOP_ID = "spotidoctor-open-on-host.desktop"
HANDLED_TYPES = ("x-scheme-handler/http", "x-scheme-handler/https", "x-scheme-handler/spotify")


class ChannelError(Exception):
    """The channel cannot start (an unsafe or unusable work directory): a clear message."""


def render_shim(fifo: str = CONTAINER_FIFO, max_bytes: int = MAX_URL_BYTES) -> str:
    template = resources.files("spotidoctor.channels").joinpath("resources/xdg-open.sh").read_text()
    return template.replace("@FIFO@", fifo).replace("@MAX_BYTES@", str(max_bytes))


def desktop_entry(shim: str = CONTAINER_SHIM) -> str:
    # GLib ignores a desktop entry whose Exec program does not exist (gdesktopappinfo.c, load
    # from keyfile): the shim's absolute path is always there, mounted with this file.
    return ("[Desktop Entry]\n"
            "Type=Application\n"
            "Name=Open on the host (spotidoctor)\n"
            "Comment=Hands links to the browser of the desktop Spotify runs on\n"
            f"Exec={shim} %u\n"
            "NoDisplay=true\n"
            "Terminal=false\n"
            f"MimeType={';'.join(HANDLED_TYPES)};\n")


def mimeapps_list() -> str:
    defaults = "".join(f"{t}={DESKTOP_ID}\n" for t in HANDLED_TYPES)
    return f"[Default Applications]\n{defaults}\n[Added Associations]\n{defaults}"


# -- the host directory ---------------------------------------------------------------------

def check_private_dir(path: str) -> None:
    """The caller's directory must be ours, a real directory, and closed to everyone else."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        raise ChannelError(f"URL channel: cannot use {path}: {exc.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise ChannelError(f"URL channel: {path} is not a directory (a symlink is refused)")
    if st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise ChannelError(f"URL channel: {path} must be a private directory of yours (mode 0700); "
                           f"it has mode {stat.S_IMODE(st.st_mode):04o}, owner uid {st.st_uid}")


def _write_new(path: str, text: str, mode: int) -> None:
    """Write a new file: temp file, then rename; never through a symlink."""
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        os.fchmod(fd, mode)  # not narrowed by the umask
        os.write(fd, text.encode())
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _mkdir(path: str, mode: int) -> None:
    os.mkdir(path, mode)
    os.chmod(path, mode, follow_symlinks=False)


def build_tree(root: str) -> int:
    """Create the mounted directory; return the FIFO opened read-write and non-blocking."""
    if os.path.lexists(root):
        shutil.rmtree(root)  # a previous launch's leftovers (rmtree does not follow symlinks)
    _mkdir(root, 0o755)
    for sub in (DATA_SUBDIR, f"{DATA_SUBDIR}/applications", CONFIG_SUBDIR):
        _mkdir(os.path.join(root, sub), 0o755)
    _write_new(os.path.join(root, SHIM_NAME), render_shim(), 0o755)
    _write_new(os.path.join(root, DATA_SUBDIR, "applications", DESKTOP_ID), desktop_entry(), 0o644)
    _write_new(os.path.join(root, CONFIG_SUBDIR, "mimeapps.list"), mimeapps_list(), 0o644)
    fifo = os.path.join(root, FIFO_NAME)
    os.mkfifo(fifo, 0o600)
    # Read-write: opening never blocks, reading never sees EOF, and the shim's open for writing
    # never waits for a reader. 0622: a container user other than us may write, not read.
    fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    if not stat.S_ISFIFO(os.fstat(fd).st_mode):
        os.close(fd)
        raise ChannelError(f"URL channel: {fifo} is not the FIFO spotidoctor made")
    os.fchmod(fd, 0o622)
    return fd
