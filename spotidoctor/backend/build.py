"""Build the image with buildah: the argv as data, a runner that streams the output to a
progress display and keeps the full log, and the ``BuildImage`` fix step.

The bundled recipe needs no build context, so it is written to
``$XDG_STATE_HOME/spotidoctor/build/`` and built there; a user's Containerfile is built
in its own directory (so its ``COPY`` lines work). When the build prints the Spotify
version (the bundled recipe does), a label-only second build adds it as a label.
"""
from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import ClassVar

from spotidoctor.backend.failures import BuildFailure, classify, fix_failure_text
from spotidoctor.backend.keyrotation import rebuild_prefix
from spotidoctor.backend.progress import BuildDisplay, QuietDisplay, make_display
from spotidoctor.backend.recipe import (
    BUNDLED,
    LABEL_SPOTIFY_VERSION,
    VERSION_MARK,
    Recipe,
    build_labels,
    effective_build_args,
    load_recipe,
    parse_build_args,
)
from spotidoctor.backend.rollback import keep_previous, settle
from spotidoctor.config import Config
from spotidoctor.errors import FixFailed, UsageError
from spotidoctor.fixes import Fix, Step, StepEnv
from spotidoctor.paths import Paths
from spotidoctor.probes import Probes
from spotidoctor.types import JSONValue

__all__ = ["BuildRequest", "BuildOutcome", "BuildImage", "build_argv", "run_build", "build_fix",
           "request_from_config", "BUILD_FIX_ID", "BUILD_TIMEOUT_S"]

BUILD_FIX_ID = "image.build"
BUILD_TIMEOUT_S = 3600.0  # Debian base + Spotify's ~150 MB package on a slow line
KEEP_BUILD_LOGS = 10


@dataclass(frozen=True)
class BuildRequest:
    image: str
    recipe: Recipe
    build_args: tuple[tuple[str, str], ...] = ()  # sorted (KEY, VALUE)
    no_cache: bool = False
    network: str = ""  # buildah --network for RUN steps ("" = buildah's default)

    @classmethod
    def create(cls, image: str, recipe: Recipe, build_args: Mapping[str, str], *, no_cache: bool = False,
               network: str = "") -> BuildRequest:
        return cls(image, recipe, tuple(sorted(build_args.items())), no_cache, network)

    @property
    def args(self) -> dict[str, str]:
        return dict(self.build_args)


@dataclass(frozen=True)
class BuildOutcome:
    image: str
    returncode: int
    log_path: str
    image_id: str = ""
    spotify_version: str | None = None
    failure: BuildFailure | None = None
    previous: str = ""  # IMAGE:previous when the build kept the image it replaced

    @property
    def ok(self) -> bool:
        return self.failure is None


def build_argv(*, image: str, containerfile: str, context_dir: str, build_args: Mapping[str, str] = {},
               labels: Mapping[str, str] = {}, no_cache: bool = False, network: str = "",
               pull: str | None = None, iidfile: str | None = None) -> tuple[str, ...]:
    """``buildah bud`` for one image. No ``--layers``: a rebuild must fetch a new Spotify,
    not reuse a cached ``apt-get install`` layer."""
    argv = ["buildah", "bud", "--file", containerfile, "--tag", image]
    for key in sorted(build_args):
        argv += ["--build-arg", f"{key}={build_args[key]}"]
    for key in sorted(labels):
        argv += ["--label", f"{key}={labels[key]}"]
    if no_cache:
        argv.append("--no-cache")
    if network:
        argv.append(f"--network={network}")
    if pull:
        argv.append(f"--pull={pull}")
    if iidfile:
        argv += ["--iidfile", iidfile]
    argv.append(context_dir)
    return tuple(argv)


def work_dir(paths: Paths) -> str:
    return os.path.join(paths.state_dir, "build")


def logs_dir(paths: Paths) -> str:
    return os.path.join(paths.state_dir, "builds")


def _write_bundled(probes: Probes, paths: Paths, recipe: Recipe) -> None:
    if recipe.is_bundled:
        path = os.path.join(work_dir(paths), "Containerfile")
        probes.fs.write_atomic(path, recipe.text.encode(), mode=0o644)


