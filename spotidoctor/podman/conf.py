"""containers.conf: which files podman reads for this user, and a safe edit of
``[engine] runtime``."""
from __future__ import annotations

import re
import sys
from typing import TYPE_CHECKING

from spotidoctor.errors import ParseError

if TYPE_CHECKING:
    from spotidoctor.api import Context


if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib


_CONF_DIRS = ("/usr/share/containers", "/etc/containers")


def containers_conf_files(ctx: Context) -> tuple[str, ...]:
    """Every containers.conf podman (4.x and 5.x) may read for this user, existing or not:
    the system, admin and user files, their ``containers.conf.d`` / ``containers.rootless.conf.d``
    drop-ins, ``$CONTAINERS_CONF`` and ``$CONTAINERS_CONF_OVERRIDE``. A superset on purpose:
    callers use it to notice changes and settings, never to compute podman's merge."""
    fs = ctx.probes.fs
    user_dir = f"{ctx.paths.xdg_config_home}/containers"
    files: list[str] = []
    for base in (*_CONF_DIRS, user_dir):
        files.append(f"{base}/containers.conf")
        for drop_in in ("containers.conf.d", "containers.rootless.conf.d",
                        f"containers.rootless.conf.d/{ctx.user.uid}"):
            directory = f"{base}/{drop_in}"
            files += [f"{directory}/{name}" for name in fs.listdir(directory) if name.endswith(".conf")]
    for name in ("CONTAINERS_CONF", "CONTAINERS_CONF_OVERRIDE"):
        value = ctx.env.get(name, "")
        if value:
            files.append(value if value.startswith("/") else f"{ctx.user.home}/{value}")
    return tuple(files)


def containers_conf_path(ctx: Context) -> str:
    """The containers.conf podman reads last for this user: ``$CONTAINERS_CONF`` when set
    (it then replaces all others), else ``$XDG_CONFIG_HOME/containers/containers.conf``."""
    override = ctx.env.get("CONTAINERS_CONF", "")
    if override:
        return override if override.startswith("/") else f"{ctx.user.home}/{override}"
    return f"{ctx.paths.xdg_config_home}/containers/containers.conf"


_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")
_RUNTIME_KEY = re.compile(r"^(\s*)runtime\s*=")


def _table_of(line: str) -> str | None:
    match = _HEADER.match(line.rstrip("\r\n"))
    return match.group(1).strip().strip('"') if match and not line.lstrip().startswith("[[") else None


def with_engine_runtime(text: str, runtime: str) -> str:
    """``text`` with ``[engine] runtime = "<runtime>"``; everything else stays as written.

    Raises ``ParseError`` when ``text`` is not valid TOML or the edit cannot be made
    safely (the result is re-parsed and compared with the original).
    """
    try:
        before = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ParseError(f"not valid TOML: {exc}") from exc
    lines = text.splitlines(keepends=True)
    setting = f'runtime = "{runtime}"\n'
    engine = next((i for i, ln in enumerate(lines) if _table_of(ln) == "engine"), None)
    if engine is None:
        prefix = text if not text or text.endswith("\n") else text + "\n"
        new = prefix + ("\n" if prefix.strip() else "") + "[engine]\n" + setting
    else:
        if not lines[engine].endswith("\n"):
            lines[engine] += "\n"
        end = next((i for i in range(engine + 1, len(lines)) if _table_of(lines[i]) is not None), len(lines))
        hit = next((i for i in range(engine + 1, end) if _RUNTIME_KEY.match(lines[i])), None)
        if hit is None:
            lines.insert(engine + 1, setting)
        else:
            lines[hit] = _RUNTIME_KEY.match(lines[hit]).group(1) + setting  # type: ignore[union-attr]
        new = "".join(lines)
    _verify_runtime_edit(before, new, runtime)
    return new


def _verify_runtime_edit(before: dict[str, object], new: str, runtime: str) -> None:
    try:
        after = tomllib.loads(new)
    except tomllib.TOMLDecodeError as exc:
        raise ParseError(f"cannot add the runtime setting safely: {exc}") from exc
    engine_before = before.get("engine", {})
    expected = dict(before)
    expected["engine"] = {**(engine_before if isinstance(engine_before, dict) else {}), "runtime": runtime}
    if after != expected:
        raise ParseError("cannot add the runtime setting without changing other settings")
