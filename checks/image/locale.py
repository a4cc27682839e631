"""image.locale: the image has the locales of your LANG/LC_* (else the launch uses C.UTF-8)."""
from __future__ import annotations

from spotidoctor.api import Check, CheckResult, Context, Message, Severity
from spotidoctor.daily.facts import LocaleFacts
from spotidoctor.daily.language import choose_locale

from .contents import LOOK_TIMEOUT_S, contents_of


class ImageLocale(Check):
    """What it checks: for each of your LANG, LC_ALL and LC_* variables, the image has that
    locale (`locale -a` in the image, and /usr/lib/locale), looked up once per image id.

    Why it matters: the launch passes them to Spotify; a locale the image lacks would leave
    Spotify in the C locale, so the launch passes C.UTF-8 instead (UTF-8 text, but dates,
    numbers and sorting as in C). The time zone is separate and always follows the host
    (`--tz=local`).

    Fix safety: none (Debian's slim base ships only C.UTF-8; add the locales package and
    generate yours in your own recipe).
    """

    id = "image.locale"
    title = "The image has your locale"
    category = "container"
    severity = Severity.WARNING
    requires = ("image.present",)
    timeout_s = LOOK_TIMEOUT_S
    tags = frozenset({"slow"})

    def run(self, ctx: Context) -> CheckResult:
        found = contents_of(self, ctx)
        if isinstance(found, CheckResult):
            return found
        info, contents = found
        choice = choose_locale(ctx.env, contents.locales)
        missing = ", ".join(f"{name}={value}" for name, value in choice.replaced)
        facts = LocaleFacts(info.id, contents.locales is not None, missing, choice.fallback).to_json()
        passed = ", ".join(f"{var.name}={var.value}" for var in choice.env)
        if choice.warning:
            return self.warn(choice.warning, Message.hint(
                "To get the locale, build your own recipe (`containerfile` in config.toml) that installs Debian's "
                "locales package and generates it (localedef)."), facts=facts)
        if contents.locales is None:
            return self.ok(f"the image's locales cannot be listed (no `locale` in it); passing {passed}",
                           facts=facts)
        return self.ok(f"the image has your locale: passing {passed}", facts=facts)
