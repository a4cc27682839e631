"""A per-run memo so concurrent checks share one expensive probe call (``podman info``)."""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class Memo:
    def __init__(self) -> None:
        self._values: dict[str, object] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, key: str, compute: Callable[[], T]) -> T:
        """Compute once per key, even when several threads ask at the same time.

        Exceptions are not cached: the next caller tries again.
        """
        with self._guard:
            if key in self._values:
                return self._values[key]  # type: ignore[return-value]
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            with self._guard:
                if key in self._values:
                    return self._values[key]  # type: ignore[return-value]
            value = compute()
            with self._guard:
                self._values[key] = value
            return value

    def forget(self) -> None:
        """Drop everything (after fixes changed the system)."""
        with self._guard:
            self._values.clear()
