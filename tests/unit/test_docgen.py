"""The generated documents are current: docs/checks.md from the checks' docstrings and
docs/spotidoctor.1 from the argument parser. When one fails, run
`python -m spotidoctor.docgen` and commit the result."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from spotidoctor.cli import build_parser
from spotidoctor.docgen.checkdocs import markdown_text, render
from spotidoctor.docgen.files import GENERATED, write_all
from spotidoctor.docgen.manpage import escape
from spotidoctor.docgen.parserinfo import describe
from spotidoctor.engine.registry import discover

DOCS = Path(__file__).resolve().parents[2] / "docs"
STALE = "{name} is stale: run `python -m spotidoctor.docgen` and commit docs/{name}"


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_the_generated_document_is_current(name: str) -> None:
    assert (DOCS / name).read_text(encoding="utf-8") == GENERATED[name](), STALE.format(name=name)


def test_the_staleness_test_sees_a_changed_docstring(tmp_path: Path) -> None:
    checks = discover(plugins=False).checks
    before = render(checks)
    first = checks[0]
    changed = type(first.__name__, (first,), {"__doc__": "What it checks: something new.",
                                              "__module__": first.__module__})
    assert render((changed, *checks[1:])) != before
    assert "What it checks: something new." in render((changed, *checks[1:]))


def test_every_bundled_check_and_namespace_is_in_checks_md() -> None:
    text = (DOCS / "checks.md").read_text(encoding="utf-8")
    checks = discover(plugins=False).checks
    assert all(f"### `{c.id}`: {c.title}" in text for c in checks)
    assert all(f"## {ns}\n" in text for ns in {c.id.split('.')[0] for c in checks})
    assert "``" not in text


def test_no_docstring_line_starts_with_a_stray_period() -> None:
    """A sentence cut off mid-docstring (". The container's uid ...") reads as garbage in checks.md."""
    for check in discover(plugins=False).checks:
        doc = check.explanation()
        assert not [line for line in doc.splitlines() if line.lstrip().startswith(". ")], check.id
        assert doc == doc.strip() and not any(line.startswith(" ") and not line.startswith("    ")
                                              for line in doc.splitlines()), check.id


def test_markdown_keeps_code_spans_and_escapes_angle_brackets_outside_them() -> None:
    assert markdown_text("X<n> and ``/tmp/X<n>``") == "X&lt;n> and `/tmp/X<n>`"


def test_the_man_page_names_every_command_and_global_option() -> None:
    text = (DOCS / "spotidoctor.1").read_text(encoding="utf-8")
    info = describe(build_parser())
    assert all(f".SS {c.name}\n" in text for c in info.commands)
    assert all(escape(o.flags[-1]) in text for o in info.global_options)
    assert ".SH EXIT STATUS" in text and "\\fB141\\fR" in text


def test_roff_escaping_keeps_lines_from_becoming_requests() -> None:
    assert escape(".hidden\n'quote\n-x `cmd`") == "\\&.hidden\n\\&'quote\n\\-x \\fBcmd\\fR"


def test_the_man_page_renders_without_warnings(tmp_path: Path) -> None:
    if shutil.which("groff") is None:
        pytest.fail("groff is needed (package groff-base)")
    written = dict(zip(GENERATED, write_all(str(tmp_path)), strict=True))
    done = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", written["spotidoctor.1"]],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == ""
    shown = re.sub(".\b", "", subprocess.run(["groff", "-man", "-Tutf8", written["spotidoctor.1"]],
                                              capture_output=True, text=True, timeout=60).stdout)
    assert "EXIT STATUS" in shown and "spotidoctor check" in shown
