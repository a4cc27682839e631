"""storage.dir: the storage directory and its config/ and cache/ exist and may be used."""
from __future__ import annotations

from typing import TYPE_CHECKING

from spotidoctor.api import Check, CheckResult, Context, Fix, FixAvailability, Message
from spotidoctor.backend.storageguard import StorageGuard, refusals
from spotidoctor.fixes import MakeDirs, Privilege, RunCommand, Step
from spotidoctor.types import JSONValue

from .common import REFUSED, USE_DEDICATED, is_stranger, storage_guard, subdirs

if TYPE_CHECKING:
    from spotidoctor.bundle.spec import BundleSpec


MKDIR_FIX_ID = "storage.create-dirs"


MISSING = "{paths} missing"
READY = "{root} with config/ and cache/"


MOUNTS_INSIDE = "{path} is another filesystem mounted inside the storage tree (not scanned)"


class StorageDirectory(Check):
    """What it checks: the storage directory (`storage_dir`, default ~/.spotify) and its
    config/ and cache/ exist, and they pass spotidoctor's guard rails: not `/`, not your home
    or an ancestor of it, not $XDG_RUNTIME_DIR, /tmp or a system directory, not a mount
    point, not a symlink (nor below one), owned by you or the container user.

    Why it matters: both subdirectories are mounted into the container and get chowned to
    the container user; chowning the wrong directory (your home!) would lock you out of
    your own files.

    Fix safety: safe: creates missing directories (mode 0700). A path that fails a guard
    rail is never changed; spotidoctor says why.
    """

    id = "storage.dir"
    title = "Spotify's storage directory exists and is safe to use"
    category = "storage"
    requires = ("userns.mapping",)
    tags = frozenset({"launch"})
    fix_availability = FixAvailability.SOMETIMES

    def collect(self, spec: BundleSpec, ctx: Context) -> None:
        """For bug reports: the storage tree one level deep and prefs without autologin.* lines."""
        from .evidence import spotify_evidence  # only reports load the bundle code

        spotify_evidence(spec, ctx)

    def run(self, ctx: Context) -> CheckResult:
        root = ctx.storage_dir
        fs = ctx.probes.fs
        guard = storage_guard(ctx)
        facts: dict[str, JSONValue] = {"storage_dir": root, "storage_config": subdirs(root)[0],
                                       "storage_cache": subdirs(root)[1]}
        for path in (root, *subdirs(root)):
            reasons = self._refusals(ctx, guard, path, is_root=path == root)
            if reasons:
                return self.fail(REFUSED.format(path=path), *(Message.error(r) for r in reasons),
                                 Message.hint(USE_DEDICATED), facts=facts)
        missing = [p for p in (root, *subdirs(root)) if fs.lstat(p) is None]
        if missing:
            return self.fail(MISSING.format(paths=", ".join(missing)), facts=facts,
                             fixes=(self._mkdir_fix(ctx, root, missing),))
        return self.ok(READY.format(root=root), facts=facts)

    @staticmethod
    def _refusals(ctx: Context, guard: StorageGuard, path: str, *, is_root: bool) -> list[str]:
        st = ctx.probes.fs.lstat(path)
        reasons = refusals(ctx.probes.fs, guard, path, must_exist=st is not None)
        if not is_root:
            # Who owns config/ and cache/ is storage.ownership's question (it offers the fix).
            reasons = [r for r in reasons if not is_stranger(r)]
        return reasons

    @staticmethod
    def _mkdir_fix(ctx: Context, root: str, missing: list[str]) -> Fix:
        root_st = ctx.probes.fs.lstat(root)
        steps: list[Step] = []
        for path in missing:
            if root_st is not None and root_st.uid != ctx.user.uid:
                # The container user owns the parent: create it inside the namespace instead.
                steps.append(RunCommand(f"Create {path}", argv=("podman", "unshare", "mkdir", "-m", "0700", "--", path),
                                        run_as=Privilege.USERNS))
            else:
                steps.append(MakeDirs(f"Create {path}", path=path, mode=0o700))
        return Fix.safe(MKDIR_FIX_ID, f"Create {', '.join(missing)}", *steps,
                        recheck=("storage.ownership",))
