"""crash.last-launch: how the newest `spotidoctor launch` ended, and why it crashed."""
from __future__ import annotations

from typing import TYPE_CHECKING

from spotidoctor.api import Check, CheckResult, Context, FixAvailability, Severity
from spotidoctor.crash import launches, sources

if TYPE_CHECKING:
    from spotidoctor.bundle.spec import BundleSpec


NO_RECORDS = "no launch recorded yet (`spotidoctor launch` keeps a record and a log of each)"


class LastLaunchCrash(Check):
    """What it checks: how the newest `spotidoctor launch` ended. Its container log (kept by the
    launcher even though the container runs with --rm) is scanned for Chromium's
    `FATAL:memory.cc … Out of memory. size=N` line and the other known killers (Check failed,
    Too many open files, GPU process isn't usable, MIT-SHM BadAccess, cannot open display,
    pulse connection errors, Received signal 11); a SIGTRAP/SIGILL exit (133/132) without any
    line is the silent form of the same out-of-memory crash in newer Chromium builds. For an
    out-of-memory crash the launch's settings are checked cause by cause: /dev/shm size
    (--shm-size), the address-space limit (ulimit -v) podman inherited, vm.overcommit_memory,
    the open-files and data limits, a custom seccomp profile; the Chromium version is read from
    the image's libcef.so.

    Why it matters: Spotify in a container dies with a one-line message that names no cause;
    the usual one (a 64 MB /dev/shm) is fixed by one setting.

    Fix safety: safe fixes only change spotidoctor's own config.toml (backed up) — a larger
    shm_size, lift_rlimit_as, an open-files ulimit, --disable-gpu — and the next launch uses
    them. Host-level causes (vm.overcommit_memory=2, a hard address-space limit) are manual
    instructions for an administrator. Once the config holds the fix the check warns until the
    next launch proves it.
    """

    id = "crash.last-launch"
    title = "The last launch did not crash"
    category = "crash"
    severity = Severity.ERROR
    timeout_s = 150.0  # log scan 30 s + podman inspect 15 s + libcef.so scan 60 s, with slack
    fix_availability = FixAvailability.SOMETIMES

    def collect(self, spec: BundleSpec, ctx: Context) -> None:
        """For bug reports: the last launch's record (argv, limits, exit code)."""
        from .evidence import last_launch_evidence  # only reports load the bundle code

        last_launch_evidence(spec, ctx)

    def run(self, ctx: Context) -> CheckResult:
        records = sources.recent_records(ctx)
        if not records:
            return self.skip(NO_RECORDS)
        return launches.diagnose_launch(ctx, records[0])
