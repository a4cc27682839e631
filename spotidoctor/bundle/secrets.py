"""What counts as secret, and the filters that keep it out of a bundle, with or without
``--no-redact``.

Secrets are withheld, not tokenised: no token map entry, no way back. The report never
stores secret values; the archive scan reads the user's cookies locally only to look for
them (``scan.py``).
"""
from __future__ import annotations

import fnmatch
import os
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

WITHHELD = "<withheld>"

# Environment variable names that look like they hold credentials (substring, upper case).
# Over-matching (XAUTHORITY, SSH_AUTH_SOCK, KEYMAP) costs a value; under-matching leaks one.
SECRET_NAME_PARTS = ("TOKEN", "SECRET", "PASSW", "PASSPHRASE", "KEY", "COOKIE", "AUTH", "CRED",
                     "PRIVATE", "SIGNATURE", "CERT", "SALT", "BEARER", "SESSION_ID", "SESSIONID")


def is_secret_name(name: str) -> bool:
    upper = name.upper()
    return upper in ("PASS", "PW", "PWD_HASH") or any(part in upper for part in SECRET_NAME_PARTS)


# -- files that are credential material by their name ------------------------------------

SECRET_BASENAMES = ("*cookie*", "*xauthority*", ".xauth*", "*.pem", "*.key", "*.p12", "*.pfx",
                    "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*", ".netrc", ".pgpass",
                    "*credential*", "*secret*", "*token*", "*keyring*", "*.kdbx", "auth.json",
                    "shadow", "gshadow", "shadow-", "gshadow-")


def secret_basename(path: str) -> str | None:
    """The rule a file's name matches when its name alone marks it as credential material."""
    base = os.path.basename(path.rstrip("/")).lower()
    return next((rule for rule in SECRET_BASENAMES if fnmatch.fnmatchcase(base, rule)), None)


# -- content filters (always on) ---------------------------------------------------------

_AUTOLOGIN_LINE = re.compile(r"[ \t]*autologin\.[\w.-]*[ \t]*[=:].*")
_AUTOLOGIN_MARKER = "\0autologin\0"
_AUTOLOGIN_INLINE = re.compile(
    r"(autologin\.[\w.-]+)(\\?[\"']?\s*[=:]\s*)(\\?\"[^\"\\\n]*\\?\"|'[^'\n]*'|[^\s\"',;}\]]+)")
_MIT_COOKIE = re.compile(r"(MIT-MAGIC-COOKIE-1\s+)[0-9A-Fa-f]{8,}")
# `xauth nlist`: "... 0012 <hex of MIT-MAGIC-COOKIE-1> 0010 <hex data>"
_MIT_COOKIE_NLIST = re.compile(r"(4d49542d4d414749432d434f4f4b49452d31\s+[0-9a-fA-F]{4}\s+)[0-9a-fA-F]+", re.I)
_PEM = re.compile(r"(-----BEGIN ([A-Z0-9 ]*(?:PRIVATE KEY|SECRET[A-Z ]*))-----).*?(-----END \2-----)", re.S)
_KEY_VALUE = re.compile(
    r"(?i)(\b[\w.-]*?(?:password|passwd|passphrase|secret|api[_-]?key|access[_-]?key|private[_-]?key"
    r"|token|credentials?|session[_-]?key|client[_-]?secret)"
    r"[\w-]*)(\\?[\"']?[ \t]*[:=][ \t]*)(\\?[\"']?)(?!<withheld>)([^\s\"',;}\]\\]+)")
_AUTH_HEADER = re.compile(r"(?i)(\bauthorization\s*:\s*(?:bearer|basic|token)\s+)\S+")
_PACTL_COOKIE = re.compile(r"(?im)^([ \t]*Cookie:[ \t]*)[0-9a-f]{4}:[0-9a-f]{4}[ \t]*$")
_ENV_ASSIGNMENT = re.compile(r"(?<![\w.-])([A-Z][A-Z0-9_]*)=(\"[^\"\n]*\"|'[^'\n]*'|[^\s\"',;}\]\\]*)")


