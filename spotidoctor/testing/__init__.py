"""Fakes and helpers for testing checks (spotidoctor's own and third-party ones).

    ctx = make_context(tmp_path, files={"/etc/subuid": "alice:100000:65536\n"},
                       commands=[FakeCommand(("podman", "--version"), stdout="podman version 4.3.1\n")])
    result = MyCheck().run(ctx)

Fakes have the real probes' interfaces; the filesystem fake *is* the real one rooted at a
temporary sysroot, with optional owner overrides (a test cannot chown as non-root).
"""
from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from spotidoctor.api import Context
from spotidoctor.config import Config
from spotidoctor.memo import Memo
from spotidoctor.paths import Paths, UserInfo
from spotidoctor.probes import Probes, PulseProbe, X11Probe
from spotidoctor.probes.command import RC_NOT_FOUND, Completed, Started
from spotidoctor.probes.fs import RealFS, StatInfo
from spotidoctor.probes.http import HttpError, HttpProbe
from spotidoctor.probes.procs import Limit, ProcInfo

__all__ = ["FakeCommand", "FakeCommandRunner", "FakeFS", "FakeHttp", "FakeProcesses", "make_context",
           "write_tree", "DEFAULT_USER"]

DEFAULT_USER = UserInfo(uid=1600, gid=1600, name="alice", home="/home/alice")


@dataclass(frozen=True)
class FakeCommand:
    argv: tuple[str, ...]
    stdout: str = ""
    stderr: str = ""
    returncode: int = 0
    timed_out: bool = False
    # Optional side effect (e.g. create the file a real command would have written).
    effect: Callable[[], None] | None = field(default=None, compare=False)


class FakeCommandRunner:
    """Canned answers for exact argvs (Flutter's FakeProcessManager).

    ``ordered=True``: calls must come in the listed order. Otherwise any listed command may
    answer, once (``repeat=True``: any number of times). An unexpected command raises
    ``AssertionError``, which the runner turns into an ERROR result the test sees.
    Unlisted commands whose name is in ``missing`` answer like a missing executable.
    """

    def __init__(self, commands: Sequence[FakeCommand] = (), *, ordered: bool = False,
                 repeat: bool = False, missing: Sequence[str] = ()) -> None:
        self._commands = list(commands)
        self._ordered = ordered
        self._repeat = repeat
        self._missing = set(missing)
        self._lock = threading.Lock()
        self.calls: list[tuple[str, ...]] = []
        self.envs: list[Mapping[str, str] | None] = []

    def _answer(self, argv: tuple[str, ...], env: Mapping[str, str] | None) -> Completed:
        with self._lock:
            self.calls.append(argv)
            self.envs.append(env)
            if self._ordered:
                candidates = self._commands[:1]
            else:
                candidates = [c for c in self._commands if c.argv == argv]
            match = next((c for c in candidates if c.argv == argv), None)
            if match is None:
                if argv and argv[0] in self._missing:
                    return Completed(argv, RC_NOT_FOUND, "", f"{argv[0]}: command not found")
                expected = candidates[0].argv if candidates else "nothing"
                raise AssertionError(f"unexpected command {argv!r}; expected {expected!r}")
            if not self._repeat:
                self._commands.remove(match)
        if match.effect:
            match.effect()
        return Completed(argv, 124 if match.timed_out else match.returncode, match.stdout, match.stderr,
                         match.timed_out)

    def run(self, argv: Sequence[str], *, timeout: float = 10.0, env: Mapping[str, str] | None = None,
            input: str | None = None, cwd: str | None = None) -> Completed:
        return self._answer(tuple(argv), env)

    def stream(self, argv: Sequence[str], on_line: Callable[[str], None], *, timeout: float | None = None,
               env: Mapping[str, str] | None = None, cwd: str | None = None) -> Completed:
        done = self._answer(tuple(argv), env)
        for line in (done.stdout + done.stderr).splitlines():
            on_line(line)
        return done

    def start(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: str | None = None,
              stdin: int | None = None, stdout: int | None = None, stderr: int | None = None,
              capture_stderr: bool = False, pass_fds: Sequence[int] = (), own_session: bool = True) -> Started:
        """A child that has already ended: the canned output is written to ``stdout``/``stderr``
        when they are descriptors, and its returncode is the child's status."""
        done = self._answer(tuple(argv), env)
        for fd, text in ((stdout, done.stdout), (stderr, done.stderr)):
            if fd is not None and text:
                os.write(fd, text.encode())
        return Started.ended(argv, done.returncode)

    def which(self, name: str) -> str | None:
        if name in self._missing:
            return None
        return f"/usr/bin/{name}"

    @property
    def exhausted(self) -> bool:
        return not self._commands


