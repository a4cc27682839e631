"""pulse.* against real PulseAudio and real PipeWire + pipewire-pulse, a hung socket, a different
uid through ``podman unshare``, and the real CLI (check, fix, fix --dry-run).

Every server runs with a private HOME / XDG tree (``server.env``); spotidoctor runs with
that same env, so the user's own daemons and files are never touched. Run as the
unprivileged test user: ``.ci/test-as-user tests/integration/test_pulse.py``.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from spotidoctor import layout
from spotidoctor.checks.pulse import CHECKS
from spotidoctor.engine.planning import plan
from spotidoctor.engine.runner import Runner
from spotidoctor.errors import ProbeTimeout
from spotidoctor.model import CheckResult, Status
from spotidoctor.paths import Paths
from spotidoctor.probes.pulse import ConnectOutcome, PulsectlProbe
from tests import servers
from tests.realcontext import real_context

FAST = ("--ignore", "pulse.container-access")  # the podman part has its own tests
# Direct mode: a warning saying what it exposes, no filter to test, and nothing exposed on these servers.
MODE = "pulse.audio-mode"
DIRECT_MODE = {MODE: "fail", "pulse.filter-access": "skip", "pulse.exposure": "ok"}


def _direct(server: servers.PulseServer) -> servers.PulseServer:
    """These checks prepare the original design's direct socket: its users opt in with audio = "direct"
    (the default filter needs none of it; tests/integration/test_isolation.py)."""
    config = server.config_home / "spotidoctor" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('audio = "direct"\n')
    return server


@pytest.fixture
def pulseaudio(pulseaudio: servers.PulseServer) -> servers.PulseServer:
    return _direct(pulseaudio)


@pytest.fixture
def pipewire(pipewire: servers.PulseServer) -> servers.PulseServer:
    return _direct(pipewire)


def run_checks(env: dict[str, str], selector: str = "pulse", *ignore: str) -> dict[str, CheckResult]:
    """In-process, through ``Probes.real(env)`` (env differs from os.environ: the lock path)."""
    ctx = real_context(env)
    report = Runner(ctx).run(plan(CHECKS, [selector], ignore))
    return {r.check_id: r for r in report.results}


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "spotidoctor", *args], env=env, capture_output=True,
                          text=True, timeout=180)


def cli_results(env: dict[str, str], *args: str) -> dict[str, dict[str, Any]]:
    done = cli(env, "check", "--json", *args)
    assert done.returncode in (0, 1), done.stderr
    return {r["id"]: r for r in json.loads(done.stdout)["results"]}


def advice_lines(output: str) -> list[str]:
    """What a run still advises, less pulse.server's null-sink advice (the test servers' only sink
    is a null sink, so that warning stays)."""
    return [line for line in output.splitlines() if "→" in line and "pactl list short cards" not in line]


def paths_of(server: servers.PulseServer) -> Paths:
    return Paths.from_env(server.env, server.env["HOME"])


def snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    """Every file under ``root``: (mtime_ns, content) — to prove a second fix changes nothing.

    spotidoctor's own lock file is rewritten by every ``fix`` by design; it is left out, and so
    is wireplumber's state, which wireplumber saves a while after the default sink changed
    (on a busy machine during the second fix).
    """
    found = {}
    for path in sorted(root.rglob("*")):
        if "wireplumber" in path.parts:
            continue
        if path.is_file() and not path.is_symlink() and path.name != "lock":
            found[str(path)] = (path.stat().st_mtime_ns, path.read_bytes())
    return found


def subordinate_uid(container_uid: int) -> int:
    """The host uid of ``container_uid`` in the default rootless mapping (0 -> you, 1.. -> subuids)."""
    done = subprocess.run(["podman", "unshare", "cat", "/proc/self/uid_map"], capture_output=True, text=True,
                          timeout=60, check=True)
    for line in done.stdout.splitlines():
        inside, outside, count = map(int, line.split())
        if inside <= container_uid < inside + count:
            return outside + container_uid - inside
    raise AssertionError(f"uid {container_uid} is not mapped: {done.stdout}")


@pytest.fixture
def pause_cleanup(tmp_path: Path) -> Iterator[list[dict[str, str]]]:
    """Envs whose private podman pause process must be stopped at teardown."""
    envs: list[dict[str, str]] = []
    yield envs
    for env in envs:
        servers.stop_podman_pause(env)


# -- server reachable ------------------------------------------------------------------------

def test_server_kind_and_default_sink(any_pulse: servers.PulseServer) -> None:
    # The test servers' only sink is a null sink (no sound hardware here): a warning, as it must be.
    result = run_checks(any_pulse.env, "pulse.server")["pulse.server"]
    assert result.status is Status.WARN, result
    assert result.summary.endswith("has only a null sink (testsink): nothing will be heard"), result
    assert result.facts["server_kind"] == any_pulse.kind
    assert result.facts["default_sink"] == "testsink"
    if any_pulse.kind == "pipewire":
        assert str(result.facts["server_name"]).startswith("PulseAudio (on PipeWire ")
        assert result.summary.startswith("PipeWire 0.3")
    else:
        assert result.facts["server_name"] == "pulseaudio"
        assert result.summary.startswith("PulseAudio 16")


def test_no_server_is_refused_not_timed_out(tmp_path: Path) -> None:
    env = servers.base_env(tmp_path / "none")
    result = run_checks(env, "pulse.server")["pulse.server"]
    assert (result.status, result.summary) == (Status.FAIL, "no pulse server is running")
    assert f"nothing at {env['XDG_RUNTIME_DIR']}/pulse/native" in result.messages[0].text


@pytest.fixture
def hung(tmp_path: Path) -> Iterator[tuple[dict[str, str], Path]]:
    """A private env whose default pulse socket accepts connections and never answers."""
    env = servers.base_env(tmp_path / "hung")
    pulse_dir = Path(env["XDG_RUNTIME_DIR"]) / "pulse"
    pulse_dir.mkdir(mode=0o700)
    server = servers.hung_unix_server(pulse_dir / "native")
    yield env, pulse_dir / "native"
    server.close()


def test_probe_on_a_hung_server_raises_probe_timeout_naming_the_socket(hung: tuple[dict[str, str], Path]) -> None:
    env, socket = hung
    with pytest.raises(ProbeTimeout) as caught:
        PulsectlProbe(env, connect_timeout=1.0).server_info()
    assert f"unix:{socket}" in caught.value.reason and "did not answer" in caught.value.reason


def test_check_on_a_hung_server_ends_and_names_it(hung: tuple[dict[str, str], Path]) -> None:
    env, socket = hung
    result = cli_results(env, "pulse.server")["pulse.server"]
    assert (result["status"], result["summary"]) == ("fail", "the pulse server hangs")
    assert f"the pulse server at unix:{socket} accepted the connection but did not answer within 3s" \
        == result["messages"][0]["text"]


# -- PulseAudio: module missing -> fail -> fix -> pass ------------------------------------------

def test_pulseaudio_missing_module_is_fixed_and_second_fix_changes_nothing(
        pulseaudio: servers.PulseServer) -> None:
    env, paths = pulseaudio.env, paths_of(pulseaudio)
    before = cli_results(env, "pulse", *FAST)
    assert before["pulse.container-socket"]["status"] == "fail"
    assert before["pulse.container-socket"]["summary"] == "no container socket: the socket module is not loaded"
    assert before["pulse.client-config"]["status"] == "skip"

    dry = cli(env, "fix", "--dry-run", "pulse", *FAST)
    assert "+.include /etc/pulse/default.pa" in dry.stdout
    assert "+load-module module-native-protocol-unix socket=pulse-socket auth-cookie=pulse-cookie" in dry.stdout
    assert not (pulseaudio.config_home / "pulse" / "default.pa").exists()  # a dry run changes nothing

    done = cli(env, "fix", "pulse", *FAST)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "pulse.container-socket: fixed (verified)" in done.stdout
    assert "pulse.client-config: fixed (verified)" in done.stdout

    after = cli_results(env, "pulse", *FAST)
    assert {cid: r["status"] for cid, r in after.items()} == {
        **DIRECT_MODE, "pulse.server": "warn", "pulse.container-socket": "ok", "pulse.persistence": "ok",
        "pulse.leftovers": "ok", "pulse.output-api": "ok", "pulse.client-config": "ok"}  # warn: a null sink
    socket = pulseaudio.runtime_dir / "pulse" / "pulse-socket"
    cookie = pulseaudio.config_home / "pulse" / "pulse-cookie"
    assert after["pulse.container-socket"]["facts"] == {
        "server_kind": "pulseaudio", "server_name": "pulseaudio", "container_socket": str(socket),
        "cookie_path": str(cookie)}
    assert after["pulse.client-config"]["facts"] == {
        "client_conf": layout.pulse_client_conf(paths), "cookie_copy": layout.pulse_cookie_copy(paths)}
    assert after["pulse.output-api"]["facts"] == {"audio_api": "pulseaudio", "pipewire_socket": None}
    copy = Path(layout.pulse_cookie_copy(paths))
    assert copy.read_bytes() == cookie.read_bytes() and len(copy.read_bytes()) == 256
    assert oct(copy.stat().st_mode & 0o777) == "0o644"
    default_pa = (pulseaudio.config_home / "pulse" / "default.pa").read_text()
    assert default_pa.splitlines()[0] == ".include /etc/pulse/default.pa"
    assert default_pa.count("load-module module-native-protocol-unix") == 1
    cookie_hex = cookie.read_bytes().hex()
    assert cookie_hex not in done.stdout + dry.stdout + json.dumps(after)  # never shown

    home = Path(env["HOME"])
    runtime = pulseaudio.runtime_dir / "spotidoctor"
    state = snapshot(home), snapshot(runtime)
    again = cli(env, "fix", "pulse", *FAST, "--ignore", MODE)  # its advice has an arrow too
    assert again.returncode == 0 and not advice_lines(again.stdout), again.stdout
    assert (snapshot(home), snapshot(runtime)) == state


def test_runtime_only_module_warns_and_persisting_it_passes(pulseaudio: servers.PulseServer) -> None:
    loaded = pulseaudio.pactl("load-module", "module-native-protocol-unix", "socket=pulse-socket",
                              "auth-cookie=pulse-cookie")
    assert loaded.returncode == 0, loaded.stderr
    result = run_checks(pulseaudio.env, "pulse.persistence")["pulse.persistence"]
    assert result.status is Status.WARN
    assert result.summary.endswith("is loaded at runtime only: gone after the next PulseAudio restart")
    assert [f.id for f in result.fixes] == ["pulse.persist-default-pa"]
    done = cli(pulseaudio.env, "fix", "pulse.persistence")
    assert "pulse.persistence: fixed (verified)" in done.stdout, done.stdout


def test_user_default_pa_without_include_fails(pulseaudio: servers.PulseServer) -> None:
    default_pa = pulseaudio.config_home / "pulse" / "default.pa"
    default_pa.parent.mkdir(parents=True, exist_ok=True)
    default_pa.write_text("load-module module-null-sink\n")
    result = run_checks(pulseaudio.env, "pulse.persistence")["pulse.persistence"]
    assert (result.status, result.summary) == (Status.FAIL,
                                               f"{default_pa} disables the system PulseAudio configuration")
    dry = cli(pulseaudio.env, "fix", "--dry-run", "pulse.persistence")
    assert f"--- {default_pa} (current)" in dry.stdout
    diff = [line.strip() for line in dry.stdout.splitlines()]
    start = diff.index("@@ -1 +1,5 @@")
    assert diff[start:start + 6] == [
        "@@ -1 +1,5 @@", "+.include /etc/pulse/default.pa", "load-module module-null-sink",
        "+# Added by spotidoctor (pulse.persistence): the Spotify container's audio socket.", "+.nofail",
        "+load-module module-native-protocol-unix socket=pulse-socket auth-cookie=pulse-cookie"]
    assert default_pa.read_text() == "load-module module-null-sink\n"


def test_a_deleted_cookie_file_fails_the_socket_check(pulseaudio: servers.PulseServer) -> None:
    assert pulseaudio.pactl("load-module", "module-native-protocol-unix", "socket=pulse-socket",
                            "auth-cookie=pulse-cookie").returncode == 0
    (pulseaudio.config_home / "pulse" / "pulse-cookie").unlink()
    result = run_checks(pulseaudio.env, "pulse.container-socket")["pulse.container-socket"]
    assert result.status is Status.FAIL
    assert "is missing (the server still uses the old one in memory)" in result.summary


def test_an_unreadable_cookie_is_named_and_the_safe_fix_makes_it_readable(pulseaudio: servers.PulseServer) -> None:
    assert pulseaudio.pactl("load-module", "module-native-protocol-unix", "socket=pulse-socket",
                            "auth-cookie=pulse-cookie").returncode == 0
    cookie = pulseaudio.config_home / "pulse" / "pulse-cookie"
    cookie.chmod(0)
    result = run_checks(pulseaudio.env, "pulse.container-socket")["pulse.container-socket"]
    assert (result.status, result.summary) == (Status.FAIL, f"cannot read the cookie file {cookie}: Permission denied")
    assert f"(owner uid {os.getuid()}, mode 0000)" in result.messages[0].text
    assert result.fixes[0].applicability.name == "SAFE"
    done = cli(pulseaudio.env, "fix", "--yes", "pulse")
    assert done.returncode == 0, done.stdout + done.stderr
    assert stat.S_IMODE(cookie.stat().st_mode) == 0o600
    after = cli_results(pulseaudio.env, "pulse.container-socket", "pulse.client-config")
    assert after["pulse.container-socket"]["status"] == "ok" and after["pulse.client-config"]["status"] == "ok"


# -- a different uid: only with the cookie (PulseAudio) -------------------------------------------

def test_other_uid_connects_only_with_the_cookie(pulseaudio: servers.PulseServer, podman: str,
                                                 pause_cleanup: list[dict[str, str]], tmp_path: Path) -> None:
    pause_cleanup.append(pulseaudio.env)
    assert pulseaudio.pactl("load-module", "module-native-protocol-unix", "socket=pulse-socket",
                            "auth-cookie=pulse-cookie").returncode == 0
    socket = str(pulseaudio.runtime_dir / "pulse" / "pulse-socket")
    cookie = pulseaudio.config_home / "pulse" / "pulse-cookie"
    wrong = tmp_path / "wrong-cookie"
    wrong.write_bytes(secrets.token_bytes(256))
    wrong.chmod(0o600)
    probe = PulsectlProbe(pulseaudio.env)
    with_cookie = probe.connect_as(1500, 1500, socket, str(cookie))
    without = probe.connect_as(1500, 1500, socket, None)
    with_wrong = probe.connect_as(1500, 1500, socket, str(wrong))
    main_socket = probe.connect_as(1500, 1500, str(pulseaudio.native_socket), str(cookie))
    assert (with_cookie.outcome, with_cookie.server_name) == (ConnectOutcome.OK, "pulseaudio")
    assert without.outcome is ConnectOutcome.ACCESS_DENIED, without
    assert with_wrong.outcome is ConnectOutcome.ACCESS_DENIED, with_wrong
    assert main_socket.outcome is ConnectOutcome.ACCESS_DENIED  # cookies are per module
    # The server really saw a foreign uid (the subordinate uid of container uid 1500), not ours.
    seen = {int(uid) for uid in re.findall(r"Got credentials: uid=(\d+)", pulseaudio.log.read_text())}
    assert seen - {os.getuid()}, seen


def test_other_uid_on_a_hung_socket_times_out_and_leaves_nothing_behind(
        podman: str, pause_cleanup: list[dict[str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import psutil

    from spotidoctor.probes import pulse as pulse_probe

    env = servers.base_env(tmp_path / "hung-other")
    pause_cleanup.append(env)
    hung = servers.hung_unix_server(tmp_path / "hung.sock")
    (tmp_path / "hung.sock").chmod(0o777)  # like a real pulse socket: connectable by other uids
    monkeypatch.setattr(pulse_probe, "OTHER_UID_TIMEOUT_S", 3.0)

    # An unusual container uid, so that other tests' containers (uid 1500) cannot be mistaken for ours.
    uid = 1234
    host_uid = subordinate_uid(uid)

    def ours() -> list[str]:
        found = [p for p in psutil.process_iter(["uids"]) if p.info["uids"] and p.info["uids"].real == host_uid]
        _, alive = psutil.wait_procs(found, timeout=5)  # killed, maybe not reaped yet
        return [f"{p.pid} {p.status()} {p.cmdline()}" for p in alive if p.status() != psutil.STATUS_ZOMBIE]

    try:
        result = PulsectlProbe(env).connect_as(uid, uid, str(tmp_path / "hung.sock"), None)
    finally:
        hung.close()
    assert (result.outcome, result.detail) == (ConnectOutcome.TIMEOUT, "pactl as uid 1234 got no answer within 3s")
    assert ours() == []  # the whole process group was killed, pactl included


def test_container_access_check_end_to_end(pulseaudio: servers.PulseServer, podman: str,
                                           pause_cleanup: list[dict[str, str]]) -> None:
    pause_cleanup.append(pulseaudio.env)
    assert cli(pulseaudio.env, "fix", "pulse", *FAST).returncode == 0
    result = cli_results(pulseaudio.env, "pulse.container-access")["pulse.container-access"]
    assert result["status"] == "ok", result
    assert result["summary"] == (f"container uid 1500 connects to {pulseaudio.runtime_dir}/pulse/pulse-socket "
                                 "with the cookie and is refused without it (Access denied)")


def test_container_access_fails_with_a_changed_cookie(pulseaudio: servers.PulseServer, podman: str,
                                                      pause_cleanup: list[dict[str, str]]) -> None:
    """The cookie file replaced after loading: the module still wants the old one."""
    pause_cleanup.append(pulseaudio.env)
    assert pulseaudio.pactl("load-module", "module-native-protocol-unix", "socket=pulse-socket",
                            "auth-cookie=pulse-cookie").returncode == 0
    cookie = pulseaudio.config_home / "pulse" / "pulse-cookie"
    cookie.write_bytes(secrets.token_bytes(256))
    results = run_checks(pulseaudio.env, "pulse.container-access")
    result = results["pulse.container-access"]
    assert result.status is Status.FAIL, result
    assert "cannot use" in result.summary and "Access denied" in result.summary


# -- PipeWire: the drop-in path -------------------------------------------------------------------

def test_pipewire_drop_in_fix_restart_then_pass(pipewire: servers.PulseServer, podman: str,
                                                pause_cleanup: list[dict[str, str]]) -> None:
    pause_cleanup.append(pipewire.env)
    env, paths = pipewire.env, paths_of(pipewire)
    before = cli_results(env, "pulse", *FAST)
    assert before["pulse.container-socket"]["status"] == "fail"
    assert before["pulse.container-socket"]["summary"] == "pipewire-pulse has no container socket configured"
    assert [f["id"] for f in before["pulse.container-socket"]["fixes"]] == [
        "pulse.write-pipewire-drop-in", "pulse.restart-pipewire-pulse"]

    dry = cli(env, "fix", "--dry-run", "pulse", *FAST)
    assert '     +    server.address = [ "unix:native" "unix:pulse-socket" ]' in dry.stdout.splitlines()
    assert "[manual, user] — not applied (manual: run the commands yourself)" in dry.stdout
    done = cli(env, "fix", "pulse", *FAST)
    drop_in = Path(layout.pipewire_drop_in(paths))
    assert drop_in.is_file(), done.stdout
    assert 'server.address = [ "unix:native" "unix:pulse-socket" ]' in drop_in.read_text()
    assert "manual: run the commands yourself" in done.stdout  # no systemd user unit here
    middle = run_checks(env, "pulse.container-socket")["pulse.container-socket"]
    assert middle.summary == "the container socket is configured but pipewire-pulse has not opened it yet"

    assert "then run `spotidoctor fix`" in done.stdout
    assert Path(layout.pulse_client_conf(paths)).is_file()  # done in the first pass: it needs no socket

    servers.restart_pipewire_with_testsink(pipewire)
    assert pipewire.native_socket.is_socket()  # "unix:native" was kept
    # Nothing is left for a second fix: the restart was the only step.
    after = cli_results(env, "pulse")
    assert {cid: r["status"] for cid, r in after.items()} == {
        **DIRECT_MODE, "pulse.server": "warn", "pulse.container-socket": "ok", "pulse.container-access": "ok",
        "pulse.persistence": "ok", "pulse.leftovers": "ok", "pulse.output-api": "ok",
        "pulse.client-config": "ok"}, after
    socket = f"{pipewire.runtime_dir}/pulse/pulse-socket"
    assert after["pulse.container-socket"]["facts"]["container_socket"] == socket
    assert after["pulse.container-socket"]["facts"]["cookie_path"] is None
    assert after["pulse.client-config"]["facts"]["cookie_copy"] is None
    # A hand-started pipewire leaves pipewire-0 at the umask's 0755: no use for another uid.
    pipewire_0 = pipewire.runtime_dir / "pipewire-0"
    assert after["pulse.output-api"]["facts"] == {"audio_api": "pulseaudio", "pipewire_socket": None}
    assert after["pulse.output-api"]["messages"][0]["text"] == (
        f"{pipewire_0} has mode 0755: the container's uid 1500 (another uid on the host) cannot connect to it")
    pipewire_0.chmod(0o666)  # what systemd's pipewire.socket does
    output = run_checks(env, "pulse.output-api")["pulse.output-api"]
    assert output.facts == {"audio_api": "pulseaudio", "pipewire_socket": None}  # not shared by default
    assert "it is not shared: it exposes the whole PipeWire graph" in output.messages[0].text
    config = Path(env["XDG_CONFIG_HOME"]) / "spotidoctor" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('audio = "direct"\nshare_pipewire = true\n')
    output = run_checks(env, "pulse.output-api")["pulse.output-api"]
    assert output.facts == {"audio_api": "pipewire", "pipewire_socket": str(pipewire_0)}
    assert after["pulse.container-access"]["summary"] == (
        f"container uid 1500 connects to {socket} (PipeWire: no cookie involved)")
    assert "checks no cookie" in after["pulse.container-access"]["messages"][0]["text"]
    state = snapshot(Path(env["HOME"]))
    again = cli(env, "fix", "pulse", *FAST, "--ignore", MODE)  # its advice has an arrow too
    assert not advice_lines(again.stdout) and snapshot(Path(env["HOME"])) == state


def test_pipewire_has_no_socket_module(pipewire: servers.PulseServer) -> None:
    """pipewire-pulse implements no module-native-protocol-unix: the load-now fix cannot apply
    there; the probe says why."""
    from spotidoctor.errors import ProbeUnavailable

    with pytest.raises(ProbeUnavailable) as caught:
        PulsectlProbe(pipewire.env).load_module("module-native-protocol-unix", "socket=x auth-cookie=y")
    assert "Failed to load module" in caught.value.reason


def test_pipewire_drop_in_without_native_fails(pipewire: servers.PulseServer) -> None:
    conf_d = pipewire.config_home / "pipewire" / "pipewire-pulse.conf.d"
    conf_d.mkdir(parents=True)
    (conf_d / "50-mine.conf").write_text('pulse.properties = { server.address = [ "unix:pulse-socket" ] }\n')
    result = run_checks(pipewire.env, "pulse.container-socket")["pulse.container-socket"]
    assert result.status is Status.FAIL
    assert result.summary == f'{conf_d / "50-mine.conf"} sets server.address without "unix:native"'
