"""PulseAudio module-argument syntax (``socket="a b" auth-cookie=x``) and its booleans,
shared by the pulse checks and the audio filter's exposure scan."""
from __future__ import annotations

import re
import shlex
from collections.abc import Mapping

from spotidoctor.errors import ParseError

__all__ = ["parse_module_args", "format_module_args", "parse_bool"]

_BARE_VALUE = re.compile(r"[A-Za-z0-9_./:@%+,=-]+")
_TRUE = {"1", "y", "yes", "t", "true", "on"}
_FALSE = {"0", "n", "no", "f", "false", "off"}


def parse_module_args(text: str | None) -> dict[str, str]:
    """``socket="q socket" auth-cookie=x`` -> {"socket": "q socket", "auth-cookie": "x"}.

    ``None`` (a module loaded without arguments) is an empty mapping. Raises only
    ``ParseError`` (bad quoting, a word without ``=``, an empty key, a repeated key).
    """
    if text is None:
        return {}
    try:
        words = shlex.split(text, comments=False, posix=True)
    except ValueError as exc:  # "No closing quotation", "No escaped character"
        raise ParseError(f"module arguments {text!r}: {exc}") from None
    args: dict[str, str] = {}
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise ParseError(f"module arguments {text!r}: {word!r} is not key=value")
        if key in args:
            raise ParseError(f"module arguments {text!r}: {key!r} given twice")
        args[key] = value
    return args


def format_module_args(args: Mapping[str, str]) -> str:
    """The inverse of ``parse_module_args`` (values quoted only when they need it)."""
    parts = []
    for key, value in args.items():
        if not key or not _BARE_VALUE.fullmatch(key) or "=" in key:
            raise ParseError(f"bad module argument name {key!r}")
        parts.append(f"{key}={value if _BARE_VALUE.fullmatch(value) else shlex.quote(value)}")
    return " ".join(parts)


def parse_bool(value: str) -> bool | None:
    """PulseAudio's ``pa_parse_boolean``: None when the text is not a boolean."""
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    return None
