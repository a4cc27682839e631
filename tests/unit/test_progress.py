"""Progress with an estimate of the time left (render.progress): the numbers, and the plain
lines a piped run gets every few seconds."""
from __future__ import annotations

import io

import pytest

from spotidoctor.render.progress import Meter, duration_text, eta_text


@pytest.mark.parametrize(("seconds", "text"), [(0.2, "1 s"), (40, "40 s"), (59.4, "59 s"), (90, "2 min"),
                                               (3600, "1 h 0 min"), (3930, "1 h 6 min")])
def test_durations_read_the_way_people_say_them(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text


def test_the_estimate_follows_the_rate_so_far() -> None:
    assert eta_text(250, 1000, 60) == "about 3 min left"
    assert eta_text(0, 1000, 60) is None and eta_text(10, None, 60) is None and eta_text(1000, 1000, 60) is None


def test_plain_meter_prints_a_line_every_few_seconds_with_the_estimate() -> None:
    now = [0.0]
    out = io.StringIO()
    meter = Meter("chown", 1000, out, {"NO_COLOR": "1"}, clock=lambda: now[0], every_s=5)
    now[0] = 1.0
    meter.update(100)  # too soon for another line
    now[0] = 10.0
    meter.update(500)
    meter.close()
    assert out.getvalue() == "    chown: 500 of 1000 (50%), about 10 s left\n"


def test_a_meter_without_a_total_just_counts() -> None:
    now = [0.0]
    out = io.StringIO()
    meter = Meter("chown", None, out, {}, clock=lambda: now[0], every_s=1)
    now[0] = 2.0
    meter.update(42)
    assert out.getvalue() == "    chown: 42\n"
