"""Bad input → a clear message, the right exit code (README: 1 problems, 2 usage or
configuration), never a traceback, an internal error (3), a crashed check or a crash log.

The real CLI runs in a subprocess with a private HOME/XDG tree (``sandbox.Sandbox``) and a
podman stand-in that answers like a working rootless podman (``spy_podman``), so every check
runs its whole course. /etc/subuid and /etc/subgid are the exception: the CLI always reads
the host's /etc, so those run the same plan → runner → exit-code path over a sysroot.

Not repeated here (already covered): the subid line parser shape by shape
(tests/unit/test_subids.py), six bad config values through ``check``
(tests/unit/test_cli.py::test_bad_config_is_a_clear_message_and_exit_2), the crash-log
scanners on junk data (tests/unit/test_crashlog.py), a hung X/pulse socket
(tests/robustness/test_hung_servers.py).
"""
from __future__ import annotations

import json
import os
import shlex
import stat
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from spotidoctor import layout
from spotidoctor.checks import userns
from spotidoctor.engine.planning import plan
from spotidoctor.engine.results import exit_code
from spotidoctor.engine.runner import Runner
from spotidoctor.model import Status
from spotidoctor.paths import Paths
from spotidoctor.podman.subids import MAX_FILE_BYTES
from spotidoctor.render.jsonout import document, dumps
from spotidoctor.render.text import all_lines
from spotidoctor.testing import FakeCommandRunner, make_context
from tests import servers
from tests.robustness.sandbox import Sandbox, assert_sane, json_results, text_of

DATA = Path(__file__).parent.parent / "data"
GOOD_RANGE = b"alice:100000:65536\n"


@pytest.fixture
def box(tmp_path: Path) -> Sandbox:
    sandbox = Sandbox.create(tmp_path)
    sandbox.spy_podman()
    return sandbox


# -- /etc/subuid and /etc/subgid (through the fs probe over a sysroot) -----------------------------

def _huge() -> bytes:
    """50 MB: a good line, then junk lines far past the 1 MiB the reader takes."""
    return GOOD_RANGE + b"junk line\n" * (5 << 20)


SUBID_CASES = [
    # id, content (None: a directory in its place), status, text that must be shown
    pytest.param(b"this is not a subid file\n:::\nalice 100000 65536\n", Status.FAIL,
                 ["no subordinate {kind} range for alice in {path}", "3 malformed line(s)", "line 1:"], id="garbage"),
    pytest.param(b"", Status.FAIL, ["no subordinate {kind} range for alice in {path}"], id="empty"),
    pytest.param(bytes(range(256)) * 64, Status.FAIL,
                 ["no subordinate {kind} range for alice in {path}", "malformed line(s)"], id="binary"),
    pytest.param(_huge, Status.WARN, [f"{{path}} is larger than {MAX_FILE_BYTES} bytes; only the beginning was read",
                                      "… and "], id="huge-50MB"),
    pytest.param(b"alice:100000:65536\r\nbob:200000:65536\r\n", Status.OK, ["alice has 65536 subuids, 65536 subgids"],
                 id="crlf"),
    pytest.param(b"\xef\xbb\xbfalice:100000:65536\n", Status.FAIL,
                 ["no subordinate {kind} range for alice", "line 1: bad user name or uid '\\ufeffalice'"],
                 id="utf8-bom"),
    pytest.param(b"alice:100000:65536\x00\x00\x00\n", Status.FAIL, ["COUNT is not a number"], id="nul-bytes"),
    pytest.param(None, Status.FAIL, ["cannot read {path}: Is a directory"], id="a-directory"),
]


