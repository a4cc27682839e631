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


def test_the_runc_note_says_what_launch_does_about_the_gpu() -> None:
    import dataclasses

    from spotidoctor.backend.runargs import DriAccess, argv, run_argv
    from spotidoctor.checks.podman.runtime import KEEP_GROUPS_NOTE
    from tests.unit.test_backend_runargs import PULSEAUDIO_HOST, SPEC

    args = argv(run_argv(SPEC, dataclasses.replace(PULSEAUDIO_HOST, runtime="runc", dri=DriAccess.GROUP)))
    assert not any(a.startswith("--device=/dev/dri") or a == "--disable-gpu" for a in args)
    assert "passes no /dev/dri" in KEEP_GROUPS_NOTE and "does not add --disable-gpu" in KEEP_GROUPS_NOTE
    crun = argv(run_argv(SPEC, dataclasses.replace(PULSEAUDIO_HOST, runtime="crun", dri=DriAccess.GROUP)))
    assert "--device=/dev/dri" in crun  # the note is about runc only
