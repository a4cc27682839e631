"""``spotidoctor check``: diagnose only; never changes anything. Results appear as they come
(``commands.live``); ``--json`` prints one document at the end."""
from __future__ import annotations

import sys

from spotidoctor.commands.live import LiveChecks
from spotidoctor.commands.options import CheckOptions
from spotidoctor.engine.planning import session_plan
from spotidoctor.engine.results import exit_code, problem_rows
from spotidoctor.engine.runner import run_checks
from spotidoctor.engine.session import make_session


def run(options: CheckOptions) -> int:
    session = make_session(options.session)
    selection = session_plan(session, options.selectors, options.ignore)
    planned = [c.id for c in selection.checks if c.id not in selection.ignored]
    problems = problem_rows(session.registry)
    env = session.ctx.env
    verbose = options.session.verbose
    if options.json:
        # The document goes to stdout at the end; a terminal on stderr still sees what runs.
        with LiveChecks(sys.stderr, env, planned, show_results=False) as live:
            report = run_checks(session, selection, live)
    else:
        with LiveChecks(sys.stdout, env, planned, verbose=verbose) as live:
            live.show(problems)
            report = run_checks(session, selection, live)
            live.flush()
    results = [*problems, *report.results]
    code = exit_code(results)
    if options.json:
        from spotidoctor.render.jsonout import document, dumps

        print(dumps(document("check", results, int(code))))
        return int(code)
    from spotidoctor.render.text import footer_lines, traceback_lines

    traces = traceback_lines(report.tracebacks) if verbose else []
    live.output.lines([*traces, *footer_lines(results)])
    return int(code)
