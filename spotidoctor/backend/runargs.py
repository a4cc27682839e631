"""The ``podman run`` command line, as data: every argument with the one-line reason for it.

``run_argv(spec, host)`` is pure: ``spec`` says what the user asked for (config and flags),
``host`` what the host offers (display, sockets, cookies, SELinux, GPU). ``launch
--dry-run`` prints the pairs; the launcher runs ``argv(pairs)``. Unit tests assert on the
pairs for every profile and host shape.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from spotidoctor import layout
from spotidoctor.config import Config

__all__ = ["Arg", "DriAccess", "HostFacts", "RunSpec", "run_argv", "argv", "SPOTIFY_BINARY",
           "AUDIO_API_PULSE", "missing_parts", "storage_paths"]

Arg = tuple[str, str]  # (argument, why)
SPOTIFY_BINARY = "/usr/bin/spotify"
AUDIO_API_PULSE = "--audio-api=pulseaudio"


class DriAccess(str, Enum):
    ABSENT = "absent"  # no /dev/dri
    NO_ACCESS = "no-access"  # nodes exist, this user cannot open any
    WORLD = "world"  # a node is open to everybody: works with any runtime
    GROUP = "group"  # open through video/render membership: needs crun's keep-groups


@dataclass(frozen=True)
class HostFacts:
    """What the host offers the container. ``None`` = unknown or missing."""

    display_number: int | None = None
    x11_socket: str | None = None  # /tmp/.X11-unix/X<n>
    x11_cookie: str | None = None  # the FamilyWild cookie file for that display
    audio_server: str | None = None  # "pulseaudio" | "pipewire"
    pulse_socket: str | None = None  # the dedicated container socket
    pulse_cookie: str | None = None  # the readable cookie copy (absent on pipewire: no cookie)
    # host-owned → mount :ro; container-owned → :rw: libpulse opens PULSE_COOKIE read-write and falls back
    # to read-only only on EACCES, so a copy it may write fails with EROFS on a read-only mount (authkey.c).
    pulse_cookie_host_owned: bool = True
    pulse_client_conf: str | None = None
    pipewire_socket: str | None = None  # a pipewire-0 the container may use
    selinux_enforcing: bool = False
    dri: DriAccess = DriAccess.ABSENT
    runtime: str | None = None  # "crun" | "runc"
    mapped_uid: int | None = None  # host uid the container uid maps to (isolated profile)
    user_uid: int | None = None  # the invoking user's uid (keep-id: the storage owner)
    x11_untrusted: bool = False  # x11_cookie is this launch's untrusted cookie (X SECURITY)
    audio_filtered: bool = False  # pulse_socket is spotidoctor's playback-only filter
    channels: tuple[Arg, ...] = ()  # what the launch's channels add (D-Bus, links), each with why


@dataclass(frozen=True)
class RunSpec:
    image: str
    container_name: str
    log_path: str
    storage_dir: str
    profile: str = "isolated"
    uid: int = 1500
    shm_size: str = "1g"
    network: str = ""  # "" = podman's own default
    ulimits: tuple[str, ...] = ()
    extra_run_args: tuple[str, ...] = ()
    config_spotify_args: tuple[str, ...] = ()
    cli_spotify_args: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, config: Config, *, home: str, log_path: str, network: str | None = None,
                    spotify_args: Sequence[str] = ()) -> RunSpec:
        return cls(image=config.image, container_name=config.container_name, log_path=log_path,
                   storage_dir=config.storage_path(home), profile=config.profile, uid=config.container_uid,
                   shm_size=config.shm_size, network=config.network if network is None else network,
                   ulimits=config.ulimits, extra_run_args=config.extra_run_args,
                   config_spotify_args=config.spotify_args, cli_spotify_args=tuple(spotify_args))

    @property
    def keep_id(self) -> bool:
        return self.profile == "keep-id"


def argv(pairs: Sequence[Arg]) -> list[str]:
    return [arg for arg, _ in pairs]


def _base(spec: RunSpec) -> list[Arg]:
    return [
        ("podman", "rootless podman runs the container"),
        ("run", "start a new container for this launch"),
        ("--rm", "remove the container when Spotify exits; its log is kept (--log-opt below)"),
        (f"--name={spec.container_name}", "a fixed name: `podman stop` and the crash checks find it"),
        ("--pull=never", "use the locally built image; never pull a same-named image from a registry"),
        ("--init", "a tiny init reaps Spotify's many child processes and forwards signals"),
        (f"--hostname={layout.CONTAINER_HOSTNAME}", "a stable host name: Chromium's profile lock records host and "
         "pid, and a lock from a crashed launch is cleared only when it names this host"),
    ]


def _identity(spec: RunSpec, host: HostFacts) -> list[Arg]:
    uid = spec.uid
    pairs: list[Arg] = []
    if spec.keep_id:
        pairs.append((f"--userns=keep-id:uid={uid},gid={uid}",
                      f"profile keep-id: container uid {uid} is your own uid, so storage, X and audio "
                      "see you (podman >= 4.3)"))
    pairs.append((f"--user={uid}:{uid}",
                  f"run Spotify as spotify_user (uid {uid}), never as container root"
                  + ("" if spec.keep_id else _mapped(host, uid))))
    return pairs


def _mapped(host: HostFacts, uid: int) -> str:
    where = f"host uid {host.mapped_uid}" if host.mapped_uid is not None else "a subordinate host uid"
    return f"; profile isolated: the default rootless user namespace maps it to {where}"


def _hardening(spec: RunSpec, host: HostFacts) -> list[Arg]:
    pairs: list[Arg] = [
        ("--cap-drop=all", "Spotify needs no Linux capabilities"),
        ("--security-opt=no-new-privileges", "nothing in the container can gain privileges (setuid)"),
        ("--ipc=private", "a private IPC namespace: the host's shared memory stays out of reach"),
        (f"--shm-size={spec.shm_size}",
         "Chromium needs more /dev/shm than podman's 64 MB; too little crashes Spotify with "
         "'Out of memory. size=262144'"),
    ]
    if host.selinux_enforcing:
        pairs.append(("--security-opt=label=disable",
                      "SELinux is enforcing: bind-mounted host sockets would be denied, and relabelling "
                      "them (:z/:Z) would break the host's own clients"))
    return pairs


def _logging(spec: RunSpec) -> list[Arg]:
    return [
        ("--log-driver=k8s-file", "log to a file that survives --rm, for the crash diagnosis"),
        (f"--log-opt=path={spec.log_path}", "this launch's container log"),
    ]


def _network(spec: RunSpec) -> list[Arg]:
    if not spec.network:
        return []
    return [(f"--network={spec.network}", "network mode from --network or config.toml")]


def _environment() -> list[Arg]:
    return [
        ("--tz=local", "the host's time zone for Spotify's clock and logs"),
        (f"--env=HOME={layout.CONTAINER_HOME}", "spotify_user's home, where the storage is mounted"),
        ("--env=TMPDIR=/tmp", "Spotify fails when TMPDIR is unusable"),
    ]


def _x11(host: HostFacts) -> list[Arg]:
    if host.display_number is None:
        return []
    n = host.display_number
    socket = host.x11_socket or f"/tmp/.X11-unix/X{n}"
    pairs: list[Arg] = [
        (f"--volume={socket}:/tmp/.X11-unix/X{n}:ro",
         f"only display :{n}'s socket, not all of /tmp/.X11-unix (connecting works read-only)"),
        (f"--env=DISPLAY=:{n}", "the display Spotify opens"),
    ]
    if host.x11_cookie:
        what = (f"this launch's UNTRUSTED cookie for :{n} (X SECURITY), revoked when it ends: no xhost changes, "
                "no input injection or recording, no access to other clients' windows" if host.x11_untrusted else
                f"the FamilyWild cookie for :{n} only: the X server admits the container's user by cookie, "
                "never by xhost")
        pairs += [
            (f"--volume={host.x11_cookie}:{layout.CONTAINER_XAUTHORITY}:ro", what),
            (f"--env=XAUTHORITY={layout.CONTAINER_XAUTHORITY}", "where Xlib finds that cookie"),
        ]
    return pairs


def _audio(host: HostFacts) -> list[Arg]:
    pairs: list[Arg] = []
    if host.pulse_socket:
        how = ("spotidoctor's playback-only filter in front of your sound server (no cookie, no server module)"
               if host.audio_filtered else
               "pipewire-pulse's extra server.address socket (no cookie: access by socket permissions)"
               if host.audio_server == "pipewire" else "the dedicated cookie-authenticated pulse socket")
        pairs += [
            (f"--volume={host.pulse_socket}:{layout.CONTAINER_PULSE_SOCKET}", f"audio: {how}"),
            (f"--env=PULSE_SERVER=unix:{layout.CONTAINER_PULSE_SOCKET}", "libpulse connects there"),
        ]
    if host.pulse_cookie:
        mode, why = (("ro", "host-owned copy, read-only") if host.pulse_cookie_host_owned else
                     ("rw", "container-owned copy: libpulse opens it read-write, so :ro would make it fail"))
        pairs += [
            (f"--volume={host.pulse_cookie}:{layout.CONTAINER_PULSE_COOKIE}:{mode}", f"the pulse cookie: {why}"),
            (f"--env=PULSE_COOKIE={layout.CONTAINER_PULSE_COOKIE}", "libpulse authenticates with it"),
        ]
    if host.pulse_client_conf:
        pairs += [
            (f"--volume={host.pulse_client_conf}:{layout.CONTAINER_PULSE_CLIENT_CONF}:ro",
             "client config: autospawn = no, enable-shm = no (no SHM across the uid boundary)"),
            (f"--env=PULSE_CLIENTCONFIG={layout.CONTAINER_PULSE_CLIENT_CONF}", "libpulse reads it"),
        ]
    if host.pipewire_socket:
        pairs += [
            (f"--volume={host.pipewire_socket}:{layout.CONTAINER_PIPEWIRE_SOCKET}:ro",
             "PipeWire's native socket: Spotify >= 1.2.86 plays through PipeWire by default"),
            (f"--env=PIPEWIRE_REMOTE={layout.CONTAINER_PIPEWIRE_SOCKET}", "libpipewire connects there"),
        ]
    return pairs


def _storage(spec: RunSpec, host: HostFacts) -> list[Arg]:
    if spec.keep_id:
        owner = f"owned by you (uid {host.user_uid})" if host.user_uid is not None else "owned by you"
    elif host.mapped_uid is not None:
        owner = f"owned by host uid {host.mapped_uid} (= container uid {spec.uid})"
    else:
        owner = f"owned by the host uid container uid {spec.uid} maps to"
    return [
        (f"--volume={layout.storage_config(spec.storage_dir)}:{layout.CONTAINER_SPOTIFY_CONFIG}",
         f"Spotify's settings and login persist; {owner}"),
        (f"--volume={layout.storage_cache(spec.storage_dir)}:{layout.CONTAINER_SPOTIFY_CACHE}",
         f"Spotify's cache persists; {owner}"),
    ]


def _gpu(host: HostFacts) -> list[Arg]:
    if host.dri is DriAccess.WORLD:
        return [("--device=/dev/dri", "hardware-accelerated rendering (a render node is open to you)")]
    if host.dri is DriAccess.GROUP and host.runtime == "crun":
        return [("--device=/dev/dri", "hardware-accelerated rendering through your video/render group"),
                ("--group-add=keep-groups", "keep that group membership in the container (crun only)")]
    return []


def _limits(spec: RunSpec) -> list[Arg]:
    return [(f"--ulimit={limit}", "resource limit from config.toml (ulimits)") for limit in spec.ulimits]


def _extra(spec: RunSpec) -> list[Arg]:
    return [(arg, "from config.toml (extra_run_args)") for arg in spec.extra_run_args]


def _command(spec: RunSpec, host: HostFacts) -> list[Arg]:
    pairs: list[Arg] = [
        (f"--entrypoint={SPOTIFY_BINARY}", "run the Spotify client, whatever the image's entrypoint"),
        (spec.image, "the image (`spotidoctor build` makes it)"),
    ]
    pairs += [(arg, "Spotify argument from config.toml (spotify_args)") for arg in spec.config_spotify_args]
    pairs += [(arg, "Spotify argument from the command line") for arg in spec.cli_spotify_args]
    chosen = any(a.startswith("--audio-api") for a in (*spec.config_spotify_args, *spec.cli_spotify_args))
    if not host.pipewire_socket and not chosen:
        pairs.append((AUDIO_API_PULSE, "pipewire-0 is not shared (share_pipewire) or not usable: Spotify "
                                       ">= 1.2.86 would try PipeWire and stay silent"))
    return pairs


def run_argv(spec: RunSpec, host: HostFacts) -> list[Arg]:
    """The full ``podman run`` command, each argument with its reason."""
    return [
        *_base(spec), *_identity(spec, host), *_hardening(spec, host), *_logging(spec), *_network(spec),
        *_environment(), *_x11(host), *_audio(host), *host.channels, *_storage(spec, host), *_gpu(host),
        *_limits(spec), *_extra(spec), *_command(spec, host),
    ]


def missing_parts(host: HostFacts) -> list[str]:
    """What the launch will lack, in words (printed before running)."""
    missing = []
    if host.display_number is None:
        missing.append("no X display (DISPLAY is not set): Spotify cannot open a window")
    elif not host.x11_cookie:
        missing.append("no X cookie file for the container: the X server will refuse Spotify")
    if not host.pulse_socket:
        missing.append("no pulse socket for the container: Spotify will have no sound")
    return missing


def storage_paths(storage_dir: str) -> tuple[str, str]:
    return layout.storage_config(storage_dir), layout.storage_cache(storage_dir)
