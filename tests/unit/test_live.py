"""Streaming results (commands.live): a result waits only for the checks before it in its own
namespace; the status line names what still runs and, once it is slow, its timeout; piped
output is plain lines, written as they are released."""
from __future__ import annotations

import io

from spotidoctor.commands.live import InOrder, LiveChecks, StatusLine
from spotidoctor.model import CheckResult, Status

PLAN = ["x11.display", "x11.socket", "pulse.server", "pulse.container-socket", "podman.installed"]


def ok(check_id: str) -> CheckResult:
    return CheckResult(check_id, Status.OK, "fine")


def ids(results: list[CheckResult]) -> list[str]:
    return [r.check_id for r in results]


def test_a_result_waits_only_for_the_checks_before_it_in_its_namespace() -> None:
    order = InOrder(PLAN)
    assert ids(order.add(ok("x11.socket"))) == []  # x11.display is still running
    assert ids(order.add(ok("podman.installed"))) == ["podman.installed"]  # pulse does not hold it back
    assert ids(order.add(ok("x11.display"))) == ["x11.display", "x11.socket"]
    assert ids(order.add(ok("pulse.container-socket"))) == []
    assert ids(order.rest()) == ["pulse.container-socket"]  # pulse.server never reported


def test_an_unplanned_result_is_released_at_once() -> None:
    assert ids(InOrder(PLAN).add(ok("plugin.extra"))) == ["plugin.extra"]


def test_piped_output_is_plain_lines_in_namespace_order() -> None:
    out = io.StringIO()
    live = LiveChecks(out, {}, PLAN)
    with live:
        for check_id in ("pulse.server", "x11.socket", "x11.display"):
            live.check_started(check_id, 10)
            live.check_finished(ok(check_id))
    assert live.status is None  # not a terminal: no status line
    assert out.getvalue().splitlines() == ["[✓] pulse.server: fine", "[✓] x11.display: fine", "[✓] x11.socket: fine"]


def test_the_status_line_names_what_runs_and_the_timeout_once_it_is_slow() -> None:
    from rich.console import Console

    status = StatusLine(Console(file=io.StringIO()))
    status._running = {"pulse.server": (100.0, 15.0), "podman.runtime": (103.5, 60.0)}  # (started, timeout)
    assert status.text(104.0) == "running: pulse.server 4s of 15s, podman.runtime 0s"
    status.finished("pulse.server")
    status.finished("podman.runtime")
    assert status.text(104.0) == ""
