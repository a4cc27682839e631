"""A local, signed, Spotify-like apt repository on 127.0.0.1, for real builds of the bundled recipe.

It has the layout of repository.spotify.com (``dists/stable/non-free/binary-ARCH/Packages``,
``pool/non-free/s/spotify-client/*.deb``, ``InRelease`` and ``Release.gpg``) and one package:
a stand-in ``spotify-client`` made with ``dpkg-deb`` whose ``Depends`` are the real client's.
Its ``/usr/bin/spotify`` runs the stand-in of tests/standin.py, with private copies of the
host's pactl/paplay/xdpyinfo (Spotify ships its own libraries the same way), so the Depends
stay exactly the real ones. The Release file is signed with a throwaway GPG key made here;
``sign_with`` re-signs it with another key (a rotated key), and ``key_url`` serves any key.
"""
from __future__ import annotations

import gzip
import os
import re
import shutil
import struct
import subprocess
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.standin import STANDIN_SPOTIFY

PACKAGE = "spotify-client"
VERSION = "1:1.2.52.442.g01893f6b"  # the real client's form: epoch, upstream version, git hash
SUITE, COMPONENT = "stable", "non-free"
# spotify-client 1.2.x's Depends, as listed in repository.spotify.com's Packages index.
DEPENDS = ("libasound2", "libatk-bridge2.0-0", "libatomic1", "libcurl3-gnutls", "libgbm1", "libgtk-3-0", "libnss3",
           "libssl3", "libxshmfence1", "libxss1", "libxtst6", "xdg-utils")
ICON_SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)  # /usr/share/spotify/icons/spotify-linux-N.png
PROBE_TOOLS = ("/usr/bin/pactl", "/usr/bin/paplay", "/usr/bin/xdpyinfo")
# glibc comes from the image: copies of it next to the image's own loader would not match.
_GLIBC = re.compile(r"^(ld-linux.*|libc|libm|libdl|libpthread|librt|libresolv)\.so")
STANDIN_DIR = "/usr/share/spotify/standin"
WRAPPER = f"""#!/bin/sh
# spotidoctor's stand-in for Spotify's client (tests/aptrepo.py): the probes of tests/standin.py,
# with private copies of pactl, paplay and xdpyinfo.
export PATH="{STANDIN_DIR}/bin:$PATH" LD_LIBRARY_PATH="{STANDIN_DIR}/lib"
exec /bin/sh {STANDIN_DIR}/spotify-standin "$@"
"""


def architecture() -> str:
    return subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True, check=True).stdout.strip()


# -- signing keys --------------------------------------------------------------------------

