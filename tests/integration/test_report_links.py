"""`spotidoctor report` against what the container can plant in its storage (issue 13, real
servers, the real CLI): ``config/prefs`` and ``Users/x-user/prefs`` replaced by symlinks to
``~/.bash_history`` never bring the host file into the report, with or without --no-redact, and
the manifest says why each was skipped; an account directory named ``podman-user`` does not
rewrite every "podman"; a saved "credential" equal to a common word does not make the report
fail closed; a taken output name exits 2 and leaves no temporary archive."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

from spotidoctor.bundle import contained
from tests.integration.test_report import Setup, archive_contents, run_report, setup  # noqa: F401 - the fixture

HISTORY_CANARY = "CANARY-HISTORY-7f3a9c: ssh -i ~/.ssh/prod root@db1"


def plant(setup: Setup) -> tuple[Path, Path]:  # noqa: F811 - the imported fixture
    history = setup.home / ".bash_history"
    history.write_text(f"ls\n{HISTORY_CANARY}\n")
    config = setup.home / ".spotify" / "config"
    (config / "prefs").unlink()
    (config / "prefs").symlink_to(history)
    planted = config / "Users" / "x-user"
    planted.mkdir(parents=True)
    (planted / "prefs").symlink_to(history)
    return config / "prefs", planted / "prefs"


def members_of(done, setup: Setup) -> tuple[dict[str, bytes], bytes, dict[str, dict]]:  # noqa: F811 - the imported fixture
    assert done.returncode == 0, done.stderr
    members, raw = archive_contents(Path(done.stdout.strip()))
    files = {name.split("/", 1)[1]: data for name, data in members.items()}
    manifest = {e["source"]: e for e in json.loads(files["manifest.json"])["items"] if e["kind"] == "file"}
    return files, b"\n".join([*(n.encode() for n in members), *members.values(), raw]), manifest


def test_planted_symlinks_never_bring_a_host_file_into_the_report(setup: Setup) -> None:  # noqa: F811 - the imported fixture
    prefs, account_prefs = plant(setup)
    for extra in ((), ("--no-redact",)):
        out = setup.out / ("plain" if extra else "redacted")
        out.mkdir()
        files, blob, manifest = members_of(run_report(setup, "-o", str(out), *extra), setup)
        assert HISTORY_CANARY.encode() not in blob and b"CANARY-HISTORY" not in blob, extra
        # The drop-in's raw-prefs and the storage evidence both asked for it; both were refused.
        reasons = [e["reason"] for source, e in manifest.items() if source.endswith("/config/prefs")]
        assert reasons and set(reasons) == {contained.SYMLINK}, manifest
        # Account directories are shown by their shape (Users/spotifyuserN-user): the canary account's
        # real prefs file was collected, the planted one was not.
        accounts = [e for source, e in manifest.items() if re.search(r"/Users/[^/]+-user/prefs$", source)]
        assert sorted((e["status"], e["reason"]) for e in accounts) == [("collected", ""),
                                                                       ("skipped", contained.SYMLINK)], accounts
    assert os.readlink(prefs) == str(setup.home / ".bash_history")  # nothing was changed either
    assert os.readlink(account_prefs) == str(setup.home / ".bash_history")


def test_container_chosen_names_do_not_steer_redaction(setup: Setup) -> None:  # noqa: F811 - the imported fixture
    config = setup.home / ".spotify" / "config"
    hostile = config / "Users" / "podman-user"
    hostile.mkdir(parents=True)
    (hostile / "prefs").write_text('autologin.username="podman"\nautologin.saved_credentials="podman"\n')
    done = run_report(setup, "-o", str(setup.out))
    assert done.returncode == 0, done.stderr  # "podman" is everywhere in a report: no fail-closed
    files, _, _ = members_of(done, setup)
    summary = files["summary.md"].decode()
    assert "| podman | 4." in summary and "spotifyuser" not in summary.split("| podman |")[1][:20]
    assert b"podman" in files["facts/podman/version.txt"].lower()
    assert b'autologin.username="podman"' not in b"\n".join(files.values())


def test_a_taken_output_name_exits_2_and_leaves_nothing(setup: Setup) -> None:  # noqa: F811 - the imported fixture
    taken = setup.out / "report.tar.gz"
    taken.write_text("an earlier report")
    done = run_report(setup, "-o", str(taken))
    assert done.returncode == 2, done.stderr
    assert "already exists; name another file with -o, or pass --overwrite" in done.stderr
    assert sorted(p.name for p in setup.out.iterdir()) == ["report.tar.gz"] and taken.read_text() == "an earlier report"
    again = run_report(setup, "-o", str(taken), "--overwrite")
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in setup.out.iterdir()) == ["report.tar.gz"] and taken.stat().st_size > 1000
