"""Validation of image references, container names, storage paths and ulimits (podman's rules),
and the whole-config check the launch runs before podman (ConfigError: exit code 2)."""
from __future__ import annotations

import pytest

from spotidoctor.config import Config
from spotidoctor.errors import ConfigError
from spotidoctor.exitcodes import ExitCode
from spotidoctor.hardening import names
from spotidoctor.hardening.validate import check_config, config_problems


@pytest.mark.parametrize("ref", [
    "spotify_pod", "localhost/spotify_pod", "localhost/spotify_pod:latest", "localhost:5000/team/spotify-pod:1.2.3",
    "docker.io/library/debian:bookworm-slim", "quay.io/a__b/c.d:v1", "spotify_pod@sha256:" + "a" * 64,
    "registry.example.com/x/y:tag@sha256:" + "0" * 64, "abcdef012345", "docker:latest", "a" * 255,
])
def test_valid_image_references(ref: str) -> None:
    assert names.image_problems(ref) == ()


@pytest.mark.parametrize(("ref", "fragment"), [
    ("--privileged", "starts with '-': podman would read it as an option"),
    ("-v", "starts with '-'"),
    ("", "image is empty"),
    ("Spotify_Pod", "image names are lower case"),
    ("spotify pod", "not a valid image reference"),
    ("spotify_pod:", "not a valid image reference"),
    ("spotify_pod:bad/tag", "not a valid image reference"),
    ("spotify_pod@sha256:abc", "not a valid image reference"),
    ("/some/path", "not a valid image reference"),
    ("docker://docker.io/x", "names a transport"),
    ("containers-storage:spotify_pod", "names a transport"),
    ("a" * 256, "at most 255"),
    ("spotify_pod\n--privileged", "not a valid image reference"),
])
def test_invalid_image_references(ref: str, fragment: str) -> None:
    problems = names.image_problems(ref)
    assert len(problems) == 1 and fragment in problems[0]


@pytest.mark.parametrize("name", ["spotify-container", "a", "A.b_c-1", "0x"])
def test_valid_container_names(name: str) -> None:
    assert names.container_name_problems(name) == ()


@pytest.mark.parametrize("name", ["--privileged", "-x", "_x", ".x", "a b", "a/b", "a:b", "", "ä"])
def test_invalid_container_names(name: str) -> None:
    assert names.container_name_problems(name) == (
        f"container_name {name!r} is not a valid podman container name: it must match [a-zA-Z0-9][a-zA-Z0-9_.-]* "
        "(letters, digits, '_', '.', '-'; not starting with one of the last three)",)


def test_storage_paths() -> None:
    assert names.storage_path_problems("/home/alice/.spotify") == ()
    assert names.storage_path_problems("/home/alice/Music ✓/spotify") == ()
    assert names.storage_path_problems("/home/alice/a:b") == (
        "storage_dir '/home/alice/a:b' contains ':', which podman's --volume reads as the separator of source, "
        "destination and options: the storage mount would break",)
    assert names.storage_path_problems("/x\0y") == ("storage_dir contains a NUL byte, which no path can hold",)
    assert "control characters" in names.storage_path_problems("/home/alice/a\nb")[0]
    long_name = "é" * 128  # 256 bytes in UTF-8, 128 characters
    assert names.storage_path_problems(f"/home/{long_name}") == (
        f"storage_dir: the path component {'é' * 12!r}… is 256 bytes; Linux allows at most 255 per name",)
    assert names.storage_path_problems("/" + "a" * 255) == ()
    deep = "/" + "/".join(["a" * 200] * 21)
    assert any("Linux paths are at most 4095" in p for p in names.storage_path_problems(deep))


@pytest.mark.parametrize("spec", ["nofile=65536:65536", "nofile=1024", "core=0", "memlock=-1:-1", "nproc=-1",
                                  "stack=infinity", "rtprio=10:20", "host"])
def test_valid_ulimits(spec: str) -> None:
    assert names.ulimit_problems(spec) == ()


@pytest.mark.parametrize(("spec", "fragment"), [
    ("as=1024", "podman knows no limit named 'as'"),
    ("files=10", "podman knows no limit named 'files'"),
    ("nofile", "is not NAME=SOFT[:HARD]"),
    ("nofile=1:2:3", "at most two values"),
    ("nofile=ten", "whole numbers"),
    ("nofile=2048:1024", "soft limit must not exceed the hard limit"),
    ("nofile=-1:1024", "soft limit must not exceed the hard limit"),
])
def test_invalid_ulimits(spec: str, fragment: str) -> None:
    problems = names.ulimit_problems(spec)
    assert len(problems) == 1 and fragment in problems[0]


def test_host_ulimit_stands_alone() -> None:
    assert names.ulimits_problems(["host"]) == ()
    assert names.ulimits_problems(["host", "nofile=10"]) == (
        "ulimit 'host' copies every host limit and cannot be combined with other ulimits",)


def test_the_whole_config() -> None:
    assert config_problems(Config(), "/home/alice") == ()
    bad = Config(image="--privileged", container_name="-x", storage_dir="~/a:b", ulimits=("as=1",),
                 extra_run_args=("--rm", "ubuntu"), source="/home/alice/.config/spotidoctor/config.toml")
    problems = config_problems(bad, "/home/alice")
    assert len(problems) == 5 and problems[-1].startswith("extra_run_args: 'ubuntu' is not an option")
    with pytest.raises(ConfigError) as caught:
        check_config(bad, "/home/alice")
    assert caught.value.exit_code is ExitCode.USAGE
    text = str(caught.value)
    assert text.startswith("invalid configuration in /home/alice/.config/spotidoctor/config.toml:\n  - image ")
    assert text.count("\n  - ") == 5
    check_config(Config(), "/home/alice")  # nothing raised
