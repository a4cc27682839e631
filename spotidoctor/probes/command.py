"""The one place that starts subprocesses.

argv lists only (never a shell), a timeout on every call, the whole process group killed
on timeout, and a registry of live children so that an interrupted or timed-out run can
kill what it started ("no stray processes"). A missing executable is returncode 127, not
an exception, so checks handle it like any other failure. A program whose ``--version``
timed out is hung: later calls to it in the same run are not made and end as timed out at
once, so a hung podman costs one timeout per concurrent question, not one per call.
``start`` is the one way to launch a long-lived child without waiting (a proxy, a helper, the
host's browser, podman for a launch): it is in the live set until it is reaped, stopped or
released, so ``kill_all`` reaches it too.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Protocol

DEFAULT_TIMEOUT_S = 10.0
MAX_OUTPUT_BYTES = 8 * 1024 * 1024
RC_NOT_FOUND = 127
RC_TIMEOUT = 124


@dataclass(frozen=True)
class Completed:
    argv: tuple[str, ...]
    returncode: int
    stdout: str = ""
    stderr: str = ""
    timed_out: bool = False
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    @property
    def not_found(self) -> bool:
        return self.returncode == RC_NOT_FOUND and not self.timed_out and "not found" in self.stderr

    def error_text(self, limit: int = 400) -> str:
        """A short, single-paragraph reason for messages."""
        if self.timed_out:
            return f"timed out after {self.duration_s:.1f}s"
        text = (self.stderr.strip() or self.stdout.strip() or f"exit status {self.returncode}")
        text = " ".join(text.split())
        return text if len(text) <= limit else text[: limit - 1] + "…"


class CommandRunner(Protocol):
    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        env: Mapping[str, str] | None = None,
        input: str | None = None,
        cwd: str | None = None,
    ) -> Completed:
        """Run to completion. ``env`` entries override the base environment."""
        ...

    def stream(
        self,
        argv: Sequence[str],
        on_line: Callable[[str], None],
        *,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> Completed:
        """Run, calling ``on_line`` for each line of merged stdout/stderr as it arrives."""
        ...

    def start(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: str | None = None,
              stdin: int | None = None, stdout: int | None = None, stderr: int | None = None,
              capture_stderr: bool = False, pass_fds: Sequence[int] = (), own_session: bool = True) -> Started:
        """Start without waiting (``ProcessStarter.start``)."""
        ...

    def which(self, name: str) -> str | None: ...


class ProcessStarter(Protocol):
    def start(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: str | None = None,
              stdin: int | None = None, stdout: int | None = None, stderr: int | None = None,
              capture_stderr: bool = False, pass_fds: Sequence[int] = (), own_session: bool = True) -> Started:
        """Start without waiting. ``stdin``/``stdout``/``stderr``: a file descriptor the child gets
        (default /dev/null); ``capture_stderr`` instead gives stderr a pipe read once it ended (only
        for children that say little, such as a helper that fails to start). ``pass_fds`` stay open
        in the child. ``own_session=False`` keeps it in our session and process group, so the
        terminal's Ctrl-C reaches it too (podman run in the foreground); otherwise it gets its own
        session, and ``stop``/``kill`` end its whole group."""
        ...

    def which(self, name: str) -> str | None: ...


class Started:
    """A child ``start`` launched. A missing executable is a child that ended with 127."""

    def __init__(self, argv: tuple[str, ...], proc: subprocess.Popen[bytes] | None,
                 forget: Callable[[subprocess.Popen[bytes]], None], *, ended: int = RC_NOT_FOUND) -> None:
        self.argv = argv
        self._proc = proc
        self._forget = forget
        self._ended = ended  # the status of a child that never ran (no proc)

    @classmethod
    def ended(cls, argv: Sequence[str], returncode: int) -> Started:
        """A child that already ended with ``returncode`` (fakes answer ``start`` with one)."""
        return cls(tuple(argv), None, lambda proc: None, ended=returncode)

    @property
    def pid(self) -> int | None:
        """None when the program could not be started (missing, not executable)."""
        return self._proc.pid if self._proc else None

    def poll(self) -> int | None:
        """The exit status once it ended (then it leaves the live set), else None."""
        if self._proc is None:
            return self._ended
        code = self._proc.poll()
        if code is not None:
            self._done()
        return code

    def wait(self, timeout: float | None) -> int | None:
        """Wait up to ``timeout`` seconds (None: until it ends); None when it still runs."""
        if self._proc is None:
            return self._ended
        try:
            code = self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self._done()
        return code

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the child itself (not its group); nothing when it has ended."""
        if self._proc is not None and self._proc.poll() is None:
            try:
                self._proc.send_signal(signum)
            except ProcessLookupError:
                pass

    def stop(self, grace_s: float = 2.0) -> int:
        """SIGTERM its process group, SIGKILL it after ``grace_s``; reap it; return its status.
        Stopping twice is harmless."""
        if self._proc is None:
            return self._ended
        try:
            if self._proc.poll() is None:
                _signal_group(self._proc, signal.SIGTERM)
                try:
                    return self._proc.wait(timeout=grace_s)
                except subprocess.TimeoutExpired:
                    _kill_group(self._proc)
            return self._proc.wait()
        finally:
            self._done()

    def kill(self) -> int:
        """Kill its whole process group and reap it."""
        if self._proc is None:
            return self._ended
        if self._proc.poll() is None:
            _kill_group(self._proc)
        code = self._proc.wait()
        self._done()
        return code

    def release(self) -> None:
        """Leave it running on its own (the user's browser): ``kill_all`` no longer reaches it."""
        if self._proc is not None:
            self._forget(self._proc)

    def stderr_text(self, limit: int = 4000) -> str:
        """What it wrote on stderr (``capture_stderr``), once it ended."""
        if self._proc is None:
            return f"{self.argv[0]}: command not found" if self._ended == RC_NOT_FOUND else ""
        if self._proc.stderr is None or self._proc.poll() is None:
            return ""
        return _decode(self._proc.stderr.read(limit))

    def _done(self) -> None:
        assert self._proc is not None
        self._forget(self._proc)


