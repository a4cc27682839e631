"""`spotidoctor report` on a real environment (Xvfb, PulseAudio, rootless podman) with
planted canaries: a known pulse cookie, Spotify prefs with autologin credentials, the X
cookie, a secret-looking environment variable, the login and host names. None may appear
anywhere in the archive (names and decompressed contents), while the facts a maintainer
needs are there. A planted leak makes the command fail closed and delete the archive.

The real CLI runs in a subprocess with HOME/XDG_CONFIG_HOME/XDG_STATE_HOME private to the
test; podman keeps the test user's own storage and runtime dir (XDG_DATA_HOME,
XDG_RUNTIME_DIR) so no second rootless podman instance is created.
"""
from __future__ import annotations

import base64
import json
import os
import pwd
import re
import shutil
import socket
import stat
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from spotidoctor import layout
from spotidoctor.crash import launchlog
from spotidoctor.paths import Paths
from spotidoctor.probes.fs import RealFS
from tests import servers

PULSE_COOKIE = bytes((i * 37 + 11) % 256 for i in range(256))
SPOTIFY_USER = "canaryuser"
SPOTIFY_SECRET = "CANARYSECRET-c2VjcmV0LWJsb2ItZm9yLXNwb3RpZG9jdG9y"
ENV_SECRET = "CANARYTOKEN-3f9a7c1e"
FATAL = "[1129/235959.123999:FATAL:memory.cc(40)] Out of memory. size=262144"

DROPIN = '''
from spotidoctor.api import Check, CheckResult, Context, Message
from spotidoctor.bundle.spec import BundleSpec


class CanaryVerdict(Check):
    """What it checks: nothing (a test drop-in). Why it matters: tests. Fix safety: none."""

    id = "crash.reportdev-canary"
    title = "report test crash verdict"

    def run(self, ctx: Context) -> CheckResult:
        return self.fail("Spotify died of SIGTRAP (133): out of memory in /dev/shm",
                         Message.error(f"seen in {ctx.user.home}/launch.log", "launch with --shm-size=1g"))

    def collect(self, spec: BundleSpec, ctx: Context) -> None:
        # A careless check: every one of these must be refused or withheld.
        spec.add_file("~/.config/pulse/cookie", "default-cookie")
        spec.add_file(ctx.env["XAUTHORITY"], "xauthority")
        spec.add_file(ctx.storage_dir + "/config/prefs", "raw-prefs")
        spec.add_command(("cat", ctx.paths.xdg_config_home + "/pulse/pulse-cookie"), "cat-cookie")
        spec.add_env("DISPLAY", "MY_SERVICE_TOKEN", name="env.txt")
        spec.add_text("who.txt", f"{ctx.user.name}@{ctx.env.get('CANARY_HOSTNAME')} in {ctx.user.home}\\n")


CHECKS = (CanaryVerdict,)
'''


@dataclass
class Setup:
    env: dict[str, str]
    home: Path
    out: Path
    state: Path
    secrets: list[bytes]  # byte strings that must not appear anywhere
    cookies: list[bytes]  # raw cookie bytes (also checked as hex and base64)
    launch_log: Path


def _paths(env: dict[str, str]) -> Paths:
    return Paths.from_env(env, env["HOME"])


