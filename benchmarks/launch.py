"""The launch figures: `spotidoctor launch` vs the original design's way vs a bare `podman run`
of the launch's own recorded argv (and, for context, the launch with its full preflight), all
interleaved in one run, per storage size.

- spotidoctor: `spotidoctor launch -- --probe-shm` (the stand-in prints its uid and /dev/shm
  and exits 0 at once, so only the launch machinery is timed); after one full launch the
  stamp is there, so this is the fast path a user's second launch of the day takes;
- the original design's way: `podman unshare chown -R 1500:1500 STORAGE`, then `podman run`
  with the same argv (its mounts);
- full (context): the same launch with the stamp removed first, so the whole preflight runs
  (what every launch did before the fast path);
- bare: `podman run` with exactly the argv spotidoctor recorded in the newest launch record.
  The per-launch channels' sockets and files (the audio filter's socket, the untrusted X
  cookie, the URL opener) are gone once a launch ends: empty stand-ins are put at those
  paths before each baseline run, so podman finds every mount source.
"""
from __future__ import annotations

import json
import shlex
import statistics
from collections.abc import Callable
from pathlib import Path

from environment import CONTAINER_UID, Healthy, give_to_container_user, populate, remove_tree
from harness import Figure, Run, run_process

LAUNCH_VS_ORIGINAL = 0.75
LAUNCH_ADDED_S = 0.15
QUICK_ARGS = ("--probe-shm",)


def newest_argv(env: dict[str, str]) -> list[str]:
    launches = Path(env["XDG_STATE_HOME"]) / "spotidoctor" / "launches"
    records = sorted(launches.glob("*/launch.json"))
    if not records:
        raise RuntimeError(f"no launch record under {launches}")
    argv = json.loads(records[-1].read_text())["argv"]
    assert isinstance(argv, list)
    return [str(a) for a in argv]


def mount_stand_ins(argv: list[str]) -> None:
    """Put an empty file (a directory where another source lies below it) where a mount
    source is missing, and make the log's directory."""
    sources = []
    for arg in argv:
        if arg.startswith("--volume="):
            sources.append(Path(arg.split("=", 1)[1].split(":", 1)[0]))
        elif arg.startswith("--log-opt=path="):
            Path(arg.split("=", 2)[2]).parent.mkdir(parents=True, exist_ok=True)
    parents = {p for s in sources for p in s.parents}
    for source in sorted(sources):
        if source.exists() or source.is_symlink():
            continue
        if source in parents:
            source.mkdir(parents=True, exist_ok=True, mode=0o700)
        else:
            source.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            source.touch(mode=0o600)


def rotated(sides: dict[str, Callable[[], Run]], repeat: int, warmup: int) -> dict[str, list[Run]]:
    """``warmup`` unrecorded rounds, then ``repeat`` rounds of every side, the order rotating."""
    names = list(sides)
    for _ in range(warmup):
        for name in names:
            sides[name]()
    runs: dict[str, list[Run]] = {name: [] for name in names}
    for i in range(repeat):
        order = names[i % len(names):] + names[:i % len(names)]
        for name in order:
            runs[name].append(sides[name]())
    return runs


def _median(runs: list[Run]) -> float:
    return statistics.median(r.seconds for r in runs)


def figure_launch(repeat: int, warmup: int, healthy: Healthy, spotidoctor: list[str], files: int,
                  workdir: Path, say: Callable[[str], None]) -> list[Figure]:
    env = healthy.env
    say(f"  the storage made anew with {files:,} files, owned by the container user")
    remove_tree(env, healthy.storage)
    populate(healthy.storage, files)
    give_to_container_user(env, healthy.storage)
    entries = sum(1 for _ in healthy.storage.rglob("*"))
    ours_argv = [*spotidoctor, "launch", "--", *QUICK_ARGS]
    first = run_process(ours_argv, env=env, capture=True)  # the full preflight; leaves the stamp
    argv = newest_argv(env)
    script = workdir / "original.sh"
    chown = f"podman unshare chown -R {CONTAINER_UID}:{CONTAINER_UID} -- {shlex.quote(str(healthy.storage))}"
    script.write_text(f"#!/bin/sh\nset -e\n{chown}\nexec {' '.join(shlex.quote(a) for a in argv)}\n")
    notes: list[str] = []
    fast_seen: list[bool] = []

    def ours() -> Run:
        run = run_process(ours_argv, env=env, capture=True)
        fast_seen.append("nothing changed since the last clean launch" in run.stdout)
        if run.returncode != 0 and not notes:
            notes.append(f"a launch failed (exit {run.returncode}): {run.stdout[-300:]}{run.stderr[-300:]}")
        return run

    stamp = Path(env["XDG_STATE_HOME"]) / "spotidoctor" / "launch-stamp.json"

    def full() -> Run:  # what every launch did before the fast path: the whole preflight
        stamp.unlink(missing_ok=True)
        return run_process(ours_argv, env=env)

    def original() -> Run:
        mount_stand_ins(argv)
        return run_process(["sh", str(script)], env=env)

    def bare() -> Run:
        mount_stand_ins(argv)
        return run_process(argv, env=env)

    runs = rotated({"ours": ours, "full": full, "original": original, "bare": bare}, repeat, warmup)
    label = f"{entries:,} storage entries"
    vs_original = Figure(f"launch-{files // 1000}k-original", f"`spotidoctor launch`, {label}",
                         "the original design's way: `podman unshare chown -R` + `podman run`",
                         f"≤ {LAUNCH_VS_ORIGINAL}×")
    vs_bare = Figure(f"launch-{files // 1000}k-bare", f"`spotidoctor launch`, {label}",
                     "a bare `podman run` of the launch's recorded argv", f"≤ +{LAUNCH_ADDED_S} s")
    ours_s, orig_s, bare_s = _median(runs["ours"]), _median(runs["original"]), _median(runs["bare"])
    all_runs = {k: [r.seconds for r in v] for k, v in runs.items()}
    vs_original.ours_s, vs_original.baseline_s, vs_original.ratio = ours_s, orig_s, ours_s / orig_s
    vs_original.passed = ours_s <= LAUNCH_VS_ORIGINAL * orig_s
    vs_bare.ours_s, vs_bare.baseline_s, vs_bare.ratio = ours_s, bare_s, ours_s / bare_s
    vs_bare.extra["added_s"] = round(ours_s - bare_s, 4)
    vs_bare.passed = ours_s - bare_s <= LAUNCH_ADDED_S
    full_s = _median(runs["full"])
    vs_full = Figure(f"launch-{files // 1000}k-full", f"`spotidoctor launch` with the full preflight, {label} "
                     "(context: the first launch of the day, or after a change)",
                     "the original design's way", "informational", informational=True)
    vs_full.ours_s, vs_full.baseline_s, vs_full.ratio = full_s, orig_s, full_s / orig_s
    vs_full.extra["added_to_bare_s"] = round(full_s - bare_s, 4)
    for fig in (vs_original, vs_bare, vs_full):
        fig.runs = all_runs
        fig.notes += notes
        fig.extra["first_launch_s"] = round(first.seconds, 4)
    if not all(fast_seen):
        vs_bare.notes.append(f"the fast path was not taken in {fast_seen.count(False)} of {len(fast_seen)} launches")
    vs_bare.notes.append(f"the first launch (full preflight, writes the stamp) took {first.seconds:.3f} s")
    return [vs_original, vs_bare, vs_full]
