"""The throwaway probe container podman.runtime and podman.network start (from an empty
rootfs, no image needed), and what its failure output means."""
from __future__ import annotations

import os
import re
from enum import Enum

from spotidoctor.api import Context

PROBE_TIMEOUT_S = 60.0
PROBE_DIR_NAME = "podman-probe-rootfs"


HUNG = "`podman run` did not finish within {timeout:g}s"


NO_PROBE_DIR = "cannot create the empty directory the probe container runs from: {error}"


class Failure(Enum):
    HYBRID_CGROUPS = "hybrid-cgroups"
    NO_INIT = "no-init"
    RUNTIME_MISSING = "runtime-missing"
    USERNS = "userns"
    TUN = "tun"
    PASTA_UNSUPPORTED = "pasta-unsupported"
    PASTA_MISSING = "pasta-missing"
    SLIRP_MISSING = "slirp4netns-missing"
    TIMEOUT = "timeout"
    OTHER = "other"


RUNTIME_NOT_FOUND = re.compile(r'OCI runtime "?([\w.-]+)"? not found')
_PATTERNS = (
    (Failure.HYBRID_CGROUPS, ("cgroups in hybrid mode not supported",)),
    (Failure.NO_INIT, ("container-init binary not found",)),
    (Failure.TUN, ("/dev/net/tun",)),
    (Failure.PASTA_UNSUPPORTED, ("unable to find network with name or ID pasta",)),
    (Failure.PASTA_MISSING, ("could not find pasta",)),
    (Failure.SLIRP_MISSING, ("could not find slirp4netns",)),
    (Failure.USERNS, ("newuidmap", "newgidmap", "uid_map", "setgroups: invalid argument",
                      "insufficient UIDs or GIDs", "cannot set up namespace", "cannot re-exec process")),
)


def classify(text: str, timed_out: bool = False) -> Failure:
    """What went wrong, from `podman run`'s error output."""
    if timed_out:
        return Failure.TIMEOUT
    for failure, needles in _PATTERNS:
        if any(n in text for n in needles):
            return failure
    if RUNTIME_NOT_FOUND.search(text):
        return Failure.RUNTIME_MISSING
    return Failure.OTHER


def probe_rootfs(ctx: Context) -> str:
    """An empty directory of spotidoctor's own, used as ``--rootfs`` for probe containers.

    The runtime creates only empty mount-point directories in it (dev, etc, proc, run, sys),
    owned by you. Creating it is the only write these checks make.
    """
    path = os.path.join(ctx.paths.runtime_dir, PROBE_DIR_NAME)
    # Refused (an OSError) when the runtime dir is someone else's or open to others.
    ctx.probes.fs.make_private_dirs(path, top=ctx.paths.runtime_dir)
    return path


def probe_argv(rootfs: str, network: str = "none") -> tuple[str, ...]:
    """A container that needs neither an image nor a network: podman bind-mounts its static
    init (catatonit) at /run/podman-init, which prints its version and exits."""
    return ("podman", "run", "--rm", "--network", network, "--init", "--rootfs", rootfs,
            "/run/podman-init", "--version")
