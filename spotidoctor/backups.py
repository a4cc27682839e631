"""Backups of user files that fixes change, kept and listed (``spotidoctor fix --list-backups``).

Each backup is a private (0600) copy under ``$XDG_STATE_HOME/spotidoctor/backups/`` plus
one JSON line in ``index.jsonl`` saying where it came from, so every change can be undone
with a plain ``cp``.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass

from spotidoctor.probes.fs import RealFS


@dataclass(frozen=True)
class Backup:
    original: str
    copy: str
    created: float


class BackupStore:
    def __init__(self, fs: RealFS, directory: str) -> None:
        self._fs = fs
        self.directory = directory

    @property
    def index(self) -> str:
        return os.path.join(self.directory, "index.jsonl")

    def save(self, path: str) -> str:
        """Copy ``path`` aside (0600) and record it; return the copy's path."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        flat = path.strip("/").replace("/", "%")
        copy = os.path.join(self.directory, f"{stamp}-{time.time_ns() % 10**9:09d}", flat)
        self._fs.write_atomic(copy, self._fs.read_bytes(path), mode=0o600)
        entry = json.dumps({"original": path, "copy": copy, "created": time.time()})
        previous = self._fs.read_text_or_none(self.index) or ""
        self._fs.write_atomic(self.index, (previous + entry + "\n").encode(), mode=0o600)
        return copy

    def list(self) -> list[Backup]:
        entries = []
        for line in (self._fs.read_text_or_none(self.index) or "").splitlines():
            try:
                data = json.loads(line)
                entries.append(Backup(str(data["original"]), str(data["copy"]), float(data["created"])))
            except (ValueError, KeyError, TypeError):
                continue  # a damaged line must not hide the others
        return entries
