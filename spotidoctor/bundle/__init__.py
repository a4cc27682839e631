"""Bug report bundles (``spotidoctor report``).

- ``spec``: what a check declares in ``collect(spec, ctx)`` (files, commands, env, text, globs, forbids)
- ``collect``: executes specs through the probes (caps, timeouts, forbidden paths, manifest)
- ``sources``: the report's own collectors (versions, system, environment) and the helpers the
  checks' ``evidence`` modules use (each domain's evidence lives with its checks)
- ``logs``: the last launches' logs, trimmed around crash lines
- ``secrets``: what is never collected (cookies, Xauthority, ``autologin.*``, secret-looking env)
- ``identity`` / ``redact``: user/host names, homes, machine id, addresses -> consistent tokens
- ``summary``: ``summary.md``; ``build``: run checks, collect, assemble the redacted members
- ``archive`` / ``scan``: the 0600 ``.tar.gz`` and the fail-closed scan for secrets and names
"""