@pytest.fixture
def setup(tmp_path: Path, xserver: servers.XServer, pulseaudio: servers.PulseServer, podman: str,
          standin_image: str) -> Setup:
    env = dict(pulseaudio.env)
    home = Path(env["HOME"])
    env.update(xserver.env())
    env.update(PULSE_SERVER=pulseaudio.server, MY_SERVICE_TOKEN=ENV_SECRET, CANARY_HOSTNAME=socket.gethostname(),
               # podman: the test user's own storage and runtime dir, not a second rootless instance
               XDG_DATA_HOME=os.path.join(os.environ["HOME"], ".local", "share"),
               XDG_RUNTIME_DIR=os.environ.get("XDG_RUNTIME_DIR", f"/run/user/{os.getuid()}"))
    paths = _paths(env)
    fs = RealFS("/")
    # Canary 1: a known cookie for the container socket (the daemon made ~/.config/pulse/cookie).
    fs.write_atomic(layout.pulse_cookie(paths), PULSE_COOKIE, mode=0o600)
    default_cookie = (Path(paths.xdg_config_home) / "pulse" / "cookie").read_bytes()
    # Canary 2: Spotify prefs with credentials, in the storage's config dir and an account dir.
    prefs = (f'autologin.username="{SPOTIFY_USER}"\nautologin.canonical_username="{SPOTIFY_USER}"\n'
             f'autologin.saved_credentials="{SPOTIFY_SECRET}"\nstorage.size=2048\nui.hardware_acceleration=false\n')
    for rel in (".spotify/config/prefs", f".spotify/config/Users/{SPOTIFY_USER}-user/prefs"):
        target = home / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(prefs)
    # A drop-in check that tries to collect all of it.
    dropins = Path(paths.dropin_dir)
    dropins.mkdir(parents=True, exist_ok=True)
    (dropins / "reportdev_canary.py").write_text(DROPIN)
    # A finished launch with a long log: names, paths, an address and the OOM line.
    log = "".join(f"[1129/2359{i % 60:02d}.1:INFO:noise.cc(1)] line {i}\n" for i in range(2000))
    log += (f"standin: running as {os.environ.get('USER', 'sdtest')} on {socket.gethostname()} "
            f"home {home} peer 192.168.77.5\n{FATAL}\nTrace/breakpoint trap (core dumped)\n")
    log += "".join(f"[1129/235959.2:INFO:tail.cc(1)] tail {i}\n" for i in range(100))
    record = launchlog.LaunchRecord(
        launch_id="20261129-235959-abcdef", directory=os.path.join(paths.launches_dir, "20261129-235959-abcdef"),
        started=1.0, ended=2.0, exit_code=133, image=standin_image,
        argv=("podman", "run", "--rm", "-e", f"MY_SERVICE_TOKEN={ENV_SECRET}", "-v", f"{home}/.spotify/config:/c",
              standin_image))
    launchlog.save(fs, record)
    Path(record.log_path).write_text(log)
    out = tmp_path / "out"
    out.mkdir()
    x_cookie = bytes.fromhex(xserver.cookie_hex)
    login = pwd.getpwuid(os.getuid()).pw_name
    secrets = [SPOTIFY_USER.encode(), SPOTIFY_SECRET.encode(), ENV_SECRET.encode(), str(home).encode(),
               login.encode()]
    return Setup(env, home, out, Path(paths.state_dir), secrets, [PULSE_COOKIE, default_cookie, x_cookie],
                 Path(record.log_path))


def run_report(setup: Setup, *extra: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "spotidoctor", "report", "--image", "localhost/spotidoctor-standin:test",
            "--include-logs", "2", *extra]
    return subprocess.run(argv, env=setup.env, cwd=setup.out, capture_output=True, text=True, timeout=900)


def archive_contents(path: Path) -> tuple[dict[str, bytes], bytes]:
    """Every member (name -> decompressed data) and the raw decompressed tar stream."""
    import gzip

    with tarfile.open(path) as tar:
        members = {m.name: (tar.extractfile(m).read() if m.isfile() else b"")  # type: ignore[union-attr]
                   for m in tar.getmembers()}
        owners = {(m.uid, m.gid, m.uname, m.gname) for m in tar.getmembers()}
    assert owners == {(0, 0, "", "")}
    return members, gzip.decompress(path.read_bytes())


def host_name_leaks(blob: str, hostname: str) -> list[str]:
    """Occurrences of the host name as a word. A short name like "vm" also spells kernel
    vocabulary (/proc/sys/vm/..., vm.overcommit_memory) that says nothing about the host."""
    found = []
    for match in re.finditer(re.escape(hostname), blob, re.I):
        before, after = blob[max(0, match.start() - 10):match.start()], blob[match.end():match.end() + 40]
        if (before[-1:].isalnum()) or (after[:1].isalnum()):
            continue  # part of another word (kvm, vmware)
        if before.endswith("/proc/sys/") or re.match(r"\.[a-z0-9-]*_", after):
            continue
        found.append(blob[max(0, match.start() - 30):match.end() + 30])
    return found


