"""Which application opens ``spotify:`` links: ``mimeapps.list`` and ``xdg-mime``.

The default handler is a line ``MIME=ID.desktop;...`` in the ``[Default Applications]`` group
of ``$XDG_CONFIG_HOME/mimeapps.list`` (freedesktop.org "Association between MIME types and
applications"); ``xdg-mime default ID MIME`` writes exactly that, and ``xdg-mime query
default MIME`` reads it back (naming only a desktop file that exists). spotidoctor registers
with ``xdg-mime`` and, to undo it, edits only that one line itself (``xdg-mime`` cannot
remove a default).
"""
from __future__ import annotations

from collections.abc import Mapping

from spotidoctor.probes.command import CommandRunner

__all__ = ["DEFAULT_GROUP", "read_default", "with_default", "has_entries", "xdg_mime_default", "xdg_mime_query",
           "XDG_MIME_TIMEOUT_S"]

DEFAULT_GROUP = "[Default Applications]"
XDG_MIME_TIMEOUT_S = 20.0


def _group_of(lines: list[str]) -> list[str | None]:
    """The group each line belongs to (None before the first header)."""
    groups: list[str | None] = []
    current: str | None = None
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            current = stripped
        groups.append(current)
    return groups


def read_default(text: str, mime: str) -> str | None:
    """The value of ``mime`` in ``[Default Applications]`` (the first, as readers take it)."""
    lines = text.splitlines()
    for line, group in zip(lines, _group_of(lines), strict=True):
        key, equals, value = line.partition("=")
        if group == DEFAULT_GROUP and equals and key.strip() == mime:
            return value.strip()
    return None


def with_default(text: str, mime: str, value: str | None) -> str:
    """``text`` with ``mime``'s default set to ``value`` (None: the line removed); every other
    line stays as it was."""
    lines = text.splitlines(keepends=True)
    groups = _group_of([line.rstrip("\n") for line in lines])
    out: list[str] = []
    done = False
    for line, group in zip(lines, groups, strict=True):
        key, equals, _ = line.partition("=")
        if group == DEFAULT_GROUP and equals and key.strip() == mime:
            if value is not None and not done:
                out.append(f"{mime}={value}\n")
            done = True
            continue
        out.append(line)
    if done or value is None:
        return "".join(out)
    if out and not out[-1].endswith("\n"):
        out[-1] += "\n"
    if DEFAULT_GROUP in groups:  # add it at the end of the existing group
        last = max(i for i, g in enumerate(groups) if g == DEFAULT_GROUP)
        out.insert(last + 1, f"{mime}={value}\n")
        return "".join(out)
    return "".join(out) + ("\n" if out else "") + f"{DEFAULT_GROUP}\n{mime}={value}\n"


def has_entries(text: str) -> bool:
    """Any association left (a key=value line)?"""
    return any("=" in line and not line.lstrip().startswith("#") for line in text.splitlines())


def xdg_mime_default(cmd: CommandRunner, desktop_id: str, mime: str, env: Mapping[str, str]) -> str | None:
    """``xdg-mime default``; None on success, else why it failed."""
    done = cmd.run(("xdg-mime", "default", desktop_id, mime), timeout=XDG_MIME_TIMEOUT_S, env=env)
    return None if done.ok else done.error_text()


def xdg_mime_query(cmd: CommandRunner, mime: str, env: Mapping[str, str]) -> str | None:
    """The desktop file ``xdg-mime`` says opens ``mime``; None when none or it failed."""
    done = cmd.run(("xdg-mime", "query", "default", mime), timeout=XDG_MIME_TIMEOUT_S, env=env)
    answer = done.stdout.strip()
    return answer if done.ok and answer else None
