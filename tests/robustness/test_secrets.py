"""Secrets never leave their files: pulse cookies, the X cookie and Spotify credentials.

Canaries are planted in a real session (Xvfb with its own cookie, a PulseAudio whose
container socket uses a known cookie, ``~/.config/pulse/cookie`` with known bytes, Spotify
prefs with ``autologin.username``/``saved_credentials``/``blob``, a secret-looking variable),
then every command runs as a user would: ``check --json``, ``check -v``, ``fix --dry-run``,
``fix`` (which really writes the container's X cookie file and pulse cookie copy),
``fix --list-backups``, ``launch --dry-run``, a real ``launch`` (podman is a recording
stand-in whose image "exists", so the launch record and container log are written),
``report`` and ``check --json`` again. None of the canaries — raw, hex in either case, base64,
or an 8-byte piece — may appear in any stdout/stderr, any file under the state dir
(launch records and logs, backups and their index, crash logs, the report token map), the
podman argvs, or the report archive (member names and decompressed contents).

The two files whose purpose is to hold a cookie for the container are checked for what they
must be instead: spotidoctor's own copies, 0644 inside its 0700 runtime dir. No backup is
ever made of a cookie: the steps that write cookie files keep none (see README, Security).

The report's own fail-closed scanner is tested in tests/integration/test_report.py; here the
report is one command among all the others.
"""
from __future__ import annotations

import base64
import os
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from spotidoctor import layout
from spotidoctor.paths import Paths
from tests import servers
from tests.robustness.sandbox import Sandbox, assert_sane, json_results

PULSE_MAIN = bytes((i * 73 + 5) % 256 for i in range(256))  # ~/.config/pulse/cookie
PULSE_CONTAINER = bytes((i * 151 + 29) % 256 for i in range(256))  # ~/.config/pulse/pulse-cookie
ACCOUNT = "canaryaccount"
CREDENTIALS = "CANARYCRED-dGhpcyBpcyBub3QgYSByZWFsIGNyZWRlbnRpYWw"
BLOB = "CANARYBLOB-QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQQ"
ENV_SECRET = "CANARYTOKEN-8c1f0e2b"
ACCOUNT_NAME = "the Spotify account name"  # also the name of its directory, Users/<name>-user


@dataclass
class Session:
    box: Sandbox
    paths: Paths
    storage: Path
    x_cookie: bytes
    canaries: dict[str, bytes]  # what -> forbidden bytes


def _forms(name: str, secret: bytes) -> dict[str, bytes]:
    forms = {name: secret, f"{name} (hex)": secret.hex().encode(), f"{name} (HEX)": secret.hex().upper().encode(),
             f"{name} (base64)": base64.b64encode(secret)}
    for i in range(0, len(secret) - 8, 64):  # cut-off pieces
        forms[f"{name} (hex piece at {i})"] = secret[i:i + 8].hex().encode()
    return forms


@pytest.fixture
def session(tmp_path: Path, xserver: servers.XServer, pulseaudio: servers.PulseServer) -> Session:
    keys = ("HOME", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "XDG_STATE_HOME")
    env = {k: pulseaudio.env[k] for k in keys}
    env.update(xserver.env(), MY_SERVICE_TOKEN=ENV_SECRET, SPOTIDOCTOR_SPY_IMAGE="present")
    box = Sandbox.create(tmp_path / "cli", env=env)
    box.home = Path(env["HOME"])
    box.spy_podman()
    # The original design's cookie copies (pulse and X) are what can leak: its opt-ins.
    box.write_config('audio = "direct"\nx11_trust = "trusted"\n')
    paths = Paths.from_env(env, env["HOME"])
    pulse_dir = Path(paths.xdg_config_home) / "pulse"
    (pulse_dir / "cookie").write_bytes(PULSE_MAIN)
    cookie = Path(layout.pulse_cookie(paths))
    cookie.write_bytes(PULSE_CONTAINER)
    cookie.chmod(0o600)
    loaded = pulseaudio.pactl("load-module", "module-native-protocol-unix", f"socket={layout.pulse_socket(paths)}",
                              f"auth-cookie={cookie}")
    assert loaded.returncode == 0, loaded.stderr
    storage = box.home / ".spotify"
    prefs = (f'autologin.username="{ACCOUNT}"\nautologin.saved_credentials="{CREDENTIALS}"\n'
             f'autologin.blob="{BLOB}"\nstorage.size=2048\n')
    for rel in ("config/prefs", f"config/Users/{ACCOUNT}-user/prefs"):
        (storage / rel).parent.mkdir(parents=True, exist_ok=True)
        (storage / rel).write_text(prefs)
    (storage / "cache").mkdir()
    for directory in (storage, storage / "config", storage / "cache"):
        directory.chmod(0o700)
    x_cookie = bytes.fromhex(xserver.cookie_hex)
    canaries = {**_forms("pulse cookie", PULSE_MAIN), **_forms("container pulse cookie", PULSE_CONTAINER),
                **_forms("X cookie", x_cookie), "autologin.saved_credentials": CREDENTIALS.encode(),
                "autologin.blob": BLOB.encode(), "secret variable": ENV_SECRET.encode(),
                ACCOUNT_NAME: ACCOUNT.encode()}
    return Session(box, paths, storage, x_cookie, canaries)


def leaks(session: Session, where: str, data: bytes, allowed: tuple[str, ...] = ()) -> list[str]:
    return [f"{what} in {where}" for what, secret in session.canaries.items()
            if secret in data and what not in allowed]


