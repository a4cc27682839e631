"""Podman checks: installed tools, rootless mode, an OCI runtime that really starts a
container, and the rootless network helper.

Chain: podman.installed → podman.rootless → podman.runtime → podman.network. The runtime
and network checks start a throw-away container from an empty directory (``--rootfs``)
running podman's own static init binary (``--init``, catatonit), so no image and no
network are needed; both are bounded by a timeout and tagged "slow".

``podman info`` and a passing runtime test are kept in the result cache
(``spotidoctor.resultcache``) while nothing they depend on changes; ``check --fresh``,
``fix`` and the re-checks after fixes always ask podman again.
"""
from __future__ import annotations

import os
import re
import stat as stat_mod
from enum import Enum

from typing import TYPE_CHECKING

from spotidoctor import podmaninfo
from spotidoctor.api import Check, CheckResult, Context, Fix, FixAvailability, Message
from spotidoctor.errors import ParseError
from spotidoctor.fixes import Instruction, Privilege, RunCommand, SetConfig, Step, WriteFile
from spotidoctor.types import JSONValue
from spotidoctor.model import Status
from spotidoctor.podmaninfo import PodmanInfo
from spotidoctor.resultcache import age_text, cached, file_facts, verified_note

if TYPE_CHECKING:
    from spotidoctor.bundle.spec import BundleSpec

PROBE_TIMEOUT_S = 60.0
PROBE_DIR_NAME = "podman-probe-rootfs"
RUNC_FIX_ID = "podman.use-runc"
TUN = "/dev/net/tun"

# -- user-facing text (tests assert against these) ----------------------------------------
NO_PODMAN = "podman is not installed"
NO_BUILDAH = "buildah is not installed (spotidoctor builds the image with it)"
KEEP_ID_TOO_OLD = "profile keep-id needs podman 4.3.0 or later (--userns=keep-id:uid=,gid=); this is podman {version}"
AS_ROOT = "spotidoctor runs as root: Spotify's container must be rootless, started by your own user"
NOT_ROOTLESS = "podman does not run rootless for this user"
HYBRID = "crun cannot start containers on this host: cgroups in hybrid mode are not supported"
RUNTIME_OK = "{runtime} started a container"
KEEP_GROUPS_NOTE = ("With runc, `--group-add keep-groups` is silently ignored (it only works with crun), so "
                    "GPU access through the video/render groups is lost; Spotify then needs --disable-gpu.")
NO_INIT = "cannot test the OCI runtime: podman's init binary (catatonit) is missing"
RUNTIME_MISSING = "the configured OCI runtime {runtime} is not installed"
USERNS_BROKEN = "the container could not set up its user namespace"
HUNG = "`podman run` did not finish within {timeout:g}s"
RUN_FAILED = "{runtime} could not start a container"
PASTA_TOO_OLD = "network mode pasta needs podman 4.4.0 or later; this is podman {version}"
NO_PASTA = "network mode pasta needs the pasta program (package passt), which is not installed"
NO_SLIRP = "network mode slirp4netns needs the slirp4netns program, which is not installed"
NO_TUN = "slirp4netns needs /dev/net/tun, which is {problem}"
NETWORK_OK = "network mode {mode} works"
NO_PROBE_DIR = "cannot create the empty directory the probe container runs from: {error}"
RUNTIME_CACHED = "{runtime} started a container {age} ago (nothing it depends on changed since)"
INFO_CACHED = ("podman info answered {age} ago and nothing it depends on changed since "
               "(`spotidoctor check --fresh` asks again)")

# A passing runtime test is trusted this long while its fingerprint holds.
RUNTIME_CACHE_TTL_S = 3600.0
RUNTIME_CACHE_KEY = "podman-runtime"
# podman's container monitor and --init binary (containers.conf defaults), both used by the test.
CONMON_PATHS = ("/usr/libexec/podman/conmon", "/usr/local/libexec/podman/conmon", "/usr/local/lib/podman/conmon",
                "/usr/bin/conmon", "/usr/sbin/conmon", "/usr/local/bin/conmon", "/usr/local/sbin/conmon",
                "/run/current-system/sw/bin/conmon")
