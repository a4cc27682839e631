"""Is a newer Spotify in the repository the image was built from?

1. ``GET <repo>/dists/stable/InRelease`` (with a timeout; offline is an answer too).
2. gpgv verifies it with the keyring the image was built with (``imagekeyring``); without
   gpgv the text is read unverified, and the answer says so.
3. The verified Release names the ``non-free/binary-<arch>/Packages`` files with their size
   and SHA-256; the smallest one the Release lists is fetched and must match.
4. The newest ``spotify-client`` in it is compared with the image's version label (dpkg order).

``query_repository`` never raises for what the network or the repository does: every outcome
is an ``UpdateAnswer`` (``to_json``/``from_json`` for the result cache).
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from enum import Enum

from spotidoctor.backend.aptindex import newest_version
from spotidoctor.backend.aptrelease import check_index, clearsigned_text, decompress, packages_candidates, parse_release
from spotidoctor.backend.debversion import compare_versions
from spotidoctor.backend.gpgv import GPGV_TIMEOUT_S, SignatureCheck, Verdict, gpgv_argv, parse_status
from spotidoctor.errors import ParseError
from spotidoctor.probes import Probes
from spotidoctor.probes.http import HttpError
from spotidoctor.types import JSONValue

__all__ = ["UpdateStatus", "UpdateAnswer", "UpdateQuery", "query_repository", "debian_arch", "repo_url_ok",
           "describe_json", "SUITE", "COMPONENT", "PACKAGE", "HTTP_TIMEOUT_S"]

SUITE, COMPONENT, PACKAGE = "stable", "non-free", "spotify-client"
HTTP_TIMEOUT_S = 8.0
MAX_RELEASE_BYTES = 1 << 20
MAX_INDEX_BYTES = 32 << 20
_REPO_URL = re.compile(r"^https?://[A-Za-z0-9:/._~%@+-]+$")  # what the recipe accepts as SPOTIFY_REPO
# podman reports Go's architecture names; Debian's differ for some.
_DEBIAN_ARCH = {"amd64": "amd64", "arm64": "arm64", "arm": "armhf", "386": "i386", "ppc64le": "ppc64el",
                "s390x": "s390x", "x86_64": "amd64", "aarch64": "arm64"}


class UpdateStatus(str, Enum):
    CURRENT = "current"  # the image has the newest version
    AVAILABLE = "available"  # a newer version is in the repository
    UNREACHABLE = "unreachable"  # offline, DNS, HTTP error: nothing learned
    KEY_ROTATED = "key-rotated"  # signed by a key the image's keyring lacks
    UNTRUSTED = "untrusted"  # bad or expired signature, an index that does not match, unreadable data
    NOT_LISTED = "not-listed"  # the repository lists no spotify-client for this architecture


@dataclass(frozen=True)
class UpdateQuery:
    repo: str  # the repository URL the image was built from (its label)
    arch: str  # Debian architecture name
    installed: str  # the image's spotify-client version (its label)
    keyring: str = ""  # host path of the image's keyring ("" = cannot verify)


@dataclass(frozen=True)
class UpdateAnswer:
    status: UpdateStatus
    installed: str
    newest: str = ""
    detail: str = ""  # what went wrong, or where the answer came from
    verified: bool = True  # False: the signature was not checked (say why in ``detail``)
    key_id: str = ""  # the signing key (missing one for KEY_ROTATED)
    release_date: str = ""

    @property
    def update_available(self) -> bool:
        return self.status is UpdateStatus.AVAILABLE

    def to_json(self) -> dict[str, JSONValue]:
        data: dict[str, JSONValue] = {k: v for k, v in asdict(self).items() if k != "status"}
        data["status"] = self.status.value
        return data

    @classmethod
    def from_json(cls, data: JSONValue) -> UpdateAnswer:
        if not isinstance(data, dict):
            raise TypeError("not an object")
        values = {k: data[k] for k in ("installed", "newest", "detail", "verified", "key_id", "release_date")}
        if not all(isinstance(v, bool if k == "verified" else str) for k, v in values.items()):
            raise TypeError("wrong field types")
        return cls(UpdateStatus(str(data["status"])), **values)  # type: ignore[arg-type]


def debian_arch(podman_arch: str) -> str:
    return _DEBIAN_ARCH.get(podman_arch, podman_arch)


def repo_url_ok(url: str) -> bool:
    return bool(_REPO_URL.match(url))


def _dist(repo: str) -> str:
    return f"{repo.rstrip('/')}/dists/{SUITE}"


def _verify(probes: Probes, inrelease: bytes, keyring: str, work: str) -> tuple[SignatureCheck, bytes]:
    """gpgv's verdict and the signed text (b"" unless good)."""
    gpgv = probes.cmd.which("gpgv")
    assert gpgv is not None
    signed, output, home = (os.path.join(work, name) for name in ("InRelease", "Release", "gnupg"))
    os.mkdir(home, 0o700)
    with open(signed, "wb") as fh:
        fh.write(inrelease)
    done = probes.cmd.run(gpgv_argv(gpgv, home, keyring, output, signed), timeout=GPGV_TIMEOUT_S)
    check = parse_status(done.stdout)
    if not check.ok or done.returncode != 0 or not os.path.isfile(output):
        if check.ok:  # a good signature line but gpgv failed anyway: not trusted
            check = SignatureCheck(Verdict.BAD, check.key_id, check.fingerprint)
        return check, b""
    with open(output, "rb") as fh:
        return check, fh.read(MAX_RELEASE_BYTES)


