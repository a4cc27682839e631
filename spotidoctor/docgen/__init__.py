"""Documents made from the program itself, so they cannot drift from it: shell completion
(``spotidoctor completion``), the man page (``docs/spotidoctor.1``, from the argument parser)
and ``docs/checks.md`` (from the bundled checks' docstrings).

``python -m spotidoctor.docgen`` rewrites the two files; tests fail when they are stale.
"""
