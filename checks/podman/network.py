"""podman.network: the network mode the launch uses works (slirp4netns or pasta)."""
from __future__ import annotations

import os
import stat as stat_mod

from spotidoctor.api import Check, CheckResult, Context, Fix, FixAvailability, Message
from spotidoctor.config import SetConfig
from spotidoctor.fixes import Privilege, RunCommand
from spotidoctor.podman.info import PodmanInfo, podman_info, podman_info_error
from spotidoctor.types import JSONValue

from .common import PACKAGES_PASTA, PACKAGES_SLIRP, install_fix
from .probe import HUNG, NO_PROBE_DIR, PROBE_TIMEOUT_S, Failure, classify, probe_argv, probe_rootfs

TUN = "/dev/net/tun"


PASTA_TOO_OLD = "network mode pasta needs podman 4.4.0 or later; this is podman {version}"
NO_PASTA = "network mode pasta needs the pasta program (package passt), which is not installed"
NO_SLIRP = "network mode slirp4netns needs the slirp4netns program, which is not installed"
NO_TUN = "slirp4netns needs /dev/net/tun, which is {problem}"
NETWORK_OK = "network mode {mode} works"


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
        info = podman_info(ctx)
        if info is None:
            return self.fail("`podman info` failed", Message.error(podman_info_error(ctx) or "?"))
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
            return self.fail(NO_PASTA, facts=facts,
                             fixes=(install_fix(ctx, "podman.install-passt", "pasta", PACKAGES_PASTA),))
        if mode == "slirp4netns":
            if not (info.slirp4netns_path or ctx.probes.cmd.which("slirp4netns")):
                return self.fail(NO_SLIRP, facts=facts,
                                 fixes=(install_fix(ctx, "podman.install-slirp4netns", "slirp4netns", PACKAGES_SLIRP),))
            problem = _tun_problem(ctx)
            if problem is not None:
                return self.fail(NO_TUN.format(problem=problem), facts=facts,
                                 fixes=(self._tun_fix(problem, self._pasta_note(ctx, info)),))
        return None

    def _failed(self, ctx: Context, failure: Failure, error: str, info: PodmanInfo, mode: str,
                facts: dict[str, JSONValue]) -> CheckResult:
        if failure is Failure.TUN:
            return self.fail(NO_TUN.format(problem="not usable"), Message.error(error), facts=facts,
                             fixes=(self._tun_fix("not usable", self._pasta_note(ctx, info)),))
        if failure is Failure.PASTA_UNSUPPORTED:
            return self.fail(PASTA_TOO_OLD.format(version=info.version_text), Message.error(error), facts=facts,
                             fixes=(self._default_network_fix(),))
        if failure is Failure.PASTA_MISSING:
            return self.fail(NO_PASTA, Message.error(error), facts=facts,
                             fixes=(install_fix(ctx, "podman.install-passt", "pasta", PACKAGES_PASTA),))
        if failure is Failure.SLIRP_MISSING:
            return self.fail(NO_SLIRP, Message.error(error), facts=facts,
                             fixes=(install_fix(ctx, "podman.install-slirp4netns", "slirp4netns", PACKAGES_SLIRP),))
        if failure is Failure.TIMEOUT:
            return self.fail(HUNG.format(timeout=PROBE_TIMEOUT_S), facts=facts)
        return self.fail(f"a container with network mode {mode} could not start", Message.error(error), facts=facts)

    def _pasta_note(self, ctx: Context, info: PodmanInfo) -> tuple[str, ...]:
        """The pasta alternative, only where this podman supports it (4.4 and later)."""
        if not info.pasta_supported:
            return ()
        install = "" if self._pasta_path(ctx, info) else " (install the passt package first)"
        return (f"Or use `network = \"pasta\"`{install}, which needs no tun device.",)

    @staticmethod
    def _tun_fix(problem: str, notes: tuple[str, ...]) -> Fix:
        if problem == TUN_NO_ACCESS:
            return Fix.manual("podman.tun-access", "Let users open /dev/net/tun (its usual mode, 0666)",
                              RunCommand("Make /dev/net/tun usable", argv=("chmod", "0666", TUN),
                                         run_as=Privilege.ROOT),
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
