"""Which settings widen the sandbox, each with one line saying what it opens (pure).

The launch keeps Spotify in a narrow box: uid 1500 mapped to a subordinate uid, no
capabilities, its own network, IPC, PID and UTS namespaces, podman's seccomp profile and
only single sockets and the storage directory mounted. ``audit`` names every setting in
config.toml (``extra_run_args``, ``network``, ``profile``, ``share_pipewire``) that opens
that box, for the launch preflight and ``--dry-run``. Arguments that would change WHAT podman
runs (a stray positional argument) are problems, not widenings: the caller refuses them.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from spotidoctor.hardening import mounts
from spotidoctor.hardening.mounts import HostContext
from spotidoctor.hardening.runopts import RunOption, parse_run_args

__all__ = ["Widening", "Audit", "audit", "audit_run_args", "HostContext"]

NAMESPACES = {
    "pid": "the host's process list: every process of yours, and signals/ptrace to those the container's uid "
           "can reach",
    "ipc": "the host's shared memory and message queues (X MIT-SHM and pulse segments of your other programs)",
    "uts": "the host's name (a minor leak; it also makes host-bound X cookies match)",
    "cgroupns": "the host's cgroup tree",
    "network": "the host's network stack: every service listening on localhost, and the abstract X11 and D-Bus "
               "sockets that bypass the single mounted sockets",
}
DEVICES = {
    "/dev/input": "input devices: read every keystroke and mouse movement, system-wide",
    "/dev/uinput": "creating virtual input devices: type and click into every window",
    "/dev/snd": "the sound hardware directly, bypassing the sound server",
    "/dev/video": "cameras and video capture",
    "/dev/hidraw": "raw HID devices (security keys, keyboards)",
    "/dev/kvm": "hardware virtualisation",
    "/dev/fuse": "FUSE mounts inside the container",
    "/dev/tty": "terminals (keystroke injection with TIOCSTI)",
    "/dev/dri": "the GPU (spotidoctor adds it itself when a render node is usable)",
}
CODE_LOADING_ENV = ("LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT")
CHANNEL_ENV = ("DISPLAY", "XAUTHORITY", "PULSE_SERVER", "PULSE_COOKIE", "PIPEWIRE_REMOTE", "WAYLAND_DISPLAY",
               "DBUS_SESSION_BUS_ADDRESS", "DBUS_SYSTEM_BUS_ADDRESS")


@dataclass(frozen=True)
class Widening:
    setting: str  # "extra_run_args: --volume=/:/host", 'network = "host"'
    opens: str

    @property
    def line(self) -> str:
        return f"{self.setting}: {self.opens}"


@dataclass(frozen=True)
class Audit:
    widenings: tuple[Widening, ...]
    problems: tuple[str, ...]  # refuse the launch (exit 2)
    unrecognised: tuple[str, ...]  # options spotidoctor cannot judge (a newer podman's?)


Rule = Callable[[RunOption, HostContext], list[str]]


def _privileged(opt: RunOption, host: HostContext) -> list[str]:
    if not opt.enabled:
        return []
    return ["every capability, every host device, no seccomp, AppArmor or SELinux confinement and a writable "
            "/sys: nothing of the sandbox is left but the user namespace"]


def _namespace(opt: RunOption, host: HostContext) -> list[str]:
    return _namespace_value(opt.name, opt.value or "")


def _namespace_value(name: str, value: str) -> list[str]:
    mode, _, arg = value.partition(":")
    if mode == "host":
        return [NAMESPACES[name]]
    if mode == "container":
        return [f"container {arg}'s {name} namespace (and whatever that container can reach)"]
    if mode == "ns":
        return [f"the {name} namespace at {arg}"]
    if name == "network" and mode == "slirp4netns" and "allow_host_loopback=true" in arg:
        return ["the host's loopback services (through 10.0.2.2): every service listening on localhost"]
    return []


def _userns(opt: RunOption, host: HostContext) -> list[str]:
    mode, _, arg = (opt.value or "").partition(":")
    if mode == "keep-id":
        return ["the container runs as your own uid: every file and socket it reaches treats it as you"]
    if mode == "host":
        return ["podman's own user namespace instead of the per-container mapping (rootless: the one of "
                "`podman unshare`, shared with every container started that way)"]
    if mode in ("container", "ns"):
        return [f"the user namespace of {arg or mode} (its id mapping and everything mapped in it)"]
    return []


def _idmap(opt: RunOption, host: HostContext) -> list[str]:
    return [f"a custom id mapping ({opt.value}): check it maps neither your own uid (0 in podman's namespace) "
            "nor ids of other programs"]


def _cap_add(opt: RunOption, host: HostContext) -> list[str]:
    caps = [c.strip().upper() for c in (opt.value or "").split(",") if c.strip()]
    if "ALL" in caps:
        return ["every Linux capability (Spotify needs none; spotidoctor drops them all)"]
    named = ", ".join(c if c.startswith("CAP_") else f"CAP_{c}" for c in caps)
    return [f"the Linux capabilities {named} (Spotify needs none; spotidoctor drops them all)"] if caps else []


def _device(opt: RunOption, host: HostContext) -> list[str]:
    source = (opt.value or "").split(":")[0]
    for prefix, opens in DEVICES.items():
        if source.startswith(prefix):
            return [f"{source}: {opens}"]
    return [f"the host device {source}"]


def _device_rule(opt: RunOption, host: HostContext) -> list[str]:
    return [f"devices matching the cgroup rule {opt.value!r}"]


def _bind(mount: mounts.BindMount | None, host: HostContext) -> list[str]:
    if mount is None:
        return []
    return [mounts.what_it_opens(mount, host), *mounts.mount_notes(mount)]


def _volume(opt: RunOption, host: HostContext) -> list[str]:
    return _bind(mounts.parse_volume(opt.value or ""), host)


def _mount(opt: RunOption, host: HostContext) -> list[str]:
    return _bind(mounts.parse_mount(opt.value or ""), host)


def _volumes_from(opt: RunOption, host: HostContext) -> list[str]:
    return [f"every volume and bind mount of container {(opt.value or '').split(':')[0]}"]


def _security_opt(opt: RunOption, host: HostContext) -> list[str]:
    value = opt.value or ""
    key, sep, arg = value.partition("=")
    if not sep:
        key, _, arg = value.partition(":")  # the deprecated colon form
    key, arg = key.strip(), arg.strip()
    if key == "seccomp" and arg == "unconfined":
        return ["no seccomp filter: every system call, including the ones podman's profile blocks"]
    if key == "seccomp":
        return [f"the seccomp profile {arg} instead of podman's default"]
    if key == "apparmor" and arg == "unconfined":
        return ["no AppArmor confinement"]
    if key == "label" and arg == "disable":
        return ["no SELinux separation (spotidoctor adds this itself only on SELinux-enforcing hosts, because "
                "mounted X and pulse sockets are denied otherwise)"]
    if key == "label" and arg.startswith("type:"):
        return [f"the SELinux type {arg[5:]} instead of container_t"]
    if key == "unmask":
        return [f"unmasks {arg}: kernel files under /proc and /sys podman hides from containers"]
    if key == "systempaths" and arg == "unconfined":
        return ["unmasks every kernel file under /proc and /sys podman hides from containers"]
    return []


def _group_add(opt: RunOption, host: HostContext) -> list[str]:
    value = opt.value or ""
    if value == "keep-groups":
        return ["your own supplementary groups (video, audio, input, ...): every file those groups open"]
    return [f"membership of group {value}: every file that group can open"]


def _env(opt: RunOption, host: HostContext) -> list[str]:
    name, eq, _ = (opt.value or "").partition("=")
    found = []
    if not eq:
        found.append(f"copies your own {name} value into the container" if "*" not in name
                     else f"copies every variable of yours matching {name} into the container")
    if name in CODE_LOADING_ENV:
        found.append(f"{name} loads the named libraries into every program in the container")
    if name in CHANNEL_ENV:
        found.append(f"overrides the {name} spotidoctor sets up (the display, sound or bus the container uses)")
    return found


def _env_host(opt: RunOption, host: HostContext) -> list[str]:
    if not opt.enabled:
        return []
    return ["your whole environment (tokens, SSH_AUTH_SOCK, bus addresses) is copied into the container"]


def _env_file(opt: RunOption, host: HostContext) -> list[str]:
    return [f"the variables in {opt.value} (from the host) are set in the container"]


def _user(opt: RunOption, host: HostContext) -> list[str]:
    who = (opt.value or "").split(":")[0]
    if who in ("0", "root"):
        return ["Spotify runs as the container's root, which is you on the host in rootless podman: every "
                "file of yours mounted in is writable"]
    return [f"overrides spotidoctor's --user (Spotify runs as {opt.value} instead of the container user)"]


def _pod(opt: RunOption, host: HostContext) -> list[str]:
    return [f"the namespaces of pod {opt.value} (and what its other containers can reach)"]


def _publish(opt: RunOption, host: HostContext) -> list[str]:
    if opt.name == "publish-all" and not opt.enabled:
        return []
    ports = "every exposed port" if opt.name == "publish-all" else opt.value
    return [f"listens on the host for connections into the container ({ports}; reachable from the network "
            "unless bound to 127.0.0.1)"]


def _annotation(opt: RunOption, host: HostContext) -> list[str]:
    if (opt.value or "").startswith("run.oci.keep_original_groups="):
        return ["keeps your supplementary groups in the container (crun)"]
    return []


def _secret(opt: RunOption, host: HostContext) -> list[str]:
    return [f"the podman secret {(opt.value or '').split(',')[0]}"]


def _preserve_fds(opt: RunOption, host: HostContext) -> list[str]:
    return [f"{opt.value} of podman's open file descriptors (sockets and files spotidoctor holds)"]


def _rootfs(opt: RunOption, host: HostContext) -> list[str]:
    if not opt.enabled:
        return []
    return ["the image setting is used as a HOST directory for the container's root filesystem"]


RULES: dict[str, Rule] = {
    "privileged": _privileged, "pid": _namespace, "ipc": _namespace, "uts": _namespace, "cgroupns": _namespace,
    "network": _namespace, "userns": _userns, "uidmap": _idmap, "gidmap": _idmap, "subuidname": _idmap,
    "subgidname": _idmap, "cap-add": _cap_add, "device": _device, "device-cgroup-rule": _device_rule,
    "volume": _volume, "mount": _mount, "volumes-from": _volumes_from, "security-opt": _security_opt,
    "group-add": _group_add, "env": _env, "env-host": _env_host, "env-file": _env_file, "user": _user,
    "pod": _pod, "publish": _publish, "publish-all": _publish, "annotation": _annotation, "secret": _secret,
    "preserve-fds": _preserve_fds, "rootfs": _rootfs,
}


def audit_run_args(args: Sequence[str], host: HostContext) -> Audit:
    """``extra_run_args`` alone."""
    parsed = parse_run_args(args)
    widenings = []
    unknown = []
    for opt in parsed.options:
        if not opt.known:
            unknown.append(f"extra_run_args: {opt.spelled}: not an option of podman 4.3's `podman run`; "
                           "spotidoctor cannot tell what it opens")
            continue
        rule = RULES.get(opt.name)
        for opens in rule(opt, host) if rule else ():
            widenings.append(Widening(f"extra_run_args: {opt.spelled}", opens))
    return Audit(tuple(widenings), parsed.problems, tuple(unknown))


def audit(*, extra_run_args: Sequence[str], host: HostContext, network: str = "", profile: str = "isolated",
          share_pipewire: bool = False) -> Audit:
    """Everything in the configuration that widens the sandbox."""
    found = [Widening(f'network = "{network}"', opens) for opens in _namespace_value("network", network)]
    if profile == "keep-id":
        found.append(Widening('profile = "keep-id"', "the container runs as your own uid: every file and "
                                                     "socket it reaches treats it as you"))
    if share_pipewire:
        found.append(Widening("share_pipewire = true", mounts.SESSION_SOCKETS["pipewire-0"]))
    extra = audit_run_args(extra_run_args, host)
    return Audit((*found, *extra.widenings), extra.problems, extra.unrecognised)
