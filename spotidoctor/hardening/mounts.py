"""What a host path mounted into the container opens (pure: paths are compared as text).

The launch mounts only single sockets and the storage directory. A bind mount the user adds
is named with what it exposes: the whole filesystem, the home directory (or a parent of it),
the session's runtime directory and the sockets in it, container-engine sockets (full
control of the account), device and kernel trees.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["HostContext", "BindMount", "parse_volume", "parse_mount", "what_it_opens"]

ENGINE_SOCKETS = ("docker.sock", "podman.sock", "containerd.sock", "crio.sock", "buildkitd.sock")
SESSION_SOCKETS = {
    "bus": "the D-Bus session bus: every desktop service (secrets, notifications, portals, systemd --user) as you",
    "pulse": "your sound server, unfiltered (a client that may load modules runs code as you)",
    "pipewire-0": "the whole PipeWire graph: every stream, device and the session manager",
    "wayland-0": "your Wayland compositor",
    "gnupg": "gpg-agent: signing and decryption with your keys",
    "keyring": "the GNOME keyring's sockets (your stored secrets, SSH agent)",
    "ssh": "an SSH agent: logins to every server your keys open",
}
SYSTEM_TREES = {
    "/dev": "every host device node",
    "/proc": "the host's /proc: other processes' command lines and environments",
    "/sys": "the host kernel's /sys interfaces",
    "/etc": "the host's configuration files",
    "/run": "every runtime socket of the host (system D-Bus, container engines, session directories)",
    "/tmp": "the host's shared /tmp, including every X display's socket",
    "/tmp/.X11-unix": "every X display's socket, not just the one the launch mounts",
    "/run/dbus": "the system D-Bus",
    "/var/run/dbus": "the system D-Bus",
    "/run/user": "every user's session runtime directory that you can enter",
}


@dataclass(frozen=True)
class HostContext:
    home: str
    uid: int
    runtime_dir: str | None = None  # $XDG_RUNTIME_DIR; /run/user/UID when unset

    @property
    def session_dir(self) -> str:
        return os.path.normpath(self.runtime_dir or f"/run/user/{self.uid}")


@dataclass(frozen=True)
class BindMount:
    source: str  # a host path (absolute or relative to podman's working directory)
    options: tuple[str, ...]

    @property
    def read_only(self) -> bool:
        return "ro" in self.options or "readonly" in self.options


def _is_host_path(source: str) -> bool:
    # podman: a source starting with / or . is a host path; anything else names a volume.
    return source.startswith(("/", "."))


def parse_volume(value: str) -> BindMount | None:
    """``SRC:DST[:OPTS]`` (``--volume``); None for named and anonymous volumes."""
    parts = value.split(":")
    if len(parts) < 2 or not _is_host_path(parts[0]):
        return None
    options = tuple(o for o in (parts[2].split(",") if len(parts) > 2 else ()) if o)
    return BindMount(parts[0], options)


def parse_mount(value: str) -> BindMount | None:
    """``type=bind,source=/x,target=/y[,ro]`` (``--mount``); None unless it binds a host path."""
    fields: dict[str, str] = {}
    flags: list[str] = []
    for item in value.split(","):
        key, eq, val = item.partition("=")
        key = key.strip().lower()
        if eq:
            fields[key] = val
        else:
            flags.append(key)
    if fields.get("type", "") not in ("bind", "glob"):
        return None
    source = fields.get("source", fields.get("src", ""))
    if not source:
        return None
    options = list(flags)
    if fields.get("readonly", fields.get("ro", "")).lower() in ("true", "1"):
        options.append("ro")
    if fields.get("relabel") in ("shared", "private"):
        options.append("z" if fields["relabel"] == "shared" else "Z")
    if fields.get("u", "").lower() == "true":
        options.append("U")
    return BindMount(source, tuple(options))


def _under(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def _normal(path: str) -> str:
    path = os.path.normpath(path)
    return "/run" + path[len("/var/run"):] if _under(path, "/var/run") else path


def _unglobbed(path: str) -> str:
    """A glob source (``--mount type=glob``) reaches everything in the directory before its pattern."""
    parts = path.split("/")
    for i, part in enumerate(parts):
        if any(c in part for c in "*?["):
            return "/".join(parts[:i]) or "/"
    return path


def what_it_opens(mount: BindMount, host: HostContext) -> str:
    """One line: what the container reaches through this host path."""
    path = _normal(_unglobbed(mount.source))
    home = os.path.normpath(host.home)
    access = "read-only" if mount.read_only else "writable"
    if not path.startswith("/"):
        return f"the host path {mount.source} (relative to where podman runs; {access})"
    if os.path.basename(path) in ENGINE_SOCKETS:
        return ("a container engine's API socket: whoever talks to it starts containers with any mount, i.e. "
                "full control of the account that runs the engine (even when mounted read-only)")
    if path == "/":
        return f"the whole host filesystem ({access}): your files, every socket in /run and /tmp"
    if _under(home, path):
        return (f"your whole home directory ({access}): SSH keys, browser profiles, and shell startup files "
                "(a writable ~/.bashrc runs the container's code as you)")
    session = _session(path, host.session_dir)
    if session:
        return session
    for tree, opens in sorted(SYSTEM_TREES.items(), key=lambda kv: -len(kv[0])):
        if _under(path, _normal(tree)) or _under(_normal(tree), path):
            return f"{opens} ({access})"
    if _under(path, home):
        return f"part of your home directory: {path} ({access})"
    return f"the host path {path} ({access})"


def _session(path: str, session_dir: str) -> str | None:
    if _under(session_dir, path):
        return ("your session's runtime directory: the D-Bus session bus, the sound server, Wayland and agent "
                "sockets (ssh-agent, gpg-agent) all become reachable")
    if _under(path, session_dir):
        first = path[len(session_dir):].strip("/").split("/")[0]
        for name, opens in SESSION_SOCKETS.items():
            if first == name or first.startswith(name):
                return opens
        return f"{path} from your session's runtime directory"
    return None


def mount_notes(mount: BindMount) -> Sequence[str]:
    """Options that change host files themselves."""
    notes = []
    if "U" in mount.options:
        notes.append(":U chowns the host source to the container's user")
    if "z" in mount.options or "Z" in mount.options:
        notes.append(":z/:Z relabels the host source for SELinux (host programs may lose access to it)")
    return notes
