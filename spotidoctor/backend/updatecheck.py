"""The update answer for one image, remembered for a while (the result cache), so ``check`` and
``launch`` stay fast: what ``image.update`` reports and what ``auto_update`` acts on.

A definite answer (newest, newer available, key rotated, ...) is kept for 6 hours while the
image, its repository and gpgv stay the same; "unreachable" only for 10 minutes, so an
offline laptop is not asked again on every run but learns soon once it is back online.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from spotidoctor.backend.imagekeyring import image_keyring
from spotidoctor.backend.images import ImageInfo
from spotidoctor.backend.recipe import LABEL_SPOTIFY_REPO, LABEL_SPOTIFY_VERSION
from spotidoctor.backend.updates import (
    UpdateAnswer,
    UpdateQuery,
    UpdateStatus,
    debian_arch,
    query_repository,
    repo_url_ok,
)
from spotidoctor.resultcache import cached, file_facts
from spotidoctor.types import JSONValue

if TYPE_CHECKING:
    from spotidoctor.api import Context

__all__ = ["UpdateLookup", "image_update", "UPDATE_TTL_S", "UNREACHABLE_TTL_S", "cache_key"]

UPDATE_TTL_S = 6 * 3600.0
UNREACHABLE_TTL_S = 600.0


@dataclass(frozen=True)
class UpdateLookup:
    answer: UpdateAnswer | None = None
    not_asked: str = ""  # why the repository was not asked (no labels, not built by spotidoctor)
    repo: str = ""
    age_s: float | None = None  # how old a remembered answer is (None: asked now)
    keyring_problem: str = ""  # why the signature could not be checked against the image's keyring


def cache_key(image: str) -> str:
    return "image-update-" + hashlib.sha256(image.encode()).hexdigest()[:12]


def _host_arch(ctx: Context) -> str:
    import platform

    return debian_arch(platform.machine())


def _ask(ctx: Context, info: ImageInfo, repo: str, installed: str) -> tuple[UpdateAnswer, str]:
    keyring = image_keyring(ctx.probes, ctx.paths, info.id)
    query = UpdateQuery(repo, debian_arch(info.architecture) if info.architecture else _host_arch(ctx), installed,
                        ctx.probes.fs.host(keyring.path) if keyring.path else "")  # gpgv reads the real path
    return query_repository(ctx.probes, query), keyring.problem


def image_update(ctx: Context, info: ImageInfo) -> UpdateLookup:
    """Ask (or remember) whether a newer Spotify exists for ``info``."""
    if not info.built_by_spotidoctor:
        return UpdateLookup(not_asked=f"{info.name} was not built by spotidoctor")
    repo, installed = info.labels.get(LABEL_SPOTIFY_REPO, ""), info.labels.get(LABEL_SPOTIFY_VERSION, "")
    if not repo or not installed:
        missing = " and ".join(n for n, v in (("repository", repo), ("Spotify version", installed)) if not v)
        return UpdateLookup(not_asked=f"{info.name} does not record its {missing} (built from another recipe or "
                                      "by an older spotidoctor; `spotidoctor build` rebuilds it with them)")
    if not repo_url_ok(repo):
        return UpdateLookup(not_asked=f"the image's repository label {repo!r} is not an http(s) URL", repo=repo)
    gpgv = ctx.probes.cmd.which("gpgv")
    problem: list[str] = []

    def parts() -> list[JSONValue]:
        return ["image-update", info.id, repo, installed, info.architecture,
                [gpgv, file_facts(ctx.probes.fs, gpgv) if gpgv else None]]

    def compute() -> UpdateAnswer:
        answer, keyring_problem = _ask(ctx, info, repo, installed)
        problem.append(keyring_problem)
        return answer

    def encode(answer: UpdateAnswer) -> JSONValue | None:
        return None if problem and problem[0] else answer.to_json()  # no keyring: ask again next time

    got = cached(ctx.cache, ctx.probes.fs, cache_key(info.name), parts, UPDATE_TTL_S, compute, encode,
                 UpdateAnswer.from_json)
    if got.hit and got.value.status is UpdateStatus.UNREACHABLE and (got.age_s or 0.0) > UNREACHABLE_TTL_S:
        got = cached(ctx.cache.fresh(), ctx.probes.fs, cache_key(info.name), parts, UPDATE_TTL_S, compute, encode,
                     UpdateAnswer.from_json)
    lookup = UpdateLookup(got.value, repo=repo, age_s=got.age_s)
    return replace(lookup, keyring_problem=problem[0]) if problem else lookup
