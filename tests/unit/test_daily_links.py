"""Links for Spotify, one instance: which links pass, how they are forwarded into a running
container (`podman exec ... spotify --uri=`), and when the launch ends there."""
from __future__ import annotations

import pytest

from spotidoctor.daily.instance import State, find_instance, forward_argv, forward_links, stop_instance
from spotidoctor.daily.launchparts import handoff
from spotidoctor.daily.links import LinkError, parse_link, split_link_args
from spotidoctor.testing import FakeCommand, FakeCommandRunner

NAME = "spotify-container"
FORMAT = "{{.State.Status}}\t{{.State.Running}}\t{{.ImageName}}"
INSPECT = ("podman", "container", "inspect", "--format", FORMAT, NAME)
NO_SUCH = f"Error: inspecting object: no such container {NAME}\n"
TRACK = "4uLU6hMCjMI75M1A2tKUQC"


def running(image: str = "localhost/spotify_pod:latest") -> FakeCommand:
    return FakeCommand(INSPECT, stdout=f"running\ttrue\t{image}\n")


def absent() -> FakeCommand:
    return FakeCommand(INSPECT, returncode=125, stderr=NO_SUCH)


@pytest.mark.parametrize("given, uri", [
    ("spotify:track:" + TRACK, "spotify:track:" + TRACK),
    ("spotify:user:alice:playlist:37i9dQZF1DXcBWIGoYBM5M", "spotify:user:alice:playlist:37i9dQZF1DXcBWIGoYBM5M"),
    (f"https://open.spotify.com/track/{TRACK}?si=abc123", f"spotify:track:{TRACK}"),
    (f"https://open.spotify.com/intl-de/album/{TRACK}", f"spotify:album:{TRACK}"),
    (f"https://OPEN.spotify.com/user/bob/playlist/{TRACK}", f"spotify:user:bob:playlist:{TRACK}"),
    ("https://open.spotify.com/genre/jazz-page", "https://open.spotify.com/genre/jazz-page"),
])
def test_accepted_links_and_the_uri_spotify_gets(given: str, uri: str) -> None:
    link = parse_link(given)
    assert (link.uri, link.given, link.spotify_arg) == (uri, given, f"--uri={uri}")


@pytest.mark.parametrize("given, reason", [
    ("http://open.spotify.com/track/" + TRACK, "only spotify: URIs and https://open.spotify.com/ links"),
    ("https://evil.example/track/" + TRACK, "only spotify: URIs"),
    ("https://open.spotify.com.evil.example/x", "only spotify: URIs"),
    ("https://open.spotify.com:8443/track/" + TRACK, "only spotify: URIs"),
    ("https://user@open.spotify.com/x", "a user name"),
    ("file:///etc/passwd", "scheme not allowed"),
    ("spotify:", "an empty spotify: URI"),
    ("spotify:track:a b", "whitespace"),
    ("spotify:track:\"quoted\"", "characters outside a URI"),
    ("spotify:track:x\n--disable-gpu", "whitespace, control"),
    ("spotify:" + "a" * 5000, "longer than"),
])
def test_refused_links_say_why_without_repeating_the_link(given: str, reason: str) -> None:
    with pytest.raises(LinkError) as caught:
        parse_link(given)
    assert reason in str(caught.value)
    if len(given) > len("spotify:"):
        assert given not in str(caught.value)


def test_split_keeps_spotify_options_and_takes_links_in_both_forms() -> None:
    split = split_link_args(["--show-console", f"spotify:track:{TRACK}", f"--uri=https://open.spotify.com/album/{TRACK}",
                             "--uri=javascript:alert(1)", "file:///x"])
    assert [link.uri for link in split.links] == [f"spotify:track:{TRACK}", f"spotify:album:{TRACK}"]
    assert split.other == ("--show-console",)
    assert len(split.refused) == 2 and "javascript" in split.refused[0]
    assert "file" in split.refused[1] and "/x" not in split.refused[1]  # any scheme is judged, never passed on


def test_an_argument_that_is_not_a_scheme_stays_a_spotify_argument() -> None:
    assert split_link_args(["--log-file=/tmp/x:1", "plain", "1:2"]).other == ("--log-file=/tmp/x:1", "plain", "1:2")


