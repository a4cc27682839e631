"""Command-line ease of use, end to end in subprocesses: closed pipes, "did you mean", global
options on either side of the command, `explain NAMESPACE`, `list --json`, per-command help,
and the bash completion script run by a real bash."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from spotidoctor import ISSUES_URL
from tests.unit.test_cli import home, run  # noqa: F401 - `home`: the fixture with the drop-in test checks

REPO = Path(__file__).resolve().parents[2]
SPOTIDOCTOR = [sys.executable, "-m", "spotidoctor"]


def closed_reader(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run spotidoctor with stdout on a pipe whose reading end is already closed: every
    write fails with EPIPE, as when `| head -0` has gone."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.Popen([*SPOTIDOCTOR, *args], stdout=write_end, stderr=subprocess.PIPE,
                                env={**os.environ, "NO_COLOR": "1", **(env or {})})
    finally:
        os.close(write_end)
    _, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, b"", err)


@pytest.mark.parametrize("args", [("--help",), ("list",), ("check", "--help"), ("completion", "bash")])
def test_a_closed_pipe_ends_quietly_with_the_sigpipe_status(args: tuple[str, ...]) -> None:
    done = closed_reader(*args)
    assert done.stderr == b"", done.stderr.decode()
    assert done.returncode == 141


def test_a_closed_pipe_during_check_json_is_quiet_too(home: Path) -> None:  # noqa: F811
    done = closed_reader("check", "--json", "t.ok", env={"HOME": str(home)})
    assert done.stderr == b"", done.stderr.decode()
    assert done.returncode == 141


@pytest.mark.parametrize("pipeline", ["{sd} --help | head -0", "{sd} list | true", "{sd} --help | head -c 10"])
def test_real_shell_pipelines_print_no_python_complaint(pipeline: str) -> None:
    command = pipeline.format(sd=" ".join(SPOTIDOCTOR))
    done = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=120)
    assert "Exception ignored" not in done.stderr and "Traceback" not in done.stderr
    assert done.stderr == ""


def test_a_mistyped_command_gets_a_suggestion() -> None:
    done = subprocess.run([*SPOTIDOCTOR, "chek"], capture_output=True, text=True)
    assert done.returncode == 2
    assert "unknown command 'chek' (did you mean 'check'?)" in done.stderr


def test_a_mistyped_option_is_the_subcommands_error_with_a_suggestion() -> None:
    done = subprocess.run([*SPOTIDOCTOR, "check", "--jsn"], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.startswith("usage: spotidoctor check")
    assert "unrecognized arguments: --jsn (did you mean '--json'?)" in done.stderr


def test_a_mistyped_choice_gets_a_suggestion() -> None:
    done = subprocess.run([*SPOTIDOCTOR, "--profile", "keepid", "list"], capture_output=True, text=True)
    assert done.returncode == 2 and "(did you mean 'keep-id'?)" in done.stderr


def test_mistyped_check_ids_and_namespaces_get_suggestions(home: Path) -> None:  # noqa: F811
    by_id = run(home, "check", "t.markr")
    assert by_id.returncode == 2 and "no check matches 't.markr' (did you mean 't.marker'" in by_id.stderr
    explained = run(home, "explain", "t.unsaf")
    assert explained.returncode == 2 and "did you mean 't.unsafe'" in explained.stderr
    bundled = run(home, "check", "--no-plugins", "pluse")
    assert "no check matches 'pluse' (did you mean 'pulse'?)" in bundled.stderr


@pytest.mark.parametrize("argv", [("-v", "check", "t.ok"), ("check", "t.ok", "-v"), ("check", "-v", "t.ok")])
def test_global_options_work_before_or_after_the_command(home: Path, argv: tuple[str, ...]) -> None:  # noqa: F811
    done = run(home, *argv)
    assert done.returncode == 0, done.stderr
    assert "an info line" in done.stdout  # only shown with --verbose


def test_a_global_option_before_the_command_is_not_lost(home: Path, tmp_path: Path) -> None:  # noqa: F811
    config = tmp_path / "other.toml"
    config.write_text("image = 5\n")
    done = run(home, "--config", str(config), "check", "t.ok")
    assert done.returncode == 2 and "image must be a non-empty string" in done.stderr


def test_subcommand_help_shows_only_its_own_options() -> None:
    sub = subprocess.run([*SPOTIDOCTOR, "check", "--help"], capture_output=True, text=True).stdout
    assert "--json" in sub and "--fresh" in sub
    assert "exit codes:" not in sub and "--container-name" not in sub and "--storage-dir" not in sub
    assert "spotidoctor --help" in sub  # says where the rest is
    top = subprocess.run([*SPOTIDOCTOR, "--help"], capture_output=True, text=True).stdout
    assert "exit codes:" in top and "--container-name" in top and "141" in top


def test_explain_a_namespace_lists_its_checks(home: Path) -> None:  # noqa: F811
    done = run(home, "explain", "t")
    assert done.returncode == 0, done.stderr
    assert "t: 8 check(s)" in done.stdout
    assert "t.marker" in done.stdout and "marker file present" in done.stdout


def test_explain_a_bundled_namespace_shows_its_overview_without_double_backticks(home: Path) -> None:  # noqa: F811
    done = run(home, "explain", "--no-plugins", "image")
    assert done.returncode == 0, done.stderr
    assert "image.present" in done.stdout and "`podman image exists`" in done.stdout
    assert "``" not in done.stdout
    single = run(home, "explain", "--no-plugins", "pulse.server")
    assert "What it checks:" in single.stdout and "``" not in single.stdout


def test_list_json_is_one_document(home: Path) -> None:  # noqa: F811
    done = run(home, "list", "--json")
    doc = json.loads(done.stdout)
    assert doc["schema"] == 1
    by_id = {c["id"]: c for c in doc["checks"]}
    assert by_id["t.marker"]["namespace"] == "t" and by_id["t.marker"]["title"] == "marker file present"
    assert by_id["t.soft"]["severity"] == "warning"
    assert by_id["x11.connect"]["requires"] == ["x11.socket"] and "launch" in by_id["x11.connect"]["tags"]
    assert by_id["t.ok"]["origin"].startswith("drop-in ")


def test_the_issue_url_is_the_one_in_pyproject() -> None:
    tomllib = pytest.importorskip("tomllib" if sys.version_info >= (3, 11) else "tomli")
    urls = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["urls"]
    assert urls["Issues"] == ISSUES_URL


# -- completion ---------------------------------------------------------------------------------

def complete(script: str, home_dir: Path, *words: str) -> list[str]:
    """What bash's completion offers for ``words`` (the last one is being typed)."""
    driver = f"""
source {script}
complete -p spotidoctor
COMP_WORDS=({' '.join(repr(w) if w else "''" for w in words)})
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
_spotidoctor
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    env = {**os.environ, "HOME": str(home_dir), "NO_COLOR": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    env = {k: v for k, v in env.items() if not k.startswith("XDG_")}
    done = subprocess.run(["bash", "--norc", "--noprofile", "-c", driver], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    first, *offered = done.stdout.splitlines()
    assert first == "complete -F _spotidoctor spotidoctor"
    return [w for w in offered if w]


@pytest.fixture
def bash_script(tmp_path: Path) -> str:
    if shutil.which("bash") is None:
        pytest.fail("bash is needed")
    if shutil.which("spotidoctor", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("spotidoctor is not installed next to this Python (pip install -e .)")
    path = tmp_path / "spotidoctor.bash"
    done = subprocess.run([*SPOTIDOCTOR, "completion", "bash"], capture_output=True, text=True, check=True)
    path.write_text(done.stdout)
    return str(path)


def test_bash_completes_commands_options_and_choices(bash_script: str, home: Path) -> None:  # noqa: F811
    assert complete(bash_script, home, "spotidoctor", "ch") == ["check"]
    assert complete(bash_script, home, "spotidoctor", "-v", "check", "--js") == ["--json"]
    assert complete(bash_script, home, "spotidoctor", "--profile", "k") == ["keep-id"]
    assert complete(bash_script, home, "spotidoctor", "completion", "") == ["bash", "zsh", "fish"]
    assert "--unsafe" in complete(bash_script, home, "spotidoctor", "--config", "x.toml", "fix", "--")


def test_bash_completes_check_ids_and_namespaces_from_the_registry(bash_script: str, home: Path) -> None:  # noqa: F811
    offered = complete(bash_script, home, "spotidoctor", "check", "t.m")
    assert offered == ["t.manual", "t.marker"]
    assert "x11" in complete(bash_script, home, "spotidoctor", "explain", "x")
    assert complete(bash_script, home, "spotidoctor", "check", "--ignore", "t.so") == ["t.soft"]


@pytest.mark.parametrize(("shell", "markers"), [
    ("zsh", ("bashcompinit", "--json", "complete -F _spotidoctor spotidoctor")),
    ("fish", ("-n '__fish_seen_subcommand_from check' -l json", "-a '(__spotidoctor_ids)'")),
])
def test_zsh_and_fish_scripts_are_made_from_the_same_parser(shell: str, markers: tuple[str, ...]) -> None:
    done = subprocess.run([*SPOTIDOCTOR, "completion", shell], capture_output=True, text=True)
    assert done.returncode == 0
    assert all(marker in done.stdout for marker in markers), done.stdout


# -- fix output ---------------------------------------------------------------------------------

def test_fix_shows_the_plan_then_progress_then_a_summary_with_the_next_command(home: Path) -> None:  # noqa: F811
    done = run(home, "fix", "t.marker", "t.unsafe", "t.manual", "t.steps")
    out = done.stdout
    plan, progress, summary = out.index("Plan:"), out.index("→ Write the marker"), out.index("Applied:")
    assert plan < progress < summary
    head = out[plan:progress]
    assert head.index("Will apply now (safe):") < head.index("t.marker: Write the marker")
    assert head.index("Not applied: unsafe (needs --unsafe):") < head.index("t.unsafe: Do the risky thing")
    assert head.index("Do yourself (manual") < head.index("t.manual: Ask for a range")
    assert "usermod" not in head  # the manual commands are printed once, at the end
    assert out.count("$ usermod --add-subuids 100000-165535 alice") == 1
    assert out.index("$ usermod") > summary
    assert out.rstrip().splitlines()[-1] == "Next: run the commands above, then `spotidoctor fix` again."


def test_every_id_the_fix_summary_names_is_one_explain_accepts(home: Path) -> None:  # noqa: F811
    out = run(home, "fix", "t.marker", "t.unsafe", "t.manual", "t.steps", "t.crash").stdout
    summary = out[out.index("Applied:"):]
    named = {line.split(":")[0].strip().split("] ")[-1] for line in summary.splitlines()
             if (line.startswith("  ") and not line.startswith("    ") or line.startswith("[")) and ":" in line}
    assert named == {"t.marker", "t.steps", "t.unsafe", "t.manual", "t.crash"}
    for check_id in sorted(named):
        assert run(home, "explain", check_id).returncode == 0, check_id
    assert "t.write-marker" not in out and "t.three-steps" not in out  # fix ids are not shown


def test_fix_with_nothing_left_points_at_launch_after_all_the_checks(home: Path) -> None:  # noqa: F811
    assert run(home, "fix", "t.marker").returncode == 0
    again = run(home, "fix", "t.marker")
    assert "Nothing to fix." in again.stdout and "Plan:" not in again.stdout
    assert again.stdout.rstrip().endswith("Next: `spotidoctor fix` for all the checks, then `spotidoctor launch`.")


def test_a_slow_step_says_how_long_it_takes_and_that_ctrl_c_is_safe() -> None:
    from spotidoctor.backend.build import BuildImage
    from spotidoctor.commands.reporting import plan_lines
    from spotidoctor.engine.fixer import FixPolicy
    from spotidoctor.engine.records import Candidate
    from spotidoctor.fixes import Fix
    from spotidoctor.model import CheckResult, Status

    fix = Fix.safe("image.build", "Build spotify_pod", BuildImage("build spotify_pod", image="spotify_pod"))
    lines = [text for _, text in plan_lines([Candidate(CheckResult("image.present", Status.FAIL, "absent"), fix)],
                                            FixPolicy(), first=True)]
    assert "    image.present: Build spotify_pod" in lines
    assert any("takes long: 3 to 15 minutes" in line and "Ctrl-C stops it safely" in line for line in lines)


def test_explain_accepts_every_fix_id_the_json_document_shows(home: Path) -> None:  # noqa: F811
    doc = json.loads(run(home, "check", "--json", "t").stdout)
    fix_ids = {fix["id"] for result in doc["results"] for fix in result["fixes"]}
    assert fix_ids == {"t.write-marker", "t.unsafe-fix", "t.admin", "t.three-steps"}
    for fix_id in sorted(fix_ids):
        done = run(home, "explain", fix_id)
        assert done.returncode == 0, done.stderr
    marker = run(home, "explain", "t.write-marker").stdout
    assert marker.startswith("t.write-marker: a fix offered by t.marker")


def test_explain_accepts_a_bundled_fix_id_defined_outside_the_checks(home: Path) -> None:  # noqa: F811
    done = run(home, "explain", "--no-plugins", "image.build")
    assert done.returncode == 0 and "a fix of the image checks" in done.stdout
    assert run(home, "explain", "--no-plugins", "image.bild").returncode == 2


def test_the_next_command_follows_what_is_left() -> None:
    from spotidoctor.commands.fixsummary import next_step
    from spotidoctor.engine.fixloop import FixOutcome
    from spotidoctor.engine.records import Candidate
    from spotidoctor.fixes import Fix, Instruction
    from spotidoctor.model import CheckResult, Status

    ok = [CheckResult("a.b", Status.OK, "fine")]
    assert next_step(FixOutcome(ok), ok) == "Next: `spotidoctor launch` starts Spotify."
    failing = [CheckResult("a.b", Status.FAIL, "broken")]
    unsafe = Candidate(failing[0], Fix.unsafe("a.fix", "Risky", Instruction("do", text="do it")))
    assert "fix --unsafe" in next_step(FixOutcome(failing, withheld=[(unsafe, "unsafe: needs --unsafe")]), failing)
    assert next_step(FixOutcome(failing), failing) == "Next: `spotidoctor check a.b` shows what to do."


def test_two_slow_steps_with_the_same_hint_print_it_once() -> None:
    from spotidoctor.backend.build import BuildImage
    from spotidoctor.commands.reporting import plan_lines
    from spotidoctor.engine.fixer import FixPolicy
    from spotidoctor.engine.records import Candidate
    from spotidoctor.fixes import Fix
    from spotidoctor.model import CheckResult, Status

    steps = (BuildImage("build a", image="a"), BuildImage("build b", image="b"))
    fix = Fix.safe("image.build", "Build both", *steps)
    lines = [text for _, text in plan_lines([Candidate(CheckResult("image.present", Status.FAIL, "absent"), fix)],
                                            FixPolicy(), first=True)]
    assert sum("takes long:" in line for line in lines) == 1
