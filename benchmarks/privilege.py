"""Run the benchmarks as an unprivileged user, keeping root only for dropping the page cache.

Started as root, ``run.py`` re-executes itself as the test user (``.ci/setup-test-user``
creates it, ``setpriv`` switches to it, as ``.ci/test-as-user`` does) with a login-like
environment. The root parent stays behind as a tiny helper: when the benchmark asks on a
pipe, it runs ``sync`` and writes ``3`` to ``/proc/sys/vm/drop_caches`` (the only thing
the cold-cache figure needs root for) and answers on a second pipe.
"""
from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

DROP_CACHES = "/proc/sys/vm/drop_caches"


def drop_caches_now() -> str | None:
    """Drop the page cache, dentries and inodes (root only); None on success, else why not."""
    try:
        os.sync()
        with open(DROP_CACHES, "w") as fh:
            fh.write("3\n")
        return None
    except OSError as exc:
        return f"cannot write {DROP_CACHES}: {exc.strerror}"


class CacheDropper:
    """Drops the page cache: directly as root, through the root helper's pipes, or not at all."""

    def __init__(self, fds: str | None) -> None:
        self._request = self._answer = -1
        if fds:
            request, answer = fds.split(",")
            self._request, self._answer = int(request), int(answer)
        self.reason: str | None = None
        if not fds and os.geteuid() != 0:
            self.reason = ("needs root to drop the page cache (echo 3 > /proc/sys/vm/drop_caches); start "
                           "`benchmarks/run.py` as root: it runs as the test user and keeps root only for that")

    @property
    def available(self) -> bool:
        return self.reason is None

    def drop(self) -> None:
        if self.reason:
            raise RuntimeError(self.reason)
        if self._request < 0:
            error = drop_caches_now()
        else:
            os.write(self._request, b"d")
            reply = os.read(self._answer, 4096)
            error = None if reply == b"ok" else reply.decode(errors="replace") or "the root helper is gone"
        if error:
            self.reason = error
            raise RuntimeError(error)


def _serve(request: int, answer: int) -> None:
    while os.read(request, 1):
        error = drop_caches_now()
        os.write(answer, b"ok" if error is None else error.encode())


def _user_can_run(python: str, uid: int, gid: int, env: dict[str, str], cwd: str, script: str) -> str | None:
    probe = "import spotidoctor, pytest, tests.servers"
    done = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={gid}", "--init-groups", "--", python, "-c",
                           f"import sys; sys.path.insert(0, {str(Path(script).parent.parent)!r}); {probe}"],
                          env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    return None if done.returncode == 0 else (done.stderr.strip().splitlines() or ["?"])[-1]


def reexec_as_test_user(script: str, argv: Sequence[str], json_path: str | None, python: str | None) -> int:
    """Run ``script argv`` as the test user; copy its JSON to ``json_path``; return its exit code."""
    repo = Path(script).resolve().parent.parent
    setup = repo / ".ci" / "setup-test-user"
    if not setup.exists():
        raise SystemExit("benchmarks/run.py must run as a normal (unprivileged) user: rootless podman, "
                         f"PulseAudio and the storage mapping need one (no {setup} to create a test user)")
    user = subprocess.run([str(setup)], capture_output=True, text=True, check=True).stdout.strip()
    entry = pwd.getpwnam(user)
    env = {"HOME": entry.pw_dir, "USER": user, "LOGNAME": user, "PATH": "/usr/local/bin:/usr/bin:/bin",
           "XDG_RUNTIME_DIR": f"/run/user/{entry.pw_uid}", "LANG": "C.UTF-8", "CI": os.environ.get("CI", "")}
    python = python or sys.executable
    why = _user_can_run(python, entry.pw_uid, entry.pw_gid, env, "/", str(repo / "benchmarks" / "run.py"))
    if why:
        raise SystemExit(f"the test user {user} cannot run {python} with spotidoctor and its test extras "
                         f"importable ({why}). Create the user's copy first (`.ci/test-as-user --copy bench "
                         f"tests/unit -q`) and run /home/{user}/venv-bench/bin/python "
                         f"/home/{user}/bench/benchmarks/run.py, or pass --user-python.")
    handoff = None
    if json_path:
        fd, handoff = tempfile.mkstemp(prefix="spotidoctor-bench-", suffix=".json")
        os.close(fd)
        os.chown(handoff, entry.pw_uid, entry.pw_gid)
    request_r, request_w = os.pipe()
    answer_r, answer_w = os.pipe()
    child_argv = [*argv, "--cache-dropper", f"{request_w},{answer_r}"]
    if handoff:
        child_argv += ["--json", handoff]
    print(f"benchmarks: running as {user} (uid {entry.pw_uid}); root only drops the page cache", flush=True)
    proc = subprocess.Popen(["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--init-groups", "--",
                             python, str(repo / "benchmarks" / "run.py"), *child_argv],
                            env=env, cwd="/", pass_fds=(request_w, answer_r))
    os.close(request_w)
    os.close(answer_r)
    try:
        _serve(request_r, answer_w)  # returns when the child closes its end (exits)
        code = proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        code = proc.wait()
    if handoff and json_path:
        if os.path.getsize(handoff):
            shutil.copyfile(handoff, json_path)
            print(f"JSON copied to {json_path}", flush=True)
        os.unlink(handoff)
    return code
