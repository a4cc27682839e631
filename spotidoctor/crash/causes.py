"""Causes: what in how a launch ran explains a crash, with advice and fix plans.

A cause the launcher can remove is a fix plan that changes spotidoctor's config, so the next
launch uses it; host-level causes are manual, with exact commands. For an out-of-memory
crash every cause is checked, in the order the ``size=`` of the FATAL line suggests.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from spotidoctor.config import Config, SetConfig
from spotidoctor.crash import profilelock
from spotidoctor.crash.cef import CefFacts
from spotidoctor.crash.lines import printable
from spotidoctor.crash.runopts import human, parse_size, parse_ulimit
from spotidoctor.crash.scan import Hit
from spotidoctor.crash.settings import Settings, limit_number
from spotidoctor.fixes import Fix, Instruction
from spotidoctor.types import JSONValue
from spotidoctor.units import GiB, MiB

SHM_TOO_SMALL = 256 * MiB  # below this Spotify is at high risk
SHM_FIX = "2g"
NOFILE_LOW = 1024  # Chromium failed at 64..128 in the reproductions
NOFILE_RECOMMENDED = 4096
NOFILE_FIX = 65536
AS_NEEDED = 128 * GiB  # new Chromium needs more than 64 GiB of address space
DATA_LOW = 4 * GiB
MEMORY_LOW = 4 * GiB
SHM_SIZES = (262144, 524288, 4194304, 8294400)  # tiles, bitmaps, discardable chunks, 1080p frames

# -- user-facing texts (tests assert against these) --------------------------------------
SIZE_TRUNCATED = "size={size} is very likely a cut-off {full} (the reported line is truncated)."
SIZE_SHM = ("size={size} is a shared-memory request (a 256x256 tile is 262144 bytes): creating or mapping that "
            "shared memory failed.")
SIZE_HEAP = "size=0 means a heap allocation failed (the size was not known)."
SIZE_BUG = "size={size} is absurdly large: an allocation-size bug in Spotify, not the environment."
NO_CAUSE = ("Nothing in how this launch ran explains it: {summary}. It may be genuine memory pressure "
            "or a bug in this Spotify build.")


class Strength(IntEnum):
    POSSIBLE = 1
    LIKELY = 2


@dataclass(frozen=True)
class Cause:
    """A named cause with its evidence, advice and fix plans."""

    key: str
    text: str
    advice: tuple[str, ...] = ()
    fixes: tuple[Fix, ...] = ()
    strength: Strength = Strength.LIKELY
    settled: bool = False  # the config for the next launch already removes it
    short: str = ""  # a few words for summaries

    @property
    def label(self) -> str:
        return self.short or self.key

    def to_json(self) -> dict[str, JSONValue]:
        return {"key": self.key, "short": self.label, "text": self.text, "strength": self.strength.name.lower(),
                "settled": self.settled, "fixes": [f.id for f in self.fixes]}


# -- fix plans ----------------------------------------------------------------------------

def _set_config(fix_id: str, title: str, key: str, value: str | bool | tuple[str, ...],
                *, safe: bool = True, notes: tuple[str, ...] = ()) -> Fix:
    step = SetConfig(f"set {key} in spotidoctor's config (the next launch uses it)", key=key, value=value)
    maker = Fix.safe if safe else Fix.unsafe
    return maker(fix_id, title, step, notes=notes)


def _manual(fix_id: str, title: str, *commands: str, notes: tuple[str, ...] = ()) -> Fix:
    return Fix.manual(fix_id, title, *(Instruction(c, text=c) for c in commands), notes=notes)


def _without_ipc_none(args: tuple[str, ...]) -> tuple[str, ...]:
    """``args`` without ``--ipc=none`` / ``--ipc none``."""
    kept: list[str] = []
    skip = False
    for index, arg in enumerate(args):
        if skip:
            skip = False
            continue
        if arg == "--ipc=none":
            continue
        if arg == "--ipc" and args[index + 1:index + 2] == ("none",):
            skip = True
            continue
        kept.append(arg)
    return tuple(kept)


def _limit_cause(key: str, text: str, advice: tuple[str, ...], fix: Fix, strength: Strength, short: str, *,
                 settled: bool = False) -> Cause:
    """An rlimit-style cause: once the config for the next launch removes it, no fix is offered."""
    return Cause(key=key, text=text, advice=advice, fixes=() if settled else (fix,), strength=strength,
                 settled=settled, short=short)


def shm_size_fix() -> Fix:
    """The config fix for a small /dev/shm (the crash verdict and the launch preflight share it)."""
    return _set_config("crash.shm-size", f"give the container a {SHM_FIX} /dev/shm", "shm_size", SHM_FIX)


def nofile_fix(nxt: Config, target: int = NOFILE_FIX) -> Fix:
    """The config fix for the open-files limit: ulimits gets nofile=TARGET:TARGET (rootless
    podman cannot go above the hard limit of the shell that starts it, so callers cap it)."""
    value = tuple(u for u in nxt.ulimits if not u.startswith("nofile=")) + (f"nofile={target}:{target}",)
    return _set_config("crash.ulimit-nofile", f"let Spotify open {target} files", "ulimits", value)


def raise_hard_nofile_fix(hard: int) -> Fix:
    """Manual: the user's own hard open-files limit is below what Chromium needs."""
    command = (f"Your hard open-files limit is {hard}; raise it (admin) in /etc/security/limits.conf, e.g. "
               f"`<user> hard nofile {NOFILE_FIX}`, then log in again and check `ulimit -Hn`.")
    return _manual("crash.raise-hard-nofile", "raise the hard open-files limit (admin)", command)


