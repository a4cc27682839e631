"""The one way tests build a Context over the real probes (the integration tests share it)."""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping

from spotidoctor.api import Context
from spotidoctor.config import Config
from spotidoctor.engine.session import SessionOptions, make_context
from spotidoctor.resultcache import ResultCache


def real_context(env: Mapping[str, str] | None = None, *, config: Config | None = None,
                 verbose: bool = False) -> Context:
    """A Context as the command line builds it, over the real probes.

    ``env`` is the whole environment (default: ``os.environ``); ``config`` replaces what
    config.toml under that environment's XDG_CONFIG_HOME says. The result cache is off, so
    every probe runs for real and nothing is left in the state directory.
    """
    ctx = make_context(SessionOptions(verbose=verbose), env=dict(os.environ if env is None else env))
    ctx = dataclasses.replace(ctx, cache=ResultCache.off())
    return ctx if config is None else dataclasses.replace(ctx, config=config)
