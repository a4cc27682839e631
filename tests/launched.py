"""`spotidoctor launch` in the background, for tests that watch a running client from the host
(tests/witness.py) and then end it the way a user does, with `podman stop`."""
from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

STOP_TIMEOUT_S = 120


@dataclass
class Launched:
    proc: subprocess.Popen[str]
    container_name: str
    env: Mapping[str, str]
    output: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode


def stop(launched: Launched) -> None:
    """`podman stop` with the launch's own environment (its podman may use a private runtime dir,
    where runc keeps the container's state: another environment's podman cannot stop it), then
    collect the launch's output; a launch that does not end is killed and says so."""
    subprocess.run(["podman", "stop", "--time", "10", launched.container_name], env=dict(launched.env),
                   capture_output=True, timeout=STOP_TIMEOUT_S)
    try:
        launched.output, _ = launched.proc.communicate(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        launched.proc.kill()
        launched.output, _ = launched.proc.communicate(timeout=30)
        launched.notes.append("the launch did not end after podman stop and was killed")


@contextmanager
def running_launch(env: Mapping[str, str], image: str, container_name: str, *launch_args: str,
                   spotify_args: Sequence[str] = ()) -> Iterator[Launched]:
    """`spotidoctor launch --image IMAGE --container-name NAME --yes ARGS -- SPOTIFY_ARGS`, stopped on exit."""
    argv = [sys.executable, "-m", "spotidoctor", "launch", "--image", image, "--container-name", container_name,
            "--yes", *launch_args, "--", *spotify_args]
    proc = subprocess.Popen(argv, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    launched = Launched(proc, container_name, env)
    try:
        yield launched
    finally:
        stop(launched)