INIT_PATHS = ("/usr/libexec/podman/catatonit", "/usr/local/libexec/podman/catatonit", "/usr/lib/podman/catatonit",
              "/usr/libexec/catatonit/catatonit", "/usr/bin/catatonit")

_PACKAGES_RUNC = {"apt-get": "runc", "dnf": "runc", "zypper": "runc", "pacman": "runc"}
_PACKAGES_CRUN = {"apt-get": "crun", "dnf": "crun", "zypper": "crun", "pacman": "crun"}
_PACKAGES_PODMAN = {"apt-get": "podman", "dnf": "podman", "zypper": "podman", "pacman": "podman"}
_PACKAGES_BUILDAH = {"apt-get": "buildah", "dnf": "buildah", "zypper": "buildah", "pacman": "buildah"}
_PACKAGES_CATATONIT = {"apt-get": "catatonit", "dnf": "catatonit", "zypper": "catatonit", "pacman": "catatonit"}
_PACKAGES_SLIRP = {"apt-get": "slirp4netns", "dnf": "slirp4netns", "zypper": "slirp4netns", "pacman": "slirp4netns"}
_PACKAGES_PASTA = {"apt-get": "passt", "dnf": "passt", "zypper": "passt", "pacman": "passt"}


def install_fix(ctx: Context, fix_id: str, what: str, packages: dict[str, str]) -> Fix:
    """A manual fix installing a package with this host's package manager (root)."""
    argv = podmaninfo.package_install_argv(ctx, packages)
    step: Step = (RunCommand(f"Install {what}", argv=argv, run_as=Privilege.ROOT) if argv else
                  Instruction(f"Install {what}", text=f"Install the {packages['apt-get']} package "
                              "with your distribution's package manager."))
    return Fix.manual(fix_id, f"Install {what}", step)


class PodmanInstalled(Check):
    """What it checks: `podman` and `buildah` are installed; reports their versions; with
    the keep-id profile, podman is at least 4.3.0.

    Why it matters: spotidoctor runs Spotify with rootless podman and builds its image with
    buildah. `--userns=keep-id:uid=1500,gid=1500` arrived in podman 4.3.0.

    Fix safety: manual (installing packages needs root); switching a too-old podman back to
    the isolated profile is unsafe (it changes who must own the storage).
    """

    id = "podman.installed"
    title = "podman and buildah are installed"
    category = "container"
    tags = frozenset({"launch"})
    # Both `--version` calls may run into their own timeout (a hung podman): the check must
    # outlive them, so the result names the command that hung instead of "check timed out".
    timeout_s = 2 * podmaninfo.VERSION_TIMEOUT_S + 5.0
    fix_availability = FixAvailability.SOMETIMES

    @staticmethod
    def prefetch(ctx: Context) -> None:
        """Started when the run begins: `buildah --version` runs while run() waits for
        `podman --version` instead of after it (both memoised; same answers, same timeouts)."""
        podmaninfo.tool_version(ctx, "buildah")

    def run(self, ctx: Context) -> CheckResult:
        podman = podmaninfo.tool_version(ctx, "podman")
        buildah = podmaninfo.tool_version(ctx, "buildah")
        facts: dict[str, JSONValue] = {"podman_version": podman.text or None, "buildah_version": buildah.text or None}
        if not podman.installed:
            return self.fail(NO_PODMAN, facts=facts,
                             fixes=(install_fix(ctx, "podman.install-podman", "podman", _PACKAGES_PODMAN),))
        if podman.error:
            return self.fail(f"`podman --version` failed: {podman.error}", facts=facts)
        if ctx.config.profile == "keep-id" and podman.version is not None and not podman.at_least(4, 3):
            return self.fail(KEEP_ID_TOO_OLD.format(version=podman.text), facts=facts, fixes=(Fix.unsafe(
                "podman.profile-isolated", "Use the isolated profile (container uid 1500 → your subordinate uid)",
                SetConfig("Set profile = isolated in spotidoctor's config", key="profile", value="isolated"),
                notes=("Storage must then be owned by the container user: run `spotidoctor fix storage`.",),
                recheck=("storage.ownership",)),))
        if not buildah.installed:
            return self.warn(NO_BUILDAH, facts=facts,
                             fixes=(install_fix(ctx, "podman.install-buildah", "buildah", _PACKAGES_BUILDAH),))
        return self.ok(f"podman {podman.text or '?'}, buildah {buildah.text or '?'}", facts=facts)


