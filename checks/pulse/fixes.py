"""The fix plans the pulse checks offer: load and persist the socket module (PulseAudio), the
``server.address`` drop-in and a restart (PipeWire)."""
from __future__ import annotations

import os

from spotidoctor import layout
from spotidoctor.api import Context
from spotidoctor.fixes import Fix, Instruction, MakeDirs, RunCommand, WriteFile
from spotidoctor.probes.pulse import ServerKind

from .common import (
    CLIENT,
    PERSIST,
    PW_ADDRESS,
    PW_UNIT,
    SOCKET,
    SOCKET_ARGS,
    expected_socket,
    runtime_dir,
    user_default_pa,
)
from .conf import (
    NATIVE_UNIX,
    client_conf_text,
    ensure_default_pa,
    format_module_args,
    merged_addresses,
    pipewire_drop_in_text,
)
from .pipewire import address_socket
from .services import PW_RESTART_PULSE, PW_SYSTEMD_RESTART_PULSE, audio_session
from .steps import LoadPulseModule, MakeFileReadable

FIX_LOAD = "pulse.load-socket-module"
FIX_PERSIST_PA = "pulse.persist-default-pa"
FIX_DROP_IN = "pulse.write-pipewire-drop-in"
FIX_RESTART_PW = "pulse.restart-pipewire-pulse"
FIX_COOKIE_MODE = "pulse.cookie-readable"


def load_fix(ctx: Context) -> Fix:
    wanted = expected_socket(ctx)
    arguments = format_module_args(SOCKET_ARGS)
    return Fix.safe(FIX_LOAD, "Load the container socket module into the running PulseAudio now",
                    LoadPulseModule(f"load {NATIVE_UNIX} {arguments}", NATIVE_UNIX, arguments,
                                    wanted.socket or ""),
                    notes=("Gone after a PulseAudio restart unless it is also persisted.",),
                    recheck=(CLIENT, PERSIST))


def persist_pa_fix(ctx: Context, args: dict[str, str]) -> Fix | None:
    path = user_default_pa(ctx)
    try:
        raw: bytes | None = ctx.probes.fs.read_bytes(path)
    except (FileNotFoundError, NotADirectoryError):
        raw = None
    except OSError:
        return None
    current = None if raw is None else raw.decode("utf-8", errors="replace")
    edit = ensure_default_pa(current, args, runtime_dir(ctx))
    if not edit.changed:
        return None
    if raw is not None and current is not None and current.encode() != raw:
        # Rewriting would replace the bytes that are not UTF-8: leave the file to the user.
        return Fix.manual(FIX_PERSIST_PA, "Configure the container socket persistently in your default.pa",
                          Instruction(f"edit {path}", text=f"{path} is not UTF-8 text, so spotidoctor leaves it "
                                      "alone; edit it yourself: " + "; ".join(edit.changes)),
                          notes=edit.notes)
    step = WriteFile(f"{path}: " + "; ".join(edit.changes), path=path, content=edit.text, mode=0o644,
                     backup=True)
    return Fix.safe(FIX_PERSIST_PA, "Configure the container socket persistently in your default.pa", step,
                    notes=edit.notes + ("Takes effect at the next PulseAudio start; the old file is backed up.",),
                    recheck=(SOCKET, PERSIST))


def drop_in_fix(ctx: Context, current: tuple[str, ...]) -> Fix:
    path = layout.pipewire_drop_in(ctx.paths)
    ours = [a for a in current if address_socket(ctx, a) != expected_socket(ctx).socket]
    content = pipewire_drop_in_text(merged_addresses(ours, PW_ADDRESS))
    # The container's client config does not depend on the new socket (no cookie on PipeWire):
    # written now, so that only the restart is left.
    conf = layout.pulse_client_conf(ctx.paths)
    return Fix.safe(FIX_DROP_IN, "Add the container socket to pipewire-pulse (server.address drop-in)",
                    MakeDirs(f"create {os.path.dirname(path)}", path=os.path.dirname(path), mode=0o700),
                    WriteFile(f"write {path}", path=path, content=content, mode=0o644, backup=True),
                    MakeDirs(f"create {ctx.paths.runtime_dir}", path=ctx.paths.runtime_dir, mode=0o700),
                    WriteFile(f"write {conf}", path=conf, mode=0o644, backup=False,
                              content=client_conf_text(f"unix:{layout.CONTAINER_PULSE_SOCKET}")),
                    notes=("pipewire-pulse reads it at its next start (see the restart fix).",),
                    recheck=(PERSIST,))


def systemd_manages_pipewire_pulse(ctx: Context) -> bool:
    def ask() -> bool:
        done = ctx.probes.cmd.run(("systemctl", "--user", "is-active", PW_UNIT), timeout=5)
        return done.ok and done.stdout.strip() == "active"

    return ctx.memo.get("pulse.pipewire-pulse-systemd", ask)


def restart_command(ctx: Context) -> str:
    """How pipewire-pulse is restarted here: its systemd user unit, or by hand."""
    return PW_SYSTEMD_RESTART_PULSE if systemd_manages_pipewire_pulse(ctx) else PW_RESTART_PULSE


def restart_fix(ctx: Context) -> Fix:
    title = "Restart pipewire-pulse so that it opens the container socket"
    note = ("Playing streams are interrupted for a moment; applications reconnect.",)
    if systemd_manages_pipewire_pulse(ctx):
        return Fix.safe(FIX_RESTART_PW, title,
                        RunCommand(f"restart {PW_UNIT}", argv=("systemctl", "--user", "restart", PW_UNIT),
                                   timeout_s=30),
                        notes=note, recheck=(SOCKET,))
    keep = audio_session(ctx, ServerKind.PIPEWIRE).keep_running()
    return Fix.manual(FIX_RESTART_PW, title, Instruction(
        "restart pipewire-pulse", text=(
            f"pipewire-pulse is not run by a systemd user unit here: restart it with `{PW_RESTART_PULSE}` "
            "in a terminal of your session (or log out and back in), then run `spotidoctor fix` (it checks "
            "again and finishes anything left)." + (f" {keep}" if keep else ""))), notes=note)


def cookie_readable_fix(ctx: Context, cookie: str, owner: int) -> Fix:
    """A cookie the server made but you cannot read: chmod it back when it is yours; else
    the server must make a new one (it writes the file when it is missing)."""
    if owner == ctx.user.uid:
        return Fix.safe(FIX_COOKIE_MODE, f"make {cookie} readable by you again (mode 0600)",
                        MakeFileReadable(f"chmod 0600 {cookie}", path=cookie, mode=0o600), recheck=(SOCKET, CLIENT))
    return Fix.manual(FIX_COOKIE_MODE, f"replace {cookie}, which belongs to uid {owner}",
                      Instruction(f"remove {cookie} and restart the server", text=(
                          f"{cookie} belongs to uid {owner}, so neither you nor spotidoctor can change it. "
                          f"Remove it (`sudo rm -- {cookie}`) and restart the server "
                          "(`systemctl --user restart pulseaudio`, or `pulseaudio -k`): it writes a new cookie; "
                          "then run `spotidoctor fix`.")))