def test_report_has_the_facts_and_none_of_the_canaries(setup: Setup) -> None:
    done = run_report(setup, "-o", str(setup.out))
    assert done.returncode == 0, done.stderr
    (path,) = [p for p in setup.out.iterdir()]
    assert done.stdout.strip() == str(path) and stat.S_IMODE(path.stat().st_mode) == 0o600
    members, raw = archive_contents(path)
    (top,) = {name.split("/")[0] for name in members}
    files = {name[len(top) + 1:]: data for name, data in members.items()}
    blob = b"\n".join([*(n.encode() for n in members), *members.values(), raw])

    # -- nothing secret, nothing identifying ----------------------------------------------
    for secret in setup.secrets:
        assert secret not in blob, secret
    for cookie in setup.cookies:
        for form in (cookie, cookie.hex().encode(), cookie.hex().upper().encode(), base64.b64encode(cookie),
                     cookie[:24], cookie.hex()[:48].encode()):
            assert form not in blob and form not in blob.lower()
    assert host_name_leaks(blob.decode("utf-8", "replace"), socket.gethostname()) == []

    # -- the facts a maintainer needs --------------------------------------------------------
    summary = files["summary.md"].decode()
    assert re.search(r"^Version:\s+4\.\d+\.\d+", files["facts/podman/version.txt"].decode(), re.M)
    assert re.search(r"^\| podman \| 4\.\d+\.\d+ \|$", summary, re.M)
    info = json.loads(files["facts/podman/info.json"].decode().split("\n--- stderr ---")[0])
    assert info["host"]["security"]["rootless"] is True and info["host"]["hostname"] == "host0"
    assert "Server Name: pulseaudio" in files["facts/pulse/pactl-info.txt"].decode()
    assert re.search(r"^\| pulse server \| pulseaudio \d+", summary, re.M)
    modules = files["facts/pulse/native-protocol-modules.txt"].decode()
    assert "module-native-protocol-unix" in modules and "null-sink" not in modules
    xdpyinfo = files["facts/x11/xdpyinfo.txt"].decode()
    assert "vendor string:    The X.Org Foundation" in xdpyinfo and "\n    visual id:" not in xdpyinfo
    assert "| X server | The X.Org Foundation (release" in summary
    assert files["facts/x11/xhost.txt"].decode().startswith("access control enabled")
    assert "spotidoctor-standin" in files["facts/image/inspect.json"].decode()
    user = pwd.getpwuid(os.getuid()).pw_name  # its ranges, whichever this machine gave it
    ranges = [line.split(":", 1)[1] for line in Path("/etc/subuid").read_text().splitlines()
              if line.split(":", 1)[0] == user]
    assert files["facts/userns/subuid"].decode().splitlines() == [f"obfuscateduser0:{r}" for r in ranges]
    assert json.loads(files["facts/crash/last-launch.json"])["argv"][4] == "MY_SERVICE_TOKEN=<withheld>"
    results = json.loads(files["results.json"])
    assert results["schema"] == 1 and results["command"] == "report"
    assert "crash.reportdev-canary" in {r["id"] for r in results["results"]}
    crashes = summary.split("## Crash verdicts")[1].split("## Problems")[0]
    assert "`crash.reportdev-canary` (fail): Spotify died of SIGTRAP (133)" in crashes
    assert "seen in /home/homedir0/launch.log" in crashes

    # -- logs trimmed around the crash -------------------------------------------------------
    log = files["logs/20261129-235959-abcdef/container.log"].decode()
    assert FATAL in log and "Trace/breakpoint trap" in log and "lines omitted by spotidoctor" in log
    assert "line 1000\n" not in log and len(log) < setup.launch_log.stat().st_size / 4
    assert re.search(r"^standin: running as obfuscateduser0 on host0 home /home/homedir0 peer ip4addr\d+$", log, re.M)

    # -- what the careless drop-in asked for -----------------------------------------------------
    manifest = {e["name"]: e for e in json.loads(files["manifest.json"])["items"]}
    base = "facts/checks/crash.reportdev-canary"
    for name in ("default-cookie", "xauthority", "cat-cookie"):
        assert manifest[f"{base}/{name}"]["status"] == "skipped" and "forbidden" in manifest[f"{base}/{name}"]["reason"]
    raw_prefs = files[f"{base}/raw-prefs"].decode()
    assert raw_prefs.startswith("# spotidoctor: 3 autologin.* line(s) withheld") and "storage.size=2048" in raw_prefs
    withheld = "MY_SERVICE_TOKEN is set; value withheld (the name looks secret)\n"
    assert files[f"{base}/env.txt"].decode().endswith(withheld)
    assert files[f"{base}/who.txt"].decode() == "obfuscateduser0@host0 in /home/homedir0\n"
    assert files["facts/storage/spotify-login.txt"].decode().startswith("logged in: yes")
    assert set(files) - {"summary.md", "results.json", "manifest.json", "redaction.json"} <= set(manifest)

    # -- the token map: outside the archive, private, and it correlates --------------------------
    token_map = setup.state / "maps" / "report-tokens.json"
    assert stat.S_IMODE(token_map.stat().st_mode) == 0o600
    mapping = json.loads(token_map.read_text())["map"]
    assert mapping["user"][pwd.getpwuid(os.getuid()).pw_name] == "obfuscateduser0"
    assert mapping["host"][socket.gethostname().lower()] == "host0"
    assert mapping["spotify-user"][SPOTIFY_USER] == "spotifyuser0"