@pytest.mark.parametrize("which", ["subuid", "subgid"])
@pytest.mark.parametrize(("content", "status", "shown"), SUBID_CASES)
def test_odd_subid_files_give_a_clear_result_and_exit_code(tmp_path: Path, which: str,
                                                           content: bytes | Callable[[], bytes] | None,
                                                           status: Status, shown: list[str]) -> None:
    path, kind = f"/etc/{which}", which[3:]
    files = {"/etc/subuid": GOOD_RANGE, "/etc/subgid": GOOD_RANGE}
    if content is None:
        del files[path]
        (tmp_path / "etc" / which).mkdir(parents=True)
    else:
        files[path] = content() if callable(content) else content
    results = _userns_results(tmp_path, files)
    ranges = results["userns.subid-ranges"]
    assert ranges.status is status, ranges
    text = "\n".join([ranges.summary, *(m.text for m in ranges.messages), *(a for m in ranges.messages
                                                                                for a in m.advice)])
    for fragment in shown:
        assert fragment.format(kind=kind, path=path) in text
    assert all(r.status is not Status.ERROR for r in results.values())  # ERROR = crashed or could not run
    assert int(exit_code(list(results.values()))) == (1 if status is Status.FAIL else 0)
    # ... and both renderers take the results (facts are JSON, messages are text)
    json.loads(dumps(document("check", list(results.values()), 0)))
    assert all_lines(list(results.values()), verbose=True)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a mode-000 file anyway (CI runs as the test user)")
def test_unreadable_subuid_file_is_a_clear_failure(tmp_path: Path) -> None:
    results = _userns_results(tmp_path, {"/etc/subuid": GOOD_RANGE, "/etc/subgid": GOOD_RANGE},
                              unreadable="/etc/subuid")
    ranges = results["userns.subid-ranges"]
    assert (ranges.status, ranges.summary) == (
        Status.FAIL, "cannot read /etc/subuid: Permission denied, so no subordinate uid range for alice can be found")
    assert int(exit_code(list(results.values()))) == 1


def _userns_results(root: Path, files: dict[str, bytes], unreadable: str | None = None) -> dict[str, object]:
    ctx = make_context(root, files=files, commands=FakeCommandRunner(missing=("getsubids",)))
    if unreadable:
        (root / unreadable.lstrip("/")).chmod(0)
    selection = plan(userns.CHECKS, ["userns.subid-ranges", "userns.subid-overlap", "userns.subid-shared"])
    return {r.check_id: r for r in Runner(ctx).run(selection).results}


# -- DISPLAY --------------------------------------------------------------------------------------

DISPLAY_CASES = [
    pytest.param("garbage", "DISPLAY='garbage' cannot be parsed", id="garbage"),
    pytest.param(":", "DISPLAY=':' cannot be parsed", id="colon"),
    pytest.param(":99999999", "display number 99999999 is out of range", id="huge-number"),
    pytest.param("tcp/host:0", "DISPLAY=tcp/host:0 is a TCP display, which the container cannot use", id="tcp"),
    pytest.param("", "DISPLAY is not set", id="empty"),
    pytest.param(":0\n", r"DISPLAY=':0\n' cannot be parsed", id="newline"),
    pytest.param(":٣", "DISPLAY=':٣' cannot be parsed", id="arabic-digit"),
    pytest.param("\x1b]0;owned\x07:0", r"DISPLAY='\x1b]0;owned\x07:0' cannot be parsed", id="terminal-escape"),
    pytest.param("h" * 5000 + ":0", "is a TCP display", id="5000-chars"),
]


@pytest.mark.parametrize(("display", "shown"), DISPLAY_CASES)
def test_bad_display_is_explained_by_check_fix_and_launch(box: Sandbox, display: str, shown: str) -> None:
    env = {"DISPLAY": display}
    checked = box.run("check", "x11", "--json", env=env)
    assert_sane(checked, box)
    assert checked.returncode == 1
    results = json_results(checked)
    assert results["x11.display"]["status"] == "fail" and shown in text_of(results["x11.display"])
    assert {results[i]["status"] for i in results if i != "x11.display"} == {"skip"}
    for args in (("check", "-v", "x11"), ("fix", "x11"), ("fix", "--dry-run", "x11")):
        done = box.run(*args, env=env)
        assert_sane(done, box)
        assert done.returncode == 1, done.stdout
        assert "\x1b" not in done.stdout + done.stderr  # a DISPLAY cannot inject terminal escapes
    launched = box.run("launch", "--dry-run", env=env)
    assert_sane(launched, box)
    assert launched.returncode == 1 and "Launch refused" in launched.stderr and "x11.display" in launched.stderr


