"""Token buckets: a burst at once, then a steady rate (URL floods, log floods, read floods)."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable

Clock = Callable[[], float]
LogLine = Callable[[str], None]


class TokenBucket:
    """``burst`` tokens at first; refilled at ``per_second`` tokens a second, never above ``burst``."""

    def __init__(self, burst: float, per_second: float, clock: Clock = time.monotonic) -> None:
        if burst <= 0 or per_second <= 0:
            raise ValueError("burst and per_second must be positive")
        self.burst = float(burst)
        self.per_second = float(per_second)
        self._clock = clock
        self._tokens = float(burst)
        self._stamp = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + max(0.0, now - self._stamp) * self.per_second)
        self._stamp = now

    def allow(self, cost: float = 1.0) -> bool:
        """Take ``cost`` tokens when there are that many."""
        self._refill()
        if self._tokens >= cost:
            self._tokens -= cost
            return True
        return False

    def spend(self, cost: float) -> None:
        """Take ``cost`` tokens even when that leaves a debt (bytes already read)."""
        self._refill()
        self._tokens -= cost

    def wait_time(self, cost: float = 1.0) -> float:
        """Seconds until ``cost`` tokens are there (0 when they are)."""
        self._refill()
        return max(0.0, (cost - self._tokens) / self.per_second)


class ThrottledLog:
    """Passes log lines on within a budget; the rest are counted and the count is logged later,
    so a hostile flood cannot fill the disk or bury the first, interesting lines."""

    def __init__(self, log: LogLine, bucket: TokenBucket) -> None:
        self._log = log
        self._bucket = bucket
        self._suppressed = 0
        self._lock = threading.Lock()

    def __call__(self, line: str) -> None:
        with self._lock:
            if not self._bucket.allow():
                self._suppressed += 1
                return
            self._say_suppressed()
            self._log(line)

    def flush(self) -> None:
        with self._lock:
            self._say_suppressed()

    def _say_suppressed(self) -> None:
        if self._suppressed:
            self._log(f"({self._suppressed} similar message(s) not logged: too many)")
            self._suppressed = 0
