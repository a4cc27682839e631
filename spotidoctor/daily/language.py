"""The locale Spotify runs with: your ``LANG``/``LC_*``, when the image has those locales.

podman passes no host variable into the container, so without these Spotify runs in the C
locale. Each set variable is passed (``--env=NAME=VALUE``); a value the image has no locale
for would make glibc fall back to C quietly, so it becomes ``C.UTF-8`` instead (UTF-8 file
names and text still work) and the choice says which values were replaced. ``LANGUAGE`` (a
list of languages for translations, no locale needed) is passed as it is. The time zone is
not a locale: the launch passes ``--tz=local``.

Locale names compare the way glibc normalizes them: the codeset lower-cased without
punctuation, so ``de_DE.UTF-8`` is the image's ``de_DE.utf8``.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from spotidoctor.channels.runparts import EnvVar

__all__ = ["LOCALE_VARS", "FALLBACK", "normalize", "has_locale", "LocaleChoice", "choose_locale"]

# LC_ALL overrides every category; LANG is the default for the categories left unset.
LOCALE_VARS = ("LANG", "LC_ALL", "LC_CTYPE", "LC_NUMERIC", "LC_TIME", "LC_COLLATE", "LC_MONETARY", "LC_MESSAGES",
               "LC_PAPER", "LC_NAME", "LC_ADDRESS", "LC_TELEPHONE", "LC_MEASUREMENT", "LC_IDENTIFICATION")
FALLBACK = "C.UTF-8"
PLAIN_C = "C"
ALWAYS = frozenset({"C", "POSIX"})  # built into glibc
_NAME = re.compile(r"^[A-Za-z0-9_.@+-]{1,64}$")
_LANGUAGE = re.compile(r"^[A-Za-z0-9_.@:-]{1,256}$")


def normalize(name: str) -> str:
    """glibc's normalized form: ``de_DE.UTF-8@euro`` -> ``de_DE.utf8@euro``."""
    base, at, modifier = name.partition("@")
    language, dot, codeset = base.partition(".")
    if dot:
        codeset = "".join(c for c in codeset.lower() if c.isalnum())
        if codeset.isdigit():
            codeset = "iso" + codeset
        base = f"{language}.{codeset}"
    return base + (at + modifier if at else "")


def has_locale(name: str, available: frozenset[str] | None) -> bool | None:
    """Whether the image has ``name``; None when its locales are unknown."""
    if name in ALWAYS:
        return True
    if available is None:
        return None
    return normalize(name) in {normalize(a) for a in available}


@dataclass(frozen=True)
class LocaleChoice:
    env: tuple[EnvVar, ...]
    replaced: tuple[tuple[str, str], ...]  # (variable, host value the image lacks)
    fallback: str  # what replaced them
    known: bool  # the image's locales were known

    @property
    def warning(self) -> str | None:
        if not self.replaced:
            return None
        values = ", ".join(f"{name}={value}" for name, value in self.replaced)
        return (f"the image has no locale for {values}: Spotify runs with {self.fallback} instead "
                "(translations, dates and sorting as in C)")


def _fallback(available: frozenset[str] | None) -> str:
    return FALLBACK if has_locale(FALLBACK, available) is not False else PLAIN_C


def choose_locale(env: Mapping[str, str], available: Iterable[str] | None) -> LocaleChoice:
    """The variables to pass, from the host ``env`` and the image's locales (None: unknown)."""
    locales = None if available is None else frozenset(available)
    fallback = _fallback(locales)
    chosen: list[EnvVar] = []
    replaced: list[tuple[str, str]] = []
    for name in LOCALE_VARS:
        value = env.get(name, "")
        if not value:
            continue
        if not _NAME.match(value) or has_locale(value, locales) is False:
            replaced.append((name, value if _NAME.match(value) else "(not a locale name)"))
            chosen.append(EnvVar(name, fallback, f"language: your {name} has no locale in the image; "
                                                 f"{fallback} keeps text UTF-8"))
            continue
        chosen.append(EnvVar(name, value, f"language: your {name}, so Spotify formats and sorts like your session"))
    if not chosen:
        chosen.append(EnvVar("LANG", fallback, "language: your session sets no locale; UTF-8 text"))
    language = env.get("LANGUAGE", "")
    if language and _LANGUAGE.match(language):
        chosen.append(EnvVar("LANGUAGE", language, "language: your preferred languages for translations"))
    return LocaleChoice(tuple(chosen), tuple(replaced), fallback, locales is not None)
