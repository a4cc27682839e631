"""Backups of user files that fixes change, kept and listed (``spotidoctor fix --list-backups``).

Each backup is a private (0600) copy under ``$XDG_STATE_HOME/spotidoctor/backups/`` plus
one JSON line in ``index.jsonl`` saying where it came from, so every change can be undone
with a plain ``cp``.
"""
from __future__ import annotations

import json
import os
import time
import urllib.parse
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
        # A reversible file name, so a copy whose index line was never written (killed
        # in between) is still listed with its origin.
        flat = urllib.parse.quote(path, safe="")
        copy = os.path.join(self.directory, f"{stamp}-{time.time_ns() % 10**9:09d}", flat)
        # Only into spotidoctor's own private directories, never through a symlink.
        self._fs.write_private(copy, self._fs.read_bytes(path), mode=0o600, top=self.directory)
        entry = json.dumps({"original": path, "copy": copy, "created": time.time()})
        previous = self._fs.read_text_or_none(self.index) or ""
        self._fs.write_private(self.index, (previous + entry + "\n").encode(), mode=0o600, top=self.directory)
        return copy

    def entries(self) -> list[Backup]:
        entries = []
        for line in (self._fs.read_text_or_none(self.index) or "").splitlines():
            try:
                data = json.loads(line)
                entries.append(Backup(str(data["original"]), str(data["copy"]), float(data["created"])))
            except (ValueError, KeyError, TypeError):
                continue  # a damaged line must not hide the others
        indexed = {entry.copy for entry in entries}
        return sorted(entries + [b for b in self._copies() if b.copy not in indexed],
                      key=lambda b: b.created)

    def _copies(self) -> list[Backup]:
        found = []
        for stamp in self._fs.listdir(self.directory):
            folder = os.path.join(self.directory, stamp)
            for name in self._fs.listdir(folder):
                st = self._fs.lstat(os.path.join(folder, name))
                if st is not None and st.is_file and not name.startswith("."):
                    found.append(Backup(urllib.parse.unquote(name), os.path.join(folder, name), st.mtime))
        return found
