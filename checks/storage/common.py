"""What the storage checks share: the storage dir's two subdirectories, the mapping facts
of userns.mapping, and the guard rails built from them."""
from __future__ import annotations

from spotidoctor import layout
from spotidoctor.api import Context
from spotidoctor.backend.storageguard import STRANGER, StorageGuard, guard_for
from spotidoctor.podman.subids import IdMap, IdMapEntry

REFUSED = "{path} cannot be used as Spotify's storage"
USE_DEDICATED = ("Set `storage_dir` in spotidoctor's config.toml (or pass --storage-dir) to a dedicated "
                 "directory, e.g. ~/.spotify.")


def int_fact(ctx: Context, check_id: str, key: str) -> int | None:
    value = ctx.prior_fact(check_id, key)
    return value if type(value) is int else None


def map_fact(ctx: Context, key: str) -> IdMap | None:
    value = ctx.prior_fact("userns.mapping", key)
    if not isinstance(value, list):
        return None
    entries = []
    for item in value:
        if not (isinstance(item, list) and len(item) == 3 and all(type(v) is int for v in item)):
            return None
        inside, outside, length = (int(v) for v in item)  # type: ignore[arg-type]
        entries.append(IdMapEntry(inside, outside, length))
    return IdMap(tuple(entries))


def storage_guard(ctx: Context) -> StorageGuard:
    """Accepted owners of the tree: you and the container user's subordinate uid."""
    isolated = int_fact(ctx, "userns.mapping", "isolated_host_uid")
    return guard_for(ctx, owner_uids=() if isolated is None else (isolated,))


def is_stranger(reason: str) -> bool:
    return reason.endswith(STRANGER.split("}", 2)[-1])


def subdirs(root: str) -> tuple[str, str]:
    return layout.storage_config(root), layout.storage_cache(root)
