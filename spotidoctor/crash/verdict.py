"""The verdict for one run: which line (or exit status) ended it and the likely cause. Pure:
every rule is testable with faked ``Inputs``.

The log's killer line decides the event: Chromium's out-of-memory FATAL (or its silent twin,
a SIGTRAP/SIGILL exit without a line, from builds that use ``IMMEDIATE_CRASH``), or one of
the other known killers (fd exhaustion, sandbox, display, GPU, ...). For out-of-memory the
launch's settings are checked cause by cause (``causes.oom_causes``).
"""
from __future__ import annotations

import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from spotidoctor.config import Config
from spotidoctor.crash import causes, podmanerr
from spotidoctor.crash.causes import Cause, Strength
from spotidoctor.crash.cef import CefFacts
from spotidoctor.crash.scan import Hit, ScanResult
from spotidoctor.crash.settings import Settings
from spotidoctor.crash.signatures import MEANING
from spotidoctor.fixes import Fix
from spotidoctor.types import JSONValue

USER_STOP = (130, 143)  # SIGINT / SIGTERM: someone stopped it
PODMAN_ERRORS = {125: "podman itself failed", 126: "the command could not be invoked",
                 127: "the command was not found in the image"}

# -- user-facing texts (tests assert against these) --------------------------------------
SILENT_NOTE = ("Spotify died with {sig} without an out-of-memory line: newer Chromium builds reach the same "
               "out-of-memory path silently (IMMEDIATE_CRASH, exit 133/132), so the `Out of memory. size=` "
               "line is missing because of the build, not because the cause is different.")
TRAP_AFTER = ("Spotify died with {sig} right after logging this: Chromium turns the failure into a trap "
              "(IMMEDIATE_CRASH) without a FATAL line of its own.")
SILENT_NOTE_LEGACY = ("This build's libcef.so still contains `Out of memory. size=`, so an out-of-memory "
                      "crash would have been logged; the silent {sig} is more likely a CHECK or another trap.")


def signal_name(exit_code: int | None) -> str | None:
    """podman reports a signal death as 128 + signal number."""
    if exit_code is None or not 128 < exit_code < 128 + 65:
        return None
    try:
        return signal.Signals(exit_code - 128).name
    except ValueError:
        return f"signal {exit_code - 128}"


def describe_exit(exit_code: int | None) -> str:
    if exit_code is None:
        return "exit status unknown"
    sig = signal_name(exit_code)
    return f"exit status {exit_code} ({sig})" if sig else f"exit status {exit_code}"


# A FATAL line can match several signatures; the most specific names the event.
_SPECIFIC = ("profile_in_use", "oom_terminate", "oom_new_handler", "shm_access", "sandbox", "fd_exhausted",
             "thread_fail", "no_display", "gpu_crash", "mit_shm", "check_failed", "v8_oom", "kernel_oomkill",
             "signal_dump", "shell_signal", "pulse", "shm_create_fail", "shm_alloc_fail", "mojo_broker", "shm_low")
_FATAL_ALWAYS = frozenset({"signal_dump", "shell_signal", "kernel_oomkill", "no_display", "profile_in_use"})
_NOTABLE = ("fd_exhausted", "thread_fail", "mit_shm", "gpu_crash", "v8_oom", "shm_create_fail", "shm_alloc_fail",
            "mojo_broker", "shm_low", "shm_access", "sandbox", "pulse")
_SHM_PRECURSORS = ("shm_low", "mojo_broker", "shm_alloc_fail", "shm_create_fail")
_OOM = ("oom_terminate", "oom_new_handler")
# Errors that end Chromium with a trap and no FATAL line: the log names the cause itself.
_TRAPPING = ("fd_exhausted", "thread_fail")


def is_fatal(hit: Hit) -> bool:
    """A line that ends Spotify (a FATAL, a signal, the OOM killer, no display)."""
    if hit.signature in _FATAL_ALWAYS:
        return True
    if hit.signature == "gpu_crash" and "isn't usable" in hit.line.text:
        return True
    chromium = hit.chromium
    return chromium is not None and chromium.is_fatal


