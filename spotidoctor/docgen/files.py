"""The generated documents by file name, and writing them."""
from __future__ import annotations

import os
from collections.abc import Callable

from spotidoctor.cli import build_parser
from spotidoctor.docgen.checkdocs import bundled_checks_markdown
from spotidoctor.docgen.manpage import manpage
from spotidoctor.docgen.parserinfo import describe


def _manpage() -> str:
    return manpage(describe(build_parser()))


GENERATED: dict[str, Callable[[], str]] = {"checks.md": bundled_checks_markdown, "spotidoctor.1": _manpage}


def write_all(docs_dir: str) -> list[str]:
    written = []
    for name, make in GENERATED.items():
        path = os.path.join(docs_dir, name)
        with open(path, "w", encoding="utf-8") as out:
            out.write(make())
        written.append(path)
    return written
