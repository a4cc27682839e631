"""User namespace checks: kernel knobs, /etc/subuid and /etc/subgid, newuidmap/newgidmap, and
the live mapping of podman's rootless namespace.

Chain: {userns.kernel, userns.newuidmap, userns.subid-ranges → userns.subid-overlap,
podman.installed} → userns.mapping, which publishes ``host_uid``/``host_gid`` (what the
container user is on the host under the run profile) for the storage checks and the
launcher. ``userns.subid-shared`` (ranges shared with other accounts) hangs off
``userns.subid-ranges`` and blocks nothing else.
"""
from __future__ import annotations

import shlex
import struct
from dataclasses import dataclass
from typing import Sequence, TYPE_CHECKING

from spotidoctor import podmaninfo, subids
from spotidoctor.api import Check, CheckResult, Context, Fix, FixAvailability, Message, MessageKind
from spotidoctor.errors import ParseError
from spotidoctor.fixes import Instruction, Privilege, RunCommand, Step
from spotidoctor.types import JSONValue
from spotidoctor.subids import IdMap, SubIdFile, SubIdRange

if TYPE_CHECKING:
    from spotidoctor.bundle.spec import BundleSpec

SUBUID = "/etc/subuid"
SUBGID = "/etc/subgid"
PASSWD = "/etc/passwd"
GROUP = "/etc/group"
LOGIN_DEFS = "/etc/login.defs"
MAX_USERNS = "/proc/sys/user/max_user_namespaces"
USERNS_CLONE = "/proc/sys/kernel/unprivileged_userns_clone"
APPARMOR_RESTRICT = "/proc/sys/kernel/apparmor_restrict_unprivileged_userns"
GETSUBIDS_TIMEOUT_S = 10.0
ACCOUNTS_LIMIT = 4 << 20
MIGRATE_ARGV = ("podman", "system", "migrate")
ADD_FIX_ID = "userns.add-subids"
MIGRATE_FIX_ID = "userns.system-migrate"

# -- user-facing text (tests assert against these) ----------------------------------------
USERNS_DISABLED = "user namespaces are disabled (user.max_user_namespaces = 0)"
CLONE_DISABLED = "unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone = 0)"
APPARMOR_RESTRICTED = "AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns = 1)"
NO_RANGE = "no subordinate {kind} range for {user} in {path}"
TOO_SMALL = "{user} has {count} subordinate {kind}s; container uid {needed} needs at least {needed}"
BELOW_RECOMMENDED = "{user} has {count} subordinate {kind}s: enough for uid {needed}, but 65536 is recommended"
MALFORMED = ("{path} has {count} malformed line(s); podman's own reader rejects the whole file when a "
             "line does not have three fields")
SELF_OVERLAP = "your own subordinate {kind} ranges overlap: newuidmap/newgidmap refuse such a map"
SHARED = "your subordinate {kind} range overlaps {other}: each of you can reach the other's files"
COVERS_ACCOUNT = "your subordinate {kind} range {span} contains the {kind} of the account {name} ({number})"
NO_HELPER = "{name} is not installed"
HELPER_POWERLESS = "{path} is neither setuid root nor has the {cap} file capability"
STALE_MAP = "podman's user namespace is stale: it maps {live}, the files say {expected}"
NOT_MAPPED = "container uid {uid} is not mapped by podman's user namespace ({live})"
MIGRATE_NOTE = ("`podman system migrate` stops all your running containers and podman's pause process; "
                "the next podman command starts a new one with the current mapping.")


# -- helpers ------------------------------------------------------------------------------

def _read_proc_int(ctx: Context, path: str) -> int | None | str:
    """The integer in a /proc/sys file; None when absent; the raw text when it is not a number."""
    text = ctx.probes.fs.read_text_or_none(path, limit=64)
    if text is None:
        return None
    try:
        return int(text.strip())
    except ValueError:
        return text.strip()[:40]


