"""``FakePulse``: the pulse probe's interface with canned answers, for unit tests.

    pulse = FakePulse.pulseaudio(modules=[ModuleInfo(0, "module-native-protocol-unix", None)])
    ctx = make_context(tmp_path, pulse=pulse)

It behaves like a server just enough for fixes to be tested end to end: ``load_module``
records the module (and runs ``on_load``, e.g. to create the socket file in the sysroot),
so a re-run check sees it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from spotidoctor.errors import ProbeUnavailable
from spotidoctor.probes.pulse import ConnectOutcome, ConnectResult, ModuleInfo, ServerInfo

__all__ = ["FakePulse", "PULSEAUDIO_INFO", "PIPEWIRE_INFO", "MAIN_SOCKET_MODULE", "OK", "DENIED",
           "REFUSED"]

PULSEAUDIO_INFO = ServerInfo("pulseaudio", "16.1", "testsink", "alice", "host")
PIPEWIRE_INFO = ServerInfo("PulseAudio (on PipeWire 0.3.65)", "15.0.0", "testsink", "alice", "host")
MAIN_SOCKET_MODULE = ModuleInfo(0, "module-native-protocol-unix", None)
OK = ConnectResult(ConnectOutcome.OK, "pulseaudio", "pulseaudio")
DENIED = ConnectResult(ConnectOutcome.ACCESS_DENIED, "Connection failure: Access denied")
REFUSED = ConnectResult(ConnectOutcome.REFUSED, "Connection failure: Connection refused")


@dataclass
class FakePulse:
    """Implements ``spotidoctor.probes.pulse.PulseProbe``."""

    info: ServerInfo = PULSEAUDIO_INFO
    loaded: list[ModuleInfo] = field(default_factory=lambda: [MAIN_SOCKET_MODULE])
    error: ProbeUnavailable | None = None  # raised by every server call (unreachable, hung)
    load_error: str | None = None  # load_module fails with this
    on_load: Callable[[str, str], None] | None = None
    connect_results: dict[str, ConnectResult] = field(default_factory=dict)  # by server string
    with_cookie: ConnectResult = OK  # connect_as answers, as another uid
    without_cookie: ConnectResult = DENIED
    other_uid_error: ProbeUnavailable | None = None
    listening: set[str] = field(default_factory=set)
    calls: list[tuple[object, ...]] = field(default_factory=list)

    @classmethod
    def pulseaudio(cls, **kwargs: object) -> FakePulse:
        return cls(**kwargs)  # type: ignore[arg-type]

    @classmethod
    def pipewire(cls, **kwargs: object) -> FakePulse:
        pipewire_ok = ConnectResult(ConnectOutcome.OK, PIPEWIRE_INFO.name, PIPEWIRE_INFO.name)
        defaults: dict[str, object] = {
            "info": PIPEWIRE_INFO, "loaded": [ModuleInfo(536870912, "module-always-sink", None)],
            "with_cookie": pipewire_ok, "without_cookie": pipewire_ok}
        return cls(**{**defaults, **kwargs})  # type: ignore[arg-type]

    def _server(self) -> None:
        if self.error is not None:
            raise self.error

    def server_info(self, server: str | None = None) -> ServerInfo:
        self.calls.append(("server_info", server))
        self._server()
        return self.info

    def modules(self, server: str | None = None) -> tuple[ModuleInfo, ...]:
        self.calls.append(("modules", server))
        self._server()
        return tuple(self.loaded)

    def load_module(self, name: str, args: str, server: str | None = None) -> int:
        self.calls.append(("load_module", name, args))
        self._server()
        if self.load_error:
            raise ProbeUnavailable(self.load_error)
        index = max((m.index for m in self.loaded), default=-1) + 1
        self.loaded.append(ModuleInfo(index, name, args or None))
        if self.on_load is not None:
            self.on_load(name, args)
        return index

    def connect_test(self, server: str, cookie_path: str | None = None) -> ConnectResult:
        self.calls.append(("connect_test", server, cookie_path))
        if self.error is not None:
            return ConnectResult(ConnectOutcome.FAILED, self.error.reason)
        default = ConnectResult(ConnectOutcome.OK, self.info.name, self.info.name)
        return self.connect_results.get(server, default)

    def connect_as(self, uid: int, gid: int, socket_path: str,
                   cookie_path: str | None) -> ConnectResult:
        self.calls.append(("connect_as", uid, gid, socket_path, cookie_path))
        if self.other_uid_error is not None:
            raise self.other_uid_error
        return self.with_cookie if cookie_path else self.without_cookie

    def socket_accepts(self, path: str) -> bool:
        self.calls.append(("socket_accepts", path))
        return path in self.listening


if TYPE_CHECKING:  # mypy proves the fake keeps the probe's interface
    from spotidoctor.probes.pulse import PulseProbe

    _fake_is_a_probe: PulseProbe = FakePulse()
