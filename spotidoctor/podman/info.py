"""``podman --version`` and ``podman info --format json``, asked once per run (``ctx.memo``),
bounded by timeouts, and kept in the result cache while nothing they depend on changes.

    info = podman_info(ctx)            # PodmanInfo | None (podman_info_error(ctx) says why)
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from spotidoctor.errors import ParseError
from spotidoctor.facts import PodmanFacts
from spotidoctor.podman.fingerprint import podman_fingerprint
from spotidoctor.podman.subids import IdMap, IdMapEntry
from spotidoctor.resultcache import cached
from spotidoctor.types import JSONValue

if TYPE_CHECKING:
    from spotidoctor.api import Context


VERSION_TIMEOUT_S = 10.0
# The first podman call of a session starts the pause process and may migrate storage.
INFO_TIMEOUT_S = 60.0


_VERSION = re.compile(r"\bversion\s+v?([0-9]+(?:\.[0-9]+){0,3})", re.ASCII)


def parse_version(text: str) -> tuple[int, ...] | None:
    """``podman version 4.3.1`` / ``buildah version 1.28.2 (image-spec ...)`` -> (4, 3, 1)."""
    match = _VERSION.search(text)
    return tuple(int(p) for p in match.group(1).split(".")) if match else None


def _dotted(version: tuple[int, ...] | None) -> str:
    return ".".join(str(p) for p in version) if version else ""


@dataclass(frozen=True)
class ToolVersion:
    """``TOOL --version``: installed or not, and the version when it says one."""

    tool: str
    installed: bool
    version: tuple[int, ...] | None = None
    error: str | None = None  # set when installed but ``--version`` failed

    @property
    def text(self) -> str:
        return _dotted(self.version)

    def at_least(self, *wanted: int) -> bool:
        return self.version is not None and self.version >= wanted


def tool_version(ctx: Context, tool: str) -> ToolVersion:
    """``podman --version`` / ``buildah --version`` (fast: no user namespace needed)."""
    return ctx.memo.get(f"podmaninfo.version.{tool}", lambda: _tool_version(ctx, tool))


def _tool_version(ctx: Context, tool: str) -> ToolVersion:
    done = ctx.probes.cmd.run((tool, "--version"), timeout=VERSION_TIMEOUT_S)
    if done.not_found:
        return ToolVersion(tool, False)
    if not done.ok:
        return ToolVersion(tool, True, None, done.error_text())
    return ToolVersion(tool, True, parse_version(done.stdout))


@dataclass(frozen=True)
class PodmanInfo:
    """The parts of ``podman info --format json`` spotidoctor uses."""

    version: tuple[int, ...]
    rootless: bool
    oci_runtime: str  # "crun", "runc", ...
    oci_runtime_path: str
    cgroup_version: str  # "v1" / "v2"; rootless resource limits are ignored on v1
    cgroup_manager: str
    log_driver: str  # "k8s-file", "journald"
    network_backend: str  # "netavark", "cni"
    rootless_network_cmd: str  # "pasta"/"slirp4netns" when podman says (5.x); else ""
    graph_driver: str
    graph_root: str
    buildah_version: str
    slirp4netns_path: str
    pasta_path: str
    uid_map: IdMap | None  # host.idMappings (the live map podman runs with)
    gid_map: IdMap | None

    @property
    def version_text(self) -> str:
        return _dotted(self.version)

    def at_least(self, *wanted: int) -> bool:
        return self.version >= wanted

    @property
    def keep_groups_supported(self) -> bool:
        """``--group-add keep-groups`` only works with crun; runc ignores it."""
        return self.oci_runtime == "crun"

    @property
    def pasta_supported(self) -> bool:
        """``--network pasta`` arrived in podman 4.4.0."""
        return self.at_least(4, 4)

    @property
    def default_network(self) -> str:
        """The rootless network mode podman uses when none is given."""
        if self.rootless_network_cmd:
            return self.rootless_network_cmd
        return "pasta" if self.at_least(5) else "slirp4netns"

    def facts(self) -> dict[str, JSONValue]:
        """What podman.rootless publishes (``PodmanFacts``)."""
        return PodmanFacts(
            podman_version=self.version_text, rootless=self.rootless, runtime=self.oci_runtime,
            runtime_path=self.oci_runtime_path, keep_groups_supported=self.keep_groups_supported,
            cgroup_version=self.cgroup_version, cgroup_manager=self.cgroup_manager, log_driver=self.log_driver,
            network_backend=self.network_backend, default_network=self.default_network,
            graph_driver=self.graph_driver,
        ).to_json()


def _get(data: Mapping[str, object], *keys: str) -> object:
    node: object = data
    for key in keys:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def _text(data: Mapping[str, object], *keys: str) -> str:
    value = _get(data, *keys)
    return value.strip() if isinstance(value, str) else ""


def _json_map(value: object) -> IdMap | None:
    if not isinstance(value, list) or not value:
        return None
    entries = []
    for item in value:
        if not isinstance(item, Mapping):
            return None
        numbers = [item.get(k) for k in ("container_id", "host_id", "size")]
        if not all(type(n) is int and n >= 0 for n in numbers):
            return None
        inside, outside, size = (int(n) for n in numbers)  # type: ignore[arg-type]
        entries.append(IdMapEntry(inside, outside, size))
    return IdMap(tuple(entries))


def parse_podman_info(text: str) -> PodmanInfo:
    """Parse ``podman info --format json`` (4.x and 5.x key names); raises ``ParseError``."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ParseError(f"podman info did not print JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("host"), dict):
        raise ParseError("podman info JSON has no 'host' object")
    version = parse_version("version " + _text(data, "version", "Version"))
    if version is None:
        raise ParseError("podman info JSON has no version.Version")
    return PodmanInfo(
        version=version,
        rootless=_get(data, "host", "security", "rootless") is True,
        oci_runtime=_text(data, "host", "ociRuntime", "name"),
        oci_runtime_path=_text(data, "host", "ociRuntime", "path"),
        cgroup_version=_text(data, "host", "cgroupVersion"),
        cgroup_manager=_text(data, "host", "cgroupManager"),
        log_driver=_text(data, "host", "logDriver"),
        network_backend=_text(data, "host", "networkBackend"),
        rootless_network_cmd=_text(data, "host", "rootlessNetworkCmd"),
        graph_driver=_text(data, "store", "graphDriverName"),
        graph_root=_text(data, "store", "graphRoot"),
        buildah_version=_text(data, "host", "buildahVersion"),
        slirp4netns_path=_text(data, "host", "slirp4netns", "executable"),
        pasta_path=_text(data, "host", "pasta", "executable"),
        uid_map=_json_map(_get(data, "host", "idMappings", "uidmap")),
        gid_map=_json_map(_get(data, "host", "idMappings", "gidmap")),
    )


