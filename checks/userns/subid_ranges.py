"""userns.subid-ranges: you have subordinate uid and gid ranges, large enough for the container uid."""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from spotidoctor.api import Check, CheckResult, Context, Fix, FixAvailability, Message, MessageKind
from spotidoctor.fixes import Instruction, Privilege, RunCommand
from spotidoctor.podman import subids
from spotidoctor.types import JSONValue

from .common import (
    GID_KIND,
    GROUP,
    MIGRATE_NOTE,
    PASSWD,
    SUBGID,
    SUBUID,
    UID_KIND,
    Ranges,
    account_ids,
    migrate_step,
    ranges_json,
    user_ranges,
)

if TYPE_CHECKING:
    from spotidoctor.bundle.spec import BundleSpec


LOGIN_DEFS = "/etc/login.defs"


ADD_FIX_ID = "userns.add-subids"


NO_RANGE = "no subordinate {kind} range for {user} in {path}"
TOO_SMALL = "{user} has {count} subordinate {kind}s; container uid {needed} needs at least {needed}"
BELOW_RECOMMENDED = "{user} has {count} subordinate {kind}s: enough for uid {needed}, but 65536 is recommended"
MALFORMED = ("{path} has {count} malformed line(s); podman's own reader rejects the whole file when a "
             "line does not have three fields")


