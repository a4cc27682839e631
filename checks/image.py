"""image.*: the container image Spotify runs from.

Present (``podman image exists`` / ``inspect``), built by spotidoctor from the current
recipe (the ``io.spotidoctor.recipe-hash`` label), recent enough (Spotify cannot update
itself inside an immutable image), and made for the configured container uid. The
fix builds the image; an image spotidoctor did not build is explained, never overwritten.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

from spotidoctor.api import Check, CheckResult, Context, FixAvailability, Message, Severity
from spotidoctor.backend.build import build_fix
from spotidoctor.backend.images import (PODMAN_TIMEOUT_S, ImageInfo, ImageLookup, Presence, lookup_image,
                                        passwd_argv, split_user, uid_for_name)
from spotidoctor.backend.recipe import (LABEL_RECIPE, LABEL_RECIPE_HASH, LABEL_SPOTIFY_VERSION, LABEL_VERSION,
                                        effective_build_args, load_recipe, recipe_hash)
from spotidoctor.errors import UsageError
from spotidoctor.fixes import Fix, SetConfig
from spotidoctor.model import JSONValue

if TYPE_CHECKING:
    from spotidoctor.bundle.spec import BundleSpec

PASSWD_TIMEOUT_S = 20.0

NOT_OURS = "spotidoctor never overwrites an image it did not build."
NOT_OURS_ADVICE = (
    "To use spotidoctor's recipe instead, pick a new name: set image = \"spotidoctor-spotify\" in "
    "config.toml (or pass --image) and run `spotidoctor build`.",
    "To keep this image, nothing is needed: spotidoctor launches it as it is (it needs /usr/bin/spotify "
    "and a home directory /home/spotify_user for the configured uid).",
)
STALE_HINT = ("Spotify cannot update itself inside an immutable image: rebuild it to get the current "
              "client and security fixes.")


def _build_fixes(ctx: Context, title: str | None = None) -> tuple[Fix, ...]:
    """The build fix, or none when config.toml's build_args cannot be used (image.recipe says why)."""
    try:
        return (build_fix(ctx.config, title),)
    except UsageError:
        return ()


def _present(ctx: Context) -> ImageInfo | None:
    found = lookup_image(ctx)
    return found.info if found.presence is Presence.PRESENT else None


def _short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


def _age_days(info: ImageInfo) -> int | None:
    if info.created is None:
        return None
    return max(0, (datetime.now(timezone.utc) - info.created).days)


class ImagePresent(Check):
    """What it checks: the configured image (default ``spotify_pod``) exists in your podman
    storage (``podman image exists``: 0 present, 1 absent, 125 storage error) and can be
    inspected.

    Why it matters: ``spotidoctor launch`` runs Spotify from it; without it there is nothing to
    run (launch builds it first).

    Fix safety: safe, needs network: ``buildah bud`` builds the image from spotidoctor's
    recipe (Debian + Spotify's apt repository, a few minutes). Nothing else is touched.
    """

    id = "image.present"
    title = "The Spotify image exists"
    category = "container"
    tags = frozenset({"launch"})
    timeout_s = 2 * PODMAN_TIMEOUT_S + 5
    fix_availability = FixAvailability.ALWAYS

    def collect(self, spec: BundleSpec, ctx: Context) -> None:
        """For bug reports: the image's labels, ids and run config."""
        from spotidoctor.bundle.sources import image_evidence

        image_evidence(spec, ctx)

    def run(self, ctx: Context) -> CheckResult:
        found = lookup_image(ctx)
        image = ctx.config.image
        if found.presence is Presence.PRESENT and found.info is not None:
            return self.ok(self._summary(found.info), facts=self._facts(found.info))
        if found.presence is Presence.ABSENT:
            return self.fail(f"{image} is not built yet", Message.hint(
                "`spotidoctor launch` builds it before the first start; `spotidoctor build` builds it now."),
                facts={"image": image, "present": False}, fixes=_build_fixes(ctx))
        return self._unknown(found)

    @staticmethod
    def _summary(info: ImageInfo) -> str:
        days = _age_days(info)
        age = f", built {days} day(s) ago" if days is not None else ""
        spotify = info.labels.get(LABEL_SPOTIFY_VERSION)
        return f"{info.name} exists ({_short(info.id)}{age}" + (f", Spotify {spotify})" if spotify else ")")

    @staticmethod
    def _facts(info: ImageInfo) -> dict[str, JSONValue]:
        return {
            "image": info.name, "present": True, "image_id": info.id, "digest": info.digest,
            "created": info.created.isoformat() if info.created else None, "user": info.user,
            "built_by_spotidoctor": info.built_by_spotidoctor,
            "spotidoctor_version": info.labels.get(LABEL_VERSION),
            "spotify_version": info.labels.get(LABEL_SPOTIFY_VERSION),
        }

    def _unknown(self, found: ImageLookup) -> CheckResult:
        if found.returncode == 127:
            return self.fail("podman is not installed", Message.error(
                "spotidoctor runs Spotify with rootless podman.", "Install it: `sudo apt install podman buildah`."))
        return self.fail(f"podman cannot tell whether {found.name} exists", Message.error(
            found.error or f"exit status {found.returncode}",
            "A storage error (exit status 125) is diagnosed by `spotidoctor check podman storage`."))