class FakeHttp:
    """Canned HTTP answers by URL (bytes, or an ``HttpError`` to raise); any other URL fails
    like an unreachable server, so no test reaches the real network. ``asked`` lists the URLs."""

    def __init__(self, answers: Mapping[str, bytes | HttpError] | None = None) -> None:
        self.answers = dict(answers or {})
        self.asked: list[str] = []

    def get(self, url: str, *, timeout: float, limit: int) -> bytes:
        self.asked.append(url)
        answer = self.answers.get(url, HttpError(url, "no answer set up in this test"))
        if isinstance(answer, HttpError):
            raise answer
        return answer


class FakeFS(RealFS):
    """The real filesystem probe over a sysroot, with owners that a test may override."""

    def __init__(self, sysroot: str | os.PathLike[str],
                 owners: Mapping[str, tuple[int, int]] | None = None) -> None:
        super().__init__(sysroot)
        self.owners = dict(owners or {})

    def _owned(self, path: str, st: StatInfo | None) -> StatInfo | None:
        if st is None or os.path.normpath(path) not in self.owners:
            return st
        uid, gid = self.owners[os.path.normpath(path)]
        return StatInfo(uid, gid, st.mode, st.size, st.mtime, st.dev, st.ino, st.nlink)

    def lstat(self, path: str) -> StatInfo | None:
        return self._owned(path, super().lstat(path))

    def stat(self, path: str) -> StatInfo | None:
        return self._owned(path, super().stat(path))


@dataclass
class FakeProcesses:
    procs: list[ProcInfo] = field(default_factory=list)
    limits: dict[str, Limit] = field(default_factory=lambda: {
        name: Limit(None, None) for name in ("as", "data", "nproc")} | {"nofile": Limit(1024, 524288)})

    def processes(self) -> list[ProcInfo]:
        return list(self.procs)

    def rlimits(self) -> dict[str, Limit]:
        return dict(self.limits)


def write_tree(root: str | os.PathLike[str], files: Mapping[str, str | bytes]) -> None:
    """Create ``files`` (absolute paths -> content) under ``root``."""
    for path, content in files.items():
        target = os.path.join(os.fspath(root), path.lstrip("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as fh:
            fh.write(content.encode() if isinstance(content, str) else content)


class _Unavailable:
    """Stands in for a probe a test did not set up: every call says it cannot tell."""

    def __init__(self, what: str) -> None:
        self._what = what

    def __getattr__(self, name: str) -> Callable[..., object]:
        def unavailable(*args: object, **kwargs: object) -> object:
            from spotidoctor.errors import ProbeUnavailable

            raise ProbeUnavailable(f"{self._what} probe not configured in this test ({name})")

        return unavailable


def make_context(
    sysroot: str | os.PathLike[str],
    *,
    files: Mapping[str, str | bytes] | None = None,
    commands: FakeCommandRunner | Sequence[FakeCommand] = (),
    env: Mapping[str, str] | None = None,
    user: UserInfo = DEFAULT_USER,
    config: Config | None = None,
    x11: X11Probe | None = None,
    pulse: PulseProbe | None = None,
    procs: FakeProcesses | None = None,
    owners: Mapping[str, tuple[int, int]] | None = None,
    fs: RealFS | None = None,
    http: HttpProbe | None = None,
) -> Context:
    """A full Context over fakes. Unset probes raise ``ProbeUnavailable`` when used."""
    if files:
        write_tree(sysroot, files)
    base_env = {"HOME": user.home, "USER": user.name, "PATH": "/usr/bin:/bin",
                "XDG_RUNTIME_DIR": f"/run/user/{user.uid}"}
    full_env = {**base_env, **(env or {})}
    runner = commands if isinstance(commands, FakeCommandRunner) else FakeCommandRunner(commands)
    probes = Probes(
        cmd=runner,
        fs=fs or FakeFS(sysroot, owners),
        x11=x11 if x11 is not None else _Unavailable("X11"),  # type: ignore[arg-type]  # raises ProbeUnavailable
        pulse=pulse if pulse is not None else _Unavailable("pulse"),  # type: ignore[arg-type]  # raises ProbeUnavailable
        procs=procs or FakeProcesses(),
        http=http or FakeHttp(),
    )
    return Context(probes=probes, env=full_env, user=user,
                   paths=Paths.from_env(full_env, user.home), config=config or Config(), memo=Memo())