def planned_argv(paths: Paths, request: BuildRequest, built_at: str) -> tuple[str, ...]:
    containerfile = (os.path.join(work_dir(paths), "Containerfile") if request.recipe.is_bundled
                     else request.recipe.source)
    context = work_dir(paths) if request.recipe.is_bundled else (request.recipe.context_dir or ".")
    return build_argv(image=request.image, containerfile=containerfile, context_dir=context,
                      build_args=request.args, labels=build_labels(request.recipe, request.args, built_at),
                      no_cache=request.no_cache, network=request.network,
                      iidfile=os.path.join(work_dir(paths), "iid"))


def _stream(probes: Probes, argv: Sequence[str], lines: list[str], display: BuildDisplay) -> tuple[int, bool]:
    def on_line(text: str) -> None:
        lines.append(text)
        display.line(text)

    lines.append(f"$ {shlex.join(argv)}")
    done = probes.cmd.stream(argv, on_line, timeout=BUILD_TIMEOUT_S)
    if done.returncode == 127 and "not found" in done.stderr:
        lines.append(done.stderr)
    lines.append(f"# exit status {done.returncode}")
    return done.returncode, done.timed_out


def _save_log(probes: Probes, paths: Paths, log_path: str, lines: Sequence[str]) -> None:
    probes.fs.write_atomic(log_path, ("\n".join(lines) + "\n").encode(), mode=0o600)
    for old in sorted(probes.fs.listdir(logs_dir(paths)), reverse=True)[KEEP_BUILD_LOGS:]:
        probes.fs.unlink(os.path.join(logs_dir(paths), old))


def _read_iid(probes: Probes, paths: Paths) -> str:
    text = probes.fs.read_text_or_none(os.path.join(work_dir(paths), "iid")) or ""
    return text.strip()


def _add_version_label(probes: Probes, paths: Paths, request: BuildRequest, base_id: str, version: str,
                       lines: list[str], display: BuildDisplay) -> str:
    """A label-only build on top of the new image; returns the final image id ("" if it failed)."""
    containerfile = os.path.join(work_dir(paths), "Containerfile.label")
    probes.fs.write_atomic(containerfile, f"FROM {base_id.removeprefix('sha256:')}\n".encode(), mode=0o644)
    argv = build_argv(image=request.image, containerfile=containerfile, context_dir=work_dir(paths),
                      labels={LABEL_SPOTIFY_VERSION: version}, pull="never",
                      iidfile=os.path.join(work_dir(paths), "iid"))
    rc, _ = _stream(probes, argv, lines, display)
    if rc != 0:
        return ""
    # The unlabelled image is now untagged: remove it so rebuilds do not pile up.
    probes.cmd.run(("buildah", "rmi", base_id.removeprefix("sha256:")), timeout=60)
    return _read_iid(probes, paths)


def current_id_argv(image: str) -> tuple[str, ...]:
    return ("podman", "image", "inspect", "--format", "{{.Id}}", image)


def run_build(probes: Probes, paths: Paths, request: BuildRequest, display: BuildDisplay,
              now: datetime | None = None) -> BuildOutcome:
    """Build ``request.image``; the full output goes to a log under the state dir. The image it
    replaces is kept as ``IMAGE:previous`` (``backend.rollback``)."""
    when = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    log_path = os.path.join(logs_dir(paths), when.strftime("%Y%m%d-%H%M%S") + ".log")
    probes.fs.makedirs(work_dir(paths))  # buildah writes --iidfile there but does not create the dir
    probes.fs.unlink(os.path.join(work_dir(paths), "iid"))
    _write_bundled(probes, paths, request.recipe)
    argv = planned_argv(paths, request, when.strftime("%Y-%m-%dT%H:%M:%SZ"))
    lines: list[str] = [f"# spotidoctor build of {request.image} from {request.recipe.source}, "
                        f"{when.isoformat()}"]
    display.start(request.image, log_path)
    kept = keep_previous(probes.cmd, request.image, lines.append)
    ok, image_id = False, ""
    try:
        rc, timed_out = _stream(probes, argv, lines, display)
        if rc != 0:
            rebuild = rebuild_prefix(request.image, request.recipe.source, request.network, request.args,
                                     with_key_url=True)
            return BuildOutcome(request.image, rc, log_path, failure=classify(lines, rc, timed_out, rebuild))
        image_id = _read_iid(probes, paths)
        version = next((m.group(1) for m in map(VERSION_MARK.match, lines) if m), None)
        if version and image_id:
            image_id = _add_version_label(probes, paths, request, image_id, version, lines, display) or image_id
        ok = True
        return BuildOutcome(request.image, 0, log_path, image_id, version, previous=kept.name if kept.replaced else "")
    finally:
        settle(probes.cmd, kept, image_id, ok, lines.append)
        display.finish(ok)
        _save_log(probes, paths, log_path, lines)


