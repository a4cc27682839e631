"""pulse.client-config: the client config and cookie copy handed to the container."""
from __future__ import annotations

import os
import stat as stat_mod

from spotidoctor import layout
from spotidoctor.api import Check, CheckResult, Context, Message
from spotidoctor.errors import ParseError
from spotidoctor.facts import PulseClientFacts, PulseSocketFacts
from spotidoctor.fixes import Fix, FixAvailability, MakeDirs, Step, WriteFile

from .common import ACCESS, CLIENT, SOCKET, direct_only
from .conf import client_conf_problems, client_conf_text, parse_client_conf
from .steps import CopyPulseCookie

FIX_CLIENT = "pulse.write-client-config"


class PulseClientConfig(Check):
    """What it checks: the files handed to the container. A client config
    (`$XDG_RUNTIME_DIR/spotidoctor/pulse-client.conf`) with `autospawn = no` and
    `enable-shm = no` (SHM cannot work across the container boundary); on
    PulseAudio a copy of the socket's cookie (`$XDG_RUNTIME_DIR/spotidoctor/pulse-cookie`),
    owned by you, mode 0644, exactly the server's 256 bytes, inside a directory other users
    cannot enter — it is mounted read-only, and a copy the container user owned would fail
    there.

    Only with `audio = "direct"`: the default filtered audio needs none of this (see
    pulse.audio-mode and pulse.filter-access).

    Why it matters: without the cookie copy the container is refused ("Access denied");
    a stale copy (the cookie changed) fails the same way.

    Fix safety: safe. Writes both files atomically (the cookie is read when the fix runs and
    never shown); re-running changes nothing.
    """

    id = CLIENT
    title = "Container audio client config and cookie copy"
    category = "audio"
    requires = (SOCKET,)
    timeout_s = 15.0
    tags = frozenset({"launch"})
    fix_availability = FixAvailability.ALWAYS

    def applies(self, ctx: Context) -> str | None:
        return direct_only(ctx)

    def run(self, ctx: Context) -> CheckResult:
        conf = layout.pulse_client_conf(ctx.paths)
        published = ctx.prior_facts(PulseSocketFacts)
        cookie = published.cookie_path if published else None
        copy = layout.pulse_cookie_copy(ctx.paths) if cookie else None
        facts = PulseClientFacts(client_conf=conf, cookie_copy=copy).to_json()
        problems = self._conf_problems(ctx, conf, cookie is not None)
        if cookie and copy:
            problems += self._copy_problems(ctx, cookie, copy)
        if problems:
            return self.fail(problems[0], *(Message.error(p) for p in problems), facts=facts,
                             fixes=(self._fix(ctx, conf, cookie, copy),))
        return self.ok(f"{conf}" + (f" and {copy}" if copy else " (no cookie on PipeWire)"), facts=facts)

    @staticmethod
    def _conf_text(with_cookie: bool) -> str:
        return client_conf_text(f"unix:{layout.CONTAINER_PULSE_SOCKET}",
                                layout.CONTAINER_PULSE_COOKIE if with_cookie else None)

    def _conf_problems(self, ctx: Context, conf: str, with_cookie: bool) -> list[str]:
        try:
            text = ctx.probes.fs.read_text_or_none(conf)
        except OSError as exc:
            return [f"cannot read {conf}: {exc.strerror or exc}"]
        if text is None:
            return [f"{conf} is missing"]
        try:
            values = parse_client_conf(text)
        except ParseError as exc:
            return [f"{conf}: {exc}"]
        problems = [f"{conf}: {p.key} is {p.found or 'unset (default yes)'}, must be {p.wanted}"
                    for p in client_conf_problems(values)]
        wanted_cookie = layout.CONTAINER_PULSE_COOKIE if with_cookie else None
        if values.get("cookie-file") != wanted_cookie and (wanted_cookie or "cookie-file" in values):
            problems.append(f"{conf}: cookie-file should be {wanted_cookie or 'unset'} for this server")
        return problems

    @staticmethod
    def _copy_problems(ctx: Context, cookie: str, copy: str) -> list[str]:
        fs = ctx.probes.fs
        st = fs.stat(copy)
        if st is None:
            return [f"the cookie copy {copy} is missing"]
        problems = []
        if st.uid != ctx.user.uid:
            problems.append(f"{copy} belongs to uid {st.uid}, not you: a container-owned copy mounted "
                            "read-only is refused")
        if st.perms != 0o644:
            problems.append(f"{copy} has mode {st.perms:04o}, must be 0644 (readable by the container user)")
        try:
            same = fs.read_bytes(copy) == fs.read_bytes(cookie)
        except OSError as exc:
            return problems + [f"cannot read the cookie to compare: {exc.strerror or exc}"]
        if not same:
            problems.append(f"{copy} is not the server's current cookie ({cookie}); the container would "
                            "be refused")
        return problems + _exposure(ctx, copy)

    def _fix(self, ctx: Context, conf: str, cookie: str | None, copy: str | None) -> Fix:
        directory = ctx.paths.runtime_dir
        steps: list[Step] = [
            MakeDirs(f"create {directory}", path=directory, mode=0o700, private=True),
            WriteFile(f"write {conf}", path=conf, content=self._conf_text(cookie is not None), mode=0o644,
                      backup=False, private=True)]
        if cookie and copy:
            steps.append(CopyPulseCookie(f"copy the cookie to {copy}", source=cookie, target=copy))
        return Fix.safe(FIX_CLIENT, "Write the container's pulse client config and cookie copy", *steps,
                        recheck=(ACCESS,))


def _exposure(ctx: Context, copy: str) -> list[str]:
    """A 0644 copy is fine only behind a directory other users cannot enter."""
    directory = os.path.dirname(copy)
    for path in (directory, os.path.dirname(directory)):
        st = ctx.probes.fs.stat(path)
        if st is not None and not st.perms & stat_mod.S_IXOTH:
            return []
    return [f"{directory} and its parent can be entered by every local user, so the 0644 cookie copy "
            "is readable by all of them: make the directory 0700"]
