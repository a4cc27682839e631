"""Host facts for the launch: from the preflight checks' facts, else from the shared layout."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from spotidoctor.backend.host import dri_access, gather, host_record
from spotidoctor.backend.runargs import DriAccess, HostFacts
from spotidoctor.config import Config
from spotidoctor.facts import (
    AudioApiFacts,
    CookieFacts,
    DisplayFacts,
    Facts,
    MappingFacts,
    PodmanFacts,
    PulseClientFacts,
    PulseSocketFacts,
)
from spotidoctor.model import CheckResult, Status
from spotidoctor.testing import FakeCommand, FakeCommandRunner, FakeFS, make_context

RUN = "/run/user/1600"
FILES = {
    f"{RUN}/spotidoctor/Xauthority-0": b"cookie",
    f"{RUN}/pulse/pulse-socket": b"",
    f"{RUN}/spotidoctor/pulse-cookie": b"c" * 256,
    f"{RUN}/spotidoctor/pulse-client.conf": "autospawn = no\nenable-shm = no\n",
    f"{RUN}/pipewire-0": b"",
}
UID_MAPS = [FakeCommand(("podman", "unshare", "cat", "/proc/self/uid_map"), stdout="0 1600 1\n1 100000 65536\n"),
            FakeCommand(("podman", "unshare", "cat", "/proc/self/gid_map"), stdout="0 1600 1\n1 100000 65536\n")]


def result(check_id: str, **facts: object) -> CheckResult:
    return CheckResult(check_id, Status.OK, "ok", facts=facts)  # type: ignore[arg-type]


def published(facts: Facts) -> CheckResult:
    """The result of the check that publishes ``facts``."""
    return CheckResult(facts.publisher, Status.OK, "ok", facts=facts.to_json())


def podman_facts(runtime: str = "crun", podman_version: str = "4.3.1") -> PodmanFacts:
    return PodmanFacts(podman_version=podman_version, rootless=True, runtime=runtime,
                       runtime_path=f"/usr/bin/{runtime}", keep_groups_supported=runtime == "crun",
                       cgroup_version="v2", cgroup_manager="cgroupfs", log_driver="k8s-file",
                       network_backend="netavark", default_network="slirp4netns", graph_driver="overlay")


PREFLIGHT = [
    published(DisplayFacts(display=":0", display_number=0, socket_path="/tmp/.X11-unix/X0")),
    published(CookieFacts(cookie_file=f"{RUN}/spotidoctor/Xauthority-0", xauthority=None)),
    published(PulseSocketFacts(server_kind="pipewire", server_name="PulseAudio (on PipeWire 0.3.65)",
                               container_socket=f"{RUN}/pulse/pulse-socket", cookie_path=None)),
    published(PulseClientFacts(client_conf=f"{RUN}/spotidoctor/pulse-client.conf", cookie_copy=None)),
    published(AudioApiFacts(audio_api="pipewire", pipewire_socket=f"{RUN}/pipewire-0")),
    published(MappingFacts(host_uid=101499, host_gid=101499)),
    published(podman_facts(runtime="crun")),
]


def test_facts_from_the_preflight_win(tmp_path: Path) -> None:
    ctx = make_context(tmp_path, files=FILES, env={"DISPLAY": ":7"})  # no podman call may happen
    assert gather(ctx, PREFLIGHT) == HostFacts(
        display_number=0, x11_socket="/tmp/.X11-unix/X0", x11_cookie=f"{RUN}/spotidoctor/Xauthority-0",
        audio_server="pipewire", pulse_socket=f"{RUN}/pulse/pulse-socket", pulse_cookie=None,
        pulse_client_conf=f"{RUN}/spotidoctor/pulse-client.conf", pipewire_socket=f"{RUN}/pipewire-0",
        runtime="crun", mapped_uid=101499, user_uid=1600)


def test_without_checks_the_shared_layout_and_podmans_map_are_used(tmp_path: Path) -> None:
    ctx = make_context(tmp_path, files=FILES, env={"DISPLAY": "unix:0.0"}, commands=UID_MAPS,
                       owners={f"{RUN}/spotidoctor/pulse-cookie": (1600, 1600)})
    assert gather(ctx) == HostFacts(
        display_number=0, x11_socket="/tmp/.X11-unix/X0", x11_cookie=f"{RUN}/spotidoctor/Xauthority-0",
        pulse_socket=f"{RUN}/pulse/pulse-socket", pulse_cookie=f"{RUN}/spotidoctor/pulse-cookie",
        pulse_client_conf=f"{RUN}/spotidoctor/pulse-client.conf", mapped_uid=101499, user_uid=1600)


def test_files_a_fix_has_not_created_yet_are_left_out(tmp_path: Path) -> None:
    ctx = make_context(tmp_path, env={"DISPLAY": ":0"})
    host = gather(ctx, [*PREFLIGHT], probe_podman=False)
    assert (host.x11_cookie, host.pulse_socket, host.pulse_client_conf, host.pipewire_socket) == (None,) * 4
    assert host.display_number == 0


@pytest.mark.parametrize("display", ["", "remote.example:0", "garbage"])
def test_no_local_display(tmp_path: Path, display: str) -> None:
    ctx = make_context(tmp_path, files=FILES, env={"DISPLAY": display})
    assert gather(ctx, probe_podman=False).display_number is None


def test_cookie_copy_owned_by_the_container_user_is_flagged(tmp_path: Path) -> None:
    ctx = make_context(tmp_path, files=FILES, owners={f"{RUN}/spotidoctor/pulse-cookie": (101499, 101499)})
    assert gather(ctx, probe_podman=False).pulse_cookie_host_owned is False
    ctx = make_context(tmp_path, files=FILES, owners={f"{RUN}/spotidoctor/pulse-cookie": (1600, 1600)})
    assert gather(ctx, probe_podman=False).pulse_cookie_host_owned is True


def test_keep_id_never_asks_for_the_subordinate_mapping(tmp_path: Path) -> None:
    ctx = make_context(tmp_path, files=FILES, config=Config(profile="keep-id"))
    assert gather(ctx).mapped_uid is None


def test_selinux_enforcing(tmp_path: Path) -> None:
    ctx = make_context(tmp_path, files={"/sys/fs/selinux/enforce": "1"})
    assert gather(ctx, probe_podman=False).selinux_enforcing
    ctx = make_context(tmp_path / "permissive", files={"/sys/fs/selinux/enforce": "0"})
    assert not gather(ctx, probe_podman=False).selinux_enforcing


class NoAccessFS(FakeFS):
    def access(self, path: str, mode: int) -> bool:
        return False


@pytest.mark.parametrize("mode, fs_class, expected", [
    pytest.param(0o666, FakeFS, DriAccess.WORLD, id="world"),
    pytest.param(0o660, FakeFS, DriAccess.GROUP, id="group"),
    pytest.param(0o660, NoAccessFS, DriAccess.NO_ACCESS, id="no-access"),
])
def test_dri_access(tmp_path: Path, mode: int, fs_class: type[FakeFS], expected: DriAccess) -> None:
    (tmp_path / "dev/dri").mkdir(parents=True)
    node = tmp_path / "dev/dri/renderD128"
    node.write_bytes(b"")
    node.chmod(mode)
    ctx = make_context(tmp_path, fs=fs_class(tmp_path))
    assert dri_access(ctx) is expected


def test_no_dri(tmp_path: Path) -> None:
    assert dri_access(make_context(tmp_path)) is DriAccess.ABSENT


def test_group_gpu_asks_podman_for_the_runtime_once(tmp_path: Path) -> None:
    (tmp_path / "dev/dri").mkdir(parents=True)
    (tmp_path / "dev/dri/renderD128").write_bytes(b"")
    os.chmod(tmp_path / "dev/dri/renderD128", 0o660)
    info = ('{"host": {"ociRuntime": {"name": "crun"}, "security": {"rootless": true}}, '
            '"version": {"Version": "4.3.1"}}')
    runner = FakeCommandRunner([FakeCommand(("podman", "info", "--format", "json"), stdout=info)])
    ctx = make_context(tmp_path, commands=runner, config=Config(profile="keep-id"))
    assert gather(ctx).runtime == "crun" and runner.exhausted


def test_only_the_publishers_well_typed_facts_count(tmp_path: Path) -> None:
    ctx = make_context(tmp_path, files=FILES, env={"DISPLAY": ":0"})
    look_alikes = [result("userns.other", host_uid=1, host_gid=1), result("x11.other", socket_path="/x"),
                   result("x11.display", display=":0", display_number="0", socket_path="/x")]  # "0": not an int
    host = gather(ctx, look_alikes, probe_podman=False)
    assert (host.mapped_uid, host.x11_socket, host.display_number) == (None, "/tmp/.X11-unix/X0", 0)


def test_host_record(tmp_path: Path) -> None:
    ctx = make_context(tmp_path, files={"/proc/sys/vm/overcommit_memory": "2\n",
                                        "/sys/fs/cgroup/cgroup.controllers": "cpu memory\n"},
                       env={"DISPLAY": ":0"})
    assert host_record(ctx, [published(podman_facts(runtime="runc", podman_version="4.3.1"))]) == {
        "vm.overcommit_memory": 2, "cgroup_version": "v2", "runtime": "runc", "podman_version": "4.3.1",
        "audio_server": None, "display": ":0", "selinux_enforcing": False}
