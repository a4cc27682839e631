"""x11.trust: the trust level the container's X cookie gets, and whether the server can make untrusted ones."""
from __future__ import annotations

from spotidoctor.api import Check, CheckResult, Context, Message
from spotidoctor.channels.x11 import UNTRUSTED_LIMITS
from spotidoctor.facts import X11TrustFacts
from spotidoctor.model import Severity

from .display import local_display

UNTRUSTED = ("untrusted: each launch gets its own cookie from the X SECURITY extension, revoked when it ends "
             "(no xhost changes, no input injection or recording, no access to other clients' windows)")
TRUSTED_OPT_IN = ('x11_trust = "trusted": the container gets the display\'s own cookie and may turn access '
                  "control off (xhost +), inject and record input (XTEST, RECORD) and read every window")
NO_SECURITY = ("{display} does not offer the SECURITY extension: the container falls back to the trusted cookie "
               "(xhost, input injection and every window are within its reach)")
STILL_VISIBLE = ("Untrusted clients can still see window titles and the root window's properties, and use the "
                 "clipboard (selections).")


class X11Trust(Check):
    """What it checks: the trust level the launch gives the container's X connection
    (`x11_trust` in config.toml, default "untrusted") and whether the X server offers the
    SECURITY extension that untrusted cookies come from.

    Why it matters: a trusted cookie lets the container run `xhost +`, inject keystrokes
    and record input (XTEST, RECORD) and read every window; an untrusted one does not, but
    gets no GLX (Spotify renders in software). Without SECURITY (some Xwayland builds) the
    launch falls back to the trusted cookie and says so.

    Both trusted cases are warnings (the launch goes on); x11.container-cookie then prepares
    the trusted cookie file.

    Fix safety: none; `x11_trust = "trusted"` is an explicit opt-in.
    """

    id = "x11.trust"
    title = "Container X trust level"
    category = "x11"
    severity = Severity.WARNING
    requires = ("x11.connect",)
    tags = frozenset({"launch"})

    def run(self, ctx: Context) -> CheckResult:
        name = local_display(ctx)
        offered = bool(ctx.prior_fact("x11.connect", "security"))
        if ctx.config.x11_trust == "trusted":
            return self.warn(TRUSTED_OPT_IN, Message.hint(
                "Only for a client that needs GLX or input from other windows.",
                'Remove x11_trust from config.toml (or set "untrusted") to take these away.'),
                facts=X11TrustFacts("trusted", offered, None).to_json())
        if not offered:
            why = NO_SECURITY.format(display=name.canonical)
            return self.warn(why, Message.error(why, "An X server built with the SECURITY extension (Xorg, Xvfb "
                                                     "and most Xwayland builds have it) keeps the container out."),
                             facts=X11TrustFacts("trusted", False, why).to_json())
        return self.ok(UNTRUSTED, Message.info(UNTRUSTED_LIMITS), Message.info(STILL_VISIBLE),
                       facts=X11TrustFacts("untrusted", True, None).to_json())
