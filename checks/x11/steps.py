"""Fix steps of the X11 checks.

``WriteWildCookie`` reads the user's Xauthority only when applied: plans, previews and
JSON never contain cookie bytes. ``RevokeHostAccess`` talks to the server through the X11
probe (the equivalent of ``xhost -local:`` / ``xhost -``); nothing here ever grants access.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from spotidoctor.errors import FixFailed, ParseError
from spotidoctor.fixes import Step, StepEnv
from spotidoctor.probes import x11auth
from spotidoctor.probes.x11 import HostEntry

if TYPE_CHECKING:
    from spotidoctor.probes.fs import RealFS
    from spotidoctor.types import JSONValue

__all__ = ["WriteWildCookie", "RevokeHostAccess", "CONTAINER_COOKIE_MODE", "wanted_cookie_file"]

# Host-owned and world-readable: the container's uid 1500 is a subordinate uid on the host,
# i.e. "other". The 0700 runtime dir keeps other host users out.
CONTAINER_COOKIE_MODE = 0o644
PRIVATE_DIR_MODE = 0o700


def wanted_cookie_file(fs: RealFS, source: str, display_number: int) -> bytes:
    """The FamilyWild file the display's current cookie gives; ``ParseError`` if none."""
    try:
        data = fs.read_bytes(source, x11auth.MAX_XAUTHORITY_BYTES + 1)
    except OSError as exc:
        raise ParseError(f"cannot read {source}: {exc.strerror or exc}") from exc
    entries = x11auth.parse_xauthority(data)
    hostname = x11auth.hostname_from(fs.read_text_or_none(x11auth.HOSTNAME_FILE))
    return x11auth.wild_cookie_file(entries, display_number, hostname)


def _current(fs: RealFS, path: str) -> bytes | None:
    st = fs.lstat(path)
    if st is None or not st.is_file:
        return None
    return fs.read_bytes(path, x11auth.MAX_XAUTHORITY_BYTES + 1)


@dataclass(frozen=True)
class WriteWildCookie(Step):
    """Write the FamilyWild cookie file for one display, atomically, mode 0644."""

    source: str = ""  # the user's Xauthority
    dest: str = ""  # layout.x11_cookie(paths, n)
    display_number: int = 0
    private_dir: str = ""  # spotidoctor's runtime dir: made 0700 so only the bind mount reads the file
    kind: ClassVar[str] = "write-x11-cookie"

    def _up_to_date(self, env: StepEnv) -> bool:
        fs = env.probes.fs
        st = fs.lstat(self.dest)
        try:
            wanted = wanted_cookie_file(fs, self.source, self.display_number)
        except ParseError:
            return False
        return (st is not None and st.perms == CONTAINER_COOKIE_MODE and not self._dir_exposed(env)
                and x11auth.digest(_current(fs, self.dest) or b"") == x11auth.digest(wanted))

    def _dir_exposed(self, env: StepEnv) -> bool:
        st = env.probes.fs.stat(self.private_dir) if self.private_dir else None
        return st is not None and st.perms & 0o077 != 0

    def preview(self, env: StepEnv) -> list[str]:
        if self._up_to_date(env):
            return [f"{self.dest}: already up to date"]
        lines = [f"read the MIT-MAGIC-COOKIE-1 entries for :{self.display_number} from {self.source} "
                 "(when applied)",
                 f"write {self.dest} as a FamilyWild Xauthority (mode {CONTAINER_COOKIE_MODE:04o}; "
                 "content not shown)"]
        if self._dir_exposed(env):
            lines.append(f"$ chmod {PRIVATE_DIR_MODE:04o} -- {self.private_dir}")
        return lines

    def apply(self, env: StepEnv) -> str:
        fs = env.probes.fs
        try:
            wanted = wanted_cookie_file(fs, self.source, self.display_number)
        except ParseError as exc:
            raise FixFailed(f"cannot build the container cookie: {exc}") from exc
        if self.private_dir:
            fs.makedirs(self.private_dir, mode=PRIVATE_DIR_MODE)
            if self._dir_exposed(env):
                fs.chmod(self.private_dir, PRIVATE_DIR_MODE)
        fs.write_private(self.dest, wanted, mode=CONTAINER_COOKIE_MODE)  # refuses a foreign dir or a symlink
        return (f"wrote {self.dest} (FamilyWild cookie for :{self.display_number}, "
                f"mode {CONTAINER_COOKIE_MODE:04o})")

    def to_json(self) -> dict[str, JSONValue]:
        data = super().to_json()
        data.update(source=self.source, path=self.dest, mode=f"{CONTAINER_COOKIE_MODE:04o}",
                    display_number=self.display_number)
        return data


@dataclass(frozen=True)
class RevokeHostAccess(Step):
    """Remove host-based grants and re-enable access control (``xhost -local:``, ``xhost -``)."""

    display: str = ""
    hosts: tuple[HostEntry, ...] = ()
    enable_access_control: bool = True
    kind: ClassVar[str] = "x11-revoke"

    def preview(self, env: StepEnv) -> list[str]:
        lines = [f"remove {h.text} from the access list of {self.display} (like `xhost -{h.xhost_spec}`)"
                 for h in self.hosts]
        if self.enable_access_control:
            lines.append(f"enable access control on {self.display} (like `xhost -`)")
        return lines

    def apply(self, env: StepEnv) -> str:
        after = env.probes.x11.revoke(self.display, self.hosts,
                                      enable_access_control=self.enable_access_control)
        left = [h.text for h in after.hosts if h in self.hosts]
        if left or (self.enable_access_control and not after.enabled):
            raise FixFailed(f"the X server still has {', '.join(left) or 'access control disabled'}")
        done = [f"removed {h.text}" for h in self.hosts]
        if self.enable_access_control:
            done.append("enabled access control")
        return f"{self.display}: " + "; ".join(done)

    def to_json(self) -> dict[str, JSONValue]:
        data = super().to_json()
        data.update(display=self.display, hosts=[h.text for h in self.hosts],
                    enable_access_control=self.enable_access_control)
        return data

