"""pytest plugin (entry point ``pytest11``): fixtures for check authors."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from spotidoctor.api import Context


@pytest.fixture
def spotidoctor_context(tmp_path: Path) -> Callable[..., Context]:
    """Factory: ``spotidoctor_context(files={...}, commands=[...])`` -> Context over fakes."""
    from spotidoctor.testing import make_context

    sysroot = tmp_path / "sysroot"
    sysroot.mkdir()

    def factory(**kwargs: Any) -> Context:
        return make_context(sysroot, **kwargs)

    return factory