# -- out-of-memory causes -------------------------------------------------------------------

def cause_dev_shm(s: Settings, nxt: Config, cef: CefFacts | None) -> Cause | None:
    """A small, full or missing /dev/shm: Chromium keeps its shared memory there (and, when
    memfd is unavailable, only there); podman's default is 64 MB, and ``--ipc=none`` gives none."""
    if s.ipc == "none":
        args = _without_ipc_none(nxt.extra_run_args)
        settled = args == nxt.extra_run_args
        fix = _set_config("crash.drop-ipc-none", "remove --ipc=none from extra_run_args", "extra_run_args", args,
                          safe=False)
        return Cause(key="dev-shm", text="The container had no /dev/shm at all (--ipc=none): Chromium cannot "
                     "create shared memory.", advice=("Remove --ipc=none from extra_run_args.",),
                     fixes=() if settled else (fix,), settled=settled, short="no /dev/shm (--ipc=none)")
    if s.dev_shm_disabled:
        return None
    if s.shm_bytes is None:
        free = s.host_shm_free
        if free is not None and free < SHM_TOO_SMALL:
            return Cause(key="dev-shm", text=f"The host's /dev/shm (shared through --ipc=host) has only "
                         f"{human(free)} free.", advice=("Free space in /dev/shm on the host (`df -h /dev/shm`).",),
                         strength=Strength.POSSIBLE, short=f"the host's /dev/shm has {human(free)} free")
        return None
    if s.shm_bytes >= SHM_TOO_SMALL:
        return None
    strength = Strength.LIKELY
    note = ""
    if cef is not None and cef.memfd and not s.seccomp:
        strength, note = Strength.POSSIBLE, " This build uses memfd shared memory, so /dev/shm is only its fallback."
    fixed = parse_size(nxt.shm_size) or 0
    settled = fixed >= SHM_TOO_SMALL and fixed > s.shm_bytes
    return Cause(
        key="dev-shm",
        text=f"/dev/shm in the container was only {s.shm_text()}; Chromium keeps its shared memory there and "
             f"fails when it is full (podman's default is 64 MB).{note}",
        advice=(f"spotidoctor fix crash: sets shm_size = \"{SHM_FIX}\" (podman --shm-size={SHM_FIX}); "
                "/dev/shm is charged to memory only as it is used.",
                "Alternative: spotify_args = [\"--disable-dev-shm-usage\"] (shared memory in /tmp; untested with "
                "Spotify)."),
        fixes=() if settled else (_set_config("crash.shm-size", f"give the container a {SHM_FIX} /dev/shm",
                                              "shm_size", SHM_FIX),),
        strength=strength, settled=settled, short=f"/dev/shm was only {human(s.shm_bytes)} ({s.shm_source})",
    )


