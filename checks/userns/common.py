"""What several userns checks share: your subordinate id ranges (read once per run, from
``getsubids`` when it works, else the files), account ids, and the ``podman system migrate`` step."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from spotidoctor.api import Context, Fix
from spotidoctor.errors import ParseError
from spotidoctor.fixes import Privilege, RunCommand
from spotidoctor.podman import subids
from spotidoctor.podman.subids import SubIdFile, SubIdRange
from spotidoctor.types import JSONValue

SUBUID = "/etc/subuid"
SUBGID = "/etc/subgid"
PASSWD = "/etc/passwd"
GROUP = "/etc/group"


GETSUBIDS_TIMEOUT_S = 10.0
ACCOUNTS_LIMIT = 4 << 20
MIGRATE_ARGV = ("podman", "system", "migrate")


MIGRATE_FIX_ID = "userns.system-migrate"


MIGRATE_NOTE = ("`podman system migrate` stops all your running containers and podman's pause process; "
                "the next podman command starts a new one with the current mapping.")


def read_subid_file(ctx: Context, path: str) -> SubIdFile | str:
    """The parsed file (empty when absent), or why it cannot be read (a str)."""
    try:
        data = ctx.probes.fs.read_bytes(path, limit=subids.MAX_FILE_BYTES + 1)
    except (FileNotFoundError, NotADirectoryError):
        return SubIdFile()
    except OSError as exc:  # unreadable (mode 0600), a directory, an I/O error
        return f"cannot read {path}: {exc.strerror or exc}"
    return subids.parse_subid_text(data)


def account_ids(ctx: Context, path: str) -> dict[int, str]:
    """id -> name from /etc/passwd or /etc/group (best effort; NSS-only accounts are missed)."""
    found: dict[int, str] = {}
    text = ctx.probes.fs.read_text_or_none(path, limit=ACCOUNTS_LIMIT) or ""
    for line in text.split("\n"):
        fields = line.split(":")
        if len(fields) >= 3 and fields[2].isascii() and fields[2].isdigit():
            found.setdefault(int(fields[2]), fields[0])
    return found


def ranges_json(ranges: Sequence[SubIdRange]) -> list[JSONValue]:
    return [[r.start, r.count] for r in ranges]


def ranges_from_fact(value: JSONValue) -> tuple[SubIdRange, ...]:
    if not isinstance(value, list):
        return ()
    ranges = []
    for item in value:
        if isinstance(item, list) and len(item) == 2 and all(type(v) is int for v in item):
            start, count = item
            assert isinstance(start, int) and isinstance(count, int)
            ranges.append(SubIdRange("", start, count))
    return tuple(ranges)


def migrate_step(description: str) -> RunCommand:
    return RunCommand(description, argv=MIGRATE_ARGV, run_as=Privilege.USER, timeout_s=120.0)


def migrate_fix(reason: str) -> Fix:
    return Fix.unsafe(MIGRATE_FIX_ID, f"Restart podman's user namespace ({reason})",
                      migrate_step("Stop podman's pause process so the next command maps ids afresh"),
                      notes=(MIGRATE_NOTE,), recheck=("userns.mapping",))


@dataclass(frozen=True)
class IdKind:
    """One of the two files: its name in messages, its path, and its getsubids flag."""

    name: str  # "uid" / "gid"
    path: str
    getsubids_args: tuple[str, ...]


UID_KIND = IdKind("uid", SUBUID, ())
GID_KIND = IdKind("gid", SUBGID, ("-g",))


@dataclass(frozen=True)
class Ranges:
    kind: IdKind
    mine: tuple[SubIdRange, ...]
    parsed: SubIdFile  # the whole file (other users too, malformed lines)
    source: str  # "getsubids" or the file path
    note: str | None = None  # why getsubids was not used, or how it disagreed with the file
    unreadable: str | None = None  # why the file itself could not be read


def _getsubids(ctx: Context, kind: IdKind) -> tuple[SubIdRange, ...] | str | None:
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


def user_ranges(ctx: Context, kind: IdKind) -> Ranges:
    """The user's ranges of one kind, read once per run (three checks ask)."""
    return ctx.memo.get(f"userns.ranges.{kind.name}", lambda: _read_ranges(ctx, kind))


def _read_ranges(ctx: Context, kind: IdKind) -> Ranges:
    read = read_subid_file(ctx, kind.path)
    unreadable = read if isinstance(read, str) else None
    parsed = SubIdFile() if isinstance(read, str) else read
    from_file = parsed.for_user(ctx.user.name, ctx.user.uid)
    answer = _getsubids(ctx, kind)
    if answer is None:
        return Ranges(kind, from_file, parsed, kind.path, unreadable=unreadable)
    if isinstance(answer, str):
        return Ranges(kind, from_file, parsed, kind.path, answer, unreadable)
    spans = [(r.start, r.count) for r in answer]
    note = None
    if spans != [(r.start, r.count) for r in from_file]:
        note = (f"getsubids reports {_spans(answer) or 'no range'} while {kind.path} says "
                f"{_spans(from_file) or 'nothing'} for you (NSS `subid:` in /etc/nsswitch.conf?)")
    return Ranges(kind, answer, parsed, "getsubids", note, unreadable)


def _spans(ranges: Sequence[SubIdRange]) -> str:
    return ", ".join(f"{r.start}:{r.count}" for r in ranges)
