"""image.recipe: the image was built by spotidoctor from the recipe it would build now."""
from __future__ import annotations

from spotidoctor.api import Check, CheckResult, Context, FixAvailability, Message, Severity
from spotidoctor.backend.recipe import LABEL_RECIPE, LABEL_RECIPE_HASH, effective_build_args, load_recipe, recipe_hash
from spotidoctor.errors import UsageError
from spotidoctor.types import JSONValue

from .common import NOT_OURS, NOT_OURS_ADVICE, build_fixes, present_image


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
        info = present_image(ctx)
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
            facts=facts, fixes=build_fixes(ctx, f"Rebuild {info.name} from the current recipe"))
