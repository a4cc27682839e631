"""A private HOME/XDG tree and PATH for running the real ``spotidoctor`` CLI in a subprocess.

- ``Sandbox.create(tmp_path)``: HOME, XDG_{CONFIG,STATE,CACHE,DATA}_HOME and a private 0700
  XDG_RUNTIME_DIR under ``tmp_path``; a PATH of its own whose ``bin/`` links every host
  tool except the hidden ones (podman and buildah by default, so no test starts a second
  rootless podman with its pause process) and holds the stand-ins a test writes.
- ``spy_podman``: a ``podman`` stand-in that records every argv and answers like a working
  rootless podman 4.3.1 for this user, so checks and fixes run their whole course while
  nothing real happens (a chown it records is proof enough that spotidoctor asked for it).
- ``hung_tool``: a stand-in that never answers.
- ``Sandbox.run``: the CLI with a unique marker in its environment; ``strays()`` lists
  processes that still carry it afterwards (everything spotidoctor starts inherits it).
- ``assert_sane``: no traceback, no internal error (exit 3), no crashed check, no crash log.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tests import servers

SEARCH_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
HIDDEN = ("podman", "buildah")
MARKER = "SPOTIDOCTOR_ROBUSTNESS_RUN"
# The runner's summary for a check that raised, as text ("[?] id: crashed: ...") and as JSON.
CRASHED_CHECK = re.compile(r'\[\?\] [\w.-]+: crashed: |"summary": "crashed: ')
CLI_TIMEOUT_S = 240


@dataclass
class Sandbox:
    root: Path
    home: Path
    bin: Path
    env: dict[str, str]
    runs: list[str] = field(default_factory=list)  # markers of the runs started

    @classmethod
    def create(cls, root: Path, home_name: str = "home", *, hide: Iterable[str] = HIDDEN,
               env: Mapping[str, str] | None = None) -> Sandbox:
        # The CLI as a user runs it: as root, podman.rootless fails and guards differ.
        servers.require()  # skips as root locally, fails in CI (which runs as the test user)
        home = root / home_name
        runtime = root / "run"
        bin_dir = root / "bin"
        for directory in (home, home / ".config", runtime, bin_dir):
            directory.mkdir(parents=True, exist_ok=True)
        runtime.chmod(0o700)
        _link_tools(bin_dir, set(hide))
        base = {
            "HOME": str(home), "USER": _login(), "LOGNAME": _login(), "LANG": "C.UTF-8", "NO_COLOR": "1",
            "PATH": str(bin_dir), "XDG_RUNTIME_DIR": str(runtime),
            "XDG_CONFIG_HOME": str(home / ".config"), "XDG_STATE_HOME": str(home / ".local" / "state"),
            "XDG_CACHE_HOME": str(home / ".cache"), "XDG_DATA_HOME": str(home / ".local" / "share"),
            "SPOTIDOCTOR_SPY_LOG": str(root / "spy.jsonl"),
        }
        base.update(env or {})
        return cls(root, home, bin_dir, base)

    # -- paths ----------------------------------------------------------------------------
    @property
    def state_dir(self) -> Path:
        return Path(self.env["XDG_STATE_HOME"]) / "spotidoctor"

    @property
    def config_file(self) -> Path:
        return Path(self.env["XDG_CONFIG_HOME"]) / "spotidoctor" / "config.toml"

    @property
    def runtime_dir(self) -> Path:
        return Path(self.env["XDG_RUNTIME_DIR"])

    def write_config(self, text: str | bytes) -> None:
        self.config_file.parent.mkdir(parents=True, exist_ok=True)
        self.config_file.write_bytes(text.encode() if isinstance(text, str) else text)

    # -- running ------------------------------------------------------------------------------
    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "spotidoctor", *args]

    def run_env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        marker = uuid.uuid4().hex
        self.runs.append(marker)
        return {**self.env, **(extra or {}), MARKER: marker}

    def run(self, *args: str, env: Mapping[str, str] | None = None, input: str | None = None,
            timeout: float = CLI_TIMEOUT_S, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        # Output may carry a HOME that is not UTF-8: decode it the way a terminal shows it.
        return subprocess.run(self.argv(*args), env=self.run_env(env), capture_output=True, text=True,
                              errors="replace", input=input, timeout=timeout, cwd=cwd or self.root)

    def popen(self, *args: str, env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(self.argv(*args), env=self.run_env(env), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, errors="replace", cwd=self.root,
                                start_new_session=True)

    def strays(self) -> list[str]:
        """Processes still carrying one of this sandbox's run markers (command lines)."""
        import psutil

        wanted = {f"{MARKER}={m}" for m in self.runs}
        found = []
        for proc in psutil.process_iter(["pid", "cmdline", "uids"]):
            try:
                if proc.info["uids"] is None or proc.info["uids"].real != os.getuid():
                    continue
                environ = proc.environ()
            except (psutil.Error, OSError):
                continue
            if any(f"{k}={v}" in wanted for k, v in environ.items()):
                found.append(f"{proc.pid}: {' '.join(proc.info['cmdline'] or [])}")
        return found

    def chown_targets(self) -> list[str]:
        """The trees the storage fix asked ``podman unshare find ... -exec chown`` to chown."""
        return [call[4] for call in self.spy_calls() if call[1:3] == ["unshare", "find"] and "chown" in call]

    def spy_calls(self) -> list[list[str]]:
        log = Path(self.env["SPOTIDOCTOR_SPY_LOG"])
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]

    # -- stand-ins ------------------------------------------------------------------------------
    def standin(self, name: str, script: str) -> Path:
        path = self.bin / name
        if path.is_symlink() or path.exists():
            path.unlink()
        path.write_text(script)
        path.chmod(0o755)
        return path

    def spy_podman(self) -> Path:
        return self.standin("podman", SPY_PODMAN.format(python=sys.executable, info=_podman_info_json(),
                                                        uid_map=_id_map("/etc/subuid", os.getuid()),
                                                        gid_map=_id_map("/etc/subgid", os.getgid())))

    def spy(self, name: str, stdout: str = "", code: int = 0) -> Path:
        """A tool that records its argv (with its name first) and answers ``stdout``/``code``."""
        return self.standin(name, SPY_TOOL.format(python=sys.executable, name=name, stdout=stdout, code=code))

    def hung_tool(self, name: str) -> Path:
        sleep = shlex.quote(_which("sleep"))
        return self.standin(name, f"#!/bin/sh\n# a {name} that never answers\nexec {sleep} 600\n")


