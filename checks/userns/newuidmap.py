"""userns.newuidmap: newuidmap and newgidmap are installed and privileged (setuid or file capabilities)."""
from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from spotidoctor.api import Check, CheckResult, Context, Fix, FixAvailability, Message
from spotidoctor.fixes import Instruction, Privilege, RunCommand, Step
from spotidoctor.podman.install import package_install_argv
from spotidoctor.types import JSONValue

if TYPE_CHECKING:
    from spotidoctor.bundle.spec import BundleSpec


NO_HELPER = "{name} is not installed"
HELPER_POWERLESS = "{path} is neither setuid root nor has the {cap} file capability"


CAP_SETGID = 6
CAP_SETUID = 7
_VFS_CAP_EFFECTIVE = 0x000001
_VFS_CAP_REVISION_MASK = 0xFF000000
_VFS_CAP_REVISION_3 = 0x03000000


def file_caps_grant(xattr: bytes | None, capability: int) -> bool:
    """True when a ``security.capability`` xattr grants ``capability`` as permitted+effective
    on the host (a v3 entry with a non-zero rootid only applies inside that namespace)."""
    if not xattr or len(xattr) < 12:
        return False
    magic, permitted_low, _inh_low = struct.unpack_from("<III", xattr, 0)
    permitted_high = struct.unpack_from("<I", xattr, 12)[0] if len(xattr) >= 20 else 0
    if magic & _VFS_CAP_REVISION_MASK == _VFS_CAP_REVISION_3 and len(xattr) >= 24:
        if struct.unpack_from("<I", xattr, 20)[0] != 0:
            return False
    permitted = permitted_low | (permitted_high << 32)
    return bool(magic & _VFS_CAP_EFFECTIVE) and bool(permitted >> capability & 1)


_HELPERS = (("newuidmap", CAP_SETUID, "cap_setuid"), ("newgidmap", CAP_SETGID, "cap_setgid"))
_UIDMAP_PACKAGES = {"apt-get": "uidmap", "dnf": "shadow-utils", "zypper": "shadow", "pacman": "shadow"}


class NewIdMapHelpers(Check):
    """What it checks: `newuidmap` and `newgidmap` are installed and either setuid root or
    carry the `cap_setuid` / `cap_setgid` file capability (the `security.capability` xattr).

    Why it matters: they write the subordinate ranges into the namespace's uid_map/gid_map;
    without privilege podman fails with `newuidmap: write to uid_map failed: Operation not
    permitted`.

    Fix safety: manual, needs root (install the package, or restore the setuid bit / caps).
    """

    id = "userns.newuidmap"
    title = "newuidmap and newgidmap are installed with the privilege they need"
    category = "system"
    tags = frozenset({"launch"})
    fix_availability = FixAvailability.SOMETIMES

    def collect(self, spec: BundleSpec, ctx: Context) -> None:
        """For bug reports: newuidmap/newgidmap modes and file capabilities."""
        from .evidence import newidmap_evidence  # only reports load the bundle code

        newidmap_evidence(spec, ctx)

    def run(self, ctx: Context) -> CheckResult:
        problems: list[Message] = []
        fixes: list[Fix] = []
        facts: dict[str, JSONValue] = {}
        for name, cap, cap_name in _HELPERS:
            fallback = f"/usr/bin/{name}"
            path = ctx.probes.cmd.which(name) or (fallback if ctx.probes.fs.exists(fallback) else None)
            facts[name] = path
            if path is None:
                problems.append(Message.error(NO_HELPER.format(name=name)))
                continue
            how = self._privilege(ctx, path, cap)
            facts[f"{name}_privilege"] = how
            if how is None:
                problems.append(Message.error(HELPER_POWERLESS.format(path=path, cap=cap_name)))
                fixes.append(Fix.manual(f"userns.{name}-caps", f"Give {path} the {cap_name} capability",
                                        RunCommand(f"Let {name} write id maps", argv=("setcap", f"{cap_name}+ep", path),
                                                   run_as=Privilege.ROOT),
                                        notes=("Or reinstall the package that ships it; Debian ships it "
                                               "setuid root.",)))
        if any(facts[name] is None for name, _, _ in _HELPERS):
            fixes.insert(0, self._install_fix(ctx))
        if problems:
            return self.fail(problems[0].text, *problems, facts=facts, fixes=tuple(fixes))
        return self.ok(", ".join(f"{n}: {facts[f'{n}_privilege']}" for n, _, _ in _HELPERS), facts=facts)

    @staticmethod
    def _privilege(ctx: Context, path: str, cap: int) -> str | None:
        st = ctx.probes.fs.stat(path)
        if st is None:
            return None
        if st.uid == 0 and st.mode & 0o4000:
            return "setuid root"
        real = ctx.probes.fs.realpath(path)
        if file_caps_grant(ctx.probes.fs.getxattr(real, "security.capability"), cap):
            return "file capability"
        return None

    @staticmethod
    def _install_fix(ctx: Context) -> Fix:
        argv = package_install_argv(ctx, _UIDMAP_PACKAGES)
        step: Step = (RunCommand("Install newuidmap and newgidmap", argv=argv, run_as=Privilege.ROOT) if argv else
                      Instruction("Install newuidmap/newgidmap", text="Install your distribution's package with "
                                  "newuidmap and newgidmap (Debian/Ubuntu: uidmap; Fedora: shadow-utils)."))
        return Fix.manual("userns.install-uidmap", "Install newuidmap and newgidmap", step)
