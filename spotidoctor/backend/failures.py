"""Explain a failed image build from its log: which kind of failure, in one sentence, and
what to do. Pure functions over the log lines, so every rule is tested on real text.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from spotidoctor.backend.keyrotation import MissingKey, find_missing_key, key_url_guess, rebuild_command
from spotidoctor.backend.recipe import KEY_URL_ARG, SPOTIFY_DOWNLOAD_URL

__all__ = ["FailureKind", "BuildFailure", "classify", "STEP_LINE"]

STEP_LINE = re.compile(r"^(?:\[(?P<stage>\d+)/(?P<stages>\d+)\] )?STEP (?P<step>\d+)/(?P<steps>\d+): (?P<what>.*)$")
_FAILED_STEP = re.compile(r'(?:error building|building) at STEP "(?P<step>.*)"')


class FailureKind(str, Enum):
    SIGNING_KEY = "signing-key"
    NETWORK = "network"
    NETWORK_SETUP = "network-setup"
    RUNTIME = "runtime"
    USERNS = "userns"
    DISK = "disk"
    MISSING_TOOL = "missing-tool"
    TIMEOUT = "timeout"
    RECIPE = "recipe"


@dataclass(frozen=True)
class BuildFailure:
    kind: FailureKind
    summary: str
    advice: tuple[str, ...] = ()
    evidence: str = ""  # the log line that decided it
    url: str | None = None


@dataclass(frozen=True)
class _Rule:
    kind: FailureKind
    pattern: re.Pattern[str]
    summary: str
    advice: tuple[str, ...]
    url: str | None = None


_KEY_ADVICE = (
    "Spotify rotates its apt signing key about once a year. Look up the current key URL on "
    f"{SPOTIFY_DOWNLOAD_URL} and rebuild with it:",
    f"spotidoctor build --build-arg {KEY_URL_ARG}=https://download.spotify.com/debian/pubkey_<KEYID>.gpg",
    f"(or put \"{KEY_URL_ARG}=...\" into build_args in config.toml so launches rebuild with it)",
)

_RULES = (
    _Rule(FailureKind.SIGNING_KEY,
          re.compile(r"NO_PUBKEY|EXPKEYSIG|is not signed|signatures couldn't be verified|signatures were invalid"),
          "apt does not trust Spotify's repository: the signing key is missing or expired{key}",
          _KEY_ADVICE, SPOTIFY_DOWNLOAD_URL),
    _Rule(FailureKind.SIGNING_KEY,
          re.compile(r"curl: \(22\) The requested URL returned error: (?:403|404|410)"),
          "the Spotify signing key URL does not exist any more (the key has rotated)",
          _KEY_ADVICE, SPOTIFY_DOWNLOAD_URL),
    _Rule(FailureKind.NETWORK_SETUP,
          re.compile(r"slirp4netns|/dev/net/tun|pasta failed|setting up Pasta"),
          "the build container's network could not be set up (slirp4netns/pasta)",
          ("Check `ls -l /dev/net/tun` (it must be crw-rw-rw-) and `spotidoctor check podman`.",
           "A build whose RUN steps need no network can use `spotidoctor build --network none`."),),
    _Rule(FailureKind.NETWORK,
          re.compile(r"Temporary failure resolving|Could not resolve|Failed to fetch|Could not connect to"
                     r"|Network is unreachable|Connection timed out|dial tcp|no such host|i/o timeout"
                     r"|TLS handshake timeout|pinging container registry|Connection refused"),
          "the build could not reach the network (base image registry or Spotify's repository)",
          ("Check the host's network and DNS, then run `spotidoctor build` again.",
           "Behind a proxy: pass it with --build-arg http_proxy=... --build-arg https_proxy=...")),
    _Rule(FailureKind.RUNTIME,
          # Not "while running runtime: exit status N": buildah says that for every failing RUN.
          re.compile(r"did not get container create message from subprocess|OCI runtime error"
                     r"|cgroups in hybrid mode not supported"),
          "the OCI runtime could not start the build's RUN container",
          ("`spotidoctor check podman` diagnoses the runtime; on hybrid-cgroup hosts crun fails and "
           "runc works: put `[engine]` / `runtime = \"runc\"` into ~/.config/containers/containers.conf.",)),
    _Rule(FailureKind.USERNS,
          re.compile(r"insufficient UIDs or GIDs|not enough IDs available|newuidmap|newgidmap"
                     r"|cannot set up namespace|lchown .*invalid argument", re.IGNORECASE),
          "the user namespace has too few subordinate ids for the image's files",
          ("`spotidoctor check userns` shows the subuid/subgid ranges and the fix.",)),
    _Rule(FailureKind.DISK,
          re.compile(r"no space left on device", re.IGNORECASE),
          "the disk holding podman's storage is full",
          ("Free space, or remove unused images: `podman image prune`.",)),
)


_KEY_ID = re.compile(r"\b(NO_PUBKEY|EXPKEYSIG) ([0-9A-Fa-f]{8,40})\b")


def _format(rule: _Rule, lines: Sequence[str]) -> str:
    """The rule's summary; for key problems with the key id apt named (on any line)."""
    found = next((m for m in map(_KEY_ID.search, lines) if m), None)
    return rule.summary.format(key=f" ({found.group(1)} {found.group(2)})" if found else "")


