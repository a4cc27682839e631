"""HTTP GET with a timeout and a size limit: the update check's only way to the network.

``UrllibHttp`` honours the proxy settings of the environment it is given (``http_proxy``,
``https_proxy``, ``no_proxy``, either case), follows redirects and refuses bodies larger
than ``limit`` bytes. Every failure is an ``HttpError`` whose ``reason`` says what happened
(HTTP status, DNS, refused, timed out, TLS), never a traceback; ``status`` is the HTTP
status when the server answered one.
"""
from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import urllib.request

# urllib, http.client and ssl are imported when a request is made (~12 ms): every command
# builds the probes, only the update check uses this one.

__all__ = ["HttpProbe", "HttpError", "UrllibHttp", "proxies_from", "bypasses"]

USER_AGENT = "spotidoctor-update-check"


class HttpError(Exception):
    def __init__(self, url: str, reason: str, status: int | None = None, *, too_large: bool = False) -> None:
        self.url = url
        self.reason = reason
        self.status = status
        self.too_large = too_large  # the server sent more than the caller's limit
        super().__init__(f"{url}: {reason}")


class HttpProbe(Protocol):
    def get(self, url: str, *, timeout: float, limit: int) -> bytes:
        """The body of ``url``; ``HttpError`` for anything else."""
        ...


def proxies_from(env: Mapping[str, str]) -> dict[str, str]:
    """urllib's proxy mapping from an environment (lower case wins, as in curl)."""
    found: dict[str, str] = {}
    for scheme in ("http", "https", "no"):
        value = env.get(f"{scheme}_proxy") or env.get(f"{scheme.upper()}_PROXY")
        if value:
            found[scheme] = value
    return found


def bypasses(host: str, no_proxy: str) -> bool:
    """``no_proxy`` as curl reads it: ``*``, or names that match the host or a domain it is in."""
    host = host.lower().strip("[]")
    for entry in (e.strip().lower().lstrip(".") for e in no_proxy.split(",")):
        if entry == "*" or (entry and (host == entry or host.endswith("." + entry))):
            return True
    return False


def _reason(exc: BaseException) -> str:
    import ssl
    import urllib.error

    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        inner = exc.reason
        if isinstance(inner, socket.gaierror):
            return f"the name does not resolve ({inner.strerror or inner})"
        if isinstance(inner, ssl.SSLError):
            return f"TLS failed ({inner.reason or inner})"
        if isinstance(inner, TimeoutError):
            return "timed out"
        if isinstance(inner, OSError) and inner.strerror:
            return inner.strerror
        return str(inner)
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


@dataclass(frozen=True)
class UrllibHttp:
    """The real probe (urllib, no new dependency)."""

    env: Mapping[str, str]

    def _opener(self, host: str) -> urllib.request.OpenerDirector:
        import urllib.request

        proxies = proxies_from(self.env)
        if bypasses(host, proxies.pop("no", "")):
            proxies = {}
        return urllib.request.build_opener(urllib.request.ProxyHandler(proxies))

    def get(self, url: str, *, timeout: float, limit: int) -> bytes:
        import ssl
        import urllib.error
        import urllib.parse
        import urllib.request

        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        host = urllib.parse.urlsplit(url).hostname or ""
        try:
            with self._opener(host).open(request, timeout=timeout) as response:
                body: bytes = response.read(limit + 1)
        except (urllib.error.URLError, OSError, ValueError, ssl.SSLError) as exc:
            status = exc.code if isinstance(exc, urllib.error.HTTPError) else None
            raise HttpError(url, _reason(exc), status) from None
        if len(body) > limit:
            raise HttpError(url, f"larger than {limit} bytes", too_large=True)
        return body