def assert_sane(done: subprocess.CompletedProcess[str], box: Sandbox | None = None) -> None:
    """The run ended the way bad input should end: no traceback, no internal error, no check
    that crashed (that is a bug in the check), no crash log written."""
    both = done.stdout + done.stderr
    assert "Traceback" not in both, both[-3000:]
    assert done.returncode != 3, both[-3000:]
    assert "internal error" not in done.stderr, done.stderr[-3000:]
    assert not CRASHED_CHECK.search(both), CRASHED_CHECK.search(both)
    if box is not None:
        crash_logs = sorted(box.state_dir.glob("crash-*.md")) if box.state_dir.exists() else []
        assert not crash_logs, crash_logs[0].read_text()[-3000:]


def json_results(done: subprocess.CompletedProcess[str]) -> dict[str, dict[str, object]]:
    doc = json.loads(done.stdout)
    assert doc["schema"] == 1 and doc["exit_code"] == done.returncode
    return {r["id"]: r for r in doc["results"]}


def text_of(result: Mapping[str, object]) -> str:
    """A JSON result's summary and message texts, one string (for ``in`` assertions)."""
    messages = result.get("messages") or []
    assert isinstance(messages, list)
    parts = [str(result["summary"])]
    for m in messages:
        parts.append(str(m["text"]))
        parts += [str(a) for a in m.get("advice") or []]
    return "\n".join(parts)


# -- helpers -------------------------------------------------------------------------------------

def _login() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


def _which(name: str) -> str:
    for directory in SEARCH_PATH:
        candidate = os.path.join(directory, name)
        if os.access(candidate, os.X_OK):
            return candidate
    raise FileNotFoundError(name)


def _link_tools(bin_dir: Path, hidden: set[str]) -> None:
    for directory in SEARCH_PATH:
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        for name in names:
            target = os.path.join(directory, name)
            link = bin_dir / name
            if name in hidden or link.exists() or link.is_symlink() or not os.access(target, os.X_OK):
                continue
            link.symlink_to(target)


def _subid_ranges(path: str, uid: int) -> list[tuple[int, int]]:
    import pwd

    name = pwd.getpwuid(os.getuid()).pw_name
    ranges = []
    try:
        text = Path(path).read_text()
    except OSError:
        return []
    for line in text.splitlines():
        fields = line.strip().split(":")
        if len(fields) == 3 and fields[0] in (name, str(uid)) and fields[1].isdigit() and fields[2].isdigit():
            ranges.append((int(fields[1]), int(fields[2])))
    return ranges


