"""Daily use in the launch: one Spotify, its links, its scale, language and network.

- ``hand_over``: before the preflight and without any lock, a launch while Spotify already
  runs hands the links to it (``podman exec ... spotify --uri=``) and ends; it never starts
  a second container. Otherwise it says which links the new start gets.
- ``describe_handover``: what ``launch --dry-run`` would do (asks podman, forwards nothing).
- ``launch_pairs``: the podman command line with the daily parts (``--env`` LANG/LC_*, the
  HiDPI scale, the IPv4-only network) and the links spliced in, each with its reason.
- ``uri_forwarder``: a ``spotify:`` URI the container asked to open (the URL channel) goes
  into the running client the same way a clicked link does, after ``parse_link``.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TextIO

from spotidoctor.api import Context
from spotidoctor.backend.runargs import Arg, HostFacts, RunSpec, run_argv
from spotidoctor.daily.instance import SPOTIFY_BINARY, State, find_instance, forward_links
from spotidoctor.daily.launchparts import DailyParts, Handoff, daily_parts, handoff, scale_choice, with_daily
from spotidoctor.daily.links import LinkError, parse_link, split_link_args
from spotidoctor.model import CheckResult
from spotidoctor.probes.command import CommandRunner

__all__ = ["Start", "hand_over", "is_running", "describe_handover", "launch_pairs", "dry_run_parts", "uri_forwarder",
           "FORWARD_TIMEOUT_S"]

FORWARD_TIMEOUT_S = 10.0  # one `podman exec` per spotify: URI from the container
LogLine = Callable[[str], None]


@dataclass(frozen=True)
class Start:
    """How a new start gets its arguments: the links as ``--uri=`` pairs, the rest unchanged."""

    link_args: tuple[Arg, ...] = ()
    other_args: tuple[str, ...] = ()


def hand_over(ctx: Context, spotify_args: Sequence[str], out: TextIO, *, known_absent: bool = False) -> int | Start:
    """Spotify runs already: the links are handed to it, and the launch's exit status is
    returned. Otherwise the arguments for the new start (refused links are said and dropped).
    ``known_absent``: podman's container store holds no container of that name (not asked again)."""
    found: Handoff = handoff(ctx.probes.cmd, ctx.config.container_name, spotify_args, known_absent=known_absent)
    for line in found.messages:
        print(line, file=out, flush=True)
    if found.done:
        return found.exit_code
    return Start(found.link_args, found.other_args)


def is_running(ctx: Context) -> bool:
    """Whether podman says the launch's container runs (one ``podman container inspect``)."""
    return find_instance(ctx.probes.cmd, ctx.config.container_name).state is State.RUNNING


def describe_handover(ctx: Context, spotify_args: Sequence[str], err: TextIO) -> Start:
    """``--dry-run``: which way the launch would go, on ``err``; nothing is forwarded."""
    split = split_link_args(spotify_args)
    name = ctx.config.container_name
    for reason in split.refused:
        print(f"# links: a link would be refused: {reason}", file=err)
    state = find_instance(ctx.probes.cmd, name).state
    if state is State.RUNNING:
        how = (f"each link would be handed to it (podman exec {name} {SPOTIFY_BINARY} --uri=LINK)" if split.links
               else "nothing would start (one Spotify at a time)")
        print(f"# one Spotify: container {name} runs already: {how}; the command below would not run", file=err)
    else:
        print(f"# one Spotify: container {name} is {state.value}: the command below would start Spotify"
              + (" with the links as --uri=" if split.links else ""), file=err)
    return Start(tuple((link.spotify_arg, "link to open (spotify: URI)") for link in split.links), split.other)


def launch_pairs(spec: RunSpec, host: HostFacts, parts: DailyParts, start: Start) -> list[Arg]:
    """The ``podman run`` pairs with the daily parts and the links in place."""
    return with_daily(run_argv(spec, host), parts, start.link_args)


def dry_run_parts(ctx: Context, results: Sequence[CheckResult], err: TextIO) -> DailyParts:
    """The daily parts without looking inside the image; where the scale comes from on ``err``
    (also when there is none)."""
    parts = daily_parts(ctx, results, look_inside=False)
    if not parts.spotify_args:
        print(f"# scale: {scale_choice(ctx, results).source}", file=err)
    for warning in parts.warnings:
        print(f"# warning: {warning}", file=err)
    return parts


def uri_forwarder(cmd: CommandRunner, container: str, log: LogLine) -> Callable[[str], None]:
    """What the URL channel calls with a ``spotify:`` URI from the container (rate-limited there).
    The log names lengths and outcomes, never the URI."""
    def forward(uri: str) -> None:
        try:
            link = parse_link(uri)
        except LinkError as exc:
            log(f"links: a spotify: URI from the container was refused: {exc}")
            return
        [outcome] = forward_links(cmd, container, [link], timeout=FORWARD_TIMEOUT_S)
        if outcome.ok:
            log(f"links: a spotify: URI from the container was handed to Spotify ({len(uri)} characters)")
        else:
            detail = outcome.detail.replace(link.uri, "(the URI)")  # the client may echo it on stderr
            log(f"links: a spotify: URI from the container did not reach Spotify: {detail}")

    return forward