def killer(scan: ScanResult | None) -> Hit | None:
    """The line that ended the run: an OOM line if any, else the latest fatal-class line."""
    if scan is None:
        return None
    oom = scan.last(*_OOM)
    if oom is not None:
        return oom
    fatal = [h for h in scan.hits if is_fatal(h)]
    if not fatal:
        return None
    offset = fatal[-1].line.offset
    same_line = [h for h in fatal if h.line.offset == offset]
    return min(same_line, key=lambda h: _SPECIFIC.index(h.signature))


def notable(scan: ScanResult | None) -> Hit | None:
    """The latest non-fatal known error (context when nothing fatal was logged)."""
    return scan.last(*_NOTABLE) if scan else None


@dataclass(frozen=True)
class Verdict:
    """What happened in one launch (or container, or journal entry) and why."""

    source: str  # "launch 20261129-235959-abc123"
    launch_id: str | None
    crashed: bool
    event: str  # a signature key, "silent-trap", "exit", "podman-error", "clean", "stopped", "running"
    headline: str
    quote: str | None = None
    logged_at: str | None = None
    chromium_time: str | None = None
    exit_code: int | None = None
    cause: Cause | None = None
    also: tuple[Cause, ...] = ()
    evidence: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    extra: Mapping[str, JSONValue] = field(default_factory=dict)

    @property
    def signal(self) -> str | None:
        return signal_name(self.exit_code)

    @property
    def settled(self) -> bool:
        return self.cause is not None and self.cause.settled

    @property
    def fixes(self) -> tuple[Fix, ...]:
        return self.cause.fixes if self.cause else ()

    def summary(self) -> str:
        if self.cause is None:
            return self.headline
        kind = "likely cause" if self.cause.strength is Strength.LIKELY else "possible cause"
        pending = " (fixed in the config; launch again)" if self.cause.settled else ""
        return f"{self.headline}; {kind}: {self.cause.label}{pending}"

    def to_json(self) -> dict[str, JSONValue]:
        return {
            "source": self.source, "launch_id": self.launch_id, "crashed": self.crashed, "event": self.event,
            "headline": self.headline, "quote": self.quote, "logged_at": self.logged_at,
            "chromium_time": self.chromium_time, "exit_code": self.exit_code, "signal": self.signal,
            "cause": self.cause.key if self.cause else None, "cause_text": self.cause.text if self.cause else None,
            "cause_short": self.cause.label if self.cause else None, "settled": self.settled,
            "also": [c.key for c in self.also], "evidence": list(self.evidence),
            "notes": list(self.notes), **self.extra,
        }


@dataclass(frozen=True)
class Inputs:
    """Everything a verdict is judged from (built from the sources, or faked in tests)."""

    source: str
    launch_id: str | None
    exit_code: int | None
    finished: bool
    scan: ScanResult | None
    settings: Settings
    next_config: Config
    cef: Callable[[], CefFacts | None] = lambda: None  # asked only when it matters (a podman run)
    podman_errors: tuple[str, ...] = ()  # podman's own error lines (its stderr), newest last


def judge(inputs: Inputs) -> Verdict:
    """The verdict for one run: pure, so every rule is testable with faked inputs."""
    hit = killer(inputs.scan)
    code = inputs.exit_code
    base = Verdict(inputs.source, inputs.launch_id, False, "clean", "", exit_code=code)
    if hit is not None:
        return _with_quote(_judge_hit(inputs, hit, base), hit)
    if code is None:
        return replace(base, event="running" if not inputs.finished else "unknown",
                       headline="still running, or the launch was not recorded to the end")
    if code == 0:
        return replace(base, headline="exited normally (status 0)")
    if code in USER_STOP:
        return replace(base, event="stopped", headline=f"was stopped ({describe_exit(code)})")
    if code in PODMAN_ERRORS:
        return _podman_error(base, code, inputs)
    if code in (132, 133):
        return _trap(inputs, base)
    if code == 137:
        return _killed(inputs, base)
    return _unexplained(inputs, base)


