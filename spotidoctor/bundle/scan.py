"""Scan a finished archive for the user's secrets and names; fail closed if any is found.

The needles are read locally, used in memory, and never stored or printed:
- pulse cookies (the default one, the container socket's, its copy, ``$PULSE_COOKIE``) and
  the X ``MIT-MAGIC-COOKIE-1`` data of the user's Xauthority files, as raw bytes, hex
  (any case) and base64 -- as 16-byte windows too, so a cut-off copy is still found;
- Spotify ``autologin.*`` values from the prefs files;
- the login name and the host names (unless ``--no-redact``), with the redactor's own
  whole-word patterns, so the scan checks exactly what the redactor promised.
"""
from __future__ import annotations

import base64
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from spotidoctor import layout
from spotidoctor.api import Context
from spotidoctor.bundle import archive
from spotidoctor.bundle.identity import Identity
from spotidoctor.bundle.redact import word_pattern
from spotidoctor.bundle.secrets import autologin_values, mit_cookies
from spotidoctor.bundle.sources import display_number

WINDOW = 16  # bytes; any leaked run of >= WINDOW + STRIDE - 1 bytes contains a whole window
STRIDE = 8
MIN_SECRET_BYTES = 4
READ_LIMIT = 64 * 1024
# prefs keys whose values are credentials or the account name; other
# autologin values are looked for only when long enough not to be a common word.
CREDENTIAL_KEYS = frozenset({"autologin.username", "autologin.canonical_username",
                             "autologin.saved_credentials", "autologin.blob"})


@dataclass(frozen=True)
class Needle:
    label: str  # what it is and where it came from, never the value
    raw: tuple[bytes, ...] = ()
    hex: tuple[bytes, ...] = ()  # lower-case hex, matched case-insensitively
    words: re.Pattern[str] | None = None


@dataclass(frozen=True)
class Finding:
    label: str
    where: str  # the member (or "archive headers")


def secret_needle(label: str, secret: bytes) -> Needle | None:
    if len(secret) < MIN_SECRET_BYTES:
        return None
    pieces = {secret}
    if len(secret) > WINDOW:
        pieces |= {secret[i:i + WINDOW] for i in range(0, len(secret) - WINDOW + 1, STRIDE)}
    hexes = {p.hex().encode() for p in pieces}
    raws = pieces | {base64.b64encode(secret), base64.b64encode(secret).rstrip(b"=")}
    return Needle(label, tuple(sorted(raws)), tuple(sorted(hexes)))


def text_needle(label: str, value: str) -> Needle | None:
    """Short values as whole words (like the redactor); long ones as plain substrings."""
    if len(value) < MIN_SECRET_BYTES:
        return None
    if len(value) >= 16:
        return Needle(label, raw=(value.encode(),))
    return Needle(label, words=word_pattern([value], ignore_case=True))


def _read(ctx: Context, path: str) -> bytes | None:
    try:
        st = ctx.probes.fs.stat(path)
        if st is None or not st.is_file:
            return None
        return ctx.probes.fs.read_bytes(path, READ_LIMIT)
    except OSError:
        return None


def pulse_cookie_paths(ctx: Context) -> list[str]:
    paths = ctx.paths
    found = [os.path.join(paths.xdg_config_home, "pulse", "cookie"),
             os.path.join(ctx.user.home, ".config", "pulse", "cookie"),
             os.path.join(ctx.user.home, ".pulse-cookie"),
             layout.pulse_cookie(paths), layout.pulse_cookie_copy(paths)]
    if ctx.env.get("PULSE_COOKIE"):
        found.append(ctx.env["PULSE_COOKIE"])
    return list(dict.fromkeys(found))


def xauthority_paths(ctx: Context) -> list[str]:
    found = [ctx.env.get("XAUTHORITY") or os.path.join(ctx.user.home, ".Xauthority")]
    number = display_number(ctx.env.get("DISPLAY"))
    if number is not None:
        found.append(layout.x11_cookie(ctx.paths, number))
    return list(dict.fromkeys(found))


def _tilde(ctx: Context, path: str) -> str:
    """Labels end up in error messages; keep the home path out of them."""
    home = ctx.user.home.rstrip("/")
    return "~" + path[len(home):] if home and (path == home or path.startswith(home + "/")) else path


def gather_needles(ctx: Context, identity: Identity, *, include_names: bool) -> list[Needle]:
    found: list[Needle | None] = []
    for path in pulse_cookie_paths(ctx):
        found.append(secret_needle(f"pulse cookie {_tilde(ctx, path)}", _read(ctx, path) or b""))
    for path in xauthority_paths(ctx):
        cookies = mit_cookies(_read(ctx, path) or b"")
        found += [secret_needle(f"X MIT-MAGIC-COOKIE-1 #{i + 1} from {_tilde(ctx, path)}", c)
                  for i, c in enumerate(cookies)]
    for path in identity.prefs_files:
        values = autologin_values((_read(ctx, path) or b"").decode("utf-8", "replace"))
        found += [text_needle(f"Spotify {key} from {_tilde(ctx, path)}", value) for key, value in values.items()
                  if key in CREDENTIAL_KEYS or len(value) >= 16]
    if include_names:
        for label, names, ignore_case in (("login name", identity.login_names, False),
                                          ("host name", identity.hostnames, True)):
            pattern = word_pattern(names, ignore_case=ignore_case)
            found.append(Needle(label, words=pattern) if pattern is not None else None)
    return [n for n in found if n is not None]


def _hits(data: bytes, needles: Sequence[Needle]) -> list[str]:
    lowered = data.lower()
    text = data.decode("utf-8", errors="replace")
    found = []
    for needle in needles:
        if (any(r in data for r in needle.raw) or any(h in lowered for h in needle.hex)
                or (needle.words is not None and needle.words.search(text))):
            found.append(needle.label)
    return found


def scan_archive(path: str, needles: Sequence[Needle]) -> list[Finding]:
    """Every member's name, headers and content, the raw tar stream and the gzip header."""
    findings: list[Finding] = []
    for member in archive.read_members(path):
        for label in _hits(member.name.encode() + b"\n" + member.headers.encode(), needles):
            findings.append(Finding(label, f"the name or headers of {member.name}"))
        for label in _hits(member.data, needles):
            findings.append(Finding(label, member.name))
    if not findings:  # a backstop for anything the member walk could miss
        for label in _hits(archive.raw_tar(path) + b"\n" + archive.gzip_header_name(path), needles):
            findings.append(Finding(label, "the archive's headers"))
    return _dedupe(findings)


def scan_members(members: Iterable[archive.Member], needles: Sequence[Needle]) -> list[Finding]:
    """The same scan on in-memory members (``--preview``)."""
    findings = []
    for member in members:
        findings += [Finding(label, member.name) for label in _hits(member.name.encode(), needles)]
        findings += [Finding(label, member.name) for label in _hits(member.data, needles)]
    return _dedupe(findings)


def _dedupe(findings: list[Finding]) -> list[Finding]:
    return list(dict.fromkeys(findings))