def cause_address_space(s: Settings, nxt: Config) -> Cause | None:
    """RLIMIT_AS (``ulimit -v``, limits.conf ``as``, systemd ``LimitAS=``): rootless podman
    passes it into the container (``--ulimit`` cannot set ``as``), and Chromium reserves far
    more address space than it uses."""
    limit = s.address_space
    if limit is None or limit.soft is None:
        return None
    strength = Strength.LIKELY if limit.soft < AS_NEEDED else Strength.POSSIBLE
    short = f"address space limited to {human(limit.soft)} (ulimit -v)"
    text = (f"The address space was limited to {human(limit.soft)} (ulimit -v, {limit.source}); Chromium reserves "
            f"far more than that (new builds need over 64 GiB) and dies when a mapping fails.")
    if limit.hard is None or limit.hard > limit.soft:
        fix = _set_config("crash.lift-rlimit-as", "raise the address-space limit before starting podman",
                          "lift_rlimit_as", True)
        advice = (f"The hard limit is {human(limit.hard)}: spotidoctor can raise the soft limit before podman "
                  "(lift_rlimit_as = true).",)
        return _limit_cause("rlimit-as", text, advice, fix, strength, short, settled=nxt.lift_rlimit_as)
    commands = (
        f"The hard limit is {human(limit.hard)}; only root can raise it. Find it with: "
        "grep -rn -w as /etc/security/limits.conf /etc/security/limits.d/ ; "
        "systemctl --user show -p LimitAS",
        "Remove that `as` line (or LimitAS=), log out and in, then check: ulimit -Hv   (must print unlimited)",
    )
    fix = _manual("crash.raise-hard-rlimit-as", "remove the hard address-space limit (admin)", *commands)
    return _limit_cause("rlimit-as", text, commands, fix, strength, short + ", hard")


def cause_overcommit(s: Settings) -> Cause | None:
    """Strict commit accounting on the host (``vm.overcommit_memory=2``): not namespaced, so
    it applies to every container, and Chromium's reservations fail."""
    if s.overcommit != 2:
        return None
    headroom = f" (commit headroom now {human(max(s.commit_headroom, 0))})" if s.commit_headroom is not None else ""
    commands = ("sudo sysctl -w vm.overcommit_memory=0",
                "echo 'vm.overcommit_memory = 0' | sudo tee /etc/sysctl.d/60-spotidoctor-overcommit.conf")
    return Cause(key="overcommit", text=f"The host has vm.overcommit_memory=2 (strict commit accounting){headroom}: "
                 "Chromium's reservations fail. It is a host setting; no container option changes it.",
                 advice=commands, fixes=(_manual("crash.overcommit", "allow memory overcommit on the host (admin)",
                                                 *commands,
                                                 notes=("Or keep 2 and raise vm.overcommit_ratio / add swap.",)),),
                 short="vm.overcommit_memory=2 on the host")


