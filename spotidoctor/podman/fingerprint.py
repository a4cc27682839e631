"""What podman's answers depend on: the result cache's fingerprint for ``podman info``, the
runtime test and the audio test (binaries, configs, subordinate ids, the pause process, boot)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from spotidoctor.podman.conf import containers_conf_files
from spotidoctor.podman.idmaps import pause_identity
from spotidoctor.podman.install import RUNC_PATHS
from spotidoctor.resultcache import file_facts, text_digest
from spotidoctor.types import JSONValue

if TYPE_CHECKING:
    from spotidoctor.api import Context


# Environment podman reads (config and storage locations, remote connections, the user bus).
FINGERPRINT_ENV = ("HOME", "PATH", "TMPDIR", "XDG_RUNTIME_DIR", "XDG_DATA_HOME", "XDG_CONFIG_HOME",
                   "CONTAINER_HOST", "CONTAINER_CONNECTION", "CONTAINERS_CONF", "CONTAINERS_CONF_OVERRIDE",
                   "CONTAINERS_STORAGE_CONF", "DBUS_SESSION_BUS_ADDRESS")
CRUN_PATHS = ("/usr/bin/crun", "/usr/sbin/crun", "/usr/local/bin/crun", "/usr/local/sbin/crun", "/sbin/crun",
              "/bin/crun", "/run/current-system/sw/bin/crun")
# Installing, upgrading or removing any package changes one of these.
PACKAGE_DATABASES = ("/var/lib/dpkg/status", "/var/lib/rpm/rpmdb.sqlite", "/var/lib/rpm/Packages",
                     "/usr/lib/sysimage/rpm/rpmdb.sqlite", "/var/lib/pacman/local", "/lib/apk/db/installed")
USERNS_SYSCTLS = ("/proc/sys/kernel/unprivileged_userns_clone", "/proc/sys/user/max_user_namespaces",
                  "/proc/sys/kernel/apparmor_restrict_unprivileged_userns")
BOOT_ID = "/proc/sys/kernel/random/boot_id"
# podman picks the first of these it finds, in its configured paths and then through $PATH.
PATH_RUNTIMES = ("crun", "runc")
MAX_PATH_DIRS = 32


def storage_conf_files(ctx: Context) -> tuple[str, ...]:
    """Every storage.conf podman may read for this user (existing or not)."""
    override = ctx.env.get("CONTAINERS_STORAGE_CONF", "")
    files = [f"{ctx.paths.xdg_config_home}/containers/storage.conf", "/etc/containers/storage.conf",
             "/usr/share/containers/storage.conf"]
    if override:
        files.append(override if override.startswith("/") else f"{ctx.user.home}/{override}")
    return tuple(files)


def _small_text(ctx: Context, path: str) -> str | None:
    return ctx.probes.fs.read_text_or_none(path, 4096)


def path_runtimes(ctx: Context) -> list[JSONValue]:
    """crun and runc in every $PATH directory: when none of its configured paths exists,
    podman looks the runtime up in $PATH, so a crun put into ~/.local/bin switches a runc
    setup to crun as surely as a package does (the package database catches those)."""
    dirs = [d for d in (ctx.env.get("PATH") or "").split(":") if d.startswith("/")][:MAX_PATH_DIRS]
    return [file_facts(ctx.probes.fs, f"{d.rstrip('/')}/{name}") for d in dirs for name in PATH_RUNTIMES]


def podman_fingerprint(ctx: Context) -> tuple[JSONValue, ...]:
    """Everything ``podman info`` (the parts spotidoctor reads) and podman's rootless user
    namespace depend on: the uid and podman's environment, the podman binary, every
    containers.conf / storage.conf / connection file (by content), /etc/subuid and
    /etc/subgid, the newuidmap/newgidmap helpers (mode, file capabilities), the OCI runtimes
    podman may pick, the package databases, the userns sysctls, the boot id and the pause
    process. Raises OSError when something cannot be read (then nothing is cached).
    Memoised: the podman.runtime and pulse.container-access fingerprints extend it."""
    return ctx.memo.get("podmaninfo.fingerprint", lambda: tuple(_podman_fingerprint(ctx)))


def _podman_fingerprint(ctx: Context) -> list[JSONValue]:
    fs = ctx.probes.fs
    which = ctx.probes.cmd.which
    config_home = ctx.paths.xdg_config_home
    data_home = ctx.env.get("XDG_DATA_HOME") or f"{ctx.user.home}/.local/share"
    configs = (*containers_conf_files(ctx), *storage_conf_files(ctx),
               f"{config_home}/containers/podman-connections.json", f"{data_home}/containers/podman-connections.json")
    id_helpers = [which(name) or f"/usr/bin/{name}" for name in ("newuidmap", "newgidmap")]
    podman = which("podman")
    runtime_dir = ctx.paths.xdg_runtime_dir
    return [
        ["uid", ctx.user.uid, ctx.user.gid],
        ["env", {name: ctx.env.get(name) for name in FINGERPRINT_ENV}],
        ["podman", podman, file_facts(fs, podman) if podman else None],
        ["config", [text_digest(fs, path) for path in configs]],
        ["subids", [text_digest(fs, "/etc/subuid"), text_digest(fs, "/etc/subgid")]],
        ["id-helpers", [[file_facts(fs, path), (fs.getxattr(path, "security.capability") or b"").hex()]
                        for path in id_helpers]],
        ["runtimes", [file_facts(fs, path) for path in (*RUNC_PATHS, *CRUN_PATHS)]],
        ["runtimes-in-path", path_runtimes(ctx)],
        ["packages", [file_facts(fs, path) for path in PACKAGE_DATABASES]],
        ["sysctl", [_small_text(ctx, path) for path in USERNS_SYSCTLS]],
        ["boot", _small_text(ctx, BOOT_ID)],
        ["bus", file_facts(fs, f"{runtime_dir}/bus") if runtime_dir else None],
        ["pause", pause_identity(ctx)],
    ]
