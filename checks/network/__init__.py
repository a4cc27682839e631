"""Network checks: can Spotify sign in and stream with the network the launch uses.

network.sign-in reads podman's version and default network from the podman.* checks, the
host's IPv6 routes and /dev/net/tun, and publishes what the launch needs (``NetworkFacts``):
whether the callback relay is needed, and the IPv4-only ``--network`` value for hosts
without an IPv6 route.
"""
from __future__ import annotations

from .sign_in import NetworkSignIn

CHECKS = (NetworkSignIn,)
