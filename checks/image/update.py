"""image.update: the image has the newest Spotify of the repository it was built from."""
from __future__ import annotations

from spotidoctor.api import Check, CheckResult, Context, FixAvailability, Message, Severity
from spotidoctor.backend.keyrotation import key_url_guess
from spotidoctor.backend.recipe import KEY_URL_ARG, SPOTIFY_DOWNLOAD_URL
from spotidoctor.backend.rollback import previous_name
from spotidoctor.backend.updatecheck import UpdateLookup, image_update
from spotidoctor.backend.updates import UpdateAnswer, UpdateStatus, describe_json
from spotidoctor.resultcache import age_text
from spotidoctor.types import JSONValue

from .common import age_days, build_fixes, present_image

NO_GPGV = ("Not verified: gpgv is not installed, so the repository's signature was not checked "
           "(`sudo apt install gpgv`).")
REBUILD_HINT = ("`spotidoctor build` rebuilds it (the current image stays as {previous}; "
                "`spotidoctor rollback` goes back to it). With auto_update = true in config.toml, "
                "`spotidoctor launch` rebuilds first when an update exists.")


class ImageUpdate(Check):
    """What it checks: the image's Spotify (its ``io.spotidoctor.spotify-version`` label) is the
    newest ``spotify-client`` in the repository it was built from (``io.spotidoctor.spotify-repo``).
    The repository's ``InRelease`` is verified with gpgv against the keyring inside the image,
    the ``Packages`` index must match the SHA-256 the signed Release names, and versions are
    compared in dpkg's order. The answer is remembered for 6 hours (10 minutes when the
    repository could not be reached); ``check --fresh`` asks again.

    Why it matters: Spotify cannot update itself inside an immutable image: only a rebuild
    brings a new client. A repository signed by a key the image lacks means the key has
    rotated, and the next rebuild needs the new key URL.

    Fix safety: safe, needs network: rebuild from the current recipe (the replaced image is
    kept as IMAGE:previous, so `spotidoctor rollback` undoes it). Offline is a warning only.
    """

    id = "image.update"
    title = "The image has the newest Spotify of its repository"
    category = "container"
    severity = Severity.WARNING
    requires = ("image.present",)
    tags = frozenset({"launch", "slow"})  # reaches the network
    timeout_s = 120.0  # the first run per image copies its keyring out (podman create, slow on vfs)
    fix_availability = FixAvailability.SOMETIMES

    def run(self, ctx: Context) -> CheckResult:
        info = present_image(ctx)
        if info is None:
            return self.skip("the image is not present")
        lookup = image_update(ctx, info)
        if lookup.answer is None:
            return self.skip(lookup.not_asked, facts={"update_status": None})
        answer = lookup.answer
        days = age_days(info)
        built = f"built {days} day(s) ago" if days is not None else "build date unknown"
        facts: dict[str, JSONValue] = {**describe_json(answer), "repository": lookup.repo, "age_days": days}
        notes = self._notes(lookup)
        status = answer.status
        if status is UpdateStatus.CURRENT:
            return self.ok(f"Spotify {answer.installed} is the newest in {lookup.repo} ({built})", *notes,
                           facts=facts)
        if status is UpdateStatus.AVAILABLE:
            return self.warn(f"Spotify {answer.newest} is available; {info.name} has {answer.installed} ({built})",
                             Message.hint(f"{lookup.repo} has a newer spotify-client.",
                                          REBUILD_HINT.format(previous=previous_name(info.name) or "IMAGE:previous")),
                             *notes,
                             facts=facts, fixes=build_fixes(ctx, f"Rebuild {info.name} with Spotify {answer.newest}"))
        if status is UpdateStatus.KEY_ROTATED:
            return self.warn("Spotify has rotated its repository signing key: a rebuild needs the new key",
                             self._rotated(answer), *notes, facts=facts)
        return self.warn(self._problem(answer, lookup.repo), Message.hint(
            answer.detail, "Nothing is wrong with the image itself; the check asks again later "
                           "(`spotidoctor check --fresh image.update` now)."), *notes, facts=facts)

    @staticmethod
    def _problem(answer: UpdateAnswer, repo: str) -> str:
        if answer.status is UpdateStatus.UNREACHABLE:
            return f"cannot reach {repo} (offline?): whether a newer Spotify exists is unknown"
        if answer.status is UpdateStatus.NOT_LISTED:
            return f"{repo} lists no spotify-client for this computer"
        return f"{repo} answered with an index that could not be trusted"

    @staticmethod
    def _rotated(answer: UpdateAnswer) -> Message:
        key = answer.key_id[-16:]
        return Message.hint(
            f"The repository is {answer.detail.removeprefix('InRelease is ')}. A rebuild with the current "
            "key would fail the same way.",
            f"Take the new key's URL from {SPOTIFY_DOWNLOAD_URL} and put it into config.toml: build_args = "
            f"[\"{KEY_URL_ARG}={key_url_guess(key) if key else '<URL>'}\"] (the page shows the exact file name), "
            "then run `spotidoctor build`.")

    @staticmethod
    def _notes(lookup: UpdateLookup) -> tuple[Message, ...]:
        notes = []
        if lookup.answer is not None and not lookup.answer.verified:
            notes.append(Message.hint(
                NO_GPGV if not lookup.keyring_problem else
                f"Not verified: the image's keyring could not be read ({lookup.keyring_problem})."))
        if lookup.age_s is not None:
            notes.append(Message.info(f"the repository was asked {age_text(lookup.age_s)} ago; "
                                      "`spotidoctor check --fresh image.update` asks again"))
        return tuple(notes)
