"""Build the run's Context and Registry from ``SessionOptions``, the environment and the config file."""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass

from spotidoctor import config as config_mod
from spotidoctor.api import Context
from spotidoctor.engine.registry import Registry, discover
from spotidoctor.memo import Memo
from spotidoctor.paths import Paths, UserInfo
from spotidoctor.probes import Probes
from spotidoctor.resultcache import ResultCache


@dataclass(frozen=True)
class SessionOptions:
    """What every command takes from its command line: where the config is, what overrides
    it, where checks come from, and whether the result cache may answer."""

    config_path: str | None = None  # --config
    image: str | None = None
    container_name: str | None = None
    storage_dir: str | None = None
    container_uid: int | None = None  # --uid
    profile: str | None = None
    checks_dirs: tuple[str, ...] = ()  # --checks-dir, repeatable
    plugins: bool = True  # not --no-plugins
    verbose: bool = False
    # `check` and `launch` may answer from the result cache (unless --fresh); every other
    # command re-tests for real: a fix is verified by a real re-test, a report describes
    # the system as it is now. They still store what passes.
    reuse_cache: bool = False

    def config_overrides(self) -> dict[str, object]:
        values = {"image": self.image, "container_name": self.container_name, "storage_dir": self.storage_dir,
                  "container_uid": self.container_uid, "profile": self.profile}
        return {key: value for key, value in values.items() if value is not None}


@dataclass(frozen=True)
class Session:
    ctx: Context
    registry: Registry


def _trusted_dropin_dirs(paths: Paths, extra: list[str], euid: int) -> list[str]:
    # Under sudo, a user-writable drop-in would run as root: only explicit --checks-dir then.
    if euid == 0 and os.environ.get("SUDO_USER"):
        return extra
    return [paths.dropin_dir, "/etc/spotidoctor/checks.d", *extra]


def result_cache(options: SessionOptions, paths: Paths, euid: int, *, fresh: bool = False) -> ResultCache:
    """The run's result cache: off as root (the cached probes refuse root anyway, and root
    must not leave files in a user's state dir); never read unless ``options.reuse_cache``,
    nor when the caller asks for ``fresh``."""
    if euid == 0:
        return ResultCache.off()
    return ResultCache.under(paths.state_dir, fresh=fresh or not options.reuse_cache)


def make_context(options: SessionOptions, env: Mapping[str, str] | None = None,
                 probes: Probes | None = None, *, fresh: bool = False) -> Context:
    env = dict(os.environ if env is None else env)
    user = UserInfo.current(env)
    paths = dataclasses.replace(Paths.from_env(env, user.home), config_override=options.config_path)
    overrides = options.config_overrides()
    cfg = config_mod.load(paths.config_file).with_overrides(**overrides)
    return Context(
        probes=probes or Probes.real(env),
        env=env, user=user, paths=paths, config=cfg, memo=Memo(),
        verbose=options.verbose, config_overrides=overrides,
        cache=result_cache(options, paths, os.geteuid(), fresh=fresh),
    )


def make_session(options: SessionOptions, *, fresh: bool = False) -> Session:
    ctx = make_context(options, fresh=fresh)
    return Session(ctx, registry_for(ctx, options))


def registry_for(ctx: Context, options: SessionOptions) -> Registry:
    """Every check: bundled, plugins and drop-ins (imports them all: ~0.1 s)."""
    disabled = [n for n in ctx.env.get("SPOTIDOCTOR_DISABLE_PLUGINS", "").split(",") if n]
    return discover(_trusted_dropin_dirs(ctx.paths, list(options.checks_dirs), os.geteuid()),
                    plugins=options.plugins, disabled=disabled)