def request_from_config(probes: Probes, config: Config, *, containerfile: str | None = None,
                        extra_args: Sequence[str] = (), no_cache: bool = False, network: str = "",
                        cwd: str | None = None) -> BuildRequest:
    recipe = load_recipe(probes.fs, config.containerfile if containerfile is None else containerfile, cwd)
    args = effective_build_args(config.container_uid, config.build_args, extra_args, config.spotify_repo)
    return BuildRequest.create(config.image, recipe, args, no_cache=no_cache, network=network)


@dataclass(frozen=True)
class BuildImage(Step):
    """Build (or rebuild) the image: a fix step, so ``spotidoctor fix image`` can run it."""

    image: str = ""
    containerfile: str = ""  # "" = the bundled recipe
    build_args: tuple[str, ...] = field(default=())  # the effective KEY=VALUE list
    kind: ClassVar[str] = "build-image"
    duration_hint: ClassVar[str] = ("3 to 15 minutes (downloads Debian and Spotify's package); Ctrl-C stops it "
                                    "safely and keeps the current image")

    def _request(self, env: StepEnv) -> BuildRequest:
        recipe = load_recipe(env.probes.fs, self.containerfile)
        return BuildRequest.create(self.image, recipe, parse_build_args(self.build_args))

    def preview(self, env: StepEnv) -> list[str]:
        try:
            argv = planned_argv(env.paths, self._request(env), "<build time>")
        except UsageError as exc:
            return [f"(cannot build: {exc})"]
        return [f"$ {shlex.join(argv)}", f"(full log under {logs_dir(env.paths)}/)"]

    def apply(self, env: StepEnv) -> str:
        try:
            request = self._request(env)
        except UsageError as exc:
            raise FixFailed(str(exc)) from None
        display = make_display(sys.stderr, env.env) if sys.stderr.isatty() else QuietDisplay()
        outcome = run_build(env.probes, env.paths, request, display)
        if outcome.failure is not None:
            raise FixFailed(fix_failure_text(outcome.failure, self.image, outcome.log_path))
        version = f", Spotify {outcome.spotify_version}" if outcome.spotify_version else ""
        return f"built {self.image}{version} (log: {outcome.log_path})"

    def to_json(self) -> dict[str, JSONValue]:
        data = super().to_json()
        data["image"] = self.image
        data["recipe"] = self.containerfile or BUNDLED
        return data


def build_fix(config: Config, title: str | None = None) -> Fix:
    """The safe, network-needing fix that builds the configured image from the configured recipe."""
    args = effective_build_args(config.container_uid, config.build_args, spotify_repo=config.spotify_repo)
    recipe = config.containerfile or "the bundled recipe"
    step = BuildImage(f"build {config.image} from {recipe} with buildah", image=config.image,
                      containerfile=config.containerfile,
                      build_args=tuple(f"{k}={v}" for k, v in sorted(args.items())))
    return Fix.safe(BUILD_FIX_ID, title or f"Build {config.image} from {recipe}", step,
                    notes=("Needs network: downloads Debian and Spotify's package; takes a few minutes.",),
                    needs_network=True, recheck=("image.present", "image.recipe", "image.age", "image.user"))
