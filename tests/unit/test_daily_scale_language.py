"""HiDPI scale and locale for the client: where each value comes from, and what Spotify gets."""
from __future__ import annotations

from pathlib import Path

import pytest

from spotidoctor.config import Config
from spotidoctor.daily.language import FALLBACK, choose_locale, has_locale, normalize
from spotidoctor.daily.launchparts import scale_choice
from spotidoctor.daily.scale import ScaleChoice, choose_scale, parse_xft_dpi, scale_arg
from spotidoctor.errors import ConfigError, ProbeTimeout
from spotidoctor.facts import DisplayFacts
from spotidoctor.model import CheckResult, Status
from spotidoctor.testing import make_context
from spotidoctor.testing.x11 import FakeX11

GNOME_RESOURCES = "*customization:\t-color\nXft.antialias:\t1\nXft.dpi:\t192\nXft.hinting:\t1\n"


@pytest.mark.parametrize("text, dpi", [
    (GNOME_RESOURCES, 192.0), ("Xft.dpi: 144.0\n", 144.0), ("*dpi:\t120\n", 120.0),
    ("*dpi: 120\nXft.dpi: 96\n", 96.0),  # the exact resource wins over the wildcard
    ("Xft.dpi:\tlots\n", None), ("Xft.dpi: 0\n", None), ("Xft.dpi: 100000\n", None), ("", None),
    ("Xft.dpix: 192\n", None),
])
def test_parse_xft_dpi(text: str, dpi: float | None) -> None:
    assert parse_xft_dpi(text) == dpi


def test_scale_sources_in_order() -> None:
    resources = lambda: GNOME_RESOURCES  # noqa: E731
    assert choose_scale(1.5, "2", resources) == ScaleChoice(1.5, "scale_factor = 1.5 in config.toml")
    assert choose_scale(0, "2", resources) == ScaleChoice(2.0, "GDK_SCALE=2 in your environment")
    from_x = choose_scale(0, None, resources)
    assert from_x == ScaleChoice(2.0, "Xft.dpi 192 in the X resources (192 / 96)")
    assert choose_scale(0, "two", resources).factor == 2.0  # a GDK_SCALE GTK would ignore is ignored
    assert choose_scale(0, None, lambda: "Xft.dpi: 144\n").arg == "--force-device-scale-factor=1.5"
    assert choose_scale(0, None, None).factor is None


def test_scale_one_adds_no_argument_and_the_reason_names_the_source() -> None:
    assert choose_scale(0, None, lambda: "Xft.dpi: 96\n").arg is None
    assert scale_arg(choose_scale(0, None, lambda: "Xft.dpi: 96\n")) is None
    arg, why = scale_arg(choose_scale(0, "2", None)) or ("", "")
    assert arg == "--force-device-scale-factor=2" and "GDK_SCALE=2" in why


def test_unreadable_resources_count_as_unset() -> None:
    def hung() -> str:
        raise ProbeTimeout("X server :0 did not answer within 2s")

    choice = choose_scale(0, None, hung)
    assert choice.factor is None and "did not answer" in choice.source


def test_scale_choice_reads_the_display_the_preflight_found(tmp_path: Path) -> None:
    x11 = FakeX11.ok()
    x11.resources = GNOME_RESOURCES
    ctx = make_context(tmp_path, env={"DISPLAY": ":7"}, x11=x11)
    display = CheckResult("x11.display", Status.OK, "", facts=DisplayFacts(":3", 3, "/tmp/.X11-unix/X3").to_json())
    assert scale_choice(ctx, [display]).factor == 2.0 and x11.calls == [("resource_manager", ":3")]
    assert scale_choice(ctx).factor == 2.0 and x11.calls[-1] == ("resource_manager", ":7")
    no_display = make_context(tmp_path, env={}, x11=x11)
    assert scale_choice(no_display).factor is None


@pytest.mark.parametrize("value", [0, 1, 1.5, 8])
def test_scale_factor_setting_accepts(value: float) -> None:
    assert Config().with_overrides(scale_factor=value).scale_factor == value


@pytest.mark.parametrize("value", [-1, 0.1, 9, True, "2", float("nan")])
def test_scale_factor_setting_refuses(value: object) -> None:
    with pytest.raises(ConfigError, match="scale_factor"):
        Config().with_overrides(scale_factor=value)


# -- language ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, normal", [
    ("de_DE.UTF-8", "de_DE.utf8"), ("de_DE.utf8", "de_DE.utf8"), ("en_US.ISO-8859-1", "en_US.iso88591"),
    ("sr_RS.UTF-8@latin", "sr_RS.utf8@latin"), ("ja_JP.eucJP", "ja_JP.eucjp"), ("C", "C"), ("POSIX", "POSIX"),
])
def test_normalize_like_glibc(name: str, normal: str) -> None:
    assert normalize(name) == normal


def test_has_locale() -> None:
    debian_slim = frozenset({"C", "C.utf8", "POSIX"})
    assert has_locale("C.UTF-8", debian_slim) and has_locale("POSIX", frozenset())
    assert has_locale("de_DE.UTF-8", debian_slim) is False
    assert has_locale("de_DE.UTF-8", None) is None


def _passed(choice_env: tuple[object, ...]) -> dict[str, str]:
    return {var.name: var.value for var in choice_env}  # type: ignore[attr-defined]


def test_locale_present_in_the_image_is_passed() -> None:
    choice = choose_locale({"LANG": "de_DE.UTF-8", "LC_TIME": "en_GB.UTF-8", "LANGUAGE": "de:en", "HOME": "/h"},
                           ["C", "C.utf8", "POSIX", "de_DE.utf8", "en_GB.utf8"])
    assert _passed(choice.env) == {"LANG": "de_DE.UTF-8", "LC_TIME": "en_GB.UTF-8", "LANGUAGE": "de:en"}
    assert choice.warning is None and choice.known


def test_missing_locale_falls_back_to_c_utf8_with_a_warning() -> None:
    choice = choose_locale({"LANG": "de_DE.UTF-8", "LC_ALL": "fr_FR.UTF-8"}, ["C", "C.utf8", "POSIX"])
    assert _passed(choice.env) == {"LANG": FALLBACK, "LC_ALL": FALLBACK}
    assert choice.replaced == (("LANG", "de_DE.UTF-8"), ("LC_ALL", "fr_FR.UTF-8"))
    assert choice.warning is not None and "LANG=de_DE.UTF-8, LC_ALL=fr_FR.UTF-8" in choice.warning


def test_an_image_without_c_utf8_falls_back_to_c() -> None:
    choice = choose_locale({"LANG": "de_DE.UTF-8"}, [])
    assert _passed(choice.env) == {"LANG": "C"} and choice.fallback == "C"


def test_unknown_image_locales_pass_the_values_unchanged() -> None:
    choice = choose_locale({"LANG": "pt_BR.UTF-8"}, None)
    assert _passed(choice.env) == {"LANG": "pt_BR.UTF-8"} and not choice.known and choice.warning is None


def test_no_locale_in_the_session_gives_utf8_and_odd_values_are_not_passed() -> None:
    assert _passed(choose_locale({}, ["C.utf8"]).env) == {"LANG": FALLBACK}
    odd = choose_locale({"LANG": "de_DE.UTF-8;rm -rf", "LANGUAGE": "a b"}, None)
    assert _passed(odd.env) == {"LANG": FALLBACK} and odd.replaced == (("LANG", "(not a locale name)"),)
