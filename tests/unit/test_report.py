"""`spotidoctor report` over fakes: launch-log trimming, summary.md, checks' collect()
specs, the redacted members, the written archive, --preview, and failing closed."""
from __future__ import annotations

import io
import json
import os
import stat
import tarfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any, ClassVar

import pytest

from spotidoctor import ISSUES_URL
from spotidoctor.api import Check, Context
from spotidoctor.bundle.build import Options, assemble, gather
from spotidoctor.bundle.collect import Item, ItemStatus, ManifestEntry
from spotidoctor.bundle.identity import Identity
from spotidoctor.bundle.logs import OMITTED, TrimPolicy, launch_logs, trim
from spotidoctor.bundle.redact import Redactor, TokenMap, default_map_path
from spotidoctor.bundle.spec import BundleSpec
from spotidoctor.bundle.summary import SummaryInput, host_facts, render
from spotidoctor.checks.pulse.evidence import pulse_evidence
from spotidoctor.checks.storage.evidence import spotify_evidence
from spotidoctor.cli import main
from spotidoctor.commands import report as report_cmd
from spotidoctor.commands.options import ReportOptions
from spotidoctor.crash import launchlog
from spotidoctor.engine.registry import Loaded, Registry
from spotidoctor.engine.session import Session, SessionOptions
from spotidoctor.model import CheckResult, Message, Severity, Status
from spotidoctor.testing import FakeCommand, FakeCommandRunner, make_context

