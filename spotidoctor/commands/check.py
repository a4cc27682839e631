"""``spotidoctor check``: diagnose only; never changes anything."""
from __future__ import annotations

import argparse
import sys

from spotidoctor.commands.common import exit_code, make_plan, problem_rows, run_plan
from spotidoctor.session import make_session


def run(args: argparse.Namespace) -> int:
    session = make_session(args)
    selection = make_plan(session, args.selectors, args.ignore)
    report = run_plan(session, selection)
    results = [*problem_rows(session.registry), *report.results]
    code = exit_code(results)
    if args.json:
        from spotidoctor.render.jsonout import document, dumps

        print(dumps(document("check", results, int(code))))
    else:
        from spotidoctor.render.text import all_lines, emit

        emit(all_lines(results, args.verbose, report.tracebacks), sys.stdout, session.ctx.env)
    return int(code)