def _trap(inputs: Inputs, base: Verdict) -> Verdict:
    """SIGTRAP/SIGILL without a fatal line: an error logged just before that names the cause
    (out of file descriptors, threads) decides; else the silent out-of-memory reasoning."""
    trapping = inputs.scan.last(*_TRAPPING) if inputs.scan else None
    if trapping is None:
        return _oom_verdict(inputs, None, replace(base, crashed=True, event="silent-trap"))
    verdict = _judge_hit(inputs, trapping, base)
    count = inputs.scan.counts.get(trapping.signature, 1) if inputs.scan else 1
    seen = f" (logged {count} times)" if count > 1 else ""
    note = TRAP_AFTER.format(sig=signal_name(base.exit_code) or describe_exit(base.exit_code)) + seen
    return _with_quote(replace(verdict, notes=(*verdict.notes, note)), trapping)


def _with_quote(verdict: Verdict, hit: Hit) -> Verdict:
    chromium = hit.chromium
    return replace(verdict, quote=hit.quote, logged_at=hit.line.logged_at,
                   chromium_time=chromium.display_stamp() if chromium else None)


def _judge_hit(inputs: Inputs, hit: Hit, base: Verdict) -> Verdict:
    code = inputs.exit_code
    crashed = code not in (0, None) and code not in USER_STOP
    base = replace(base, crashed=crashed, event=hit.signature)
    if hit.signature in _OOM:
        return _oom_verdict(inputs, hit, base)
    what, cause = _rule(inputs, hit)
    prefix = "Spotify crashed" if crashed else "Spotify logged a fatal error"
    return replace(base, headline=f"{prefix}: {what}, {describe_exit(code)}", cause=cause,
                   evidence=_evidence(inputs.scan, hit))


def _rule(inputs: Inputs, hit: Hit) -> tuple[str, Cause | None]:
    """What a killer line means and its cause, per signature."""
    s, nxt = inputs.settings, inputs.next_config
    rules: dict[str, Callable[[], tuple[str, Cause | None]]] = {
        "shm_access": lambda: ("/dev/shm is missing or not writable", causes.cause_shm_access(s, nxt)),
        "sandbox": lambda: ("Chromium's sandbox could not start", causes.cause_sandbox(nxt)),
        "fd_exhausted": lambda: ("ran out of file descriptors", causes.cause_nofile(s, nxt, seen_in_log=True)),
        "thread_fail": lambda: ("could not create threads or processes", causes.cause_threads(s, nxt)),
        "no_display": lambda: ("could not open the X display", causes.cause_display()),
        "gpu_crash": lambda: ("the GPU process failed", causes.cause_gpu(nxt)),
        "mit_shm": lambda: ("the X server refused the container's shared memory (MIT-SHM)",
                            causes.cause_mit_shm()),
        "check_failed": lambda: ("an internal check failed", causes.cause_check_failed(hit)),
        "v8_oom": lambda: ("JavaScript ran out of memory", causes.cause_v8()),
        "kernel_oomkill": lambda: ("killed by the kernel's OOM killer",
                                   causes.cause_memory_limit(s) or causes.cause_memory_pressure()),
        "signal_dump": lambda: (f"crashed with signal {hit.groups.get('sig', '?')}", causes.cause_segfault()),
        "shell_signal": lambda: (f"died: {hit.quote}", causes.cause_segfault()),
        "pulse": lambda: ("could not connect to the audio server", causes.cause_pulse()),
        "profile_in_use": lambda: ("its profile is locked by a Spotify \"on another computer\"",
                                   causes.cause_profile_lock(hit, nxt)),
    }
    rule = rules.get(hit.signature)
    return rule() if rule else (MEANING.get(hit.signature, hit.signature), None)


def _evidence(scan: ScanResult | None, hit: Hit | None, limit: int = 5) -> tuple[str, ...]:
    """Known error lines logged before the killer line (the precursors), oldest first."""
    if scan is None:
        return ()
    before = [h for h in scan.hits if hit is None or h.line.offset < hit.line.offset]
    seen: list[str] = []
    for h in reversed(before):
        if h.quote not in seen:
            seen.append(h.quote)
        if len(seen) >= limit:
            break
    return tuple(reversed(seen))


