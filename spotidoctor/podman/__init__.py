"""What rootless podman says and how it maps ids, shared by the checks, the launcher and the
report: ``podman info`` and tool versions (``info``), the live id maps of podman's user
namespace and its pause process (``idmaps``), /etc/subuid and uid_map parsing (``subids``),
containers.conf (``conf``), helpers and package installs (``install``), and what podman's
answers depend on (``fingerprint``, for the result cache).

Several checks and the launcher need the same answers: ``podman info --format json`` and
``podman unshare cat /proc/self/{uid,gid}_map`` are slow-ish (the first one may start
podman's pause process), so each runs at most once per run however many callers ask.
Everything goes through ``ctx.probes.cmd``; the parsers raise only ``ParseError``.
"""