@dataclass(frozen=True)
class SigningKey:
    gnupghome: Path
    fingerprint: str

    @property
    def key_id(self) -> str:
        """The long key id apt names in NO_PUBKEY."""
        return self.fingerprint[-16:]

    def gpg(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(["gpg", "--homedir", str(self.gnupghome), "--batch", "--quiet", *args],
                              capture_output=True, check=True, timeout=120)

    def close(self) -> None:
        """Stop the gpg-agent this key's home started (by its home, never by name)."""
        subprocess.run(["gpgconf", "--homedir", str(self.gnupghome), "--kill", "gpg-agent"], capture_output=True,
                       timeout=60)


def make_key(home: Path, name: str) -> SigningKey:
    """A throwaway ed25519 signing key in its own GNUPGHOME (short path: the agent's socket lives there)."""
    home.mkdir(mode=0o700, parents=True)
    subprocess.run(["gpg", "--homedir", str(home), "--batch", "--quiet", "--passphrase", "", "--quick-gen-key",
                    f"{name} <{name.lower().replace(' ', '-')}@spotidoctor.invalid>", "ed25519", "sign", "never"],
                   capture_output=True, check=True, timeout=120)
    listed = subprocess.run(["gpg", "--homedir", str(home), "--batch", "--with-colons", "--list-keys"],
                            capture_output=True, text=True, check=True, timeout=60).stdout
    fingerprint = next(line.split(":")[9] for line in listed.splitlines() if line.startswith("fpr:"))
    return SigningKey(home, fingerprint)


# -- the stand-in package ------------------------------------------------------------------

def png(size: int) -> bytes:
    """A valid, single-colour RGB PNG of size x size (the real package ships PNG icons)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\0" + b"\x1d\xb9\x54" * size for _ in range(size))
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def _libraries(binary: str) -> set[str]:
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    return {token for line in out.splitlines() for token in line.split()[2:3] if token.startswith("/")}


def _probe_tools(root: Path) -> None:
    bin_dir, lib_dir = root / STANDIN_DIR.lstrip("/") / "bin", root / STANDIN_DIR.lstrip("/") / "lib"
    bin_dir.mkdir(parents=True)
    lib_dir.mkdir(parents=True)
    for tool in PROBE_TOOLS:
        shutil.copy(tool, bin_dir)
        for lib in _libraries(tool):
            if not _GLIBC.match(os.path.basename(lib)):
                shutil.copy(lib, lib_dir)  # follows the soname link: the file under its soname


def _control(arch: str, version: str, installed_kib: int) -> str:
    return (f"Package: {PACKAGE}\nVersion: {version}\nArchitecture: {arch}\n"
            "Maintainer: spotidoctor tests <tests@spotidoctor.invalid>\n"
            f"Installed-Size: {installed_kib}\nDepends: {', '.join(DEPENDS)}\nSection: sound\nPriority: optional\n"
            "Homepage: https://www.spotify.com\n"
            "Description: Spotify streaming music client (spotidoctor's test stand-in)\n"
            " Runs the probes of spotidoctor's stand-in client instead of Spotify.\n")


def build_package(work: Path, version: str = VERSION, arch: str | None = None) -> Path:
    """``spotify-client_VERSION_ARCH.deb`` (epoch dropped from the file name, as Debian does)."""
    arch = arch or architecture()
    root = work / "root"
    share = root / "usr/share/spotify"
    (share / "icons").mkdir(parents=True)
    for size in ICON_SIZES:
        (share / "icons" / f"spotify-linux-{size}.png").write_bytes(png(size))
    (share / "spotify.desktop").write_text("[Desktop Entry]\nType=Application\nName=Spotify\n"
                                          "Exec=spotify %U\nIcon=spotify-client\n")
    _probe_tools(root)
    (root / STANDIN_DIR.lstrip("/") / "spotify-standin").write_text(STANDIN_SPOTIFY)
    (share / "spotify").write_text(WRAPPER)
    (share / "spotify").chmod(0o755)
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/spotify").symlink_to("../share/spotify/spotify")  # as in the real package
    installed = sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink()) // 1024 + 1
    (root / "DEBIAN").mkdir()
    (root / "DEBIAN/control").write_text(_control(arch, version, installed))
    deb = work / f"{PACKAGE}_{version.partition(':')[2] or version}_{arch}.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(root), str(deb)], capture_output=True,
                   check=True, timeout=300)
    return deb


# -- the repository ------------------------------------------------------------------------

@dataclass
class AptRepo:
    """The repository on disk and its HTTP server (``url`` is what SPOTIFY_REPO gets)."""

    root: Path
    arch: str
    key: SigningKey
    version: str = VERSION
    _keys: list[SigningKey] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None  # serve_process: a child serves the files
    port: int = 0
    log: Path | None = None

    @property
    def url(self) -> str:
        assert self.port
        return f"http://127.0.0.1:{self.port}"

    @property
    def dist(self) -> Path:
        return self.root / "dists" / SUITE

    def key_url(self, key: SigningKey | None = None) -> str:
        """Where the armored public key is served (like download.spotify.com/debian/pubkey_ID.asc)."""
        key = key or self.key
        path = self.root / "keys" / f"pubkey_{key.key_id}.asc"
        if not path.exists():
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(key.gpg("--armor", "--export", key.fingerprint).stdout)
        return f"{self.url}/keys/{path.name}"

    def index(self, deb: Path) -> None:
        pool = self.root / "pool" / COMPONENT / PACKAGE[0] / PACKAGE
        pool.mkdir(parents=True, exist_ok=True)
        shutil.copy(deb, pool)
        binary = self.dist / COMPONENT / f"binary-{self.arch}"
        binary.mkdir(parents=True, exist_ok=True)
        packages = subprocess.run(["apt-ftparchive", "packages", "pool"], cwd=self.root, capture_output=True,
                                  check=True, timeout=120).stdout
        (binary / "Packages").write_bytes(packages)
        (binary / "Packages.gz").write_bytes(gzip.compress(packages))
        self._release()

    def _release(self) -> None:
        options = {"Origin": "Spotify", "Label": "Spotify Public Repository", "Suite": SUITE, "Codename": SUITE,
                   "Architectures": self.arch, "Components": COMPONENT}
        argv = ["apt-ftparchive"]
        for name, value in options.items():
            argv += ["-o", f"APT::FTPArchive::Release::{name}={value}"]
        for stale in ("Release", "InRelease", "Release.gpg"):  # not hashed into the new Release
            (self.dist / stale).unlink(missing_ok=True)
        release = subprocess.run([*argv, "release", "."], cwd=self.dist, capture_output=True, check=True,
                                 timeout=120).stdout
        (self.dist / "Release").write_bytes(release)
        self.sign_with(self.key)

    def sign_with(self, key: SigningKey) -> None:
        """(Re-)sign Release as InRelease and Release.gpg with ``key``: a rotated key when it is not
        the one the build downloads."""
        self.key = key
        release = str(self.dist / "Release")
        key.gpg("--yes", "--local-user", key.fingerprint, "--digest-algo", "SHA512", "--clearsign",
                "--output", str(self.dist / "InRelease"), release)
        key.gpg("--yes", "--local-user", key.fingerprint, "--digest-algo", "SHA512", "--armor", "--detach-sign",
                "--output", str(self.dist / "Release.gpg"), release)

    def new_key(self, name: str) -> SigningKey:
        key = make_key(self.root.parent / f"gnupg{len(self._keys) + 1}", name)
        self._keys.append(key)
        return key

    def serve_process(self, log: Path) -> None:
        """Serve the files from a child process (not a thread of the test process, whose
        connections were seen reset); requests go to ``log``."""
        self.stop_serving()
        self.log = log
        with open(log, "wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", str(self.root)],
                stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True)
        assert self.process.stdout is not None
        first = self.process.stdout.readline().decode()  # "Serving HTTP on 127.0.0.1 port N (...) ..."
        self.port = int(re.search(r" port (\d+)", first).group(1))  # type: ignore[union-attr]

    def seen(self) -> list[str]:
        """The request lines served so far ("GET /dists/stable/InRelease HTTP/1.1")."""
        logged = self.log.read_text(errors="replace") if self.log and self.log.exists() else ""
        return re.findall(r'"((?:GET|HEAD) [^"]*)"', logged)

    def stop_serving(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
            if self.process.stdout is not None:
                self.process.stdout.close()
            self.process = None

    def close(self) -> None:
        self.stop_serving()
        for key in self._keys:
            key.close()


def make_repo(work: Path) -> AptRepo:
    """Build, index, sign and serve the repository under ``work`` (a short path: GnuPG sockets)."""
    arch = architecture()
    key = make_key(work / "gnupg0", "Spotify Test Signing Key")
    repo = AptRepo(work / "repo", arch, key, _keys=[key])
    repo.root.mkdir()
    repo.index(build_package(work / "package", arch=arch))
    # A child process serves it: served from a thread of the test process, curl's fetch of the
    # key was seen reset in CI ("curl: (56) Recv failure: Connection reset by peer").
    repo.serve_process(work / "http.log")
    return repo


def spotify_repo_fixture(work: Path) -> Iterator[AptRepo]:
    repo = make_repo(work)
    try:
        yield repo
    finally:
        repo.close()
