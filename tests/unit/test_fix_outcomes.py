"""What a fix step says it did must be what happened."""
from __future__ import annotations

from pathlib import Path

from spotidoctor.engine import fixer
from spotidoctor.fixes import MakeDirs
from spotidoctor.testing import make_context


def test_make_dirs_says_created_only_when_it_created_the_directory(tmp_path: Path) -> None:
    env = fixer.StepEnvironment.from_context(make_context(tmp_path))
    step = MakeDirs("create it", path="/home/alice/new/dir", mode=0o700)
    assert step.apply(env) == "created /home/alice/new/dir"
    assert (tmp_path / "home/alice/new/dir").is_dir()
    assert step.apply(env) == "/home/alice/new/dir exists"
