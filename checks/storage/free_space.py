"""storage.free-space: the filesystem holding the storage has room for Spotify's cache."""
from __future__ import annotations

from spotidoctor.api import Check, CheckResult, Context, Message
from spotidoctor.model import Severity
from spotidoctor.types import JSONValue
from spotidoctor.units import GiB, format_bytes

LOW_SPACE_BYTES = 2 * GiB  # Spotify's cache alone grows to several GiB


LOW_SPACE_FRACTION = 0.05


LOW_SPACE = "only {free} free on the filesystem holding {root}"
SPACE_OK = "{free} free on the filesystem holding {root}"


class StorageFreeSpace(Check):
    """What it checks: free space on the filesystem holding the storage directory.

    Why it matters: Spotify's cache grows to several GiB; a full disk makes it fail in
    odd ways (lost settings, playback stopping).

    Fix safety: none (free space, limit the cache size in Spotify's settings, or move
    `storage_dir` to a bigger disk).
    """

    id = "storage.free-space"
    title = "The storage filesystem has room for Spotify's cache"
    category = "storage"
    severity = Severity.WARNING
    requires = ("storage.dir",)

    def run(self, ctx: Context) -> CheckResult:
        root = ctx.storage_dir
        usage = ctx.probes.fs.disk_usage(root)
        if usage is None:
            return self.warn(f"cannot tell the free space of {root}")
        facts: dict[str, JSONValue] = {"free_bytes": usage.free_bytes, "total_bytes": usage.total_bytes}
        free = format_bytes(usage.free_bytes, fixed_point=True)
        if usage.free_bytes < LOW_SPACE_BYTES or usage.free_bytes < usage.total_bytes * LOW_SPACE_FRACTION:
            return self.warn(LOW_SPACE.format(free=free, root=root), Message.hint(
                "Spotify's cache grows to several GiB.",
                "Limit it in Spotify: Settings → Storage, or move storage_dir to a bigger filesystem."), facts=facts)
        return self.ok(SPACE_OK.format(free=free, root=root), facts=facts)
