"""The rules that name a failed build's cause from its log, in the order they are tried.

Each rule is a pattern over one log line, the cause in one sentence (``{name}`` fields come
from the pattern's named groups) and one piece of advice, where ``{again}`` is the command
the user runs next (``spotidoctor build ...``, ``spotidoctor fix image`` or ``spotidoctor
launch``). The order matters because one failure leaves several traces: apt-get update
only warns when a repository cannot be fetched ("W: Failed to fetch ..."), and the real
cause then surfaces as "E: Unable to locate package spotify-client" or "... is not signed";
so what stopped the fetch (a full disk, the clock, a proxy, TLS, DNS, a refused
connection, a wrong URL) comes before what followed from it. The texts are apt's, curl's,
buildah's and containers/image's own; tests/data/buildlogs/ has a real log for each rule.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from spotidoctor.backend.recipe import REPO_ARG, SPOTIFY_REPO_DEFAULT

__all__ = ["FailureKind", "Rule", "RULES", "REPOSITORY_ADVICE"]


class FailureKind(str, Enum):
    SIGNING_KEY = "signing-key"
    NETWORK = "network"
    DNS = "dns"
    PROXY = "proxy"
    TLS = "tls"
    CLOCK = "clock"
    REPOSITORY = "repository"
    HASH_MISMATCH = "hash-mismatch"
    MISSING_PACKAGE = "missing-package"
    BASE_IMAGE = "base-image"
    BAD_ARGUMENT = "bad-argument"
    NETWORK_SETUP = "network-setup"
    RUNTIME = "runtime"
    USERNS = "userns"
    DISK = "disk"
    MISSING_TOOL = "missing-tool"
    TIMEOUT = "timeout"
    RECIPE = "recipe"


@dataclass(frozen=True)
class Rule:
    kind: FailureKind
    pattern: re.Pattern[str]
    summary: str  # may name the pattern's groups ({host}; host2, host3 ... fill {host} too)
    advice: str  # "{again}": the command to run next
    defaults: tuple[tuple[str, str], ...] = ()  # for groups that did not take part in the match


REPOSITORY_ADVICE = (f"Check the repository URL (spotify_repo in config.toml, or --build-arg {REPO_ARG}=...; "
                     f"Spotify's own is {SPOTIFY_REPO_DEFAULT}), then run `{{again}}`.")
_NETWORK_ADVICE = "Check that this computer reaches it (and its DNS), then run `{again}`."


def _rule(kind: FailureKind, pattern: str, summary: str, advice: str, **defaults: str) -> Rule:
    return Rule(kind, re.compile(pattern), summary, advice, tuple(defaults.items()))


RULES = (
    _rule(FailureKind.SIGNING_KEY, r"\b(?P<what>EXPKEYSIG|KEYEXPIRED|REVKEYSIG) (?P<key>[0-9A-Fa-f]{8,40})\b",
          "apt does not trust Spotify's repository: its signing key {key} has expired or was revoked ({what})",
          "Spotify publishes a new key when one expires: take its URL from Spotify's download page and rebuild "
          "with it (see below)."),
    _rule(FailureKind.DISK,
          r"(?:write|mkdir|open|create) (?P<path>/[^\s:]+): no space left on device"
          r"|[Nn]o space left on device|You don't have enough free space in (?P<inside>\S+?)\.?$",
          "the disk holding {path} is full", "Free space there (`df -h {path}` shows it; `podman image prune` "
          "removes unused images), then run `{again}`.", path="podman's storage (~/.local/share/containers)"),
    _rule(FailureKind.CLOCK, r"is not valid yet \(invalid for another (?P<delta>[^)]+)\)",
          "the repository's index is dated {delta} in the future for this computer: the system clock is behind",
          "Set the clock right (`timedatectl` shows it; `sudo timedatectl set-ntp true` keeps it right), "
          "then run `{again}`."),
    _rule(FailureKind.CLOCK, r"is expired \(invalid since (?P<delta>[^)]+)\)",
          "the repository's index expired {delta} ago: the system clock is ahead, or the mirror is stale",
          "Check the clock (`timedatectl`), then run `{again}`."),
    _rule(FailureKind.PROXY,
          r"407 +Proxy Authentication Required|Received HTTP code \d+ from proxy|Invalid response from proxy"
          r"|proxyconnect tcp|CONNECT tunnel failed|Could not resolve proxy|Unable to connect to proxy",
          "a proxy between the build and the repository refused the request",
          "buildah hands the proxy of the environment you run spotidoctor from (http_proxy, https_proxy, "
          "no_proxy) to the build: check its address and login there, then run `{again}`."),
    _rule(FailureKind.TLS,
          r"Certificate verification failed|SSL certificate problem|x509: certificate|certificate verify failed"
          r"|server certificate verification failed|tls: failed to verify certificate",
          "a server's TLS certificate was not trusted (a TLS-inspecting proxy or security product, "
          "or a wrong clock)",
          "Check the clock (`timedatectl`) and whether your network inspects TLS (then its certificate must be "
          "trusted inside the build), then run `{again}`."),
    _rule(FailureKind.DNS,
          r"Temporary failure resolving '(?P<host>[^']+)'|Could not resolve '(?P<host2>[^']+)'"
          r"|Could not resolve host: (?P<host3>[^\s,]+)|lookup (?P<host4>[^\s:]+)(?: on \S+)?: "
          r"(?:no such host|server misbehaving|Temporary failure in name resolution)",
          "the build could not resolve {host}: DNS gave no address for it",
          "`getent hosts {host}` must print an address on this computer; fix the network or DNS, "
          "then run `{again}`."),
    _rule(FailureKind.NETWORK_SETUP, r"slirp4netns|/dev/net/tun|pasta failed|setting up Pasta",
          "the build container's network could not be set up (slirp4netns/pasta)",
          "Check `ls -l /dev/net/tun` (it must be crw-rw-rw-) and `spotidoctor check podman`, then run `{again}`."),
    _rule(FailureKind.NETWORK,
          r"Could not connect to (?P<host>[^\s(]+)|Failed to connect to (?P<host2>\S+ port \d+)"
          r"|dial tcp (?P<host3>[^\s:]+:\d+): connect:|Could not connect to|Connection refused"
          r"|Network is unreachable|No route to host|Connection timed out|Connection reset"
          r"|i/o timeout|TLS handshake timeout|pinging container registry",
          "the build could not connect to {host}", _NETWORK_ADVICE, host="the network"),
    _rule(FailureKind.NETWORK, r"does the network require authentication\?",
          "the network answered with a page that is not the repository (a captive portal, or a proxy that "
          "wants a login)", "Log in to the network (open any web page in a browser), then run `{again}`."),
    _rule(FailureKind.REPOSITORY,
          r"The repository '(?P<url>\S+) \S+ Release' does not have a Release file"
          r"|Failed to fetch (?P<url2>\S+) +404 |\b404 +(?:Not Found|File not found)",
          "there is no apt repository at {url} (HTTP 404): the repository URL is wrong",
          REPOSITORY_ADVICE, url="the configured URL"),
    _rule(FailureKind.HASH_MISMATCH, r"Hash Sum mismatch|File has unexpected size|Mirror sync in progress",
          "the repository's files did not match its signed index (a mirror being updated, or a caching proxy "
          "serving old files)", "Wait a few minutes and run `{again}`; behind a caching proxy, clear its cache."),
    _rule(FailureKind.NETWORK, r"Failed to fetch (?P<url>\S+)",
          "the build could not download {url}", _NETWORK_ADVICE),
    _rule(FailureKind.SIGNING_KEY,
          r"is not signed|signatures couldn't be verified|signatures were invalid|NO_PUBKEY",
          "apt does not trust Spotify's repository: the signing key is missing or expired",
          "Take the current key's URL from Spotify's download page and rebuild with it (see below)."),
    _rule(FailureKind.SIGNING_KEY, r"curl: \(22\) The requested URL returned error: (?:403|404|410)",
          "the Spotify signing key URL does not exist any more (the key has rotated)",
          "Take the current key's URL from Spotify's download page and rebuild with it (see below)."),
    _rule(FailureKind.BAD_ARGUMENT, r"(?P<arg>SPOTIFY_REPO) must be (?P<what>.+)$",
          "the build argument {arg} must be {what}",
          f"Give {REPO_ARG} as an http:// or https:// URL (spotify_repo in config.toml or --build-arg), "
          "then run `{again}`."),
    _rule(FailureKind.BASE_IMAGE,
          r"short-name \"(?P<image>[^\"]+)\" did not resolve|short-name resolution enforced"
          r"|reading manifest \S+ in (?P<image2>\S+?):|manifest unknown|name unknown"
          r"|requested access to the resource is denied",
          "the base image {image} could not be found in any registry",
          "Give BASE_IMAGE as a full name, e.g. --build-arg BASE_IMAGE=docker.io/library/debian:bookworm-slim, "
          "then run `{again}`.", image="(BASE_IMAGE)"),
    _rule(FailureKind.MISSING_PACKAGE,
          r"Unable to locate package (?P<package>\S+)|Package '(?P<package2>[^']+)' has no installation candidate",
          "the repository offers no package {package} for this computer's architecture",
          REPOSITORY_ADVICE),
    _rule(FailureKind.MISSING_PACKAGE,
          r"but it is not installable|but it is not going to be installed|held broken packages",
          "Spotify's dependencies cannot be installed on the base image",
          "Build on a current Debian (the default BASE_IMAGE, docker.io/library/debian:bookworm-slim), "
          "then run `{again}`."),
    _rule(FailureKind.RUNTIME,
          # Not "while running runtime: exit status N": buildah says that for every failing RUN.
          r"did not get container create message from subprocess|OCI runtime error"
          r"|cgroups in hybrid mode not supported",
          "the OCI runtime could not start the build's RUN container",
          "`spotidoctor check podman` diagnoses the runtime (on hybrid-cgroup hosts crun fails and runc works), "
          "then run `{again}`."),
    _rule(FailureKind.USERNS,
          r"(?i)insufficient UIDs or GIDs|not enough IDs available|newuidmap|newgidmap|cannot set up namespace"
          r"|lchown .*invalid argument",
          "the user namespace has too few subordinate ids for the image's files",
          "`spotidoctor check userns` shows the subuid/subgid ranges and their fix; then run `{again}`."),
)
