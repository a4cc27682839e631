"""The CLI end to end in a subprocess, with drop-in test checks (no real services needed)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from spotidoctor import cli
from spotidoctor.lock import exclusive

TEST_CHECKS = '''
import os
from spotidoctor.api import Check, Message, Severity
from spotidoctor.fixes import Fix, RunCommand, WriteFile

class Ok(Check):
    """What it checks: always fine."""
    id = "t.ok"
    title = "always ok"
    def run(self, ctx):
        return self.ok("fine", Message.info("an info line"), facts={"answer": 42})

class Warn(Check):
    id = "t.warn"
    title = "always warns"
    def run(self, ctx):
        return self.warn("a bit off", Message.hint("look at it", "do the thing"))

class Marker(Check):
    """What it checks: a marker file in HOME. Fix safety: safe (writes a new file)."""
    id = "t.marker"
    title = "marker file present"
    def run(self, ctx):
        path = ctx.user.home + "/marker.txt"
        if ctx.probes.fs.read_text_or_none(path) == "fixed\\n":
            return self.ok("marker present")
        return self.fail("marker missing", Message.error("no marker", "run spotidoctor fix t.marker"),
                         fixes=(Fix.safe("t.write-marker", "Write the marker",
                                         WriteFile("write marker", path=path, content="fixed\\n")),))

class Soft(Check):
    id = "t.soft"
    title = "warning-severity failure"
    severity = Severity.WARNING
    def run(self, ctx):
        return self.fail("soft failure")

class Unsafe(Check):
    id = "t.unsafe"
    title = "needs an unsafe fix"
    def run(self, ctx):
        path = ctx.user.home + "/unsafe.txt"
        if ctx.probes.fs.exists(path):
            return self.ok("done")
        return self.fail("not done", fixes=(Fix.unsafe("t.unsafe-fix", "Do the risky thing",
                                                        WriteFile("write", path=path, content="x")),))

class Manual(Check):
    id = "t.manual"
    title = "needs root"
    def run(self, ctx):
        return self.fail("needs an admin", fixes=(Fix.manual("t.admin", "Ask for a range",
            RunCommand("add a range", argv=("usermod", "--add-subuids", "100000-165535", "alice"))),))

class Steps(Check):
    id = "t.steps"
    title = "a fix whose second step fails"
    def run(self, ctx):
        home = ctx.user.home
        if ctx.probes.fs.exists(home + "/third"):
            return self.ok("unexpected")
        return self.fail("needs steps", fixes=(Fix.safe("t.three-steps", "Three steps",
            WriteFile("first", path=home + "/first", content="1"),
            RunCommand("second fails", argv=("false",)),
            WriteFile("third", path=home + "/third", content="3")),))

class Crash(Check):
    id = "t.crash"
    title = "raises"
    def run(self, ctx):
        raise ValueError("kaboom")

CHECKS = (Ok, Warn, Marker, Soft, Unsafe, Manual, Steps, Crash)
'''


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    dropins = home / ".config" / "spotidoctor" / "checks.d"
    dropins.mkdir(parents=True)
    (dropins / "testchecks.py").write_text(TEST_CHECKS)
    return home


def run(home: Path, *args: str, env: dict[str, str] | None = None,
        input: str | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}
    base.update(HOME=str(home), NO_COLOR="1", XDG_RUNTIME_DIR=str(home / "run"))
    base.update(env or {})
    return subprocess.run([sys.executable, "-m", "spotidoctor", *args], env=base, capture_output=True,
                          text=True, input=input, timeout=120)


def test_check_passes_with_warnings_and_prints_plain_text(home: Path) -> None:
    done = run(home, "check", "t.ok", "t.warn")
    assert done.returncode == 0, done.stderr
    assert "[✓] t.ok: fine" in done.stdout
    assert "[!] t.warn: a bit off" in done.stdout
    assert "      → do the thing" in done.stdout
    assert "an info line" not in done.stdout  # info only with --verbose
    assert "\x1b[" not in done.stdout  # no colour when piped
    assert done.stdout.rstrip().endswith("No blocking problems. 1 ok, 1 warning(s).")


def test_verbose_shows_info_facts_and_tracebacks(home: Path) -> None:
    done = run(home, "check", "-v", "t.ok", "t.crash")
    assert "an info line" in done.stdout and "answer = 42" in done.stdout
    assert "ValueError: kaboom" in done.stdout


@pytest.mark.parametrize(("selector", "code"), [("t.marker", 1), ("t.soft", 0), ("t.crash", 1)])
def test_exit_code_follows_error_severity_problems(home: Path, selector: str, code: int) -> None:
    assert run(home, "check", selector).returncode == code


def test_json_is_one_document_with_the_schema(home: Path) -> None:
    done = run(home, "check", "--json", "t.ok", "t.marker")
    doc = json.loads(done.stdout)
    assert doc["schema"] == 1 and doc["status"] == "fail" and doc["exit_code"] == done.returncode == 1
    by_id = {r["id"]: r for r in doc["results"]}
    assert set(by_id) == {"t.ok", "t.marker"}
    marker = by_id["t.marker"]
    assert {"id", "status", "summary", "messages", "fixes", "facts"} <= set(marker)
    assert marker["messages"][0] == {"text": "no marker", "kind": "error",
                                     "advice": ["run spotidoctor fix t.marker"], "url": None}
    (fix,) = marker["fixes"]
    assert (fix["description"], fix["applicability"], fix["privilege"]) == ("Write the marker", "safe", "user")
    assert by_id["t.ok"]["facts"] == {"answer": 42}


def test_unknown_selector_is_a_usage_error(home: Path) -> None:
    done = run(home, "check", "does.not.exist")
    assert done.returncode == 2
    assert "no check matches 'does.not.exist'" in done.stderr


@pytest.mark.parametrize(("content", "message"), [
    ("image = 5\n", "image must be a non-empty string, got 5"),
    ("colour = 'blue'\n", "unknown key 'colour'"),
    ("profile = 'root'\n", "profile must be one of isolated, keep-id"),
    ("container_uid = '1500'\n", "container_uid must be an integer"),
    ("image = [unclosed\n", "invalid TOML"),
    (b"\xff\xfe\x00binary", "not UTF-8 text"),
])
def test_bad_config_is_a_clear_message_and_exit_2(home: Path, content: str | bytes, message: str) -> None:
    config = home / ".config" / "spotidoctor" / "config.toml"
    config.write_bytes(content if isinstance(content, bytes) else content.encode())
    done = run(home, "check", "t.ok")
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_fix_applies_verifies_and_is_idempotent(home: Path) -> None:
    first = run(home, "fix", "t.marker")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "t.marker: fixed (verified)" in first.stdout
    assert (home / "marker.txt").read_text() == "fixed\n"
    mtime = (home / "marker.txt").stat().st_mtime_ns
    second = run(home, "fix", "t.marker")
    assert second.returncode == 0
    assert "→" not in second.stdout  # nothing applied the second time
    assert (home / "marker.txt").stat().st_mtime_ns == mtime


def test_fix_dry_run_shows_the_diff_and_changes_nothing(home: Path) -> None:
    done = run(home, "fix", "--dry-run", "t.marker")
    assert "+++ " + str(home / "marker.txt") + " (new)" in done.stdout
    assert "+fixed" in done.stdout
    assert "(dry run: nothing was changed)" in done.stdout
    assert not (home / "marker.txt").exists()
    assert done.returncode == 1


def test_fix_backs_up_an_existing_file_and_lists_it(home: Path) -> None:
    (home / "marker.txt").write_text("old content\n")
    assert run(home, "fix", "t.marker").returncode == 0
    listing = run(home, "fix", "--list-backups").stdout
    assert str(home / "marker.txt") in listing and "restore: cp -- " in listing
    backup = listing.split("restore: cp -- ")[1].split()[0]
    assert Path(backup).read_text() == "old content\n"
    assert Path(backup).stat().st_mode & 0o777 == 0o600


def test_unsafe_fix_needs_the_flag_and_consent(home: Path) -> None:
    withheld = run(home, "fix", "t.unsafe")
    assert "t.unsafe: Do the risky thing — unsafe: needs --unsafe" in withheld.stdout
    assert not (home / "unsafe.txt").exists()
    no_tty = run(home, "fix", "--unsafe", "t.unsafe")
    assert "need a terminal to confirm, or --yes" in no_tty.stdout
    assert not (home / "unsafe.txt").exists()
    applied = run(home, "fix", "--unsafe", "--yes", "t.unsafe")
    assert applied.returncode == 0 and (home / "unsafe.txt").exists()


def test_manual_fix_is_printed_not_run(home: Path) -> None:
    done = run(home, "fix", "t.manual")
    assert "t.manual: Ask for a range — manual: run the commands yourself" in done.stdout
    assert "$ usermod --add-subuids 100000-165535 alice" in done.stdout
    assert done.returncode == 1


def test_failed_step_stops_the_plan_and_says_what_ran(home: Path) -> None:
    done = run(home, "fix", "t.steps")
    assert f"✓ wrote {home / 'first'}" in done.stdout
    assert "✗ `false` failed" in done.stdout
    assert "- not run: third" in done.stdout
    assert "t.steps: failed (see above)" in done.stdout
    assert (home / "first").exists() and not (home / "third").exists()


def test_second_fix_while_one_runs_gets_a_clear_busy_message(home: Path) -> None:
    lock = home / ".local" / "state" / "spotidoctor" / "lock"
    with exclusive(str(lock), "fix"):
        done = run(home, "fix", "t.marker")
    assert done.returncode == 4
    assert "another spotidoctor command is changing the system (pid" in done.stderr
    assert not (home / "marker.txt").exists()


def test_list_and_explain(home: Path) -> None:
    listing = run(home, "list")
    assert listing.returncode == 0
    assert "t.marker" in listing.stdout and "marker file present" in listing.stdout
    explained = run(home, "explain", "t.marker")
    assert "What it checks: a marker file in HOME." in explained.stdout
    assert run(home, "explain", "t.nope").returncode == 2


def test_version_and_help_list_exit_codes() -> None:
    from spotidoctor import __version__

    done = subprocess.run([sys.executable, "-m", "spotidoctor", "--version"], capture_output=True, text=True)
    assert done.stdout.strip() == f"spotidoctor {__version__}"
    helptext = subprocess.run([sys.executable, "-m", "spotidoctor", "--help"],
                              capture_output=True, text=True).stdout
    assert "exit codes:" in helptext and "usage or configuration error" in helptext


def test_entry_point_plugins_appear_and_a_broken_one_does_not_stop_the_run(home: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    for dist, body in (("sd-good", "from spotidoctor.api import Check\n"
                                   "class G(Check):\n    id = 'ep.good'\n    title = 'from an entry point'\n"
                                   "    def run(self, ctx):\n        return self.ok('plugin ran')\n"
                                   "CHECKS = (G,)\n"),
                       ("sd-bad", "raise ImportError('missing dependency of the plugin')\n")):
        module = dist.replace("-", "_")
        (site / f"{module}.py").write_text(body)
        info = site / f"{dist}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[spotidoctor.checks]\n{dist} = {module}\n")
    env = {"PYTHONPATH": str(site)}
    listing = run(home, "list", env=env)
    assert "ep.good" in listing.stdout and "[plugin sd-good (sd-good)]" in listing.stdout
    assert "! plugin sd-bad (sd-bad): failed to load: ImportError('missing dependency of the plugin')" in listing.stdout
    done = run(home, "check", "ep.good", "t.ok", env=env)
    assert done.returncode == 0, done.stdout
    assert "[✓] ep.good: plugin ran" in done.stdout
    assert "plugin problem: failed to load" in done.stdout


def test_internal_error_writes_a_crash_log_and_exits_3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))

    def broken(args: object) -> int:
        raise RuntimeError("a bug")

    monkeypatch.setattr("spotidoctor.commands.listing.run_list", broken)
    assert cli.main(["list"]) == 3
    err = capsys.readouterr().err
    assert "internal error (RuntimeError: a bug); details in" in err
    (log,) = (tmp_path / "state" / "spotidoctor").glob("crash-*.md")
    assert "RuntimeError: a bug" in log.read_text() and log.stat().st_mode & 0o777 == 0o600
    assert "Traceback" not in err


def test_no_arguments_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    assert "usage: spotidoctor" in capsys.readouterr().out



@pytest.mark.parametrize(("argv", "final", "exited"), [
    (None, True, True),  # the program itself, after a launch: os._exit with the status
    (None, False, False),  # any other command: the normal exit
    (["list"], True, False),  # called in-process (tests, tools): never os._exit
])
def test_a_final_status_ends_the_program_at_once_only_when_it_is_the_program(
        monkeypatch: pytest.MonkeyPatch, argv: list[str] | None, final: bool, exited: bool) -> None:
    from spotidoctor.exitcodes import FinalStatus

    def listing(args: object) -> int:
        return FinalStatus(7) if final else 7

    class Exited(Exception):
        pass

    def fake_exit(code: int) -> None:
        raise Exited(code)

    monkeypatch.setattr(sys, "argv", ["spotidoctor", "list"])
    monkeypatch.setattr("spotidoctor.commands.listing.run_list", listing)
    monkeypatch.setattr(cli.os, "_exit", fake_exit)
    if exited:
        with pytest.raises(Exited) as info:
            cli.main(argv)
        assert info.value.args == (7,)
    else:
        assert cli.main(argv) == 7
