"""Exit codes. Stable: scripts rely on them; docs/usage.md, the man page and ``--help`` list them."""
from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0  # no problems (warnings allowed)
    PROBLEMS = 1  # at least one error-severity check failed (or could not run)
    USAGE = 2  # bad command line or configuration file
    INTERNAL = 3  # a bug in spotidoctor; details in the crash log
    BUSY = 4  # another `spotidoctor fix` / `launch` holds the lock
    INTERRUPTED = 130  # Ctrl-C
    PIPE_CLOSED = 141  # the reader of stdout went away (`| head`); what SIGPIPE would give


class FinalStatus(int):
    """An exit status after which the process has nothing left to do (a launch that ran
    Spotify: its channels stopped, its record and stamp written). The command line then ends
    with ``os._exit`` after flushing stdout and stderr, skipping the interpreter's slow
    teardown (module cleanup and garbage collection of everything imported)."""


EXIT_CODE_HELP = """\
exit codes:
  0    no problems (warnings allowed)
  1    at least one error-severity check failed or could not run
       (launch: Spotify's own exit code is returned instead once it ran)
  2    usage or configuration error
  3    internal error (a crash log is written under $XDG_STATE_HOME/spotidoctor/);
       report: the leak scan found a secret in the bundle and deleted it
  4    another spotidoctor fix/launch is running (lock held)
  130  interrupted (Ctrl-C); 129/143: stopped by SIGHUP/SIGTERM
  141  the reader of the output went away (`spotidoctor list | head -1`)"""