def info_to_json(info: PodmanInfo) -> dict[str, JSONValue]:
    """The parsed answer as JSON (for the result cache): the fields spotidoctor uses, no more."""
    data: dict[str, JSONValue] = {name: getattr(info, name) for name in _INFO_TEXT_FIELDS}
    data.update(version=list(info.version), rootless=info.rootless,
                uid_map=info.uid_map.to_json() if info.uid_map else None,
                gid_map=info.gid_map.to_json() if info.gid_map else None)
    return data


def info_from_json(data: JSONValue) -> PodmanInfo:
    """``info_to_json`` read back; raises ValueError/TypeError/KeyError on anything else."""
    if not isinstance(data, dict):
        raise TypeError("not an object")
    version = data["version"]
    if not isinstance(version, list) or not version or not all(type(p) is int for p in version):
        raise ValueError("bad version")
    texts = {name: data[name] for name in _INFO_TEXT_FIELDS}
    if not all(isinstance(v, str) for v in texts.values()) or not isinstance(data["rootless"], bool):
        raise TypeError("bad field")
    maps = [_cached_map(data[name]) for name in ("uid_map", "gid_map")]
    return PodmanInfo(version=tuple(int(p) for p in version), rootless=data["rootless"],  # type: ignore[arg-type]
                      uid_map=maps[0], gid_map=maps[1], **texts)  # type: ignore[arg-type]


def _cached_map(value: JSONValue) -> IdMap | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        raise TypeError("bad id map")
    entries = []
    for item in value:
        if not isinstance(item, list) or len(item) != 3 or not all(type(n) is int and n >= 0 for n in item):
            raise TypeError("bad id map entry")
        entries.append(IdMapEntry(int(item[0]), int(item[1]), int(item[2])))  # type: ignore[arg-type]
    return IdMap(tuple(entries))


_INFO_TEXT_FIELDS = ("oci_runtime", "oci_runtime_path", "cgroup_version", "cgroup_manager", "log_driver",
                     "network_backend", "rootless_network_cmd", "graph_driver", "graph_root", "buildah_version",
                     "slirp4netns_path", "pasta_path")
# `podman info` answers are kept this long while nothing they depend on changes.
INFO_CACHE_TTL_S = 3600.0
INFO_CACHE_KEY = "podman-info"


@dataclass(frozen=True)
class _InfoAnswer:
    info: PodmanInfo | None
    error: str | None
    age_s: float | None = None  # from the result cache: seconds since podman answered


def _podman_info_answer(ctx: Context) -> _InfoAnswer:
    def ask() -> _InfoAnswer:
        done = ctx.probes.cmd.run(("podman", "info", "--format", "json"), timeout=INFO_TIMEOUT_S)
        if done.not_found:
            return _InfoAnswer(None, "podman is not installed")
        if not done.ok:
            return _InfoAnswer(None, f"`podman info` failed: {done.error_text()}")
        try:
            return _InfoAnswer(parse_podman_info(done.stdout), None)
        except ParseError as exc:
            return _InfoAnswer(None, f"cannot read `podman info --format json`: {exc}")

    def compute() -> _InfoAnswer:
        # Only answers that parsed are kept; a failure removes a kept one.
        got = cached(ctx.cache, ctx.probes.fs, INFO_CACHE_KEY, lambda: podman_fingerprint(ctx), INFO_CACHE_TTL_S,
                     ask, encode=lambda a: info_to_json(a.info) if a.info is not None else None,
                     decode=lambda data: _InfoAnswer(info_from_json(data), None))
        return _InfoAnswer(got.value.info, got.value.error, got.age_s)

    return ctx.memo.get("podmaninfo.info", compute)


def podman_info(ctx: Context) -> PodmanInfo | None:
    """``podman info`` parsed, or None (``podman_info_error`` then says why)."""
    return _podman_info_answer(ctx).info


def podman_info_error(ctx: Context) -> str | None:
    return _podman_info_answer(ctx).error


def podman_info_age(ctx: Context) -> float | None:
    """Seconds since podman gave the answer ``podman_info`` returns when it came from the
    result cache (nothing it depends on changed since); None when podman answered now."""
    return _podman_info_answer(ctx).age_s