def cause_nofile(s: Settings, nxt: Config, *, seen_in_log: bool = False) -> Cause | None:
    """Too few file descriptors (``--ulimit nofile``, a low hard limit): creating a shared
    memory file or memfd fails with EMFILE."""
    limit = s.nofile
    hard = limit.hard if limit else None
    if not seen_in_log and (hard is None or hard >= NOFILE_RECOMMENDED):
        return None
    strength = Strength.LIKELY if seen_in_log or (hard is not None and hard < NOFILE_LOW) else Strength.POSSIBLE
    shown = limit.text() if limit else "unknown"
    text = f"Spotify ran out of file descriptors (open files limit {shown})."
    short = "out of file descriptors"
    if not seen_in_log:
        text = f"The open files limit was {shown}; Chromium needs thousands (at least {NOFILE_RECOMMENDED})."
        short = f"open files limit {limit_number(hard)}"
    target = NOFILE_FIX
    ceiling = s.podman_nofile_hard
    if ceiling is not None and ceiling < target:
        target = ceiling
    configured = next((parse_ulimit(u) for u in reversed(nxt.ulimits) if u.startswith("nofile=")), None)
    settled = bool(configured and configured[2] is not None and configured[2] >= max(NOFILE_RECOMMENDED,
                                                                                     (hard or 0) + 1))
    if target < NOFILE_RECOMMENDED:
        commands = (f"Your hard open-files limit is {target}; raise it (admin) in /etc/security/limits.conf, e.g. "
                    f"`{'<user>'} hard nofile {NOFILE_FIX}`, then log in again and check `ulimit -Hn`.",)
        fix = _manual("crash.raise-hard-nofile", "raise the hard open-files limit (admin)", *commands)
        return Cause(key="nofile", text=text, advice=commands, fixes=(fix,), strength=strength, settled=settled,
                     short=short)
    value = tuple(u for u in nxt.ulimits if not u.startswith("nofile=")) + (f"nofile={target}:{target}",)
    fix = _set_config("crash.ulimit-nofile", f"let Spotify open {target} files", "ulimits", value)
    advice = (f"spotidoctor fix crash: ulimits gets nofile={target}:{target} (podman --ulimit).",)
    return _limit_cause("nofile", text, advice, fix, strength, short, settled=settled)


def cause_data(s: Settings, nxt: Config) -> Cause | None:
    """RLIMIT_DATA (``--ulimit data=``, the launching shell's ``ulimit -d``): since Linux 4.7
    it counts private writable mappings, so Chromium's allocations and threads fail."""
    limit = s.data
    if limit is None or limit.soft is None:
        return None
    strength = Strength.LIKELY if limit.soft < DATA_LOW else Strength.POSSIBLE
    text = f"The data segment was limited to {human(limit.soft)} ({limit.source})."
    short = f"data size limited to {human(limit.soft)}"
    if s.data_from_config:
        value = tuple(u for u in nxt.ulimits if not u.startswith("data="))
        fix = _set_config("crash.drop-ulimit-data", "drop the data-size limit", "ulimits", value)
        return _limit_cause("rlimit-data", text, ("spotidoctor fix crash: removes data= from ulimits.",), fix,
                            strength, short)
    settled = limit.source == "--ulimit" and not any(u.startswith("data=") for u in nxt.ulimits) and \
        not any(a.startswith("--ulimit") for a in nxt.extra_run_args)
    commands = ("ulimit -d unlimited   # in the shell that runs spotidoctor launch",
                "or remove the `data` line from /etc/security/limits.conf (admin) and log in again")
    fix = _manual("crash.rlimit-data", "remove the data-size limit", *commands)
    return _limit_cause("rlimit-data", text, commands, fix, strength, short, settled=settled)


def cause_seccomp(s: Settings) -> Cause | None:
    """A custom seccomp profile that blocks ``memfd_create``: new Chromium then falls back to
    /dev/shm (podman's default profile allows it)."""
    if not s.seccomp or s.seccomp == "unconfined":
        return None
    return Cause(key="seccomp", text=f"The container used a custom seccomp profile ({s.seccomp}); if it blocks "
                 "memfd_create, Chromium falls back to /dev/shm.",
                 advice=("Make sure the profile allows memfd_create and clone3, or use podman's default profile.",),
                 strength=Strength.POSSIBLE, short="a custom seccomp profile")


