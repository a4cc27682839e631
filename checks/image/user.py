"""image.user: the image was made for the configured container uid."""
from __future__ import annotations

from spotidoctor.api import Check, CheckResult, Context, FixAvailability, Message
from spotidoctor.backend.images import ImageInfo, passwd_argv, split_user, uid_for_name
from spotidoctor.config import SetConfig
from spotidoctor.fixes import Fix
from spotidoctor.types import JSONValue

from .common import build_fixes, present_image

PASSWD_TIMEOUT_S = 20.0


class ImageUser(Check):
    """What it checks: the image's default user (``Config.User``) is the configured container
    uid (default 1500). A user given by name is looked up in the image's /etc/passwd by a
    short, network-less ``podman run ... cat /etc/passwd`` (rootless ``podman image mount``
    only works inside ``podman unshare``).

    Why it matters: spotidoctor runs Spotify with ``--user <uid>:<uid>`` and owns the storage
    for that uid; an image made for another uid has a home directory Spotify cannot write.

    Fix safety: safe, needs network: rebuild with the configured uid (images spotidoctor
    built). Unsafe: set ``container_uid`` to the image's uid instead (the storage then has
    to be re-owned by ``spotidoctor fix storage``).
    """

    id = "image.user"
    title = "The image runs Spotify as the configured uid"
    category = "container"
    requires = ("image.present",)
    tags = frozenset({"launch"})
    timeout_s = PASSWD_TIMEOUT_S + 10
    fix_availability = FixAvailability.SOMETIMES

    def run(self, ctx: Context) -> CheckResult:
        info = present_image(ctx)
        if info is None:
            return self.skip("the image is not present")
        user, _ = split_user(info.user)
        uid = int(user) if user.isdigit() else self._resolve(ctx, info, user)
        if isinstance(uid, CheckResult):
            return uid
        wanted = ctx.config.container_uid
        facts: dict[str, JSONValue] = {"image_user": info.user or "root", "image_uid": uid, "container_uid": wanted}
        if uid == wanted:
            return self.ok(f"the image's user is uid {uid} ({info.user})", facts=facts)
        what = "root" if uid == 0 else f"uid {uid}"
        return self.fail(f"the image's default user is {what}, but container_uid is {wanted}", Message.error(
            f"spotidoctor runs Spotify as uid {wanted}; the image was made for {what}, so its home directory "
            "may not be writable."), facts=facts, fixes=self._fixes(ctx, info, uid))

    def _resolve(self, ctx: Context, info: ImageInfo, name: str) -> int | CheckResult:
        done = ctx.probes.cmd.run(passwd_argv(info.name), timeout=PASSWD_TIMEOUT_S)
        uid = uid_for_name(done.stdout, name) if done.ok else None
        if uid is not None:
            return uid
        reason = done.error_text() if not done.ok else f"no user {name!r} in its /etc/passwd"
        return self.warn(f"cannot tell which uid the image's user {name!r} has", Message.hint(
            reason, f"Build the image with a numeric USER (USER {ctx.config.container_uid}:"
                    f"{ctx.config.container_uid}), as spotidoctor's recipe does."),
            facts={"image_user": info.user})

    @staticmethod
    def _fixes(ctx: Context, info: ImageInfo, uid: int) -> tuple[Fix, ...]:
        fixes: list[Fix] = []
        if info.built_by_spotidoctor:
            fixes += build_fixes(ctx, f"Rebuild {info.name} for uid {ctx.config.container_uid}")
        if uid != 0:
            fixes.append(Fix.unsafe("image.use-image-uid", f"Set container_uid = {uid} (the image's uid)",
                                    SetConfig(f"set container_uid = {uid} in config.toml", key="container_uid",
                                              value=uid),
                                    notes=("The storage must then be owned by the new uid: "
                                           "run `spotidoctor fix storage` afterwards.",)))
        return tuple(fixes)
