"""x11.access-control: the X server admits only authenticated clients."""
from __future__ import annotations

from collections.abc import Mapping

from spotidoctor.api import Check, CheckResult, Context, Fix, FixAvailability, Message
from spotidoctor.model import Severity
from spotidoctor.probes import x11auth
from spotidoctor.probes.x11 import AccessControl, HostEntry
from spotidoctor.types import JSONValue

from .connect import CONNECT_TIMEOUT_S
from .display import local_display
from .steps import RevokeHostAccess

REVOKE_FIX_ID = "x11.revoke-host-grants"


MIT_SHM_NOTE = ("MIT-SHM is present: Chromium-based clients may try X shared memory, which fails across "
                "podman's private IPC namespace (BadAccess on X_ShmAttach); see `spotidoctor check crash`.")
ACCESS_DISABLED = "X access control is disabled (`xhost +`): anyone who reaches {display} may connect"
LOCAL_GRANT = ("LOCAL: lets every local process connect without a cookie: every user of this machine and "
               "every container given the socket (the original design's `xhost local:root` leaves it)")
NETWORK_GRANT = "{host} lets clients from that address connect without a cookie (when the server listens on TCP)"
GRANT_CONSEQUENCE = ("A client that connects can read the screen, log keystrokes and inject input into "
                     "every window.")
OPEN_TO_ALL = "X server {display} admits clients without a cookie: a connection that offered none was accepted"
NO_OWN_COOKIE = ("Access control is on and no host grant admits that connection ({ruled_out}), so the server "
                 "has no cookie of its own (its -auth file is empty or missing): X.Org then admits every local "
                 "client, i.e. every user of this machine and every container given the socket.")
OPEN_ADVICE = ("Restart the X server so that it gets a cookie: log out and in (the display manager writes one). "
               "A hand-started server (`startx`, `Xvfb -auth FILE`) needs a cookie in FILE before it starts: "
               "`xauth -f FILE add :N . $(mcookie)`; XAUTHORITY must then point at a file with the same cookie.")
SCOPED_ADMIT = ("A connection without a cookie was admitted, which {entries} explains (it admits you); "
                "whether other users are admitted cannot be told from your own uid.")


