"""podman.runtime: the OCI runtime starts a container (remembered while nothing it depends on changes)."""
from __future__ import annotations

import os

from spotidoctor.api import Check, CheckResult, Context, Fix, FixAvailability, Message
from spotidoctor.errors import ParseError
from spotidoctor.fixes import Instruction, WriteFile
from spotidoctor.model import Status
from spotidoctor.podman.conf import containers_conf_path, with_engine_runtime
from spotidoctor.podman.fingerprint import podman_fingerprint
from spotidoctor.podman.info import PodmanInfo, podman_info
from spotidoctor.podman.install import find_runc
from spotidoctor.resultcache import age_text, cached, file_facts, verified_note
from spotidoctor.types import JSONValue

from .common import PACKAGES_CATATONIT, PACKAGES_CRUN, PACKAGES_RUNC, install_fix
from .probe import HUNG, NO_PROBE_DIR, PROBE_TIMEOUT_S, RUNTIME_NOT_FOUND, Failure, classify, probe_argv, probe_rootfs

RUNC_FIX_ID = "podman.use-runc"


HYBRID = "crun cannot start containers on this host: cgroups in hybrid mode are not supported"
RUNTIME_OK = "{runtime} started a container"
KEEP_GROUPS_NOTE = ("With runc, `--group-add keep-groups` is silently ignored (it only works with crun), so "
                    "GPU access through the video/render groups is lost: `spotidoctor launch` then passes no "
                    "/dev/dri (unless a render node is open to everyone) and Spotify draws in software. Launch "
                    "does not add --disable-gpu itself; if Spotify's GPU process fails, the crash check says so "
                    "and `spotidoctor fix crash` adds it to spotify_args.")
NO_INIT = "cannot test the OCI runtime: podman's init binary (catatonit) is missing"
RUNTIME_MISSING = "the configured OCI runtime {runtime} is not installed"
USERNS_BROKEN = "the container could not set up its user namespace"


RUN_FAILED = "{runtime} could not start a container"


RUNTIME_CACHED = "{runtime} started a container {age} ago (nothing it depends on changed since)"


# A passing runtime test is trusted this long while its fingerprint holds.
RUNTIME_CACHE_TTL_S = 3600.0
RUNTIME_CACHE_KEY = "podman-runtime"
# podman's container monitor and --init binary (containers.conf defaults), both used by the test.
CONMON_PATHS = ("/usr/libexec/podman/conmon", "/usr/local/libexec/podman/conmon", "/usr/local/lib/podman/conmon",
                "/usr/bin/conmon", "/usr/sbin/conmon", "/usr/local/bin/conmon", "/usr/local/sbin/conmon",
                "/run/current-system/sw/bin/conmon")
INIT_PATHS = ("/usr/libexec/podman/catatonit", "/usr/local/libexec/podman/catatonit", "/usr/lib/podman/catatonit",
              "/usr/libexec/catatonit/catatonit", "/usr/bin/catatonit")


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
    return [*podman_fingerprint(ctx), ["oci-runtime", runtime],
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
        info = podman_info(ctx)
        runtime = info.oci_runtime if info else "the OCI runtime"
        facts = self._facts(ctx, info)

        def remembered(data: JSONValue) -> CheckResult:
            if data != {"runtime": runtime}:
                raise ValueError("a pass of another runtime")
            return self._passed(info, runtime, facts)

        got = cached(ctx.cache, ctx.probes.fs, RUNTIME_CACHE_KEY, lambda: runtime_fingerprint(ctx, info),
                     RUNTIME_CACHE_TTL_S, lambda: self._test(ctx, info, runtime, facts),
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
            "containers_conf": containers_conf_path(ctx),
        }

    def _failed(self, ctx: Context, failure: Failure, error: str, runtime: str,
                facts: dict[str, JSONValue]) -> CheckResult:
        if failure is Failure.HYBRID_CGROUPS:
            return self.fail(HYBRID, Message.error(error, "runc works on hybrid cgroups; so does booting with "
                                                   "cgroup v2 only (systemd.unified_cgroup_hierarchy=1)."),
                             facts=facts, fixes=(self._runc_fix(ctx),))
        if failure is Failure.NO_INIT:
            return self.warn(NO_INIT, Message.hint(error), facts=facts, fixes=(
                install_fix(ctx, "podman.install-catatonit", "catatonit (podman --init)", PACKAGES_CATATONIT),))
        if failure is Failure.RUNTIME_MISSING:
            match = RUNTIME_NOT_FOUND.search(error)
            name = match.group(1) if match else runtime
            packages = PACKAGES_RUNC if name == "runc" else PACKAGES_CRUN
            return self.fail(RUNTIME_MISSING.format(runtime=name), Message.error(error), facts=facts,
                             fixes=(install_fix(ctx, f"podman.install-{name}", name, packages),))
        if failure is Failure.USERNS:
            return self.fail(USERNS_BROKEN, Message.error(error, "See `spotidoctor check userns`."), facts=facts)
        if failure is Failure.TIMEOUT:
            return self.fail(HUNG.format(timeout=PROBE_TIMEOUT_S), facts=facts)
        return self.fail(RUN_FAILED.format(runtime=runtime), Message.error(error), facts=facts)

    @staticmethod
    def _runc_fix(ctx: Context) -> Fix:
        if find_runc(ctx) is None:
            fix = install_fix(ctx, "podman.install-runc", "runc", PACKAGES_RUNC)
            return Fix.manual(fix.id, fix.title, *fix.steps, notes=(
                "Then run `spotidoctor fix podman` again: it switches podman to runc.",))
        return runc_config_fix(ctx)


def runc_config_fix(ctx: Context) -> Fix:
    """``[engine] runtime = "runc"`` merged into the user's containers.conf (safe, backed up),
    or a manual instruction when that file cannot be edited safely."""
    path = containers_conf_path(ctx)
    fs = ctx.probes.fs
    old = fs.read_text_or_none(path)
    notes = (KEEP_GROUPS_NOTE, "buildah reads the same file, so image builds use runc too.")
    manual_text = f'Add to {path}:\n[engine]\nruntime = "runc"'
    try:
        new = with_engine_runtime(old or "", "runc")
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
