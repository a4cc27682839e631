"""Plugins run only when the running user or root owns their code and nobody else can change it
(issue 13): run as root with another user's HOME/XDG_CONFIG_HOME, that user's drop-ins and
user-site entry points are skipped, `list` says why, and a group- or world-writable file is
skipped whoever owns it. Ownership is injected (``Trust.stat``/``fstat``): a test user can
neither be root nor make a file of another uid without podman (the integration test does that)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from spotidoctor.engine import registry
from spotidoctor.engine.plugintrust import WHY, Trust
from tests.unit.test_registry import GOOD_PLUGIN, write_dist

ROOT = 0
USER = 1000  # the other user whose HOME root runs with


def owned_by(uid: int):
    """A stat/fstat whose result says ``uid`` owns the file (mode and type stay real)."""
    def restat(target):
        st = os.fstat(target) if isinstance(target, int) else os.stat(target)
        fields = list(st)
        fields[4] = uid
        return os.stat_result(fields)
    return restat


def dropin_dir(tmp_path: Path, name: str = "mine.py", check_id: str = "local.mine") -> Path:
    directory = tmp_path / "home" / ".config" / "spotidoctor" / "checks.d"
    directory.mkdir(parents=True)
    (directory / name).write_text(GOOD_PLUGIN.format(id=check_id, origin="drop-in"))
    (directory / name).chmod(0o644)
    return directory


def test_root_skips_another_users_dropins(tmp_path: Path) -> None:
    directory = dropin_dir(tmp_path)
    as_root = Trust(euid=ROOT, stat=owned_by(USER), fstat=owned_by(USER))
    reg = registry.discover([str(directory)], trust=as_root)
    assert "local.mine" not in reg.by_id()
    (problem,) = [p for p in reg.problems if p.origin.startswith("drop-in")]
    path = directory / "mine.py"
    assert problem.origin == f"drop-in {path}"
    assert problem.message == f"not imported: {path} belongs to uid {USER}, not to you (uid {ROOT}) or root; {WHY}"
    assert not any(name.startswith("spotidoctor._dropin.mine_") for name in sys.modules)


def test_root_still_runs_roots_own_dropins(tmp_path: Path) -> None:
    directory = dropin_dir(tmp_path, "system.py", "local.system")
    as_root = Trust(euid=ROOT, stat=owned_by(ROOT), fstat=owned_by(ROOT))
    assert "local.system" in registry.discover([str(directory)], trust=as_root).by_id()


def test_a_user_runs_their_own_dropins(tmp_path: Path) -> None:
    directory = dropin_dir(tmp_path, "own.py", "local.own")
    mine = Trust(euid=USER, stat=owned_by(USER), fstat=owned_by(USER))
    assert "local.own" in registry.discover([str(directory)], trust=mine).by_id()


@pytest.mark.parametrize("mode, who", [(0o664, "its group"), (0o646, "everyone")])
def test_a_dropin_others_can_write_is_skipped(tmp_path: Path, mode: int, who: str) -> None:
    directory = dropin_dir(tmp_path, "shared.py", "local.shared")
    (directory / "shared.py").chmod(mode)
    reg = registry.build(registry.dropins([str(directory)]))  # the real owner: the test user
    assert reg.loaded == ()
    assert reg.problems[0].message == (f"not imported: {directory / 'shared.py'} is writable by {who} "
                                       f"(mode {mode:04o}); {WHY}")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    return site


def test_root_skips_an_entry_point_in_another_users_site(site: Path) -> None:
    write_dist(site, "sd-user-plugin", "sd_user_plugin", GOOD_PLUGIN.format(id="third.user", origin="user"))
    as_root = Trust(euid=ROOT, stat=owned_by(USER), fstat=owned_by(USER))
    reg = registry.build(registry.entry_points(trust=as_root))
    assert "third.user" not in reg.by_id() and "sd_user_plugin" not in sys.modules
    (problem,) = reg.problems
    assert problem.origin == "plugin sd-user-plugin (sd-user-plugin)"
    assert problem.message.startswith(f"not imported: {site / 'sd_user_plugin.py'} belongs to uid {USER}")


def test_every_file_of_a_package_entry_point_is_checked(site: Path) -> None:
    package = site / "sd_pkg_plugin"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "checks.py").write_text(GOOD_PLUGIN.format(id="third.pkg", origin="pkg"))
    write_dist(site, "sd-pkg", "sd_pkg_unused", "", entry="sd_pkg_plugin.checks")
    (package / "__init__.py").chmod(0o666)
    reg = registry.build(registry.entry_points())
    assert "third.pkg" not in reg.by_id() and "sd_pkg_plugin" not in sys.modules
    assert f"{package / '__init__.py'} is writable by everyone" in reg.problems[0].message
    (package / "__init__.py").chmod(0o644)
    assert "third.pkg" in registry.build(registry.entry_points()).by_id()


def test_list_shows_why_a_dropin_was_skipped(tmp_path: Path) -> None:
    directory = dropin_dir(tmp_path, "loose.py", "local.loose")
    (directory / "loose.py").chmod(0o666)
    home = tmp_path / "home"
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
           "XDG_CONFIG_HOME": str(home / ".config"), "XDG_STATE_HOME": str(home / ".local/state")}
    done = subprocess.run([sys.executable, "-m", "spotidoctor", "list"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert (f"! drop-in {directory / 'loose.py'}: not imported: {directory / 'loose.py'} is writable by everyone "
            f"(mode 0666); {WHY}") in done.stdout.splitlines()
    assert "local.loose" not in done.stdout.replace(f"{directory / 'loose.py'}", "")