class AccessControlAudit(Check):
    """What it checks: the X server's host access list (what `xhost` prints), and a connection
    that offers no cookie at all. Access control disabled (`xhost +`) fails; a cookieless
    connection admitted with no host grant to explain it fails (the server has no cookie of its
    own, and X.Org then admits every local client); a `LOCAL:` entry or an `INET:`/`INET6:`
    entry warns. Reports MIT-SHM presence as a fact for crash diagnosis.

    Why it matters: host grants admit clients without a cookie. The original design's
    `xhost local:root` leaves `LOCAL:`, which admits every local user and every container;
    spotidoctor's container uses a cookie instead and needs no grant.

    Fix safety: unsafe (`fix --unsafe`). Revokes the grants and re-enables access control;
    local programs that relied on them (no cookie) lose access to the display. Never offered
    when your own connection has no cookie, since that would lock you out.
    """

    id = "x11.access-control"
    title = "X server admits only authenticated clients"
    category = "x11"
    severity = Severity.ERROR
    requires = ("x11.connect",)
    tags = frozenset({"launch"})  # a container (or anyone) may have run `xhost +` since the last launch
    fix_availability = FixAvailability.SOMETIMES

    def run(self, ctx: Context) -> CheckResult:
        name = local_display(ctx)
        acl = ctx.probes.x11.access_control(name.canonical, timeout=CONNECT_TIMEOUT_S)
        grants = tuple(h for h in acl.hosts if h.is_local_grant or h.is_network_grant)
        # The proof, not the list: X.Org admits every local client when it has no cookie of its
        # own, and that shows in no host list.
        admitted = ctx.probes.x11.anonymous_handshake(name.canonical, timeout=CONNECT_TIMEOUT_S).ok
        facts: dict[str, JSONValue] = {"access_control": acl.enabled, "hosts": [h.text for h in acl.hosts],
                                       "mit_shm": ctx.prior_fact("x11.connect", "mit_shm"),
                                       "cookieless_admitted": admitted}
        notes = self._notes(acl, facts)
        if not acl.enabled:
            return self.fail(ACCESS_DISABLED.format(display=name.canonical),
                             Message.error(GRANT_CONSEQUENCE), *self._grant_messages(grants), *notes,
                             facts=facts, fixes=self._fixes(ctx, name, acl, grants))
        own = _admitting_me(acl.hosts, ctx.user.name)
        if admitted and not own and not any(h.is_local_grant for h in grants):
            ruled_out = "the list holds " + ", ".join(h.text for h in acl.hosts) if acl.hosts else "the list is empty"
            return self.fail(OPEN_TO_ALL.format(display=name.canonical),
                             Message.error(NO_OWN_COOKIE.format(ruled_out=ruled_out), GRANT_CONSEQUENCE),
                             Message.hint(OPEN_ADVICE), *self._grant_messages(grants), *notes, facts=facts)
        if admitted and own and not grants:
            notes = (*notes, Message.info(SCOPED_ADMIT.format(entries=", ".join(h.text for h in own))))
        if grants:
            return self.warn(f"host grants without a cookie: {', '.join(h.text for h in grants)}",
                             *self._grant_messages(grants), Message.hint(GRANT_CONSEQUENCE), *notes,
                             facts=facts, fixes=self._fixes(ctx, name, acl, grants))
        listed = ", ".join(h.text for h in acl.hosts) or "no host grants"
        return self.ok(f"access control enabled ({listed})", *notes, facts=facts)

    @staticmethod
    def _grant_messages(grants: tuple[HostEntry, ...]) -> tuple[Message, ...]:
        return tuple(Message.error(LOCAL_GRANT if h.is_local_grant else NETWORK_GRANT.format(host=h.text))
                     for h in grants)

    @staticmethod
    def _notes(acl: AccessControl, facts: Mapping[str, JSONValue]) -> tuple[Message, ...]:
        notes = [Message.info(f"{h.text}: admits that one user or group (scoped; fine)")
                 for h in acl.hosts if not (h.is_local_grant or h.is_network_grant)]
        if facts["mit_shm"]:
            notes.append(Message.info(MIT_SHM_NOTE))
        return tuple(notes)

    @staticmethod
    def _fixes(ctx: Context, name: x11auth.DisplayName, acl: AccessControl,
               grants: tuple[HostEntry, ...]) -> tuple[Fix, ...]:
        step = RevokeHostAccess(f"revoke host grants on {name.canonical}", display=name.canonical,
                                hosts=grants, enable_access_control=not acl.enabled)
        if not ctx.prior_fact("x11.connect", "auth"):
            return (Fix.manual(REVOKE_FIX_ID, "revoke host grants (your own connection has no cookie)",
                               step, notes=("Your session connects without a cookie, so revoking "
                                            "these grants would lock you out of your own display.",)),)
        return (Fix.unsafe(REVOKE_FIX_ID, f"revoke host grants and enable access control on {name.canonical}",
                           step, notes=("Local programs that connect without a cookie (another user's, "
                                        "root's, an old `xhost local:root` setup) lose access.",)),)


def _admitting_me(hosts: tuple[HostEntry, ...], user: str) -> tuple[HostEntry, ...]:
    """Scoped entries that may admit this user without a cookie: ``SI:localuser:<you>`` and
    any ``SI:localgroup:`` (group membership is the server's to resolve)."""
    mine = b"localuser\0" + user.encode("utf-8", errors="replace")
    return tuple(h for h in hosts if h.family == x11auth.FAMILY_SERVER_INTERPRETED
                 and (h.name == mine or h.name.startswith(b"localgroup\0")))