# -- Xauthority (a real Xvfb) ---------------------------------------------------------------------

def _xauthority_cases(good: bytes) -> dict[str, bytes | None]:
    return {
        "empty": b"",
        "truncated": good[: len(good) // 2],
        "garbage": b"\xff" * 40,
        "trailing-partial-entry": good + b"\x01\x00\x00\x05ab",
        "a-directory": None,
    }


XAUTH_PROBLEMS = {
    "empty": "Xauthority file is empty",
    "truncated": "Xauthority is truncated in entry 1",
    "garbage": "Xauthority is truncated in entry 1",
    "trailing-partial-entry": "Xauthority is truncated in entry 2",
    "a-directory": "Is a directory",
}


@pytest.mark.parametrize("case", sorted(XAUTH_PROBLEMS))
def test_damaged_xauthority_is_named_not_called_a_missing_cookie(box: Sandbox, xserver: servers.XServer,
                                                                 case: str) -> None:
    path = box.root / "Xauthority"
    content = _xauthority_cases(xserver.xauthority.read_bytes())[case]
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    env = {"DISPLAY": xserver.display, "XAUTHORITY": str(path)}
    checked = box.run("check", "x11", "--json", env=env)
    assert_sane(checked, box)
    connect = json_results(checked)["x11.connect"]
    assert checked.returncode == 1
    assert connect["summary"].startswith(f"Authorization required: cannot read a cookie from {path}: ")
    assert XAUTH_PROBLEMS[case] in connect["summary"]
    fixed = box.run("fix", "x11", env=env)
    assert_sane(fixed, box)
    assert fixed.returncode == 1
    assert not Path(layout.x11_cookie(_paths(box), xserver.number)).exists()
    assert box.run("launch", "--dry-run", env=env).returncode == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a mode-000 file anyway (CI runs as the test user)")
def test_unreadable_xauthority_is_named(box: Sandbox, xserver: servers.XServer) -> None:
    path = box.root / "Xauthority"
    path.write_bytes(xserver.xauthority.read_bytes())
    path.chmod(0)
    done = box.run("check", "x11", "--json", env={"DISPLAY": xserver.display, "XAUTHORITY": str(path)})
    assert_sane(done, box)
    assert json_results(done)["x11.connect"]["summary"] == (
        f"Authorization required: cannot read a cookie from {path}: Permission denied")


@pytest.mark.parametrize("case", sorted(XAUTH_PROBLEMS))
def test_damaged_xauthority_on_an_open_server_fails_the_container_cookie_clearly(
        box: Sandbox, xvfb: servers.XvfbStarter, case: str) -> None:
    """``-ac``: the server admits anyone, so x11.connect passes and x11.container-cookie is the
    check that has to read the damaged file."""
    xserver = xvfb("-ac")
    box.write_config('x11_trust = "trusted"\n')  # the trusted copy is what reads the file
    path = box.root / "Xauthority"
    content = _xauthority_cases(xserver.xauthority.read_bytes())[case]
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    env = {"DISPLAY": xserver.display, "XAUTHORITY": str(path)}
    checked = box.run("check", "x11", "--json", env=env)
    assert_sane(checked, box)
    results = json_results(checked)
    assert results["x11.connect"]["status"] == "ok"
    cookie = results["x11.container-cookie"]
    assert cookie["status"] == "fail" and cookie["summary"].startswith("no cookie for the container: ")
    assert XAUTH_PROBLEMS[case] in cookie["summary"]
    assert checked.returncode == 1
    fixed = box.run("fix", "x11", env=env)  # the access-control fix is unsafe: not applied either
    assert_sane(fixed, box)
    assert fixed.returncode == 1
    assert not Path(layout.x11_cookie(_paths(box), xserver.number)).exists()


def _paths(box: Sandbox) -> Paths:
    return Paths.from_env(box.env, str(box.home))


# -- pulse cookies (a real PulseAudio) ------------------------------------------------------------

@pytest.fixture
def pulse_box(tmp_path: Path, pulseaudio: servers.PulseServer) -> tuple[Sandbox, servers.PulseServer]:
    """A sandbox sharing the daemon's private HOME/XDG tree."""
    keys = ("HOME", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "XDG_STATE_HOME")
    sandbox = Sandbox.create(tmp_path / "cli", env={k: pulseaudio.env[k] for k in keys})
    sandbox.home = Path(pulseaudio.env["HOME"])
    sandbox.spy_podman()
    sandbox.write_config('audio = "direct"\n')  # the direct socket's cookie and module are under test
    return sandbox, pulseaudio


def _load_container_module(server: servers.PulseServer, paths: Paths) -> None:
    done = server.pactl("load-module", "module-native-protocol-unix", f"socket={layout.pulse_socket(paths)}",
                        f"auth-cookie={layout.pulse_cookie(paths)}")
    assert done.returncode == 0, done.stderr


def _damage(cookie: Path, case: str) -> None:
    original = cookie.read_bytes()
    cookie.unlink()
    if case == "a-directory":
        cookie.mkdir()
        return
    cookie.write_bytes({"short": original[:10], "empty": b"", "long": original * 4, "unreadable": original}[case])
    if case == "unreadable":
        cookie.chmod(0)


PULSE_COOKIE_CASES = [
    # case, check id, its status, text it shows, what `fix` says
    pytest.param("short", "pulse.container-socket", "fail", "holds 10 bytes, not 256: it no longer matches the "
                 "cookie the server loaded", "pactl unload-module", id="short"),
    pytest.param("empty", "pulse.container-socket", "fail", "holds 0 bytes, not 256", "pactl unload-module",
                 id="empty"),
    pytest.param("long", "pulse.container-socket", "warn",
                 "is longer than 256 bytes; only the first 256 are the cookie",
                 "holds 1024 bytes, not a 256-byte cookie; not copied", id="long"),
    pytest.param("a-directory", "pulse.container-socket", "fail", "is not a regular file", "pactl unload-module",
                 id="a-directory"),
]


@pytest.mark.parametrize(("case", "check_id", "status", "shown", "fix_says"), PULSE_COOKIE_CASES)
def test_damaged_pulse_cookie_is_explained_and_never_copied(
        pulse_box: tuple[Sandbox, servers.PulseServer], case: str, check_id: str, status: str, shown: str,
        fix_says: str) -> None:
    box, server = pulse_box
    paths = _paths(box)
    _load_container_module(server, paths)
    _damage(Path(layout.pulse_cookie(paths)), case)
    skip_slow = ("--ignore", "pulse.container-access")
    checked = box.run("check", "pulse", "--json", *skip_slow)
    assert_sane(checked, box)
    assert checked.returncode == 1
    result = json_results(checked)[check_id]
    assert result["status"] == status and shown in text_of(result)
    fixed = box.run("fix", "pulse", *skip_slow)
    assert_sane(fixed, box)
    assert fixed.returncode == 1 and fix_says in fixed.stdout
    assert not Path(layout.pulse_cookie_copy(paths)).exists()  # a wrong cookie is never handed on
    assert_sane(box.run("fix", "--dry-run", "pulse", *skip_slow), box)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a mode-000 file anyway (CI runs as the test user)")
def test_unreadable_pulse_cookie(pulse_box: tuple[Sandbox, servers.PulseServer]) -> None:
    box, server = pulse_box
    paths = _paths(box)
    _load_container_module(server, paths)
    cookie = layout.pulse_cookie(paths)
    _damage(Path(cookie), "unreadable")
    checked = box.run("check", "--json", "pulse", "--ignore", "pulse.container-access")
    assert_sane(checked, box)
    result = json_results(checked)["pulse.container-socket"]
    assert result["status"] == "fail" and f"cannot read the cookie file {cookie}" in result["summary"]
    assert "mode 0000" in text_of(result)
    # The safe fix that works: chmod 0600 on the user's own file (not a copy that fails on every run).
    fixed = box.run("fix", "pulse", "--ignore", "pulse.container-access")
    assert_sane(fixed, box)
    assert fixed.returncode == 0, fixed.stdout
    assert stat.S_IMODE(Path(cookie).stat().st_mode) == 0o600
    assert Path(layout.pulse_cookie_copy(paths)).read_bytes() == Path(cookie).read_bytes()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a mode-000 file anyway (CI runs as the test user)")
def test_unreadable_cookie_before_the_module_is_loaded(pulse_box: tuple[Sandbox, servers.PulseServer]) -> None:
    """The daemon (the same user) cannot read it either: loading the module fails, and says so."""
    box, _ = pulse_box
    cookie = Path(layout.pulse_cookie(_paths(box)))
    cookie.parent.mkdir(parents=True, exist_ok=True)
    cookie.write_bytes(os.urandom(256))
    cookie.chmod(0)
    fixed = box.run("fix", "pulse", "--ignore", "pulse.container-access")
    assert_sane(fixed, box)
    assert fixed.returncode == 1
    assert "✗ loading module-native-protocol-unix failed" in fixed.stdout
    assert "pulse.container-socket: failed (see above)" in fixed.stdout


# -- default.pa spotidoctor does not fully understand --------------------------------------------

ODD_DEFAULT_PA = (".ifexists module-udev-detect.so\n"
                  "load-module module-udev-detect\n"
                  ".endif\n"
                  'load-module module-native-protocol-unix socket="unterminated\n'
                  "set-sink-volume @DEFAULT_SINK@ 0x10000\n"
                  "### a comment\n"
                  "\tsome-future-command with=args\n"
                  ".fail\n")


def test_default_pa_lines_it_does_not_understand_are_kept_verbatim_and_named(
        pulse_box: tuple[Sandbox, servers.PulseServer]) -> None:
    box, server = pulse_box
    paths = _paths(box)
    _load_container_module(server, paths)
    default_pa = Path(paths.xdg_config_home) / "pulse" / "default.pa"
    default_pa.write_text(ODD_DEFAULT_PA)
    planned = box.run("fix", "--dry-run", "pulse.persistence")
    assert_sane(planned, box)
    assert ("note: line 4 left as it is (module arguments 'socket=\"unterminated': No closing quotation): "
            'load-module module-native-protocol-unix socket="unterminated') in planned.stdout
    assert default_pa.read_text() == ODD_DEFAULT_PA  # a dry run changes nothing
    fixed = box.run("fix", "pulse.persistence")
    assert_sane(fixed, box)
    assert fixed.returncode == 0 and "pulse.persistence: fixed (verified)" in fixed.stdout
    new = default_pa.read_text()
    assert new.startswith(".include /etc/pulse/default.pa\n" + ODD_DEFAULT_PA)  # every line kept, in order
    listed = box.run("fix", "--list-backups").stdout
    backup = Path(listed.split("restore: cp -- ")[1].split()[0])
    assert backup.read_text() == ODD_DEFAULT_PA and backup.stat().st_mode & 0o777 == 0o600
    again = box.run("fix", "pulse.persistence")
    # idempotent: nothing left to advise but pulse.server's null sink (the test server's only sink)
    assert not [line for line in again.stdout.splitlines() if "→" in line and "pactl list short cards" not in line]
    assert default_pa.read_text() == new


def test_default_pa_that_is_not_utf8_is_left_alone_and_said_so(pulse_box: tuple[Sandbox, servers.PulseServer]) -> None:
    box, server = pulse_box
    paths = _paths(box)
    _load_container_module(server, paths)
    default_pa = Path(paths.xdg_config_home) / "pulse" / "default.pa"
    original = b"# r\xe9glages (Latin-1)\nload-module module-null-sink\n\x00\xff\xfe\n"
    default_pa.write_bytes(original)
    for args in (("fix", "--dry-run", "pulse.persistence"), ("fix", "pulse.persistence")):
        done = box.run(*args)
        assert_sane(done, box)
        assert done.returncode == 1
        assert f"{default_pa} is not UTF-8 text, so spotidoctor leaves it alone" in done.stdout
        assert "manual: run the commands yourself" in done.stdout
        assert default_pa.read_bytes() == original


# -- config.toml and flags ------------------------------------------------------------------------

BAD_CONFIGS = [
    pytest.param("[x11]\ndisplay = ':0'\n", "unknown key 'x11'", id="a-table"),
    pytest.param("[[image]]\nname = 'x'\n", "image must be a non-empty string", id="array-of-tables"),
    pytest.param("storage_dir = ''\n", "storage_dir must be a non-empty path", id="empty-storage"),
    pytest.param("container_uid = 0\n", "container_uid must be an integer from 1 to 65535", id="uid-0"),
    pytest.param("container_uid = 1500.0\n", "container_uid must be an integer", id="uid-float"),
    pytest.param("container_uid = true\n", "container_uid must be an integer", id="uid-bool"),
    pytest.param("ignore = 'x11'\n", "ignore must be a list of check ids", id="string-for-list"),
    pytest.param("ulimits = ['nofile']\n", "ulimits must be a list like", id="bad-ulimit"),
    pytest.param("profile = ['isolated']\n", "profile must be one of isolated, keep-id", id="list-for-string"),
    pytest.param("image = 'a'\nimage = 'b'\n", "invalid TOML", id="duplicate-key"),
    pytest.param("Image = 'x'\n", "unknown key 'Image'", id="wrong-case"),
    pytest.param("image = \"\x00\"\n", "invalid TOML", id="nul-in-string"),
    pytest.param(b"\xef\xbb\xbfimage = 'x'\n", "invalid TOML", id="utf8-bom"),
    pytest.param(("# padding\n" * 500_000 + "colour = 1\n"), "unknown key 'colour'", id="5MB-then-bad"),
]


@pytest.mark.parametrize(("content", "message"), BAD_CONFIGS)
def test_bad_config_stops_check_with_exit_2_and_names_the_file(box: Sandbox, content: str | bytes,
                                                               message: str) -> None:
    box.write_config(content)
    done = box.run("check")
    assert_sane(done, box)
    assert done.returncode == 2
    assert done.stderr.startswith(f"spotidoctor: error: {box.config_file}") and message in done.stderr
    assert done.stdout == "" and box.spy_calls() == []  # nothing ran


COMMANDS = [("fix",), ("fix", "--dry-run"), ("fix", "--list-backups"), ("launch",), ("launch", "--dry-run"),
            ("launch", "--no-check", "--force", "--yes"), ("build",), ("report", "--preview"), ("list",),
            ("explain", "x11.display")]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
@pytest.mark.parametrize("content", ["colour = 'blue'\n", "image = 5\n", "[x11]\n"], ids=["unknown", "type", "table"])
def test_every_command_refuses_a_bad_config_before_doing_anything(box: Sandbox, command: tuple[str, ...],
                                                                   content: str) -> None:
    box.write_config(content)
    done = box.run(*command)
    assert_sane(done, box)
    assert done.returncode == 2 and str(box.config_file) in done.stderr
    assert box.spy_calls() == [] and not (box.state_dir / "launches").exists()


def test_config_that_is_a_directory_or_unreadable(box: Sandbox) -> None:
    box.config_file.mkdir(parents=True)
    done = box.run("check")
    assert_sane(done, box)
    assert done.returncode == 2 and f"cannot read {box.config_file}: Is a directory" in done.stderr
    if os.geteuid() != 0:
        box.config_file.rmdir()
        box.write_config("image = 'x'\n")
        box.config_file.chmod(0)
        done = box.run("check")
        assert done.returncode == 2 and f"cannot read {box.config_file}: Permission denied" in done.stderr


def test_crlf_config_is_fine(box: Sandbox) -> None:
    box.write_config("image = 'crlf_image'\r\nshm_size = '2g'\r\n")
    done = box.run("launch", "--dry-run")
    assert_sane(done, box)
    assert done.returncode == 1  # refused for the missing display, not for the config
    assert "--shm-size=2g" in done.stdout and "crlf_image" in done.stdout


@pytest.mark.parametrize(("flags", "message"), [
    (("--uid", "0"), "container_uid must be an integer from 1 to 65535"),
    (("--uid", "abc"), "argument --uid: invalid int value: 'abc'"),
    (("--profile", "root"), "argument --profile: invalid choice: 'root'"),
    (("--storage-dir", ""), "storage_dir must be a non-empty path"),
    (("--image", " "), "image ' ' is not a valid image reference"),
], ids=["uid-0", "uid-text", "profile", "empty-storage", "blank-image"])
def test_bad_flags_are_usage_errors(box: Sandbox, flags: tuple[str, str], message: str) -> None:
    done = box.run("check", *flags)
    assert_sane(done, box)
    assert done.returncode == 2 and message in done.stderr


# -- unicode, spaces and shell characters in $HOME and the storage path ---------------------------

HOMES = ["hé llo wörld ☃", "tab\there", "quote's \"dq\" $HOME `id` ;|&", "-leading-dash", "日本語ホーム"]


@pytest.mark.parametrize("home_name", HOMES)
def test_unicode_and_spaces_in_home_and_storage(tmp_path: Path, home_name: str) -> None:
    box = Sandbox.create(tmp_path, home_name=home_name)
    box.spy_podman()
    storage = box.home / "Spötify dir" / "x y $PATH"
    box.write_config('storage_dir = "~/Spötify dir/x y $PATH"\n')
    checked = box.run("check", "--json")
    assert_sane(checked, box)
    assert checked.returncode == 1  # no display, no pulse server: problems, not errors
    results = json_results(checked)
    assert results["storage.dir"]["facts"]["storage_dir"] == str(storage)
    planned = box.run("fix", "--dry-run")
    assert_sane(planned, box)
    assert f"$ mkdir -p -m 0700 -- {shlex.quote(str(storage))}" in planned.stdout
    dry = box.run("launch", "--dry-run")
    assert_sane(dry, box)
    if "\t" in str(storage):  # podman would get a control character in a --volume: refused before it runs
        assert dry.returncode == 2 and "contains control characters" in dry.stderr
    else:
        argv = [shlex.split(line.split("  # ")[0])[0] for line in dry.stdout.splitlines()[1:]]
        assert f"--volume={storage}/config:/home/spotify_user/.config/spotify" in argv  # quoted once, exactly
    # The real fix: directories created, the chown asked for with the path as one argument.
    fixed = box.run("fix", "storage")
    assert_sane(fixed, box)
    assert (storage / "config").is_dir() and (storage / "cache").is_dir()
    assert sorted(box.chown_targets()) == [f"{storage}/cache", f"{storage}/config"]
    out = tmp_path / "reports"
    out.mkdir()
    reported = box.run("report", "-o", str(out))
    assert_sane(reported, box)
    assert reported.returncode == 0, reported.stderr
    archive = Path(reported.stdout.strip())
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        summary = tar.extractfile(next(n for n in names if n.endswith("summary.md")))
        assert summary is not None and summary.read().decode()


def test_home_with_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    """A HOME that is not UTF-8 (a Latin-1 name): output must not die on encoding it."""
    raw = os.fsdecode(b"caf\xe9 home")
    box = Sandbox.create(tmp_path, home_name=raw)
    box.spy_podman()
    for args in (("check",), ("check", "--json"), ("fix", "--dry-run"), ("launch", "--dry-run")):
        done = box.run(*args)
        assert_sane(done, box)
        assert done.returncode == 1, done.stderr


# -- crash logs and launch records ------------------------------------------------------------

RECORD = {"launch_id": "20261129-235959-abcdef", "started": 0.0, "ended": 0.0, "exit_code": 133,
          "argv": ["podman", "run", "--shm-size=64m", "spotify_pod"], "image": "spotify_pod",
          "container_name": "spotify-container", "profile": "isolated", "shm_size": "64m", "spotify_args": [],
          "rlimits": {}, "host": {}}
OOM = b"2026-11-29T23:59:59.1+00:00 stderr F [1129/235959.123999:FATAL:memory.cc(40)] Out of memory. size=262144\n"

CRASH_LOGS = [
    pytest.param((DATA / "crash_junk.bin").read_bytes(), "out of memory", id="binary-junk"),
    pytest.param((DATA / "crash_longline.log").read_bytes(), "out of memory", id="very-long-line"),
    pytest.param((DATA / "crash_k8s_partial.log").read_bytes(), "out of memory", id="partial-records"),
    pytest.param(OOM[:-30], "silent", id="cut-inside-the-fatal-line"),
    # (a line is capped at its head: a FATAL glued to the END of megabytes of junk without a
    # newline is not seen; the zero-filled tail of a crashed write usually ends a line)
    pytest.param(b"\x00" * (4 << 20) + b"\n" + OOM, "out of memory", id="4MB-of-nul-then-fatal"),
    pytest.param(b"A" * (20 << 20), "silent", id="20MB-one-line-no-newline"),
    pytest.param(OOM + b"\xff\xfe" * 1000 + b"\r\n\r\n", "out of memory", id="fatal-then-junk-crlf"),
    pytest.param(b"", "silent", id="empty"),
]


@pytest.mark.parametrize(("log", "verdict"), CRASH_LOGS)
def test_odd_crash_logs_get_a_verdict_from_check_and_report(box: Sandbox, log: bytes, verdict: str) -> None:
    _plant_launch(box, {**RECORD, "started": time.time() - 60, "ended": time.time() - 30}, log)
    checked = box.run("check", "crash", "--json")
    assert_sane(checked, box)
    last = json_results(checked)["crash.last-launch"]
    assert last["status"] in ("fail", "warn") and verdict in last["summary"].lower(), last["summary"]
    for args in (("check", "-v", "crash"), ("report", "-o", str(box.root))):
        done = box.run(*args)
        assert_sane(done, box)
        assert done.returncode in (0, 1), done.stderr


DAMAGED_RECORDS = [
    pytest.param(b"[1, 2, 3]", id="a-list"),
    pytest.param(b'"just a string"', id="a-string"),
    pytest.param(b"null", id="null"),
    pytest.param(b"\xff\xfe\x00\x01", id="binary"),
    pytest.param(b'{"launch_id": "x"', id="cut-off-json"),
    pytest.param(json.dumps({"launch_id": "x"}).encode(), id="missing-keys"),
    pytest.param(json.dumps({**RECORD, "started": "yesterday"}).encode(), id="started-text"),
    pytest.param(json.dumps({**RECORD, "exit_code": "boom"}).encode(), id="exit-code-text"),
    pytest.param(json.dumps({**RECORD, "exit_code": True}).encode(), id="exit-code-bool"),
    pytest.param(json.dumps({**RECORD, "argv": "podman run"}).encode(), id="argv-string"),
    pytest.param(json.dumps({**RECORD, "rlimits": [1, 2]}).encode(), id="rlimits-list"),
    pytest.param(json.dumps({**RECORD, "rlimits": {"as": "x", "nofile": [None, "y", 3]}}).encode(),
                 id="rlimits-junk-values"),
    pytest.param(json.dumps({**RECORD, "host": {"overcommit": [], "cgroup_version": {}}}).encode(),
                 id="host-junk-values"),
    pytest.param(json.dumps({**RECORD, "exit_code": 10 ** 30}).encode(), id="huge-exit-code"),
    pytest.param(json.dumps({**RECORD, "exit_code": -9}).encode(), id="negative-exit-code"),
    pytest.param(json.dumps({**RECORD, "unknown": 1}).encode(), id="unknown-key"),
]


@pytest.mark.parametrize("record", DAMAGED_RECORDS)
def test_damaged_launch_records_never_crash_check_or_report(box: Sandbox, record: bytes) -> None:
    _plant_launch(box, record, OOM)
    for args in (("check", "crash", "--json"), ("check", "-v", "crash"), ("report", "-o", str(box.root))):
        done = box.run(*args)
        assert_sane(done, box)
        assert done.returncode in (0, 1), done.stderr


def _plant_launch(box: Sandbox, record: dict[str, object] | bytes, log: bytes) -> None:
    directory = box.state_dir / "launches" / "20261129-235959-abcdef"
    directory.mkdir(parents=True)
    data = record if isinstance(record, bytes) else json.dumps(record).encode()
    (directory / "launch.json").write_bytes(data)
    (directory / "container.log").write_bytes(log)
