"""The podman run command as data: every profile and host shape, each argument with a reason."""
from __future__ import annotations

import dataclasses

import pytest

from spotidoctor.backend.runargs import AUDIO_API_PULSE, DriAccess, HostFacts, RunSpec, argv, missing_parts, run_argv
from spotidoctor.config import Config

LOG = "/home/alice/.local/state/spotidoctor/launches/L1/container.log"
SPEC = RunSpec(image="spotify_pod", container_name="spotify-container", log_path=LOG,
               storage_dir="/home/alice/.spotify")
PULSEAUDIO_HOST = HostFacts(
    display_number=0, x11_socket="/tmp/.X11-unix/X0",
    x11_cookie="/run/user/1600/spotidoctor/Xauthority-0", audio_server="pulseaudio",
    pulse_socket="/run/user/1600/pulse/pulse-socket", pulse_cookie="/run/user/1600/spotidoctor/pulse-cookie",
    pulse_client_conf="/run/user/1600/spotidoctor/pulse-client.conf", mapped_uid=101499, user_uid=1600,
)
PIPEWIRE_HOST = dataclasses.replace(PULSEAUDIO_HOST, audio_server="pipewire", pulse_cookie=None,
                                    pipewire_socket="/run/user/1600/pipewire-0")

ISOLATED_PULSEAUDIO = [
    "podman", "run", "--rm", "--name=spotify-container", "--pull=never", "--init", "--hostname=spotify",
    "--user=1500:1500",
    "--cap-drop=all", "--security-opt=no-new-privileges", "--ipc=private", "--shm-size=1g",
    "--log-driver=k8s-file", f"--log-opt=path={LOG}",
    "--tz=local", "--env=HOME=/home/spotify_user", "--env=TMPDIR=/tmp",
    "--volume=/tmp/.X11-unix/X0:/tmp/.X11-unix/X0:ro", "--env=DISPLAY=:0",
    "--volume=/run/user/1600/spotidoctor/Xauthority-0:/run/spotidoctor/Xauthority:ro",
    "--env=XAUTHORITY=/run/spotidoctor/Xauthority",
    "--volume=/run/user/1600/pulse/pulse-socket:/run/spotidoctor/pulse-native",
    "--env=PULSE_SERVER=unix:/run/spotidoctor/pulse-native",
    "--volume=/run/user/1600/spotidoctor/pulse-cookie:/run/spotidoctor/pulse-cookie:ro",
    "--env=PULSE_COOKIE=/run/spotidoctor/pulse-cookie",
    "--volume=/run/user/1600/spotidoctor/pulse-client.conf:/run/spotidoctor/pulse-client.conf:ro",
    "--env=PULSE_CLIENTCONFIG=/run/spotidoctor/pulse-client.conf",
    "--volume=/home/alice/.spotify/config:/home/spotify_user/.config/spotify",
    "--volume=/home/alice/.spotify/cache:/home/spotify_user/.cache/spotify",
    "--entrypoint=/usr/bin/spotify", "spotify_pod", "--audio-api=pulseaudio",
]


def test_isolated_profile_on_pulseaudio_is_the_whole_command() -> None:
    assert argv(run_argv(SPEC, PULSEAUDIO_HOST)) == ISOLATED_PULSEAUDIO


def test_every_argument_has_a_one_line_reason() -> None:
    for host in (PULSEAUDIO_HOST, PIPEWIRE_HOST):
        for arg, why in run_argv(dataclasses.replace(SPEC, profile="keep-id", network="none"), host):
            assert why.strip() and "\n" not in why, arg


def test_isolated_profile_has_no_userns_flag_and_names_the_mapped_uid() -> None:
    pairs = dict(run_argv(SPEC, PULSEAUDIO_HOST))
    assert not any(a.startswith("--userns") for a in pairs)
    assert "host uid 101499" in pairs["--user=1500:1500"]
    config = "--volume=/home/alice/.spotify/config:/home/spotify_user/.config/spotify"
    assert "owned by host uid 101499" in pairs[config]


def test_keep_id_profile_maps_the_container_uid_to_the_user() -> None:
    pairs = run_argv(dataclasses.replace(SPEC, profile="keep-id"), PULSEAUDIO_HOST)
    args = argv(pairs)
    assert args[7:9] == ["--userns=keep-id:uid=1500,gid=1500", "--user=1500:1500"]
    cache = "--volume=/home/alice/.spotify/cache:/home/spotify_user/.cache/spotify"
    assert "owned by you (uid 1600)" in dict(pairs)[cache]
    # Everything else is the isolated command with the one extra flag.
    assert [a for a in args if not a.startswith("--userns")] == ISOLATED_PULSEAUDIO


def test_configured_uid_is_used_everywhere() -> None:
    args = argv(run_argv(dataclasses.replace(SPEC, uid=1234, profile="keep-id"), PULSEAUDIO_HOST))
    assert "--userns=keep-id:uid=1234,gid=1234" in args and "--user=1234:1234" in args


def test_pipewire_host_mounts_pipewire_0_and_keeps_spotify_on_pipewire() -> None:
    args = argv(run_argv(SPEC, PIPEWIRE_HOST))
    assert "--volume=/run/user/1600/pipewire-0:/run/spotidoctor/pipewire-0:ro" in args
    assert "--env=PIPEWIRE_REMOTE=/run/spotidoctor/pipewire-0" in args
    assert AUDIO_API_PULSE not in args
    # No cookie on pipewire-pulse (it checks none): nothing mounted for it.
    assert not any("PULSE_COOKIE" in a or "pulse-cookie" in a for a in args)
    assert "--env=PULSE_SERVER=unix:/run/spotidoctor/pulse-native" in args