def _read_subid_file(ctx: Context, path: str) -> SubIdFile | str:
    """The parsed file (empty when absent), or why it cannot be read (a str)."""
    try:
        data = ctx.probes.fs.read_bytes(path, limit=subids.MAX_FILE_BYTES + 1)
    except (FileNotFoundError, NotADirectoryError):
        return SubIdFile()
    except OSError as exc:  # unreadable (mode 0600), a directory, an I/O error
        return f"cannot read {path}: {exc.strerror or exc}"
    return subids.parse_subid_text(data)


def _account_ids(ctx: Context, path: str) -> dict[int, str]:
    """id -> name from /etc/passwd or /etc/group (best effort; NSS-only accounts are missed)."""
    found: dict[int, str] = {}
    text = ctx.probes.fs.read_text_or_none(path, limit=ACCOUNTS_LIMIT) or ""
    for line in text.split("\n"):
        fields = line.split(":")
        if len(fields) >= 3 and fields[2].isascii() and fields[2].isdigit():
            found.setdefault(int(fields[2]), fields[0])
    return found


def _ranges_json(ranges: Sequence[SubIdRange]) -> list[JSONValue]:
    return [[r.start, r.count] for r in ranges]


def _ranges_from_fact(value: JSONValue) -> tuple[SubIdRange, ...]:
    if not isinstance(value, list):
        return ()
    ranges = []
    for item in value:
        if isinstance(item, list) and len(item) == 2 and all(type(v) is int for v in item):
            start, count = item
            assert isinstance(start, int) and isinstance(count, int)
            ranges.append(SubIdRange("", start, count))
    return tuple(ranges)


def _migrate_step(description: str) -> RunCommand:
    return RunCommand(description, argv=MIGRATE_ARGV, run_as=Privilege.USER, timeout_s=120.0)


def migrate_fix(reason: str) -> Fix:
    return Fix.unsafe(MIGRATE_FIX_ID, f"Restart podman's user namespace ({reason})",
                      _migrate_step("Stop podman's pause process so the next command maps ids afresh"),
                      notes=(MIGRATE_NOTE,), recheck=("userns.mapping",))


# -- kernel -------------------------------------------------------------------------------

class UserNamespacesEnabled(Check):
    """What it checks: `/proc/sys/user/max_user_namespaces` is above 0, Debian/Arch's
    `kernel.unprivileged_userns_clone` is 1 where it exists, and whether Ubuntu's
    `kernel.apparmor_restrict_unprivileged_userns` is on.

    Why it matters: rootless podman runs everything inside a user namespace; without one,
    nothing starts. On Ubuntu 23.10+ AppArmor blocks unconfined programs from creating one
    unless a profile allows it (symptom: `write /proc/self/uid_map: Operation not permitted`).

    Fix safety: manual, needs root (`sysctl`); spotidoctor prints the commands.
    """

    id = "userns.kernel"
    title = "The kernel allows unprivileged user namespaces"
    category = "system"
    tags = frozenset({"launch"})
    fix_availability = FixAvailability.SOMETIMES

    def run(self, ctx: Context) -> CheckResult:
        max_ns = _read_proc_int(ctx, MAX_USERNS)
        clone = _read_proc_int(ctx, USERNS_CLONE)
        restrict = _read_proc_int(ctx, APPARMOR_RESTRICT)
        facts: dict[str, JSONValue] = {"max_user_namespaces": max_ns, "unprivileged_userns_clone": clone,
                                       "apparmor_restrict_unprivileged_userns": restrict}
        if max_ns == 0:
            return self.fail(USERNS_DISABLED, Message.error(
                "The kernel allows no user namespaces at all, so rootless podman cannot start."),
                facts=facts, fixes=(self._sysctl_fix("user.max_user_namespaces", "28633"),))
        if clone == 0:
            return self.fail(CLONE_DISABLED, Message.error(
                "This kernel lets only root create user namespaces (Debian 10 defaulted to this)."),
                facts=facts, fixes=(self._sysctl_fix("kernel.unprivileged_userns_clone", "1"),))
        if restrict == 1:
            return self.warn(APPARMOR_RESTRICTED, Message.hint(
                "Unconfined programs cannot create user namespaces unless an AppArmor profile grants "
                "`userns,`. If `podman unshare true` fails with `Operation not permitted`, this is why.",
                "Preferred: an AppArmor profile for podman that allows `userns,` (Ubuntu ships profiles for "
                "some container tools; see https://ubuntu.com/blog/ubuntu-23-10-restricted-unprivileged-user-namespaces).",
                "Or, weakening the whole host: `sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`."),
                facts=facts)
        if not isinstance(max_ns, int):
            return self.warn(f"cannot read {MAX_USERNS}" if max_ns is None else
                             f"{MAX_USERNS} holds {max_ns!r}, not a number", facts=facts)
        return self.ok(f"user namespaces enabled (max {max_ns})", facts=facts)

    @staticmethod
    def _sysctl_fix(key: str, value: str) -> Fix:
        return Fix.manual(
            "userns.enable-kernel", f"Enable user namespaces ({key} = {value})",
            RunCommand(f"Set {key} now", argv=("sysctl", "-w", f"{key}={value}"), run_as=Privilege.ROOT),
            Instruction("Keep it after a reboot",
                        text=f"echo '{key} = {value}' | sudo tee /etc/sysctl.d/90-spotidoctor-userns.conf"),
        )


