"""x11.container-cookie: the FamilyWild cookie file the launcher mounts is current."""
from __future__ import annotations

import os

from spotidoctor import layout
from spotidoctor.api import Check, CheckResult, Context, Fix, FixAvailability, Message
from spotidoctor.errors import ParseError
from spotidoctor.facts import CookieFacts, X11TrustFacts
from spotidoctor.probes import x11auth

from .display import local_display
from .steps import CONTAINER_COOKIE_MODE, WriteWildCookie, wanted_cookie_file

COOKIE_FIX_ID = "x11.write-container-cookie"


class ContainerCookie(Check):
    """What it checks: your Xauthority has a MIT-MAGIC-COOKIE-1 entry for the display, and
    spotidoctor's FamilyWild copy of it (the file the launcher mounts as XAUTHORITY) exists,
    is a regular file the container user can read (0644, host-owned, inside the private
    0700 runtime dir) and holds the display's current cookie (compared by digest; the
    cookie is never shown).

    Only with a trusted cookie: `x11_trust = "trusted"`, or an X server without SECURITY
    (x11.trust); with the default untrusted cookie each launch makes its own.

    Why it matters: a normal entry is bound to the host name, which differs inside the
    container (`Authorization required`); python-xlib cannot write the FamilyWild form.
    The container's uid 1500 is a subordinate uid on the host, so the
    file must be readable by "others"; the 0700 directory keeps other host users out.

    Fix safety: safe. Writes the file atomically from your Xauthority at apply time.
    """

    id = "x11.container-cookie"
    title = "Container X cookie is current"
    category = "x11"
    requires = ("x11.connect", "x11.trust")
    tags = frozenset({"launch"})
    fix_availability = FixAvailability.SOMETIMES

    def applies(self, ctx: Context) -> str | None:
        trust = ctx.prior_facts(X11TrustFacts)
        if trust is not None and trust.trust == "untrusted":
            return "x11_trust = untrusted: each launch makes its own untrusted cookie (no trusted copy is mounted)"
        return None

    def run(self, ctx: Context) -> CheckResult:
        name = local_display(ctx)
        source = x11auth.xauthority_path(ctx.env, ctx.user.home)
        dest = layout.x11_cookie(ctx.paths, name.number)
        facts = CookieFacts(cookie_file=dest, xauthority=source).to_json()
        if source is None:
            return self.fail("cannot locate an Xauthority file (no XAUTHORITY and no HOME)", facts=facts)
        if layout.secrets_dir(ctx.paths) is None:
            return self.fail(f"{layout.NO_RUNTIME_DIR}: no private place for the container's X cookie",
                             Message.error(layout.NO_RUNTIME_DIR_ADVICE), facts=facts)
        try:
            wanted = wanted_cookie_file(ctx.probes.fs, source, name.number)
        except ParseError as exc:
            return self.fail(f"no cookie for the container: {exc}", Message.error(
                f"The container authenticates with a copy of the MIT-MAGIC-COOKIE-1 entry for "
                f"{name.canonical} in {source}.",
                f"`xauth list {name.canonical}` should show one; the display manager writes it at login."),
                facts=facts)
        fix = Fix.safe(COOKIE_FIX_ID, f"write the container's X cookie file {dest}", WriteWildCookie(
            f"write the FamilyWild cookie for {name.canonical}", source=source, dest=dest,
            display_number=name.number, private_dir=ctx.paths.runtime_dir))
        problem = self._file_problem(ctx, dest, wanted)
        if problem:
            return self.fail(problem, facts=facts, fixes=(fix,))
        if self._exposed(ctx, dest):
            return self.warn(f"{dest} is readable by every local user", Message.error(
                "No directory above it keeps other users out; with the cookie they can connect "
                "to your display.", "`spotidoctor fix x11` makes spotidoctor's runtime dir 0700."),
                facts=facts, fixes=(fix,))
        return self.ok(f"{dest} holds the current cookie for {name.canonical} (FamilyWild, "
                       "readable by the container user)", facts=facts)

    @staticmethod
    def _file_problem(ctx: Context, dest: str, wanted: bytes) -> str | None:
        fs = ctx.probes.fs
        st = fs.lstat(dest)
        if st is None:
            return f"container cookie file {dest} is missing"
        if not st.is_file:
            return f"{dest} is not a regular file"
        readable = st.perms & 0o004 or (st.uid != ctx.user.uid and st.perms & 0o400)
        if not readable:
            return (f"{dest} is not readable by the container user (mode {st.perms:04o}; "
                    f"needs {CONTAINER_COOKIE_MODE:04o})")
        current = fs.read_bytes(dest, x11auth.MAX_XAUTHORITY_BYTES + 1)
        if x11auth.digest(current) != x11auth.digest(wanted):
            return f"{dest} is stale: it does not hold the display's current cookie"
        return None

    @staticmethod
    def _exposed(ctx: Context, dest: str) -> bool:
        """True when every directory above ``dest`` lets other users through."""
        directory = os.path.dirname(dest)
        while True:
            st = ctx.probes.fs.stat(directory)
            if st is not None and not st.perms & 0o001:
                return False
            parent = os.path.dirname(directory)
            if parent == directory:
                return True
            directory = parent
