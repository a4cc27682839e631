"""Scan a finished archive for the user's secrets and names; fail closed if any is found.

The needles are read locally, used in memory, and never stored or printed:
- pulse cookies (the default one, the container socket's, its copy, ``$PULSE_COOKIE``) and
  the X ``MIT-MAGIC-COOKIE-1`` data of the user's Xauthority files, as raw bytes, hex
  (any case) and base64 -- as 16-byte windows too, so a cut-off copy is still found;
- Spotify ``autologin.*`` values from the prefs files: what the scrubber promised. A value
  long enough to be a secret (a real saved credential is a long blob) is looked for anywhere;
  a short one (which a hostile container can make a common word, e.g. ``podman``) and an
  account name the redactor does not replace as a free word are looked for in their
  ``autologin.<key>=<value>`` / ``: value`` forms, which the scrubber always removes;
- the login name and the host names (unless ``--no-redact``), with the redactor's own
  whole-word patterns, so the scan checks exactly what the redactor promised.

The archive's own headers (owner names, link names) are checked member by member, and again
from the raw tar stream split at its header fields, so a user name in ``uname`` is found even
where the fields run into each other (the version "00" right before "alice").
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
from spotidoctor.bundle.identity import Identity, prefs_text
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
NAME_KEYS = frozenset({"autologin.username", "autologin.canonical_username"})
SECRET_CHARS = 16  # shorter values are looked for only next to their key


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
        pieces.add(secret[-WINDOW:])  # the tail, whatever the length: a cut-off copy ends with it
    hexes = {p.hex().encode() for p in pieces}
    raws = pieces | {base64.b64encode(secret), base64.b64encode(secret).rstrip(b"=")}
    return Needle(label, tuple(sorted(raws)), tuple(sorted(hexes)))


def text_needle(label: str, value: str) -> Needle | None:
    """Short values as whole words (like the redactor); long ones as plain substrings."""
    if len(value) < MIN_SECRET_BYTES:
        return None
    if len(value) >= SECRET_CHARS:
        return Needle(label, raw=(value.encode(),))
    return Needle(label, words=word_pattern([value], ignore_case=True))


def keyed_needle(label: str, key: str, value: str) -> Needle:
    """``value`` right after its key (``autologin.x=value``, ``autologin.x: "value"``): the
    scrubber drops every such line and inline pair, so this form in a bundle is a leak
    whatever the value is."""
    pattern = re.compile(rf"{re.escape(key)}\\?[\"']?[ \t]*[=:][ \t]*\\?[\"']?{re.escape(value)}(?![^\W_])", re.I)
    return Needle(label, words=pattern)


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
        values = autologin_values(prefs_text(ctx, path))  # never through a link the container made
        found += [_prefs_needle(f"Spotify {key} from {_tilde(ctx, path)}", key, value, identity)
                  for key, value in values.items()]
    if include_names:
        for label, names, ignore_case in (("login name", identity.login_names, False),
                                          ("host name", identity.hostnames, True)):
            pattern = word_pattern(names, ignore_case=ignore_case)
            found.append(Needle(label, words=pattern) if pattern is not None else None)
    return [n for n in found if n is not None]


def _prefs_needle(label: str, key: str, value: str, identity: Identity) -> Needle | None:
    if key in NAME_KEYS and value in identity.spotify_users:
        return text_needle(label, value)  # replaced as a word everywhere: looked for everywhere
    if len(value) >= SECRET_CHARS and key not in NAME_KEYS:
        return Needle(label, raw=(value.encode(),))
    return keyed_needle(label, key, value) if value else None


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
        raw = archive.raw_tar(path)
        for blob in (raw + b"\n" + archive.gzip_header_name(path), header_fields(raw)):
            findings += [Finding(label, "the archive's headers") for label in _hits(blob, needles)]
    return _dedupe(findings)


# ustar header fields (offset, length) that hold text: name, linkname, magic+version, uname,
# gname, prefix. In the raw block they touch each other (version "00", then "alice"), so a
# whole-word needle cannot see a name there; split, each field is a line of its own.
_TEXT_FIELDS = ((0, 100), (157, 100), (257, 8), (265, 32), (297, 32), (345, 155))


def header_fields(raw: bytes) -> bytes:
    """Every header block's text fields, one per line, walking the tar stream by its sizes."""
    lines: list[bytes] = []
    offset = 0
    while offset + 512 <= len(raw):
        block = raw[offset:offset + 512]
        if not block.strip(b"\0"):
            break  # the end-of-archive blocks
        lines += [block[start:start + size].split(b"\0", 1)[0] for start, size in _TEXT_FIELDS]
        try:
            size = int(block[124:136].split(b"\0", 1)[0].strip() or b"0", 8)
        except ValueError:
            break  # not a header: the member walk and the whole stream were scanned anyway
        offset += 512 + (size + 511) // 512 * 512
    return b"\n".join(lines)


def scan_members(members: Iterable[archive.Member], needles: Sequence[Needle]) -> list[Finding]:
    """The same scan on in-memory members (``--preview``)."""
    findings = []
    for member in members:
        findings += [Finding(label, member.name) for label in _hits(member.name.encode(), needles)]
        findings += [Finding(label, member.name) for label in _hits(member.data, needles)]
    return _dedupe(findings)


def _dedupe(findings: list[Finding]) -> list[Finding]:
    return list(dict.fromkeys(findings))
