"""A test X client that authenticates ONLY with the file in $XAUTHORITY (FamilyWild honoured).

    python -m tests.x11client draw            own window: map, fill green, read a pixel back
    python -m tests.x11client victim          (trusted) a window with a title, a property and the
                                              CLIPBOARD, holding the input focus; prints its id, serves
                                              until stdin closes, then prints how many keys it got
    python -m tests.x11client attack WINDOW   every attack on another client's window and on the server
    python -m tests.x11client hold            connect, print "connected", wait until the server drops us

Each prints one JSON line. python-xlib ignores FamilyWild entries, so its ``get_auth`` is
replaced by a reader of $XAUTHORITY (spotidoctor.x11auth), i.e. no other cookie is ever used.
"""
from __future__ import annotations

import json
import os
import select
import sys
import time
from collections.abc import Callable
from typing import Any

from Xlib import X, Xatom
from Xlib import display as xdisplay
from Xlib import error as xerror
from Xlib.protocol import event as xevent
from Xlib.protocol import request as xrequest
from Xlib.support import connect

from spotidoctor.probes import x11auth

GREEN = 0x00FF00
SECRET_TITLE = "victim-title"
SECRET_VALUE = b"victim-property-value"
CLIPBOARD_VALUE = b"victim-clipboard-value"


def _auth_from_file(sock: object, dname: str, protocol: object, host: object, dno: int) -> tuple[bytes, bytes]:
    path = os.environ["XAUTHORITY"]
    with open(path, "rb") as fh:
        entries = x11auth.parse_xauthority(fh.read())
    return x11auth.best_auth(entries, dno, None)


def open_display() -> xdisplay.Display:
    connect.get_auth = _auth_from_file
    return xdisplay.Display(os.environ["DISPLAY"])


def outcome(action: Callable[[], Any]) -> str:
    """"ok" or the X error's class name (BadAccess ...)."""
    try:
        action()
        return "ok"
    except xerror.XError as exc:
        return type(exc).__name__


def checked(d: xdisplay.Display, send: Callable[[xerror.CatchError], None]) -> str:
    catcher = xerror.CatchError()
    send(catcher)
    d.sync()
    error = catcher.get_error()
    return "ok" if error is None else type(error).__name__


def draw() -> dict[str, Any]:
    d = open_display()
    screen = d.screen()
    win = screen.root.create_window(0, 0, 64, 48, 0, screen.root_depth, background_pixel=screen.black_pixel)
    win.map()
    gc = win.create_gc(foreground=GREEN)
    win.fill_rectangle(gc, 0, 0, 64, 48)
    d.sync()
    pixel = win.get_image(5, 5, 1, 1, X.ZPixmap, 0xFFFFFFFF).data[:3]
    return {"window": win.id, "pixel": int.from_bytes(bytes(pixel), "little")}


def victim() -> None:
    d = open_display()
    screen = d.screen()
    win = screen.root.create_window(0, 0, 64, 48, 0, screen.root_depth, background_pixel=screen.white_pixel)
    win.set_wm_name(SECRET_TITLE)
    win.change_property(d.intern_atom("SPOTIDOCTOR_SECRET"), Xatom.STRING, 8, SECRET_VALUE)
    win.change_attributes(event_mask=X.KeyPressMask)
    win.map()
    win.set_selection_owner(d.intern_atom("CLIPBOARD"), X.CurrentTime)
    d.sync()
    win.set_input_focus(X.RevertToParent, X.CurrentTime)  # keys typed anywhere (XTEST) come here
    d.sync()
    print(json.dumps({"window": win.id}), flush=True)
    keys = 0
    while True:
        ready, _, _ = select.select([sys.stdin, d.fileno()], [], [], 30)
        if sys.stdin in ready or not ready:
            print(json.dumps({"keys": keys}), flush=True)
            return
        while d.pending_events():
            ev = d.next_event()
            keys += ev.type == X.KeyPress
            _answer_selection(d, ev)


def _answer_selection(d: xdisplay.Display, ev: Any) -> None:
    if ev.type != X.SelectionRequest:
        return
    ev.requestor.change_property(ev.property, Xatom.STRING, 8, CLIPBOARD_VALUE)
    ev.requestor.send_event(xevent.SelectionNotify(time=ev.time, requestor=ev.requestor, selection=ev.selection,
                                                   target=ev.target, property=ev.property))
    d.flush()


def _property(d: xdisplay.Display, window: Any, name: str) -> str | None:
    try:
        prop = window.get_full_property(d.intern_atom(name), X.AnyPropertyType)
    except xerror.XError as exc:
        return type(exc).__name__
    return None if prop is None else bytes(prop.value).decode("latin-1")


def _clipboard(d: xdisplay.Display, own: Any) -> str | None:
    target = d.intern_atom("SPOTIDOCTOR_PASTE")
    xrequest.ConvertSelection(display=d.display, requestor=own, selection=d.intern_atom("CLIPBOARD"),
                              target=Xatom.STRING, property=target, time=X.CurrentTime)
    d.flush()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        while d.pending_events():
            ev = d.next_event()
            if ev.type == X.SelectionNotify:
                if ev.property == X.NONE:
                    return None
                return _property(d, own, "SPOTIDOCTOR_PASTE")
        time.sleep(0.02)
    return None


def attack(window_id: int) -> dict[str, Any]:
    d = open_display()
    screen = d.screen()
    theirs = d.create_resource_object("window", window_id)
    own = screen.root.create_window(0, 0, 8, 8, 0, screen.root_depth)
    gc = own.create_gc(foreground=GREEN)
    return {
        "extensions": sorted(d.list_extensions()),
        "query": {name: bool(d.query_extension(name)) for name in ("XTEST", "RECORD", "GLX", "SECURITY",
                                                                   "XInputExtension", "MIT-SHM")},
        "get_image_window": outcome(lambda: theirs.get_image(0, 0, 4, 4, X.ZPixmap, 0xFFFFFFFF)),
        "get_image_root": outcome(lambda: screen.root.get_image(0, 0, 4, 4, X.ZPixmap, 0xFFFFFFFF)),
        "draw_into_window": checked(d, lambda c: theirs.fill_rectangle(gc, 0, 0, 4, 4, onerror=c)),
        "change_property": checked(d, lambda c: theirs.change_property(
            d.intern_atom("SPOTIDOCTOR_EVIL"), Xatom.STRING, 8, b"x", onerror=c)),
        "set_access_control": checked(d, lambda c: d.set_access_control(X.DisableAccess, onerror=c)),
        "list_hosts": outcome(d.list_hosts),
        "title": _property(d, theirs, "WM_NAME"),
        "property": _property(d, theirs, "SPOTIDOCTOR_SECRET"),
        "keymap_pressed": any(d.query_keymap()),
        "clipboard": _clipboard(d, own),
    }


def hold() -> None:
    d = open_display()
    print(json.dumps({"connected": True}), flush=True)
    try:
        while True:
            d.next_event()
    except (xerror.ConnectionClosedError, OSError) as exc:
        print(json.dumps({"dropped": type(exc).__name__}), flush=True)


def main(argv: list[str]) -> int:
    action = argv[0]
    if action == "draw":
        print(json.dumps(draw()))
    elif action == "victim":
        victim()
    elif action == "attack":
        print(json.dumps(attack(int(argv[1]))))
    elif action == "hold":
        hold()
    else:
        raise SystemExit(f"unknown action {action}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
