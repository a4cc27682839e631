"""Redaction: consistent tokens for identifying values (the sos cleaner model, smaller).

Two layers, applied to every text *and every file name* of a bundle:
1. Secrets are always withheld (``secrets.scrub``) and Spotify account names always become
   ``spotifyuser<N>``, even with ``--no-redact``.
2. Unless ``--no-redact``: home directories, machine ids, MAC, IPv6 and IPv4 addresses,
   host names and user names become tokens (``/home/homedir0``, ``machineid0``,
   ``macaddr0``, ``ip6addr0``, ``ip4addr0``, ``host0``, ``obfuscateduser0``).

The same value always gets the same token (one ``TokenMap`` per bundle, persisted outside
the archive so the user can correlate). Spotify's account directories (``Users/<name>-user``)
are rewritten by their shape, whatever the name; the account names themselves are replaced as
free words only when ``distinctive``: a name that is also a word of text the container did
not write (an account directory called ``podman-user``) would rewrite the report, not hide
anyone. Each list of values is one trie-shaped regular expression, so the time is linear in
the text whatever the number of values (2,000 account directories). Names and host names
match whole words only:
a neighbouring letter or digit means "another word", so the user ``al`` is replaced in
``/home/al``, ``al@vm`` and ``al_backup`` but not in ``alsa`` or ``mal``; ``_``, ``-``, ``.``
and ``/`` separate words. Two fixed spellings are never names because they cannot encode
one: sysctl keys (``vm.overcommit_memory``: a DNS label has no ``_``) and ``/proc/sys/<x>/``.
The archive scan (``scan.py``) uses the same patterns, so what is redacted and what is
checked agree.
"""
from __future__ import annotations

import functools
import ipaddress
import json
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from spotidoctor.bundle.identity import PUBLIC_WORDS, Identity
from spotidoctor.bundle.secrets import scrub
from spotidoctor.probes.fs import RealFS

KINDS = ("home", "spotify-user", "machine-id", "mac", "ipv6", "ipv4", "host", "user")
TOKEN_PREFIX = {
    "home": "/home/homedir", "spotify-user": "spotifyuser", "machine-id": "machineid", "mac": "macaddr",
    "ipv6": "ip6addr", "ipv4": "ip4addr", "host": "host", "user": "obfuscateduser",
}
KIND_LABEL = {
    "home": "home directory paths", "spotify-user": "Spotify account names", "machine-id": "machine ids",
    "mac": "MAC addresses", "ipv6": "IPv6 addresses", "ipv4": "IPv4 addresses", "host": "host names",
    "user": "user names",
}
MAP_VERSION = 1

# Word boundaries: letters and digits continue a word; anything else ends it.
_BEFORE = r"(?<![^\W_])(?<!/proc/sys/)"
_AFTER = r"(?![^\W_])(?!\.[A-Za-z0-9-]*_)"

_MAC = re.compile(r"(?<![A-Za-z0-9:-])[0-9A-Fa-f]{2}([:-])(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}(?![A-Za-z0-9:-])")
_IPV6 = re.compile(r"(?<![A-Za-z0-9:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{1,4})?"
                   r"(?:%[\w-]+)?(?![A-Za-z0-9:]|\.\d)")
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
# Not followed by more digits (a 5-part version) or Spotify's ".g<commit>" version suffix.
_IPV4 = re.compile(rf"(?<![A-Za-z0-9.]){_OCTET}(?:\.{_OCTET}){{3}}(?![A-Za-z0-9]|\.\d|\.g[0-9a-f]{{6}})")
PUBLIC_MACS = frozenset({"00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff"})


_Node = dict[str, "_Node"]


def trie_body(values: Iterable[str], *, fold: bool = False) -> str | None:
    """A regular expression matching exactly ``values``, shaped as a trie: at each character the
    branches start with different characters, so the engine tries one, not one per value, and
    matching is linear in the text. Greedy: the longest value that fits is tried first, like a
    longest-first alternation. ``fold``: build it on lower-cased values (for ``re.I``)."""
    root: _Node = {}
    for value in {(v.lower() if fold else v) for v in values if v}:
        node = root
        for char in value:
            node = node.setdefault(char, {})
        node[""] = {}
    return _trie(root) if root else None


