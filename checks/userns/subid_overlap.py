"""userns.subid-overlap: your own subordinate ranges do not overlap each other."""
from __future__ import annotations

from spotidoctor.api import Check, CheckResult, Context, Fix, FixAvailability, Message
from spotidoctor.fixes import Instruction
from spotidoctor.podman import subids

from .common import GID_KIND, MIGRATE_NOTE, SUBGID, SUBUID, UID_KIND, migrate_step, user_ranges

SELF_OVERLAP = "your own subordinate {kind} ranges overlap: newuidmap/newgidmap refuse such a map"


class SubordinateIdsDisjoint(Check):
    """What it checks: none of your own subordinate uid (or gid) ranges overlap each other.

    Why it matters: the kernel rejects a uid_map whose lines overlap, so newuidmap fails with
    `write to uid_map failed: Invalid argument` and podman asks for `podman system migrate`.
    A duplicate line left over from an earlier `usermod` is the usual cause.

    Fix safety: manual, needs root: remove the duplicate line, between two
    `podman system migrate` runs.
    """

    id = "userns.subid-overlap"
    title = "Your subordinate id ranges do not overlap each other"
    category = "system"
    requires = ("userns.subid-ranges",)
    tags = frozenset({"launch"})
    fix_availability = FixAvailability.SOMETIMES

    def run(self, ctx: Context) -> CheckResult:
        messages = []
        for kind in (UID_KIND, GID_KIND):
            mine = user_ranges(ctx, kind).mine
            for pair in subids.overlaps(mine):
                messages.append(Message.error(SELF_OVERLAP.format(kind=kind.name) + f": {pair}"))
        if not messages:
            return self.ok("no overlapping ranges of your own")
        return self.fail(messages[0].text, *messages, fixes=(self._fix(),))

    @staticmethod
    def _fix() -> Fix:
        return Fix.manual(
            "userns.remove-overlap", "Remove the overlapping subordinate id line(s)",
            migrate_step("Stop podman's pause process first"),
            Instruction("Delete the duplicate line (keep one range of at least 65536 ids)",
                        text=f"sudoedit {SUBUID} {SUBGID}"),
            migrate_step("Restart podman's user namespace with the corrected ranges"),
            notes=(MIGRATE_NOTE,),
        )