def cause_memory_limit(s: Settings) -> Cause | None:
    """A memory cgroup limit (``--memory``, the user slice): the kernel's OOM killer sends
    SIGKILL (exit 137); Chromium never logs its own out-of-memory line for it."""
    limits = [v for v in (s.memory, s.cgroup_memory_max) if v]
    if not limits and not s.oom_killed:
        return None
    smallest = min(limits) if limits else None
    if smallest is not None and smallest >= MEMORY_LOW and not s.oom_killed:
        return None
    where = f"a memory limit of {human(smallest)}" if smallest else "the memory limit"
    likely = s.oom_killed or (smallest and smallest < MEMORY_LOW)
    return Cause(key="memory-limit", text=f"The kernel killed Spotify for exceeding {where}"
                 + (" (podman: OOMKilled)." if s.oom_killed else "."),
                 advice=("Remove --memory from extra_run_args or raise it to 4g or more; /dev/shm use counts too.",
                         "Check the user slice: systemctl --user show -p MemoryMax"),
                 strength=Strength.LIKELY if likely else Strength.POSSIBLE,
                 short=f"memory limit {human(smallest)}" if smallest else "memory limit")


# -- out-of-memory reasoning ---------------------------------------------------------------

def read_size(size: int | None, shm_precursors: bool) -> tuple[str, tuple[str, ...]]:
    """(bucket, notes) for the ``size=`` of the OOM line."""
    if size is None:
        return "unknown", ()
    if size >= 2 ** 31:
        return "size-bug", (SIZE_BUG.format(size=size),)
    notes: list[str] = []
    full = next((k for k in SHM_SIZES if len(str(k)) == len(str(size)) + 1 and str(k).startswith(str(size))
                 and size != 0), None)
    if full is not None:
        notes.append(SIZE_TRUNCATED.format(size=size, full=full))
        size = full
    if size == 0:
        return "heap", (*notes, SIZE_HEAP)
    if size in SHM_SIZES or size % 65536 == 0 or shm_precursors:
        return "shm", (*notes, SIZE_SHM.format(size=size))
    return "other", tuple(notes)


_ORDER = {
    "shm": ("dev-shm", "nofile", "seccomp", "rlimit-as", "overcommit", "rlimit-data"),
    "heap": ("rlimit-as", "overcommit", "rlimit-data", "dev-shm", "nofile", "seccomp"),
    "other": ("dev-shm", "rlimit-as", "overcommit", "nofile", "rlimit-data", "seccomp"),
    "unknown": ("dev-shm", "rlimit-as", "overcommit", "nofile", "rlimit-data", "seccomp"),
    "size-bug": ("dev-shm", "rlimit-as", "overcommit", "nofile", "rlimit-data", "seccomp"),
}


def oom_causes(s: Settings, nxt: Config, cef: CefFacts | None, bucket: str) -> list[Cause]:
    """Every cause that applies, most likely first: strength, then the bucket's order."""
    found = {c.key: c for c in (cause_dev_shm(s, nxt, cef), cause_address_space(s, nxt), cause_overcommit(s),
                                cause_nofile(s, nxt), cause_data(s, nxt), cause_seccomp(s)) if c is not None}
    ordered = [found[k] for k in _ORDER[bucket] if k in found]
    return sorted(ordered, key=lambda c: -c.strength)  # sorted() is stable: the order holds within a strength


def size_bug(size: int | None) -> Cause:
    return Cause(key="size-bug", text=SIZE_BUG.format(size=size),
                 advice=("Report it (`spotidoctor report`) and try a newer Spotify (`spotidoctor build --no-cache`).",),
                 short="an allocation-size bug")


