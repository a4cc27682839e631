"""`spotidoctor launch` on fakes: preflight and its fixes, the refusal gate, the storage guard,
building a missing image, the launch record, exit codes and the crash diagnosis hand-off."""
from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from spotidoctor.api import Check, CheckResult, Context, Message
from spotidoctor.backend.build import BuildOutcome
from spotidoctor.backend.failures import BuildFailure, FailureKind
from spotidoctor.backend.limits import Lifted
from spotidoctor.backend.runargs import HostFacts
from spotidoctor.channels.urlopen import CONTAINER_SHIM
from spotidoctor.commands import launch as launch_mod
from spotidoctor.commands import launchimage
from spotidoctor.commands.options import LaunchOptions
from spotidoctor.config import Config
from spotidoctor.daily.launchparts import DailyParts
from spotidoctor.engine.planning import launch_plan
from spotidoctor.engine.registry import Loaded, Registry
from spotidoctor.engine.session import Session, SessionOptions
from spotidoctor.errors import ConfigError
from spotidoctor.fixes import Fix, WriteFile
from spotidoctor.launcher import supervisor
from spotidoctor.launcher.channel import ChannelReport
from spotidoctor.launcher.channels import LaunchRefused, OpenChannels
from spotidoctor.launcher.plan import ChannelPlan
from spotidoctor.model import Severity, Status
from spotidoctor.probes.command import Started
from spotidoctor.probes.procs import Limit
from spotidoctor.testing import FakeCommand, FakeCommandRunner, make_context

IMAGE = "localhost/spotidoctor-standin:test"
NAME = "spotify-test"
STATE = "/home/alice/.local/state/spotidoctor"
RUN = "/run/user/1600"
HOST_FILES = {f"{RUN}/spotidoctor/Xauthority-0": b"c", f"{RUN}/pulse/pulse-socket": b"",
              f"{RUN}/spotidoctor/pulse-cookie": b"c" * 256}
INSPECT = json.dumps([{"Id": "abc", "Created": "2026-11-29T22:51:11.1Z", "Config": {"User": "1500:1500"},
                       "Labels": {}}])
FLAG = "/home/alice/fixed"
NO_DAILY_PARTS = DailyParts((), (), None, ())
INSTANCE_FORMAT = "{{.State.Status}}\t{{.State.Running}}\t{{.ImageName}}"


class Mapping_(Check):
    """Publishes the mapped uid, like userns.mapping."""

    id = "userns.mapping"
    title = "mapping"
    tags = frozenset({"launch"})

    def run(self, ctx: Context) -> CheckResult:
        return self.ok("mapped", facts={"host_uid": 101499, "host_gid": 101499})


class Fixable(Check):
    """Fails until its safe fix wrote FLAG."""

    id = "x11.fake-fixable"
    title = "fixable"
    tags = frozenset({"launch"})

    def run(self, ctx: Context) -> CheckResult:
        if ctx.probes.fs.exists(FLAG):
            return self.ok("fixed")
        return self.fail("not fixed", fixes=(Fix.safe("x11.fake-fix", "Write the flag",
                                                      WriteFile("write flag", path=FLAG, content="x\n")),))


class Broken(Check):
    """Fails with nothing to fix."""

    id = "pulse.fake-broken"
    title = "broken"
    tags = frozenset({"launch"})

    def run(self, ctx: Context) -> CheckResult:
        return self.fail("broken beyond repair", Message.error("really"))


class Warning_(Check):
    id = "pulse.fake-warning"
    title = "warning only"
    severity = Severity.WARNING
    tags = frozenset({"launch"})

    def run(self, ctx: Context) -> CheckResult:
        return self.fail("only a warning")


class SlowForLaunch(Check):
    """Starts a throwaway container, so a dry run leaves it out."""

    id = "podman.fake-slow"
    title = "slow"
    tags = frozenset({"launch", "slow"})

    def run(self, ctx: Context) -> CheckResult:
        return self.ok("started a container")