def _trie(node: _Node) -> str:
    ends = "" in node
    branches = [re.escape(char) + _trie(child) for char, child in sorted(node.items()) if char]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    return f"(?:{body})?" if ends else body


def word_pattern(values: Iterable[str], *, ignore_case: bool) -> re.Pattern[str] | None:
    """Whole-word match of any of ``values`` (the longest first); None when there are none."""
    body = trie_body(values, fold=ignore_case)
    if body is None:
        return None
    return re.compile(f"{_BEFORE}(?:{body}){_AFTER}", re.I if ignore_case else 0)


# Spotify's per-account directory, whatever the name: ``Users/<name>-user``.
ACCOUNT_DIR = re.compile(r"(?<=/Users/)[^/\s\"'<>:;,]+?(?=-user(?:[/\s\"'<>:;,]|$))")


def distinctive(names: Iterable[str], vocabulary: Iterable[str]) -> tuple[str, ...]:
    """The names worth replacing wherever they appear as a word: not one of spotidoctor's own
    public words, and not a whole word of ``vocabulary`` (texts the container did not write)."""
    candidates = [n for n in dict.fromkeys(names) if n and n.lower() not in PUBLIC_WORDS]
    pattern = word_pattern(candidates, ignore_case=True)
    if pattern is None:
        return ()
    common = {m.group(0).lower() for text in vocabulary for m in pattern.finditer(text)}
    return tuple(n for n in candidates if n.lower() not in common)


def path_pattern(paths: Iterable[str]) -> re.Pattern[str] | None:
    """Directories as whole path prefixes: ``/home/al`` matches ``/home/al/x``, not ``/home/alice``."""
    alternatives = sorted({p.rstrip("/") for p in paths if p and p != "/"}, key=len, reverse=True)
    if not alternatives:
        return None
    return re.compile("(?:" + "|".join(re.escape(p) for p in alternatives) + r")(?![\w.-])")


# -- the token map -------------------------------------------------------------------------

class TokenMap:
    """value -> token per kind; the same value always gets the same token."""

    def __init__(self, data: Mapping[str, Mapping[str, str]] | None = None) -> None:
        self._map: dict[str, dict[str, str]] = {k: dict(v) for k, v in (data or {}).items()}
        self._next: dict[str, int] = {}  # per kind, so a new token costs O(1), not a look at all of them

    def token(self, kind: str, value: str) -> str:
        entries = self._map.setdefault(kind, {})
        if value not in entries:
            if kind not in self._next:
                self._next[kind] = self._next_index(kind)
            entries[value] = f"{TOKEN_PREFIX[kind]}{self._next[kind]}"
            self._next[kind] += 1
        return entries[value]

    def _next_index(self, kind: str) -> int:
        prefix = TOKEN_PREFIX[kind]
        used = [int(t[len(prefix):]) for t in self._map.get(kind, {}).values()
                if t.startswith(prefix) and t[len(prefix):].isdigit()]
        return max(used, default=-1) + 1

    def entries(self) -> dict[str, dict[str, str]]:
        return {kind: dict(values) for kind, values in self._map.items() if values}

    def to_json(self) -> str:
        return json.dumps({"version": MAP_VERSION, "comment": "spotidoctor report tokens: value -> token. "
                           "Private: keep this file out of bug reports.", "map": self.entries()},
                          indent=2, sort_keys=True)

    @classmethod
    def load(cls, fs: RealFS, path: str) -> TokenMap:
        """A missing or damaged map starts afresh (tokens then restart at 0)."""
        text = fs.read_text_or_none(path, 16 * 1024 * 1024)
        try:
            data = json.loads(text) if text else {}
            mapping = data.get("map", {}) if isinstance(data, dict) else {}
            clean = {k: {str(a): str(b) for a, b in v.items()} for k, v in mapping.items()
                     if k in TOKEN_PREFIX and isinstance(v, dict)}
        except (ValueError, AttributeError):
            clean = {}
        return cls(clean)

    def save(self, fs: RealFS, path: str) -> None:
        fs.write_private(path, (self.to_json() + "\n").encode(), mode=0o600)


