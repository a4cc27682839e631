"""image.recipe: the image was built by spotidoctor from the recipe it would build now."""
from __future__ import annotations

import dataclasses
import os

from spotidoctor.api import Check, CheckResult, Context, FixAvailability, Message, Severity
from spotidoctor.backend.recipe import LABEL_RECIPE, LABEL_RECIPE_HASH, effective_build_args, load_recipe, recipe_hash
from spotidoctor.config import SetConfig
from spotidoctor.errors import UsageError
from spotidoctor.fixes import Applicability, Fix
from spotidoctor.types import JSONValue

from .common import NOT_OURS, NOT_OURS_ADVICE, build_fixes, present_image

REMEMBER_FIX_ID = "image.remember-containerfile"


class ImageRecipe(Check):
    """What it checks: the image carries spotidoctor's labels and its ``io.spotidoctor.recipe-hash``
    matches the recipe spotidoctor would build now (the Containerfile text plus every build
    argument, including the configured uid and the Spotify key URL).

    Why it matters: an image built from an older recipe misses its fixes (the apt key, the
    pulse client config, the uid). An image spotidoctor did not build (for example the
    original design's ``spotify_pod`` from build-container.sh) is reported, not replaced.

    Fix safety: safe, needs network: rebuild with ``buildah bud``. Never offered for images
    spotidoctor did not build. An image built from another Containerfile (``build
    --containerfile``) is not replaced by a safe fix: the safe fix remembers that Containerfile in
    config.toml; rebuilding from the current recipe is unsafe.
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
        built_from = info.labels.get(LABEL_RECIPE, "?")
        fixes = build_fixes(ctx, f"Rebuild {info.name} from the current recipe")
        if built_from != recipe.source:
            fixes = self._other_recipe_fixes(ctx, built_from, recipe.source, fixes)
        return self.warn(f"{info.name} was built from another recipe or other build arguments", Message.hint(
            f"It was built from {built_from}; the current recipe is {recipe.source} "
            f"with {', '.join(f'{k}={v}' for k, v in sorted(args.items()))}.",
            "Rebuild so the image matches: `spotidoctor build`."),
            facts=facts, fixes=fixes)

    @staticmethod
    def _other_recipe_fixes(ctx: Context, built_from: str, current: str, rebuild: tuple[Fix, ...]) -> tuple[Fix, ...]:
        """Built from another Containerfile (`build --containerfile`): rebuilding from the current
        recipe would replace that image, so it is unsafe; remembering the recipe is the safe fix."""
        replaced = tuple(dataclasses.replace(f, applicability=Applicability.UNSAFE, notes=(
            *f.notes, f"This replaces your image built from {built_from} with one from {current}.")) for f in rebuild)
        st = ctx.probes.fs.stat(built_from) if os.path.isabs(built_from) else None
        if st is None or not st.is_file:
            return replaced
        remember = Fix.safe(REMEMBER_FIX_ID, f"build from {built_from} from now on (containerfile in config.toml)",
                            SetConfig(f"set containerfile = {built_from} in spotidoctor's config", key="containerfile",
                                      value=built_from),
                            notes=("`spotidoctor build` and the launch's rebuilds then use the recipe your image "
                                   "came from.",))
        return (remember, *replaced)