def _id_map(path: str, own: int) -> str:
    """The map rootless podman would build: 0 -> you, then the ranges end to end."""
    rows = [(0, own, 1)]
    inside = 1
    for start, count in _subid_ranges(path, own):
        rows.append((inside, start, count))
        inside += count
    return "".join(f"{a:>10} {b:>10} {c:>10}\n" for a, b, c in rows)


def _podman_info_json() -> str:
    data = json.loads((Path(__file__).parent.parent / "data" / "podman_info_4.3.1_rootless_runc.json").read_text())
    for key, path, own in (("uidmap", "/etc/subuid", os.getuid()), ("gidmap", "/etc/subgid", os.getgid())):
        rows = [{"container_id": 0, "host_id": own, "size": 1}]
        inside = 1
        for start, count in _subid_ranges(path, own):
            rows.append({"container_id": inside, "host_id": start, "size": count})
            inside += count
        data["host"]["idMappings"][key] = rows
    return json.dumps(data)


# A podman that records every call and answers like a working rootless podman 4.3.1 whose
# image and container do not exist. Nothing is ever run, chowned or created.
SPY_PODMAN = textwrap.dedent('''\
    #!{python}
    import json, os, shutil, sys, time
    args = sys.argv[1:]
    with open(os.environ["SPOTIDOCTOR_SPY_LOG"], "a") as fh:
        fh.write(json.dumps(["podman", *args]) + "\\n")
    INFO = {info!r}
    MAPS = {{"/proc/self/uid_map": {uid_map!r}, "/proc/self/gid_map": {gid_map!r}}}
    if args[:1] == ["--version"]:
        print("podman version 4.3.1")
    elif args[:1] == ["info"]:
        print(INFO)
    elif args[:2] == ["unshare", "cat"] and args[2:3] and args[2] in MAPS:
        sys.stdout.write(MAPS[args[2]])
    elif args[:2] == ["unshare", "find"] and "chown" in args:  # the storage chown: recorded, not run;
        open(os.environ["SPOTIDOCTOR_SPY_LOG"] + ".chown-started", "a").close()  # hooks for fault injection:
        time.sleep(float(os.environ.get("SPOTIDOCTOR_SPY_CHOWN_SLEEP", "0")))  # a slow chown of a big tree
        doomed = os.environ.get("SPOTIDOCTOR_SPY_CHOWN_REMOVES")  # something else deletes a tree
        if doomed and args[3] != doomed:
            shutil.rmtree(doomed, ignore_errors=True)
    elif args[:1] == ["unshare"]:
        pass  # find, mkdir: recorded, not run
    elif args[:2] == ["image", "exists"] and os.environ.get("SPOTIDOCTOR_SPY_IMAGE") == "present":
        pass
    elif args[:2] == ["image", "inspect"] and os.environ.get("SPOTIDOCTOR_SPY_IMAGE") == "present":
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        print(json.dumps([{{"Id": "sha256:" + "ab" * 32, "Created": created,
                           "Config": {{"User": "1500:1500", "Labels": {{}}}}, "Labels": {{}}}}]))
    elif args[:2] in (["image", "exists"], ["container", "exists"]):
        sys.exit(1)
    elif args[:2] == ["image", "inspect"]:  # podman 4.3's own words
        print("[]")
        print(f"Error: inspecting object: {{args[-1]}}: image not known", file=sys.stderr)
        sys.exit(125)
    elif args[:2] == ["container", "inspect"]:
        print("[]")
        print(f"Error: inspecting object: no such container {{args[-1]}}", file=sys.stderr)
        sys.exit(125)
    elif args[:1] == ["run"]:
        for arg in args:  # a launch: the container log podman's k8s-file driver would write
            if arg.startswith("--log-opt=path="):
                with open(arg[len("--log-opt=path="):], "a") as log:
                    log.write(time.strftime("%Y-%m-%dT%H:%M:%S.000000000+00:00") + " stdout F spotify: started\\n")
        print("catatonit version 0.1.7")
    ''')

SPY_TOOL = textwrap.dedent('''\
    #!{python}
    import json, os, sys
    with open(os.environ["SPOTIDOCTOR_SPY_LOG"], "a") as fh:
        fh.write(json.dumps([{name!r}, *sys.argv[1:]]) + "\\n")
    sys.stdout.write({stdout!r})
    sys.exit({code})
    ''')
