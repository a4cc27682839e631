"""The sandbox-widening audit and the podman-run option parser behind it."""
from __future__ import annotations

import pytest

from spotidoctor.hardening.runopts import RunOption, parse_run_args
from spotidoctor.hardening.widening import Audit, HostContext, Widening, audit, audit_run_args

HOST = HostContext(home="/home/alice", uid=1000, runtime_dir="/run/user/1000")


def opens(*args: str) -> list[str]:
    result = audit_run_args(args, HOST)
    assert result.problems == () and result.unrecognised == ()
    return [w.opens for w in result.widenings]


def settings(*args: str) -> list[str]:
    return [w.setting for w in audit_run_args(args, HOST).widenings]


# -- the parser ----------------------------------------------------------------------------------

def test_pflag_spellings() -> None:
    parsed = parse_run_args(["--volume=/a:/b", "--volume", "/c:/d", "-v", "/e:/f", "-v/g:/h", "-v=/i:/j",
                             "-it", "--privileged", "--privileged=false", "--net", "host", "-e", "A=1"])
    assert [(o.name, o.value) for o in parsed.options] == [
        ("volume", "/a:/b"), ("volume", "/c:/d"), ("volume", "/e:/f"), ("volume", "/g:/h"), ("volume", "/i:/j"),
        ("interactive", None), ("tty", None), ("privileged", None), ("privileged", "false"),
        ("network", "host"), ("env", "A=1")]
    assert parsed.problems == ()


def test_value_option_takes_the_next_argument_even_with_a_dash() -> None:
    parsed = parse_run_args(["--name", "--privileged"])  # pflag: the name is "--privileged"
    assert parsed.options == (RunOption("name", "--privileged", "--name --privileged"),)
    assert audit_run_args(["--name", "--privileged"], HOST).widenings == ()


def test_short_cluster_ending_in_a_value_option() -> None:
    parsed = parse_run_args(["-itv", "/:/host"])
    assert [(o.name, o.value) for o in parsed.options] == [("interactive", None), ("tty", None),
                                                           ("volume", "/:/host")]


@pytest.mark.parametrize("args", [["ubuntu"], ["--privileged", "ubuntu", "sh"], ["--"], ["-"]])
def test_positional_arguments_are_problems(args: list[str]) -> None:
    parsed = parse_run_args(args)
    assert len(parsed.problems) == 1
    assert "podman would run" in parsed.problems[0] and "as the image" in parsed.problems[0]


def test_missing_value_is_a_problem() -> None:
    assert parse_run_args(["--volume"]).problems == ("--volume needs a value (podman would refuse the command)",)
    assert parse_run_args(["--volume="]).problems == ()  # an explicit empty value: podman's to judge


def test_unknown_options_are_reported_not_guessed() -> None:
    result = audit_run_args(["--gpus", "all", "-Z", "--frobnicate"], HOST)
    assert result.problems == ()  # "all" is taken as --gpus' value, not as the image
    assert result.unrecognised == (
        "extra_run_args: --gpus all: not an option of podman 4.3's `podman run`; spotidoctor cannot tell what it "
        "opens", "extra_run_args: -Z: not an option of podman 4.3's `podman run`; spotidoctor cannot tell what "
        "it opens", "extra_run_args: --frobnicate: not an option of podman 4.3's `podman run`; spotidoctor "
        "cannot tell what it opens")


# -- what widens -------------------------------------------------------------------------------------

def test_privileged_in_every_spelling() -> None:
    for spelled in ("--privileged", "--privileged=true", "--privileged=1"):
        assert len(opens(spelled)) == 1 and "every capability" in opens(spelled)[0]
    assert opens("--privileged=false") == []


@pytest.mark.parametrize("args", [["--pid=host"], ["--pid", "host"], ["--ipc=host"], ["--uts=host"],
                                  ["--network=host"], ["--net=host"], ["--net", "host"], ["--cgroupns=host"]])
def test_host_namespaces(args: list[str]) -> None:
    assert len(opens(*args)) == 1


def test_namespace_texts() -> None:
    assert "every service listening on localhost" in opens("--network=host")[0]
    assert "process list" in opens("--pid=host")[0]
    assert opens("--ipc=container:other") == ["container other's ipc namespace (and whatever that container can "
                                              "reach)"]
    assert opens("--network=ns:/proc/1/ns/net") == ["the network namespace at /proc/1/ns/net"]
    assert "loopback" in opens("--network=slirp4netns:allow_host_loopback=true")[0]
    assert opens("--network=none", "--network=slirp4netns", "--ipc=private", "--pid=private", "--uts=private") == []


