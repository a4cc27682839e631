"""One Spotify: is it already running in its container, hand it a link, stop it.

All three ask podman about the container by its configured name, each with a short timeout,
and take no lock: a link clicked while ``spotidoctor fix`` runs still reaches Spotify.

- ``find_instance``: ``podman container inspect`` says running, stopped (exited, created, ...)
  or absent (exit status 125 with "no such container").
- ``forward_links``: ``podman exec NAME /usr/bin/spotify --uri=URI``. The client's
  single-instance handoff (Chromium's process singleton, a socket in its profile directory,
  which the container's storage mount shares) passes the link to the running client and the
  second process exits; ``podman exec`` runs as the container's user, with its environment.
- ``stop_instance``: ``podman stop`` (SIGTERM, then SIGKILL after the grace period).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from spotidoctor.daily.links import Link
from spotidoctor.probes.command import CommandRunner, Completed

__all__ = ["State", "Instance", "find_instance", "Forwarded", "forward_links", "Stopped", "stop_instance",
           "INSPECT_TIMEOUT_S", "EXEC_TIMEOUT_S", "STOP_GRACE_S", "SPOTIFY_BINARY"]

INSPECT_TIMEOUT_S = 10.0
EXEC_TIMEOUT_S = 20.0
STOP_GRACE_S = 10
SPOTIFY_BINARY = "/usr/bin/spotify"
_INSPECT_FORMAT = "{{.State.Status}}\t{{.State.Running}}\t{{.ImageName}}"


class State(str, Enum):
    RUNNING = "running"
    STOPPED = "stopped"  # exists, not running (created, exited, paused, ...)
    ABSENT = "absent"
    UNKNOWN = "unknown"  # podman failed or did not answer in time


@dataclass(frozen=True)
class Instance:
    name: str
    state: State
    status: str = ""  # podman's own word (running, exited, paused, ...)
    image: str = ""
    error: str = ""  # why the state is UNKNOWN

    @property
    def running(self) -> bool:
        return self.state is State.RUNNING


def _no_such_container(done: Completed) -> bool:
    return done.returncode == 125 and "no such container" in done.stderr.lower()


def find_instance(cmd: CommandRunner, name: str, *, timeout: float = INSPECT_TIMEOUT_S) -> Instance:
    """What podman knows about the container ``name`` right now."""
    done = cmd.run(("podman", "container", "inspect", "--format", _INSPECT_FORMAT, name), timeout=timeout)
    if _no_such_container(done):
        return Instance(name, State.ABSENT)
    if not done.ok:
        return Instance(name, State.UNKNOWN, error=done.error_text())
    fields = done.stdout.strip().split("\t")
    if len(fields) != 3:
        return Instance(name, State.UNKNOWN, error=f"unexpected answer from podman: {done.stdout.strip()[:200]!r}")
    status, running, image = fields
    state = State.RUNNING if running == "true" else State.STOPPED
    return Instance(name, state, status, image)


@dataclass(frozen=True)
class Forwarded:
    link: Link
    ok: bool
    detail: str = ""  # why it failed


def forward_argv(name: str, link: Link) -> tuple[str, ...]:
    return ("podman", "exec", name, SPOTIFY_BINARY, link.spotify_arg)


def forward_links(cmd: CommandRunner, name: str, links: Sequence[Link], *,
                  timeout: float = EXEC_TIMEOUT_S) -> tuple[Forwarded, ...]:
    """Hand each link to the client running in ``name``, one ``podman exec`` each."""
    outcomes = []
    for link in links:
        done = cmd.run(forward_argv(name, link), timeout=timeout)
        if done.ok:
            outcomes.append(Forwarded(link, True))
        elif done.timed_out:
            outcomes.append(Forwarded(link, False, f"Spotify did not take the link within {timeout:g}s"))
        else:
            outcomes.append(Forwarded(link, False, done.error_text()))
    return tuple(outcomes)


@dataclass(frozen=True)
class Stopped:
    name: str
    was: State
    ok: bool
    detail: str = ""


def stop_instance(cmd: CommandRunner, name: str, *, grace_s: int = STOP_GRACE_S) -> Stopped:
    """Stop the container if it runs; a container that is not there is nothing to do."""
    found = find_instance(cmd, name)
    if found.state in (State.ABSENT, State.STOPPED):
        return Stopped(name, found.state, True)
    if found.state is State.UNKNOWN:
        return Stopped(name, found.state, False, found.error)
    done = cmd.run(("podman", "stop", "--time", str(grace_s), name), timeout=grace_s + 30.0)
    if done.ok or _no_such_container(done):  # it ended on its own meanwhile
        return Stopped(name, State.RUNNING, True)
    return Stopped(name, State.RUNNING, False, done.error_text())