class NotForLaunch(Check):
    id = "crash.fake-slow"
    title = "never run by launch"

    def run(self, ctx: Context) -> CheckResult:
        raise AssertionError("launch must run only checks tagged launch")


class Podman(FakeCommandRunner):
    """Fake podman whose `run` (started in the foreground) records what it saw at that moment."""

    def __init__(self, commands: Sequence[FakeCommand], code: int = 0, lock: list[bool] | None = None,
                 fs_root: Path | None = None, instance: FakeCommand | None = None) -> None:
        # Every launch first asks whether Spotify runs already (one Spotify at a time).
        super().__init__([*commands, instance or no_instance()])
        self.code = code
        self.ran: list[tuple[str, ...]] = []
        self.lock = lock
        self.lock_held_while_running: bool | None = None
        self.record_before: dict[str, Any] | None = None
        self.fs_root = fs_root
        self.output = b""  # what podman writes on stdout / stderr
        self.errors = b""

    def start(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: str | None = None,
              stdin: int | None = None, stdout: int | None = None, stderr: int | None = None,
              capture_stderr: bool = False, pass_fds: Sequence[int] = (), own_session: bool = True) -> Started:
        assert not own_session, "podman run stays in our process group: the terminal's Ctrl-C reaches it"
        self.ran.append(tuple(argv))
        self.lock_held_while_running = bool(self.lock and self.lock[-1])
        if self.fs_root is not None:
            [record] = (self.fs_root / STATE.lstrip("/") / "launches").glob("*/launch.json")
            self.record_before = json.loads(record.read_text())
        for fd, text in ((stdout, self.output), (stderr, self.errors)):
            if fd is not None and text:
                os.write(fd, text)
        return Started.ended(argv, self.code)


def no_instance() -> FakeCommand:
    return FakeCommand(("podman", "container", "inspect", "--format", INSTANCE_FORMAT, NAME), returncode=125,
                       stderr=f"Error: no such container {NAME}\n")


def image_present() -> list[FakeCommand]:
    return [FakeCommand(("podman", "image", "exists", IMAGE)),
            FakeCommand(("podman", "image", "inspect", IMAGE), stdout=INSPECT)]


def image_absent() -> list[FakeCommand]:
    return [FakeCommand(("podman", "image", "exists", IMAGE), returncode=1),
            FakeCommand(("podman", "image", "inspect", "--format", "{{.Id}}", IMAGE), returncode=125,
                        stderr=f"Error: inspecting object: {IMAGE}: image not known\n")]


def uid_maps() -> list[FakeCommand]:
    """podman's live maps, asked when no preflight published the mapped uid (--no-check)."""
    return [FakeCommand(("podman", "unshare", "cat", f"/proc/self/{m}"), stdout="0 1600 1\n1 100000 65536\n")
            for m in ("uid_map", "gid_map")]


def container_free() -> list[FakeCommand]:
    return [FakeCommand(("podman", "container", "exists", NAME), returncode=1)]


def make_args(**overrides: Any) -> LaunchOptions:
    values: dict[str, Any] = dict(dry_run=False, no_check=False, yes=False, force=False, network=None,
                                  spotify_args=[], verbose=False)
    values.update(overrides)
    verbose = values.pop("verbose")
    return LaunchOptions(SessionOptions(verbose=verbose), **{**values, "spotify_args": tuple(values["spotify_args"])})


