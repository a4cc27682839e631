"""The audio channel: spotidoctor's playback-only filter in front of the user's sound server.

The filter runs in this process (one thread) for the launch's lifetime; its socket is
bind-mounted as the container's pulse server. Its log lines (refusals by command name, never
payload) go to the launch's channel log, not to the terminal.
"""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping

from spotidoctor.backend.runargs import HostFacts
from spotidoctor.channels.pulse import (
    LOGGER_NAME,
    FilterError,
    FilterStats,
    PulseFilter,
    default_cookie,
    default_upstream,
)
from spotidoctor.launcher.channel import ChannelReport
from spotidoctor.types import JSONValue

__all__ = ["AudioFilterChannel", "FilterError", "LogHandler", "stats_record"]


class LogHandler(logging.Handler):
    """Hands the filter's log records to the launch's channel log (a line writer)."""

    def __init__(self, write: Callable[[str], None]) -> None:
        super().__init__(logging.INFO)
        self._write = write

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._write(record.getMessage())
        except Exception:  # noqa: BLE001 - a log line must never end the relay thread
            self.handleError(record)


def _counts(counts: Mapping[str, int]) -> dict[str, JSONValue]:
    return {name: n for name, n in sorted(counts.items())}


def stats_record(stats: FilterStats) -> dict[str, JSONValue]:
    """The filter's statistics for the launch record (names and counts only)."""
    return {"connections": stats.connections, "refused": _counts(stats.refused), "ended": _counts(stats.ended),
            "turned_away": stats.turned_away, "underflows": stats.underflows,
            "stripped_props": _counts(stats.stripped_props)}


class AudioFilterChannel:
    name = "audio"

    def __init__(self, pulse_filter: PulseFilter, socket_path: str, logger: logging.Logger,
                 handler: logging.Handler) -> None:
        self._filter = pulse_filter
        self.socket_path = socket_path
        self._logger = logger
        self._handler = handler
        self._report: ChannelReport | None = None

    @classmethod
    def start(cls, env: Mapping[str, str], runtime_dir: str, write_log: Callable[[str], None]) -> AudioFilterChannel:
        """Start the filter (its private directory goes into ``runtime_dir``). ``FilterError``
        says why it cannot: no local pulse socket, an unsafe directory, ..."""
        upstream = default_upstream(env)
        if upstream is None:
            raise FilterError("the audio filter needs your pulse server's unix socket (PULSE_SERVER is not a "
                              "local socket and XDG_RUNTIME_DIR is unset)")
        logger = logging.getLogger(f"{LOGGER_NAME}.launch")
        handler = LogHandler(write_log)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False  # the terminal shows the summary line, the channel log the details
        pulse_filter = PulseFilter(upstream, runtime_dir=runtime_dir, cookie_path=default_cookie(env), log=logger)
        try:
            path = pulse_filter.start()
        except BaseException:
            logger.removeHandler(handler)
            raise
        return cls(pulse_filter, path, logger, handler)

    def apply(self, host: HostFacts) -> HostFacts:
        return dataclasses.replace(host, pulse_socket=self.socket_path, audio_filtered=True, pulse_cookie=None,
                                   pulse_cookie_host_owned=True, pulse_client_conf=None)

    def stop(self) -> ChannelReport:
        if self._report is None:
            try:
                stats = self._filter.stop()
            finally:
                self._logger.removeHandler(self._handler)
            self._report = ChannelReport(self.name, stats.refusals, _summary(stats), stats_record(stats))
        return self._report


def _summary(stats: FilterStats) -> str:
    text = f"audio {stats.refusals}"
    if stats.refused:
        text += " (" + ", ".join(f"{name} ×{n}" for name, n in sorted(stats.refused.items())) + ")"
    return text
