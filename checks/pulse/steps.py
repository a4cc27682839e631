"""Fix steps of the pulse checks: load a module into the running server, copy the socket's cookie."""
from __future__ import annotations

import os
import stat as stat_mod
from dataclasses import dataclass
from typing import ClassVar

from spotidoctor.errors import FixFailed, ProbeUnavailable
from spotidoctor.fixes import Step, StepEnv
from spotidoctor.types import JSONValue

from .conf import COOKIE_SIZE, NATIVE_UNIX


@dataclass(frozen=True)
class LoadPulseModule(Step):
    """Load a module into the running server through libpulse (what ``pactl load-module`` does)."""

    module: str = NATIVE_UNIX
    arguments: str = ""
    socket_path: str = ""  # already served -> nothing to do
    kind: ClassVar[str] = "pulse-load-module"

    def preview(self, env: StepEnv) -> list[str]:
        if self._served(env):
            return [f"{self.socket_path}: already served"]
        return [f"load into the running server (like `pactl load-module {self.module} {self.arguments}`)"]

    def _served(self, env: StepEnv) -> bool:
        fs, pulse = env.probes.fs, env.probes.pulse
        return bool(self.socket_path) and fs.is_socket(self.socket_path) and pulse.socket_accepts(self.socket_path)

    def apply(self, env: StepEnv) -> str:
        if self._served(env):
            return f"{self.socket_path} is already served"
        try:
            index = env.probes.pulse.load_module(self.module, self.arguments)
        except ProbeUnavailable as exc:
            raise FixFailed(f"loading {self.module} failed: {exc.reason}") from None
        return f"loaded {self.module} {self.arguments} (module #{index})"

    def to_json(self) -> dict[str, JSONValue]:
        data = super().to_json()
        data.update(module=self.module, arguments=self.arguments)
        return data


@dataclass(frozen=True)
class CopyPulseCookie(Step):
    """Copy the socket's cookie for the container; read at apply time, never shown."""

    source: str = ""
    target: str = ""
    mode: int = 0o644
    kind: ClassVar[str] = "copy-cookie"

    def _current(self, env: StepEnv) -> bool:
        fs = env.probes.fs
        st = fs.stat(self.target)
        if st is None or st.perms != self.mode:
            return False
        return fs.read_bytes(self.target) == fs.read_bytes(self.source)

    def preview(self, env: StepEnv) -> list[str]:
        if self._current(env):
            return [f"{self.target}: already up to date"]
        return [f"copy {self.source} -> {self.target} (mode {self.mode:04o}; content not shown)"]

    def apply(self, env: StepEnv) -> str:
        fs = env.probes.fs
        data = fs.read_bytes(self.source)
        if len(data) != COOKIE_SIZE:
            raise FixFailed(f"{self.source} holds {len(data)} bytes, not a {COOKIE_SIZE}-byte cookie; not copied")
        if self._current(env):
            return f"{self.target} already up to date"
        # Only into a directory of ours that nobody else can enter, never through a symlink:
        # a pre-made foreign or world-writable $XDG_RUNTIME_DIR/spotidoctor is refused.
        fs.write_private(self.target, data, mode=self.mode)
        return f"copied the cookie to {self.target} (mode {self.mode:04o})"

    def to_json(self) -> dict[str, JSONValue]:
        data = super().to_json()
        data.update(source=self.source, target=self.target, mode=f"{self.mode:04o}")
        return data


@dataclass(frozen=True)
class MakeFileReadable(Step):
    """``chmod MODE`` on a file of your own (the server's cookie after a ``chmod 000``),
    never through a symlink: the file is opened with O_PATH|O_NOFOLLOW and changed through
    that descriptor, so a link swapped in meanwhile is not followed."""

    path: str = ""
    mode: int = 0o600
    kind: ClassVar[str] = "chmod"

    def preview(self, env: StepEnv) -> list[str]:
        return [f"$ chmod {self.mode:04o} -- {self.path}"]

    def apply(self, env: StepEnv) -> str:
        fs = env.probes.fs
        try:
            fd = os.open(fs.host(self.path), os.O_PATH | os.O_NOFOLLOW)
        except OSError as exc:
            raise FixFailed(f"cannot open {self.path}: {exc.strerror or exc}") from None
        try:
            st = os.fstat(fd)
            if not stat_mod.S_ISREG(st.st_mode):
                raise FixFailed(f"{self.path} is not a regular file (a symlink?); not changed")
            if st.st_uid != os.geteuid():
                raise FixFailed(f"{self.path} belongs to uid {st.st_uid}; only that user or root can change it")
            os.chmod(f"/proc/self/fd/{fd}", self.mode)
        except OSError as exc:
            raise FixFailed(f"chmod {self.path} failed: {exc.strerror or exc}") from None
        finally:
            os.close(fd)
        return f"{self.path} is mode {self.mode:04o} now"

    def to_json(self) -> dict[str, JSONValue]:
        data = super().to_json()
        data.update(path=self.path, mode=f"{self.mode:04o}")
        return data
