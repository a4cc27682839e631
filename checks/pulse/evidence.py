"""What a bug report holds about audio (declared by ``pulse.server``): ``pactl info`` and the
native-protocol modules (never autospawning a daemon), where the sockets and cookies are (never
their bytes), and the client configs."""
from __future__ import annotations

import os

from spotidoctor import layout
from spotidoctor.api import Context
from spotidoctor.bundle.sources import NO_COMMENTS, generated, lstat_text
from spotidoctor.bundle.spec import BundleSpec

# pactl autospawns a daemon when none answers; libpulse starts the binary PULSE_BINARY
# names, so point it at a no-op.
NO_AUTOSPAWN = {"PULSE_BINARY": "/bin/false"}
NATIVE_PROTOCOL = r"module-native-protocol"


def pulse_evidence(spec: BundleSpec, ctx: Context) -> None:
    spec.add_command(("pactl", "info"), "pulse/pactl-info.txt", timeout_s=5, env=NO_AUTOSPAWN)
    spec.add_command(("pactl", "list", "modules", "short"), "pulse/native-protocol-modules.txt", timeout_s=5,
                     env=NO_AUTOSPAWN, only_lines_matching=NATIVE_PROTOCOL)
    socket = layout.pulse_socket(ctx.paths)
    if socket and lstat_text(ctx, socket).startswith("socket"):
        spec.add_command(("pactl", "--server", f"unix:{socket}", "info"), "pulse/pactl-info-container-socket.txt",
                         timeout_s=5, env=NO_AUTOSPAWN)
    generated(spec, "pulse/files.txt", lambda: pulse_files_text(ctx))
    config_home = ctx.paths.xdg_config_home
    for path, name in ((os.path.join(config_home, "pulse", "client.conf"), "pulse/user-client.conf"),
                       ("/etc/pulse/client.conf", "pulse/etc-client.conf"),
                       (os.path.join(config_home, "pulse", "default.pa"), "pulse/user-default.pa"),
                       (layout.pulse_client_conf(ctx.paths), "pulse/container-client.conf"),
                       (layout.pipewire_drop_in(ctx.paths), "pulse/pipewire-pulse-drop-in.conf")):
        spec.add_file(path, name, only_lines_matching=NO_COMMENTS, max_bytes=64 * 1024)


def pulse_files_text(ctx: Context) -> str:
    """Where the sockets and cookies are, with type, mode and owner; never their bytes."""
    paths = ctx.paths
    runtime = paths.xdg_runtime_dir
    candidates = [
        ("pulse runtime dir", os.path.join(runtime, "pulse") if runtime else None),
        ("native socket", os.path.join(runtime, "pulse", "native") if runtime else None),
        ("container socket", layout.pulse_socket(paths)),
        ("pipewire socket", os.path.join(runtime, "pipewire-0") if runtime else None),
        ("default cookie", os.path.join(paths.xdg_config_home, "pulse", "cookie")),
        ("container socket cookie", layout.pulse_cookie(paths)),
        ("cookie copy for the container", layout.pulse_cookie_copy(paths)),
        ("client.conf for the container", layout.pulse_client_conf(paths)),
    ]
    return "".join(f"{label}: {path or '(no XDG_RUNTIME_DIR)'}: "
                   f"{lstat_text(ctx, path) if path else 'n/a'}\n" for label, path in candidates)
