"""Docstrings as readers see them: ``double backticks`` (reStructuredText literals) become the
`single backticks` used everywhere else in spotidoctor's output, and a check's namespace is
the part of its id before the first dot."""
from __future__ import annotations

import inspect
import re
import sys

LITERAL = re.compile(r"``(.+?)``", re.DOTALL)


def plain(text: str) -> str:
    """``x`` -> `x` (the docs and the terminal both read single backticks as code)."""
    return LITERAL.sub(r"`\1`", text)


def namespace_of(check_id: str) -> str:
    return check_id.partition(".")[0]


def package_doc(cls: type, namespace: str) -> str:
    """The docstring of the package named after ``namespace`` that a class was defined in (a
    check domain's ``__init__``: ``spotidoctor.checks.pulse``), cleaned; empty when there is
    none (a drop-in file, a plugin laid out otherwise)."""
    name = cls.__module__.rpartition(".")[0]
    package = sys.modules.get(name)
    if package is None or not hasattr(package, "__path__") or name.rpartition(".")[2] != namespace:
        return ""
    return plain(inspect.cleandoc(package.__doc__ or ""))
