"""desktop.entry: spotidoctor's desktop entry is installed and still current."""
from __future__ import annotations

import os

from spotidoctor.api import Check, CheckResult, Context, FixAvailability, Message, Severity
from spotidoctor.daily.desktopentry import DESKTOP_ID, MIME_TYPE
from spotidoctor.daily.install import DesktopPlaces, Manifest, parse_manifest, sha256
from spotidoctor.daily.mimeapps import read_default
from spotidoctor.fixes import Fix, Instruction
from spotidoctor.types import JSONValue

INSTALL = "spotidoctor desktop install"


def _read(ctx: Context, path: str) -> bytes | None:
    try:
        return ctx.probes.fs.read_bytes(path, 4 << 20)
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError):
        return None


def install_fix(title: str) -> Fix:
    return Fix.manual("desktop.install", title, Instruction(f"Run `{INSTALL}`", text=f"Run `{INSTALL}`."))


class DesktopEntry(Check):
    """What it checks: `spotidoctor desktop install` made a desktop entry
    (`$XDG_DATA_HOME/applications/spotidoctor-spotify.desktop`) and it is current: unchanged
    since then, the spotidoctor it runs still exists and is executable, its icons are there,
    and it is the default handler for `spotify:` links (`mimeapps.list`).

    Why it matters: the entry starts Spotify from the application menu and opens `spotify:`
    links in it; a stale one (spotidoctor moved to another venv) starts nothing.

    Fix safety: manual: run `spotidoctor desktop install` (again); `spotidoctor desktop
    uninstall` removes exactly what it made.
    """

    id = "desktop.entry"
    title = "The desktop entry is installed and current"
    category = "desktop"
    severity = Severity.WARNING
    fix_availability = FixAvailability.ALWAYS

    def run(self, ctx: Context) -> CheckResult:
        places = DesktopPlaces.from_env(ctx.env, ctx.user.home, ctx.paths.state_dir)
        manifest = parse_manifest(_read(ctx, places.manifest_path))
        entry = _read(ctx, places.entry_path)
        if manifest is None:
            if entry is None:
                return self.warn("no desktop entry: Spotify is not in the application menu and spotify: links "
                                 "do not open it", Message.hint(f"`{INSTALL}` adds one."),
                                 fixes=(install_fix("Install the desktop entry"),))
            return self.warn(f"{places.entry_path} exists, but this spotidoctor has no record of installing it",
                             Message.hint(f"`{INSTALL}` replaces it and records what it wrote."),
                             fixes=(install_fix("Install the desktop entry again"),))
        problems = self._problems(ctx, places, manifest, entry)
        facts: dict[str, JSONValue] = {"desktop_entry": places.entry_path, "program": manifest.program,
                                       "current": not problems}
        if problems:
            return self.warn(problems[0], *(Message.error(p) for p in problems[1:]), facts=facts,
                             fixes=(install_fix("Install the desktop entry again"),))
        return self.ok(f"{places.entry_path} runs {manifest.program}; it opens spotify: links", facts=facts)

    @staticmethod
    def _problems(ctx: Context, places: DesktopPlaces, manifest: Manifest, entry: bytes | None) -> list[str]:
        fs = ctx.probes.fs
        problems = []
        if entry is None:
            problems.append(f"{places.entry_path} is gone")
        elif sha256(entry) != manifest.digest_of(places.entry_path):
            problems.append(f"{places.entry_path} was changed since `{INSTALL}` wrote it")
        program = manifest.program
        if not (os.path.isabs(program) and fs.access(program, os.X_OK) and not fs.is_dir(program)):
            problems.append(f"the entry runs {program}, which no longer exists or is not executable")
        missing = [path for path, _ in manifest.files if path != places.entry_path and not fs.exists(path)]
        if missing:
            problems.append(f"icon missing: {', '.join(missing)}")
        mimeapps = _read(ctx, places.mimeapps_path)
        handler = read_default((mimeapps or b"").decode("utf-8", errors="replace"), MIME_TYPE)
        if (handler or "").split(";")[0] != DESKTOP_ID:
            problems.append(f"spotify: links open {handler or 'nothing'}, not {DESKTOP_ID} ({places.mimeapps_path})")
        return problems
