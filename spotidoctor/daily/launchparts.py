"""What ``spotidoctor launch`` adds for daily use, each argument with its reason.

    handoff(ctx.probes.cmd, ctx.config.container_name, options.spotify_args)
        -> Spotify runs already: links forwarded, the launch ends (``done``); else the links as
           ``--uri=`` arguments for the new start and the other arguments unchanged.
    daily_parts(ctx, results)
        -> podman ``--env`` pairs (LANG/LC_*), Spotify argument pairs (the HiDPI scale), the
           IPv4-only ``--network`` value with its reason, and warnings to print.
    with_daily(run_argv(spec, host), parts, handoff.link_args)
        -> the launch's command line with all of it in place.

Both read what the preflight published (``spotidoctor.daily.facts``, ``DisplayFacts``) and
fall back to asking themselves when a check did not run (``--no-check``).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from spotidoctor.api import Context
from spotidoctor.backend.images import ImageInfo, Presence, lookup_image
from spotidoctor.daily.facts import NetworkFacts
from spotidoctor.daily.imagecontents import image_contents
from spotidoctor.daily.instance import State, find_instance, forward_links
from spotidoctor.daily.language import LocaleChoice, choose_locale
from spotidoctor.daily.links import split_link_args
from spotidoctor.daily.scale import ScaleChoice, choose_scale, scale_arg
from spotidoctor.facts import DisplayFacts
from spotidoctor.model import CheckResult
from spotidoctor.probes.command import CommandRunner

__all__ = ["Arg", "Handoff", "handoff", "DailyParts", "daily_parts", "with_daily", "scale_choice", "locale_choice",
           "ipv4_only_network", "RESOURCES_TIMEOUT_S"]

Arg = tuple[str, str]  # (argument, why), as in spotidoctor.backend.runargs
RESOURCES_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class Handoff:
    done: bool  # True: Spotify was running; nothing is started, exit with exit_code
    exit_code: int
    messages: tuple[str, ...]  # to print, in order
    link_args: tuple[Arg, ...] = ()  # for a new start: --uri= per link
    other_args: tuple[str, ...] = ()  # the arguments that are not links, unchanged


def handoff(cmd: CommandRunner, container_name: str, spotify_args: Sequence[str], *,
            known_absent: bool = False) -> Handoff:
    """With Spotify running in ``container_name``, hand it the links and end; otherwise say how
    the new start gets them. Fast (one ``podman container inspect``), takes no lock.
    ``known_absent``: the caller read podman's own container store and found no container of
    that name (so none runs); podman is not asked."""
    split = split_link_args(spotify_args)
    refused = tuple(f"link {reason}" for reason in split.refused)
    state = State.ABSENT if known_absent else find_instance(cmd, container_name).state
    if state is not State.RUNNING:
        return Handoff(False, 0, refused, tuple((link.spotify_arg, "link to open (spotify: URI)")
                                                for link in split.links), split.other)
    if not split.links:
        return Handoff(True, 0, (*refused, f"Spotify is already running (container {container_name}); "
                                           "not starting another one."))
    outcomes = forward_links(cmd, container_name, split.links)
    lines = [f"opened {o.link.uri} in the running Spotify" if o.ok else f"could not open {o.link.uri}: {o.detail}"
             for o in outcomes]
    return Handoff(True, 0 if all(o.ok for o in outcomes) else 1, (*refused, *lines))


# -- scale -------------------------------------------------------------------------------------

def _display(ctx: Context, results: Sequence[CheckResult]) -> str | None:
    published = DisplayFacts.of(results)
    return published.display if published else (ctx.env.get("DISPLAY") or None)


def scale_choice(ctx: Context, results: Sequence[CheckResult] = ()) -> ScaleChoice:
    display = _display(ctx, results)
    reader = None if display is None else (
        lambda: ctx.probes.x11.resource_manager(display, timeout=RESOURCES_TIMEOUT_S))
    return choose_scale(ctx.config.scale_factor, ctx.env.get("GDK_SCALE"), reader)


# -- language ----------------------------------------------------------------------------------

def locale_choice(ctx: Context, *, look_inside: bool = True, image_id: str | None = None) -> LocaleChoice:
    """Your LANG/LC_* against the configured image's locales (unknown when it cannot be looked
    at, or ``look_inside`` is False: a dry run starts no container). ``image_id``: the image's
    id as the caller found it just now (the fast launch), so podman is not asked again."""
    info: ImageInfo | None = ImageInfo(ctx.config.image, image_id, None, "") if image_id else None
    if info is None and look_inside:
        found = lookup_image(ctx)
        info = found.info if found.presence is Presence.PRESENT else None
    contents = image_contents(ctx, info) if info is not None and look_inside else None
    locales = None if contents is None or isinstance(contents, str) else contents.locales
    return choose_locale(ctx.env, locales)


# -- network -----------------------------------------------------------------------------------

def ipv4_only_network(results: Sequence[CheckResult]) -> Arg | None:
    """(``--network=VALUE``, why) when network.sign-in found no IPv6 route on the host."""
    published = NetworkFacts.of(results)
    if published is None or published.ipv6_default_route or not published.ipv4_only_network:
        return None
    return (f"--network={published.ipv4_only_network}",
            "sign-in: this host has no IPv6 route; with IPv6 in the container Spotify's login fails "
            "('A firewall might be blocking Spotify'), so the container gets IPv4 only")


# -- all of it -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class DailyParts:
    podman_args: tuple[Arg, ...]  # --env=... before the image
    spotify_args: tuple[Arg, ...]  # after the image
    network: Arg | None  # replaces the --network value when set
    warnings: tuple[str, ...]


def with_daily(pairs: Sequence[Arg], parts: DailyParts, link_args: Sequence[Arg] = ()) -> list[Arg]:
    """``run_argv``'s pairs with the daily parts spliced in: the IPv4-only ``--network`` replaces
    the configured one, the ``--env`` pairs go before the image (after ``--entrypoint=``'s
    predecessors), Spotify's arguments and the links after everything else."""
    out = [pair for pair in pairs if not (parts.network and pair[0].startswith("--network="))]
    at = next((i for i, (arg, _) in enumerate(out) if arg.startswith("--entrypoint=")), None)
    if at is None:
        raise ValueError("not a podman run command line: no --entrypoint= before the image")
    out[at:at] = [*((parts.network,) if parts.network else ()), *parts.podman_args]
    return [*out, *parts.spotify_args, *link_args]


def daily_parts(ctx: Context, results: Sequence[CheckResult] = (), *, look_inside: bool = True,
                image_id: str | None = None) -> DailyParts:
    """``look_inside=False`` (``--dry-run``): the image's locales are not looked up (no container
    starts), so LANG/LC_* are shown as they would be passed when the image has them.
    ``image_id``: the image's id, when the caller has just read it."""
    locale = locale_choice(ctx, look_inside=look_inside, image_id=image_id)
    scale = scale_arg(scale_choice(ctx, results))
    warnings = (locale.warning,) if locale.warning else ()
    return DailyParts(tuple(var.arg() for var in locale.env), (scale,) if scale else (),
                      ipv4_only_network(results), warnings)