# -- subordinate id ranges ------------------------------------------------------------------

@dataclass(frozen=True)
class _Kind:
    """One of the two files: its name in messages, its path, and its getsubids flag."""

    name: str  # "uid" / "gid"
    path: str
    getsubids_args: tuple[str, ...]


UID_KIND = _Kind("uid", SUBUID, ())
GID_KIND = _Kind("gid", SUBGID, ("-g",))


@dataclass(frozen=True)
class _Ranges:
    kind: _Kind
    mine: tuple[SubIdRange, ...]
    parsed: SubIdFile  # the whole file (other users too, malformed lines)
    source: str  # "getsubids" or the file path
    note: str | None = None  # why getsubids was not used, or how it disagreed with the file
    unreadable: str | None = None  # why the file itself could not be read


def _getsubids(ctx: Context, kind: _Kind) -> tuple[SubIdRange, ...] | str | None:
    """Ranges per getsubids (covers NSS); None when it is unavailable; a str when it failed."""
    done = ctx.probes.cmd.run(("getsubids", *kind.getsubids_args, ctx.user.name), timeout=GETSUBIDS_TIMEOUT_S)
    if done.not_found:
        return None
    if done.returncode == 1 and "Error fetching ranges" in (done.stderr + done.stdout):
        return ()  # getsubids' way of saying "none"
    if not done.ok:
        return f"getsubids failed: {done.error_text()}"
    try:
        return subids.parse_getsubids(done.stdout, owner=ctx.user.name)
    except ParseError as exc:
        return f"cannot read getsubids output: {exc}"


def _ranges(ctx: Context, kind: _Kind) -> _Ranges:
    """The user's ranges of one kind, read once per run (three checks ask)."""
    return ctx.memo.get(f"userns.ranges.{kind.name}", lambda: _read_ranges(ctx, kind))


def _read_ranges(ctx: Context, kind: _Kind) -> _Ranges:
    read = _read_subid_file(ctx, kind.path)
    unreadable = read if isinstance(read, str) else None
    parsed = SubIdFile() if isinstance(read, str) else read
    from_file = parsed.for_user(ctx.user.name, ctx.user.uid)
    answer = _getsubids(ctx, kind)
    if answer is None:
        return _Ranges(kind, from_file, parsed, kind.path, unreadable=unreadable)
    if isinstance(answer, str):
        return _Ranges(kind, from_file, parsed, kind.path, answer, unreadable)
    spans = [(r.start, r.count) for r in answer]
    note = None
    if spans != [(r.start, r.count) for r in from_file]:
        note = (f"getsubids reports {_spans(answer) or 'no range'} while {kind.path} says "
                f"{_spans(from_file) or 'nothing'} for you (NSS `subid:` in /etc/nsswitch.conf?)")
    return _Ranges(kind, answer, parsed, "getsubids", note, unreadable)


