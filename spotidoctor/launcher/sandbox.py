"""Before a launch: the configuration is valid for podman, and every setting that widens the
sandbox is named with what it opens (the preflight and ``--dry-run`` print them).

``hardening.widening.audit`` judges ``extra_run_args``, ``network``, ``profile`` and
``share_pipewire``; the channel opt-ins (``audio = "direct"``, ``x11_trust = "trusted"``)
are added here.
"""
from __future__ import annotations

from spotidoctor.config import Config
from spotidoctor.hardening.mounts import HostContext
from spotidoctor.hardening.validate import check_config
from spotidoctor.hardening.widening import Audit, Widening, audit
from spotidoctor.paths import Paths, UserInfo

__all__ = ["Widening", "validate", "widenings", "unrecognised"]

AUDIO_DIRECT = ("the container gets the dedicated socket of your sound server (and its cookie): any client on it "
                "may load modules, i.e. run code as you, change defaults, record and move other streams")
X11_TRUSTED = ("the container gets a trusted X cookie: it may turn access control off (xhost +), inject and "
               "record input (XTEST, RECORD) and read every window on the display")


def validate(config: Config, home: str) -> None:
    """``ConfigError`` (exit 2) listing everything podman would misread (image and container names,
    storage path, ulimits, extra_run_args that would change what podman runs); before podman is
    asked anything."""
    check_config(config, home)


def _audit(config: Config, user: UserInfo, paths: Paths) -> Audit:
    host = HostContext(home=user.home, uid=user.uid, runtime_dir=paths.xdg_runtime_dir)
    return audit(extra_run_args=config.extra_run_args, host=host, network=config.network, profile=config.profile,
                 share_pipewire=config.share_pipewire)


def widenings(config: Config, user: UserInfo, paths: Paths) -> tuple[Widening, ...]:
    """Every setting that opens the sandbox, with what it opens."""
    found = list(_audit(config, user, paths).widenings)
    if config.audio == "direct":
        found.append(Widening('audio = "direct"', AUDIO_DIRECT))
    if config.x11_trust == "trusted":
        found.append(Widening('x11_trust = "trusted"', X11_TRUSTED))
    return tuple(found)


def unrecognised(config: Config, user: UserInfo, paths: Paths) -> tuple[str, ...]:
    """Options spotidoctor cannot judge (a newer podman's): named, never silently passed."""
    return _audit(config, user, paths).unrecognised
