"""crash.launch-settings: a /dev/shm or open-files limit that would crash Spotify is named
before the launch, at the exact boundaries the crash checks use."""
from __future__ import annotations

from pathlib import Path

import pytest

from spotidoctor.checks.crash.launch_settings import FEW_FILES, SMALL_SHM, LaunchSettings
from spotidoctor.config import Config
from spotidoctor.crash.causes import (
    NOFILE_LOW,
    NOFILE_RECOMMENDED,
    SHM_TOO_SMALL,
    Strength,
    cause_dev_shm,
    cause_nofile,
)
from spotidoctor.crash.settings import Limit, Settings
from spotidoctor.engine import fixer
from spotidoctor.fixes import Applicability
from spotidoctor.model import Severity, Status
from spotidoctor.probes.procs import Limit as ProcLimit
from spotidoctor.testing import FakeProcesses, make_context
from spotidoctor.units import MiB


def run(tmp_path: Path, config: Config):
    return LaunchSettings().run(make_context(tmp_path, config=config))


@pytest.mark.parametrize(("shm_size", "status"), [
    ("64m", Status.FAIL), ("255m", Status.FAIL), ("256m", Status.OK), ("1g", Status.OK),
])
def test_shm_size_boundary(tmp_path: Path, shm_size: str, status: Status) -> None:
    result = run(tmp_path, Config(shm_size=shm_size))
    assert result.status is status, result
    if status is Status.FAIL:
        assert result.summary.startswith(f'shm_size = "{shm_size}" gives the container a')
        assert [(f.id, f.applicability) for f in result.fixes] == [("crash.shm-size", Applicability.SAFE)]


def test_the_small_shm_message_in_full(tmp_path: Path) -> None:
    assert run(tmp_path, Config(shm_size="64m")).summary == SMALL_SHM.format(size="64m", human="64 MiB",
                                                                          least="256 MiB")
    assert LaunchSettings.severity is Severity.WARNING and "launch" in LaunchSettings.tags


@pytest.mark.parametrize(("ulimit", "status"), [
    ("nofile=1024:1024", Status.FAIL), ("nofile=4095:4095", Status.FAIL), ("nofile=1024:4096", Status.OK),
    ("nofile=4096:4096", Status.OK), ("core=0", Status.OK),
])
def test_open_files_boundary(tmp_path: Path, ulimit: str, status: Status) -> None:
    result = run(tmp_path, Config(ulimits=(ulimit,)))
    assert result.status is status, result
    if status is Status.FAIL:
        hard = int(ulimit.rsplit(":", 1)[1])
        assert result.summary == FEW_FILES.format(value=ulimit.split("=", 1)[1], hard=hard, least=4096)
        assert [f.id for f in result.fixes] == ["crash.ulimit-nofile"]


@pytest.mark.parametrize(("ulimit", "hard", "summary_start", "fixed_to"), [
    pytest.param("nofile=65536:65536", 20000, "ulimits sets nofile=65536:65536, above your hard open-files limit 20000",
                 "nofile=20000:20000", id="above-the-hard-limit"),
    pytest.param("nofile=-1", 20000, "ulimits sets nofile=-1, above your hard open-files limit 20000",
                 "nofile=20000:20000", id="unlimited-above-the-hard-limit"),
    pytest.param("nofile=1024:1024", 20000, "ulimits sets nofile=1024:1024", "nofile=20000:20000",
                 id="too-low-fixed-to-the-hard-limit"),
    pytest.param("nofile=20000:20000", 20000, None, None, id="exactly-the-hard-limit"),
    pytest.param("nofile=65536:65536", None, None, None, id="no-hard-limit"),
])
def test_the_open_files_limit_respects_the_hard_limit_podman_inherits(
        tmp_path: Path, ulimit: str, hard: int | None, summary_start: str | None, fixed_to: str | None) -> None:
    # A real runc refused such a container: "error setting rlimit type 7: operation not permitted".
    procs = FakeProcesses(limits={"nofile": ProcLimit(1024, hard)})
    ctx = make_context(tmp_path, config=Config(ulimits=(ulimit,)), procs=procs)
    result = LaunchSettings().run(ctx)
    if summary_start is None:
        assert result.status is Status.OK, result
        return
    assert result.summary.startswith(summary_start)
    [fix] = result.fixes
    assert fix.steps[0].value == (fixed_to,)  # type: ignore[attr-defined]


def test_a_hard_limit_below_4096_is_a_manual_fix(tmp_path: Path) -> None:
    ctx = make_context(tmp_path, config=Config(ulimits=("nofile=1024:1024",)),
                       procs=FakeProcesses(limits={"nofile": ProcLimit(1024, 2048)}))
    [fix] = LaunchSettings().run(ctx).fixes
    assert (fix.id, fix.applicability) == ("crash.raise-hard-nofile", Applicability.MANUAL)


def test_the_fix_sets_the_config_and_the_check_then_passes(tmp_path: Path) -> None:
    ctx = make_context(tmp_path, config=Config(shm_size="64m", ulimits=("nofile=1024:1024", "core=0")))
    result = LaunchSettings().run(ctx)
    env = fixer.StepEnvironment.from_context(ctx)
    assert all(fixer.apply(fixer.Candidate(result, fix), env).ok for fix in result.fixes)
    assert LaunchSettings().run(fixer.refreshed(ctx)).status is Status.OK


# -- the crash causes' own boundaries (a mutation of either comparison must fail a test) ---------------

@pytest.mark.parametrize(("shm_bytes", "blamed"), [
    (SHM_TOO_SMALL - 1, True), (SHM_TOO_SMALL, False), (64 * MiB, True),
])
def test_dev_shm_cause_boundary(shm_bytes: int, blamed: bool) -> None:
    cause = cause_dev_shm(Settings(shm_bytes=shm_bytes), Config(), None)
    assert (cause is not None) is blamed


@pytest.mark.parametrize(("hard", "strength"), [
    (NOFILE_RECOMMENDED, None), (NOFILE_RECOMMENDED - 1, Strength.POSSIBLE), (NOFILE_LOW, Strength.POSSIBLE),
    (NOFILE_LOW - 1, Strength.LIKELY),
])
def test_open_files_cause_boundaries(hard: int, strength: Strength | None) -> None:
    cause = cause_nofile(Settings(nofile=Limit(hard, hard, "--ulimit")), Config())
    assert (cause.strength if cause else None) == strength
