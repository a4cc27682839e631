"""The apt keyring an image was built with, copied out of the image once per image id.

The bundled recipe installs Spotify's key as ``/usr/share/keyrings/spotify.gpg`` and trusts it
for Spotify's repository only (``signed-by``). The update check verifies the repository's
``InRelease`` with that same keyring, so "signed by a key this image does not have" means
exactly what a rebuild would run into. The copy comes out of the image with ``podman create``
+ ``podman cp`` + ``podman rm`` (no container is started, so no OCI runtime is needed) and is
kept under ``$XDG_STATE_HOME/spotidoctor/keyrings/<image id>.gpg``: an image never changes,
so neither does its keyring. The key is public; the copy is still private (0600).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass

from spotidoctor.paths import Paths
from spotidoctor.probes import Probes

__all__ = ["KEYRING_IN_IMAGE", "KeyringCopy", "image_keyring", "keyrings_dir", "KEEP_COPIES"]

KEYRING_IN_IMAGE = "/usr/share/keyrings/spotify.gpg"
KEEP_COPIES = 6  # a few images' keyrings (the current one, previous, other configured images)
MAX_KEYRING_BYTES = 1 << 20
PODMAN_TIMEOUT_S = 60.0  # `podman create` copies the image's files with the vfs storage driver


@dataclass(frozen=True)
class KeyringCopy:
    path: str = ""  # the copy on the host ("" when there is none)
    problem: str = ""  # why there is none


def keyrings_dir(paths: Paths) -> str:
    return os.path.join(paths.state_dir, "keyrings")


def _copy_path(paths: Paths, image_id: str) -> str:
    safe = "".join(c for c in image_id.removeprefix("sha256:") if c in "0123456789abcdef")[:64]
    return os.path.join(keyrings_dir(paths), f"{safe or 'unknown'}.gpg")


def _kept(probes: Probes, path: str) -> bool:
    st = probes.fs.lstat(path)
    return st is not None and st.is_file and st.size > 0


def image_keyring(probes: Probes, paths: Paths, image_id: str) -> KeyringCopy:
    """The host copy of the image's keyring, made on first use."""
    path = _copy_path(paths, image_id)
    if _kept(probes, path):
        return KeyringCopy(path)
    created = probes.cmd.run(("podman", "create", "--pull=never", "--network=none",
                              "--entrypoint=/spotidoctor-never-started", image_id.removeprefix("sha256:")),
                             timeout=PODMAN_TIMEOUT_S)
    if not created.ok or not created.stdout.strip():
        return KeyringCopy(problem=f"podman could not open the image: {created.error_text()}")
    container = created.stdout.strip().splitlines()[-1]
    try:
        return _copy_out(probes, paths, container, path)
    finally:
        probes.cmd.run(("podman", "rm", "--force", container), timeout=PODMAN_TIMEOUT_S)


def _copy_out(probes: Probes, paths: Paths, container: str, path: str) -> KeyringCopy:
    fs = probes.fs
    fs.makedirs(keyrings_dir(paths))
    scratch = tempfile.mkdtemp(prefix=".copy-", dir=fs.host(keyrings_dir(paths)))
    try:
        landed = os.path.join(scratch, "spotify.gpg")
        done = probes.cmd.run(("podman", "cp", f"{container}:{KEYRING_IN_IMAGE}", landed), timeout=PODMAN_TIMEOUT_S)
        if not done.ok:
            missing = "no such file" in done.stderr.lower() or "could not find" in done.stderr.lower()
            return KeyringCopy(problem=f"the image has no {KEYRING_IN_IMAGE}" if missing else
                               f"podman cp failed: {done.error_text()}")
        st = fs.lstat(fs.unhost(landed))
        if st is None or not st.is_file or st.size > MAX_KEYRING_BYTES:
            return KeyringCopy(problem=f"{KEYRING_IN_IMAGE} in the image is not a keyring file")
        fs.write_atomic(path, fs.read_bytes(fs.unhost(landed), MAX_KEYRING_BYTES), mode=0o600)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    _prune(probes, paths, keep=os.path.basename(path))
    return KeyringCopy(path)


def _prune(probes: Probes, paths: Paths, keep: str) -> None:
    """Only the newest copies stay (images come and go with rebuilds)."""
    fs = probes.fs
    directory = keyrings_dir(paths)
    copies = [n for n in fs.listdir(directory) if n.endswith(".gpg") and n != keep]

    def mtime(name: str) -> float:
        st = fs.lstat(os.path.join(directory, name))
        return st.mtime if st else 0.0

    for old in sorted(copies, key=mtime, reverse=True)[KEEP_COPIES - 1:]:
        fs.unlink(os.path.join(directory, old))
