"""Crash signatures: the known lines that kill Spotify (or come right before it dies)."""
from __future__ import annotations

import re
from dataclasses import dataclass

from spotidoctor.crash.lines import as_text


@dataclass(frozen=True)
class Signature:
    key: str
    pattern: re.Pattern[str]
    markers: tuple[str, ...]  # cheap substring test before the regex runs
    meaning: str


def _sig(key: str, pattern: str, markers: tuple[str, ...], meaning: str) -> Signature:
    return Signature(key, re.compile(pattern, re.M), markers, meaning)


SIGNATURES: tuple[Signature, ...] = (
    _sig("oom_terminate", r"Out of memory\. size=(?P<size>\d{1,20})", ("Out of memory. size=",),
         "Chromium's out-of-memory FATAL (base/process/memory.cc)"),
    _sig("oom_new_handler", r"memory_linux\.cc[(:]\d{1,9}\)?\] Out of memory(?:, size = (?P<size>\d{1,20})|\.)",
         ("memory_linux.cc",), "out of memory in the new-handler (memory_linux.cc)"),
    _sig("v8_oom", r"V8 process OOM \((?P<where>[^)]*)\)|Fatal (?:process|JavaScript|javascript) "
         r"(?:out of memory|OOM)|Oilpan: Out of memory|Reached heap limit|Ineffective mark-compacts near heap limit",
         ("OOM", "out of memory", "Oilpan", "heap limit"), "V8/Oilpan out of memory"),
    _sig("shm_low", r"Less than 64MB of free space in temporary directory for shared memory files: (?P<mb>\d{1,20})",
         ("Less than 64MB",), "/dev/shm nearly full"),
    _sig("shm_create_fail", r"Creating shared memory in (?P<path>\S+) failed: (?P<err>.+)",
         ("Creating shared memory in",), "creating shared memory failed"),
    _sig("shm_access", r"Unable to access\(W_OK\|X_OK\) (?P<dir>\S+)|frequently caused by incorrect permissions "
         r"on /dev/shm", ("Unable to access(W_OK", "incorrect permissions on /dev/shm"),
         "/dev/shm missing or not writable"),
    _sig("shm_alloc_fail", r"Browser failed to (?:allocate|map) shared memory|Failed to allocate (?P<bytes>\d{1,20}) "
         r"bytes\.|AllocateRingBuffer\(\) failed", ("shared memory", "Failed to allocate", "AllocateRingBuffer"),
         "a shared-memory allocation failed"),
    _sig("mojo_broker", r"broker_posix\.cc[(:]\d{1,9}\)?\] (?:Received unexpected number of handles|Invalid node "
         r"channel message|Recvmsg error)", ("broker_posix",),
         "a child asked the browser for shared memory and got none"),
    _sig("thread_fail", r"pthread_create: (?P<err>[^\n]+)|Failed to start BrowserThread|Error creating thread|"
         r"Zygote could not fork|Did not receive ping from zygote child",
         ("pthread_create", "BrowserThread", "Error creating thread", "Zygote could not fork", "ping from zygote"),
         "threads or processes could not be created"),
    _sig("fd_exhausted", r"Too many open files", ("Too many open files",), "out of file descriptors"),
    _sig("gpu_crash", r"GPU process exited unexpectedly: exit_code=(?P<code>-?\d{1,12})|GPU process launch failed: "
         r"error_code=(?P<err>\d{1,12})|GPU process isn't usable\. Goodbye\.|Exiting GPU process due to errors "
         r"during initialization|Failed to launch GPU process|gpu_init\.cc|CollectGraphicsInfo failed|"
         r"Lost UI shared context", ("GPU process", "gpu_init", "CollectGraphicsInfo", "Lost UI shared context"),
         "the GPU process failed"),
    _sig("no_display", r"Missing X server or \$DISPLAY|Unable to open X display|cannot open display|"
         r"Authorization required, but no authorization protocol specified",
         ("X server or $DISPLAY", "X display", "cannot open display", "Authorization required"),
         "the X display could not be opened"),
    _sig("mit_shm", r"BadAccess \(attempt to access private resource denied\)|BadShmSeg|MIT-SHM|X_ShmAttach|"
         r"error_code 10 \(BadAccess\), request_code 130", ("BadAccess", "BadShmSeg", "MIT-SHM", "X_ShmAttach"),
         "the X server cannot attach the container's shared memory (MIT-SHM)"),
    _sig("sandbox", r"No usable sandbox!|The SUID sandbox helper binary|Failed to move to new namespace|"
         r"InitializeSandbox\(\) called with multiple threads|credentials\.cc[(:]\d{1,9}\)?\] Check failed|"
         r"zygote_host_impl_linux\.cc[(:]\d{1,9}\)?\] Check failed",
         ("sandbox", "Failed to move to new namespace", "InitializeSandbox", "credentials.cc",
          "zygote_host_impl_linux"), "Chromium's sandbox could not start"),
    _sig("check_failed", r"Check failed: (?P<cond>[^\n]*)|NOTREACHED hit", ("Check failed", "NOTREACHED hit"),
         "an internal consistency check failed"),
    _sig("signal_dump", r"^Received signal (?P<sig>\d{1,3})(?: (?P<code>[A-Z_]+))?(?: (?P<addr>[0-9a-fx]+))?",
         ("Received signal ",), "a fatal signal (in-process stack dump)"),
    _sig("shell_signal", r"Trace/breakpoint trap|Illegal instruction|Segmentation fault|Bus error|"
         r"Aborted(?: \(core dumped\))?$|(?:^|\s)Killed$",
         ("Trace/breakpoint trap", "Illegal instruction", "Segmentation fault", "Bus error", "Aborted", "Killed"),
         "a fatal signal (reported by a shell)"),
    _sig("kernel_oomkill", r"Memory cgroup out of memory: Killed process \d{1,10} \((?P<comm>[^)]+)\)|Out of memory: "
         r"Killed process \d{1,10} \((?P<comm2>[^)]+)\)|oom-kill:", ("Killed process", "oom-kill:"),
         "the kernel's OOM killer"),
    _sig("profile_in_use", r"profile appears to be in use by another (?P<product>\S+) process \((?P<pid>\d{1,10})\) "
         r"on another computer \((?P<host>[^)\s]{1,255})\)", ("profile appears to be in use",),
         "Chromium's profile lock names another computer"),
    _sig("pulse", r"pa_context_connect\(\) failed|Connection refused.*pulse|PulseAudio|ALSA lib |"
         r"(?i:pulse)[^\n]*(?:Connection refused|Access denied)|Access denied[^\n]*(?i:pulse)",
         ("pa_context_connect", "Connection refused", "PulseAudio", "ALSA lib ", "Access denied"),
         "audio could not connect to PulseAudio"),
)
SIGNATURE_KEYS = tuple(s.key for s in SIGNATURES)
MEANING = {s.key: s.meaning for s in SIGNATURES}
_ANY_MARKER = re.compile("|".join(sorted({re.escape(m) for s in SIGNATURES for m in s.markers}, key=len,
                                         reverse=True)))


def classify(text: str | bytes) -> list[tuple[str, dict[str, str]]]:
    """Every signature the line matches, with its named groups (only those that matched)."""
    line = as_text(text)
    if _ANY_MARKER.search(line) is None:
        return []
    found = []
    for sig in SIGNATURES:
        if not any(marker in line for marker in sig.markers):
            continue
        m = sig.pattern.search(line)
        if m is not None:
            found.append((sig.key, {k: v for k, v in m.groupdict().items() if v is not None}))
    return found
