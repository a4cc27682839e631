"""A ``storage_dir`` with a path component over 255 bytes (issue 19 #9) is a clear configuration
error, exit 2, for every command and from the config file as from --storage-dir; on main it
crashed the storage checks and made `launch` an internal error (exit 3)."""
from __future__ import annotations

import pytest

from tests.robustness.sandbox import Sandbox, assert_sane

LONG = "/tmp/" + "a" * 300 + "/spotify"
SAID = "storage_dir must be a non-empty path whose names are at most 255 bytes each (Linux's limit)"


@pytest.fixture
def box(tmp_path) -> Sandbox:
    sandbox = Sandbox.create(tmp_path)
    sandbox.spy_podman()
    return sandbox


@pytest.mark.parametrize("command", [("check",), ("fix", "storage"), ("launch", "--dry-run"), ("launch", "-y"),
                                     ("report", "--preview")])
def test_an_overlong_name_on_the_command_line(box: Sandbox, command: tuple[str, ...]) -> None:
    done = box.run(*command, "--storage-dir", LONG)
    assert_sane(done, box)
    assert done.returncode == 2 and SAID in done.stderr


def test_an_overlong_name_in_the_config_file(box: Sandbox) -> None:
    box.write_config(f'storage_dir = "{LONG}"\n')
    done = box.run("check", "storage")
    assert_sane(done, box)
    assert done.returncode == 2 and SAID in done.stderr