def test_a_planted_leak_fails_closed_and_deletes_the_archive(setup: Setup) -> None:
    with open(setup.launch_log, "a") as fh:  # e.g. a debug print of the cookie in Spotify's output
        fh.write(f"debug: cookie {PULSE_COOKIE.hex()}\n")
    done = run_report(setup, "-o", str(setup.out / "report.tar.gz"))
    assert done.returncode == 3, done.stderr
    assert "refusing to write the report" in done.stderr and "logs/20261129-235959-abcdef/container.log" in done.stderr
    assert "pulse cookie ~/.config/pulse/pulse-cookie" in done.stderr and PULSE_COOKIE.hex() not in done.stderr
    assert list(setup.out.iterdir()) == []


def test_preview_writes_nothing_and_no_redact_is_loud(setup: Setup) -> None:
    preview = run_report(setup, "--preview")
    assert preview.returncode == 0, preview.stderr
    assert "nothing was written" in preview.stdout and "user names:" in preview.stdout
    assert list(setup.out.iterdir()) == [] and not (setup.state / "maps").exists()
    plain = run_report(setup, "--no-redact", "-o", str(setup.out))
    assert plain.returncode == 0, plain.stderr
    assert plain.stderr.count("!!! spotidoctor report --no-redact !!!") == 2
    members, raw = archive_contents(Path(plain.stdout.strip()))
    blob = b"\n".join([*(n.encode() for n in members), *members.values(), raw])
    assert pwd.getpwuid(os.getuid()).pw_name.encode() in blob and str(setup.home).encode() in blob
    for secret in (SPOTIFY_USER.encode(), SPOTIFY_SECRET.encode(), ENV_SECRET.encode()):
        assert secret not in blob
    for cookie in setup.cookies:
        assert cookie not in blob and cookie.hex().encode() not in blob.lower()


@pytest.fixture
def broken_host(tmp_path: Path) -> Iterator[dict[str, str]]:
    """No podman/buildah on PATH, an X socket and a pulse socket that accept and never answer."""
    servers.require("xdpyinfo", "xhost", "pactl")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("xdpyinfo", "xhost", "pactl", "uname", "id", "getent", "cat", "ls", "df"):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    home = tmp_path / "home"
    (home / ".config").mkdir(parents=True)
    number = servers.free_display()
    hung_x = servers.hung_unix_server(Path(f"/tmp/.X11-unix/X{number}"))
    hung_pulse = servers.hung_unix_server(tmp_path / "pulse-native")
    env = {"HOME": str(home), "USER": pwd.getpwuid(os.getuid()).pw_name, "PATH": str(bin_dir),
           "LANG": "C.UTF-8", "DISPLAY": f":{number}", "XAUTHORITY": str(tmp_path / "no-xauthority"),
           "PULSE_SERVER": f"unix:{tmp_path / 'pulse-native'}", "XDG_RUNTIME_DIR": str(tmp_path / "run"),
           "XDG_CONFIG_HOME": str(home / ".config"), "XDG_STATE_HOME": str(home / ".local/state")}
    (tmp_path / "run").mkdir(mode=0o700)
    yield env
    hung_x.close()
    hung_pulse.close()


def test_report_on_a_broken_host_still_writes_a_bundle(tmp_path: Path, broken_host: dict[str, str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    done = subprocess.run([sys.executable, "-m", "spotidoctor", "report", "-o", str(out)], env=broken_host,
                          cwd=out, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    members, _ = archive_contents(Path(done.stdout.strip()))
    files = {name.split("/", 1)[1]: data.decode() for name, data in members.items()}
    manifest = {e["name"]: e for e in json.loads(files["manifest.json"])["items"]}
    for name in ("facts/podman/version.txt", "facts/podman/info.json", "facts/image/inspect.json"):
        assert (manifest[name]["status"], manifest[name]["reason"]) == ("skipped", "command not found")
    for name in ("facts/x11/xdpyinfo.txt", "facts/pulse/pactl-info.txt"):
        assert manifest[name]["status"] in ("timed-out", "failed"), manifest[name]
    summary = files["summary.md"]
    assert "| podman | not available (command not found) |" in summary
    assert "| X server | not reachable" in summary
    assert "| pulse server | not reachable" in summary
    assert json.loads(files["results.json"])["schema"] == 1
