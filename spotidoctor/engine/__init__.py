"""The engine: find the checks, plan and run them, apply the fixes policy allows and check again.

- ``registry``: bundled, entry-point and drop-in checks, validated (``discover``).
- ``planning``: what ``check SELECTOR... --ignore`` and the launch preflight run (``plan``).
- ``runner``: runs a plan concurrently, each check with its own timeout (``run_checks``).
- ``fixer``: fix policy, candidates, previews and applying one fix step by step.
- ``fixloop``: check -> fix -> re-check, a few rounds (``fix_loop``).
- ``results``: plugin problem rows and the exit code of a set of results.
- ``reporter``: the ``Reporter`` protocol every event goes through (check finished, fix and
  step started/finished, progress); the command line prints, the engine never does.
- ``records``: what a fix attempt produced (``Candidate``, ``StepRecord``, ``Applied``).
- ``session``: the run's Context and Registry from ``SessionOptions``, env and config file.
"""
