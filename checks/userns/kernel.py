"""userns.kernel: the kernel lets unprivileged users create user namespaces."""
from __future__ import annotations

from spotidoctor.api import Check, CheckResult, Context, Fix, FixAvailability, Message
from spotidoctor.fixes import Instruction, Privilege, RunCommand
from spotidoctor.types import JSONValue

MAX_USERNS = "/proc/sys/user/max_user_namespaces"
USERNS_CLONE = "/proc/sys/kernel/unprivileged_userns_clone"
APPARMOR_RESTRICT = "/proc/sys/kernel/apparmor_restrict_unprivileged_userns"


USERNS_DISABLED = "user namespaces are disabled (user.max_user_namespaces = 0)"
CLONE_DISABLED = "unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone = 0)"
APPARMOR_RESTRICTED = ("AppArmor restricts unprivileged user namespaces "
                       "(kernel.apparmor_restrict_unprivileged_userns = 1)")


def _read_proc_int(ctx: Context, path: str) -> int | None | str:
    """The integer in a /proc/sys file; None when absent; the raw text when it is not a number."""
    text = ctx.probes.fs.read_text_or_none(path, limit=64)
    if text is None:
        return None
    try:
        return int(text.strip())
    except ValueError:
        return text.strip()[:40]


class UserNamespacesEnabled(Check):
    """What it checks: `/proc/sys/user/max_user_namespaces` is above 0, Debian/Arch's
    `kernel.unprivileged_userns_clone` is 1 where it exists, and whether Ubuntu's
    `kernel.apparmor_restrict_unprivileged_userns` is on.

    Why it matters: rootless podman runs everything inside a user namespace; without one,
    nothing starts. On Ubuntu 23.10+ AppArmor blocks unconfined programs from creating one
    unless a profile allows it (symptom: `write /proc/self/uid_map: Operation not permitted`).

    Fix safety: manual, needs root (`sysctl`); spotidoctor prints the commands.
    """

    id = "userns.kernel"
    title = "The kernel allows unprivileged user namespaces"
    category = "system"
    tags = frozenset({"launch"})
    fix_availability = FixAvailability.SOMETIMES

    def run(self, ctx: Context) -> CheckResult:
        max_ns = _read_proc_int(ctx, MAX_USERNS)
        clone = _read_proc_int(ctx, USERNS_CLONE)
        restrict = _read_proc_int(ctx, APPARMOR_RESTRICT)
        facts: dict[str, JSONValue] = {"max_user_namespaces": max_ns, "unprivileged_userns_clone": clone,
                                       "apparmor_restrict_unprivileged_userns": restrict}
        if max_ns == 0:
            return self.fail(USERNS_DISABLED, Message.error(
                "The kernel allows no user namespaces at all, so rootless podman cannot start."),
                facts=facts, fixes=(self._sysctl_fix("user.max_user_namespaces", "28633"),))
        if clone == 0:
            return self.fail(CLONE_DISABLED, Message.error(
                "This kernel lets only root create user namespaces (Debian 10 defaulted to this)."),
                facts=facts, fixes=(self._sysctl_fix("kernel.unprivileged_userns_clone", "1"),))
        if restrict == 1:
            return self.warn(APPARMOR_RESTRICTED, Message.hint(
                "Unconfined programs cannot create user namespaces unless an AppArmor profile grants "
                "`userns,`. If `podman unshare true` fails with `Operation not permitted`, this is why.",
                "Preferred: an AppArmor profile for podman that allows `userns,` (Ubuntu ships profiles for "
                "some container tools; see https://ubuntu.com/blog/ubuntu-23-10-restricted-unprivileged-user-namespaces).",
                "Or, weakening the whole host: `sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`."),
                facts=facts)
        if not isinstance(max_ns, int):
            return self.warn(f"cannot read {MAX_USERNS}" if max_ns is None else
                             f"{MAX_USERNS} holds {max_ns!r}, not a number", facts=facts)
        return self.ok(f"user namespaces enabled (max {max_ns})", facts=facts)

    @staticmethod
    def _sysctl_fix(key: str, value: str) -> Fix:
        return Fix.manual(
            "userns.enable-kernel", f"Enable user namespaces ({key} = {value})",
            RunCommand(f"Set {key} now", argv=("sysctl", "-w", f"{key}={value}"), run_as=Privilege.ROOT),
            Instruction("Keep it after a reboot",
                        text=f"echo '{key} = {value}' | sudo tee /etc/sysctl.d/90-spotidoctor-userns.conf"),
        )
