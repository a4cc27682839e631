"""Map everything that reaches the top to an exit code; never show a traceback on bad input.

Internal errors (bugs) write a Markdown crash log under ``$XDG_STATE_HOME/spotidoctor/``
and print a one-line pointer to it (pre-commit's ``error_handler``).
"""
from __future__ import annotations

import os
import platform
import sys
import time
import traceback
from collections.abc import Callable, Sequence

from spotidoctor import ISSUES_URL, __version__
from spotidoctor.errors import SpotidoctorError
from spotidoctor.exitcodes import ExitCode
from spotidoctor.privatefs import write_private


def _state_dir() -> str:
    base = os.environ.get("XDG_STATE_HOME", "")
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "spotidoctor")


def write_crash_log(argv: Sequence[str], exc: BaseException) -> str | None:
    body = (
        f"# spotidoctor crash\n\n"
        f"- version: {__version__}\n- python: {platform.python_version()}\n"
        f"- platform: {platform.platform()}\n- time: {time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n"
        f"- argv: {' '.join(argv)}\n\n```\n{''.join(traceback.format_exception(exc))}```\n"
    )
    try:
        path = os.path.join(_state_dir(), f"crash-{time.strftime('%Y%m%d-%H%M%S')}.md")
        write_private(path, body.encode(), mode=0o600, tighten=True)  # only into our own private state directory
        return path
    except OSError:
        return None


def guarded(body: Callable[[], int], argv: Sequence[str]) -> int:
    try:
        return body()
    except SpotidoctorError as exc:
        print(f"spotidoctor: error: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print("spotidoctor: interrupted", file=sys.stderr)
        return int(ExitCode.INTERRUPTED)
    except BrokenPipeError:
        raise  # `spotidoctor check | head`: the command line ends quietly (cli.main)
    except Exception as exc:
        path = write_crash_log(argv, exc)
        where = f"details in {path}" if path else "and the crash log could not be written"
        print(f"spotidoctor: internal error ({type(exc).__name__}: {exc}); {where}. "
              f"Please report it at {ISSUES_URL}", file=sys.stderr)
        return int(ExitCode.INTERNAL)