def test_pipewire_reason_explains_socket_permissions() -> None:
    pairs = dict(run_argv(SPEC, PIPEWIRE_HOST))
    why = pairs["--volume=/run/user/1600/pulse/pulse-socket:/run/spotidoctor/pulse-native"]
    assert "no cookie" in why and "server.address" in why


def test_container_owned_cookie_copy_is_mounted_read_write() -> None:
    host = dataclasses.replace(PULSEAUDIO_HOST, pulse_cookie_host_owned=False)
    pairs = dict(run_argv(SPEC, host))
    arg = "--volume=/run/user/1600/spotidoctor/pulse-cookie:/run/spotidoctor/pulse-cookie:rw"
    assert arg in pairs and "read-write" in pairs[arg]


@pytest.mark.parametrize("enforcing", [True, False], ids=["selinux-enforcing", "no-selinux"])
def test_selinux_label_disable_only_when_enforcing_and_never_relabels(enforcing: bool) -> None:
    args = argv(run_argv(SPEC, dataclasses.replace(PULSEAUDIO_HOST, selinux_enforcing=enforcing)))
    assert ("--security-opt=label=disable" in args) is enforcing
    assert not any(a.endswith((":z", ":Z")) or ",z" in a or ",Z" in a for a in args)


@pytest.mark.parametrize("dri, runtime, expected", [
    pytest.param(DriAccess.ABSENT, "crun", [], id="no-dri"),
    pytest.param(DriAccess.NO_ACCESS, "crun", [], id="dri-not-accessible"),
    pytest.param(DriAccess.WORLD, "runc", ["--device=/dev/dri"], id="world-open-any-runtime"),
    pytest.param(DriAccess.GROUP, "crun", ["--device=/dev/dri", "--group-add=keep-groups"], id="group-crun"),
    pytest.param(DriAccess.GROUP, "runc", [], id="group-runc-ignores-keep-groups"),
])
def test_gpu_only_when_the_container_can_open_it(dri: DriAccess, runtime: str, expected: list[str]) -> None:
    args = argv(run_argv(SPEC, dataclasses.replace(PULSEAUDIO_HOST, dri=dri, runtime=runtime)))
    assert [a for a in args if a.startswith(("--device", "--group-add"))] == expected


def test_network_only_when_configured() -> None:
    assert not any(a.startswith("--network") for a in argv(run_argv(SPEC, PULSEAUDIO_HOST)))
    args = argv(run_argv(dataclasses.replace(SPEC, network="none"), PULSEAUDIO_HOST))
    assert "--network=none" in args


def test_limits_extra_args_and_spotify_args_in_order() -> None:
    spec = dataclasses.replace(SPEC, shm_size="2g", ulimits=("nofile=65536:65536",),
                               extra_run_args=("--hostname=spotify",), config_spotify_args=("--disable-gpu",),
                               cli_spotify_args=("--uri=spotify:track:1",))
    args = argv(run_argv(spec, PULSEAUDIO_HOST))
    assert "--shm-size=2g" in args
    tail = args[args.index("--ulimit=nofile=65536:65536"):]
    assert tail == ["--ulimit=nofile=65536:65536", "--hostname=spotify", "--entrypoint=/usr/bin/spotify",
                    "spotify_pod", "--disable-gpu", "--uri=spotify:track:1", AUDIO_API_PULSE]


def test_user_chosen_audio_api_is_left_alone() -> None:
    args = argv(run_argv(dataclasses.replace(SPEC, cli_spotify_args=("--audio-api=alsa",)), PULSEAUDIO_HOST))
    assert args[-1] == "--audio-api=alsa" and AUDIO_API_PULSE not in args


def test_unknown_display_and_audio_leave_them_out_and_say_so() -> None:
    host = HostFacts(mapped_uid=None)
    args = argv(run_argv(SPEC, host))
    assert not any("DISPLAY" in a or "X11" in a or "PULSE" in a for a in args)
    assert missing_parts(host) == [
        "no X display (DISPLAY is not set): Spotify cannot open a window",
        "no pulse socket for the container: Spotify will have no sound",
    ]
    assert "a subordinate host uid" in dict(run_argv(SPEC, host))["--user=1500:1500"]


def test_missing_cookie_file_is_reported() -> None:
    host = dataclasses.replace(PULSEAUDIO_HOST, x11_cookie=None)
    assert not any("XAUTHORITY" in a for a in argv(run_argv(SPEC, host)))
    assert missing_parts(host) == ["no X cookie file for the container: the X server will refuse Spotify"]


def test_spec_from_config_joins_config_and_command_line() -> None:
    config = Config(image="img", container_name="c", storage_dir="~/music/spotify", profile="keep-id",
                    shm_size="2g", network="slirp4netns", spotify_args=("--a",), ulimits=("nofile=1:2",),
                    extra_run_args=("--x",), container_uid=1234)
    spec = RunSpec.from_config(config, home="/home/alice", log_path=LOG, network="none", spotify_args=["--b"])
    assert spec == RunSpec(image="img", container_name="c", log_path=LOG, storage_dir="/home/alice/music/spotify",
                           profile="keep-id", uid=1234, shm_size="2g", network="none", ulimits=("nofile=1:2",),
                           extra_run_args=("--x",), config_spotify_args=("--a",), cli_spotify_args=("--b",))
    assert RunSpec.from_config(config, home="/home/alice", log_path=LOG).network == "slirp4netns"
