"""One lock for commands that change the system, so two ``fix`` runs never interleave."""
from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator

from spotidoctor.errors import LockBusy


@contextlib.contextmanager
def exclusive(path: str, what: str) -> Iterator[None]:
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            raise LockBusy(f"another spotidoctor command is changing the system (pid {holder}); "
                           f"wait for it to finish, then run `spotidoctor {what}` again") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the flock