class ImageRecipe(Check):
    """What it checks: the image carries spotidoctor's labels and its ``io.spotidoctor.recipe-hash``
    matches the recipe spotidoctor would build now (the Containerfile text plus every build
    argument, including the configured uid and the Spotify key URL).

    Why it matters: an image built from an older recipe misses its fixes (the apt key, the
    pulse client config, the uid). An image spotidoctor did not build (for example the
    original design's ``spotify_pod`` from build-container.sh) is reported, not replaced.

    Fix safety: safe, needs network: rebuild with ``buildah bud``. Never offered for images
    spotidoctor did not build.
    """

    id = "image.recipe"
    title = "The image was built by spotidoctor from the current recipe"
    category = "container"
    severity = Severity.WARNING
    requires = ("image.present",)
    tags = frozenset({"launch"})
    fix_availability = FixAvailability.SOMETIMES

    def run(self, ctx: Context) -> CheckResult:
        info = _present(ctx)
        if info is None:
            return self.skip("the image is not present")
        if not info.built_by_spotidoctor:
            return self.warn(f"{info.name} was not built by spotidoctor", Message.hint(NOT_OURS, *NOT_OURS_ADVICE),
                             facts={"built_by_spotidoctor": False})
        try:
            recipe = load_recipe(ctx.probes.fs, ctx.config.containerfile)
            args = effective_build_args(ctx.config.container_uid, ctx.config.build_args,
                                        spotify_repo=ctx.config.spotify_repo)
        except UsageError as exc:
            return self.fail(f"cannot read the configured recipe: {exc}", Message.error(
                str(exc), "Fix `containerfile` / `build_args` in config.toml."))
        current = recipe_hash(recipe.text, args)
        facts: dict[str, JSONValue] = {"built_by_spotidoctor": True, "recipe": info.labels.get(LABEL_RECIPE),
                                       "image_recipe_hash": info.labels[LABEL_RECIPE_HASH], "recipe_hash": current}
        if info.labels[LABEL_RECIPE_HASH] == current:
            return self.ok(f"built from the current recipe ({recipe.source})", facts=facts)
        return self.warn(f"{info.name} was built from another recipe or other build arguments", Message.hint(
            f"It was built from {info.labels.get(LABEL_RECIPE, '?')}; the current recipe is {recipe.source} "
            f"with {', '.join(f'{k}={v}' for k, v in sorted(args.items()))}.",
            "Rebuild so the image matches: `spotidoctor build`."),
            facts=facts, fixes=_build_fixes(ctx, f"Rebuild {info.name} from the current recipe"))


class ImageAge(Check):
    """What it checks: the image is younger than ``image_max_age_days`` (default 30 days),
    from podman's ``Created`` time.

    Why it matters: Spotify's in-app updater cannot change an immutable image, so the
    client only gets newer when the image is rebuilt.

    Fix safety: safe, needs network: rebuild from the current recipe, for images spotidoctor
    built; other images are only reported.
    """

    id = "image.age"
    title = "The image is recent (Spotify cannot update itself inside it)"
    category = "container"
    severity = Severity.WARNING
    requires = ("image.present",)
    tags = frozenset({"launch"})
    fix_availability = FixAvailability.SOMETIMES

    def run(self, ctx: Context) -> CheckResult:
        info = _present(ctx)
        if info is None:
            return self.skip("the image is not present")
        days = _age_days(info)
        limit = ctx.config.image_max_age_days
        facts: dict[str, JSONValue] = {"age_days": days, "max_age_days": limit}
        if days is None:
            return self.warn("podman reports no creation time for the image", facts=facts)
        if days <= limit:
            return self.ok(f"built {days} day(s) ago (limit {limit})", facts=facts)
        if info.built_by_spotidoctor:
            return self.warn(f"{info.name} is {days} days old (limit {limit})", Message.hint(STALE_HINT),
                             facts=facts, fixes=_build_fixes(ctx, f"Rebuild {info.name} with the current Spotify"))
        return self.warn(f"{info.name} is {days} days old (limit {limit})",
                         Message.hint(STALE_HINT + " " + NOT_OURS, *NOT_OURS_ADVICE), facts=facts)


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
        info = _present(ctx)
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
            fixes += _build_fixes(ctx, f"Rebuild {info.name} for uid {ctx.config.container_uid}")
        if uid != 0:
            fixes.append(Fix.unsafe("image.use-image-uid", f"Set container_uid = {uid} (the image's uid)",
                                    SetConfig(f"set container_uid = {uid} in config.toml", key="container_uid",
                                              value=uid),
                                    notes=("The storage must then be owned by the new uid: "
                                           "run `spotidoctor fix storage` afterwards.",)))
        return tuple(fixes)


CHECKS = (ImagePresent, ImageRecipe, ImageAge, ImageUser)
