"""Typed facts: what a check publishes for others to read, as a frozen dataclass.

A check publishes ``facts={**SomeFacts(...).to_json(), ...}`` (the JSON output shows them as
always); the launcher, or a check that requires it, reads them back typed with
``SomeFacts.of(results)`` / ``ctx.prior_facts(SomeFacts)``: no key strings outside the class,
and a missing or mistyped value is "not published", never a crash.

The classes below are what ``spotidoctor launch`` reads from its preflight
(``backend.host``); each names the check that publishes it.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import ClassVar, TypeVar

from spotidoctor.model import CheckResult
from spotidoctor.types import JSONValue

F = TypeVar("F", bound="Facts")


def _accepts(kind: object, value: object) -> bool:
    """Does ``value`` (from JSON) fit the annotation ``kind`` (str, int, bool, ``X | None``)?"""
    if kind is type(None):
        return value is None
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        return any(_accepts(member, value) for member in typing.get_args(kind))
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(kind, type) and isinstance(value, kind)


@dataclass(frozen=True)
class Facts:
    """Base class: subclasses are frozen dataclasses of JSON scalars naming their ``publisher``."""

    publisher: ClassVar[str]  # the id of the check that publishes them

    def to_json(self) -> dict[str, JSONValue]:
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}

    @classmethod
    def from_json(cls: type[F], data: Mapping[str, JSONValue]) -> F | None:
        """The facts in ``data``, or None when one is missing or has the wrong type."""
        hints = typing.get_type_hints(cls)
        values = {}
        for field in dataclasses.fields(cls):
            if field.name not in data or not _accepts(hints[field.name], data[field.name]):
                return None
            values[field.name] = data[field.name]
        return cls(**values)

    @classmethod
    def of(cls: type[F], results: Iterable[CheckResult]) -> F | None:
        """The facts as the publisher's result has them, or None (it did not run or publish)."""
        for result in results:
            if result.check_id == cls.publisher:
                return cls.from_json(result.facts)
        return None


# -- X11 ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DisplayFacts(Facts):
    """The local display the container gets."""

    publisher: ClassVar[str] = "x11.display"
    display: str  # canonical, ":0"
    display_number: int
    socket_path: str


@dataclass(frozen=True)
class CookieFacts(Facts):
    """The FamilyWild cookie file mounted as the container's XAUTHORITY."""

    publisher: ClassVar[str] = "x11.container-cookie"
    cookie_file: str
    xauthority: str | None


@dataclass(frozen=True)
class X11TrustFacts(Facts):
    """The trust level the launch gives the container, and whether the server offers SECURITY."""

    publisher: ClassVar[str] = "x11.trust"
    trust: str  # "untrusted" (a per-launch cookie from SECURITY) or "trusted" (the display's own cookie)
    security_offered: bool
    fallback: str | None  # why trusted although x11_trust asks for untrusted, else None


# -- audio -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PulseServerFacts(Facts):
    publisher: ClassVar[str] = "pulse.server"
    server_kind: str  # "pulseaudio" / "pipewire"
    server_name: str
    server_version: str
    default_sink: str | None


@dataclass(frozen=True)
class PulseSocketFacts(Facts):
    """The dedicated socket the container's audio goes through, and its cookie."""

    publisher: ClassVar[str] = "pulse.container-socket"
    server_kind: str
    server_name: str
    container_socket: str | None
    cookie_path: str | None  # None: no cookie (PipeWire)


@dataclass(frozen=True)
class PulseClientFacts(Facts):
    """The client config and the cookie copy handed to the container."""

    publisher: ClassVar[str] = "pulse.client-config"
    client_conf: str
    cookie_copy: str | None  # None: no cookie on PipeWire


@dataclass(frozen=True)
class AudioApiFacts(Facts):
    """How Spotify outputs sound: "pipewire" (pipewire-0 is shared) or "pulseaudio"."""

    publisher: ClassVar[str] = "pulse.output-api"
    audio_api: str
    pipewire_socket: str | None


# -- user namespace and podman -----------------------------------------------------------------

@dataclass(frozen=True)
class MappingFacts(Facts):
    """Who the container user is on the host under the run profile."""

    publisher: ClassVar[str] = "userns.mapping"
    host_uid: int
    host_gid: int


@dataclass(frozen=True)
class PodmanVersionFacts(Facts):
    publisher: ClassVar[str] = "podman.installed"
    podman_version: str | None
    buildah_version: str | None


@dataclass(frozen=True)
class PodmanFacts(Facts):
    """What ``podman info`` says (``PodmanInfo.facts``)."""

    publisher: ClassVar[str] = "podman.rootless"
    podman_version: str
    rootless: bool
    runtime: str
    runtime_path: str
    keep_groups_supported: bool
    cgroup_version: str
    cgroup_manager: str
    log_driver: str
    network_backend: str
    default_network: str
    graph_driver: str
