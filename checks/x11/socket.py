"""x11.socket: the display's socket file exists and is a socket."""
from __future__ import annotations

from spotidoctor.api import Check, CheckResult, Context, Message
from spotidoctor.channels.x11socket import ownership_problems
from spotidoctor.probes import x11auth

from .display import local_display

NO_SOCKET = "{path} does not exist"
NOT_A_SOCKET = "{path} exists but is not a socket"
NOT_YOURS = "{path} is not safe to send a cookie to: {problem}"


class DisplaySocket(Check):
    """What it checks: the display's socket file /tmp/.X11-unix/X<n> exists and is a socket.

    Why it matters: X servers also listen on an abstract socket, but abstract sockets belong
    to the host's network namespace, which the container does not share; only the socket
    file can be bind-mounted into it.

    The socket file and /tmp/.X11-unix must belong to you or root, and the directory must not
    let others replace entries (world-writable without the sticky bit): otherwise another
    user's X server (or a fake recording cookies) answers there, and no cookie is sent to it
    (the connection itself checks the listener's uid too, before the cookie).

    Fix safety: none (start the X server with its unix socket; do not create the file).
    """

    id = "x11.socket"
    title = "X socket file exists"
    category = "x11"
    requires = ("x11.display",)
    tags = frozenset({"launch"})

    def run(self, ctx: Context) -> CheckResult:
        name = local_display(ctx)
        path = name.socket_path
        st = ctx.probes.fs.stat(path)
        if st is None:
            return self.fail(NO_SOCKET.format(path=path), Message.error(
                f"No X server for {name.canonical} has a socket file: it is not running, or it listens "
                "only on the abstract socket (started with `-nolisten unix`?), which the container "
                "cannot reach.",
                f"Check `ls -l {x11auth.X11_SOCKET_DIR}` and the DISPLAY your session uses."))
        if not st.is_socket:
            return self.fail(NOT_A_SOCKET.format(path=path), Message.error(
                f"{path} should be the X server's unix socket; something else took its name.",
                "Find out what created it before removing it."))
        problems = ownership_problems(ctx.probes.fs, name.number, ctx.user.uid)
        if problems:
            return self.fail(NOT_YOURS.format(path=path, problem=problems[0]), *(Message.error(p) for p in problems),
                             Message.hint("No cookie is sent to it: x11.connect and the launch stop here.",
                                          "Use a display whose socket your X server created (`ls -l "
                                          f"{x11auth.X11_SOCKET_DIR}`); ask the machine's administrator about "
                                          "the foreign one."), facts={"socket_owner_uid": st.uid})
        via = " (a symlink)" if (lst := ctx.probes.fs.lstat(path)) is not None and lst.is_symlink else ""
        return self.ok(f"{path} is a socket{via}", facts={"socket_owner_uid": st.uid})
