"""Container backend: build with buildah, run with podman (``spotidoctor build`` / ``launch``).

- ``recipe``: the bundled Containerfile, build arguments, the recipe hash and image labels.
- ``build``: ``build_argv`` (data), ``run_build`` (streams, logs, classifies failures), the
  ``BuildImage`` fix step and ``build_fix``.
- ``failures`` (rules in ``failrules``): why a build failed (key, DNS, proxy, network, disk,
  ...), the log line that shows it and advice for the command that was run.
- ``keyrotation``: the signing key apt was missing, and the exact rebuild command.
- ``rollback``: ``IMAGE:previous`` kept by every rebuild, and the swap ``spotidoctor rollback`` does.
- ``debversion``, ``aptindex``: Debian version ordering; the newest package in a Packages index.
- ``updates`` (``aptrelease``, ``gpgv``, ``imagekeyring``): a newer Spotify in the image's
  repository, from its signed index; ``updatecheck`` remembers the answer, ``updatehold``
  keeps auto_update from undoing a rollback.
- ``progress``: the rich / plain build display.
- ``images``: ``podman image exists`` / ``inspect``, memoised per run (``lookup_image``).
- ``runargs``: ``run_argv(spec, host)``, the ``podman run`` command as (argument, reason) pairs.
- ``host``: ``HostFacts`` from the preflight checks' typed facts, else the shared layout.
- ``limits``: lifting RLIMIT_AS before podman starts, and the limits for the launch record.
- ``storageguard``: what must never be chowned or mounted as Spotify's storage.
"""