def test_find_instance_states() -> None:
    cmd = FakeCommandRunner([running()])
    found = find_instance(cmd, NAME)
    assert (found.state, found.status, found.image, found.running) == (
        State.RUNNING, "running", "localhost/spotify_pod:latest", True)
    assert find_instance(FakeCommandRunner([FakeCommand(INSPECT, stdout="exited\tfalse\tx\n")]), NAME).state \
        is State.STOPPED
    assert find_instance(FakeCommandRunner([absent()]), NAME).state is State.ABSENT
    hung = find_instance(FakeCommandRunner([FakeCommand(INSPECT, returncode=124, timed_out=True)]), NAME)
    assert hung.state is State.UNKNOWN and "timed out" in hung.error
    odd = find_instance(FakeCommandRunner([FakeCommand(INSPECT, stdout="running\n")]), NAME)
    assert odd.state is State.UNKNOWN and "unexpected answer" in odd.error


def test_forward_runs_spotify_in_the_container_once_per_link() -> None:
    links = split_link_args([f"spotify:track:{TRACK}", "spotify:album:x"]).links
    cmd = FakeCommandRunner([FakeCommand(forward_argv(NAME, links[0])),
                             FakeCommand(forward_argv(NAME, links[1]), returncode=124, timed_out=True)])
    first, second = forward_links(cmd, NAME, links, timeout=3)
    assert cmd.calls == [("podman", "exec", NAME, "/usr/bin/spotify", f"--uri=spotify:track:{TRACK}"),
                         ("podman", "exec", NAME, "/usr/bin/spotify", "--uri=spotify:album:x")]
    assert first.ok and not second.ok and second.detail == "Spotify did not take the link within 3s"


def test_handoff_to_a_running_spotify_ends_the_launch() -> None:
    link = parse_link(f"spotify:track:{TRACK}")
    cmd = FakeCommandRunner([running(), FakeCommand(forward_argv(NAME, link))], ordered=True)
    done = handoff(cmd, NAME, [link.given])
    assert (done.done, done.exit_code) == (True, 0)
    assert done.messages == (f"opened spotify:track:{TRACK} in the running Spotify",)
    assert cmd.exhausted


def test_a_second_plain_launch_starts_nothing() -> None:
    done = handoff(FakeCommandRunner([running()]), NAME, [])
    assert done.done and done.exit_code == 0 and "already running" in done.messages[0]


def test_a_failed_forward_is_an_error_exit() -> None:
    link = parse_link("spotify:album:x")
    cmd = FakeCommandRunner([running(), FakeCommand(forward_argv(NAME, link), returncode=126,
                                                    stderr="Error: crun: executable file not found\n")])
    done = handoff(cmd, NAME, ["spotify:album:x"])
    assert (done.done, done.exit_code) == (True, 1) and "executable file not found" in done.messages[0]


@pytest.mark.parametrize("answer", [absent(), FakeCommand(INSPECT, stdout="exited\tfalse\tx\n"),
                                    FakeCommand(INSPECT, returncode=124, timed_out=True)])
def test_without_a_running_spotify_the_links_go_to_the_new_start(answer: FakeCommand) -> None:
    done = handoff(FakeCommandRunner([answer]), NAME, ["--foo", f"https://open.spotify.com/track/{TRACK}"])
    assert not done.done and done.other_args == ("--foo",)
    assert [arg for arg, _ in done.link_args] == [f"--uri=spotify:track:{TRACK}"]


def test_stop_only_stops_a_running_container() -> None:
    stop = ("podman", "stop", "--time", "10", NAME)
    cmd = FakeCommandRunner([running(), FakeCommand(stop)], ordered=True)
    stopped = stop_instance(cmd, NAME)
    assert stopped.ok and stopped.was is State.RUNNING and cmd.exhausted
    idle = FakeCommandRunner([absent()])
    assert stop_instance(idle, NAME).ok and idle.calls == [INSPECT]
    failing = stop_instance(FakeCommandRunner([running(), FakeCommand(stop, returncode=125, stderr="Error: boom\n")]),
                            NAME)
    assert not failing.ok and failing.detail == "Error: boom"


def test_a_container_known_absent_from_podmans_store_is_not_asked_about() -> None:
    cmd = FakeCommandRunner([])  # any podman call would be unexpected
    done = handoff(cmd, NAME, ["--foo", f"spotify:track:{TRACK}", "file:///etc/passwd"], known_absent=True)
    assert not done.done and done.other_args == ("--foo",) and not cmd.calls
    assert [arg for arg, _ in done.link_args] == [f"--uri=spotify:track:{TRACK}"]
    assert len(done.messages) == 1 and done.messages[0].startswith("link ")
