"""Verify a clearsigned ``InRelease`` with gpgv against one keyring, as apt does.

``gpgv --homedir H --keyring K --status-fd 1 --output OUT InRelease`` writes the signed text
to OUT and machine-readable status lines (GnuPG's doc/DETAILS) to stdout. The text counts
as signed only with a ``GOODSIG`` and a ``VALIDSIG`` from the keyring (apt requires both);
``NO_PUBKEY`` is a signature by a key the keyring lacks (the key rotated), ``EXPKEYSIG`` /
``REVKEYSIG`` an expired or revoked key, ``BADSIG`` a changed file, ``NODATA`` something
that is not a signed message at all (a captive portal's page).
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["Verdict", "SignatureCheck", "gpgv_argv", "parse_status", "GPGV_TIMEOUT_S"]

GPGV_TIMEOUT_S = 30.0
_PREFIX = "[GNUPG:] "


class Verdict(str, Enum):
    GOOD = "good"
    MISSING_KEY = "missing-key"
    EXPIRED_KEY = "expired-key"
    REVOKED_KEY = "revoked-key"
    BAD = "bad"
    NOT_SIGNED = "not-signed"


@dataclass(frozen=True)
class SignatureCheck:
    verdict: Verdict
    key_id: str = ""  # long key id of the (missing, expired, good) key
    fingerprint: str = ""

    @property
    def ok(self) -> bool:
        return self.verdict is Verdict.GOOD

    def describe(self) -> str:
        key = self.fingerprint or self.key_id
        return {
            Verdict.GOOD: f"signed by {key}",
            Verdict.MISSING_KEY: f"signed with key {key}, which the image's keyring does not have",
            Verdict.EXPIRED_KEY: f"signed with key {key}, which has expired",
            Verdict.REVOKED_KEY: f"signed with key {key}, which was revoked",
            Verdict.BAD: f"its signature by {key} does not match its content" if key else "its signature is bad",
            Verdict.NOT_SIGNED: "it is not a signed message (a captive portal or proxy page?)",
        }[self.verdict]


def gpgv_argv(gpgv: str, homedir: str, keyring: str, output: str, signed: str) -> tuple[str, ...]:
    return (gpgv, "--homedir", homedir, "--keyring", keyring, "--status-fd", "1", "--output", output, signed)


def parse_status(text: str) -> SignatureCheck:
    """The verdict from gpgv's status lines: any good signature wins (a repository may be
    signed by the old and the new key while a key rotates); else the first problem."""
    problems: list[SignatureCheck] = []
    good_key = valid_fpr = ""
    for line in text.splitlines():
        if not line.startswith(_PREFIX):
            continue
        keyword, *args = line[len(_PREFIX):].split()
        first = args[0] if args else ""
        if keyword == "GOODSIG":
            good_key = first
        elif keyword == "VALIDSIG":
            valid_fpr = first
        elif keyword == "ERRSIG":  # <keyid> <pkalgo> <hashalgo> <class> <time> <rc> [<fpr>]; rc 9: no key
            fingerprint = args[6].upper() if len(args) > 6 and len(args[6]) == 40 else ""
            missing = len(args) > 5 and args[5] == "9"
            problems.append(SignatureCheck(Verdict.MISSING_KEY if missing else Verdict.BAD, first, fingerprint))
        elif keyword == "NO_PUBKEY" and not any(p.key_id == first for p in problems):
            problems.append(SignatureCheck(Verdict.MISSING_KEY, first))
        elif keyword == "NODATA":
            problems.append(SignatureCheck(Verdict.NOT_SIGNED))
        elif keyword in _PROBLEMS:
            problems.append(SignatureCheck(_PROBLEMS[keyword], first))
    if good_key and valid_fpr:
        return SignatureCheck(Verdict.GOOD, good_key, valid_fpr.upper())
    return problems[0] if problems else SignatureCheck(Verdict.NOT_SIGNED)


_PROBLEMS = {"EXPKEYSIG": Verdict.EXPIRED_KEY, "REVKEYSIG": Verdict.REVOKED_KEY, "BADSIG": Verdict.BAD}
