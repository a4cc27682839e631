"""Storage checks: the storage directory (default ~/.spotify with config/ and cache/), the
owner of every entry in it, and free space.

Chain: userns.mapping → storage.dir → {storage.ownership, storage.free-space}. The expected
owner comes from userns.mapping's ``host_uid``/``host_gid`` facts: the container user's
subordinate ids under the isolated profile, your own ids under keep-id.
"""
from __future__ import annotations

from .dir import StorageDirectory
from .free_space import StorageFreeSpace
from .ownership import StorageOwnership

CHECKS = (StorageDirectory, StorageOwnership, StorageFreeSpace)
