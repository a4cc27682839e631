"""A drop-in check owned by another uid is never imported (issue 13): the file is made the
container user's with ``podman unshare chown`` (a subordinate uid: neither the test user nor
root), then the real CLI skips it, `list` says why, and its code never runs."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.unit.test_registry import GOOD_PLUGIN

RUNS = '''
open({marker!r}, "w").write("the drop-in ran")
'''


def test_a_dropin_of_another_uid_is_skipped(tmp_path: Path, podman: str) -> None:
    home = tmp_path / "home"
    dropins = home / ".config" / "spotidoctor" / "checks.d"
    dropins.mkdir(parents=True)
    marker = tmp_path / "ran"
    plugin = dropins / "foreign.py"
    plugin.write_text(RUNS.format(marker=str(marker)) + GOOD_PLUGIN.format(id="local.foreign", origin="x"))
    plugin.chmod(0o644)
    try:
        subprocess.run(["podman", "unshare", "chown", "1500:1500", "--", str(plugin)], check=True, timeout=60)
        owner = os.stat(plugin).st_uid
        assert owner not in (os.getuid(), 0)
        env = {"HOME": str(home), "PATH": os.environ["PATH"], "LANG": "C.UTF-8",
               "XDG_CONFIG_HOME": str(home / ".config"), "XDG_STATE_HOME": str(home / ".local/state")}
        done = subprocess.run([sys.executable, "-m", "spotidoctor", "list"], env=env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert (f"! drop-in {plugin}: not imported: {plugin} belongs to uid {owner}, not to you "
                f"(uid {os.geteuid()}) or root") in done.stdout
        assert not marker.exists()
    finally:
        subprocess.run(["podman", "unshare", "rm", "-f", "--", str(plugin)], timeout=60)