def _failed_step(lines: Sequence[str]) -> str:
    for line in reversed(lines):
        match = _FAILED_STEP.search(line)
        if match:
            return match.group("step")
    steps = [m.group("what") for m in map(STEP_LINE.match, lines) if m]
    return steps[-1] if steps else ""


def _rotated(missing: MissingKey, lines: Sequence[str], rebuild: Sequence[str]) -> BuildFailure:
    where = f" ({missing.repository})" if missing.repository else ""
    return BuildFailure(
        FailureKind.SIGNING_KEY,
        f"Spotify's repository{where} is signed with key {missing.named}, which this build does not have: "
        "Spotify has rotated its signing key",
        (f"Take the new key's URL from Spotify's official download page, {SPOTIFY_DOWNLOAD_URL}, and rebuild:",
         rebuild_command(rebuild, key_url_guess(missing.key_id)),
         f"(Spotify has published its keys as pubkey_<KEYID>.gpg or .asc: use the file name the page shows. "
         f"Put \"{KEY_URL_ARG}=...\" into build_args in config.toml so launches rebuild with it.)"),
        next((line.strip()[:300] for line in lines if missing.named in line.upper()), ""), SPOTIFY_DOWNLOAD_URL)


def classify(lines: Sequence[str], returncode: int, timed_out: bool = False,
             rebuild: Sequence[str] = ("spotidoctor", "build")) -> BuildFailure:
    """Why the build failed. The first matching rule wins (key problems before network).
    ``rebuild`` is the command to repeat, without the key URL (for the key-rotation advice)."""
    if returncode == 127 and not any(STEP_LINE.match(line) for line in lines):
        return BuildFailure(FailureKind.MISSING_TOOL, "buildah is not installed",
                            ("Install it: `sudo apt install buildah` (Debian/Ubuntu) or "
                             "`sudo dnf install buildah` (Fedora).",))
    if timed_out:
        return BuildFailure(FailureKind.TIMEOUT, "the build did not finish in time and was stopped",
                            ("Run `spotidoctor build` again; the log shows the last step it reached.",))
    missing = find_missing_key(lines)
    if missing is not None:
        return _rotated(missing, lines, rebuild)
    for rule in _RULES:
        for line in lines:
            match = rule.pattern.search(line)
            if match:
                return BuildFailure(rule.kind, _format(rule, lines), rule.advice, line.strip()[:300], rule.url)
    step = _failed_step(lines)
    last = next((line.strip() for line in reversed(lines) if line.strip()), "")
    return BuildFailure(FailureKind.RECIPE,
                        f"the build failed at {step}" if step else f"the build failed (exit status {returncode})",
                        ("The full log shows the command's output; fix the recipe or the build arguments.",),
                        last[:300])