@dataclass(frozen=True)
class Scrubbed:
    text: str
    counts: Counter[str]


def scrub(text: str) -> Scrubbed:
    """Withhold credential material in ``text``; ``counts`` says what was withheld."""
    counts: Counter[str] = Counter()
    text = _drop_autologin_lines(text, counts)
    for label, pattern, repl in _RULES:
        changed = 0

        def counting(match: re.Match[str], repl: str | Callable[[re.Match[str]], str] = repl) -> str:
            nonlocal changed
            out = repl(match) if callable(repl) else match.expand(repl)
            changed += out != match.group(0)
            return out

        text = pattern.sub(counting, text)
        if changed:
            counts[label] += changed
    return Scrubbed(text, counts)


def _drop_autologin_lines(text: str, counts: Counter[str]) -> str:
    if "autologin." not in text:
        return text
    kept: list[str] = []
    dropped = 0
    for line in text.split("\n"):
        if _AUTOLOGIN_LINE.fullmatch(line):
            if not dropped:
                kept.append(_AUTOLOGIN_MARKER)  # where they were; the count is filled in below
            dropped += 1
        else:
            kept.append(line)
    if not dropped:
        return text
    counts["spotify autologin line"] += dropped
    marker = f"# spotidoctor: {dropped} autologin.* line(s) withheld (credentials)"
    return "\n".join(marker if line is _AUTOLOGIN_MARKER else line for line in kept)


def _autologin_value(match: re.Match[str]) -> str:
    value = match.group(3)
    if WITHHELD in value:
        return match.group(0)
    quote = next((q for q in ('\\"', '"', "'")
                  if value.startswith(q) and value.endswith(q) and len(value) > len(q)), "")
    return f"{match.group(1)}{match.group(2)}{quote}{WITHHELD}{quote}"


def _env_assignment(match: re.Match[str]) -> str:
    name = match.group(1)
    return f"{name}={WITHHELD}" if is_secret_name(name) and match.group(2) != WITHHELD else match.group(0)


_RULES: tuple[tuple[str, re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    ("spotify autologin value", _AUTOLOGIN_INLINE, _autologin_value),
    ("X cookie", _MIT_COOKIE, rf"\1{WITHHELD}"),
    ("X cookie", _MIT_COOKIE_NLIST, rf"\1{WITHHELD}"),
    ("private key", _PEM, rf"\1 {WITHHELD} \3"),
    ("credential value", _KEY_VALUE, rf"\1\2\3{WITHHELD}"),
    ("authorization header", _AUTH_HEADER, rf"\1{WITHHELD}"),
    ("pulse server cookie", _PACTL_COOKIE, rf"\1{WITHHELD}"),
    ("secret environment value", _ENV_ASSIGNMENT, _env_assignment),
)


# -- Spotify prefs ------------------------------------------------------------

_PREFS_LINE = re.compile(r"^[ \t]*(autologin\.[\w.-]+)[ \t]*[=:][ \t]*(.*?)[ \t]*$", re.M)


def autologin_values(prefs_text: str) -> dict[str, str]:
    """``autologin.*`` keys and their unquoted values (for the scan and the redactor only), in
    the ``key=value`` form Spotify writes and the ``key: value`` form the scrubber also drops."""
    values = {}
    for key, raw in _PREFS_LINE.findall(prefs_text):
        value = raw[1:-1] if len(raw) >= 2 and raw[0] == raw[-1] == '"' else raw
        if value:
            values[key] = value
    return values


def sanitize_prefs(prefs_text: str) -> str:
    """The prefs file without its credentials; the rest (cache size, GPU flags) helps."""
    return scrub(prefs_text).text


# -- Xauthority ---------------------------------------------------------

def mit_cookies(data: bytes) -> list[bytes]:
    """The MIT-MAGIC-COOKIE-1 values of an Xauthority file, a damaged tail ignored."""
    from spotidoctor.probes.x11auth import MIT_MAGIC_COOKIE, readable_entries

    return [e.data for e in readable_entries(data) if e.name == MIT_MAGIC_COOKIE and e.data]
