"""One exception hierarchy; the CLI's error handler maps each class to an exit code."""
from __future__ import annotations

from spotidoctor.exitcodes import ExitCode


class SpotidoctorError(Exception):
    """Base class. ``exit_code`` says how the CLI ends when this reaches the top."""

    exit_code: ExitCode = ExitCode.INTERNAL


class UsageError(SpotidoctorError):
    """Bad command line (unknown check id, conflicting flags)."""

    exit_code = ExitCode.USAGE


class ConfigError(UsageError):
    """The configuration file cannot be read or has wrong types or unknown keys."""


class LockBusy(SpotidoctorError):
    """Another spotidoctor process holds the lock this command needs."""

    exit_code = ExitCode.BUSY


class PluginLoadError(SpotidoctorError):
    """A third-party or drop-in check could not be imported."""

    FORMAT = "{origin}: {exc_type}: {exc}"

    def __init__(self, origin: str, exc: BaseException) -> None:
        self.origin = origin
        self.original = exc
        super().__init__(self.FORMAT.format(origin=origin, exc_type=type(exc).__name__, exc=exc))


class ProbeUnavailable(SpotidoctorError):
    """A probe cannot tell (server missing, library missing, permission denied).

    Different from "bad": checks turn this into a FAIL/WARN with advice, never a crash.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class ProbeTimeout(ProbeUnavailable):
    """The thing probed did not answer in time (a hung X or pulse server, podman)."""


class ParseError(ValueError):
    """The one exception the text parsers (subuid, uid_map, DISPLAY, module args, logs) raise."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        self.line = line
        super().__init__(f"line {line}: {message}" if line is not None else message)


class FixFailed(SpotidoctorError):
    """A fix step failed; the fix's remaining steps are not run."""

    exit_code = ExitCode.PROBLEMS