def _info_failure(error: str) -> tuple[Message, ...]:
    advice = []
    if "newuidmap" in error or "uid_map" in error or "subuid" in error:
        advice.append("See `spotidoctor check userns`.")
    if "podman system migrate" in error or "invalid internal status" in error:
        advice.append("`podman system migrate` resets the pause process (it stops your running containers).")
    return (Message.error(error, *advice),)


class PodmanRootless(Check):
    """What it checks: `podman info` works for you and reports rootless mode; records the
    runtime, cgroup version, log driver, network backend and graph driver as facts.

    Why it matters: Spotify's container runs rootless, as your user, so its files and
    sockets are reachable only through the mappings spotidoctor checks. cgroup v1 means
    rootless resource limits are ignored.

    `podman info` (slow: podman asks the package manager about its helpers) is remembered
    for an hour while nothing it depends on changes: podman's binary, every containers.conf
    and storage.conf, /etc/subuid and /etc/subgid, the OCI runtimes, newuidmap/newgidmap,
    the package database, the userns sysctls, podman's environment, the boot and the pause
    process. A remembered answer says so; `spotidoctor check --fresh`, `fix` and the
    re-checks after fixes always ask podman.

    Fix safety: none (run spotidoctor as your normal user; see the userns checks).
    """

    id = "podman.rootless"
    title = "podman runs rootless for you"
    category = "container"
    requires = ("podman.installed",)
    tags = frozenset({"launch"})
    timeout_s = 75.0

    @staticmethod
    def prefetch(ctx: Context) -> None:
        """The runner starts this when the run begins: `podman info` (podman's slowest query,
        it asks dpkg/rpm about its helpers) then overlaps podman.installed; run() gets the
        answer through ctx.memo. Never as root, like run()."""
        if ctx.user.uid != 0:
            podmaninfo.podman_info(ctx)

    def collect(self, spec: BundleSpec, ctx: Context) -> None:
        """For bug reports: podman/buildah versions, podman info, the unshare id maps, containers.conf."""
        from spotidoctor.bundle.sources import podman_evidence

        podman_evidence(spec, ctx)

    def run(self, ctx: Context) -> CheckResult:
        if ctx.user.uid == 0:
            return self.fail(AS_ROOT, Message.error("Run spotidoctor as the user who will use Spotify, "
                                                    "without sudo; fixes that need root ask for it step by step."))
        info = podmaninfo.podman_info(ctx)
        if info is None:
            error = podmaninfo.podman_info_error(ctx) or "podman info failed"
            return self.fail("`podman info` failed", *_info_failure(error))
        if not info.rootless:
            return self.fail(NOT_ROOTLESS, facts=info.facts())
        notes: tuple[Message, ...] = ()
        if info.cgroup_version == "v1":
            notes = (Message.info("cgroups v1: rootless podman ignores resource limits (--memory, --pids-limit)."),)
        age = podmaninfo.podman_info_age(ctx)
        if age is not None:
            notes += (Message.info(INFO_CACHED.format(age=age_text(age))),)
        return self.ok(f"rootless podman {info.version_text} (runtime {info.oci_runtime or '?'}, "
                       f"cgroups {info.cgroup_version or '?'}, storage {info.graph_driver or '?'})",
                       *notes, facts=info.facts())


