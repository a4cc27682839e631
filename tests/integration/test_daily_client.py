"""What the client gets, against real servers: the HiDPI scale from a real X server's resources
(`xrdb` on Xvfb), the image's fonts, tray library, URL helper and locales from a real look
inside the stand-in images, and the launch's LANG from them."""
from __future__ import annotations

import dataclasses
import os
import subprocess
from pathlib import Path

from spotidoctor.backend.images import lookup_image
from spotidoctor.config import Config
from spotidoctor.daily.imagecontents import Feature, ImageContents, image_contents
from spotidoctor.daily.launchparts import daily_parts, scale_choice
from spotidoctor.engine.planning import plan
from spotidoctor.engine.runner import Runner
from spotidoctor.memo import Memo
from spotidoctor.model import Status
from tests import servers
from tests.daily import ensure_daily_image
from tests.realcontext import real_context


def xrdb(server: servers.XServer, resources: str) -> None:
    subprocess.run(["xrdb", "-nocpp", "-merge"], input=resources, text=True, check=True, capture_output=True,
                   env={**os.environ, **server.env()}, timeout=30)


def test_xft_dpi_192_gives_scale_2(xserver: servers.XServer) -> None:
    servers.require("xrdb")
    ctx = real_context({**os.environ, **xserver.env()})
    ctx = dataclasses.replace(ctx, env={k: v for k, v in ctx.env.items() if k != "GDK_SCALE"})
    assert scale_choice(ctx).factor is None  # a fresh Xvfb has no resources
    xrdb(xserver, "Xft.dpi: 192\nXft.antialias: 1\n")
    choice = scale_choice(ctx)
    assert choice.factor == 2.0 and choice.arg == "--force-device-scale-factor=2"
    assert choice.source == "Xft.dpi 192 in the X resources (192 / 96)"
    configured = dataclasses.replace(ctx, config=Config(scale_factor=1.25))
    assert scale_choice(configured).arg == "--force-device-scale-factor=1.25"


def look(image: str) -> ImageContents:
    ctx = dataclasses.replace(real_context(), config=Config(image=image), memo=Memo())
    found = lookup_image(ctx)
    assert found.info is not None, found.error
    contents = image_contents(ctx, found.info)
    assert isinstance(contents, ImageContents), contents
    return contents


def test_the_bare_stand_in_lacks_everything(podman: str, standin_image: str) -> None:
    contents = look(standin_image)
    assert contents.missing == tuple(Feature) and contents.locales == ()


def test_the_daily_stand_in_has_everything(podman: str, standin_image: str, tmp_path: Path) -> None:
    image = ensure_daily_image(tmp_path, standin_image)
    contents = look(image)
    assert contents.missing == ()
    assert contents.found[Feature.CJK_FONT.value] == "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
    assert contents.locales == ("C.utf8", "de_DE.utf8")  # no `locale` in it: the directories
    ctx = dataclasses.replace(real_context({**os.environ, "LANG": "de_DE.UTF-8", "LC_TIME": "fr_FR.UTF-8"}),
                              config=Config(image=image))
    parts = daily_parts(ctx)
    assert [arg for arg, _ in parts.podman_args] == ["--env=LANG=de_DE.UTF-8", "--env=LC_TIME=C.UTF-8"]
    assert parts.warnings and "LC_TIME=fr_FR.UTF-8" in parts.warnings[0]


def test_a_debian_image_lists_its_locales_with_locale_a(debian_base: str) -> None:
    contents = look(debian_base)
    assert contents.locales is not None and {"C", "C.utf8", "POSIX"} <= set(contents.locales)
    assert contents.has(Feature.GIO_LAUNCH_DESKTOP) is False  # a bare base: no GLib


