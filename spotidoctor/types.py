"""Types every layer shares (a leaf: imports nothing from spotidoctor)."""
from __future__ import annotations

from typing import Union

JSONScalar = str | int | float | bool | None
# Recursive, so the forward references stay strings, which `|` cannot join at run time.
JSONValue = Union[JSONScalar, "list[JSONValue]", "dict[str, JSONValue]"]  # noqa: UP007