HOME = "/home/alice"
COOKIE = bytes((i * 7 + 3) % 256 for i in range(256))
GLOBAL_COMMANDS = ("podman", "buildah", "pactl", "xdpyinfo", "xhost", "uname")
PASSWD = ("root:x:0:0:root:/root:/bin/bash\npulse:x:110:117:PulseAudio:/run/pulse:/usr/sbin/nologin\n"
          "alice:x:1600:1600:Alice Liddell,,,:/home/alice:/bin/bash\nbob:x:1601:1601::/home/bob:/bin/bash\n"
          "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
DATA = Path(__file__).resolve().parent.parent / "data"


# -- log trimming ------------------------------------------------------------------------------

def numbered(n: int, marks: dict[int, str] | None = None) -> str:
    marks = marks or {}
    return "".join(f"{marks.get(i, f'noise line {i}')}\n" for i in range(n))


def test_short_logs_are_kept_whole() -> None:
    text = numbered(30, {10: "[1129/235959.1:FATAL:memory.cc(40)] Out of memory. size=262144"})
    assert trim(text, TrimPolicy(head=20, tail=60)) == (text, 1)


def test_long_logs_keep_head_tail_and_context_around_crash_lines() -> None:
    fatal = "[1129/235959.123999:FATAL:memory.cc(40)] Out of memory. size=262144"
    text = numbered(1000, {500: fatal, 503: "Trace/breakpoint trap (core dumped)"})
    trimmed, hits = trim(text, TrimPolicy(head=2, tail=3, before=2, after=1, max_bytes=10_000))
    assert hits == 2
    assert trimmed.splitlines() == [
        "noise line 0", "noise line 1", OMITTED.format(n=496),
        "noise line 498", "noise line 499", fatal, "noise line 501", "noise line 502",
        "Trace/breakpoint trap (core dumped)", "noise line 504", OMITTED.format(n=492),
        "noise line 997", "noise line 998", "noise line 999"]


def test_trimmed_log_is_size_capped_keeping_the_end() -> None:
    text = numbered(5000, {i: f"ERROR {i}" for i in range(0, 5000, 2)})
    trimmed, _ = trim(text, TrimPolicy(max_bytes=2000))
    assert len(trimmed.encode()) < 2200
    assert trimmed.rstrip().endswith("noise line 4999") and "bytes omitted by spotidoctor" in trimmed


def plant_launch(ctx: Context, launch_id: str, log: str | None, **fields: object) -> None:
    directory = os.path.join(ctx.paths.launches_dir, launch_id)
    record = launchlog.LaunchRecord(launch_id=launch_id, directory=directory, started=1.0, **fields)  # type: ignore[arg-type]
    launchlog.save(ctx.probes.fs, record)
    if log is not None:
        with open(ctx.probes.fs.host(record.log_path), "w") as fh:
            fh.write(log)


def test_launch_logs_newest_first_with_records(tmp_path) -> None:
    ctx = make_context(tmp_path)
    plant_launch(ctx, "20261101-000000-aaaaaa", "old\n")
    plant_launch(ctx, "20261129-000000-bbbbbb", numbered(500, {250: "[x:FATAL:memory.cc(40)] Out of memory."}),
                 argv=("podman", "run", "-e", "SPOTIFY_TOKEN=abc"), exit_code=133)
    plant_launch(ctx, "20261130-000000-cccccc", None)
    items = launch_logs(ctx, 2)
    assert [(i.entry.name, i.entry.status, i.entry.reason) for i in items] == [
        ("logs/20261130-000000-cccccc/launch.json", ItemStatus.COLLECTED, ""),
        ("logs/20261130-000000-cccccc/container.log", ItemStatus.SKIPPED,
         "no container log (podman ran without the k8s-file log driver?)"),
        ("logs/20261129-000000-bbbbbb/launch.json", ItemStatus.COLLECTED, ""),
        ("logs/20261129-000000-bbbbbb/container.log", ItemStatus.TRUNCATED,
         "trimmed to the start, the end and 1 crash/error line(s) with context")]
    assert "Out of memory." in (items[3].text or "") and "noise line 100\n" not in (items[3].text or "")
    assert json.loads(items[2].text or "")["exit_code"] == 133
    assert launch_logs(ctx, 0) == []


# -- summary.md --------------------------------------------------------------------------------

def texts_item(name: str, text: str) -> Item:
    return Item(ManifestEntry(name, "command", name, "spotidoctor", ItemStatus.COLLECTED), text)


PACTL_INFO = ("Server String: /run/user/1600/pulse/native\nLibrary Protocol Version: 35\nServer Protocol Version: 35\n"
              "Is Local: yes\nClient Index: 7\nTile Size: 65472\nUser Name: alice\nHost Name: vm\n"
              "Server Name: pulseaudio\nServer Version: 16.1\nDefault Sink: testsink\nCookie: 1a2b:3c4d\n")
XDPYINFO = ("name of display:    :71\nversion number:    11.0\nvendor string:    The X.Org Foundation\n"
            "vendor release number:    12101007\nX.Org version: 21.1.7\nnumber of extensions:    3\n"
            "    BIG-REQUESTS\n    MIT-SHM\n    XTEST\ndefault screen number:    0\n")


def test_host_facts_from_collected_outputs() -> None:
    texts = {
        "facts/system/os-release": 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n',
        "facts/system/uname.txt": "Linux 6.18.44 #1 SMP x86_64 GNU/Linux\n",
        "facts/podman/info.json": (DATA / "podman_info_4.3.1_rootless_runc.json").read_text()
        if (DATA / "podman_info_4.3.1_rootless_runc.json").exists() else json.dumps(
            {"host": {"ociRuntime": {"name": "runc", "version": "runc version 1.1.5\ncommit: x"},
                      "cgroupManager": "cgroupfs", "cgroupVersion": "v1", "security": {"rootless": True}},
             "store": {"graphDriverName": "vfs"}, "version": {"Version": "4.3.1"}}),
        "facts/podman/buildah-version.txt": "Version:         1.28.2\nGo Version:      go1.19.8\n",
        "facts/system/cgroup.txt": "mode: v2 (unified)\n",
        "facts/userns/subuid": "alice:100000:65536\n",
        "facts/pulse/pactl-info.txt": PACTL_INFO,
        "facts/x11/xdpyinfo.txt": XDPYINFO,
        "facts/x11/xhost.txt": "access control enabled, only authorized clients can connect\nSI:localuser:alice\n",
        "facts/image/inspect.json": json.dumps([{"Created": "2026-11-01T00:00:00Z",
                                                 "Labels": {"org.opencontainers.image.title": "spotidoctor-standin"}}]),
        "facts/crash/last-launch.json": json.dumps({"launch_id": "20261129-1", "exit_code": 133,
                                                    "image": "spotify_pod"}),
        "facts/storage/spotify-login.txt": "logged in: yes\n",
    }
    facts = dict(host_facts(texts))
    assert facts["distribution"] == "Debian GNU/Linux 12 (bookworm)"
    assert facts["podman"] == "4.3.1" and facts["buildah"] == "1.28.2"
    assert facts["OCI runtime"].startswith("runc (runc version 1.1.5")
    assert facts["rootless"] == "True" and facts["cgroups"] == "v2 (unified)"
    assert facts["subuid"] == "alice:100000:65536" and facts["subgid"] == "no entry"
    assert facts["pulse server"] == "pulseaudio 16.1"
    assert facts["X server"] == "The X.Org Foundation (release 12101007)"
    assert facts["X extensions"] == "3 (MIT-SHM)"
    assert facts["X access control"] == "access control enabled, only authorized clients can connect (1 entry)"
    assert facts["image"] == "created 2026-11-01T00:00:00Z; labels: org.opencontainers.image.title=spotidoctor-standin"
    assert facts["last launch"] == "20261129-1: exit code 133, image spotify_pod"
    assert facts["Spotify logged in"] == "yes"


def test_host_facts_when_everything_is_broken() -> None:
    texts = {"facts/pulse/pactl-info.txt": "\n--- stderr ---\nConnection failure: Connection refused\n",
             "facts/x11/xdpyinfo.txt": "\n--- stderr ---\nxdpyinfo:  unable to open display \":9\".\n",
             "facts/podman/info.json": "", "facts/image/inspect.json": "[]\n--- stderr ---\nError: image not known\n"}
    facts = dict(host_facts(texts))
    assert facts["pulse server"] == "not reachable (Connection failure: Connection refused)"
    assert facts["X server"] == 'not reachable (xdpyinfo:  unable to open display ":9".)'
    assert facts["podman"] == "not available" and facts["OCI runtime"] == "unknown"
    assert facts["image"] == "not available (Error: image not known)"
    assert facts["distribution"] == "unknown" and facts["last launch"] == "unknown"


def test_summary_lists_problems_with_advice_and_crash_verdicts() -> None:
    results = [
        CheckResult("x11.display", Status.OK, "DISPLAY=:0"),
        CheckResult("pulse.socket", Status.FAIL, "no container socket",
                    (Message.error("pulse-socket is missing", "spotidoctor fix pulse.socket"),),
                    severity=Severity.ERROR),
        CheckResult("storage.owner", Status.WARN, "cache owned by | you", (Message.info("hidden info"),)),
        CheckResult("crash.last-launch", Status.FAIL, "Out of memory: /dev/shm is 64 MB",
                    (Message.error("FATAL:memory.cc(40)] Out of memory. size=262144", "launch with --shm-size=1g"),)),
    ]
    items = [texts_item("facts/pulse/pactl-info.txt", PACTL_INFO),
             Item(ManifestEntry("facts/x11/xhost.txt", "command", "xhost", "spotidoctor", ItemStatus.TIMED_OUT,
                                "timed out after 5s; partial output kept"), "")]
    text = render(SummaryInput(results, items, True, "2026-11-30 00:00:00 +0000"))
    crash_part = text.split("## Crash verdicts")[1].split("## Problems")[0]
    problems = text.split("## Problems")[1].split("## All results")[0]
    assert "`crash.last-launch` (fail): Out of memory: /dev/shm is 64 MB" in crash_part
    assert "  - → launch with --shm-size=1g" in crash_part
    assert "`pulse.socket` (fail): no container socket" in problems and "  - → spotidoctor fix pulse.socket" in problems
    assert "cache owned by \\| you" in problems and "hidden info" not in text
    assert "crash.last-launch" not in problems and "x11.display" not in problems
    assert "| pulse server | pulseaudio 16.1 |" in text
    assert "| `x11.display` | ok | DISPLAY=:0 |" in text
    assert "- `facts/x11/xhost.txt`: timed-out, timed out after 5s; partial output kept" in text
    assert "No crash checks ran." in render(SummaryInput(results[:1], [], False, "now"))


# -- the whole report over fakes ---------------------------------------------------------------

class FailingCheck(Check):
    """What it checks: nothing. Why it matters: tests. Fix safety: none."""

    id = "pulse.fake-socket"
    title = "fake pulse socket"

    def run(self, ctx: Context) -> CheckResult:
        return self.fail(f"socket missing in {ctx.user.home}/run", Message.error("no socket", "restart pulse"))

    def collect(self, spec: BundleSpec, ctx: Context) -> None:
        spec.add_text("note.txt", f"user {ctx.user.name} on host testhost, home {ctx.user.home}\n")
        spec.add_file("~/.config/pulse/cookie", "cookie")  # must be refused
        spec.add_env("DISPLAY", "SPOTIFY_TOKEN")
        own = ctx.prior.get(self.id)
        if own is not None and own.status is Status.FAIL:  # the report hands collect() every result
            spec.add_text("more-evidence.txt", "collected because the check failed\n")
        pulse_evidence(spec, ctx)  # what the real pulse.server declares


class StorageEvidence(Check):
    """What it checks: nothing; declares what the real storage.dir declares."""

    id = "storage.fake-dir"
    title = "fake storage"

    def run(self, ctx: Context) -> CheckResult:
        return self.ok("fine")

    def collect(self, spec: BundleSpec, ctx: Context) -> None:
        spotify_evidence(spec, ctx)


class CrashVerdict(Check):
    """What it checks: the last launch. Why it matters: tests. Fix safety: none."""

    id = "crash.fake-verdict"
    title = "fake crash verdict"

    def run(self, ctx: Context) -> CheckResult:
        return self.fail("killed by SIGTRAP (133): likely out of memory", Message.error("exit 133", "--shm-size=1g"))


class BrokenCollect(Check):
    """What it checks: nothing. Why it matters: tests. Fix safety: none."""

    id = "x11.broken-collect"
    title = "broken collect"
    leak: ClassVar[bool] = False

    def run(self, ctx: Context) -> CheckResult:
        return self.ok("fine")

    def collect(self, spec: BundleSpec, ctx: Context) -> None:
        if BrokenCollect.leak:  # a careless plugin: evidence that happens to hold the cookie
            spec.add_text("dump.txt", "debug " + COOKIE.hex() + "\n")
            return
        raise RuntimeError("boom")


def fake_session(tmp_path: Path, checks: tuple[type[Check], ...] = (FailingCheck, CrashVerdict, BrokenCollect,
                                                                    StorageEvidence),
                 env_hostname: str = "testhost", **env: str) -> Session:
    prefs = f"{HOME}/.spotify/config/prefs"
    files = {"/etc/passwd": PASSWD, "/proc/sys/kernel/hostname": f"{env_hostname}\n", "/etc/hostname": "testhost\n",
             "/etc/machine-id": "0123456789abcdef0123456789abcdef\n", "/etc/subuid": "alice:100000:65536\n",
             f"{HOME}/.config/pulse/cookie": COOKIE,
             prefs: 'autologin.username="canaryuser"\nautologin.saved_credentials="CANARYSECRET42XYZ"\n'}
    runner = FakeCommandRunner([FakeCommand(("pactl", "info"), stdout=PACTL_INFO.replace("vm", "testhost"))],
                               missing=GLOBAL_COMMANDS)
    ctx = make_context(tmp_path / "root", files=files, commands=runner,
                       env={"DISPLAY": ":0", "SPOTIFY_TOKEN": "tok-secret-1", "HOSTNAME": "testhost", **env})
    plant_launch(ctx, "20261129-000000-bbbbbb",
                 numbered(300, {150: f"[x:FATAL:memory.cc(40)] Out of memory. {HOME}/.cache 192.168.7.9"}),
                 argv=("podman", "run", "-e", "SPOTIFY_TOKEN=tok-secret-2"), exit_code=133)
    return Session(ctx, Registry(tuple(Loaded(c, "test") for c in checks), ()))


def members_of(bundle_members) -> dict[str, str]:
    return {m.name: m.data.decode() for m in bundle_members}


def test_gather_and_assemble_redacted_members(tmp_path) -> None:
    BrokenCollect.leak = False
    session = fake_session(tmp_path)
    bundle = gather(session, Options(collect_timeout_s=2))
    assert bundle.identity.login_names == ("alice",) and bundle.identity.other_users == ("bob",)
    assert bundle.identity.spotify_users == ("canaryuser",) and "testhost" in bundle.identity.hostnames
    members = members_of(assemble(bundle, Redactor(bundle.identity, TokenMap()), created="now"))
    everything = "\n".join([*members, *members.values()])
    for secret in ("alice", "testhost", HOME, "canaryuser", "CANARYSECRET42XYZ", "tok-secret", "192.168.7.9",
                   "0123456789abcdef0123456789abcdef", COOKIE.hex(), "Liddell"):
        assert secret not in everything, secret
    assert members["facts/checks/pulse.fake-socket/more-evidence.txt"] == "collected because the check failed\n"
    note = members["facts/checks/pulse.fake-socket/note.txt"]
    assert note == "user obfuscateduser0 on host host0, home /home/homedir0\n"
    assert members["facts/checks/pulse.fake-socket/environment.txt"] == (
        "DISPLAY=:0\nSPOTIFY_TOKEN is set; value withheld (the name looks secret)\n")
    manifest = json.loads(members["manifest.json"])
    by_name = {e["name"]: e for e in manifest["items"]}
    assert by_name["facts/checks/pulse.fake-socket/cookie"]["status"] == "skipped"
    assert by_name["facts/checks/x11.broken-collect"]["reason"] == "collect() raised RuntimeError: boom"
    assert set(members) - {"summary.md", "results.json", "manifest.json", "redaction.json"} <= set(by_name)
    results = json.loads(members["results.json"])
    assert results["schema"] == 1 and results["command"] == "report"
    assert [r["id"] for r in results["results"]] == ["pulse.fake-socket", "crash.fake-verdict", "x11.broken-collect",
                                                     "storage.fake-dir"]
    assert results["results"][0]["summary"] == "socket missing in /home/homedir0/run"
    summary = members["summary.md"]
    assert "killed by SIGTRAP (133)" in summary.split("## Crash verdicts")[1].split("## Problems")[0]
    assert "| pulse server | pulseaudio 16.1 |" in summary
    log = members["logs/20261129-000000-bbbbbb/container.log"]
    assert "Out of memory. /home/homedir0/.cache ip4addr0" in log
    assert OMITTED.format(n=110) in log and OMITTED.format(n=79) in log
    assert "SPOTIFY_TOKEN=<withheld>" in members["logs/20261129-000000-bbbbbb/launch.json"]
    redaction = json.loads(members["redaction.json"])
    assert redaction["identity_redaction"] == "on" and redaction["replaced"]["user names"] >= 2


def args(**overrides: Any) -> ReportOptions:
    base: dict[str, Any] = dict(output=None, preview=False, no_redact=False, include_logs=3)
    return ReportOptions(SessionOptions(), **{**base, **overrides})


@pytest.fixture
def patched(tmp_path, monkeypatch):
    def install(**env: str) -> Session:
        session = fake_session(tmp_path, **env)
        monkeypatch.setattr(report_cmd, "make_session", lambda a: session)
        monkeypatch.setattr(report_cmd.socket, "gethostname", lambda: "testhost")
        return session

    return install


def run_command(namespace: ReportOptions) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = report_cmd.run(namespace)
    return code, out.getvalue(), err.getvalue()


def test_report_writes_a_private_archive_and_the_token_map_outside_it(tmp_path, patched) -> None:
    BrokenCollect.leak = False
    session = patched()
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code, out, err = run_command(args(output=str(out_dir)))
    (path,) = out_dir.iterdir()
    assert code == 0 and out == f"{path}\n"
    assert path.name.startswith("spotidoctor-report-") and path.name.endswith(".tar.gz")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with tarfile.open(path) as tar:
        names = [m.name.split("/", 1)[1] for m in tar.getmembers()]
    assert {"summary.md", "results.json", "manifest.json", "redaction.json", "facts/environment.txt"} <= set(names)
    map_path = session.ctx.probes.fs.host(default_map_path(session.ctx.paths.state_dir))
    assert stat.S_IMODE(os.stat(map_path).st_mode) == 0o600
    saved = json.loads(Path(map_path).read_text())["map"]
    assert saved["user"]["alice"] == "obfuscateduser0" and saved["host"]["testhost"] == "host0"
    assert "Token map (private)" in err and "user names" in err
    assert f"open an issue at {ISSUES_URL} and attach the archive" in err


def test_report_to_an_explicit_file_name(tmp_path, patched) -> None:
    BrokenCollect.leak = False
    patched()
    target = tmp_path / "alice-report.tar.gz"  # the user's own choice of name stays outside the archive
    code, out, _ = run_command(args(output=str(target)))
    assert code == 0 and out == f"{target}\n" and target.exists()
    with tarfile.open(target) as tar:
        assert not any("alice" in m.name for m in tar.getmembers())


def test_a_leak_fails_closed_and_deletes_the_archive(tmp_path, patched) -> None:
    BrokenCollect.leak = True
    try:
        patched()
        out_dir = tmp_path / "out"
        out_dir.mkdir()
        with pytest.raises(report_cmd.LeakDetected) as caught:
            run_command(args(output=str(out_dir)))
        assert list(out_dir.iterdir()) == []
        message = str(caught.value)
        assert "pulse cookie ~/.config/pulse/cookie in spotidoctor-report-" in message
        assert "dump.txt" in message and COOKIE.hex() not in message and "/home/alice" not in message
        assert caught.value.exit_code == 3
    finally:
        BrokenCollect.leak = False


def test_cli_exit_code_and_message_when_failing_closed(tmp_path, patched, capsys) -> None:
    BrokenCollect.leak = True
    try:
        patched()
        code = main(["report", "-o", str(tmp_path)])
        err = capsys.readouterr().err
        assert code == 3 and "spotidoctor: error: refusing to write the report" in err
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(("spotidoctor-report", ".spotidoctor-report"))]
    finally:
        BrokenCollect.leak = False