def _decode(data: bytes | None) -> str:
    if not data:
        return ""
    return data[:MAX_OUTPUT_BYTES].decode("utf-8", errors="replace")


class SubprocessRunner:
    """The real runner. ``base_env`` is the environment children start from."""

    def __init__(self, base_env: Mapping[str, str] | None = None) -> None:
        self._base_env = dict(os.environ if base_env is None else base_env)
        self._live: set[subprocess.Popen[bytes]] = set()
        self._lock = threading.Lock()
        # Programs whose `PROGRAM --version` timed out: hung (a hung podman). Asking them
        # anything else would wait for each call's own timeout, one after the other.
        self._hung: dict[str, float] = {}

    def _env(self, env: Mapping[str, str] | None) -> dict[str, str]:
        merged = dict(self._base_env)
        if env:
            merged.update(env)
        return merged

    def which(self, name: str) -> str | None:
        return shutil.which(name, path=self._base_env.get("PATH", os.defpath))

    def _spawn(self, argv: Sequence[str], *, stdin: int, stderr: int, env: dict[str, str],
               cwd: str | None) -> subprocess.Popen[bytes] | None:
        try:
            # Own session: a timeout kills the whole group (podman's conmon, xdpyinfo, ...).
            proc = subprocess.Popen(list(argv), stdin=stdin, stdout=subprocess.PIPE, stderr=stderr,
                                    env=env, cwd=cwd, start_new_session=True)
        except (FileNotFoundError, PermissionError, NotADirectoryError):
            return None
        with self._lock:
            self._live.add(proc)
        return proc

    def _skip_hung(self, argv: tuple[str, ...]) -> Completed | None:
        """A call to a program known to hang is not made: it is reported like the timeout it
        would end in (after as long as ``--version`` waited)."""
        program = os.path.basename(argv[0]) if argv else ""
        with self._lock:
            waited = self._hung.get(program)
        if waited is None:
            return None
        return Completed(argv, RC_TIMEOUT, "", f"not run: `{program} --version` did not answer", True, waited)

    def _forget(self, proc: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._live.discard(proc)

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        env: Mapping[str, str] | None = None,
        input: str | None = None,
        cwd: str | None = None,
    ) -> Completed:
        argv_t = tuple(argv)
        skipped = self._skip_hung(argv_t)
        if skipped is not None:
            return skipped
        started = time.monotonic()
        proc = self._spawn(argv_t, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                           stderr=subprocess.PIPE, env=self._env(env), cwd=cwd)
        if proc is None:
            return _not_found(argv_t)
        try:
            out, err = proc.communicate(input.encode() if input is not None else None, timeout=timeout)
            return Completed(argv_t, proc.returncode, _decode(out), _decode(err), False,
                             time.monotonic() - started)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            out, err = proc.communicate()
            elapsed = time.monotonic() - started
            if argv_t[1:] == ("--version",):
                with self._lock:
                    self._hung[os.path.basename(argv_t[0])] = elapsed
            return Completed(argv_t, RC_TIMEOUT, _decode(out), _decode(err), True, elapsed)
        except BaseException:
            # Ctrl-C while waiting: the child is in its own session, so the terminal's SIGINT
            # never reached it. It must not outlive us (a `chown -R` going on in the background).
            _kill_group(proc)
            raise
        finally:
            self._forget(proc)

    def stream(
        self,
        argv: Sequence[str],
        on_line: Callable[[str], None],
        *,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> Completed:
        argv_t = tuple(argv)
        skipped = self._skip_hung(argv_t)
        if skipped is not None:
            return skipped
        started = time.monotonic()
        proc = self._spawn(argv_t, stdin=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                           env=self._env(env), cwd=cwd)
        if proc is None:
            return _not_found(argv_t)
        timer = threading.Timer(timeout, _kill_group, (proc,)) if timeout else None
        if timer:
            timer.daemon = True
            timer.start()
        try:
            assert proc.stdout is not None
            _pump_lines(proc.stdout, on_line)
            rc = proc.wait()
        except BaseException:
            _kill_group(proc)  # interrupted: see run()
            raise
        finally:
            if timer:
                timer.cancel()
            self._forget(proc)
        elapsed = time.monotonic() - started
        timed_out = timeout is not None and elapsed >= timeout and rc < 0
        return Completed(argv_t, RC_TIMEOUT if timed_out else rc, "", "", timed_out, elapsed)

    def start(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: str | None = None,
              stdin: int | None = None, stdout: int | None = None, stderr: int | None = None,
              capture_stderr: bool = False, pass_fds: Sequence[int] = (), own_session: bool = True) -> Started:
        if capture_stderr and stderr is not None:
            raise ValueError("stderr goes to a file descriptor or is captured, not both")
        argv_t = tuple(argv)
        err = subprocess.PIPE if capture_stderr else (subprocess.DEVNULL if stderr is None else stderr)
        try:
            proc = subprocess.Popen(list(argv_t), env=self._env(env), cwd=cwd, start_new_session=own_session,
                                    stdin=subprocess.DEVNULL if stdin is None else stdin,
                                    stdout=subprocess.DEVNULL if stdout is None else stdout,
                                    stderr=err, pass_fds=tuple(pass_fds))
        except (FileNotFoundError, PermissionError, NotADirectoryError):
            return Started(argv_t, None, self._forget)
        with self._lock:
            self._live.add(proc)
        return Started(argv_t, proc, self._forget)

    def kill_all(self) -> int:
        """Kill every child still running (after a timed-out check); return how many."""
        with self._lock:
            live = list(self._live)
        for proc in live:
            _kill_group(proc)
        return len(live)


def _pump_lines(stream: IO[bytes], on_line: Callable[[str], None]) -> None:
    for raw in iter(stream.readline, b""):
        on_line(raw.decode("utf-8", errors="replace").rstrip("\n"))


def _signal_group(proc: subprocess.Popen[bytes], signum: int) -> None:
    """``signum`` to the child's process group; to the child alone when it leads none (a child
    started with ``own_session=False`` shares ours, which must not be signalled)."""
    try:
        if os.getpgid(proc.pid) == proc.pid:
            os.killpg(proc.pid, signum)
            return
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.send_signal(signum)
    except ProcessLookupError:
        pass


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    _signal_group(proc, signal.SIGKILL)


def _not_found(argv: tuple[str, ...]) -> Completed:
    return Completed(argv, RC_NOT_FOUND, "", f"{argv[0]}: command not found")
