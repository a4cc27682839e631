""""Did you mean": the closest known names to a mistyped one (difflib, as git and cargo do)."""
from __future__ import annotations

from collections.abc import Iterable

CUTOFF = 0.6  # difflib's default: `chek` -> `check`, `pluse` -> `pulse`, `zzz` -> nothing


def close_matches(word: str, known: Iterable[str], limit: int = 3) -> list[str]:
    """Up to ``limit`` known names like ``word``, closest first; also the names ``word`` is a
    prefix of when nothing is close (``x11.con`` -> ``x11.connect``, ``x11.container-cookie``)."""
    import difflib  # only on a mistake: start-up time is measured

    names = sorted(set(known))
    found = difflib.get_close_matches(word, names, n=limit, cutoff=CUTOFF)
    if not found and word:
        found = [name for name in names if name.startswith(word)][:limit]
    return found


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """`` (did you mean 'check'?)``, or an empty string when nothing is close."""
    found = close_matches(word, known)
    if not found:
        return ""
    return " (did you mean " + " or ".join(repr(name) for name in found) + "?)"
