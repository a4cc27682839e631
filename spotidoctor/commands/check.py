"""``spotidoctor check``: diagnose only; never changes anything."""
from __future__ import annotations

import sys

from spotidoctor.commands.options import CheckOptions
from spotidoctor.engine.planning import session_plan
from spotidoctor.engine.results import exit_code, with_problem_rows
from spotidoctor.engine.runner import run_checks
from spotidoctor.engine.session import make_session


def run(options: CheckOptions) -> int:
    session = make_session(options.session)
    report = run_checks(session, session_plan(session, options.selectors, options.ignore))
    results = with_problem_rows(session.registry, report.results)
    code = exit_code(results)
    if options.json:
        from spotidoctor.render.jsonout import document, dumps

        print(dumps(document("check", results, int(code))))
    else:
        from spotidoctor.render.text import all_lines, emit

        emit(all_lines(results, options.session.verbose, report.tracebacks), sys.stdout, session.ctx.env)
    return int(code)