# -- the probe container ----------------------------------------------------------------------

class Failure(Enum):
    HYBRID_CGROUPS = "hybrid-cgroups"
    NO_INIT = "no-init"
    RUNTIME_MISSING = "runtime-missing"
    USERNS = "userns"
    TUN = "tun"
    PASTA_UNSUPPORTED = "pasta-unsupported"
    PASTA_MISSING = "pasta-missing"
    SLIRP_MISSING = "slirp4netns-missing"
    TIMEOUT = "timeout"
    OTHER = "other"


_RUNTIME_NOT_FOUND = re.compile(r'OCI runtime "?([\w.-]+)"? not found')
_PATTERNS = (
    (Failure.HYBRID_CGROUPS, ("cgroups in hybrid mode not supported",)),
    (Failure.NO_INIT, ("container-init binary not found",)),
    (Failure.TUN, ("/dev/net/tun",)),
    (Failure.PASTA_UNSUPPORTED, ("unable to find network with name or ID pasta",)),
    (Failure.PASTA_MISSING, ("could not find pasta",)),
    (Failure.SLIRP_MISSING, ("could not find slirp4netns",)),
    (Failure.USERNS, ("newuidmap", "newgidmap", "uid_map", "setgroups: invalid argument",
                      "insufficient UIDs or GIDs", "cannot set up namespace", "cannot re-exec process")),
)


def classify(text: str, timed_out: bool = False) -> Failure:
    """What went wrong, from `podman run`'s error output."""
    if timed_out:
        return Failure.TIMEOUT
    for failure, needles in _PATTERNS:
        if any(n in text for n in needles):
            return failure
    if _RUNTIME_NOT_FOUND.search(text):
        return Failure.RUNTIME_MISSING
    return Failure.OTHER


def probe_rootfs(ctx: Context) -> str:
    """An empty directory of spotidoctor's own, used as ``--rootfs`` for probe containers.

    The runtime creates only empty mount-point directories in it (dev, etc, proc, run, sys),
    owned by you. Creating it is the only write these checks make.
    """
    path = os.path.join(ctx.paths.runtime_dir, PROBE_DIR_NAME)
    ctx.probes.fs.makedirs(path, mode=0o700)
    return path


def probe_argv(rootfs: str, network: str = "none") -> tuple[str, ...]:
    """A container that needs neither an image nor a network: podman bind-mounts its static
    init (catatonit) at /run/podman-init, which prints its version and exits."""
    return ("podman", "run", "--rm", "--network", network, "--init", "--rootfs", rootfs,
            "/run/podman-init", "--version")


def cgroup_layout(ctx: Context) -> JSONValue:
    """How cgroups are set up for us (not where we sit): the hierarchies of /proc/self/cgroup
    without their paths, the cgroup/cgroup2 mounts and each cgroup2 mount's controllers
    (hybrid mode is exactly v1 mounts plus a cgroup2 mount with controllers), and the
    controllers delegated to the user's systemd instance."""
    fs = ctx.probes.fs
    hierarchies: list[JSONValue] = [line.rsplit(":", 1)[0] for line in
                                    (fs.read_text_or_none("/proc/self/cgroup", 65536) or "").splitlines()]
    mounts: list[JSONValue] = []
    for line in (fs.read_text_or_none("/proc/self/mountinfo", 1 << 20) or "").splitlines():
        fields = line.split()
        if "-" not in fields:
            continue
        rest = fields[fields.index("-") + 1:]
        if rest and rest[0] in ("cgroup", "cgroup2") and len(fields) > 4:
            controllers = (fs.read_text_or_none(f"{fields[4]}/cgroup.controllers", 4096)
                           if rest[0] == "cgroup2" else None)
            mounts.append([fields[4], rest[0], rest[2] if len(rest) > 2 else "", controllers])
    uid = ctx.user.uid
    delegated = fs.read_text_or_none(
        f"/sys/fs/cgroup/user.slice/user-{uid}.slice/user@{uid}.service/cgroup.controllers", 4096)
    return [hierarchies, mounts, delegated]


