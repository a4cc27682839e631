"""Proof, from the container's uid, that the filtered bus gives out the MPRIS name and no other.

The client must really be a different uid, as the container's uid 1500 looks to the host (a
subordinate uid): ``podman unshare`` enters the rootless user namespace, ``unshare --mount``
a private mount namespace, where the channel's socket is bind-mounted into a private tmpfs
(nothing is exposed on the host, and the channel's directory stays 0700); then ``setpriv``
becomes that uid and runs ``dbus-send`` (libdbus, the library Chromium's D-Bus code uses)
with ``RequestName``. The same way runs any other client (``run_as_argv``), which the
integration tests use for gdbus and a stand-in MPRIS player.
"""
from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from spotidoctor.channels.dbus.policy import MPRIS_NAME
from spotidoctor.errors import ProbeUnavailable
from spotidoctor.probes.command import CommandRunner

__all__ = ["OTHER_UID_SCRIPT", "FORBIDDEN_NAME", "NameOutcome", "NameAnswer", "FilterProof", "run_as_argv",
           "request_name_argv", "classify_request_name", "prove_filter", "PROOF_TIMEOUT_S"]

PROOF_TIMEOUT_S = 20.0
FORBIDDEN_NAME = "org.spotidoctor.Forbidden"  # on no allow list: the filter must refuse it
SETUP_DONE = "spotidoctor: connecting as uid"
NAME_FLAG_DO_NOT_QUEUE = 4
REFUSALS = ("org.freedesktop.DBus.Error.ServiceUnknown", "org.freedesktop.DBus.Error.AccessDenied")

# Runs as root of the rootless user namespace, in a private mount namespace ($1 scratch dir,
# $2 the channel's socket, $3 uid, $4 gid, then the client's argv). Grants nothing on the host.
OTHER_UID_SCRIPT = r"""set -e
d=$1 sock=$2 uid=$3 gid=$4
shift 4
mount -t tmpfs -o mode=0755,size=64k spotidoctor "$d"
: > "$d/bus"
mount --bind "$sock" "$d/bus"
echo "spotidoctor: connecting as uid $uid" >&2
exec setpriv --reuid="$uid" --regid="$gid" --clear-groups env -i DBUS_SESSION_BUS_ADDRESS="unix:path=$d/bus" "$@"
"""


def run_as_argv(podman: str, scratch: str, socket_path: str, uid: int, gid: int,
                client: Sequence[str]) -> tuple[str, ...]:
    """``client`` (absolute program path first) as ``uid``, connected to ``socket_path`` only."""
    return (podman, "unshare", "--", "unshare", "--mount", "--", "sh", "-c", OTHER_UID_SCRIPT,
            "spotidoctor-dbus-test", scratch, socket_path, str(uid), str(gid), *client)


def request_name_argv(dbus_send: str, name: str) -> tuple[str, ...]:
    return (dbus_send, "--session", "--print-reply", "--reply-timeout=5000", "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus", "org.freedesktop.DBus.RequestName", f"string:{name}",
            f"uint32:{NAME_FLAG_DO_NOT_QUEUE}")


class NameOutcome(str, Enum):
    OWNED = "owned"  # RequestName: primary owner (1) or already the owner (4)
    TAKEN = "taken"  # let through by the filter, but another client owns it (2, 3)
    REFUSED = "refused"  # the proxy (or the bus) refused the request
    FAILED = "failed"  # no answer: could not connect, timed out, ...


@dataclass(frozen=True)
class NameAnswer:
    name: str
    outcome: NameOutcome
    detail: str


def _client_reason(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines()  # minus podman's warnings and our marker
             if line.strip() and "level=warning" not in line and SETUP_DONE not in line]
    return lines[-1] if lines else ""


def classify_request_name(name: str, returncode: int, stdout: str, stderr: str) -> NameAnswer:
    """Turn ``dbus-send --print-reply ... RequestName`` output into an outcome."""
    if returncode == 0:
        code = re.search(r"\buint32 (\d+)", stdout)
        value = int(code.group(1)) if code else 0
        if value in (1, 4):
            return NameAnswer(name, NameOutcome.OWNED, "owned")
        if value in (2, 3):
            return NameAnswer(name, NameOutcome.TAKEN, "allowed, but another client owns it")
        return NameAnswer(name, NameOutcome.FAILED, f"unexpected reply: {' '.join(stdout.split())[:200]}")
    reason = _client_reason(stderr) or f"exit status {returncode}"
    if any(error in reason for error in REFUSALS):
        return NameAnswer(name, NameOutcome.REFUSED, reason)
    return NameAnswer(name, NameOutcome.FAILED, reason)


@dataclass(frozen=True)
class FilterProof:
    uid: int
    mpris: NameAnswer
    forbidden: NameAnswer

    @property
    def proved(self) -> bool:
        return (self.mpris.outcome in (NameOutcome.OWNED, NameOutcome.TAKEN)
                and self.forbidden.outcome is NameOutcome.REFUSED)

    def summary(self) -> str:
        return (f"as uid {self.uid}: {self.mpris.name} {self.mpris.outcome.value} ({self.mpris.detail}); "
                f"{self.forbidden.name} {self.forbidden.outcome.value} ({self.forbidden.detail})")


def prove_filter(runner: CommandRunner, socket_path: str, uid: int, gid: int, *,
                 scratch_parent: str | None = None, timeout: float = PROOF_TIMEOUT_S) -> FilterProof:
    """Ask for the MPRIS name and for ``FORBIDDEN_NAME`` as ``uid`` through ``socket_path``.

    Raises ``ProbeUnavailable`` when the test cannot run as another uid at all (tools missing,
    ``podman unshare`` failing); a client that ran but failed is a ``FAILED`` answer.
    """
    tools = {name: runner.which(name) for name in ("podman", "unshare", "mount", "setpriv", "dbus-send")}
    missing = sorted(name for name, path in tools.items() if path is None)
    if missing:
        raise ProbeUnavailable(f"cannot test as another uid: {', '.join(missing)} not found")
    answers = [_request_name(runner, str(tools["podman"]), str(tools["dbus-send"]), socket_path, uid, gid, name,
                             scratch_parent, timeout) for name in (MPRIS_NAME, FORBIDDEN_NAME)]
    return FilterProof(uid, answers[0], answers[1])


def _request_name(runner: CommandRunner, podman: str, dbus_send: str, socket_path: str, uid: int, gid: int,
                  name: str, scratch_parent: str | None, timeout: float) -> NameAnswer:
    scratch = tempfile.mkdtemp(prefix="spotidoctor-dbus-", dir=scratch_parent)
    try:
        done = runner.run(run_as_argv(podman, scratch, socket_path, uid, gid, request_name_argv(dbus_send, name)),
                          timeout=timeout)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    connecting = f"{SETUP_DONE} {uid}" in done.stderr
    if not connecting:
        if done.timed_out:
            raise ProbeUnavailable(f"cannot test as another uid: `podman unshare` did not finish within {timeout:g}s")
        raise ProbeUnavailable(f"cannot test as another uid: {_client_reason(done.stderr) or done.error_text()}")
    if done.timed_out:
        return NameAnswer(name, NameOutcome.FAILED, f"no answer within {timeout:g}s")
    return classify_request_name(name, done.returncode, done.stdout, done.stderr)
