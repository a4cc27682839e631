"""The crash domain: why did Spotify die, and what makes the next launch survive?

Used by the ``crash.*`` checks and by ``spotidoctor launch`` right after Spotify exits
non-zero (``launches.diagnose_launch``):

1. ``sources``: everything read, each bounded in size and time; a missing source is a fact,
   not an error: spotidoctor's own per-launch records and k8s-file logs (``launchlog``),
   ``podman logs`` / ``podman container inspect`` (``container``) of a container of the
   configured name that still exists, the user journal, the image's libcef.so (``cef``).
   Logs are read with the streaming scanners (``scan``) for the known lines (``lines``,
   ``signatures``).
2. ``verdict.judge``: the log's killer line (or the exit status) decides the event; pure.
3. ``causes``: for out-of-memory, the launch's settings (``settings``: its recorded podman
   argv read back by ``runopts``, its rlimits and host facts, the live host) are checked
   cause by cause, each with advice and fix plans.
4. ``launches``: all of it for one launch or leftover container, as a check result.
"""