def test_user_namespaces() -> None:
    assert "your own uid" in opens("--userns=keep-id")[0]
    assert "your own uid" in opens("--userns=keep-id:uid=1500,gid=1500")[0]
    assert "podman unshare" in opens("--userns=host")[0]
    assert opens("--userns=auto", "--userns=nomap") == []
    assert "custom id mapping (0:1:1)" in opens("--uidmap=0:1:1")[0]


def test_capabilities() -> None:
    assert opens("--cap-add=ALL") == ["every Linux capability (Spotify needs none; spotidoctor drops them all)"]
    assert opens("--cap-add", "sys_admin,NET_RAW") == [
        "the Linux capabilities CAP_SYS_ADMIN, CAP_NET_RAW (Spotify needs none; spotidoctor drops them all)"]
    assert opens("--cap-drop=ALL") == []


def test_devices() -> None:
    assert "every keystroke" in opens("--device=/dev/input/event3")[0]
    assert opens("--device", "/dev/snd") == ["/dev/snd: the sound hardware directly, bypassing the sound server"]
    assert opens("--device=/dev/sda:/dev/xvda:rwm") == ["the host device /dev/sda"]
    assert opens("--device-cgroup-rule=c 13:* rmw") == ["devices matching the cgroup rule 'c 13:* rmw'"]


@pytest.mark.parametrize(("args", "expected"), [
    (["--volume=/:/host"], "the whole host filesystem (writable)"),
    (["-v", "/:/host:ro"], "the whole host filesystem (read-only)"),
    (["-v", "/home/alice:/h"], "your whole home directory (writable)"),
    (["-v", "/home/alice/:/h:ro,z"], "your whole home directory (read-only)"),
    (["-v", "/home:/h"], "your whole home directory (writable)"),  # a parent of $HOME
    (["-v", "/home/alice/Music:/m:ro"], "part of your home directory: /home/alice/Music (read-only)"),
    (["-v", "/run/user/1000:/r"], "your session's runtime directory"),
    (["-v", "/run/user/1000/bus:/bus"], "the D-Bus session bus"),
    (["-v", "/run/user/1000/pulse/native:/p"], "your sound server, unfiltered"),
    (["-v", "/var/run/docker.sock:/var/run/docker.sock"], "a container engine's API socket"),
    (["-v", "/run/user/1000/podman/podman.sock:/s:ro"], "a container engine's API socket"),
    (["-v", "/var/run/dbus/system_bus_socket:/s"], "the system D-Bus"),
    (["-v", "/tmp/.X11-unix:/tmp/.X11-unix"], "every X display's socket"),
    (["-v", "/dev:/dev"], "every host device node"),
    (["-v", "/srv/data:/data"], "the host path /srv/data (writable)"),
    (["-v", "./here:/data"], "the host path ./here (relative to where podman runs; writable)"),
    (["--mount", "type=bind,source=/,target=/host"], "the whole host filesystem (writable)"),
    (["--mount=type=bind,src=/home/alice,dst=/h,readonly=true"], "your whole home directory (read-only)"),
    (["--mount=type=glob,src=/run/user/1000/*,dst=/r"], "your session's runtime directory"),
    (["--volumes-from=other:ro"], "every volume and bind mount of container other"),
])
def test_mounts(args: list[str], expected: str) -> None:
    assert opens(*args)[0].startswith(expected)


def test_mount_options_that_change_host_files() -> None:
    assert opens("-v", "/srv/x:/x:U,z")[1:] == [":U chowns the host source to the container's user",
                                                ":z/:Z relabels the host source for SELinux (host programs may "
                                                "lose access to it)"]


def test_volumes_that_open_nothing_of_the_host() -> None:
    assert opens("-v", "cache:/cache", "-v", "/scratch", "--mount=type=tmpfs,target=/t",
                 "--mount=type=volume,source=v,target=/v", "--tmpfs=/run") == []