class SubordinateIdRanges(Check):
    """What it checks: you have subordinate uid AND gid ranges (`/etc/subuid`, `/etc/subgid`,
    by user name or numeric uid, or through NSS as `getsubids` reports them), several ranges
    counted together, totalling at least the container uid (1500 by default; 65536 is the
    recommended size); malformed lines are reported with their line numbers.

    Why it matters: container uid N maps to the N-th subordinate id; with
    fewer than N ids `podman run --user 1500` fails with `setgroups: invalid argument`.
    podman's own reader rejects the whole file when any line is malformed.

    Fix safety: manual, needs root: one `usermod --add-subuids A-B --add-subgids A-B USER`
    line with a free range that overlaps nobody, between two `podman system migrate` runs.
    """

    id = "userns.subid-ranges"
    title = "You have subordinate uid and gid ranges for the container user"
    category = "system"
    tags = frozenset({"launch"})
    timeout_s = 20.0
    fix_availability = FixAvailability.SOMETIMES

    def collect(self, spec: BundleSpec, ctx: Context) -> None:
        """For bug reports: this user's /etc/subuid and /etc/subgid lines."""
        from .evidence import subid_evidence  # only reports load the bundle code

        subid_evidence(spec, ctx)

    def applies(self, ctx: Context) -> str | None:
        if ctx.user.uid == 0:  # root's podman is rootful: it maps no subordinate ids
            return ("running as root: subordinate ids matter for the user who runs Spotify; "
                    "run spotidoctor as that user")
        return None

    def run(self, ctx: Context) -> CheckResult:
        needed = ctx.config.container_uid
        both = (user_ranges(ctx, UID_KIND), user_ranges(ctx, GID_KIND))
        facts = self._facts(both)
        problems = [m for r in both for m in self._shortfall(ctx, r, needed)]
        notes = [m for r in both for m in self._notes(r)]
        short = [r for r in both if subids.total_count(r.mine) < subids.RECOMMENDED_COUNT]
        fixes = (self._add_fix(ctx, both, short),) if short else ()
        if any(subids.total_count(r.mine) < needed for r in both):
            return self.fail(problems[0].text, *problems, *notes, facts=facts, fixes=fixes)
        if problems or any(r.parsed.error_count or r.parsed.truncated or r.unreadable for r in both):
            summary = (problems or [m for m in notes if m.kind is MessageKind.ERROR])[0].text
            return self.warn(summary, *problems, *notes, facts=facts, fixes=fixes)
        counts = ", ".join(f"{subids.total_count(r.mine)} sub{r.kind.name}s" for r in both)
        return self.ok(f"{ctx.user.name} has {counts}", *notes, facts=facts)

    @staticmethod
    def _facts(both: Sequence[Ranges]) -> dict[str, JSONValue]:
        facts: dict[str, JSONValue] = {}
        for r in both:
            facts[f"sub{r.kind.name}_ranges"] = ranges_json(r.mine)
            facts[f"sub{r.kind.name}_count"] = subids.total_count(r.mine)
            facts[f"sub{r.kind.name}_source"] = r.source
        return facts

    @staticmethod
    def _shortfall(ctx: Context, r: Ranges, needed: int) -> list[Message]:
        count = subids.total_count(r.mine)
        fmt = dict(user=ctx.user.name, kind=r.kind.name, count=count, needed=needed, path=r.kind.path)
        if not r.mine:
            text = NO_RANGE.format(**fmt)
            if r.unreadable:
                text = f"{r.unreadable}, so no subordinate {r.kind.name} range for {ctx.user.name} can be found"
            return [Message.error(text, f"Container uid {needed} cannot be mapped without one.")]
        if count < needed:
            return [Message.error(TOO_SMALL.format(**fmt), "`podman run --user 1500` would fail with "
                                  "`setgroups: invalid argument`.")]
        if count < subids.RECOMMENDED_COUNT:
            return [Message.hint(BELOW_RECOMMENDED.format(**fmt))]
        return []

    @staticmethod
    def _notes(r: Ranges) -> list[Message]:
        notes = []
        if r.unreadable:
            notes.append(Message.error(r.unreadable, "It must be a regular file everyone can read "
                                       f"(`ls -l {r.kind.path}`; normally -rw-r--r-- root): podman reads it as you."))
        if r.parsed.error_count:
            lines = [str(e) for e in r.parsed.errors[:10]]
            more = r.parsed.error_count - len(lines)
            notes.append(Message.error(MALFORMED.format(path=r.kind.path, count=r.parsed.error_count),
                                       *lines, *([f"… and {more} more"] if more else []),
                                       f"Correct or remove them: `sudoedit {r.kind.path}`."))
        if r.parsed.truncated:
            notes.append(Message.error(f"{r.kind.path} is larger than {subids.MAX_FILE_BYTES} bytes; "
                                       "only the beginning was read"))
        if r.note:
            notes.append(Message.info(r.note))
        return notes

    @staticmethod
    def _add_fix(ctx: Context, both: Sequence[Ranges], short: Sequence[Ranges]) -> Fix:
        defs = subids.parse_login_defs(ctx.probes.fs.read_text_or_none(LOGIN_DEFS, limit=1 << 16) or "")
        taken = [rng for r in both for rng in r.parsed.ranges] + [rng for r in both for rng in r.mine]
        avoid = [*account_ids(ctx, PASSWD), *account_ids(ctx, GROUP)]
        start = subids.choose_free_start(taken, defs.sub_count, floor=defs.sub_min, ceiling=defs.sub_max,
                                         avoid=[i for i in avoid if i >= defs.sub_min])
        if start is None:
            return Fix.manual(ADD_FIX_ID, "Add subordinate id ranges (no free range found)", Instruction(
                "Pick a free range by hand", text=f"No free {defs.sub_count}-id range between {defs.sub_min} and "
                f"{defs.sub_max} overlaps nobody; choose one above all ranges in {SUBUID} and {SUBGID}."))
        return add_subids_fix(ctx.user.name, start, defs.sub_count, [r.kind.name for r in short])


def add_subids_fix(user: str, start: int, count: int, kinds: Sequence[str] = ("uid", "gid")) -> Fix:
    """The manual fix: migrate, one ``usermod --add-subuids A-B --add-subgids A-B USER``, migrate."""
    span = f"{start}-{start + count - 1}"
    argv = ["usermod"]
    if "uid" in kinds:
        argv += ["--add-subuids", span]
    if "gid" in kinds:
        argv += ["--add-subgids", span]
    argv.append(user)
    return Fix.manual(
        ADD_FIX_ID, f"Give {user} the subordinate ids {span} ({count} ids; overlaps nobody)",
        migrate_step("Stop podman's pause process first (it keeps the old mapping alive, and usermod "
                      "refuses to remove ranges of a user whose processes run)"),
        RunCommand(f"Add {span} to {', '.join(f'/etc/sub{k}' for k in kinds)}", argv=tuple(argv),
                   run_as=Privilege.ROOT),
        migrate_step("Restart podman's user namespace so the new range takes effect"),
        notes=(MIGRATE_NOTE, "Files already owned by the old mapping keep their owner: run "
               "`spotidoctor fix storage` afterwards."),
    )