def _spans(ranges: Sequence[SubIdRange]) -> str:
    return ", ".join(f"{r.start}:{r.count}" for r in ranges)


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
        from spotidoctor.bundle.sources import subid_evidence

        subid_evidence(spec, ctx)

    def applies(self, ctx: Context) -> str | None:
        if ctx.user.uid == 0:  # root's podman is rootful: it maps no subordinate ids
            return ("running as root: subordinate ids matter for the user who runs Spotify; "
                    "run spotidoctor as that user")
        return None

    def run(self, ctx: Context) -> CheckResult:
        needed = ctx.config.container_uid
        both = (_ranges(ctx, UID_KIND), _ranges(ctx, GID_KIND))
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
    def _facts(both: Sequence[_Ranges]) -> dict[str, JSONValue]:
        facts: dict[str, JSONValue] = {}
        for r in both:
            facts[f"sub{r.kind.name}_ranges"] = _ranges_json(r.mine)
            facts[f"sub{r.kind.name}_count"] = subids.total_count(r.mine)
            facts[f"sub{r.kind.name}_source"] = r.source
        return facts

    @staticmethod
    def _shortfall(ctx: Context, r: _Ranges, needed: int) -> list[Message]:
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
    def _notes(r: _Ranges) -> list[Message]:
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
    def _add_fix(ctx: Context, both: Sequence[_Ranges], short: Sequence[_Ranges]) -> Fix:
        defs = subids.parse_login_defs(ctx.probes.fs.read_text_or_none(LOGIN_DEFS, limit=1 << 16) or "")
        taken = [rng for r in both for rng in r.parsed.ranges] + [rng for r in both for rng in r.mine]
        avoid = [*_account_ids(ctx, PASSWD), *_account_ids(ctx, GROUP)]
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
        _migrate_step("Stop podman's pause process first (it keeps the old mapping alive, and usermod "
                      "refuses to remove ranges of a user whose processes run)"),
        RunCommand(f"Add {span} to {', '.join(f'/etc/sub{k}' for k in kinds)}", argv=tuple(argv),
                   run_as=Privilege.ROOT),
        _migrate_step("Restart podman's user namespace so the new range takes effect"),
        notes=(MIGRATE_NOTE, "Files already owned by the old mapping keep their owner: run "
               "`spotidoctor fix storage` afterwards."),
    )


