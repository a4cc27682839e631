"""Podman checks: installed tools, rootless mode, an OCI runtime that really starts a
container, and the rootless network helper.

Chain: podman.installed → podman.rootless → podman.runtime → podman.network. The runtime
and network checks start a throw-away container from an empty directory (``--rootfs``)
running podman's own static init binary (``--init``, catatonit), so no image and no
network are needed; both are bounded by a timeout and tagged "slow".

``podman info`` and a passing runtime test are kept in the result cache
(``spotidoctor.resultcache``) while nothing they depend on changes; ``check --fresh``,
``fix`` and the re-checks after fixes always ask podman again.
"""
from __future__ import annotations

from .installed import PodmanInstalled
from .network import RootlessNetwork
from .rootless import PodmanRootless
from .runtime import OciRuntimeStarts

CHECKS = (PodmanInstalled, PodmanRootless, OciRuntimeStarts, RootlessNetwork)
