"""Runs inside the container's network namespace (entered with nsenter by ``callback``).

It answers each ``socket`` request on its stdin (a SOCK_SEQPACKET socket to spotidoctor) with a
new, unconnected TCP socket passed back as a file descriptor (SCM_RIGHTS). A socket belongs to
the namespace it was created in, so spotidoctor's relay connects it to the container's own
127.0.0.1 without this process touching any data. It exits when spotidoctor closes the channel.
It uses the standard library only and starts nothing.
"""
from __future__ import annotations

import os
import socket
import sys

REQUEST = b"socket"
READY = b"ready "


def serve(chan: socket.socket) -> int:
    chan.send(READY + os.readlink("/proc/self/ns/net").encode())
    while True:
        try:
            msg = chan.recv(64)
        except OSError:
            return 0
        if not msg:
            return 0  # spotidoctor closed the channel
        if msg != REQUEST:
            return 2
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        except OSError as exc:
            chan.send(b"error " + type(exc).__name__.encode())
            continue
        try:
            socket.send_fds(chan, [b"ok"], [sock.fileno()])
        except OSError:
            return 0
        finally:
            sock.close()


def main() -> int:
    try:
        chan = socket.socket(fileno=sys.stdin.fileno())
    except OSError:
        print("nshelper: stdin is not spotidoctor's socket", file=sys.stderr)
        return 2
    with chan:
        return serve(chan)


if __name__ == "__main__":
    sys.exit(main())