def test_preview_writes_nothing(tmp_path, patched) -> None:
    BrokenCollect.leak = False
    session = patched()
    before = sorted(p for p in tmp_path.rglob("*"))
    code, out, _ = run_command(args(preview=True, output=str(tmp_path / "nope.tar.gz")))
    assert code == 0 and sorted(p for p in tmp_path.rglob("*")) == before
    assert not os.path.exists(session.ctx.probes.fs.host(default_map_path(session.ctx.paths.state_dir)))
    assert "nothing was written" in out and "facts/environment.txt" in out
    assert "user names:" in out and "host names:" in out and "withheld (credential value)" in out
    assert "  facts/storage/spotify-prefs  (" in out
    assert "Token map (outside the archive): ~/.local/state/spotidoctor/" in out
    assert "facts/checks/pulse.fake-socket/cookie: forbidden: the name looks like credential material" in out
    assert "alice" not in out and "testhost" not in out


def test_no_redact_is_loud_and_keeps_names_but_not_secrets(tmp_path, patched) -> None:
    BrokenCollect.leak = False
    patched()
    code, out, err = run_command(args(output=str(tmp_path), no_redact=True))
    assert code == 0 and err.count("!!! spotidoctor report --no-redact !!!") == 2
    with tarfile.open(out.strip()) as tar:
        data = b"".join(tar.extractfile(m).read() for m in tar.getmembers() if m.isfile())  # type: ignore[union-attr]
    assert b"alice" in data and b"testhost" in data
    for secret in (b"CANARYSECRET42XYZ", b"canaryuser", b"tok-secret", COOKIE.hex().encode()):
        assert secret not in data


