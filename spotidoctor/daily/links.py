"""Which links ``spotidoctor launch`` hands to Spotify (pure; no I/O).

A link arrives from the desktop (``Exec=... launch %U``), a terminal or a browser's "Open in
Spotify", so it is untrusted text that ends up as one argument of ``/usr/bin/spotify`` in the
container. Accepted: ``spotify:`` URIs made of URI characters, and ``https://open.spotify.com``
links, which become the ``spotify:`` URI of the same item when their path names one (the form
Spotify's own ``--uri=`` handling is documented with); anything else is refused with the
reason. Refusals name the scheme and length, never the link.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from spotidoctor.channels.urlcheck import check_url

__all__ = ["Link", "LinkError", "parse_link", "looks_like_link", "LinkArgs", "split_link_args", "URI_OPTION",
           "WEB_HOST"]

URI_OPTION = "--uri="
WEB_HOST = "open.spotify.com"
# RFC 3986 unreserved, sub-delims, ":", "@", "/", "?" and "%": nothing a shell or option parser reads.
_URI_CHARS = re.compile(r"spotify:[A-Za-z0-9._~%!$&'()*+,;=:@/?-]+")
# open.spotify.com/[intl-xx/]KIND/ID, and the user/NAME/playlist/ID form of older links.
_ITEM = re.compile(r"^/(?:intl-[a-z]{2}(?:-[A-Za-z]{2,4})?/)?(track|album|artist|playlist|show|episode|"
                   r"audiobook|chapter)/([A-Za-z0-9]{22})/?$")
_USER_PLAYLIST = re.compile(r"^/user/([A-Za-z0-9._-]{1,64})/playlist/([A-Za-z0-9]{22})/?$")


class LinkError(ValueError):
    """Not a link spotidoctor hands to Spotify; the message says why (never the link)."""


@dataclass(frozen=True)
class Link:
    uri: str  # what Spotify gets as --uri=
    given: str  # what the caller passed (a web link or the same URI)

    @property
    def spotify_arg(self) -> str:
        return f"{URI_OPTION}{self.uri}"


def _web_uri(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme != "https" or (parts.hostname or "").lower() != WEB_HOST or parts.port not in (None, 443):
        raise LinkError(f"only spotify: URIs and https://{WEB_HOST}/ links are opened")
    item = _ITEM.match(parts.path)
    if item:
        return f"spotify:{item.group(1)}:{item.group(2)}"
    user = _USER_PLAYLIST.match(parts.path)
    if user:
        return f"spotify:user:{user.group(1)}:playlist:{user.group(2)}"
    return text  # another page of the web player (a genre, a search): Spotify gets the link itself


def parse_link(text: str) -> Link:
    """The link to hand to Spotify, or ``LinkError``."""
    raw = text.encode("utf-8", "surrogateescape")
    verdict = check_url(raw)
    if not verdict.accepted:
        raise LinkError(f"not opened ({verdict.describe()})")
    if verdict.scheme == "spotify":
        if not _URI_CHARS.fullmatch(text):
            raise LinkError(f"not opened (scheme=spotify length={len(raw)}: characters outside a URI)")
        return Link(text, text)
    return Link(_web_uri(text), text)


# Any "scheme:" argument (RFC 3986 scheme syntax) is a link to judge, so file:, javascript: and
# the like are refused with a reason instead of reaching Spotify as bare arguments.
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,31}:")


def looks_like_link(arg: str) -> bool:
    """An argument meant as a link (a URI or web link), not a Spotify option."""
    return _SCHEME.match(arg) is not None


@dataclass(frozen=True)
class LinkArgs:
    """``launch``'s arguments split into links, other Spotify arguments and refusals (reasons)."""

    links: tuple[Link, ...]
    other: tuple[str, ...]
    refused: tuple[str, ...]


def split_link_args(args: Sequence[str]) -> LinkArgs:
    """Bare links (what ``%U`` expands to) and ``--uri=LINK`` become ``Link``s; the rest stays."""
    links: list[Link] = []
    other: list[str] = []
    refused: list[str] = []
    for arg in args:
        candidate = arg[len(URI_OPTION):] if arg.startswith(URI_OPTION) else arg
        if not (arg.startswith(URI_OPTION) or looks_like_link(arg)):
            other.append(arg)
            continue
        try:
            links.append(parse_link(candidate))
        except LinkError as exc:
            refused.append(str(exc))
    return LinkArgs(tuple(links), tuple(other), tuple(refused))

