"""One lock for commands that change the system, so two ``fix`` runs never interleave."""
from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator

from spotidoctor.errors import LockBusy
from spotidoctor.privatefs import open_private_file


@contextlib.contextmanager
def exclusive(path: str, what: str) -> Iterator[None]:
    # In spotidoctor's own private state directory, never through a symlink (privatefs).
    fd = open_private_file(path, os.O_RDWR | os.O_CREAT, mode=0o600, tighten=True)
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
