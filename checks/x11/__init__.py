"""X11 checks: the display, its socket, a bounded connection, the container's cookie, and
the server's host access list.

Chain: x11.display → x11.socket → x11.connect → {x11.trust → x11.container-cookie,
x11.access-control}, so one root cause (no DISPLAY, a dead server, a bad cookie) is reported
once. x11.socket refuses sockets that are not yours or root's before any cookie is sent.
"""
from __future__ import annotations

from .access_control import AccessControlAudit
from .connect import DisplayConnect
from .container_cookie import ContainerCookie
from .display import DisplaySet
from .socket import DisplaySocket
from .trust import X11Trust

CHECKS = (DisplaySet, DisplaySocket, DisplayConnect, X11Trust, ContainerCookie, AccessControlAudit)