def archive_blobs(path: Path) -> list[tuple[str, bytes]]:
    with tarfile.open(path) as tar:
        found = [(f"archive member name {m.name}", m.name.encode()) for m in tar.getmembers()]
        for member in tar.getmembers():
            handle = tar.extractfile(member) if member.isfile() else None
            if handle is not None:
                found.append((f"archive member {member.name}", handle.read()))
    return found


def state_files(session: Session) -> list[Path]:
    return [p for p in session.box.state_dir.rglob("*") if p.is_file() and not p.is_symlink()]


def test_no_command_shows_or_stores_a_secret(session: Session) -> None:
    box = session.box
    out = box.root / "reports"
    out.mkdir()
    commands = [("check", "--json"), ("check", "-v"), ("fix", "--dry-run"), ("fix",), ("fix", "--list-backups"),
                ("launch", "--dry-run"), ("launch", "--yes", "--force", "--", "--canary-arg"),
                ("report", "-o", str(out)), ("check", "--json", "-v")]
    found: list[str] = []
    outputs = {}
    for command in commands:
        done = box.run(*command)
        assert_sane(done, box)
        outputs[" ".join(command)] = done
        found += leaks(session, f"`{' '.join(command)}` output", (done.stdout + done.stderr).encode())
    for path in state_files(session):
        # The report's private token map exists to say which token an account name became.
        allowed = (ACCOUNT_NAME,) if path.name == "report-tokens.json" else ()
        found += leaks(session, str(path), path.read_bytes(), allowed)
    found += leaks(session, "the podman argvs", Path(box.env["SPOTIDOCTOR_SPY_LOG"]).read_bytes())
    reported = outputs[f"report -o {out}"]
    assert reported.returncode == 0, reported.stderr  # and its own scan found nothing either
    for where, data in archive_blobs(Path(reported.stdout.strip())):
        found += leaks(session, where, data)
    assert found == [], "\n".join(found)
    # The commands did what they are for: fixes ran, a launch was recorded, a report written.
    assert "x11.container-cookie: fixed (verified)" in outputs["fix"].stdout
    assert "pulse.client-config: fixed (verified)" in outputs["fix"].stdout
    launches = list((box.state_dir / "launches").iterdir())
    assert len(launches) == 1 and (launches[0] / "launch.json").exists() and (launches[0] / "container.log").exists()
    after = json_results(outputs["check --json -v"])
    assert after["x11.container-cookie"]["status"] == "ok" and after["pulse.client-config"]["status"] == "ok"


def test_the_cookie_copies_are_private_to_the_container_and_never_backed_up(session: Session) -> None:
    box = session.box
    for _ in range(2):  # the second run replaces nothing, so no backup either way
        done = box.run("fix", "x11", "pulse")
        assert_sane(done, box)
    private = Path(session.paths.runtime_dir)
    assert stat.S_IMODE(private.stat().st_mode) == 0o700
    xfile = Path(layout.x11_cookie(session.paths, int(box.env["DISPLAY"].lstrip(":"))))
    copy = Path(layout.pulse_cookie_copy(session.paths))
    for path in (xfile, copy):
        st = path.lstat()
        assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o644 and st.st_uid == os.getuid()
    assert copy.read_bytes() == PULSE_CONTAINER and session.x_cookie in xfile.read_bytes()
    # Everything else spotidoctor keeps in its runtime dir holds no secret (no temp files left).
    others = [p for p in private.rglob("*") if p.is_file() and p not in (xfile, copy)]
    assert [leaks(session, str(p), p.read_bytes()) for p in others if leaks(session, str(p), p.read_bytes())] == []
    backups = box.state_dir / "backups"
    for path in (p for p in backups.rglob("*") if p.is_file()) if backups.exists() else ():
        assert leaks(session, str(path), path.read_bytes()) == []
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    listed = box.run("fix", "--list-backups").stdout
    assert "cookie" not in listed and "Xauthority" not in listed


def test_a_changed_cookie_is_replaced_without_a_backup(session: Session) -> None:
    """The stale copy is overwritten atomically; the old cookie is not kept anywhere."""
    box = session.box
    assert box.run("fix", "pulse").returncode in (0, 1)
    copy = Path(layout.pulse_cookie_copy(session.paths))
    old = bytes(range(256))
    copy.write_bytes(old)  # a stale copy (the cookie changed since)
    done = box.run("fix", "pulse.client-config")
    assert_sane(done, box)
    assert copy.read_bytes() == PULSE_CONTAINER
    everything = b"".join(p.read_bytes() for p in state_files(session))
    assert old not in everything and old.hex().encode() not in everything


def test_json_facts_and_fix_plans_name_cookie_files_but_never_their_content(session: Session) -> None:
    done = session.box.run("check", "--json", "-v", "x11", "pulse", "--ignore", "pulse.container-access")
    assert_sane(done, session.box)
    results = json_results(done)
    facts = results["pulse.container-socket"]["facts"]
    assert facts["cookie_path"] == layout.pulse_cookie(session.paths)  # where, never what
    steps = [s for r in results.values() for f in r["fixes"] for s in f["steps"]]
    assert any(s["kind"] in ("write-x11-cookie", "copy-cookie") for s in steps)
    assert leaks(session, "check --json", done.stdout.encode()) == []


def test_report_archive_is_private(session: Session) -> None:
    out = session.box.root / "r"
    out.mkdir()
    done = session.box.run("report", "-o", str(out))
    assert done.returncode == 0, done.stderr
    archive = Path(done.stdout.strip())
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    token_map = session.box.state_dir / "maps" / "report-tokens.json"
    assert stat.S_IMODE(token_map.stat().st_mode) == 0o600
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert names and not any(ACCOUNT in n for n in names)  # the account dir name is not used either