@pytest.mark.parametrize(("opt", "expected"), [
    ("seccomp=unconfined", "no seccomp filter"),
    ("seccomp:unconfined", "no seccomp filter"),  # the deprecated colon form
    ("apparmor=unconfined", "no AppArmor confinement"),
    ("label=disable", "no SELinux separation"),
    ("label=type:spc_t", "the SELinux type spc_t"),
    ("unmask=ALL", "unmasks ALL"),
    ("systempaths=unconfined", "unmasks every kernel file"),
    ("seccomp=/tmp/profile.json", "the seccomp profile /tmp/profile.json"),
])
def test_security_opts(opt: str, expected: str) -> None:
    assert opens("--security-opt", opt)[0].startswith(expected)
    assert opens(f"--security-opt={opt}")[0].startswith(expected)


def test_security_opts_that_narrow() -> None:
    assert opens("--security-opt=no-new-privileges", "--security-opt=mask=/proc/x") == []


def test_environment() -> None:
    assert opens("-e", "LD_PRELOAD=/x.so") == ["LD_PRELOAD loads the named libraries into every program in the "
                                               "container"]
    assert opens("--env=SSH_AUTH_SOCK") == ["copies your own SSH_AUTH_SOCK value into the container"]
    assert opens("-e", "AWS*") == ["copies every variable of yours matching AWS* into the container"]
    assert "overrides the PULSE_SERVER" in opens("-e", "PULSE_SERVER=tcp:10.0.2.2")[0]
    assert "whole environment" in opens("--env-host")[0]
    assert opens("--env-host=false", "-e", "LANG=C.UTF-8") == []
    assert opens("--env-file=/home/alice/.env") == ["the variables in /home/alice/.env (from the host) are set in "
                                                    "the container"]


def test_user_group_pod_ports_and_the_rest() -> None:
    assert "container's root, which is you" in opens("--user=root")[0]
    assert "container's root, which is you" in opens("-u", "0:0")[0]
    assert opens("-u", "1600") == ["overrides spotidoctor's --user (Spotify runs as 1600 instead of the container "
                                   "user)"]
    assert "supplementary groups" in opens("--group-add=keep-groups")[0]
    assert opens("--group-add", "input") == ["membership of group input: every file that group can open"]
    assert opens("--pod=media") == ["the namespaces of pod media (and what its other containers can reach)"]
    assert "listens on the host" in opens("-p", "8080:80")[0]
    assert "every exposed port" in opens("-P")[0]
    assert opens("--annotation=run.oci.keep_original_groups=1") == ["keeps your supplementary groups in the "
                                                                    "container (crun)"]
    assert opens("--secret=token") == ["the podman secret token"]
    assert "file descriptors" in opens("--preserve-fds=2")[0]
    assert "HOST directory" in opens("--rootfs")[0]


def test_harmless_options_open_nothing() -> None:
    assert opens("--rm", "--init", "--tz=local", "--shm-size=2g", "--ulimit=nofile=4096:4096", "--memory=2g",
                 "--cpus=2", "--hostname=box", "--label=a=b", "--dns=1.1.1.1", "-e", "LANG=C.UTF-8",
                 "--read-only", "--cap-drop=all", "--security-opt=no-new-privileges") == []


def test_settings_quote_what_the_user_wrote() -> None:
    assert settings("--pid", "host", "-v", "/:/h") == ["extra_run_args: --pid host", "extra_run_args: -v /:/h"]


# -- the whole configuration --------------------------------------------------------------------------------

def test_config_settings() -> None:
    result = audit(extra_run_args=("--privileged",), host=HOST, network="host", profile="keep-id",
                   share_pipewire=True)
    assert [w.setting for w in result.widenings] == ['network = "host"', 'profile = "keep-id"',
                                                     "share_pipewire = true", "extra_run_args: --privileged"]
    assert result.widenings[0].line.startswith('network = "host": the host\'s network stack')


def test_default_configuration_widens_nothing() -> None:
    assert audit(extra_run_args=(), host=HOST) == Audit((), (), ())


def test_problems_pass_through() -> None:
    result = audit(extra_run_args=("--volume=/:/h", "ubuntu"), host=HOST)
    assert len(result.widenings) == 1 and len(result.problems) == 1


def test_runtime_dir_defaults_to_run_user() -> None:
    host = HostContext(home="/home/bob", uid=1001)
    assert audit_run_args(["-v", "/run/user/1001:/r"], host).widenings[0].opens.startswith(
        "your session's runtime directory")
    assert Widening("x", "y").line == "x: y"
