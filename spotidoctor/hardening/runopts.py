"""``podman run`` options as podman parses them (spf13/pflag rules), for auditing extra_run_args.

Pure. The option table is podman 4.3.1's (``podman run --help``: options followed by a type
take a value, the rest are booleans) plus the hidden alias ``--net``. pflag rules:
``--opt=value``, ``--opt value`` (the next argument, even one starting with ``-``), boolean
``--opt`` or ``--opt=false``, short options ``-v value``, ``-vvalue``, ``-v=value`` and
clusters of boolean shorts (``-it``). ``--`` and the first non-option argument end the
options: podman would take that argument as the IMAGE and everything after it (spotidoctor's
own ``--entrypoint``, image and Spotify arguments) as the command.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["RunOption", "ParsedArgs", "parse_run_args", "VALUE_OPTIONS", "BOOL_OPTIONS", "SHORT_OPTIONS",
           "is_true"]

VALUE_OPTIONS = frozenset({
    "add-host", "annotation", "arch", "attach", "authfile", "blkio-weight", "blkio-weight-device", "cap-add",
    "cap-drop", "cgroup-conf", "cgroup-parent", "cgroupns", "cgroups", "chrootdirs", "cidfile", "conmon-pidfile",
    "cpu-period", "cpu-quota", "cpu-rt-period", "cpu-rt-runtime", "cpu-shares", "cpus", "cpuset-cpus",
    "cpuset-mems", "detach-keys", "device", "device-cgroup-rule", "device-read-bps", "device-read-iops",
    "device-write-bps", "device-write-iops", "dns", "dns-option", "dns-search", "entrypoint", "env", "env-file",
    "env-merge", "expose", "gidmap", "group-add", "health-cmd", "health-interval", "health-on-failure",
    "health-retries", "health-start-period", "health-timeout", "hostname", "hostuser", "image-volume",
    "init-path", "ip", "ip6", "ipc", "label", "label-file", "log-driver", "log-opt", "mac-address", "memory",
    "memory-reservation", "memory-swap", "memory-swappiness", "mount", "name", "network", "network-alias",
    "oom-score-adj", "os", "passwd-entry", "personality", "pid", "pidfile", "pids-limit", "platform", "pod",
    "pod-id-file", "preserve-fds", "publish", "pull", "requires", "restart", "sdnotify", "seccomp-policy", "secret",
    "security-opt", "shm-size", "stop-signal", "stop-timeout", "subgidname", "subuidname", "sysctl", "systemd",
    "timeout", "tmpfs", "tz", "uidmap", "ulimit", "umask", "unsetenv", "user", "userns", "uts", "variant",
    "volume", "volumes-from", "workdir",
})
BOOL_OPTIONS = frozenset({
    "detach", "disable-content-trust", "env-host", "help", "http-proxy", "init", "interactive", "no-healthcheck",
    "no-hosts", "oom-kill-disable", "passwd", "privileged", "publish-all", "quiet", "read-only", "read-only-tmpfs",
    "replace", "rm", "rmi", "rootfs", "sig-proxy", "tls-verify", "tty", "unsetenv-all",
})
ALIASES = {"net": "network"}
SHORT_OPTIONS = {"a": "attach", "c": "cpu-shares", "d": "detach", "e": "env", "h": "hostname", "i": "interactive",
                 "l": "label", "m": "memory", "p": "publish", "P": "publish-all", "q": "quiet", "t": "tty",
                 "u": "user", "v": "volume", "w": "workdir"}


@dataclass(frozen=True)
class RunOption:
    name: str  # the long name ("volume"), or the spelling as given when spotidoctor does not know it
    value: str | None  # None: a boolean given without a value
    spelled: str  # as written: "-v /:/host", "--privileged"
    known: bool = True

    @property
    def enabled(self) -> bool:
        """A boolean option in effect (``--privileged``, ``--privileged=true``)."""
        return self.value is None or is_true(self.value)


@dataclass(frozen=True)
class ParsedArgs:
    options: tuple[RunOption, ...]
    problems: tuple[str, ...]  # arguments that would change what podman runs


def is_true(value: str) -> bool:
    """strconv.ParseBool's true spellings (pflag booleans)."""
    return value in ("1", "t", "T", "TRUE", "true", "True")


def _long(token: str, rest: list[str]) -> RunOption:
    name, eq, value = token[2:].partition("=")
    name = ALIASES.get(name, name)
    if eq:
        return RunOption(name, value, token, name in VALUE_OPTIONS or name in BOOL_OPTIONS)
    if name in BOOL_OPTIONS:
        return RunOption(name, None, token)
    if name in VALUE_OPTIONS:
        if not rest:
            return RunOption(name, "", token)
        value = rest.pop(0)
        return RunOption(name, value, f"{token} {value}")
    # Unknown (a newer podman?): take a following non-option word as its value rather than
    # calling it the image.
    if rest and not rest[0].startswith("-"):
        value = rest.pop(0)
        return RunOption(token, value, f"{token} {value}", known=False)
    return RunOption(token, None, token, known=False)


def _shorts(token: str, rest: list[str]) -> list[RunOption]:
    found = []
    for i, char in enumerate(token[1:], start=1):
        name = SHORT_OPTIONS.get(char)
        if name is None:
            found.append(RunOption(f"-{char}", None, token, known=False))
            return found
        if name in BOOL_OPTIONS:
            if token[i + 1:i + 2] == "=":
                found.append(RunOption(name, token[i + 2:], token))
                return found
            found.append(RunOption(name, None, token))
            continue
        attached = token[i + 1:]
        if attached:
            found.append(RunOption(name, attached.removeprefix("="), token))
        elif rest:
            value = rest.pop(0)
            found.append(RunOption(name, value, f"{token} {value}"))
        else:
            found.append(RunOption(name, "", token))
        return found
    return found


def _missing_value(option: RunOption) -> str | None:
    if option.known and option.name in VALUE_OPTIONS and option.value == "" and "=" not in option.spelled:
        return f"{option.spelled} needs a value (podman would refuse the command)"
    return None


def parse_run_args(args: Sequence[str]) -> ParsedArgs:
    rest = list(args)
    options: list[RunOption] = []
    problems: list[str] = []
    while rest:
        token = rest.pop(0)
        if token == "--" or not token.startswith("-") or token == "-":
            tail = " ".join([token, *rest])
            problems.append(f"{tail!r} is not an option: podman would run {token!r} as the image (or end its "
                            "options there), with spotidoctor's own image and Spotify arguments as its command")
            break
        found = [_long(token, rest)] if token.startswith("--") else _shorts(token, rest)
        options += found
        problems += [p for p in map(_missing_value, found) if p]
    return ParsedArgs(tuple(options), tuple(problems))
