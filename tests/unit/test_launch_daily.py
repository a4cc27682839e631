"""`spotidoctor launch` and daily use, on fakes: one Spotify (a link or a second launch while it
runs is handed over before any preflight or lock), the daily parts (language, scale, IPv4-only
network) and the links in the podman command, the dry run saying which way it goes, and the
spotify: URIs the container asks to open going into the running client."""
from __future__ import annotations

from pathlib import Path

import pytest

from spotidoctor.channels.runparts import EnvVar
from spotidoctor.daily.launchparts import DailyParts
from spotidoctor.launcher import supervisor
from spotidoctor.launcher.daily import uri_forwarder
from spotidoctor.testing import FakeCommand, FakeCommandRunner
from tests.unit.test_launch import (  # noqa: F401 - the same fixtures (one autouse)
    IMAGE,
    INSTANCE_FORMAT,
    NAME,
    Broken,
    Podman,
    container_free,
    image_present,
    launch,
    launch_records,
    lock,
    make_args,
    no_real_side_effects,
    session,
)

TRACK = "spotify:track:4uLU6hMCjMI75M1A2tKUQC"
WEB = "https://open.spotify.com/track/4uLU6hMCjMI75M1A2tKUQC?si=x"
PARTS = DailyParts((EnvVar("LANG", "de_DE.UTF-8", "language: your LANG").arg(),),
                   (("--force-device-scale-factor=2", "HiDPI: from Xft.dpi 192 in the X resources"),),
                   ("--network=slirp4netns:enable_ipv6=false", "sign-in: no IPv6 route"),
                   ("the image has no locale for LC_TIME=xx_XX",))


def running() -> FakeCommand:
    return FakeCommand(("podman", "container", "inspect", "--format", INSTANCE_FORMAT, NAME),
                       stdout=f"running\ttrue\t{IMAGE}\n")


def forwarded(uri: str, returncode: int = 0) -> FakeCommand:
    return FakeCommand(("podman", "exec", NAME, "/usr/bin/spotify", f"--uri={uri}"), returncode=returncode,
                       stderr="" if returncode == 0 else "Error: container is not running\n")


@pytest.fixture
def parts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(supervisor, "daily_parts", lambda ctx, results, image_id=None: PARTS)


def test_a_link_while_spotify_runs_is_handed_over_without_preflight_lock_or_container(
        tmp_path: Path, lock: list[bool]) -> None:  # noqa: F811 - the fixture imported above
    podman = Podman([forwarded(TRACK)], instance=running())
    code, out, _ = launch(session(tmp_path, podman, Broken), make_args(spotify_args=[WEB]))
    assert code == 0 and podman.ran == [] and lock == [False] and not launch_records(tmp_path)
    assert f"opened {TRACK} in the running Spotify" in out and "Preflight" not in out
    assert podman.calls[-1] == ("podman", "exec", NAME, "/usr/bin/spotify", f"--uri={TRACK}")


def test_a_second_plain_launch_starts_nothing(tmp_path: Path) -> None:
    podman = Podman([], instance=running())
    code, out, _ = launch(session(tmp_path, podman, Broken), make_args())
    assert code == 0 and podman.ran == [] and len(podman.calls) == 1
    assert f"Spotify is already running (container {NAME}); not starting another one." in out


def test_a_link_the_running_client_does_not_take_fails_the_launch(tmp_path: Path) -> None:
    podman = Podman([forwarded(TRACK, returncode=125)], instance=running())
    code, out, _ = launch(session(tmp_path, podman), make_args(spotify_args=[TRACK]))
    assert code == 1 and podman.ran == [] and f"could not open {TRACK}" in out


def test_a_new_start_gets_the_links_and_the_daily_parts_with_their_network(tmp_path: Path, parts: None) -> None:
    podman = Podman([*image_present(), *container_free()], code=0)
    code, out, _ = launch(session(tmp_path, podman),
                          make_args(spotify_args=["--exit=0", WEB, "spotify:track:x y"]))
    assert code == 0, out
    [argv] = podman.ran
    image_at = argv.index(IMAGE)
    assert argv[image_at + 1:][:1] == ("--exit=0",)  # the other arguments stay first, unchanged
    assert argv[-2:] == ("--force-device-scale-factor=2", f"--uri={TRACK}")
    assert "--env=LANG=de_DE.UTF-8" in argv[:image_at]
    assert [a for a in argv if a.startswith("--network=")] == ["--network=slirp4netns:enable_ipv6=false"]
    assert "link not opened" in out  # the refused one is said, never passed
    assert "warning: the image has no locale for LC_TIME=xx_XX" in out
    [record] = launch_records(tmp_path)
    assert record["host"]["network"] == "slirp4netns:enable_ipv6=false" and record["argv"] == list(argv)


def test_dry_run_says_a_running_spotify_would_get_the_link(tmp_path: Path) -> None:
    podman = Podman([], instance=running())
    code, out, err = launch(session(tmp_path, podman), make_args(dry_run=True, spotify_args=[TRACK]))
    assert code == 0 and podman.ran == [] and ("podman", "exec") not in {c[:2] for c in podman.calls}
    assert f"# one Spotify: container {NAME} runs already: each link would be handed to it" in err
    assert out.startswith("# spotidoctor launch --dry-run")


def test_dry_run_of_a_new_start_shows_the_link_and_where_the_scale_comes_from(tmp_path: Path) -> None:
    podman = Podman([])
    code, out, err = launch(session(tmp_path, podman), make_args(dry_run=True, spotify_args=[TRACK]))
    assert code == 0 and podman.ran == []
    assert f"# one Spotify: container {NAME} is absent: the command below would start Spotify with the links" in err
    assert f"--uri={TRACK}" in out and "# link to open (spotify: URI)" in out
    assert "--env=LANG=C.UTF-8" in out and "# language:" in out
    assert "# scale: " in err  # no scale here: the dry run still says why


def test_a_spotify_uri_from_the_container_reaches_the_running_client() -> None:
    cmd = FakeCommandRunner([forwarded(TRACK)])
    log: list[str] = []
    forward = uri_forwarder(cmd, NAME, log.append)
    forward(TRACK)
    forward("spotify:track:bad uri")  # parse_link refuses it: podman is not asked
    assert cmd.calls == [("podman", "exec", NAME, "/usr/bin/spotify", f"--uri={TRACK}")]
    assert log[0] == f"links: a spotify: URI from the container was handed to Spotify ({len(TRACK)} characters)"
    assert log[1].startswith("links: a spotify: URI from the container was refused: not opened")
    assert all("bad" not in line for line in log)  # never the URI itself


def test_a_failed_handover_from_the_container_is_logged_without_the_uri() -> None:
    log: list[str] = []
    uri_forwarder(FakeCommandRunner([forwarded(TRACK, returncode=125)]), NAME, log.append)(TRACK)
    assert log == ["links: a spotify: URI from the container did not reach Spotify: "
                   "Error: container is not running"]
    echoed = FakeCommand(forwarded(TRACK).argv, returncode=1, stderr=f"cannot open {TRACK}\n")
    uri_forwarder(FakeCommandRunner([echoed]), NAME, log.append)(TRACK)
    assert log[-1] == "links: a spotify: URI from the container did not reach Spotify: cannot open (the URI)"

