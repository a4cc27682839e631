"""A small append-only log file for the channels (refused URLs, relayed connections)."""
from __future__ import annotations

import os
import threading
import time

MAX_LOG_BYTES = 1024 * 1024


class FileLog:
    """Appends timestamped lines to ``path`` (created 0600, never through a symlink); stops at
    ``max_bytes`` with one last line saying so. Write errors are swallowed: a full disk must not
    stop a channel."""

    def __init__(self, path: str, max_bytes: int = MAX_LOG_BYTES) -> None:
        self.path = path
        self._max = max_bytes
        self._lock = threading.Lock()
        self._full = False

    def __call__(self, line: str) -> None:
        text = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n".encode("utf-8", "replace")
        with self._lock:
            if self._full:
                return
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            except OSError:
                return
            try:
                if os.fstat(fd).st_size + len(text) > self._max:
                    self._full = True
                    text = b"log full: later lines are not written\n"
                os.write(fd, text)
            except OSError:
                pass
            finally:
                os.close(fd)