def _oom_verdict(inputs: Inputs, hit: Hit | None, base: Verdict) -> Verdict:
    s, nxt = inputs.settings, inputs.next_config
    scan = inputs.scan
    precursors = bool(scan and any(k in scan.latest for k in _SHM_PRECURSORS))
    size = hit.size if hit else None
    bucket, notes = causes.read_size(size, precursors)
    cef = inputs.cef()
    notes = (*notes, *_cef_notes(cef, hit is None, base.exit_code))
    found = causes.oom_causes(s, nxt, cef, bucket)
    if bucket == "size-bug":
        found = [causes.size_bug(size), *found]
    if not found:
        found = [causes.no_cause(s, bucket, nxt)]
    what = f"out of memory (size={size})" if size is not None else "silent out-of-memory trap"
    crashed = base.crashed or (hit is not None and base.exit_code not in (0, None, *USER_STOP))
    if hit is not None and not crashed:
        headline = f"Spotify logged an out-of-memory FATAL (size={size}) but {_exit_phrase(base.exit_code)}"
    else:
        headline = f"Spotify crashed: {what}, {describe_exit(base.exit_code)}"
    extra: dict[str, JSONValue] = {"size": size, "size_reading": bucket, "settings": s.to_json()}
    if cef is not None:
        extra.update(cef.to_json())  # type: ignore[arg-type]
    return replace(base, crashed=crashed, headline=headline, cause=found[0], also=tuple(found[1:]),
                   evidence=_evidence(scan, hit), notes=notes, extra=extra)


def _exit_phrase(code: int | None) -> str:
    if code is None:
        return "its exit status is not known"
    if code == 0:
        return "exited normally (a child process died)"
    return f"was stopped ({describe_exit(code)})"


def _cef_notes(cef: CefFacts | None, silent: bool, code: int | None) -> tuple[str, ...]:
    sig = signal_name(code) or describe_exit(code)
    notes = []
    if cef is not None:
        version = f"Chromium {cef.version}" if cef.version else "an unknown Chromium"
        logs = "logs" if cef.legacy_oom_log else "does not log"
        shm = "memfd" if cef.memfd else "/dev/shm files"
        notes.append(f"The image's libcef.so is {version}; it {logs} out-of-memory lines and keeps shared memory "
                     f"in {shm}.")
    if silent:
        legacy = cef is not None and cef.legacy_oom_log
        notes.append((SILENT_NOTE_LEGACY if legacy else SILENT_NOTE).format(sig=sig))
    return tuple(notes)


def _killed(inputs: Inputs, base: Verdict) -> Verdict:
    cause = causes.cause_memory_limit(inputs.settings) or causes.cause_killed()
    return replace(base, crashed=True, event="killed", headline=f"Spotify was killed, {describe_exit(137)}",
                   cause=cause, evidence=_evidence(inputs.scan, None))


def _podman_error(base: Verdict, code: int, inputs: Inputs) -> Verdict:
    said = podmanerr.cause_for(inputs.podman_errors)
    verdict = replace(base, crashed=True, event="podman-error",
                      headline=f"the container did not run: {PODMAN_ERRORS[code]} (exit status {code})",
                      cause=said or causes.cause_podman_error(), evidence=_evidence(inputs.scan, None))
    if said is None:
        return verdict
    return replace(verdict, quote=f"Error: {inputs.podman_errors[-1]}",
                   evidence=tuple(f"Error: {e}" for e in inputs.podman_errors[:-1]) or verdict.evidence)


def _unexplained(inputs: Inputs, base: Verdict) -> Verdict:
    """A non-zero exit without a fatal line: the last known error, if any, gets its own advice."""
    code = base.exit_code
    verdict = replace(base, crashed=True, event="exit", evidence=_evidence(inputs.scan, None),
                      headline=f"Spotify exited with {describe_exit(code)} and no fatal log line")
    context = notable(inputs.scan)
    what, cause = _rule(inputs, context) if context else ("", None)
    if context is None or cause is None:
        return replace(verdict, cause=causes.cause_unknown(describe_exit(code)))
    verdict = replace(verdict, event=context.signature, evidence=_evidence(inputs.scan, context),
                      headline=f"{verdict.headline}; the last known error: {what}",
                      cause=replace(cause, strength=Strength.POSSIBLE))
    return _with_quote(verdict, context)