class SubordinateIdsDisjoint(Check):
    """What it checks: none of your own subordinate uid (or gid) ranges overlap each other.

    Why it matters: the kernel rejects a uid_map whose lines overlap, so newuidmap fails with
    `write to uid_map failed: Invalid argument` and podman asks for `podman system migrate`
   . A duplicate line left over from an earlier `usermod` is the usual cause.

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
            mine = _ranges(ctx, kind).mine
            for pair in subids.overlaps(mine):
                messages.append(Message.error(SELF_OVERLAP.format(kind=kind.name) + f": {pair}"))
        if not messages:
            return self.ok("no overlapping ranges of your own")
        return self.fail(messages[0].text, *messages, fixes=(self._fix(),))

    @staticmethod
    def _fix() -> Fix:
        return Fix.manual(
            "userns.remove-overlap", "Remove the overlapping subordinate id line(s)",
            _migrate_step("Stop podman's pause process first"),
            Instruction("Delete the duplicate line (keep one range of at least 65536 ids)",
                        text=f"sudoedit {SUBUID} {SUBGID}"),
            _migrate_step("Restart podman's user namespace with the corrected ranges"),
            notes=(MIGRATE_NOTE,),
        )


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
            ranges = _ranges(ctx, kind)
            others = [r for r in ranges.parsed.ranges if not r.belongs_to(ctx.user.name, ctx.user.uid)]
            for pair in subids.overlaps(ranges.mine, others):
                other = f"{pair.second.owner}'s {pair.second.start}:{pair.second.count} ({kind.path} line {pair.second.line})"
                messages.append(Message.error(SHARED.format(kind=kind.name, other=other)))
            messages += self._accounts_inside(ctx, kind, ranges.mine, accounts)
        if not messages:
            return self.ok("no overlap with other users or accounts")
        return self.fail(messages[0].text, *messages, fixes=(self._fix(ctx),))

    @staticmethod
    def _accounts_inside(ctx: Context, kind: _Kind, mine: Sequence[SubIdRange], accounts: str) -> list[Message]:
        found = []
        for number, name in sorted(_account_ids(ctx, accounts).items()):
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
            _migrate_step("Stop podman's pause process first"),
            Instruction("Replace the shared range (as root, while you are logged out)", text=(
                f"sudo usermod --del-subuids OLD_FIRST-OLD_LAST --del-subgids OLD_FIRST-OLD_LAST "
                f"--add-subuids NEW_FIRST-NEW_LAST --add-subgids NEW_FIRST-NEW_LAST {shlex.quote(ctx.user.name)}"
                "  (NEW: a free range; `spotidoctor check userns.subid-ranges` proposes one when yours is gone)")),
            _migrate_step("Restart podman's user namespace with the new range"),
            notes=(MIGRATE_NOTE, "Afterwards run `spotidoctor fix storage`: files keep the old owner."),
        )


# -- newuidmap / newgidmap -------------------------------------------------------------------

CAP_SETGID = 6
CAP_SETUID = 7
_VFS_CAP_EFFECTIVE = 0x000001
_VFS_CAP_REVISION_MASK = 0xFF000000
_VFS_CAP_REVISION_3 = 0x03000000


def file_caps_grant(xattr: bytes | None, capability: int) -> bool:
    """True when a ``security.capability`` xattr grants ``capability`` as permitted+effective
    on the host (a v3 entry with a non-zero rootid only applies inside that namespace)."""
    if not xattr or len(xattr) < 12:
        return False
    magic, permitted_low, _inh_low = struct.unpack_from("<III", xattr, 0)
    permitted_high = struct.unpack_from("<I", xattr, 12)[0] if len(xattr) >= 20 else 0
    if magic & _VFS_CAP_REVISION_MASK == _VFS_CAP_REVISION_3 and len(xattr) >= 24:
        if struct.unpack_from("<I", xattr, 20)[0] != 0:
            return False
    permitted = permitted_low | (permitted_high << 32)
    return bool(magic & _VFS_CAP_EFFECTIVE) and bool(permitted >> capability & 1)


_HELPERS = (("newuidmap", CAP_SETUID, "cap_setuid"), ("newgidmap", CAP_SETGID, "cap_setgid"))
_UIDMAP_PACKAGES = {"apt-get": "uidmap", "dnf": "shadow-utils", "zypper": "shadow", "pacman": "shadow"}


class NewIdMapHelpers(Check):
    """What it checks: `newuidmap` and `newgidmap` are installed and either setuid root or
    carry the `cap_setuid` / `cap_setgid` file capability (the `security.capability` xattr).

    Why it matters: they write the subordinate ranges into the namespace's uid_map/gid_map;
    without privilege podman fails with `newuidmap: write to uid_map failed: Operation not
    permitted`.

    Fix safety: manual, needs root (install the package, or restore the setuid bit / caps).
    """

    id = "userns.newuidmap"
    title = "newuidmap and newgidmap are installed with the privilege they need"
    category = "system"
    tags = frozenset({"launch"})
    fix_availability = FixAvailability.SOMETIMES

    def collect(self, spec: BundleSpec, ctx: Context) -> None:
        """For bug reports: newuidmap/newgidmap modes and file capabilities."""
        from spotidoctor.bundle.sources import newidmap_evidence

        newidmap_evidence(spec, ctx)

    def run(self, ctx: Context) -> CheckResult:
        problems: list[Message] = []
        fixes: list[Fix] = []
        facts: dict[str, JSONValue] = {}
        for name, cap, cap_name in _HELPERS:
            path = ctx.probes.cmd.which(name) or (f"/usr/bin/{name}" if ctx.probes.fs.exists(f"/usr/bin/{name}") else None)
            facts[name] = path
            if path is None:
                problems.append(Message.error(NO_HELPER.format(name=name)))
                continue
            how = self._privilege(ctx, path, cap)
            facts[f"{name}_privilege"] = how
            if how is None:
                problems.append(Message.error(HELPER_POWERLESS.format(path=path, cap=cap_name)))
                fixes.append(Fix.manual(f"userns.{name}-caps", f"Give {path} the {cap_name} capability",
                                        RunCommand(f"Let {name} write id maps", argv=("setcap", f"{cap_name}+ep", path),
                                                   run_as=Privilege.ROOT),
                                        notes=("Or reinstall the package that ships it; Debian ships it setuid root.",)))
        if any(facts[name] is None for name, _, _ in _HELPERS):
            fixes.insert(0, self._install_fix(ctx))
        if problems:
            return self.fail(problems[0].text, *problems, facts=facts, fixes=tuple(fixes))
        return self.ok(", ".join(f"{n}: {facts[f'{n}_privilege']}" for n, _, _ in _HELPERS), facts=facts)

    @staticmethod
    def _privilege(ctx: Context, path: str, cap: int) -> str | None:
        st = ctx.probes.fs.stat(path)
        if st is None:
            return None
        if st.uid == 0 and st.mode & 0o4000:
            return "setuid root"
        real = ctx.probes.fs.realpath(path)
        if file_caps_grant(ctx.probes.fs.getxattr(real, "security.capability"), cap):
            return "file capability"
        return None

    @staticmethod
    def _install_fix(ctx: Context) -> Fix:
        argv = podmaninfo.package_install_argv(ctx, _UIDMAP_PACKAGES)
        step: Step = (RunCommand("Install newuidmap and newgidmap", argv=argv, run_as=Privilege.ROOT) if argv else
                      Instruction("Install newuidmap/newgidmap", text="Install your distribution's package with "
                                  "newuidmap and newgidmap (Debian/Ubuntu: uidmap; Fedora: shadow-utils)."))
        return Fix.manual("userns.install-uidmap", "Install newuidmap and newgidmap", step)


# -- the live mapping ------------------------------------------------------------------------

def _classify_unshare_error(error: str) -> tuple[str, tuple[Message, ...], tuple[Fix, ...]]:
    if "podman system migrate" in error or "invalid internal status" in error:
        return ("podman's pause process is in a bad state", (Message.error(error),),
                (migrate_fix("the pause process is in a bad state"),))
    if "Operation not permitted" in error and ("uid_map" in error or "newuidmap" in error):
        return ("the kernel refused to set up the user namespace", (Message.error(
            error, "See `spotidoctor check userns.kernel userns.newuidmap` (AppArmor on Ubuntu 23.10+, "
            "or newuidmap without privilege)."),), ())
    return ("`podman unshare` failed", (Message.error(error),), ())


class UserNamespaceMapping(Check):
    """What it checks: the live maps of podman's rootless namespace (`podman unshare cat
    /proc/self/uid_map` and `gid_map`, or the same namespace's maps read from podman's pause
    process when it verifiably runs) agree with your subordinate ranges, and which host
    uid/gid the container user becomes: under the `isolated` profile the subordinate id
    (e.g. 1500 → 101499 for 100000:65536), under `keep-id` your own ids.

    Why it matters: podman keeps the namespace alive in a pause process, so edits to
    /etc/subuid take effect only after `podman system migrate`; storage must be
    owned by exactly the mapped ids. Publishes `host_uid`, `host_gid`, `uid_map`, `gid_map`.

    Fix safety: unsafe: `podman system migrate` stops your running containers.
    """

    id = "userns.mapping"
    title = "podman's user namespace maps the container user as configured"
    category = "system"
    requires = ("userns.kernel", "userns.newuidmap", "userns.subid-ranges", "userns.subid-overlap",
                "podman.installed")
    tags = frozenset({"launch"})
    timeout_s = 75.0
    fix_availability = FixAvailability.SOMETIMES

    def run(self, ctx: Context) -> CheckResult:
        maps = podmaninfo.id_maps(ctx)
        if maps.uid_map is None or maps.gid_map is None:
            summary, messages, fixes = _classify_unshare_error(maps.error or "no id maps")
            return self.fail(summary, *messages, fixes=fixes)
        stale = self._stale(ctx, maps.uid_map, maps.gid_map)
        if stale:
            return self.fail(stale[0].text, *stale, facts=self._map_facts(maps.uid_map, maps.gid_map),
                             fixes=(migrate_fix("the subordinate ranges changed"),))
        return self._owner_result(ctx, maps.uid_map, maps.gid_map)

    def _stale(self, ctx: Context, uid_map: IdMap, gid_map: IdMap) -> list[Message]:
        stale = []
        for live, key, own in ((uid_map, "subuid_ranges", ctx.user.uid), (gid_map, "subgid_ranges", ctx.user.gid)):
            fact = ctx.prior_fact("userns.subid-ranges", key)
            if fact is None:
                continue  # run on its own: nothing to compare with
            ranges = _ranges_from_fact(fact)
            expected = subids.default_map(own, ranges)
            if live != expected:
                stale.append(Message.error(STALE_MAP.format(live=live.render(), expected=expected.render()),
                                           "This happens when /etc/subuid or /etc/subgid changed after podman "
                                           "started its pause process."))
        return stale

    @staticmethod
    def _map_facts(uid_map: IdMap, gid_map: IdMap) -> dict[str, JSONValue]:
        return {"uid_map": uid_map.to_json(), "gid_map": gid_map.to_json()}

    def _owner_result(self, ctx: Context, uid_map: IdMap, gid_map: IdMap) -> CheckResult:
        container_uid = ctx.config.container_uid
        facts = self._map_facts(uid_map, gid_map)
        sub_uid, sub_gid = uid_map.to_host(container_uid), gid_map.to_host(container_uid)
        facts.update(profile=ctx.config.profile, container_uid=container_uid,
                     isolated_host_uid=sub_uid, isolated_host_gid=sub_gid)
        if sub_uid is None or sub_gid is None:
            live = uid_map.render() if sub_uid is None else gid_map.render()
            return self.fail(NOT_MAPPED.format(uid=container_uid, live=live), facts=facts)
        if ctx.config.profile == "keep-id":
            facts.update(host_uid=ctx.user.uid, host_gid=ctx.user.gid)
            return self.ok(f"profile keep-id: container uid {container_uid} is you "
                           f"({ctx.user.uid}:{ctx.user.gid})", facts=facts)
        facts.update(host_uid=sub_uid, host_gid=sub_gid)
        return self.ok(f"container uid {container_uid} is host {sub_uid}:{sub_gid}", facts=facts)


CHECKS = (UserNamespacesEnabled, SubordinateIdRanges, SubordinateIdsDisjoint, SubordinateIdsNotShared,
          NewIdMapHelpers, UserNamespaceMapping)

__all__ = ["CHECKS", "add_subids_fix", "migrate_fix", "file_caps_grant"]
