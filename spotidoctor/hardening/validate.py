"""Everything in the configuration that podman would misread, checked before podman runs.

``config_problems`` collects the problems of every setting; ``check_config`` raises them as
one ``ConfigError`` (exit code 2), so ``launch`` and ``launch --dry-run`` stop with a clear
message instead of handing podman an argv it would parse differently.
"""
from __future__ import annotations

from spotidoctor.config import Config
from spotidoctor.errors import ConfigError
from spotidoctor.hardening import names
from spotidoctor.hardening.runopts import parse_run_args

__all__ = ["config_problems", "check_config"]


def config_problems(config: Config, home: str) -> tuple[str, ...]:
    return (*names.image_problems(config.image),
            *names.container_name_problems(config.container_name),
            *names.storage_path_problems(config.storage_path(home)),
            *names.ulimits_problems(config.ulimits),
            *(f"extra_run_args: {p}" for p in parse_run_args(config.extra_run_args).problems))


def check_config(config: Config, home: str) -> None:
    problems = config_problems(config, home)
    if problems:
        where = f" in {config.source}" if config.source else ""
        raise ConfigError(f"invalid configuration{where}:\n" + "\n".join(f"  - {p}" for p in problems))
