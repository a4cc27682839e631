"""Whose plugin code spotidoctor imports: files the running user or root owns that nobody else can change.

A drop-in (``checks.d/*.py``) or an entry-point module owned by another user, or writable by
its group or by everyone, would run that user's code as whoever runs spotidoctor -- as root
under ``sudo -E`` or ``su -p`` with the user's ``HOME`` and ``XDG_CONFIG_HOME``, where the
user's drop-ins and user-site packages are found. ``Trust`` answers without importing
anything:

- a drop-in is read from one open descriptor whose owner and mode were checked
  (``read_trusted_source``), so it cannot be swapped between the check and the import;
- an entry point's module is located the way the import would (``importlib.util.find_spec``
  for the top-level name, the path finder for submodules: neither executes code) and every
  file that would run (each package ``__init__`` on the way and the module) is checked, with
  the directory holding it.
"""
from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import stat as stat_mod
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.machinery import ModuleSpec

MAX_SOURCE_BYTES = 8 << 20
WHY = "spotidoctor imports only code that you or root own and that nobody else can change"


@dataclass(frozen=True)
class Trust:
    """``euid``: the user whose code (besides root's) may run; ``stat``/``fstat``: injected in tests."""

    euid: int = field(default_factory=os.geteuid)
    stat: Callable[[str], os.stat_result] = field(default=os.stat, compare=False)
    fstat: Callable[[int], os.stat_result] = field(default=os.fstat, compare=False)

    def problem(self, st: os.stat_result, path: str) -> str | None:
        """Why code at ``path`` (with status ``st``) must not be imported, or None."""
        if st.st_uid not in (self.euid, 0):
            return f"{path} belongs to uid {st.st_uid}, not to you (uid {self.euid}) or root; {WHY}"
        writable = st.st_mode & 0o022
        sticky_dir = stat_mod.S_ISDIR(st.st_mode) and st.st_mode & stat_mod.S_ISVTX
        if writable and not sticky_dir:
            who = "everyone" if st.st_mode & 0o002 else "its group"
            return f"{path} is writable by {who} (mode {stat_mod.S_IMODE(st.st_mode):04o}); {WHY}"
        return None

    def path_problem(self, path: str) -> str | None:
        try:
            return self.problem(self.stat(path), path)
        except OSError as exc:
            return f"{path} cannot be checked ({exc.strerror or exc}); {WHY}"

    def module_problem(self, module: str) -> str | None:
        """The first file (or directory) of ``module`` that must not run, or None. A module that
        cannot be found is None here: the import then fails with its own error."""
        for origin in _code_paths(module):
            problem = self.path_problem(origin) or self.path_problem(os.path.dirname(origin))
            if problem:
                return problem
        return None


def _code_paths(module: str) -> list[str]:
    """The files an import of ``module`` would execute, found without executing any."""
    found: list[str] = []
    parts = module.split(".")
    try:
        spec: ModuleSpec | None = importlib.util.find_spec(parts[0])
    except (ImportError, ValueError):
        return found
    for depth in range(1, len(parts) + 1):
        if spec is None:
            return found
        if spec.origin and spec.has_location:
            found.append(spec.origin)
        found += [os.path.join(d, ".") for d in (spec.submodule_search_locations or ()) if not spec.origin]
        if depth == len(parts):
            break
        locations = list(spec.submodule_search_locations or ())
        if not locations:
            return found
        spec = importlib.machinery.PathFinder.find_spec(".".join(parts[:depth + 1]), locations)
    return found


def read_trusted_source(path: str, trust: Trust) -> tuple[bytes, str | None]:
    """(the file's bytes, None), or (b"", why it must not be imported)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        st = trust.fstat(fd)
        if not stat_mod.S_ISREG(st.st_mode):
            return b"", f"{path} is not a regular file"
        problem = trust.problem(st, path)
        if problem:
            return b"", problem
        chunks = []
        size = 0
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_SOURCE_BYTES:
                return b"", f"{path} is larger than {MAX_SOURCE_BYTES} bytes"
        return b"".join(chunks), None
    finally:
        os.close(fd)
