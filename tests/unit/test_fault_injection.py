"""Faults in fixes: a fix killed half-way leaves the old or the new file, never a torn one."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from spotidoctor.backups import BackupStore
from spotidoctor.probes.fs import RealFS

# Runs one WriteFile step; the patched phase prints READY and sleeps until killed.
SCRIPT = textwrap.dedent('''
    import os, sys, time
    from spotidoctor.backups import BackupStore
    from spotidoctor.engine.fixer import StepEnvironment
    from spotidoctor.fixes import WriteFile
    from spotidoctor.paths import Paths
    from spotidoctor.probes import Probes
    from spotidoctor.probes.command import SubprocessRunner
    from spotidoctor.probes.fs import RealFS
    from spotidoctor.probes.procs import PsutilProcesses

    target, state, phase = sys.argv[1:4]

    def hang():
        print("READY", flush=True)
        time.sleep(60)

    if phase == "after-backup":
        real_save = BackupStore.save
        def save(self, path):
            copy = real_save(self, path)
            hang()
            return copy
        BackupStore.save = save
    elif phase.startswith("during-"):
        # Stop inside the fsync of the backup copy or of the new file's temp file.
        wanted = "%2F" if phase == "during-backup-write" else "." + os.path.basename(target) + "."
        real_fsync = os.fsync
        def fsync(fd):
            if wanted in os.readlink(f"/proc/self/fd/{fd}") and os.fstat(fd).st_size:
                hang()
            return real_fsync(fd)
        os.fsync = fsync
    elif phase == "before-rename":
        real_replace = os.replace
        def replace(src, dst):
            if os.fspath(dst) == target:
                hang()
            return real_replace(src, dst)
        os.replace = replace

    fs = RealFS("/")
    paths = Paths("/cfg", state, "/run", "/cfg", None)
    env = StepEnvironment(Probes(SubprocessRunner(), fs, None, None, PsutilProcesses()), paths,
                          BackupStore(fs, state + "/backups"))
    WriteFile("rewrite", path=target, content="NEW " * 5000).apply(env)
    print("DONE", flush=True)
''')

OLD = "old content\n" * 100


@pytest.mark.parametrize("phase", ["during-backup-write", "after-backup", "during-write", "before-rename"])
def test_killed_fix_leaves_the_old_file_intact_and_the_backup_listed(tmp_path: Path, phase: str) -> None:
    target = tmp_path / "client.conf"
    target.write_text(OLD)
    state = tmp_path / "state"
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(target), str(state), phase],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "READY"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    assert target.read_text() == OLD  # the old file, whole
    backups = BackupStore(RealFS("/"), str(state / "backups")).entries()
    if phase == "during-backup-write":  # the copy never completed: nothing torn is listed
        assert backups == []
        return
    assert [b.original for b in backups] == [str(target)]
    assert Path(backups[0].copy).read_text() == OLD


def test_uninterrupted_fix_leaves_the_new_file(tmp_path: Path) -> None:
    target = tmp_path / "client.conf"
    target.write_text(OLD)
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(target), str(tmp_path / "state"), "none"],
                          capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "DONE", done.stderr
    assert target.read_text() == "NEW " * 5000
