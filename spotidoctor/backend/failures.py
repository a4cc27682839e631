"""Explain a failed image build from its log: the cause in one sentence, the log line that
shows it, and one piece of advice that fits the command the user ran (``build``, ``fix`` or
``launch``). Pure functions over the log lines; the rules are in ``failrules``, each tested
on a real log.
"""
from __future__ import annotations

import os
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import Enum

from spotidoctor.backend.failrules import RULES, FailureKind, Rule
from spotidoctor.backend.keyrotation import MissingKey, find_missing_key, key_url_guess
from spotidoctor.backend.recipe import KEY_URL_ARG, SPOTIFY_DOWNLOAD_URL

__all__ = ["FailureKind", "BuildFailure", "Command", "classify", "explain", "fix_failure_text", "STEP_LINE"]

STEP_LINE = re.compile(r"^(?:\[(?P<stage>\d+)/(?P<stages>\d+)\] )?STEP (?P<step>\d+)/(?P<steps>\d+): (?P<what>.*)$")
_FAILED_STEP = re.compile(r'(?:error building|building) at STEP "(?P<step>.*)"')
_QUOTABLE = ("E: ", "W: ", "Error", "curl: ", "Err:")  # lines that state a cause themselves
_KEY_PLACEHOLDER = "https://download.spotify.com/debian/pubkey_<KEYID>.gpg"
_EVIDENCE_MAX = 300


class Command(str, Enum):
    """What the user ran when the build happened: the advice names what to run next."""

    BUILD = "build"
    FIX = "fix"
    LAUNCH = "launch"


@dataclass(frozen=True)
class BuildFailure:
    kind: FailureKind
    summary: str
    advice: tuple[str, ...] = ()  # templates: "{again}" is the command to run next
    evidence: str = ""  # the log line that decided it
    url: str | None = None
    rebuild: tuple[str, ...] = ("spotidoctor", "build")  # the build as it was run (argv)
    key_url: str = ""  # for a rotated key: the new key's likely URL

    def again(self, command: Command) -> str:
        if command is Command.FIX:
            return "spotidoctor fix image"
        if command is Command.LAUNCH:
            return "spotidoctor launch"
        return shlex.join(self.rebuild)

    def advice_for(self, command: Command) -> tuple[str, ...]:
        """The advice, with the command to run next filled in."""
        if self.kind is FailureKind.SIGNING_KEY:
            return _key_advice(self, command)
        again = self.again(command)
        return tuple(line.replace("{again}", again) for line in self.advice)


def _without_key_url(argv: Sequence[str]) -> list[str]:
    kept: list[str] = []
    for arg in argv:
        if arg.startswith(f"{KEY_URL_ARG}=") and kept and kept[-1] == "--build-arg":
            kept.pop()
            continue
        kept.append(arg)
    return kept


def _key_advice(failure: BuildFailure, command: Command) -> tuple[str, ...]:
    url = failure.key_url or _KEY_PLACEHOLDER
    names = ("(Spotify has published its keys as pubkey_<KEYID>.gpg or .asc: use the file name the page shows.)"
             if failure.key_url else "")
    if command is Command.BUILD:
        rebuild = shlex.join([*_without_key_url(failure.rebuild), "--build-arg", f"{KEY_URL_ARG}={url}"])
        keep = f"Put \"{KEY_URL_ARG}=...\" into build_args in config.toml so launches rebuild with it."
        return (f"Take the new key's URL from Spotify's official download page, {SPOTIFY_DOWNLOAD_URL}, and rebuild:",
                rebuild, f"{names} {keep}".strip())
    return (f"Take the new key's URL from Spotify's official download page, {SPOTIFY_DOWNLOAD_URL}, put it into "
            f"config.toml as build_args = [\"{KEY_URL_ARG}={url}\"], then run `{failure.again(command)}`.",
            *((names,) if names else ()))


def _canonical(groups: dict[str, str | None]) -> dict[str, str]:
    """Named groups with their numbered alternatives folded in (host2 fills host)."""
    values: dict[str, str] = {}
    for name, value in groups.items():
        key = name.rstrip("0123456789")
        if value and key not in values:
            values[key] = value
    return values


def _disk_path(path: str) -> str:
    """Where to look for the space: the storage root or temp dir, not the vanished file."""
    for marker in ("/containers/storage", "/var/tmp", "/tmp"):
        head, found, _ = path.partition(marker)
        if found:
            return head + marker
    return os.path.dirname(path) or path


def _glued_start(line: str, match: re.Match[str]) -> int:
    """Where apt's own message starts when it was glued to the end of another line: apt writes
    "Reading package lists..." to stdout without a newline and "E: ..." to stderr, and the
    build log interleaves the two ("Reading package lists...E: Unable to locate package x")."""
    starts = [line.rfind(marker, 0, match.start() + len(marker)) for marker in _QUOTABLE]
    return max(0, *starts)


def _quote(line: str, match: re.Match[str]) -> str:
    """The log line (from apt's own message when another line was glued before it), cut around
    what matched when it is long (buildah's lines can be kilobytes)."""
    start_at = _glued_start(line, match)
    if start_at and line[:start_at].strip():
        line, match_end = line[start_at:], match.end() - start_at
    else:
        match_end = match.end()
    text = line.strip()
    if len(text) <= _EVIDENCE_MAX:
        return text
    offset = len(line) - len(line.lstrip())
    end = min(len(text), match_end - offset + 80)
    start = max(0, end - _EVIDENCE_MAX)
    return ("…" if start else "") + text[start:end] + ("…" if end < len(text) else "")


