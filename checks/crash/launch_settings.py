"""crash.launch-settings: the config for the next launch has no limit the crash checks would
later blame (a small /dev/shm, too few open files)."""
from __future__ import annotations

from spotidoctor.api import Check, CheckResult, Context, FixAvailability, Message, Severity
from spotidoctor.crash import causes
from spotidoctor.crash.runopts import human, parse_size, parse_ulimit
from spotidoctor.fixes import Fix
from spotidoctor.types import JSONValue

SMALL_SHM = ("shm_size = \"{size}\" gives the container a {human} /dev/shm; Chromium keeps its shared memory "
             "there and Spotify crashes with 'Out of memory. size=262144' when it fills (at least {least} "
             "is safe; /dev/shm costs memory only as it is used)")
FEW_FILES = ("ulimits sets nofile={value}: Spotify may open only {hard} files; Chromium needs thousands "
             "(at least {least}) and crashes with 'Too many open files' below that")


class LaunchSettings(Check):
    """What it checks: the launch settings in spotidoctor's config, before Spotify starts:
    `shm_size` (at least 256 MiB) and an open-files limit in `ulimits` (at least 4096).

    Why it matters: both limits crash Spotify later, and the crash checks then blame them;
    saying so before the launch saves the crash.

    Fix safety: safe. Sets shm_size = "2g" / ulimits nofile=65536:65536 in spotidoctor's config
    (the same fixes the crash checks offer).
    """

    id = "crash.launch-settings"
    title = "Launch settings leave Spotify enough room"
    category = "crash"
    severity = Severity.WARNING
    tags = frozenset({"launch"})
    fix_availability = FixAvailability.SOMETIMES

    def run(self, ctx: Context) -> CheckResult:
        config = ctx.config
        problems: list[str] = []
        fixes: list[Fix] = []
        shm = parse_size(config.shm_size)
        facts: dict[str, JSONValue] = {"shm_size": config.shm_size, "shm_bytes": shm}
        if shm is not None and shm < causes.SHM_TOO_SMALL:
            problems.append(SMALL_SHM.format(size=config.shm_size, human=human(shm),
                                             least=human(causes.SHM_TOO_SMALL)))
            fixes.append(causes.shm_size_fix())
        nofile = next((parse_ulimit(u) for u in reversed(config.ulimits) if u.startswith("nofile=")), None)
        if nofile is not None and nofile[2] is not None and nofile[2] < causes.NOFILE_RECOMMENDED:
            facts["nofile_hard"] = nofile[2]
            value = next(u for u in reversed(config.ulimits) if u.startswith("nofile=")).split("=", 1)[1]
            problems.append(FEW_FILES.format(value=value, hard=nofile[2], least=causes.NOFILE_RECOMMENDED))
            fixes.append(causes.nofile_fix(config))
        if not problems:
            return self.ok(f"shm_size {config.shm_size}" + (f", nofile {nofile[2]}" if nofile and nofile[2] else ""),
                           facts=facts)
        return self.fail(problems[0], *(Message.error(p) for p in problems), facts=facts, fixes=tuple(fixes))