def runtime_fingerprint(ctx: Context, info: PodmanInfo | None) -> list[JSONValue]:
    """What the runtime test's verdict depends on: podman's fingerprint (binary, configs,
    subordinate ids, helpers, packages, boot, pause process), the OCI runtime binary podman
    reports, conmon and the --init binary, and the cgroup layout."""
    fs = ctx.probes.fs
    runtime = [info.oci_runtime, info.oci_runtime_path,
               file_facts(fs, info.oci_runtime_path) if info.oci_runtime_path else None] if info else None
    return [*podmaninfo.podman_fingerprint(ctx), ["oci-runtime", runtime],
            ["conmon", [file_facts(fs, path) for path in CONMON_PATHS]],
            ["init", [file_facts(fs, path) for path in INIT_PATHS]],
            ["cgroups", cgroup_layout(ctx)]]


class OciRuntimeStarts(Check):
    """What it checks: the OCI runtime podman uses (crun or runc) really starts a container:
    a throw-away one from an empty directory (`--rootfs`) running podman's static init,
    with no network, bounded by a timeout. Publishes `runtime` (and whether
    `--group-add keep-groups`, crun only, is available for GPU access).

    A pass is remembered (for an hour) together with a fingerprint of everything it depends
    on: podman's binary, every containers.conf/storage.conf, /etc/subuid and /etc/subgid,
    the OCI runtime, conmon and init binaries, newuidmap/newgidmap, the package database,
    the userns sysctls, the cgroup layout, the boot and podman's pause process. While all of
    that is unchanged the check reports the earlier pass and says so ("verified 12 min ago");
    any change, `spotidoctor check --fresh`, `spotidoctor fix` and every re-check after a
    fix start the container again. Failures are never remembered.

    Why it matters: on hosts with hybrid cgroups (v1 plus a cgroup2 mount with
    controllers) crun fails with `cgroups in hybrid mode not supported`, and
    buildah's RUN steps fail the same way.

    Fix safety: safe when runc is installed: `[engine] runtime = "runc"` is merged into your
    containers.conf ($CONTAINERS_CONF or $XDG_CONFIG_HOME/containers/), backed up first.
    Otherwise manual: install runc (root).
    """

    id = "podman.runtime"
    title = "The OCI runtime starts containers"
    category = "container"
    requires = ("podman.rootless",)
    tags = frozenset({"launch", "slow"})
    timeout_s = PROBE_TIMEOUT_S + 30.0
    fix_availability = FixAvailability.SOMETIMES

    def run(self, ctx: Context) -> CheckResult:
        info = podmaninfo.podman_info(ctx)
        runtime = info.oci_runtime if info else "the OCI runtime"
        facts = self._facts(ctx, info)

        def remembered(data: JSONValue) -> CheckResult:
            if data != {"runtime": runtime}:
                raise ValueError("a pass of another runtime")
            return self._passed(info, runtime, facts)

        got = cached(ctx, RUNTIME_CACHE_KEY, lambda: runtime_fingerprint(ctx, info), RUNTIME_CACHE_TTL_S,
                     lambda: self._test(ctx, info, runtime, facts),
                     encode=lambda result: {"runtime": runtime} if result.status is Status.OK else None,
                     decode=remembered)
        if got.age_s is None:
            return got.value
        age = age_text(got.age_s)
        return self.ok(RUNTIME_CACHED.format(runtime=runtime, age=age), Message.info(verified_note(got.age_s)),
                       *got.value.messages, facts=facts)

    def _test(self, ctx: Context, info: PodmanInfo | None, runtime: str, facts: dict[str, JSONValue]) -> CheckResult:
        try:
            rootfs = probe_rootfs(ctx)
        except OSError as exc:
            return self.fail(NO_PROBE_DIR.format(error=exc.strerror or exc), facts=facts)
        done = ctx.probes.cmd.run(probe_argv(rootfs), timeout=PROBE_TIMEOUT_S)
        if done.ok:
            return self._passed(info, runtime, facts)
        return self._failed(ctx, classify(done.stderr + done.stdout, done.timed_out), done.error_text(),
                            runtime, facts)

    def _passed(self, info: PodmanInfo | None, runtime: str, facts: dict[str, JSONValue]) -> CheckResult:
        notes = () if info is None or info.keep_groups_supported else (Message.info(KEEP_GROUPS_NOTE),)
        return self.ok(RUNTIME_OK.format(runtime=runtime), *notes, facts=facts)

    @staticmethod
    def _facts(ctx: Context, info: PodmanInfo | None) -> dict[str, JSONValue]:
        return {
            "runtime": info.oci_runtime if info else None,
            "runtime_path": info.oci_runtime_path if info else None,
            "keep_groups_supported": info.keep_groups_supported if info else None,
            "containers_conf": podmaninfo.containers_conf_path(ctx),
        }

    def _failed(self, ctx: Context, failure: Failure, error: str, runtime: str,
                facts: dict[str, JSONValue]) -> CheckResult:
        if failure is Failure.HYBRID_CGROUPS:
            return self.fail(HYBRID, Message.error(error, "runc works on hybrid cgroups; so does booting with "
                                                   "cgroup v2 only (systemd.unified_cgroup_hierarchy=1)."),
                             facts=facts, fixes=(self._runc_fix(ctx),))
        if failure is Failure.NO_INIT:
            return self.warn(NO_INIT, Message.hint(error), facts=facts, fixes=(
                install_fix(ctx, "podman.install-catatonit", "catatonit (podman --init)", _PACKAGES_CATATONIT),))
        if failure is Failure.RUNTIME_MISSING:
            match = _RUNTIME_NOT_FOUND.search(error)
            name = match.group(1) if match else runtime
            packages = _PACKAGES_RUNC if name == "runc" else _PACKAGES_CRUN
            return self.fail(RUNTIME_MISSING.format(runtime=name), Message.error(error), facts=facts,
                             fixes=(install_fix(ctx, f"podman.install-{name}", name, packages),))
        if failure is Failure.USERNS:
            return self.fail(USERNS_BROKEN, Message.error(error, "See `spotidoctor check userns`."), facts=facts)
        if failure is Failure.TIMEOUT:
            return self.fail(HUNG.format(timeout=PROBE_TIMEOUT_S), facts=facts)
        return self.fail(RUN_FAILED.format(runtime=runtime), Message.error(error), facts=facts)

    @staticmethod
    def _runc_fix(ctx: Context) -> Fix:
        if podmaninfo.find_runc(ctx) is None:
            fix = install_fix(ctx, "podman.install-runc", "runc", _PACKAGES_RUNC)
            return Fix.manual(fix.id, fix.title, *fix.steps, notes=(
                "Then run `spotidoctor fix podman` again: it switches podman to runc.",))
        return runc_config_fix(ctx)


