"""crash.launch-settings: the config for the next launch has no limit the crash checks would
later blame (a small /dev/shm, too few open files)."""
from __future__ import annotations

from spotidoctor.api import Check, CheckResult, Context, FixAvailability, Message, Severity
from spotidoctor.crash import causes
from spotidoctor.crash.runopts import human, parse_size, parse_ulimit
from spotidoctor.fixes import Fix
from spotidoctor.probes.procs import Limit
from spotidoctor.types import JSONValue

SMALL_SHM = ("shm_size = \"{size}\" gives the container a {human} /dev/shm; Chromium keeps its shared memory "
             "there and Spotify crashes with 'Out of memory. size=262144' when it fills (at least {least} "
             "is safe; /dev/shm costs memory only as it is used)")
ABOVE_HARD = ("ulimits sets nofile={value}, above your hard open-files limit {ceiling}: rootless podman cannot "
              "raise it, and the container would not start ('error setting rlimit type 7: operation not permitted')")
FEW_FILES = ("ulimits sets nofile={value}: Spotify may open only {hard} files; Chromium needs thousands "
             "(at least {least}) and crashes with 'Too many open files' below that")


class LaunchSettings(Check):
    """What it checks: the launch settings in spotidoctor's config, before Spotify starts:
    `shm_size` (at least 256 MiB) and an open-files limit in `ulimits` (at least 4096, and no
    more than the hard limit podman inherits from your shell, which rootless podman cannot raise).

    Why it matters: both limits crash Spotify later, and the crash checks then blame them;
    saying so before the launch saves the crash.

    Fix safety: safe. Sets shm_size = "2g" / ulimits nofile=N:N in spotidoctor's config, N being
    65536 or your hard limit if lower (the same fixes the crash checks offer); manual when your
    hard limit itself is below 4096.
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
        nofile = self._nofile(ctx, facts)
        if nofile is not None:
            problems.append(nofile[0])
            fixes.append(nofile[1])
        if not problems:
            return self.ok(f"shm_size {config.shm_size}", facts=facts)
        return self.fail(problems[0], *(Message.error(p) for p in problems), facts=facts, fixes=tuple(fixes))

    @staticmethod
    def _nofile(ctx: Context, facts: dict[str, JSONValue]) -> tuple[str, Fix] | None:
        """An open-files ulimit that is too low, or above the hard limit podman inherits from
        this shell (rootless podman cannot raise it: the container would not start)."""
        config = ctx.config
        text = next((u for u in reversed(config.ulimits) if u.startswith("nofile=")), None)
        parsed = parse_ulimit(text) if text else None
        if text is None or parsed is None:
            return None
        _, soft, hard = parsed
        ceiling = ctx.probes.procs.rlimits().get("nofile", Limit(None, None)).hard
        facts.update(nofile=text.split("=", 1)[1], nofile_hard_limit=ceiling)
        target = causes.NOFILE_FIX if ceiling is None else min(causes.NOFILE_FIX, ceiling)
        fix = (causes.nofile_fix(config, target) if target >= causes.NOFILE_RECOMMENDED
               else causes.raise_hard_nofile_fix(target))
        value = text.split("=", 1)[1]
        if hard is not None and hard < causes.NOFILE_RECOMMENDED:
            return FEW_FILES.format(value=value, hard=hard, least=causes.NOFILE_RECOMMENDED), fix
        wanted = max(v for v in (soft, hard) if v is not None) if (soft, hard) != (None, None) else None
        if ceiling is not None and (wanted is None or wanted > ceiling):
            return ABOVE_HARD.format(value=value, ceiling=ceiling), fix
        return None