def _apply(rule: Rule, lines: Sequence[str]) -> tuple[str, str, str] | None:
    """(summary, advice, evidence) when the rule matches a line; the values of its named groups
    come from every line it matches (apt names the URL on one line, the error on the next)."""
    matching = [(line, m) for line in lines for m in [rule.pattern.search(line)] if m]
    if not matching:
        return None
    values: dict[str, str] = dict(rule.defaults)
    found: dict[str, str] = {}
    for _, match in matching:
        for key, value in _canonical(match.groupdict()).items():
            found.setdefault(key, value)
    values.update(found)
    if rule.kind is FailureKind.DISK and "path" in found:
        values["path"] = _disk_path(found["path"])
    line, match = next(((ln, m) for ln, m in matching if ln.lstrip().startswith(_QUOTABLE)), matching[0])
    fields = _Fields(values)
    return rule.summary.format_map(fields), rule.advice.format_map(fields), _quote(line, match)


class _Fields(dict[str, str]):
    """Rule text fields; ``{again}`` stays for ``advice_for``."""

    def __missing__(self, key: str) -> str:
        return "{again}" if key == "again" else "?"


def _failed_step(lines: Sequence[str]) -> str:
    for line in reversed(lines):
        match = _FAILED_STEP.search(line)
        if match:
            return match.group("step")
    steps = [m.group("what") for m in map(STEP_LINE.match, lines) if m]
    return steps[-1] if steps else ""


def _rotated(missing: MissingKey, lines: Sequence[str]) -> BuildFailure:
    where = f" ({missing.repository})" if missing.repository else ""
    return BuildFailure(
        FailureKind.SIGNING_KEY,
        f"Spotify's repository{where} is signed with key {missing.named}, which this build does not have: "
        "Spotify has rotated its signing key",
        evidence=next((line.strip()[:_EVIDENCE_MAX] for line in lines if missing.named in line.upper()), ""),
        url=SPOTIFY_DOWNLOAD_URL, key_url=key_url_guess(missing.key_id))


def _recipe_failure(lines: Sequence[str], returncode: int, bundled: bool) -> BuildFailure:
    step = _failed_step(lines)
    last = next((line.strip() for line in reversed(lines) if line.strip() and not line.startswith(("# ", "$ "))), "")
    advice = ("This looks like a fault in spotidoctor's own recipe: `spotidoctor report` collects what a bug "
              "report needs." if bundled else
              "The log shows the failing command's output: fix your Containerfile, then run `{again}`.")
    return BuildFailure(FailureKind.RECIPE,
                        f"the build failed at {step}" if step else f"the build failed (exit status {returncode})",
                        (advice,), last[:_EVIDENCE_MAX])


def classify(lines: Sequence[str], returncode: int, timed_out: bool = False,
             rebuild: Sequence[str] = ("spotidoctor", "build")) -> BuildFailure:
    """Why the build failed: the first rule (in ``failrules.RULES`` order) that matches a line.
    ``rebuild`` is the build command as run (for advice after ``spotidoctor build``)."""
    failure = replace(_classify(lines, returncode, timed_out, "--containerfile" not in rebuild), rebuild=tuple(rebuild))
    if failure.kind in _NETWORK_KINDS and _without_network(rebuild):
        return replace(failure, advice=("The build ran with --network none, so its RUN steps had no network at all: "
                                        "build without that option.",))
    return failure


_NETWORK_KINDS = frozenset({FailureKind.DNS, FailureKind.NETWORK, FailureKind.PROXY, FailureKind.TLS})


def _without_network(argv: Sequence[str]) -> bool:
    pairs = zip(argv, [*argv[1:], ""], strict=True)
    return "--network=none" in argv or any(a == "--network" and b == "none" for a, b in pairs)


def _classify(lines: Sequence[str], returncode: int, timed_out: bool, bundled: bool) -> BuildFailure:
    if returncode == 127 and not any(STEP_LINE.match(line) for line in lines):
        return BuildFailure(FailureKind.MISSING_TOOL, "buildah is not installed",
                            ("Install it (`sudo apt install buildah` on Debian/Ubuntu, `sudo dnf install buildah` "
                             "on Fedora), then run `{again}`.",))
    if timed_out:
        return BuildFailure(FailureKind.TIMEOUT, "the build did not finish in time and was stopped",
                            ("The log shows the last step it reached; run `{again}` to try again.",))
    missing = find_missing_key(lines)
    if missing is not None:
        return _rotated(missing, lines)
    for rule in RULES:
        applied = _apply(rule, lines)
        if applied is not None:
            summary, advice, evidence = applied
            url = SPOTIFY_DOWNLOAD_URL if rule.kind is FailureKind.SIGNING_KEY else None
            return BuildFailure(rule.kind, summary, (advice,), evidence, url)
    return _recipe_failure(lines, returncode, bundled)


def explain(failure: BuildFailure, command: Command, image: str, log_path: str) -> list[str]:
    """What ``build``, ``launch`` and ``fix`` print: the cause, the log line, the advice, the log."""
    lines = [f"Build of {image} failed: {failure.summary}"]
    if failure.evidence:
        lines.append(f"  {failure.evidence}")
    advice = failure.advice_for(command)
    if advice:
        lines.append(f"  → {advice[0]}")
        lines += [f"    {more}" for more in advice[1:]]
    if failure.url:
        lines.append(f"  see {failure.url}")
    lines.append(f"Full log: {log_path}")
    return lines


def fix_failure_text(failure: BuildFailure, image: str, log_path: str) -> str:
    """The failed fix step's outcome: the same explanation, indented under the step's line."""
    first, *rest = explain(failure, Command.FIX, image, log_path)
    return "\n      ".join([first.removeprefix(f"Build of {image} failed: "), *(r.strip() for r in rest)])