def no_cause(s: Settings, bucket: str, nxt: Config) -> Cause:
    advice = ("Watch memory while it runs (`podman stats`); a bigger /dev/shm or "
              "spotify_args = [\"--disable-dev-shm-usage\"] may still help.",
              "If it keeps happening, rebuild for a newer Spotify (`spotidoctor build --no-cache`) and report it "
              "(`spotidoctor report`).")
    fixes: tuple[Fix, ...] = ()
    if bucket == "shm" and "--disable-dev-shm-usage" not in nxt.spotify_args and not s.dev_shm_disabled:
        fixes = (_set_config("crash.disable-dev-shm-usage", "let Chromium keep shared memory in /tmp instead",
                             "spotify_args", (*nxt.spotify_args, "--disable-dev-shm-usage"), safe=False,
                             notes=("Untested with Spotify.",)),)
    return Cause(key="none-found", text=NO_CAUSE.format(summary=s.summary()), advice=advice, fixes=fixes,
                 strength=Strength.POSSIBLE,
                 short=f"none of the known limits (/dev/shm {human(s.shm_bytes)})" if s.shm_bytes else
                 "none of the known limits")


# -- causes named by other killer lines -------------------------------------------------------

def cause_shm_access(s: Settings, nxt: Config) -> Cause:
    if s.ipc == "none":
        cause = cause_dev_shm(s, nxt, None)
        if cause is not None:
            return cause
    where = " (a volume is mounted over it)" if s.shm_source.startswith("tmpfs") or s.ipc else ""
    return Cause(key="dev-shm-access", text=f"Chromium could not use /dev/shm{where}: it must be a writable tmpfs "
                 "with mode 1777.", advice=("Do not mount a host directory over /dev/shm; use shm_size instead.",
                                            "Remove --ipc=none or a /dev/shm volume from extra_run_args."),
                 short="/dev/shm not usable")


def cause_sandbox(nxt: Config) -> Cause:
    settled = "--no-sandbox" in nxt.spotify_args
    fix = _set_config("crash.no-sandbox", "run Spotify without Chromium's own sandbox (the container is the "
                      "sandbox)", "spotify_args", (*nxt.spotify_args, "--no-sandbox"), safe=False)
    return Cause(key="sandbox", text="Chromium's sandbox needs user namespaces or a setuid helper that a rootless "
                 "container does not offer.", advice=("spotify_args = [\"--no-sandbox\"]: the container already "
                                                      "isolates Spotify.",),
                 fixes=() if settled else (fix,), settled=settled, short="Chromium's sandbox")


def cause_threads(s: Settings, nxt: Config) -> Cause:
    data = cause_data(s, nxt)
    if data is not None:
        return data
    limit = f" (pids limit {s.pids_limit})" if s.pids_limit else ""
    return Cause(key="threads", text=f"Thread or process creation failed{limit}.",
                 advice=("Remove --pids-limit from extra_run_args or use --pids-limit=-1.",
                         "Check `ulimit -u` in the launching shell and the user slice's TasksMax."),
                 strength=Strength.POSSIBLE, short="thread/process limits")


def cause_display() -> Cause:
    return Cause(key="display", text="Spotify could not open the X display: the socket, DISPLAY or the X cookie in "
                 "the container is wrong.", advice=("Run `spotidoctor check x11` and `spotidoctor fix x11`.",),
                 short="X display access")


def cause_gpu(nxt: Config) -> Cause:
    settled = "--disable-gpu" in nxt.spotify_args
    fix = _set_config("crash.disable-gpu", "render without the GPU", "spotify_args",
                      (*nxt.spotify_args, "--disable-gpu"))
    return Cause(key="gpu", text="The GPU process could not start or crashed (no usable GPU in the container).",
                 advice=("spotify_args = [\"--disable-gpu\"] renders in software.",
                         "If it persists, clear Spotify's cache directory (its GPU shader cache)."),
                 fixes=() if settled else (fix,), settled=settled, short="no usable GPU")


def cause_mit_shm() -> Cause:
    # The launcher's --ipc=private is deliberate (and --ipc=host conflicts with --shm-size),
    # so there is no config fix to offer; Chromium usually falls back to plain X requests.
    return Cause(key="mit-shm", text="The X server cannot attach shared memory (MIT-SHM) from the container's "
                 "private IPC namespace. Chromium normally falls back to plain X requests, so this is rarely what "
                 "ends Spotify.",
                 advice=("If the window stays blank, try spotify_args = [\"--disable-gpu\"]; the private IPC "
                         "namespace keeps the host's shared memory out of the container's reach on purpose.",),
                 strength=Strength.POSSIBLE, short="MIT-SHM across IPC namespaces")


