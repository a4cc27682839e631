"""Container backend: build with buildah, run with podman (``spotidoctor build`` / ``launch``).

- ``recipe``: the bundled Containerfile, build arguments, the recipe hash and image labels.
- ``build``: ``build_argv`` (data), ``run_build`` (streams, logs, classifies failures), the
  ``BuildImage`` fix step and ``build_fix``.
- ``failures``: why a build failed (NO_PUBKEY, network, runtime, ...) and what to do.
- ``keyrotation``: the signing key apt was missing, and the exact rebuild command.
- ``debversion``, ``aptindex``: Debian version ordering; the newest package in a Packages index.
- ``progress``: the rich / plain build display.
- ``images``: ``podman image exists`` / ``inspect``, memoised per run (``lookup_image``).
- ``runargs``: ``run_argv(spec, host)``, the ``podman run`` command as (argument, reason) pairs.
- ``host``: ``HostFacts`` from the preflight checks' typed facts, else the shared layout.
- ``limits``: lifting RLIMIT_AS before podman starts, and the limits for the launch record.
- ``storageguard``: what must never be chowned or mounted as Spotify's storage.
"""
