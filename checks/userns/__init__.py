"""User namespace checks: kernel knobs, /etc/subuid and /etc/subgid, newuidmap/newgidmap, and
the live mapping of podman's rootless namespace.

Chain: {userns.kernel, userns.newuidmap, userns.subid-ranges → userns.subid-overlap,
podman.installed} → userns.mapping, which publishes ``host_uid``/``host_gid`` (what the
container user is on the host under the run profile) for the storage checks and the
launcher. ``userns.subid-shared`` (ranges shared with other accounts) hangs off
``userns.subid-ranges`` and blocks nothing else.
"""
from __future__ import annotations

from .kernel import UserNamespacesEnabled
from .mapping import UserNamespaceMapping
from .newuidmap import NewIdMapHelpers
from .subid_overlap import SubordinateIdsDisjoint
from .subid_ranges import SubordinateIdRanges
from .subid_shared import SubordinateIdsNotShared

CHECKS = (UserNamespacesEnabled, SubordinateIdRanges, SubordinateIdsDisjoint, SubordinateIdsNotShared,
          NewIdMapHelpers, UserNamespaceMapping)