# -- the redactor --------------------------------------------------------------------------

@dataclass(frozen=True)
class _Rule:
    kind: str
    pattern: re.Pattern[str]
    key: Callable[[str], str | None]  # normalised map key, or None to leave the match alone


def _same(value: str) -> str | None:
    return value


def _mac_key(value: str) -> str | None:
    key = value.lower().replace("-", ":")
    return None if key in PUBLIC_MACS else key


def _ipv6_key(value: str) -> str | None:
    address = value.split("%")[0]
    try:
        parsed = ipaddress.IPv6Address(address)
    except ValueError:
        return None  # a time stamp or C++ scope, not an address
    if parsed.is_loopback or parsed.is_unspecified:
        return None
    return parsed.compressed


def _ipv4_key(value: str) -> str | None:
    try:
        parsed = ipaddress.IPv4Address(value)
    except ValueError:
        return None
    if parsed.is_loopback or parsed.is_unspecified or value.startswith("255."):
        return None  # 127.0.0.1, 0.0.0.0 and netmasks identify nobody
    return value


class Redactor:
    """Apply secrets scrubbing and (unless ``identity_on`` is False) identity tokens."""

    def __init__(self, identity: Identity, tokens: TokenMap | None = None, *, identity_on: bool = True) -> None:
        self.identity = identity
        self.tokens = tokens or TokenMap()
        self.identity_on = identity_on
        self.counts: Counter[str] = Counter()  # kind -> replacements made
        self.withheld: Counter[str] = Counter()  # secret rule -> values withheld
        self._seen: set[tuple[str, str]] = set()
        self._rules = self._build_rules()

    def _build_rules(self) -> list[_Rule]:
        ident = self.identity
        rules: list[_Rule] = []

        def add(kind: str, pattern: re.Pattern[str] | None, key: Callable[[str], str | None] = _same) -> None:
            if pattern is not None:
                rules.append(_Rule(kind, pattern, key))

        add("spotify-user", ACCOUNT_DIR, str.lower)
        add("spotify-user", word_pattern(ident.spotify_users, ignore_case=True), str.lower)
        if not self.identity_on:
            return rules
        add("home", path_pattern(ident.homes))
        add("machine-id", word_pattern(ident.machine_ids, ignore_case=True), str.lower)
        add("mac", _MAC, _mac_key)
        add("ipv6", _IPV6, _ipv6_key)
        add("ipv4", _IPV4, _ipv4_key)
        add("host", word_pattern(ident.hostnames, ignore_case=True), str.lower)
        add("user", word_pattern((*ident.login_names, *ident.other_users, *ident.full_names), ignore_case=False))
        return rules

    def text(self, text: str) -> str:
        scrubbed = scrub(text)
        self.withheld.update(scrubbed.counts)
        text = scrubbed.text
        for rule in self._rules:
            text = rule.pattern.sub(functools.partial(self._replace, rule), text)
        return text

    def _replace(self, rule: _Rule, match: re.Match[str]) -> str:
        key = rule.key(match.group(0))
        if key is None:
            return match.group(0)
        self.counts[rule.kind] += 1
        self._seen.add((rule.kind, key))
        return self.tokens.token(rule.kind, key)

    def name(self, name: str) -> str:
        """An archive member name: each path component redacted like text."""
        parts = [self.text(part).replace("/", "_") for part in name.split("/")]
        return "/".join(parts)

    def summary(self) -> dict[str, dict[str, int]]:
        """Counts per kind (never values), for redaction.json and --preview."""
        distinct = Counter(kind for kind, _ in self._seen)
        return {
            "replaced": {KIND_LABEL[k]: n for k, n in sorted(self.counts.items())},
            "distinct_values": {KIND_LABEL[k]: n for k, n in sorted(distinct.items())},
            "withheld": dict(sorted(self.withheld.items())),
        }


def default_map_path(state_dir: str) -> str:
    return os.path.join(state_dir, "maps", "report-tokens.json")
