"""The README stays short and its start works as written; links between the documents
resolve; every setting is documented."""
from __future__ import annotations

import re
from pathlib import Path

from spotidoctor import ISSUES_URL
from spotidoctor.config import KNOWN_KEYS

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
# Written on other branches at the same time as this one (threat model, daily use, updates).
FROM_OTHER_BRANCHES: set[str] = set()
LINK = re.compile(r"\]\(([^)#\s]+)(#[^)]*)?\)")


def test_the_readme_is_at_most_15_kb() -> None:
    assert len(README.read_bytes()) <= 15 * 1024


def test_the_readme_starts_with_the_install_command_and_the_test_command() -> None:
    first_block = README.read_text().split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [line for line in first_block.splitlines() if line and not line.startswith("#")]
    install, tests = commands
    assert "apt-get install" in install and "pipx install ." in install and install.endswith("spotidoctor check")
    assert 'export PATH="$HOME/.local/bin:$PATH"' in install  # on PATH in this shell too
    assert tests == "sudo .ci/run"
    assert "CREATES A TEST USER" in first_block


def test_relative_links_in_the_readme_and_docs_resolve() -> None:
    broken = []
    for doc in [README, REPO / "CONTRIBUTING.md", *sorted((REPO / "docs").glob("*.md"))]:
        for target, _ in LINK.findall(doc.read_text()):
            if "://" in target or target.startswith("mailto:"):
                continue
            path = (doc.parent / target).resolve()
            if not path.exists() and str(path.relative_to(REPO)) not in FROM_OTHER_BRANCHES:
                broken.append(f"{doc.relative_to(REPO)} -> {target}")
    assert broken == []


def test_every_setting_is_in_the_configuration_document() -> None:
    text = (REPO / "docs" / "configuration.md").read_text()
    assert [key for key in KNOWN_KEYS if not re.search(rf"`?\b{key}\b", text)] == []


def test_the_readme_and_contributing_say_where_to_report_bugs() -> None:
    assert ISSUES_URL in README.read_text() and ISSUES_URL in (REPO / "CONTRIBUTING.md").read_text()
    assert (REPO / "LICENSE").read_text().startswith("MIT License")
