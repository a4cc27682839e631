"""spotidoctor: diagnose, fix and launch Spotify in a rootless podman container.

Layers, bottom to top; a module imports only from its own layer or lower ones
(``LAYERS`` in tests/unit/test_layering.py enforces it, with no import cycle anywhere):

1. leaves: ``types``, ``errors``, ``exitcodes``, ``paths``, ``layout``, ``memo``, ``units``
   and ``bundle.spec`` (what a check's ``collect()`` fills in);
2. ``probes``: the system, injected (commands, files, processes, X11 and its authority
   files, pulse);
3. the core: ``model``, ``fixes`` (fix plans and steps), ``config``, ``facts``,
   ``resultcache``, ``backups``, ``lock``, ``error_handler`` and ``api``, what checks are
   written against;
4. libraries: ``podman`` (what podman says, id maps, subordinate ids), ``crash`` (why
   Spotify died), ``render`` (text and JSON), ``backend`` (build and run the container),
   ``testing`` (fakes for check authors);
5. ``engine`` (discover, plan, run, fix and re-check checks) and ``bundle`` (bug reports);
6. the command line: ``cli`` and ``commands`` (one thin handler per subcommand).

The bundled checks (``spotidoctor.checks``, ``checks/`` in the source tree) sit on top, as
plugins: they may import all of this, and nothing here imports them.
"""
from __future__ import annotations

__version__ = "0.1.0"
# Where bug reports go: pyproject's [project.urls] "Issues" (a test keeps the two equal).
ISSUES_URL = "https://github.com/spotidoctor/spotidoctor/issues"
