"""What a bug report holds about X11 (declared by ``x11.display``): ``xdpyinfo`` without
the visual dumps, the ``xhost`` listing (read-only) and the socket and cookie file states."""
from __future__ import annotations

import os

from spotidoctor import layout
from spotidoctor.api import Context
from spotidoctor.bundle.sources import display_number, generated, lstat_text
from spotidoctor.bundle.spec import BundleSpec

# xdpyinfo's visual dumps are long and say nothing about why Spotify cannot connect.
XDPYINFO_KEEP = r"^(?!\s+(?:visual(?: id)?:|class:|depth:|available colormap|red, green, blue|significant bits))"


def x11_evidence(spec: BundleSpec, ctx: Context) -> None:
    spec.add_command(("xdpyinfo",), "x11/xdpyinfo.txt", timeout_s=5, only_lines_matching=XDPYINFO_KEEP,
                     max_bytes=64 * 1024)
    spec.add_command(("xhost",), "x11/xhost.txt", timeout_s=5)
    generated(spec, "x11/files.txt", lambda: x11_files_text(ctx))


def x11_files_text(ctx: Context) -> str:
    display = ctx.env.get("DISPLAY")
    number = display_number(display)
    xauthority = ctx.env.get("XAUTHORITY") or os.path.join(ctx.user.home, ".Xauthority")
    lines = [f"DISPLAY: {display if display is not None else '(not set)'}"]
    if number is not None:
        socket = f"/tmp/.X11-unix/X{number}"
        lines.append(f"socket {socket}: {lstat_text(ctx, socket)}")
        lines.append(f"container cookie file {layout.x11_cookie(ctx.paths, number)}: "
                     f"{lstat_text(ctx, layout.x11_cookie(ctx.paths, number))}")
    lines.append(f"Xauthority {xauthority}: {lstat_text(ctx, xauthority)} (contents never collected)")
    lines.append(f"/tmp/.X11-unix: {lstat_text(ctx, '/tmp/.X11-unix')}")
    return "\n".join(lines) + "\n"
