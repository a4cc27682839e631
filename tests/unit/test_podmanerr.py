"""podman's own error lines: picked from stderr, kept by the launch's stderr tail, quoted in
the verdict and mapped to advice (a launch podman rejects leaves no container log)."""
from __future__ import annotations

import dataclasses

import pytest

from spotidoctor.config import Config
from spotidoctor.crash import podmanerr
from spotidoctor.crash.launches import verdict_messages
from spotidoctor.crash.podmanerr import Tail, cause_for, error_lines, teeing
from spotidoctor.crash.scan import scan_chunks
from spotidoctor.crash.settings import Settings
from spotidoctor.crash.verdict import Inputs, judge

ULIMIT = "invalid ulimit type: as"


def test_error_lines_are_podmans_plain_and_logrus_errors_only() -> None:
    lines = ["[1129/235959.1:ERROR:x.cc(1)] Chromium says something",
             'time="2026-11-29T22:51:29Z" level=warning msg="a warning"',
             'time="2026-11-29T22:51:29Z" level=error msg="cannot \\"stat\\" it"',
             f"Error: {ULIMIT}"]
    assert error_lines(lines) == ('cannot "stat" it', ULIMIT)
    assert error_lines(["no errors", "Errors: not podman's"]) == ()


def test_only_the_last_few_errors_are_kept() -> None:
    assert error_lines([f"Error: e{i}" for i in range(10)]) == ("e7", "e8", "e9")


def test_the_tail_joins_lines_split_across_reads_and_keeps_an_unterminated_last_line() -> None:
    tail = Tail()
    for chunk in (b"noise\nErr", b"or: invalid ulimit ", b"type: as"):
        tail.feed(chunk)
    assert tail.errors() == (ULIMIT,)
    tail.feed(b"\n" + b"x\n" * (podmanerr.KEEP_LINES + 5))
    assert tail.errors() == ()  # scrolled out of the kept tail


@pytest.mark.parametrize(("line", "short", "advice_part"), [
    pytest.param(ULIMIT, "unknown ulimit name", "lift_rlimit_as", id="ulimit"),
    pytest.param('creating container storage: the container name "spotify-container" is already in use by abc. '
                 'You have to remove that container', "container name in use", "podman rm spotify-container",
                 id="name-in-use"),
    pytest.param("localhost/spotify_pod: image not known", "image missing", "spotidoctor build", id="no-image"),
    pytest.param("statfs /run/user/1000/spotidoctor/pulse-cookie: no such file or directory",
                 "a mounted file is missing", "spotidoctor check", id="mount-source"),
    pytest.param("unknown flag: --frobnicate", "option podman does not know", "extra_run_args", id="flag"),
])
def test_known_errors_are_quoted_and_mapped_to_advice(line: str, short: str, advice_part: str) -> None:
    cause = cause_for(("an earlier error", line))
    assert cause is not None and cause.short == short
    assert cause.text.startswith(f"podman said: {line}.")
    assert any(advice_part in a for a in cause.advice)


def test_an_unknown_error_is_still_quoted_and_nothing_is_invented() -> None:
    cause = cause_for(("something podman never said before",))
    assert cause is not None and cause.text == "podman said: something podman never said before."
    assert cause.short == "podman error" and "--dry-run" in cause.advice[0]
    assert cause_for(()) is None


def verdict_inputs(code: int, errors: tuple[str, ...]) -> Inputs:
    return Inputs("launch L1", "L1", code, True, scan_chunks([b""]), Settings(), Config(), lambda: None, errors)


def test_a_rejected_launch_quotes_podmans_error_line() -> None:
    verdict = judge(verdict_inputs(125, ("first problem", ULIMIT)))
    assert verdict.event == "podman-error" and verdict.quote == f"Error: {ULIMIT}"
    assert verdict.summary() == ("the container did not run: podman itself failed (exit status 125); "
                                 "likely cause: unknown ulimit name")
    assert verdict.evidence == ("Error: first problem",)
    texts = [m.text for m in verdict_messages(verdict)]
    assert texts[0] == f'"Error: {ULIMIT}"' and texts[1].startswith(f"Cause: podman said: {ULIMIT}.")


def test_without_podmans_line_the_verdict_says_what_it_could_not_see() -> None:
    verdict = judge(verdict_inputs(125, ()))
    assert verdict.quote is None and verdict.cause is not None
    assert "printed no error line that spotidoctor saw" in verdict.cause.text



def test_an_oci_runtime_refusal_exit_126_is_quoted_too() -> None:
    # Seen with a real runc: ulimits asked for more open files than the shell's hard limit.
    line = ("runc: runc create failed: unable to start container process: error during container init: error "
            "setting rlimits for ready process: error setting rlimit type 7: operation not permitted: OCI "
            "permission denied")
    verdict = judge(verdict_inputs(126, (line,)))
    assert verdict.quote == f"Error: {line}"
    assert verdict.cause is not None and verdict.cause.short == "a limit above your own"
    assert "`ulimit -Hn`" in verdict.cause.advice[0]


def test_the_tee_passes_podmans_stderr_through_and_keeps_its_error() -> None:
    passed: list[bytes] = []
    tail = Tail()
    write = teeing(passed.append, tail)
    for chunk in (b"chromium noise\nError: invalid ", b"ulimit type: as\n"):
        write(chunk)
    assert b"".join(passed) == f"chromium noise\nError: {ULIMIT}\n".encode()  # unchanged, in order
    assert tail.errors() == (ULIMIT,)


def test_the_record_keeps_podman_errors_through_save_and_load(tmp_path) -> None:
    from spotidoctor.crash import launchlog
    from spotidoctor.probes.fs import RealFS

    record = launchlog.LaunchRecord("L1", str(tmp_path), 1.0, exit_code=125, podman_errors=(ULIMIT,))
    fs = RealFS()
    launchlog.save(fs, record)
    assert launchlog.load(fs, str(tmp_path)) == record
    assert launchlog.load(fs, str(tmp_path)) != dataclasses.replace(record, podman_errors=())
