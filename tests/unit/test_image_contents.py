"""The one look inside the image (fonts, tray library, gio-launch-desktop, locales) and the
image.fonts / image.tray / image.url-opener / image.locale checks built on it."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from spotidoctor.backend.build import BUILD_FIX_ID
from spotidoctor.checks.image import CHECKS
from spotidoctor.config import Config
from spotidoctor.daily.imagecontents import Feature, ImageContents, parse_probe, probe_argv
from spotidoctor.daily.launchparts import locale_choice
from spotidoctor.engine.planning import plan
from spotidoctor.engine.runner import Runner
from spotidoctor.errors import ProbeUnavailable
from spotidoctor.memo import Memo
from spotidoctor.model import CheckResult, Status
from spotidoctor.resultcache import ResultCache
from spotidoctor.testing import FakeCommand, FakeCommandRunner, make_context
from tests.unit.test_image_checks import STANDIN, inspect_json, ours, present

IMAGE_ID = "64964c2f85cbb8cade50abb451aa51fbd4898056838fa970121005530167a529"  # STANDIN_INSPECT's
CONTENT_CHECKS = ("image.fonts", "image.tray", "image.url-opener", "image.locale")
# What the probe prints in the FROM-scratch stand-in (nothing there) and in a Debian image with
# the recipe's packages (the lines as the probe's sh prints them).
EMPTY = "missing cjk-font\nmissing emoji-font\nmissing tray\nmissing gio-launch-desktop\nend\n"
FULL = ("have cjk-font /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc\n"
        "have emoji-font /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf\n"
        "have tray /usr/lib/x86_64-linux-gnu/libayatana-appindicator3.so.1\n"
        "have gio-launch-desktop /usr/lib/x86_64-linux-gnu/glib-2.0/gio-launch-desktop\n"
        "locale-a\nlocale C\nlocale C.utf8\nlocale POSIX\nlocaledir C.utf8\nend\n")


def probe(stdout: str, **kwargs: object) -> FakeCommand:
    return FakeCommand(probe_argv(IMAGE_ID), stdout=stdout, **kwargs)  # type: ignore[arg-type]


def run_content_checks(tmp_path: Path, commands: list[FakeCommand], *, config: Config | None = None,
                       env: dict[str, str] | None = None, cache: ResultCache | None = None) -> dict[str, CheckResult]:
    runner = FakeCommandRunner(commands)
    ctx = make_context(tmp_path, commands=runner, config=config or Config(image=STANDIN), env=env)
    if cache is not None:
        ctx = dataclasses.replace(ctx, cache=cache)
    results = {r.check_id: r for r in Runner(ctx).run(plan(CHECKS, CONTENT_CHECKS)).results}
    assert runner.exhausted, "one image lookup and one look inside for all four checks"
    return results


def test_parse_probe() -> None:
    contents = parse_probe(IMAGE_ID, FULL)
    assert contents.missing == () and contents.locales == ("C", "C.utf8", "POSIX")
    assert contents.found[Feature.TRAY.value] == "/usr/lib/x86_64-linux-gnu/libayatana-appindicator3.so.1"
    empty = parse_probe(IMAGE_ID, EMPTY)
    assert empty.missing == tuple(Feature) and empty.locales == ()
    archive_only = parse_probe(IMAGE_ID, "locale-archive\nlocaledir C.utf8\nend\n")
    assert archive_only.locales is None  # an archive nobody could list: unknown, not "none"
    with pytest.raises(ProbeUnavailable):
        parse_probe(IMAGE_ID, "have tray /x\n")  # cut off before its end


def test_contents_round_trip_through_json() -> None:
    contents = parse_probe(IMAGE_ID, FULL)
    assert ImageContents.from_json(json.loads(json.dumps(contents.to_json()))) == contents
    for bad in ({}, {"version": "old"}, [1]):
        with pytest.raises((ValueError, KeyError)):
            ImageContents.from_json(bad)  # type: ignore[arg-type]


def test_the_probe_runs_without_network_capabilities_or_mounts() -> None:
    argv = probe_argv(IMAGE_ID)
    assert {"--rm", "--network=none", "--cap-drop=all", "--pull=never", "--security-opt=no-new-privileges"} \
        <= set(argv)
    assert not any(a.startswith(("--volume", "-v", "--mount", "--privileged")) for a in argv)
    assert argv[argv.index("--entrypoint=/bin/sh") + 1] == IMAGE_ID


def test_an_image_with_everything_passes_all_four(tmp_path: Path) -> None:
    config = Config()
    results = run_content_checks(tmp_path, [*present("spotify_pod", inspect_json(labels=ours(config))), probe(FULL)],
                                 config=config, env={"LANG": "C.UTF-8"})
    assert {results[i].status for i in CONTENT_CHECKS} == {Status.OK}
    assert results["image.locale"].summary == "the image has your locale: passing LANG=C.UTF-8"


def test_an_old_spotidoctor_image_is_rebuilt_for_what_it_lacks(tmp_path: Path) -> None:
    config = Config()
    results = run_content_checks(tmp_path, [*present("spotify_pod", inspect_json(labels=ours(config))),
                                            probe(EMPTY)], config=config, env={"LANG": "de_DE.UTF-8"})
    fonts, tray, opener, locale = (results[i] for i in CONTENT_CHECKS)
    assert fonts.status is Status.WARN and fonts.summary.startswith("spotify_pod lacks a CJK font and an emoji font")
    assert fonts.facts["missing"] == ["cjk-font", "emoji-font"]
    assert "fonts-noto-cjk fonts-noto-color-emoji" in fonts.messages[0].text
    assert "`spotidoctor build`" in fonts.messages[0].advice[0]
    assert [f.id for f in fonts.fixes] == [BUILD_FIX_ID] == [f.id for f in tray.fixes]
    assert opener.status is Status.WARN and "gio-launch-desktop" in opener.summary
    assert locale.status is Status.WARN and "LANG=de_DE.UTF-8" in locale.summary and "C" in locale.summary


def test_a_foreign_image_gets_the_packages_not_a_rebuild(tmp_path: Path) -> None:
    results = run_content_checks(tmp_path, [*present(STANDIN, inspect_json()), probe(EMPTY)])
    tray = results["image.tray"]
    assert tray.status is Status.WARN and not tray.fixes
    assert "libayatana-appindicator3-1" in tray.messages[0].advice[0]


def test_when_the_image_cannot_be_looked_at_every_check_says_why_once(tmp_path: Path) -> None:
    results = run_content_checks(tmp_path, [*present(STANDIN, inspect_json()), probe(
        "", returncode=127, stderr='Error: crun: executable file `/bin/sh` not found in $PATH\n')])
    assert {results[i].status for i in CONTENT_CHECKS} == {Status.WARN}
    assert "/bin/sh" in results["image.fonts"].messages[0].text


def test_missing_image_skips_them(tmp_path: Path) -> None:
    results = run_content_checks(tmp_path, [FakeCommand(("podman", "image", "exists", STANDIN), returncode=1)])
    assert {results[i].status for i in CONTENT_CHECKS} == {Status.SKIP}


def test_the_answer_is_kept_per_image_id(tmp_path: Path) -> None:
    cache = ResultCache.under(str(tmp_path / "state"))
    first = run_content_checks(tmp_path, [*present(STANDIN, inspect_json()), probe(EMPTY)], cache=cache)
    again = run_content_checks(tmp_path, present(STANDIN, inspect_json()), cache=cache)  # no probe this time
    assert first["image.tray"].summary == again["image.tray"].summary
    rebuilt = inspect_json().replace(IMAGE_ID, "f" * 64)
    runner = FakeCommandRunner([*present(STANDIN, rebuilt),
                                FakeCommand(probe_argv("f" * 64), stdout=FULL)])
    ctx = dataclasses.replace(make_context(tmp_path, commands=runner, config=Config(image=STANDIN)), cache=cache)
    results = {r.check_id: r for r in Runner(ctx).run(plan(CHECKS, CONTENT_CHECKS)).results}
    assert results["image.tray"].status is Status.OK and runner.exhausted  # another id: looked at again


def test_the_launch_uses_the_same_look_for_the_locale(tmp_path: Path) -> None:
    runner = FakeCommandRunner([*present(STANDIN, inspect_json()), probe(FULL)])
    ctx = make_context(tmp_path, commands=runner, config=Config(image=STANDIN), env={"LANG": "de_DE.UTF-8"})
    choice = locale_choice(ctx)
    assert [var.arg()[0] for var in choice.env] == ["--env=LANG=C.UTF-8"] and choice.warning
    assert locale_choice(dataclasses.replace(ctx, memo=ctx.memo)) == choice and runner.exhausted
    absent = [FakeCommand(("podman", "image", "exists", STANDIN), returncode=1),
              FakeCommand(("podman", "image", "inspect", "--format", "{{.Id}}", STANDIN), returncode=125,
                          stderr=f"Error: inspecting object: {STANDIN}: image not known\n")]  # absence confirmed
    unknown = make_context(tmp_path, commands=FakeCommandRunner(absent),
                           config=Config(image=STANDIN), env={"LANG": "de_DE.UTF-8"})
    assert [var.value for var in locale_choice(dataclasses.replace(unknown, memo=Memo())).env] == ["de_DE.UTF-8"]
    dry = make_context(tmp_path, commands=FakeCommandRunner([]), env={"LANG": "de_DE.UTF-8"})
    assert [var.value for var in locale_choice(dry, look_inside=False).env] == ["de_DE.UTF-8"]  # podman not asked


def test_daily_parts_puts_each_piece_where_the_launch_needs_it(tmp_path: Path) -> None:
    from spotidoctor.daily.facts import NetworkFacts
    from spotidoctor.daily.launchparts import daily_parts
    from spotidoctor.testing.x11 import FakeX11

    x11 = FakeX11.ok()
    x11.resources = "Xft.dpi:\t144\n"
    runner = FakeCommandRunner([*present(STANDIN, inspect_json()), probe(FULL)])
    ctx = make_context(tmp_path, commands=runner, config=Config(image=STANDIN), x11=x11,
                       env={"LANG": "C.UTF-8", "DISPLAY": ":0"})
    network = CheckResult("network.sign-in", Status.OK, "", facts=NetworkFacts(
        "", "slirp4netns", True, True, False, "slirp4netns:enable_ipv6=false").to_json())
    parts = daily_parts(ctx, [network])
    assert [arg for arg, _ in parts.podman_args] == ["--env=LANG=C.UTF-8"]
    assert [arg for arg, _ in parts.spotify_args] == ["--force-device-scale-factor=1.5"]
    assert parts.network is not None and parts.network[0] == "--network=slirp4netns:enable_ipv6=false"
    assert parts.warnings == () and all(why for _, why in (*parts.podman_args, *parts.spotify_args, parts.network))


def test_with_daily_splices_into_the_launch_command_line() -> None:
    from spotidoctor.backend.runargs import HostFacts, RunSpec, argv, run_argv
    from spotidoctor.daily.launchparts import DailyParts, with_daily

    spec = RunSpec(image="spotify_pod", container_name="c", log_path="/l", storage_dir="/s", network="slirp4netns")
    parts = DailyParts((("--env=LANG=de_DE.UTF-8", "why"),), (("--force-device-scale-factor=2", "why"),),
                       ("--network=slirp4netns:enable_ipv6=false", "why"), ())
    line = argv(with_daily(run_argv(spec, HostFacts()), parts, (("--uri=spotify:track:x", "link"),)))
    assert "--network=slirp4netns" not in line and line.count("--network=slirp4netns:enable_ipv6=false") == 1
    image = line.index("spotify_pod")
    assert line.index("--env=LANG=de_DE.UTF-8") < line.index("--entrypoint=/usr/bin/spotify") == image - 1
    assert line[-2:] == ["--force-device-scale-factor=2", "--uri=spotify:track:x"]
    plain = argv(with_daily(run_argv(spec, HostFacts()), DailyParts((), (), None, ())))
    assert plain == argv(run_argv(spec, HostFacts()))
    with pytest.raises(ValueError):
        with_daily([("podman", "")], parts)