def runc_config_fix(ctx: Context) -> Fix:
    """``[engine] runtime = "runc"`` merged into the user's containers.conf (safe, backed up),
    or a manual instruction when that file cannot be edited safely."""
    path = podmaninfo.containers_conf_path(ctx)
    fs = ctx.probes.fs
    old = fs.read_text_or_none(path)
    notes = (KEEP_GROUPS_NOTE, "buildah reads the same file, so image builds use runc too.")
    manual_text = f'Add to {path}:\n[engine]\nruntime = "runc"'
    try:
        new = podmaninfo.with_engine_runtime(old or "", "runc")
    except ParseError as exc:
        return Fix.manual(RUNC_FIX_ID, "Make podman use runc", Instruction(
            f"{path} cannot be edited automatically ({exc})", text=manual_text), notes=notes)
    st = fs.lstat(path)
    if st is not None and (not st.is_file or not fs.access(path, os.W_OK)):
        return Fix.manual(RUNC_FIX_ID, "Make podman use runc", Instruction(
            f"{path} is not a file you can write", text=manual_text), notes=notes)
    mode = st.perms if st is not None else 0o644
    return Fix.safe(RUNC_FIX_ID, f'Make podman use runc: [engine] runtime = "runc" in {path}',
                    WriteFile(f"Set the OCI runtime in {path}", path=path, content=new, mode=mode, backup=True),
                    notes=notes, recheck=("podman.rootless", "podman.runtime", "podman.network"))


