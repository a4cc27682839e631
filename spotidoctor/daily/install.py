"""``spotidoctor desktop install|uninstall``: the desktop entry, its icons and the ``spotify:``
handler, with a manifest so that uninstall removes exactly what install made.

The manifest (``$XDG_STATE_HOME/spotidoctor/desktop-entry.json``) lists every file written
with its SHA-256, the directories install created, and the ``spotify:`` default handler
before the first install. Uninstall removes a file only while it still has that content
(one edited since is left and named), restores the previous handler only while ours is the
default, and removes the directories only when they are empty. Installing again replaces
the files, keeps the first "previous handler" and removes icons no longer written.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from spotidoctor.daily.desktopentry import DESKTOP_ID, ICON_NAME, MIME_TYPE, render_entry
from spotidoctor.daily.icons import FALLBACK_SVG, ImageIcons
from spotidoctor.daily.mimeapps import has_entries, read_default, with_default, xdg_mime_default
from spotidoctor.daily.userfiles import (
    make_dirs,
    read_user_file,
    remove_empty_dir,
    remove_user_file,
    write_user_file,
)
from spotidoctor.probes.command import CommandRunner
from spotidoctor.types import JSONValue

__all__ = ["DesktopPlaces", "Manifest", "InstallReport", "install", "uninstall", "load_manifest", "sha256",
           "MANIFEST_NAME", "MANIFEST_VERSION"]

MANIFEST_NAME = "desktop-entry.json"
MANIFEST_VERSION = 1


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _xdg(env: Mapping[str, str], name: str, home: str, default: str) -> str:
    value = env.get(name, "")
    return value if os.path.isabs(value) else os.path.join(home, default)  # relative values are ignored


@dataclass(frozen=True)
class DesktopPlaces:
    """Where the entry, the icons, the handler and the manifest go."""

    data_home: str
    config_home: str
    state_dir: str

    @classmethod
    def from_env(cls, env: Mapping[str, str], home: str, state_dir: str) -> DesktopPlaces:
        return cls(_xdg(env, "XDG_DATA_HOME", home, ".local/share"), _xdg(env, "XDG_CONFIG_HOME", home, ".config"),
                   state_dir)

    @property
    def entry_path(self) -> str:
        return os.path.join(self.data_home, "applications", DESKTOP_ID)

    @property
    def mimeapps_path(self) -> str:
        return os.path.join(self.config_home, "mimeapps.list")

    @property
    def manifest_path(self) -> str:
        return os.path.join(self.state_dir, MANIFEST_NAME)

    def png_path(self, size: int) -> str:
        return os.path.join(self.data_home, "icons", "hicolor", f"{size}x{size}", "apps", f"{ICON_NAME}.png")

    @property
    def svg_path(self) -> str:
        return os.path.join(self.data_home, "icons", "hicolor", "scalable", "apps", f"{ICON_NAME}.svg")

    def xdg_env(self) -> dict[str, str]:
        """For ``xdg-mime``: the same directories this install uses."""
        return {"XDG_DATA_HOME": self.data_home, "XDG_CONFIG_HOME": self.config_home}


@dataclass(frozen=True)
class Manifest:
    entry_path: str
    command: tuple[str, ...]  # how the entry starts spotidoctor (absolute program first)
    files: tuple[tuple[str, str], ...]  # (path, sha256) of everything written
    created_dirs: tuple[str, ...]
    mime_previous: str | None  # the spotify: handler before the first install
    mimeapps_created: bool  # mimeapps.list did not exist before
    icon_source: str

    @property
    def program(self) -> str:
        return self.command[0]

    def digest_of(self, path: str) -> str | None:
        return next((digest for p, digest in self.files if p == path), None)

    def to_json(self) -> dict[str, JSONValue]:
        return {"version": MANIFEST_VERSION, "entry_path": self.entry_path, "command": list(self.command),
                "files": [[p, d] for p, d in self.files], "created_dirs": list(self.created_dirs),
                "mime_previous": self.mime_previous, "mimeapps_created": self.mimeapps_created,
                "icon_source": self.icon_source}

    @classmethod
    def from_json(cls, data: object) -> Manifest | None:
        """None for anything that is not a manifest of this version."""
        if not isinstance(data, dict) or data.get("version") != MANIFEST_VERSION:
            return None
        try:
            files = tuple((str(p), str(d)) for p, d in data["files"])
            command = tuple(str(c) for c in data["command"])
            previous = data["mime_previous"]
            dirs = tuple(str(d) for d in data["created_dirs"])
            entry, created, source = data["entry_path"], data["mimeapps_created"], data["icon_source"]
        except (KeyError, TypeError, ValueError):
            return None
        if not command or not (previous is None or isinstance(previous, str)) or not isinstance(entry, str):
            return None
        return cls(entry, command, files, dirs, previous, bool(created), str(source))


def parse_manifest(raw: bytes | None) -> Manifest | None:
    if raw is None:
        return None
    try:
        return Manifest.from_json(json.loads(raw.decode("utf-8")))
    except (UnicodeDecodeError, ValueError):
        return None


def load_manifest(places: DesktopPlaces) -> Manifest | None:
    return parse_manifest(read_user_file(places.manifest_path))


@dataclass
class InstallReport:
    lines: list[str] = field(default_factory=list)  # what was done, for the user
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.warnings


def _planned_files(places: DesktopPlaces, command: Sequence[str], options: Sequence[str],
                   icons: ImageIcons) -> dict[str, bytes]:
    files = {places.entry_path: render_entry(command, options).encode()}
    if icons.pngs:
        files.update({places.png_path(size): data for size, data in icons.pngs.items()})
    else:
        files[places.svg_path] = FALLBACK_SVG.encode()
    return files


def _remove_if_unchanged(path: str, digest: str, report: InstallReport) -> None:
    current = read_user_file(path)
    if current is None:
        return
    if sha256(current) != digest:
        report.warnings.append(f"{path} was changed since spotidoctor wrote it: left in place")
        return
    if remove_user_file(path):
        report.lines.append(f"removed {path}")


def _register(cmd: CommandRunner, places: DesktopPlaces, report: InstallReport) -> None:
    """Make the entry the ``spotify:`` handler: ``xdg-mime`` when installed, else the same line
    written directly."""
    if cmd.which("xdg-mime"):
        problem = xdg_mime_default(cmd, DESKTOP_ID, MIME_TYPE, places.xdg_env())
        if problem is None:
            report.lines.append(f"registered {DESKTOP_ID} for spotify: links (xdg-mime default)")
            return
        report.warnings.append(f"xdg-mime default failed ({problem}); writing {places.mimeapps_path} directly")
    text = (read_user_file(places.mimeapps_path) or b"").decode("utf-8", errors="replace")
    write_user_file(places.mimeapps_path, with_default(text, MIME_TYPE, DESKTOP_ID).encode())
    report.lines.append(f"registered {DESKTOP_ID} for spotify: links in {places.mimeapps_path}")


def install(cmd: CommandRunner, places: DesktopPlaces, command: Sequence[str], options: Sequence[str],
            icons: ImageIcons) -> InstallReport:
    """Write the entry and icons, register the handler, save the manifest."""
    report = InstallReport()
    old = load_manifest(places)
    mimeapps = read_user_file(places.mimeapps_path)
    current_default = read_default((mimeapps or b"").decode("utf-8", errors="replace"), MIME_TYPE)
    files = _planned_files(places, command, options, icons)
    created: list[str] = [d for d in (old.created_dirs if old else ()) if os.path.isdir(d)]
    written: list[tuple[str, str]] = []
    for path, data in files.items():
        created += [d for d in make_dirs(os.path.dirname(path)) if d not in created]
        write_user_file(path, data)
        written.append((path, sha256(data)))
        report.lines.append(f"wrote {path}")
    for path, digest in (old.files if old else ()):
        if path not in files:
            _remove_if_unchanged(path, digest, report)
    created += [d for d in make_dirs(places.config_home) if d not in created]
    _register(cmd, places, report)
    created += [d for d in make_dirs(places.state_dir) if d not in created]
    manifest = Manifest(places.entry_path, tuple(command), tuple(written), tuple(created),
                        old.mime_previous if old else (None if current_default == DESKTOP_ID else current_default),
                        old.mimeapps_created if old else mimeapps is None, icons.note)
    write_user_file(places.manifest_path, json.dumps(manifest.to_json(), indent=1).encode(), mode=0o600)
    return report


def _unregister(places: DesktopPlaces, manifest: Manifest, report: InstallReport) -> None:
    raw = read_user_file(places.mimeapps_path)
    if raw is None:
        return
    text = raw.decode("utf-8", errors="replace")
    current = read_default(text, MIME_TYPE)
    if current is None or current.split(";")[0] != DESKTOP_ID:
        if current is not None:
            report.lines.append(f"spotify: links are opened by {current} now: left as it is")
        return
    new = with_default(text, MIME_TYPE, manifest.mime_previous)
    if manifest.mimeapps_created and not has_entries(new):
        remove_user_file(places.mimeapps_path)
        report.lines.append(f"removed {places.mimeapps_path} (spotidoctor created it)")
        return
    write_user_file(places.mimeapps_path, new.encode())
    restored = f"back to {manifest.mime_previous}" if manifest.mime_previous else "no handler set"
    report.lines.append(f"spotify: links: {restored} ({places.mimeapps_path})")


def uninstall(places: DesktopPlaces) -> InstallReport | None:
    """Undo ``install``; None when there is no manifest (nothing spotidoctor installed)."""
    manifest = load_manifest(places)
    if manifest is None:
        return None
    report = InstallReport()
    for path, digest in manifest.files:
        _remove_if_unchanged(path, digest, report)
    _unregister(places, manifest, report)
    remove_user_file(places.manifest_path)
    for directory in sorted(manifest.created_dirs, key=len, reverse=True):
        if remove_empty_dir(directory):
            report.lines.append(f"removed the empty directory {directory}")
    return report
