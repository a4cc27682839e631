"""``spotidoctor desktop install|uninstall``: Spotify in the application menu, and the handler
for ``spotify:`` links (``spotidoctor.daily.install``)."""
from __future__ import annotations

import os
import sys
from typing import TextIO

from spotidoctor.api import Context
from spotidoctor.backend.images import Presence, lookup_image
from spotidoctor.commands.options import DesktopOptions
from spotidoctor.daily.desktopentry import find_command
from spotidoctor.daily.icons import ImageIcons, extract_icons
from spotidoctor.daily.install import DesktopPlaces, InstallReport, install, uninstall
from spotidoctor.daily.userfiles import UnsafePlace
from spotidoctor.engine.session import SessionOptions, make_context
from spotidoctor.errors import UsageError
from spotidoctor.exitcodes import ExitCode

VALIDATE_TIMEOUT_S = 20.0
AS_ROOT = "spotidoctor desktop {action} installs for one user: run it as that user, not as root."


def entry_options(session: SessionOptions) -> tuple[str, ...]:
    """The options given to this command that the entry's launch and stop need too."""
    pairs = (("--config", session.config_path and os.path.abspath(session.config_path)),
             ("--image", session.image), ("--container-name", session.container_name),
             ("--storage-dir", session.storage_dir and os.path.abspath(os.path.expanduser(session.storage_dir))),
             ("--uid", None if session.container_uid is None else str(session.container_uid)),
             ("--profile", session.profile))
    return tuple(item for flag, value in pairs if value for item in (flag, value))


def icons_for(ctx: Context) -> ImageIcons:
    found = lookup_image(ctx)
    if found.presence is not Presence.PRESENT:
        return ImageIcons({}, f"{ctx.config.image} is not built yet: spotidoctor's own icon (install again "
                              "after the first launch to get Spotify's)")
    return extract_icons(ctx.probes.cmd, ctx.config.image, scratch_parent=ctx.paths.xdg_runtime_dir)


def _validate(ctx: Context, path: str) -> str | None:
    """desktop-file-validate's complaint, when it is installed and has one."""
    if not ctx.probes.cmd.which("desktop-file-validate"):
        return None
    done = ctx.probes.cmd.run(("desktop-file-validate", path), timeout=VALIDATE_TIMEOUT_S)
    return None if done.ok and not done.stdout.strip() else (done.stdout.strip() or done.error_text())


def _show(report: InstallReport, out: TextIO) -> None:
    for line in report.lines:
        print(f"  {line}", file=out)
    for line in report.warnings:
        print(f"  warning: {line}", file=out)


def run_install(ctx: Context, options: DesktopOptions, out: TextIO) -> int:
    places = DesktopPlaces.from_env(ctx.env, ctx.user.home, ctx.paths.state_dir)
    command = find_command(sys.argv[0], sys.executable, ctx.probes.cmd.which)
    icons = icons_for(ctx)
    report = install(ctx.probes.cmd, places, command, entry_options(options.session), icons)
    print(f"Installed the desktop entry {places.entry_path}", file=out)
    print(f"  icon: {icons.note}", file=out)
    _show(report, out)
    complaint = _validate(ctx, places.entry_path)
    if complaint:
        print(f"  warning: desktop-file-validate: {complaint}", file=out)
    print("Spotify is in your application menu; spotify: links open it. "
          "`spotidoctor desktop uninstall` removes it again.", file=out)
    return int(ExitCode.OK if report.ok and not complaint else ExitCode.PROBLEMS)


def run_uninstall(ctx: Context, out: TextIO) -> int:
    places = DesktopPlaces.from_env(ctx.env, ctx.user.home, ctx.paths.state_dir)
    report = uninstall(places)
    if report is None:
        print(f"Nothing to remove: spotidoctor has no record of installing a desktop entry "
              f"({places.manifest_path}).", file=out)
        return int(ExitCode.OK)
    print(f"Removed the desktop entry {places.entry_path}", file=out)
    _show(report, out)
    return int(ExitCode.OK if report.ok else ExitCode.PROBLEMS)


def run(options: DesktopOptions, out: TextIO = sys.stdout) -> int:
    if os.geteuid() == 0:
        raise UsageError(AS_ROOT.format(action=options.action))
    ctx = make_context(options.session)
    try:
        if options.action == "install":
            return run_install(ctx, options, out)
        return run_uninstall(ctx, out)
    except (UnsafePlace, UsageError) as exc:
        print(f"spotidoctor desktop {options.action}: {exc}", file=out)
        return int(ExitCode.PROBLEMS)