def _release_text(probes: Probes, query: UpdateQuery, inrelease: bytes) -> UpdateAnswer | tuple[str, bool, str]:
    """(Release text, verified, signing key) or the answer that ends the query."""
    if not query.keyring or probes.cmd.which("gpgv") is None:
        try:
            return clearsigned_text(inrelease), False, ""
        except ParseError as exc:
            return UpdateAnswer(UpdateStatus.UNTRUSTED, query.installed, detail=f"InRelease: {exc}", verified=False)
    work = tempfile.mkdtemp(prefix="spotidoctor-update-")
    try:
        check, data = _verify(probes, inrelease, query.keyring, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if check.verdict is Verdict.MISSING_KEY:
        return UpdateAnswer(UpdateStatus.KEY_ROTATED, query.installed, detail=f"InRelease is {check.describe()}",
                            key_id=check.fingerprint or check.key_id)
    if not check.ok:
        return UpdateAnswer(UpdateStatus.UNTRUSTED, query.installed, detail=f"InRelease is {check.describe()}",
                            key_id=check.fingerprint or check.key_id)
    return data.decode("utf-8", errors="replace"), True, check.fingerprint


def _fetch_index(probes: Probes, query: UpdateQuery, text: str, verified: bool) -> UpdateAnswer | str:
    """The verified Packages text, or the answer that ends the query."""
    def answer(status: UpdateStatus, detail: str) -> UpdateAnswer:
        return UpdateAnswer(status, query.installed, detail=detail, verified=verified)

    try:
        release = parse_release(text)
    except ParseError as exc:
        return answer(UpdateStatus.UNTRUSTED, f"Release: {exc}")
    candidates = packages_candidates(release, COMPONENT, query.arch)
    if not candidates:
        return answer(UpdateStatus.NOT_LISTED, f"the Release lists no {COMPONENT}/binary-{query.arch} index "
                      f"(architectures: {' '.join(release.architectures) or 'none'})")
    last = ""
    for entry in candidates:
        try:
            data = probes.http.get(f"{_dist(query.repo)}/{entry.path}", timeout=HTTP_TIMEOUT_S,
                                   limit=min(entry.size, MAX_INDEX_BYTES))
        except HttpError as exc:
            if exc.status == 404:
                last = f"{entry.path}: {exc.reason}"
                continue  # listed but not served in this compression: try the next
            if exc.too_large:
                return answer(UpdateStatus.UNTRUSTED, f"{entry.path} is larger than the signed Release says "
                                                      f"({entry.size} bytes)")
            return answer(UpdateStatus.UNREACHABLE, f"{exc.url}: {exc.reason}")
        mismatch = check_index(entry, data)
        if mismatch:
            return answer(UpdateStatus.UNTRUSTED, mismatch)
        try:
            return decompress(entry.path, data, MAX_INDEX_BYTES).decode("utf-8", errors="replace")
        except ParseError as exc:
            return answer(UpdateStatus.UNTRUSTED, str(exc))
    return answer(UpdateStatus.UNREACHABLE, last)


def _compare(query: UpdateQuery, packages: str, verified: bool, key: str, date: str) -> UpdateAnswer:
    def answer(status: UpdateStatus, newest: str = "", detail: str = "") -> UpdateAnswer:
        return UpdateAnswer(status, query.installed, newest, detail, verified, key, date)

    try:
        entry = newest_version(packages, PACKAGE, query.arch)
    except ParseError as exc:
        return answer(UpdateStatus.UNTRUSTED, detail=f"Packages: {exc}")
    if entry is None:
        return answer(UpdateStatus.NOT_LISTED, detail=f"the index lists no {PACKAGE} for {query.arch}")
    newest = str(entry.version)
    try:
        newer = compare_versions(entry.version, query.installed) > 0
    except ParseError as exc:
        return answer(UpdateStatus.UNTRUSTED, newest, f"the image's version label: {exc}")
    return answer(UpdateStatus.AVAILABLE if newer else UpdateStatus.CURRENT, newest)


def query_repository(probes: Probes, query: UpdateQuery) -> UpdateAnswer:
    """The answer for one image (see the module docstring)."""
    try:
        inrelease = probes.http.get(f"{_dist(query.repo)}/InRelease", timeout=HTTP_TIMEOUT_S,
                                    limit=MAX_RELEASE_BYTES)
    except HttpError as exc:
        return UpdateAnswer(UpdateStatus.UNREACHABLE, query.installed, detail=f"{exc.url}: {exc.reason}")
    got = _release_text(probes, query, inrelease)
    if isinstance(got, UpdateAnswer):
        return got
    text, verified, key = got
    packages = _fetch_index(probes, query, text, verified)
    if isinstance(packages, UpdateAnswer):
        return packages
    date = _release_date(text)
    return _compare(query, packages, verified, key, date)


def _release_date(text: str) -> str:
    try:
        return parse_release(text).get("Date")
    except ParseError:
        return ""


def describe_json(answer: UpdateAnswer) -> Mapping[str, JSONValue]:
    """The facts a check publishes about the answer."""
    return {"update_status": answer.status.value, "installed_version": answer.installed,
            "newest_version": answer.newest or None, "update_available": answer.update_available,
            "signature_verified": answer.verified}
