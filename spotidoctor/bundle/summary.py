"""``summary.md``: paste-ready Markdown for an issue (nix-info style, then the findings).

Host facts are parsed from the collected texts; a parser that does not understand its
input says "unknown" instead of failing. The whole document is redacted afterwards with
everything else.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from spotidoctor import __version__
from spotidoctor.bundle.collect import Item, ItemStatus, ManifestEntry
from spotidoctor.fixes import Applicability, RunCommand
from spotidoctor.model import CheckResult, MessageKind, Status
from spotidoctor.render import summary_line

UNKNOWN = "unknown"
STATUS_MARK = {Status.OK: "✓", Status.WARN: "!", Status.FAIL: "✗", Status.SKIP: "-", Status.ERROR: "?"}
CRASH_NAMESPACE = "crash."
REDACTION_ON = "on (user and host names, home paths, machine id, IP/MAC addresses are tokens)"


def _field(text: str | None, label: str) -> str | None:
    """``Label: value`` (pactl, podman, buildah style); the first match."""
    if not text:
        return None
    match = re.search(rf"^\s*{re.escape(label)}:\s*(.+?)\s*$", text, re.M)
    return match.group(1) if match else None


def distribution(texts: Mapping[str, str]) -> str:
    text = texts.get("facts/system/os-release", "")
    match = re.search(r'^PRETTY_NAME="?([^"\n]*)"?', text, re.M)
    return match.group(1) if match else UNKNOWN


def kernel(texts: Mapping[str, str]) -> str:
    line = texts.get("facts/system/uname.txt", "").split("\n--- stderr ---")[0].strip()
    return line.splitlines()[0] if line else UNKNOWN


def podman_info(texts: Mapping[str, str]) -> dict[str, object]:
    try:
        data = json.loads(texts.get("facts/podman/info.json", "").split("\n--- stderr ---")[0])
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _get(data: object, *path: str) -> object:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def oci_runtime(info: Mapping[str, object]) -> str:
    name = _get(info, "host", "ociRuntime", "name")
    version = str(_get(info, "host", "ociRuntime", "version") or "").splitlines()
    if not name:
        return UNKNOWN
    return f"{name} ({version[0]})" if version else str(name)


def pulse_server(texts: Mapping[str, str]) -> str:
    text = texts.get("facts/pulse/pactl-info.txt")
    name, version = _field(text, "Server Name"), _field(text, "Server Version")
    if name:
        return f"{name} {version or ''}".strip()
    return "not reachable" + (f" ({_first_line(text)})" if text else "")


def x_server(texts: Mapping[str, str]) -> str:
    text = texts.get("facts/x11/xdpyinfo.txt")
    vendor, release = _field(text, "vendor string"), _field(text, "vendor release number")
    if vendor:
        return f"{vendor} (release {release or '?'})"
    return "not reachable" + (f" ({_first_line(text)})" if text else "")


def x_extensions(texts: Mapping[str, str]) -> str:
    text = texts.get("facts/x11/xdpyinfo.txt") or ""
    count = _field(text, "number of extensions")
    if not count:
        return UNKNOWN
    notable = [e for e in ("MIT-SHM", "XWAYLAND", "GLX", "DRI3", "Present") if re.search(rf"^\s+{e}\s*$", text, re.M)]
    return f"{count} ({', '.join(notable) or 'none of MIT-SHM/XWAYLAND/GLX/DRI3/Present'})"


def x_access_control(texts: Mapping[str, str]) -> str:
    text = texts.get("facts/x11/xhost.txt")
    first = _first_line(text)
    if not first or "unable to open display" in first:
        return UNKNOWN if not first else "not reachable"
    entries = [line for line in (text or "").split("\n--- stderr ---")[0].splitlines()[1:] if line.strip()]
    return f"{first} ({len(entries)} entr{'y' if len(entries) == 1 else 'ies'})"


def _first_line(text: str | None) -> str:
    for line in (text or "").splitlines():
        if line.strip() and line.strip() != "--- stderr ---":
            return line.strip()
    return ""


def image_labels(texts: Mapping[str, str]) -> str:
    text = texts.get("facts/image/inspect.json")
    if text is None:
        return UNKNOWN
    body, _, stderr = text.partition("\n--- stderr ---")
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if not isinstance(data, list) or not data or not isinstance(data[0], dict):
        reason = _first_line(stderr) or _first_line(body if data is None else "")
        return f"not available ({reason})" if reason else "not available"
    image = data[0]
    labels = _get(image, "Labels") or _get(image, "Config", "Labels") or {}
    shown = ", ".join(f"{k}={v}" for k, v in sorted(labels.items())[:8]) if isinstance(labels, dict) else ""
    return f"created {image.get('Created') or '?'}; labels: {shown or 'none'}"


def last_launch(texts: Mapping[str, str]) -> str:
    try:
        data = json.loads(texts.get("facts/crash/last-launch.json", ""))
    except ValueError:
        return UNKNOWN
    if not isinstance(data, dict) or not data.get("launch_id"):
        return "none recorded"
    return f"{data['launch_id']}: exit code {data.get('exit_code')}, image {data.get('image') or '?'}"


def _why_missing(entries: Mapping[str, ManifestEntry], name: str) -> str | None:
    """"timed out after 5s" / "command not found" when the item behind a fact has no answer."""
    entry = entries.get(name)
    if entry is None or entry.status in (ItemStatus.COLLECTED, ItemStatus.TRUNCATED, ItemStatus.FAILED):
        return None
    return entry.reason.split(";")[0]


def host_facts(texts: Mapping[str, str], entries: Mapping[str, ManifestEntry] | None = None) -> list[tuple[str, str]]:
    facts = _host_facts(texts)
    sources = {"podman": "facts/podman/version.txt", "buildah": "facts/podman/buildah-version.txt",
               "OCI runtime": "facts/podman/info.json", "pulse server": "facts/pulse/pactl-info.txt",
               "X server": "facts/x11/xdpyinfo.txt", "X access control": "facts/x11/xhost.txt",
               "image": "facts/image/inspect.json"}
    annotated = []
    for label, value in facts:
        why = _why_missing(entries or {}, sources.get(label, ""))
        if why and value in (UNKNOWN, "not available", "not reachable"):
            value = f"{value} ({why})"
        annotated.append((label, value))
    return annotated


def _host_facts(texts: Mapping[str, str]) -> list[tuple[str, str]]:
    info = podman_info(texts)
    rows: list[tuple[str, Callable[[], object]]] = [
        ("distribution", lambda: distribution(texts)),
        ("kernel", lambda: kernel(texts)),
        ("podman", lambda: _get(info, "version", "Version") or _field(texts.get("facts/podman/version.txt"), "Version")
         or "not available"),
        ("buildah", lambda: _field(texts.get("facts/podman/buildah-version.txt"), "Version") or "not available"),
        ("OCI runtime", lambda: oci_runtime(info)),
        ("cgroups", lambda: _field(texts.get("facts/system/cgroup.txt"), "mode") or UNKNOWN),
        ("cgroup manager / version (podman)", lambda: f"{_get(info, 'host', 'cgroupManager')} / "
                                                      f"{_get(info, 'host', 'cgroupVersion')}" if info else None),
        ("rootless", lambda: _get(info, "host", "security", "rootless")),
        ("storage driver", lambda: _get(info, "store", "graphDriverName")),
        ("subuid", lambda: texts.get("facts/userns/subuid", "").strip().replace("\n", "; ") or "no entry"),
        ("subgid", lambda: texts.get("facts/userns/subgid", "").strip().replace("\n", "; ") or "no entry"),
        ("pulse server", lambda: pulse_server(texts)),
        ("X server", lambda: x_server(texts)),
        ("X extensions", lambda: x_extensions(texts)),
        ("X access control", lambda: x_access_control(texts)),
        ("image", lambda: image_labels(texts)),
        ("last launch", lambda: last_launch(texts)),
        ("Spotify logged in", lambda: _field(texts.get("facts/storage/spotify-login.txt"), "logged in") or UNKNOWN),
    ]
    facts = []
    for label, compute in rows:
        try:
            value = compute()
        except Exception:  # a surprising format must not cost the whole summary
            value = UNKNOWN
        facts.append((label, UNKNOWN if value is None or value == "" else str(value)))
    return facts


# -- rendering ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class SummaryInput:
    results: Sequence[CheckResult]
    items: Sequence[Item]
    redacted: bool
    created: str


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _result_block(result: CheckResult) -> list[str]:
    lines = [f"### {STATUS_MARK[result.status]} `{result.check_id}` ({result.status.value}): {_cell(result.summary)}"]
    for message in result.messages:
        if message.kind is MessageKind.INFO:
            continue
        lines.append(f"- {message.text}")
        lines += [f"  - → {advice}" for advice in message.advice]
        if message.url:
            lines.append(f"  - see {message.url}")
    for fix in result.fixes:
        lines.append(f"- fix ({fix.applicability.label}, {fix.privilege.label}): {fix.title}")
        if fix.applicability is Applicability.MANUAL:
            lines += [f"  - `{step.command_line()}`" if isinstance(step, RunCommand) else f"  - {step.description}"
                      for step in fix.steps]
    return lines + [""]


def render(data: SummaryInput) -> str:
    texts = {i.entry.name: i.text for i in data.items if i.text is not None}
    entries = {i.entry.name: i.entry for i in data.items}
    results = list(data.results)
    problems = [r for r in results if r.status in (Status.WARN, Status.FAIL, Status.ERROR)
                and not r.check_id.startswith(CRASH_NAMESPACE)]
    crashes = [r for r in results if r.check_id.startswith(CRASH_NAMESPACE)]
    lines = [
        "# spotidoctor bug report", "",
        f"- spotidoctor {__version__}, report created {data.created}",
        f"- redaction: {REDACTION_ON if data.redacted else 'OFF (--no-redact)'}",
        f"- result: {summary_line(results)}", "",
        "## Host", "", "| fact | value |", "|---|---|",
        *(f"| {label} | {_cell(value)} |" for label, value in host_facts(texts, entries)), "",
        "## Crash verdicts", "",
    ]
    if crashes:
        for result in crashes:
            lines += _result_block(result)
    else:
        lines += ["No crash checks ran.", ""]
    lines += ["## Problems", ""]
    lines += [line for r in problems for line in _result_block(r)] or ["None: every check passed or was skipped.", ""]
    lines += ["## All results", "", "| check | status | summary |", "|---|---|---|"]
    lines += [f"| `{r.check_id}` | {r.status.value} | {_cell(r.summary)} |" for r in results]
    lines += ["", "## Bundle", ""] + _bundle_lines(data.items)
    return "\n".join(lines) + "\n"


def _bundle_lines(items: Sequence[Item]) -> list[str]:
    tally = {status: 0 for status in ItemStatus}
    for item in items:
        tally[item.entry.status] += 1
    counts = ", ".join(f"{n} {s.value}" for s, n in tally.items() if n)
    gaps = (ItemStatus.SKIPPED, ItemStatus.TIMED_OUT, ItemStatus.FAILED)
    missing = [i.entry for i in items if i.entry.status in gaps]
    lines = [f"{len(items)} items: {counts or 'none'}. Details per item in `manifest.json`.", ""]
    lines += [f"- `{e.name}`: {e.status.value}, {e.reason}" for e in missing[:40]]
    if len(missing) > 40:
        lines.append(f"- ... {len(missing) - 40} more in manifest.json")
    return lines
