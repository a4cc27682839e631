"""The desktop entry ``spotidoctor desktop install`` writes, as text (pure; no I/O).

Per the Desktop Entry Specification (1.5): an ``Exec`` argument with reserved characters is
put in double quotes, with the double quote, backtick, dollar sign and backslash escaped by a
backslash inside them; a literal percent sign is written twice; and the whole value is then
a string, whose backslashes are doubled once more.

``%U`` hands Spotify the links the desktop opens it with (``spotify:`` and
``https://open.spotify.com``); ``StartupWMClass=spotify`` groups the client's windows
(``WM_CLASS`` "spotify") under this entry; the "Quit Spotify" action runs ``spotidoctor stop``.
"""
from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence

from spotidoctor.errors import UsageError

__all__ = ["DESKTOP_ID", "ICON_NAME", "MIME_TYPE", "WM_CLASS", "exec_quote", "exec_line", "render_entry",
           "find_command"]

DESKTOP_ID = "spotidoctor-spotify.desktop"
ICON_NAME = "spotidoctor-spotify"
MIME_TYPE = "x-scheme-handler/spotify"
WM_CLASS = "spotify"
_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")
_INSIDE_QUOTES = re.compile(r'(["`$\\])')
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def exec_quote(arg: str) -> str:
    """One ``Exec`` argument, quoted as the specification asks (before string escaping)."""
    if _CONTROL.search(arg):
        raise UsageError(f"cannot put {arg!r} into a desktop entry: it has control characters")
    arg = arg.replace("%", "%%")
    if arg and not (_RESERVED & set(arg)):
        return arg
    return '"' + _INSIDE_QUOTES.sub(r"\\\1", arg) + '"'


def _string(value: str) -> str:
    """A desktop entry string value: backslashes doubled (the spec's ``\\\\``)."""
    if _CONTROL.search(value):
        raise UsageError(f"cannot put {value!r} into a desktop entry: it has control characters")
    return value.replace("\\", "\\\\")


def exec_line(argv: Sequence[str], field_code: str = "") -> str:
    """``argv`` as an Exec value, with a field code (``%U``) appended unquoted."""
    words = [exec_quote(a) for a in argv] + ([field_code] if field_code else [])
    return _string(" ".join(words))


def render_entry(command: Sequence[str], options: Sequence[str] = ()) -> str:
    """The .desktop file: ``command`` runs spotidoctor, ``options`` (``--container-name X``,
    ...) go to both ``launch`` and ``stop``."""
    launch = exec_line([*command, "launch", *options], "%U")
    stop = exec_line([*command, "stop", *options])
    return (
        "[Desktop Entry]\n"
        "Type=Application\n"
        "Name=Spotify\n"
        "GenericName=Music Player\n"
        "Comment=Spotify in a rootless podman container, started by spotidoctor\n"
        f"Exec={launch}\n"
        f"TryExec={_string(command[0])}\n"
        f"Icon={ICON_NAME}\n"
        "Terminal=false\n"
        "Categories=Audio;Music;Player;AudioVideo;\n"
        f"MimeType={MIME_TYPE};\n"
        f"StartupWMClass={WM_CLASS}\n"
        "StartupNotify=false\n"
        "Actions=quit;\n"
        "X-GNOME-UsesNotifications=true\n"
        "\n"
        "[Desktop Action quit]\n"
        "Name=Quit Spotify\n"
        f"Exec={stop}\n"
    )


def find_command(argv0: str, executable: str, which: Callable[[str], str | None]) -> tuple[str, ...]:
    """How the desktop starts this spotidoctor, as an absolute argv prefix: the script that
    runs now, else the one next to this Python (a venv's bin/), else the one on PATH, else
    ``python -m spotidoctor`` with this Python."""
    if os.path.basename(argv0) == "spotidoctor" and os.path.isabs(argv0) and os.access(argv0, os.X_OK):
        return (argv0,)
    beside = os.path.join(os.path.dirname(executable), "spotidoctor")
    if os.path.isabs(beside) and os.access(beside, os.X_OK):
        return (beside,)
    found = which("spotidoctor")
    if found:
        return (os.path.abspath(found),)
    return (os.path.abspath(executable), "-m", "spotidoctor")
