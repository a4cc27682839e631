"""pulse.exposure: modules of your sound server that let clients in without authentication."""
from __future__ import annotations

from spotidoctor.api import Check, CheckResult, Context, Message
from spotidoctor.channels.pulse.exposure import exposed_modules

from .common import EXPOSURE, SERVER, kind_of, loaded_modules


class PulseExposure(Check):
    """What it checks: the modules loaded in your sound server (`pactl list modules`) that
    admit clients without a cookie: module-native-protocol-tcp/-unix with
    `auth-anonymous=1`, a wide `auth-ip-acl` or an `auth-group`, a TCP listener on every
    address, pipewire-pulse's TCP module (it checks no cookies), the simple/CLI/HTTP
    protocols (no authentication at all), module-dbus-protocol with remote access, and
    module-x11-publish (the cookie on the X root window, readable by every X client).

    Why it matters: whoever gets in controls the server, and a client that may load modules
    runs code as you. A container (or any local user) that once had such access could have
    left a listener like this behind: `pactl load-module module-native-protocol-tcp
    auth-anonymous=1` stays loaded until the server restarts.

    Fix safety: none automatic; the advice names `pactl unload-module N` for each (unloading
    something another program relies on would cut it off), and where it came from must be
    removed from the server's configuration too.
    """

    id = EXPOSURE
    title = "No pulse module admits clients without authentication"
    category = "audio"
    requires = (SERVER,)
    timeout_s = 15.0

    def run(self, ctx: Context) -> CheckResult:
        found = exposed_modules(loaded_modules(ctx), kind_of(ctx))
        if not found:
            return self.ok("no module admits clients without authentication")
        messages = [Message.error(f"module #{e.index} {e.module}: {e.reason}",
                                  f"`pactl unload-module {e.index}`, and remove it from the server's configuration "
                                  "(default.pa, a pipewire-pulse.conf.d drop-in) if it is there")
                    for e in found]
        modules = sorted({f"#{e.index} {e.module}" for e in found})
        return self.fail(f"{len(modules)} module(s) open your sound server to other clients: {', '.join(modules)}",
                         *messages, facts={"exposed": [[e.index, e.module, e.reason] for e in found]})
