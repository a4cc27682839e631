"""podman's own error lines: kept from a launch's stderr, quoted and mapped to advice.

A launch that podman rejects (exit status 125: a bad option, a missing mount source, a
runtime that cannot start) leaves nothing in the container log: the container never ran.
podman says why on its own stderr, as ``Error: <text>`` (or a logrus
``level=error msg="<text>"`` line), so the launch keeps the last lines of its stderr while
passing everything through to the terminal (``teeing``), and the verdict quotes the
error line and maps the common ones to advice (``cause_for``).
"""
from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the causes are built only when a launch failed (~13 ms to import)
    from spotidoctor.crash.causes import Cause
from spotidoctor.crash.lines import printable

KEEP_LINES = 60  # the tail kept in memory; podman's error is among the last lines it prints
MAX_ERRORS = 3
_LINE_LIMIT = 4096  # a partial line longer than this is cut (Chromium can print long lines)

_ERROR = re.compile(r'^(?:Error: (?P<plain>.+)|.*\blevel=(?:error|fatal) msg="(?P<logrus>(?:[^"\\]|\\.)*)")')


@dataclass
class Tail:
    """The last lines of podman's stderr (fed by ``teeing`` as they pass to the terminal)."""

    lines: deque[str] = field(default_factory=lambda: deque(maxlen=KEEP_LINES))
    _partial: bytes = b""

    def feed(self, data: bytes) -> None:
        chunk = self._partial + data
        *complete, self._partial = chunk.split(b"\n")
        self._partial = self._partial[-_LINE_LIMIT:]
        for raw in complete:
            self.lines.append(raw[:_LINE_LIMIT].decode("utf-8", errors="replace"))

    def errors(self) -> tuple[str, ...]:
        pending = [self._partial.decode("utf-8", errors="replace")] if self._partial else []
        return error_lines([*self.lines, *pending])


def error_lines(lines: Iterable[str]) -> tuple[str, ...]:
    """podman's error messages among ``lines`` (the text after ``Error: ``), the last few."""
    found = []
    for line in lines:
        m = _ERROR.match(line.strip())
        if m:
            text = m["plain"] if m["plain"] is not None else m["logrus"].replace('\\"', '"')
            found.append(printable(text.strip()))
    return tuple(found[-MAX_ERRORS:])


def teeing(write: Callable[[bytes], None], tail: Tail) -> Callable[[bytes], None]:
    """``write`` that also feeds ``tail`` (podman's stderr on its way to the terminal)."""
    def both(data: bytes) -> None:
        tail.feed(data)
        write(data)

    return both


# -- advice for podman's common errors ---------------------------------------------------------

@dataclass(frozen=True)
class _Known:
    pattern: re.Pattern[str]
    short: str
    text: str  # may use the pattern's named groups
    advice: tuple[str, ...]


_KNOWN = (
    _Known(re.compile(r"invalid ulimit type: (?P<name>\S+)"), "unknown ulimit name",
           "podman does not know the ulimit name {name!r} (from `ulimits` in spotidoctor's config or "
           "extra_run_args).",
           ("podman's names: core, cpu, data, fsize, locks, memlock, msgqueue, nice, nofile, nproc, rss, "
            "rtprio, rttime, sigpending, stack (e.g. \"nofile=65536:65536\"); the address space limit "
            "is not one of them: lift_rlimit_as = true raises it for the launch.",)),
    _Known(re.compile(r"error setting rlimit type (?P<type>\d+): operation not permitted"), "a limit above your own",
           "The container asked for a resource limit (rlimit {type}: 7 is open files) above the hard limit of the "
           "shell that started podman; rootless podman cannot raise it.",
           ("Lower it in `ulimits` (spotidoctor's config) to at most `ulimit -Hn` (open files), or have an admin "
            "raise the hard limit in /etc/security/limits.conf. `spotidoctor check crash.launch-settings` "
            "compares them.",)),
    _Known(re.compile(r'container name "(?P<name>[^"]+)" is already in use'), "container name in use",
           "A container named {name} exists already (a running Spotify, or one left after a crash).",
           ("`podman ps -a` shows it; `podman stop {name}` or `podman rm {name}` when it is a leftover.",)),
    _Known(re.compile(r"(?P<image>\S+): image not known|image not known"), "image missing",
           "The image is not in your podman storage.",
           ("`spotidoctor build` builds it; `podman images` lists what there is.",)),
    _Known(re.compile(r"short-name .* did not resolve|invalid reference format"), "bad image name",
           "podman cannot use the image name in spotidoctor's config.",
           ("Use a full local name such as localhost/spotify_pod (config key image).",)),
    _Known(re.compile(r"cgroups? in hybrid mode|cgroup.*not supported"), "container runtime and cgroups",
           "The container runtime cannot work with this machine's cgroup setup.",
           ("`spotidoctor check podman.runtime` tells which runtime works; `spotidoctor fix podman` "
            "switches to it.",)),
    _Known(re.compile(r"newuidmap|newgidmap|not enough IDs available|user namespace"), "user namespace",
           "podman could not set up your user namespace (subordinate ids, newuidmap).",
           ("`spotidoctor check userns` says what is wrong; after changing /etc/subuid run "
            "`podman system migrate`.",)),
    _Known(re.compile(r"statfs (?P<path>\S+?):? no such file or directory"), "a mounted file is missing",
           "Something the launch mounts is gone: {path}.",
           ("Run `spotidoctor check` (the socket or cookie files are re-created by `spotidoctor fix`), "
            "then launch again.",)),
    _Known(re.compile(r"unknown (?:shorthand )?flag: (?P<flag>\S+)"), "option podman does not know",
           "This podman does not know the option {flag} (from extra_run_args?).",
           ("Remove it from extra_run_args, or upgrade podman.",)),
    _Known(re.compile(r"no space left on device"), "disk full",
           "The disk with podman's storage or the launch logs is full.",
           ("`podman system df` shows podman's share; `podman system prune` removes unused data.",)),
    _Known(re.compile(r"exceeded num_locks|allocation failed"), "podman's lock table is full",
           "podman ran out of container locks.", ("`podman system renumber` frees them.",)),
)


def cause_for(errors: tuple[str, ...]) -> Cause | None:
    """The cause podman's own error line names, quoted; None when podman printed none."""
    from spotidoctor.crash.causes import Cause, Strength

    if not errors:
        return None
    line = errors[-1]
    for known in _KNOWN:
        m = known.pattern.search(line)
        if m:
            groups = {k: v or "" for k, v in m.groupdict().items()}
            return Cause(key="podman-error", text=f"podman said: {line}. " + known.text.format(**groups),
                         advice=tuple(a.format(**groups) for a in known.advice), short=known.short)
    return Cause(key="podman-error", text=f"podman said: {line}.",
                 advice=("spotidoctor does not know this error; `spotidoctor launch --dry-run` shows the whole "
                         "podman command to try by hand.",), strength=Strength.LIKELY, short="podman error")