def test_the_image_checks_on_the_stand_in(podman: str, standin_image: str) -> None:
    from spotidoctor.checks.image import CHECKS

    ctx = dataclasses.replace(real_context({**os.environ, "LANG": "C.UTF-8"}), config=Config(image=standin_image))
    ids = ("image.fonts", "image.tray", "image.url-opener", "image.locale")
    results = {r.check_id: r for r in Runner(ctx).run(plan(CHECKS, ids)).results}
    assert {results[i].status for i in ids[:3]} == {Status.WARN}
    assert "was not built by spotidoctor" in results["image.fonts"].messages[0].advice[0]
    assert results["image.locale"].status is Status.WARN  # not even C.utf8 in a FROM-scratch image


def test_the_launch_passes_the_locale_the_image_has(debian_base: str) -> None:
    ctx = dataclasses.replace(real_context({**os.environ, "LANG": "C.UTF-8", "LC_ALL": "de_DE.UTF-8"}),
                              config=Config(image=debian_base))
    parts = daily_parts(ctx)
    assert [arg for arg, _ in parts.podman_args] == ["--env=LANG=C.UTF-8", "--env=LC_ALL=C.UTF-8"]
    assert parts.warnings == ("the image has no locale for LC_ALL=de_DE.UTF-8: Spotify runs with C.UTF-8 instead "
                              "(translations, dates and sorting as in C)",)


def test_the_spliced_launch_line_gives_the_client_its_scale_language_and_link(
        xserver: servers.XServer, standin_image: str, tmp_path: Path) -> None:
    """The launch's own `podman run` line (run_argv) with with_daily's parts, run for real: the
    stand-in's arguments carry the scale from Xft.dpi and the link, its environment the LANG."""
    from spotidoctor.backend.runargs import HostFacts, RunSpec, argv, run_argv
    from spotidoctor.daily.launchparts import handoff, with_daily
    from spotidoctor.probes.command import SubprocessRunner
    from tests.standin import ensure_current

    servers.require("xrdb")
    image = ensure_daily_image(tmp_path / "image", ensure_current(tmp_path / "standin", standin_image))
    xrdb(xserver, "Xft.dpi: 192\n")
    env = {**os.environ, **xserver.env(), "LANG": "de_DE.UTF-8"}
    env.pop("GDK_SCALE", None)
    ctx = dataclasses.replace(real_context(env), config=Config(image=image))
    name = f"sdtest-daily-{os.getpid()}"
    hand = handoff(SubprocessRunner(), name, ["--stay", "spotify:track:4uLU6hMCjMI75M1A2tKUQC"])
    assert not hand.done and hand.other_args == ("--stay",)
    storage = tmp_path / "storage"
    for sub in ("config", "cache"):
        (storage / sub).mkdir(parents=True)
    subprocess.run(["podman", "unshare", "chown", "-R", "1500:1500", str(storage)], check=True, timeout=60)
    spec = RunSpec(image=image, container_name=name, log_path=str(tmp_path / "container.log"),
                   storage_dir=str(storage), network="none", cli_spotify_args=hand.other_args)
    line = argv(with_daily(run_argv(spec, HostFacts()), daily_parts(ctx), hand.link_args))
    line.insert(line.index("run") + 1, "--detach")
    try:
        started = subprocess.run(line, capture_output=True, text=True, timeout=120)
        assert started.returncode == 0, started.stderr
        log = tmp_path / "container.log"
        servers.wait_for(lambda: log.exists() and "standin: running" in log.read_text(), 30, "the stand-in")
        assert "--force-device-scale-factor=2 --uri=spotify:track:4uLU6hMCjMI75M1A2tKUQC" in log.read_text()
        shown = subprocess.run(["podman", "exec", name, "env"], capture_output=True, text=True, timeout=60).stdout
        assert "LANG=de_DE.UTF-8" in shown.splitlines()
    finally:
        subprocess.run(["podman", "rm", "--force", "--time", "0", name], capture_output=True, timeout=120)
        subprocess.run(["podman", "unshare", "rm", "-rf", str(storage)], capture_output=True, timeout=120)
