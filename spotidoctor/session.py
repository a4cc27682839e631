"""Build the run's Context and Registry from the command line, env and config file."""
from __future__ import annotations

import argparse
import dataclasses
import os
from dataclasses import dataclass
from typing import Mapping

from spotidoctor import config as config_mod
from spotidoctor.api import Context
from spotidoctor.memo import Memo
from spotidoctor.paths import Paths, UserInfo
from spotidoctor.probes import Probes
from spotidoctor.registry import Registry, discover
from spotidoctor.resultcache import ResultCache

# Commands that may answer from the result cache (`check --fresh` turns it off). Every
# other command re-tests for real: a fix is verified by a real re-test, a report describes
# the system as it is now. They still store what passes.
READS_CACHE = frozenset({"check", "launch"})


@dataclass(frozen=True)
class Session:
    ctx: Context
    registry: Registry


def config_overrides(args: argparse.Namespace) -> dict[str, object]:
    return {
        "image": getattr(args, "image", None),
        "container_name": getattr(args, "container_name", None),
        "storage_dir": getattr(args, "storage_dir", None),
        "container_uid": getattr(args, "uid", None),
        "profile": getattr(args, "profile", None),
    }


def _trusted_dropin_dirs(paths: Paths, extra: list[str], euid: int) -> list[str]:
    # Under sudo, a user-writable drop-in would run as root: only explicit --checks-dir then.
    if euid == 0 and os.environ.get("SUDO_USER"):
        return extra
    return [paths.dropin_dir, "/etc/spotidoctor/checks.d", *extra]


def result_cache(args: argparse.Namespace, paths: Paths, euid: int, *, fresh: bool = False) -> ResultCache:
    """The run's result cache: off as root (the cached probes refuse root anyway, and root
    must not leave files in a user's state dir); never read with ``--fresh``, for commands
    outside ``READS_CACHE`` or when the caller asks for ``fresh``."""
    if euid == 0:
        return ResultCache.off()
    fresh = fresh or bool(getattr(args, "fresh", False)) or getattr(args, "command", None) not in READS_CACHE
    return ResultCache.under(paths.state_dir, fresh=fresh)


def make_context(args: argparse.Namespace, env: Mapping[str, str] | None = None,
                 probes: Probes | None = None, *, fresh: bool = False) -> Context:
    env = dict(os.environ if env is None else env)
    user = UserInfo.current(env)
    paths = dataclasses.replace(Paths.from_env(env, user.home),
                                config_override=getattr(args, "config", None))
    overrides = {k: v for k, v in config_overrides(args).items() if v is not None}
    cfg = config_mod.load(paths.config_file).with_overrides(**overrides)
    return Context(
        probes=probes or Probes.real(env),
        env=env, user=user, paths=paths, config=cfg, memo=Memo(),
        verbose=bool(getattr(args, "verbose", False)), config_overrides=overrides,
        cache=result_cache(args, paths, os.geteuid(), fresh=fresh),
    )


def make_session(args: argparse.Namespace, *, fresh: bool = False) -> Session:
    ctx = make_context(args, fresh=fresh)
    disabled = [n for n in ctx.env.get("SPOTIDOCTOR_DISABLE_PLUGINS", "").split(",") if n]
    registry = discover(
        _trusted_dropin_dirs(ctx.paths, list(getattr(args, "checks_dir", None) or []), os.geteuid()),
        plugins=not getattr(args, "no_plugins", False), disabled=disabled,
    )
    return Session(ctx, registry)