@pytest.fixture
def lock(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Replace the fix lock with a recorder: [..., True while held]."""
    state: list[bool] = [False]

    @contextlib.contextmanager
    def exclusive(path: str, what: str) -> Iterator[None]:
        state.append(True)
        try:
            yield
        finally:
            state.append(False)

    monkeypatch.setattr(launch_mod, "exclusive", exclusive)
    monkeypatch.setattr(launchimage, "exclusive", exclusive)
    return state


@pytest.fixture(autouse=True)
def no_real_side_effects(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """No real rlimit change and a permissive storage guard unless a test says otherwise."""
    calls: list[str] = []

    def lift() -> Lifted:
        calls.append("lift")
        return Lifted(Limit(4 << 30, None), Limit(None, None))

    monkeypatch.setattr(supervisor, "lift_address_space", lift)
    monkeypatch.setattr(launch_mod, "storage_refusal", lambda ctx: None)
    monkeypatch.setattr(supervisor.channels_mod, "open_channels", no_channels)
    # the real one looks inside the image
    monkeypatch.setattr(supervisor, "daily_parts", lambda ctx, results, image_id=None: NO_DAILY_PARTS)
    return calls


def no_channels(ctx: Context, plan: ChannelPlan, results: Sequence[CheckResult], *, container: str,
                log: Any) -> OpenChannels:
    """The launch's channels start real relays: tests/unit/test_launcher*.py and the integration tests
    cover them; here the launch runs without any."""
    return OpenChannels(None)


def session(tmp_path: Path, podman: FakeCommandRunner, *checks: type[Check], config: Config | None = None,
            files: Mapping[str, str | bytes] | None = None) -> Session:
    config = config or Config(image=IMAGE, container_name=NAME)
    ctx = make_context(tmp_path, commands=podman, config=config, env={"DISPLAY": ":0"},
                       files={**HOST_FILES, **(files or {})}, owners={f"{RUN}/spotidoctor/pulse-cookie": (1600, 1600)})
    # As if given as flags, so they survive the config.toml re-read after fixes.
    overrides = {f.name: getattr(config, f.name) for f in dataclasses.fields(Config)
                 if f.name != "source" and getattr(config, f.name) != getattr(Config(), f.name)}
    registry = Registry(tuple(Loaded(c, "test") for c in (Mapping_, *checks, NotForLaunch)), ())
    return Session(dataclasses.replace(ctx, config_overrides=overrides), registry)


def launch(sess: Session, args: LaunchOptions, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = launch_mod.launch(sess, args, io.StringIO(stdin), out, err)
    return code, out.getvalue(), err.getvalue()


def launch_records(tmp_path: Path) -> list[dict[str, Any]]:
    root = tmp_path / STATE.lstrip("/") / "launches"
    return [json.loads(p.read_text()) for p in sorted(root.glob("*/launch.json"))]


# -- dry run ----------------------------------------------------------------------------------

def test_dry_run_prints_every_argument_with_its_reason_and_runs_nothing(tmp_path: Path) -> None:
    podman = Podman([])
    code, out, err = launch(session(tmp_path, podman), make_args(dry_run=True, network="none",
                                                                 spotify_args=["--exit=7"]))
    assert code == 0 and podman.ran == [] and not launch_records(tmp_path)
    lines = out.splitlines()
    assert lines[0].startswith("# spotidoctor launch --dry-run")
    args = [line.split("  # ")[0].strip() for line in lines[1:]]
    assert args[:3] == ["podman", "run", "--rm"]
    assert "--network=none" in args and args[-3:] == [IMAGE, "--exit=7", "--audio-api=pulseaudio"]
    assert all("  # " in line for line in lines[1:])
    assert "--shm-size=1g" in out and "Out of memory" in out
    assert "Preflight:" in err  # the preflight goes to stderr, so stdout is only the command


def test_dry_run_leaves_out_slow_checks(tmp_path: Path) -> None:
    sess = session(tmp_path, Podman([]), SlowForLaunch)
    assert launch_plan(sess, slow=False).ignored == frozenset({"podman.fake-slow"})
    assert launch_plan(sess).ignored == frozenset()
    code, _, err = launch(sess, make_args(dry_run=True, verbose=True))
    assert code == 0 and "started a container" not in err and "podman.fake-slow:" not in err


def test_dry_run_says_when_the_launch_would_be_refused(tmp_path: Path) -> None:
    code, out, err = launch(session(tmp_path, Podman([]), Broken), make_args(dry_run=True))
    assert code == 1 and "podman" in out.splitlines()[1]
    assert "Launch refused: 1 problem(s) must be fixed first: pulse.fake-broken." in err
    # The command is not presented as if all was fine.
    assert out.splitlines()[0].endswith("NOT READY: launch refuses it while pulse.fake-broken fail(s)")


def test_dry_run_names_the_slow_checks_it_did_not_run(tmp_path: Path) -> None:
    code, out, err = launch(session(tmp_path, Podman([]), SlowForLaunch), make_args(dry_run=True))
    assert code == 0 and "NOT READY" not in out
    assert ("Dry run: not checked (they start throwaway containers): podman.fake-slow. "
            "`spotidoctor check podman.fake-slow` runs them") in err
    _, _, quiet = launch(session(tmp_path, Podman(uid_maps()), SlowForLaunch), make_args(dry_run=True, no_check=True))
    assert "not checked" not in quiet  # nothing was checked at all: no partial claim


def test_a_small_shm_size_is_named_before_the_launch(tmp_path: Path, lock: list[bool]) -> None:
    from spotidoctor.checks.crash.launch_settings import LaunchSettings

    podman = Podman([*image_present(), *container_free()])
    config = Config(image=IMAGE, container_name=NAME, shm_size="64m")
    code, out, _ = launch(session(tmp_path, podman, LaunchSettings, config=config), make_args())
    assert code == 0 and podman.ran  # a warning: the launch goes on
    preflight = out.split("Starting Spotify")[0]
    assert 'crash.launch-settings: shm_size = "64m" gives the container a 64 MiB /dev/shm' in preflight


# -- preflight and the gate ----------------------------------------------------------------------

def test_refused_while_an_error_remains(tmp_path: Path, lock: list[bool]) -> None:
    podman = Podman([])
    code, out, _ = launch(session(tmp_path, podman, Broken, Warning_), make_args(yes=True))
    assert code == 1 and podman.ran == []
    assert "Launch refused: 1 problem(s) must be fixed first: pulse.fake-broken." in out
    assert "[✗] pulse.fake-broken: broken beyond repair" in out
    assert "pulse.fake-warning" in out  # shown, but a warning never refuses


def test_force_launches_loudly(tmp_path: Path, lock: list[bool]) -> None:
    podman = Podman([*image_present(), *container_free()], code=0)
    code, out, err = launch(session(tmp_path, podman, Broken), make_args(force=True))
    assert code == 0 and len(podman.ran) == 1
    assert err.startswith("WARNING: --force: launching although 1 check(s) fail: pulse.fake-broken.")


def test_safe_fixes_are_applied_under_the_lock_and_the_lock_is_released_before_spotify(
        tmp_path: Path, lock: list[bool]) -> None:
    podman = Podman([*image_present(), *container_free()], code=0, lock=lock)
    sess = session(tmp_path, podman, Fixable)
    code, out, _ = launch(sess, make_args(yes=True))
    assert code == 0
    assert sess.ctx.probes.fs.read_text(FLAG) == "x\n"
    assert "→ Write the flag  [safe, user]" in out
    assert lock == [False, True, False] and podman.lock_held_while_running is False


def test_safe_fix_needs_consent_without_yes(tmp_path: Path, lock: list[bool]) -> None:
    podman = Podman([])
    code, out, _ = launch(session(tmp_path, podman, Fixable), make_args())
    assert code == 1 and podman.ran == [] and lock == [False, True, False]
    assert "not applied: Write the flag (no terminal to ask; --yes applies safe fixes)" in out


def test_no_check_skips_the_preflight(tmp_path: Path) -> None:
    podman = Podman([*image_present(), *container_free(), *uid_maps()], code=0)
    code, out, _ = launch(session(tmp_path, podman, Broken), make_args(no_check=True))
    assert code == 0 and "Preflight" not in out and len(podman.ran) == 1


def test_storage_guard_is_never_overridable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(launch_mod, "storage_refusal", lambda ctx: ("/home/alice", "it is your home directory"))
    podman = Podman([])
    code, out, _ = launch(session(tmp_path, podman), make_args(force=True, no_check=True))
    assert code == 1 and podman.ran == []
    assert out.startswith("Launch refused: spotidoctor will not mount /home/alice into the container: "
                          "it is your home directory.")


# -- image and container ----------------------------------------------------------------------

def test_missing_image_is_built_under_the_lock_first(tmp_path: Path, lock: list[bool],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[tuple[str, bool]] = []

    def run_build(probes: object, paths: object, request: Any, display: object) -> BuildOutcome:
        built.append((request.image, lock[-1]))
        return BuildOutcome(request.image, 0, f"{STATE}/builds/x.log", "sha256:abc")

    monkeypatch.setattr(launchimage, "run_build", run_build)
    podman = Podman([*image_absent(), *container_free(), *uid_maps()], code=0)
    code, out, _ = launch(session(tmp_path, podman), make_args(no_check=True, yes=True))
    assert code == 0 and built == [(IMAGE, True)]
    assert f"{IMAGE} is not built yet: building it now" in out


def test_failed_build_stops_the_launch_with_the_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        lock: list[bool]) -> None:
    failure = BuildFailure(FailureKind.SIGNING_KEY, "apt does not trust Spotify's repository (NO_PUBKEY 1)",
                           ("look up the key",), "W: NO_PUBKEY 1", "https://www.spotify.com/us/download/linux/")
    monkeypatch.setattr(launchimage, "run_build",
                        lambda *a: BuildOutcome(IMAGE, 100, f"{STATE}/builds/x.log", failure=failure))
    podman = Podman(image_absent())
    code, out, _ = launch(session(tmp_path, podman), make_args(no_check=True))
    assert code == 1 and podman.ran == []
    assert f"Build of {IMAGE} failed: apt does not trust Spotify's repository (NO_PUBKEY 1)" in out
    assert "see https://www.spotify.com/us/download/linux/" in out


def test_a_running_container_with_the_same_name_is_reported(tmp_path: Path) -> None:
    podman = Podman([*image_present(), FakeCommand(("podman", "container", "exists", NAME))])
    code, out, _ = launch(session(tmp_path, podman), make_args())
    assert code == 1 and podman.ran == []
    assert f"A container named {NAME} exists already" in out


# -- the run ----------------------------------------------------------------------------------

def test_launch_record_before_and_after_and_spotifys_exit_code(tmp_path: Path,
                                                                no_real_side_effects: list[str]) -> None:
    podman = Podman([*image_present(), *container_free()], code=0, fs_root=tmp_path)
    code, out, _ = launch(session(tmp_path, podman), make_args(network="none", spotify_args=["--exit=0"]))
    assert code == 0 and no_real_side_effects == ["lift"]
    [argv] = podman.ran
    before = podman.record_before
    assert before is not None and before["exit_code"] is None and before["ended"] is None
    assert tuple(before["argv"]) == argv and before["host"]["rlimit_as_before"] == [4 << 30, None]
    [after] = launch_records(tmp_path)
    assert after["exit_code"] == 0 and after["ended"] >= after["started"]
    assert (after["image"], after["container_name"], after["profile"], after["shm_size"]) == (
        IMAGE, NAME, "isolated", "1g")
    assert after["spotify_args"] == ["--exit=0"] and set(after["rlimits"]) >= {"as", "nofile"}
    log_opt = next(a for a in argv if a.startswith("--log-opt=path="))
    assert log_opt == f"--log-opt=path={STATE}/launches/{after['launch_id']}/container.log"
    assert "--network=none" in argv and "--user=1500:1500" in argv
    assert "--volume=/tmp/.X11-unix/X0:/tmp/.X11-unix/X0:ro" in argv
    assert f"Starting Spotify from {IMAGE} (profile isolated)" in out


def test_non_zero_exit_runs_the_crash_diagnosis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int | None] = []

    def diagnose(ctx: Context, record: Any) -> CheckResult:
        seen.append(record.exit_code)
        return CheckResult("crash.last-launch", Status.FAIL, "/dev/shm too small (64 MB)",
                           (Message.error("FATAL:memory.cc(40)] Out of memory. size=262144"),))

    monkeypatch.setattr("spotidoctor.crash.launches.diagnose_launch", diagnose)
    podman = Podman([*image_present(), *container_free()], code=133)
    code, out, _ = launch(session(tmp_path, podman), make_args())
    assert code == 133 and seen == [133]
    assert "Spotify exited with status 133; diagnosing" in out
    assert "[✗] crash.last-launch: /dev/shm too small (64 MB)" in out


def test_podmans_own_error_line_reaches_the_record_and_the_diagnosis(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, ...]] = []
    monkeypatch.setattr("spotidoctor.crash.launches.diagnose_launch",
                        lambda ctx, record: seen.append(record.podman_errors) or
                        CheckResult("crash.last-launch", Status.FAIL, "podman error"))
    podman = Podman([*image_present(), *container_free()], code=125)
    podman.errors = b"Error: invalid ulimit type: as\n"  # what podman prints on its stderr
    code, _, err = launch(session(tmp_path, podman), make_args())
    assert code == 125 and seen == [("invalid ulimit type: as",)]
    assert "Error: invalid ulimit type: as" in err  # still shown as it comes
    assert launch_records(tmp_path)[0]["podman_errors"] == ["invalid ulimit type: as"]


@pytest.mark.parametrize("error, message", [
    pytest.param(NotImplementedError("later"), "crash diagnosis is not available in this version", id="stub"),
    pytest.param(RuntimeError("bug"), "crash diagnosis failed (RuntimeError: bug)", id="crash"),
])
def test_diagnosis_problems_never_hide_spotifys_exit_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           error: Exception, message: str) -> None:
    def diagnose(ctx: Context, record: Any) -> CheckResult:
        raise error

    monkeypatch.setattr("spotidoctor.crash.launches.diagnose_launch", diagnose)
    podman = Podman([*image_present(), *container_free()], code=7)
    code, out, _ = launch(session(tmp_path, podman), make_args())
    assert code == 7 and message in out


def test_user_stopped_spotify_is_not_diagnosed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("spotidoctor.crash.launches.diagnose_launch", lambda *a: pytest.fail("diagnosed"))
    podman = Podman([*image_present(), *container_free()], code=130)
    code, out, _ = launch(session(tmp_path, podman), make_args())
    assert code == 130 and "Spotify was stopped (exit status 130)." in out


def test_old_launch_dirs_are_rotated_and_rlimit_lifting_can_be_off(tmp_path: Path,
                                                                     no_real_side_effects: list[str]) -> None:
    old = {f"{STATE}/launches/2020010{i}-000000-abcdef/launch.json": "{}" for i in range(5)}
    config = Config(image=IMAGE, container_name=NAME, keep_launch_logs=2, lift_rlimit_as=False)
    podman = Podman([*image_present(), *container_free()], code=0)
    launch(session(tmp_path, podman, config=config, files=old), make_args())
    kept = sorted(p.name for p in (tmp_path / STATE.lstrip("/") / "launches").iterdir())
    assert len(kept) == 2 and kept[0] == "20200104-000000-abcdef"
    assert no_real_side_effects == []


def test_network_flag_reaches_the_preflight_config_and_survives_fixes(tmp_path: Path, lock: list[bool]) -> None:
    sess = launch_mod.with_network(session(tmp_path, Podman([])), "none")
    assert sess.ctx.config.network == "none" and sess.ctx.config_overrides["network"] == "none"
    assert launch_mod.with_network(sess, None) is sess

    class SeesNetwork(Check):
        id = "podman.fake-network"
        title = "network"
        tags = frozenset({"launch"})

        def run(self, ctx: Context) -> CheckResult:
            return self.ok("none") if ctx.config.network == "none" else self.fail(f"network {ctx.config.network!r}")

    # Fixable's fix triggers a second round, which re-reads config.toml (fixer.refreshed).
    podman = Podman([*image_present(), *container_free()], code=0)
    sess = launch_mod.with_network(session(tmp_path, podman, Fixable, SeesNetwork), "none")
    code, out, _ = launch(sess, make_args(yes=True, network="none"))
    assert code == 0, out


def test_launch_plan_is_the_launch_tagged_checks(tmp_path: Path) -> None:
    sess = session(tmp_path, Podman([]), Broken)
    assert [c.id for c in launch_plan(sess).checks] == ["userns.mapping", "pulse.fake-broken"]
    ignoring = Session(dataclasses.replace(sess.ctx, config=Config(ignore=("pulse",))), sess.registry)
    assert launch_plan(ignoring).ignored == frozenset({"pulse.fake-broken"})


# -- configuration, widenings, channels ----------------------------------------------------------------

def test_an_image_that_is_an_option_stops_before_podman_is_asked_anything(tmp_path: Path) -> None:
    podman = Podman([])  # any podman call would fail the test
    sess = session(tmp_path, podman, config=Config(image="--privileged", container_name=NAME))
    with pytest.raises(ConfigError, match="image '--privileged' starts with '-'"):
        launch(sess, make_args(yes=True))
    with pytest.raises(ConfigError):
        launch(sess, make_args(dry_run=True))
    assert podman.calls == [] and podman.ran == []


def test_widening_settings_are_named_in_the_preflight_and_the_dry_run(tmp_path: Path) -> None:
    config = Config(image=IMAGE, container_name=NAME, extra_run_args=("--privileged",), audio="direct")
    code, out, err = launch(session(tmp_path, Podman([]), config=config), make_args(dry_run=True))
    assert code == 0
    assert "WARNING: widens the sandbox: extra_run_args: --privileged: every capability, every host device" in err
    assert 'WARNING: widens the sandbox: audio = "direct": ' in err
    args = {line.split("  # ")[0].strip(): line.split("  # ")[1] for line in out.splitlines()[1:]}
    assert args["--privileged"] == "from config.toml (extra_run_args)"
    podman = Podman([*image_present(), *container_free()])
    code, out, _ = launch(session(tmp_path, podman, config=config), make_args(yes=True))
    assert code == 0 and "WARNING: widens the sandbox: extra_run_args: --privileged" in out


def test_dry_run_shows_the_channels_arguments_and_what_they_mean(tmp_path: Path) -> None:
    code, out, err = launch(session(tmp_path, Podman([])), make_args(dry_run=True))
    assert code == 0
    lines = {line.split("  # ")[0].strip(): line.split("  # ")[1] for line in out.splitlines()[1:]}
    pulse = f"--volume={RUN}/spotidoctor-pulse-XXXXXXXX/native:/run/spotidoctor/pulse-native"
    assert "playback-only filter" in lines[pulse]
    cookie = f"--volume={RUN}/spotidoctor-launch-XXXXXXXX/Xauthority:/run/spotidoctor/Xauthority:ro"
    assert "UNTRUSTED cookie" in lines[cookie]
    assert any(arg.endswith(":/usr/bin/xdg-open:ro") for arg in lines)
    assert lines[f"--env=BROWSER={CONTAINER_SHIM}"].startswith("links:")
    assert not any("pulse-cookie" in arg for arg in lines)  # no cookie in the default audio mode
    assert "# display: untrusted" in err and "no GLX (Spotify renders in software)" in err
    assert "# audio: filtered" in err and "# D-Bus: none" in err and "# sign-in: 127.0.0.1:4381" in err


def test_dry_run_shows_the_dbus_policy(tmp_path: Path) -> None:
    sess = session(tmp_path, Podman([]))
    sess = Session(dataclasses.replace(sess.ctx, env={**sess.ctx.env, "DBUS_SESSION_BUS_ADDRESS": "unix:abstract=x"}),
                   sess.registry)
    code, out, err = launch(sess, make_args(dry_run=True))
    assert code == 0 and f"--volume={RUN}/dbus-XXXXXXXX/bus:/run/spotidoctor/bus:ro" in out
    assert "--env=DBUS_SESSION_BUS_ADDRESS=unix:path=/run/spotidoctor/bus" in out
    assert "#   --own=org.mpris.MediaPlayer2.spotify" in err and "#   --filter" in err


class FakeChannel:
    def __init__(self, name: str, refused: int, stopped: list[str]) -> None:
        self.name = name
        self.refused = refused
        self.stopped = stopped

    def apply(self, host: HostFacts) -> HostFacts:
        return dataclasses.replace(host, channels=(*host.channels, (f"--env=FAKE_{self.name.upper()}=1", "test")))

    def stop(self) -> ChannelReport:
        self.stopped.append(self.name)
        return ChannelReport(self.name, self.refused, f"{self.name} {self.refused}", {"seen": True})


@pytest.fixture
def fake_channels(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    stopped: list[str] = []

    def opened(ctx: Context, plan: ChannelPlan, results: Sequence[CheckResult], *, container: str,
               log: Any) -> OpenChannels:
        return OpenChannels(None, [FakeChannel("audio", 2, stopped), FakeChannel("links", 0, stopped)],
                            ["a channel warning"])

    monkeypatch.setattr(supervisor.channels_mod, "open_channels", opened)
    return stopped


def test_channels_reach_podman_filter_its_output_and_report_at_the_end(tmp_path: Path,
                                                                       fake_channels: list[str]) -> None:
    podman = Podman([*image_present(), *container_free()], code=0)
    podman.output = b"\x1b]52;c;ZXZpbA==\x07hello\x1b]0;title\x07\n"
    podman.errors = b"\x1b[31mwarn\x1b[0m\n"
    code, out, err = launch(session(tmp_path, podman), make_args())
    assert code == 0 and fake_channels == ["links", "audio"]
    [ran] = podman.ran
    assert "--env=FAKE_AUDIO=1" in ran and "--env=FAKE_LINKS=1" in ran
    assert "hello\n" in out and "\x1b" not in out and "\x07" not in out
    assert err.endswith("warn\n") and "\x1b" not in err
    assert "warning: a channel warning" in out
    assert out.rstrip().splitlines()[-1].startswith("Refused by the channels: audio 2, links 0 (log: ")
    [record] = launch_records(tmp_path)
    assert record["channels"] == {"audio": {"refused": 2, "seen": True}, "links": {"refused": 0, "seen": True}}
    assert record["host"]["audio"] == "filtered" and record["host"]["x11_trust"] == "untrusted"


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt(), SystemExit(143)], ids=["ctrl-c", "sigterm"])
def test_channels_stop_when_spotidoctor_is_interrupted(tmp_path: Path, fake_channels: list[str],
                                                       interrupt: BaseException) -> None:
    class Interrupted(Podman):
        def start(self, argv: Sequence[str], **kwargs: Any) -> Started:
            raise interrupt

    with pytest.raises(type(interrupt)):
        launch(session(tmp_path, Interrupted([*image_present(), *container_free()])), make_args())
    assert fake_channels == ["links", "audio"]


def test_a_channel_that_refuses_the_launch_stops_it_before_podman(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> OpenChannels:
        raise LaunchRefused("X server :0 is run by uid 1700: no cookie sent")

    monkeypatch.setattr(supervisor.channels_mod, "open_channels", refuse)
    podman = Podman([*image_present(), *container_free()])
    code, out, _ = launch(session(tmp_path, podman), make_args())
    assert code == 1 and podman.ran == []
    assert "Launch refused: X server :0 is run by uid 1700: no cookie sent" in out