def test_negative_include_logs_is_a_usage_error(tmp_path, patched) -> None:
    patched()
    assert main(["report", "--include-logs", "-1", "-o", str(tmp_path)]) == 2


def test_missing_output_directory_is_a_usage_error(tmp_path, patched, capsys) -> None:
    patched()
    assert main(["report", "-o", str(tmp_path / "no" / "such" / "r.tar.gz")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_a_hanging_collect_is_abandoned(tmp_path) -> None:
    import threading

    release = threading.Event()

    class Hangs(Check):
        """What it checks: nothing. Why it matters: tests. Fix safety: none."""

        id = "x11.hangs"
        title = "hangs"

        def run(self, ctx: Context) -> CheckResult:
            return self.ok("ok")

        def collect(self, spec: BundleSpec, ctx: Context) -> None:
            release.wait(30)
            spec.add_text("late.txt", "late")

    try:
        bundle = gather(fake_session(tmp_path, (Hangs,)), Options(collect_timeout_s=0.2))
    finally:
        release.set()
    (note,) = [i for i in bundle.items if i.entry.origin == "x11.hangs"]
    assert note.entry.reason == "collect() did not finish within 0.2s; its items were dropped"


def test_identity_only_real_users_and_no_public_words(tmp_path) -> None:
    from spotidoctor.bundle.identity import gather as gather_identity

    passwd = PASSWD + "spotify:x:1602:1602::/home/spotify:/bin/sh\nsys9:x:999:999::/var/lib/sys9:/bin/false\n"
    ctx = make_context(tmp_path, files={"/etc/passwd": passwd, "/etc/login.defs": "UID_MIN 1000\nUID_MAX 60000\n",
                                        "/etc/hosts": "127.0.0.1 localhost\n127.0.1.1 testhost.example.org testhost\n",
                                        "/proc/sys/kernel/hostname": "testhost\n"})
    identity = gather_identity(ctx)
    assert identity == Identity(login_names=("alice",), other_users=("bob",), full_names=("Alice Liddell",),
                                homes=("/home/spotify", "/home/alice", "/home/bob"),
                                hostnames=("testhost.example.org", "testhost"))


def test_host_facts_say_why_an_answer_is_missing() -> None:
    entries = {
        "facts/podman/version.txt": ManifestEntry("facts/podman/version.txt", "command", "podman version",
                                                  "spotidoctor", ItemStatus.SKIPPED, "command not found"),
        "facts/x11/xdpyinfo.txt": ManifestEntry("facts/x11/xdpyinfo.txt", "command", "xdpyinfo", "spotidoctor",
                                                ItemStatus.TIMED_OUT, "timed out after 5s; partial output kept"),
    }
    facts = dict(host_facts({"facts/x11/xdpyinfo.txt": ""}, entries))
    assert facts["podman"] == "not available (command not found)"
    assert facts["X server"] == "not reachable (timed out after 5s)"
    assert facts["cgroup manager / version (podman)"] == "unknown"


def test_host_named_like_the_archive_itself_is_still_consistent(tmp_path, monkeypatch) -> None:
    """Every name in the archive goes through the redactor, even the top directory."""
    BrokenCollect.leak = False
    session = fake_session(tmp_path, env_hostname="report")
    monkeypatch.setattr(report_cmd, "make_session", lambda a: session)
    monkeypatch.setattr(report_cmd.socket, "gethostname", lambda: "report")
    code, out, _ = run_command(args(output=str(tmp_path)))
    assert code == 0
    with tarfile.open(out.strip()) as tar:
        tops = {m.name.split("/")[0] for m in tar.getmembers()}
    (top,) = tops
    assert top.startswith("spotidoctor-host") and "report" not in top