# -- networking -------------------------------------------------------------------------------

TUN_NO_ACCESS = "not readable and writable by you"


def _tun_problem(ctx: Context) -> str | None:
    """Why slirp4netns cannot open /dev/net/tun, or None."""
    st = ctx.probes.fs.stat(TUN)
    if st is None:
        return "missing"
    if not stat_mod.S_ISCHR(st.mode):
        return "not a character device"
    if not ctx.probes.fs.access(TUN, os.R_OK | os.W_OK):
        return TUN_NO_ACCESS
    return None


def _network_mode(ctx: Context, info: PodmanInfo) -> str:
    return (ctx.config.network or info.default_network).split(":", 1)[0]


class RootlessNetwork(Check):
    """What it checks: the network mode the launch uses (the configured `network`, else
    podman's default: slirp4netns before 5.0, pasta since) has its helper and works: a
    throw-away container with that network starts. slirp4netns needs `/dev/net/tun`; pasta
    needs podman ≥ 4.4 and the `pasta` program (package passt). Publishes `network_mode`,
    `pasta_available`, `tun_available`.

    Why it matters: Spotify needs the network; a missing `/dev/net/tun` (some VMs and LXC
    containers) fails every launch with `open("/dev/net/tun"): No such file or directory`.

    Fix safety: manual (packages and kernel modules need root); switching away from pasta
    on an old podman is unsafe (it changes your configuration).
    """

    id = "podman.network"
    title = "The rootless network helper works"
    category = "container"
    requires = ("podman.runtime",)
    tags = frozenset({"launch", "slow"})
    timeout_s = PROBE_TIMEOUT_S + 30.0
    fix_availability = FixAvailability.SOMETIMES

    def run(self, ctx: Context) -> CheckResult:
        info = podmaninfo.podman_info(ctx)
        if info is None:
            return self.fail("`podman info` failed", Message.error(podmaninfo.podman_info_error(ctx) or "?"))
        mode = _network_mode(ctx, info)
        facts = self._facts(ctx, info, mode)
        static = self._static(ctx, info, mode, facts)
        if static is not None:
            return static
        if mode not in ("slirp4netns", "pasta"):
            return self.ok(f"network mode {mode}: no helper needed", facts=facts)
        try:
            rootfs = probe_rootfs(ctx)
        except OSError as exc:
            return self.fail(NO_PROBE_DIR.format(error=exc.strerror or exc), facts=facts)
        done = ctx.probes.cmd.run(probe_argv(rootfs, ctx.config.network or mode), timeout=PROBE_TIMEOUT_S)
        if done.ok:
            return self.ok(NETWORK_OK.format(mode=mode), facts=facts)
        return self._failed(ctx, classify(done.stderr + done.stdout, done.timed_out), done.error_text(),
                            info, mode, facts)

    @staticmethod
    def _pasta_path(ctx: Context, info: PodmanInfo) -> str | None:
        return info.pasta_path or ctx.probes.cmd.which("pasta")

    def _facts(self, ctx: Context, info: PodmanInfo, mode: str) -> dict[str, JSONValue]:
        return {
            "network_mode": mode,
            "pasta_available": info.pasta_supported and self._pasta_path(ctx, info) is not None,
            "tun_available": _tun_problem(ctx) is None,
        }

    def _static(self, ctx: Context, info: PodmanInfo, mode: str, facts: dict[str, JSONValue]) -> CheckResult | None:
        if mode == "pasta" and not info.pasta_supported:
            return self.fail(PASTA_TOO_OLD.format(version=info.version_text), facts=facts,
                             fixes=(self._default_network_fix(),))
        if mode == "pasta" and self._pasta_path(ctx, info) is None:
            return self.fail(NO_PASTA, facts=facts, fixes=(install_fix(ctx, "podman.install-passt", "pasta", _PACKAGES_PASTA),))
        if mode == "slirp4netns":
            if not (info.slirp4netns_path or ctx.probes.cmd.which("slirp4netns")):
                return self.fail(NO_SLIRP, facts=facts,
                                 fixes=(install_fix(ctx, "podman.install-slirp4netns", "slirp4netns", _PACKAGES_SLIRP),))
            problem = _tun_problem(ctx)
            if problem is not None:
                return self.fail(NO_TUN.format(problem=problem), facts=facts, fixes=(self._tun_fix(problem),))
        return None

    def _failed(self, ctx: Context, failure: Failure, error: str, info: PodmanInfo, mode: str,
                facts: dict[str, JSONValue]) -> CheckResult:
        if failure is Failure.TUN:
            return self.fail(NO_TUN.format(problem="not usable"), Message.error(error), facts=facts,
                             fixes=(self._tun_fix("not usable"),))
        if failure is Failure.PASTA_UNSUPPORTED:
            return self.fail(PASTA_TOO_OLD.format(version=info.version_text), Message.error(error), facts=facts,
                             fixes=(self._default_network_fix(),))
        if failure is Failure.PASTA_MISSING:
            return self.fail(NO_PASTA, Message.error(error), facts=facts,
                             fixes=(install_fix(ctx, "podman.install-passt", "pasta", _PACKAGES_PASTA),))
        if failure is Failure.SLIRP_MISSING:
            return self.fail(NO_SLIRP, Message.error(error), facts=facts,
                             fixes=(install_fix(ctx, "podman.install-slirp4netns", "slirp4netns", _PACKAGES_SLIRP),))
        if failure is Failure.TIMEOUT:
            return self.fail(HUNG.format(timeout=PROBE_TIMEOUT_S), facts=facts)
        return self.fail(f"a container with network mode {mode} could not start", Message.error(error), facts=facts)

    @staticmethod
    def _tun_fix(problem: str) -> Fix:
        notes = ("Or use `network = \"pasta\"` (podman ≥ 4.4), which needs no tun device.",)
        if problem == TUN_NO_ACCESS:
            return Fix.manual("podman.tun-access", "Let users open /dev/net/tun (its usual mode, 0666)",
                              RunCommand("Make /dev/net/tun usable", argv=("chmod", "0666", TUN), run_as=Privilege.ROOT),
                              notes=("udev gives /dev/net/tun mode 0666 on most distributions; something "
                                     "restricted it here.", *notes))
        return Fix.manual("podman.load-tun", "Provide /dev/net/tun",
                          RunCommand("Load the tun module", argv=("modprobe", "tun"), run_as=Privilege.ROOT),
                          notes=("In an LXC/VM guest the host must pass /dev/net/tun through.", *notes))

    @staticmethod
    def _default_network_fix() -> Fix:
        return Fix.unsafe("podman.network-default", "Use podman's default network (slirp4netns)",
                          SetConfig("Clear network in spotidoctor's config", key="network", value=""),
                          recheck=("podman.network",))


CHECKS = (PodmanInstalled, PodmanRootless, OciRuntimeStarts, RootlessNetwork)
