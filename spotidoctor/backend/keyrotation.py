"""Spotify's apt signing key rotated: find the key apt was missing in a build log, and the exact
command that rebuilds with the new key.

apt names the missing key in two forms: with gpgv (apt <= 2.9, Debian 12, Ubuntu 24.04)
``... public key is not available: NO_PUBKEY 6224F9941A8AA6D1`` (the long key id); with
Sequoia's sqv (apt >= 3.0, Debian 13) ``Missing key <40-hex fingerprint>, which is needed to
verify signature.``. Both are followed by ``E: The repository '<url> stable InRelease' is not
signed.``. Spotify publishes each key as ``https://download.spotify.com/debian/pubkey_<KEYID>``
plus ``.gpg`` or ``.asc``, KEYID being the long id (the fingerprint's last 16 digits).
"""
from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from spotidoctor.backend.recipe import BUNDLED, KEY_URL_ARG, UID_ARG

__all__ = ["MissingKey", "find_missing_key", "rebuild_prefix", "rebuild_command", "key_url_guess"]

_NO_PUBKEY = re.compile(r"\bNO_PUBKEY ([0-9A-Fa-f]{16,40})\b")
_SQV_MISSING = re.compile(r"\bMissing key ([0-9A-Fa-f]{16,40}), which is needed to verify signature")
# "W: GPG error: URL SUITE InRelease: ...", "OpenPGP signature verification failed: URL SUITE InRelease: ...",
# "E: The repository 'URL SUITE InRelease' is not signed."
_REPOSITORY = re.compile(r"(?:GPG error|signature verification failed): (\S+) \S+ InRelease"
                         r"|The repository '(\S+) \S+ InRelease' is not signed")
KEY_BASE_URL = "https://download.spotify.com/debian/pubkey_"


@dataclass(frozen=True)
class MissingKey:
    key_id: str  # the long key id, upper case (16 hex digits)
    fingerprint: str = ""  # when apt printed it (sqv)
    repository: str = ""  # the repository whose signature failed, as apt named it

    @property
    def named(self) -> str:
        return self.fingerprint or self.key_id


def find_missing_key(lines: Sequence[str]) -> MissingKey | None:
    """The key a failed ``apt-get update`` could not find, if the log names one."""
    key = ""
    for line in lines:
        match = _NO_PUBKEY.search(line) or _SQV_MISSING.search(line)
        if match:
            key = match.group(1).upper()
            break
    if not key:
        return None
    repository = next((m.group(1) or m.group(2) for m in map(_REPOSITORY.search, lines) if m), "")
    return MissingKey(key[-16:], key if len(key) == 40 else "", repository)


def key_url_guess(key_id: str) -> str:
    """Spotify's URL pattern for a key; the download page shows the real name (.gpg or .asc)."""
    return f"{KEY_BASE_URL}{key_id}.asc"


def rebuild_prefix(image: str, recipe_source: str, network: str, build_args: Mapping[str, str], *,
                   with_key_url: bool = False) -> tuple[str, ...]:
    """``spotidoctor build`` with what this build used, minus the key URL unless ``with_key_url``
    (the uid comes from the config anyway)."""
    argv = ["spotidoctor", "build", "--image", image]
    if recipe_source != BUNDLED:
        argv += ["--containerfile", recipe_source]
    if network:
        argv += ["--network", network]
    for key in sorted(build_args):
        if key != UID_ARG and (with_key_url or key != KEY_URL_ARG):
            argv += ["--build-arg", f"{key}={build_args[key]}"]
    return tuple(argv)


def rebuild_command(prefix: Sequence[str], key_url: str) -> str:
    return shlex.join([*prefix, "--build-arg", f"{KEY_URL_ARG}={key_url}"])
