"""userns.subid-shared: your ranges overlap no other user's range and contain no account's id."""
from __future__ import annotations

import shlex
from collections.abc import Sequence

from spotidoctor.api import Check, CheckResult, Context, Fix, FixAvailability, Message
from spotidoctor.fixes import Instruction
from spotidoctor.podman import subids
from spotidoctor.podman.subids import SubIdRange

from .common import GID_KIND, GROUP, MIGRATE_NOTE, PASSWD, UID_KIND, IdKind, account_ids, migrate_step, user_ranges

SHARED = "your subordinate {kind} range overlaps {other}: each of you can reach the other's files"
COVERS_ACCOUNT = "your subordinate {kind} range {span} contains the {kind} of the account {name} ({number})"


class SubordinateIdsNotShared(Check):
    """What it checks: your subordinate uid/gid ranges overlap no other user's range and
    contain no existing account's uid or gid.

    Why it matters: ids are only isolated when each user's range is unique; with an overlap,
    root in one user's containers owns the other user's container files (podman's rootless
    tutorial: "If there is overlap, there is a potential for a user to use another user's
    namespace"). It is a security problem, not a functional one.

    Fix safety: manual, needs root: move your range with `usermod --del-subuids`/`--add-subuids`
    while you are logged out (usermod refuses to delete ranges of a user with processes).
    """

    id = "userns.subid-shared"
    title = "Your subordinate id ranges are yours alone"
    category = "system"
    requires = ("userns.subid-ranges",)
    fix_availability = FixAvailability.SOMETIMES

    def run(self, ctx: Context) -> CheckResult:
        messages: list[Message] = []
        for kind, accounts in ((UID_KIND, PASSWD), (GID_KIND, GROUP)):
            ranges = user_ranges(ctx, kind)
            others = [r for r in ranges.parsed.ranges if not r.belongs_to(ctx.user.name, ctx.user.uid)]
            for pair in subids.overlaps(ranges.mine, others):
                theirs = pair.second
                other = f"{theirs.owner}'s {theirs.start}:{theirs.count} ({kind.path} line {theirs.line})"
                messages.append(Message.error(SHARED.format(kind=kind.name, other=other)))
            messages += self._accounts_inside(ctx, kind, ranges.mine, accounts)
        if not messages:
            return self.ok("no overlap with other users or accounts")
        return self.fail(messages[0].text, *messages, fixes=(self._fix(ctx),))

    @staticmethod
    def _accounts_inside(ctx: Context, kind: IdKind, mine: Sequence[SubIdRange], accounts: str) -> list[Message]:
        found = []
        for number, name in sorted(account_ids(ctx, accounts).items()):
            if number in (ctx.user.uid, ctx.user.gid) or number == 65534:
                continue
            for r in mine:
                if r.start <= number <= r.last:
                    found.append(Message.error(COVERS_ACCOUNT.format(kind=kind.name, span=r.usermod_span(),
                                                                     name=name, number=number)))
        return found[:10]

    @staticmethod
    def _fix(ctx: Context) -> Fix:
        return Fix.manual(
            "userns.move-range", "Move your subordinate ids to a range nobody else uses",
            migrate_step("Stop podman's pause process first"),
            Instruction("Replace the shared range (as root, while you are logged out)", text=(
                f"sudo usermod --del-subuids OLD_FIRST-OLD_LAST --del-subgids OLD_FIRST-OLD_LAST "
                f"--add-subuids NEW_FIRST-NEW_LAST --add-subgids NEW_FIRST-NEW_LAST {shlex.quote(ctx.user.name)}"
                "  (NEW: a free range; `spotidoctor check userns.subid-ranges` proposes one when yours is gone)")),
            migrate_step("Restart podman's user namespace with the new range"),
            notes=(MIGRATE_NOTE, "Afterwards run `spotidoctor fix storage`: files keep the old owner."),
        )