def cause_check_failed(hit: Hit) -> Cause:
    condition = hit.groups.get("cond", "").strip() or "NOTREACHED"
    return Cause(key="check-failed", text=f"A Chromium CHECK failed ({printable(condition, 120)}): usually a bug "
                 "in this Spotify build or an environment it does not expect.",
                 advice=("Rebuild for a newer Spotify: spotidoctor build --no-cache",
                         "If it persists, write a report: spotidoctor report"), strength=Strength.POSSIBLE,
                 short="a failed CHECK (a bug)")


def cause_v8() -> Cause:
    return Cause(key="v8-oom", text="A renderer's JavaScript heap or V8 reservation ran out (also caused by "
                 "address-space limits and overcommit=2).",
                 advice=("Check `ulimit -v` and vm.overcommit_memory; restart Spotify.",),
                 strength=Strength.POSSIBLE, short="JavaScript heap")


def cause_memory_pressure() -> Cause:
    return Cause(key="memory-pressure", text="The kernel's OOM killer ended a Spotify process: the host or its "
                 "cgroup ran out of memory.", advice=("Close other programs or raise the memory limit of the user "
                                                      "slice.",),
                 short="memory pressure")


def cause_segfault() -> Cause:
    return Cause(key="segfault", text="Spotify crashed with a fatal signal (a bug, a broken GPU driver or a damaged "
                 "cache).", advice=("Try spotify_args = [\"--disable-gpu\"]; clear Spotify's cache directory; "
                                    "rebuild the image.",),
                 strength=Strength.POSSIBLE, short="a fatal signal")


def cause_pulse() -> Cause:
    return Cause(key="pulse", text="Spotify could not connect to the audio server (socket or cookie).",
                 advice=("Run `spotidoctor check pulse` and `spotidoctor fix pulse`.",), strength=Strength.POSSIBLE,
                 short="audio server access")


def cause_killed() -> Cause:
    return Cause(key="killed", text="Something sent SIGKILL: the kernel's OOM killer or `podman kill`/`podman stop` "
                 "after its timeout.",
                 advice=("Look for `Killed process` in `journalctl -k` (may need admin rights).",),
                 strength=Strength.POSSIBLE, short="SIGKILL (OOM killer or podman kill)")


def cause_profile_lock(hit: Hit, nxt: Config) -> Cause:
    host, pid = hit.groups.get("host", "?"), hit.groups.get("pid", "?")
    return Cause(
        key="profile-lock",
        text=f"Chromium's profile lock in your storage (a SingletonLock link) names host {host}, pid {pid}: the "
             "launch that made it ended without removing it (a crash, or `podman kill`). Each container used to "
             "get a new random host name, so Spotify took its own stale lock for another computer's.",
        advice=("spotidoctor fix crash removes the lock, only while no Spotify container runs; launches now give "
                "the container a stable host name, so Spotify clears such a lock itself.",),
        fixes=(profilelock.stale_lock_fix(nxt),), short="a stale profile lock")


def cause_podman_error() -> Cause:
    return Cause(key="podman-error", text="podman could not start Spotify, and printed no error line that "
                 "spotidoctor saw (it reads podman's stderr during `spotidoctor launch` only).",
                 advice=("Run `spotidoctor check podman image`; the terminal you launched from shows podman's "
                         "message.",), strength=Strength.POSSIBLE, short="podman error")


def cause_unknown(exit_text: str) -> Cause:
    return Cause(key="unknown", text=f"Spotify ended with {exit_text} and logged no known fatal error.",
                 advice=("Read the launch's whole log; spotify_args = [\"--show-console\"] makes Spotify log more.",),
                 strength=Strength.POSSIBLE, short="unknown")
