"""The display channel: an untrusted X cookie made for this launch, revoked when it ends.

``UntrustedDisplay.start`` raises what ``UntrustedCookie.create`` raises; the caller falls back
to the trusted cookie only when the server cannot make untrusted ones (``UntrustedUnavailable``)
and refuses the launch when the X socket is not the user's (``UnsafeXServer``).
"""
from __future__ import annotations

import dataclasses
import os

from spotidoctor.backend.runargs import HostFacts
from spotidoctor.channels.x11 import RevokeOutcome, UntrustedCookie
from spotidoctor.errors import SpotidoctorError
from spotidoctor.launcher.channel import ChannelReport

__all__ = ["UntrustedDisplay", "COOKIE_NAME"]

COOKIE_NAME = "Xauthority"


class UntrustedDisplay:
    name = "display"

    def __init__(self, cookie: UntrustedCookie) -> None:
        self.cookie = cookie
        self._report: ChannelReport | None = None

    @classmethod
    def start(cls, display: str, xauthority: str | None, workdir: str, uid: int) -> UntrustedDisplay:
        """Make the cookie (held open by spotidoctor) and write it, FamilyWild, into ``workdir``."""
        return cls(UntrustedCookie.create(display, xauthority, os.path.join(workdir, COOKIE_NAME), uid=uid))

    def apply(self, host: HostFacts) -> HostFacts:
        return dataclasses.replace(host, x11_cookie=self.cookie.path, x11_untrusted=True)

    def stop(self) -> ChannelReport:
        if self._report is None:
            try:
                outcome = self.cookie.revoke().value
            except SpotidoctorError as exc:
                outcome = (f"not revoked ({exc}); the server expires it {self.cookie.grace_s}s after its last "
                           "client leaves")
            said = "revoked" if outcome == RevokeOutcome.REVOKED.value else outcome
            self._report = ChannelReport(self.name, 0, f"untrusted X cookie {said}",
                                         {"trust": "untrusted", "cookie": outcome})
        return self._report
