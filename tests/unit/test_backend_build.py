"""Build argv, recipe hashing and labels, the build runner (on a fake buildah), failure summaries."""
from __future__ import annotations

import io
import os
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from spotidoctor import __version__
from spotidoctor.backend import recipe as recipe_mod
from spotidoctor.backend.build import (
    BUILD_FIX_ID,
    BuildImage,
    BuildRequest,
    build_argv,
    build_fix,
    current_id_argv,
    request_from_config,
    run_build,
)
from spotidoctor.backend.failures import Command, FailureKind, classify
from spotidoctor.backend.progress import PlainDisplay, QuietDisplay
from spotidoctor.backend.recipe import (
    BUNDLED,
    LABEL_BUILD_DATE,
    LABEL_RECIPE,
    LABEL_RECIPE_HASH,
    LABEL_UID,
    LABEL_VERSION,
    Recipe,
    build_labels,
    effective_build_args,
    recipe_hash,
)
from spotidoctor.config import Config
from spotidoctor.engine.fixer import StepEnvironment
from spotidoctor.errors import FixFailed, UsageError
from spotidoctor.fixes import Applicability
from spotidoctor.testing import FakeCommand, FakeCommandRunner, make_context

STATE = "/home/alice/.local/state/spotidoctor"
WORK = f"{STATE}/build"
NOW = datetime(2026, 11, 29, 22, 51, 11, tzinfo=timezone.utc)
RECIPE = Recipe("FROM scratch\n", BUNDLED)


def test_build_argv_is_buildah_bud_with_args_labels_and_context() -> None:
    argv = build_argv(image="spotify_pod", containerfile=f"{WORK}/Containerfile", context_dir=WORK,
                      build_args={"SPOTIFY_UID": "1500", "A": "1"}, labels={"x": "y"}, no_cache=True,
                      network="none", iidfile=f"{WORK}/iid")
    assert argv == ("buildah", "bud", "--file", f"{WORK}/Containerfile", "--tag", "spotify_pod",
                    "--build-arg", "A=1", "--build-arg", "SPOTIFY_UID=1500", "--label", "x=y", "--no-cache",
                    "--network=none", "--iidfile", f"{WORK}/iid", WORK)
    # No --layers: a rebuild must fetch the current Spotify, not reuse a cached apt layer.
    assert "--layers" not in argv


def test_recipe_hash_covers_text_and_every_build_argument() -> None:
    base = recipe_hash("FROM x\n", {"SPOTIFY_UID": "1500", "K": "v"})
    assert base == recipe_hash("FROM x\n", {"K": "v", "SPOTIFY_UID": "1500"})  # order does not matter
    assert base.startswith("sha256:") and len(base) == 7 + 64
    assert len({base, recipe_hash("FROM y\n", {"SPOTIFY_UID": "1500", "K": "v"}),
                recipe_hash("FROM x\n", {"SPOTIFY_UID": "1234", "K": "v"}),
                recipe_hash("FROM x\n", {"SPOTIFY_UID": "1500"})}) == 4


def test_build_labels() -> None:
    args = {"SPOTIFY_UID": "1500"}
    assert build_labels(RECIPE, args, "2026-11-29T22:51:11Z") == {
        LABEL_VERSION: __version__, LABEL_RECIPE: BUNDLED, LABEL_RECIPE_HASH: recipe_hash("FROM scratch\n", args),
        LABEL_BUILD_DATE: "2026-11-29T22:51:11Z", LABEL_UID: "1500"}


def test_effective_build_args_order_of_precedence() -> None:
    assert effective_build_args(1500, ["K=config", "SPOTIFY_KEY_URL=u"], ["K=cli"]) == {
        "SPOTIFY_UID": "1500", "K": "cli", "SPOTIFY_KEY_URL": "u"}
    with pytest.raises(UsageError, match="not KEY=VALUE"):
        effective_build_args(1500, [], ["novalue"])
    with pytest.raises(UsageError):
        effective_build_args(1500, [], ["bad key=1"])


def test_load_recipe_reads_a_users_containerfile_and_explains_errors(tmp_path: Path) -> None:
    ctx = make_context(tmp_path, files={"/src/Containerfile": "FROM scratch\nCOPY rootfs/ /\n"})
    loaded = recipe_mod.load_recipe(ctx.probes.fs, "/src/Containerfile")
    assert loaded == Recipe("FROM scratch\nCOPY rootfs/ /\n", "/src/Containerfile")
    assert loaded.context_dir == "/src" and not loaded.is_bundled
    with pytest.raises(UsageError, match="cannot read Containerfile /src/missing"):
        recipe_mod.load_recipe(ctx.probes.fs, "/src/missing")
    with pytest.raises(UsageError, match="is a directory"):
        recipe_mod.load_recipe(ctx.probes.fs, "/src")
    bundled = recipe_mod.load_recipe(ctx.probes.fs, "")
    assert bundled.is_bundled and bundled.context_dir is None and "spotify-client" in bundled.text


# -- the runner -------------------------------------------------------------------------------

def _planned(image: str = "spotify_pod", args: dict[str, str] | None = None, **extra: object) -> tuple[str, ...]:
    args = args or {"SPOTIFY_UID": "1500"}
    return build_argv(image=image, containerfile=f"{WORK}/Containerfile", context_dir=WORK, build_args=args,
                      labels=build_labels(RECIPE, args, "2026-11-29T22:51:11Z"), iidfile=f"{WORK}/iid",
                      **extra)  # type: ignore[arg-type]


def absent(image: str = "spotify_pod") -> FakeCommand:
    """No image of that name yet (podman image inspect: rc 125, "image not known")."""
    return FakeCommand(current_id_argv(image), returncode=125,
                       stderr=f"Error: inspecting object: {image}: image not known\n")


def _writes_iid(tmp_path: Path, image_id: str):  # type: ignore[no-untyped-def]
    def effect() -> None:
        target = tmp_path / WORK.lstrip("/") / "iid"
        target.write_text(image_id)
    return effect


BUILD_OK = """\
[1/2] STEP 1/2: FROM docker.io/library/debian:bookworm-slim AS keyring
[1/2] STEP 2/2: RUN set -eu; apt-get update
Get:1 http://deb.debian.org/debian bookworm InRelease [151 kB]
[2/2] STEP 1/3: FROM docker.io/library/debian:bookworm-slim
[2/2] STEP 2/3: RUN set -eu; apt-get install spotify-client; dpkg-query -W -f='spotidoctor-spotify-version=${Version}\\n' spotify-client
Setting up spotify-client (1:1.2.52.442.g01893f6b) ...
spotidoctor-spotify-version=1:1.2.52.442.g01893f6b
[2/2] STEP 3/3: ENTRYPOINT ["/usr/bin/spotify"]
[2/2] COMMIT spotify_pod
Successfully tagged localhost/spotify_pod:latest
"""


def test_successful_build_labels_the_spotify_version_and_keeps_the_log(tmp_path: Path) -> None:
    label_build = build_argv(image="spotify_pod", containerfile=f"{WORK}/Containerfile.label", context_dir=WORK,
                             labels={"io.spotidoctor.spotify-version": "1:1.2.52.442.g01893f6b"}, pull="never",
                             iidfile=f"{WORK}/iid")
    runner = FakeCommandRunner([
        FakeCommand(current_id_argv("spotify_pod"), stdout="old\n"),
        FakeCommand(current_id_argv("spotify_pod:previous"), stdout="older\n"),
        FakeCommand(("podman", "tag", "old", "spotify_pod:previous")),  # kept before the build replaces it
        FakeCommand(_planned(), stdout=BUILD_OK, effect=_writes_iid(tmp_path, "sha256:aaa\n")),
        FakeCommand(label_build, stdout="STEP 1/1: FROM aaa\n", effect=_writes_iid(tmp_path, "sha256:bbb")),
        FakeCommand(("buildah", "rmi", "aaa")),  # the unlabelled image of this build
        FakeCommand(("podman", "rmi", "older")),  # the image before the previous one: one older image is kept
    ], ordered=True)
    ctx = make_context(tmp_path, commands=runner)
    out = io.StringIO()
    outcome = run_build(ctx.probes, ctx.paths, BuildRequest.create("spotify_pod", RECIPE, {"SPOTIFY_UID": "1500"}),
                        PlainDisplay(out), now=NOW)
    assert runner.exhausted
    assert (outcome.ok, outcome.image_id, outcome.spotify_version) == (True, "sha256:bbb", "1:1.2.52.442.g01893f6b")
    assert outcome.previous == "spotify_pod:previous"
    assert outcome.log_path == f"{STATE}/builds/20261129-225111.log"
    log = ctx.probes.fs.read_text(outcome.log_path)
    assert "Get:1 http://deb.debian.org/debian bookworm InRelease" in log and "$ buildah bud" in log
    assert "# kept old as spotify_pod:previous" in log and "# removed the image before the previous one" in log
    assert ctx.probes.fs.read_text(f"{WORK}/Containerfile") == "FROM scratch\n"
    assert ctx.probes.fs.read_text(f"{WORK}/Containerfile.label") == "FROM aaa\n"
    shown = [re.sub(r"  \(\d+ s so far(, about \d+ s left)?\)$", "", line) for line in out.getvalue().splitlines()]
    assert shown == [
        f"Building spotify_pod (full log: {outcome.log_path}); this takes a few minutes, Ctrl-C stops it safely",
        "  stage 1/2 · step 1/2: FROM docker.io/library/debian:bookworm-slim AS keyring",
        "  stage 1/2 · step 2/2: RUN set -eu; apt-get update",
        "  stage 2/2 · step 1/3: FROM docker.io/library/debian:bookworm-slim",
        "  stage 2/2 · step 2/3: RUN set -eu; apt-get install spotify-client; dpkg-query -W "
        "-f='spotidoctor-spotify-version=${Version}\\n' spotify-client",
        "  Spotify 1:1.2.52.442.g01893f6b",
        '  stage 2/2 · step 3/3: ENTRYPOINT ["/usr/bin/spotify"]',
        "  step 1/1: FROM aaa",
    ]


def test_users_containerfile_builds_in_its_own_directory_without_a_version_label(tmp_path: Path) -> None:
    mine = Recipe("FROM scratch\nCOPY rootfs/ /\n", "/src/Containerfile")
    args = {"SPOTIFY_UID": "1500"}
    argv = build_argv(image="localhost/mine:test", containerfile="/src/Containerfile", context_dir="/src",
                      build_args=args, labels=build_labels(mine, args, "2026-11-29T22:51:11Z"), network="none",
                      iidfile=f"{WORK}/iid")
    runner = FakeCommandRunner([absent("localhost/mine:test"),
                                FakeCommand(argv, stdout="STEP 1/2: FROM scratch\n",
                                            effect=_writes_iid(tmp_path, "sha256:ccc"))])
    ctx = make_context(tmp_path, commands=runner)
    outcome = run_build(ctx.probes, ctx.paths, BuildRequest.create("localhost/mine:test", mine, args, network="none"),
                        QuietDisplay(), now=NOW)
    assert runner.exhausted and outcome.ok and outcome.spotify_version is None
    assert not ctx.probes.fs.exists(f"{WORK}/Containerfile")


NO_PUBKEY_LOG = """\
[2/2] STEP 3/8: RUN set -eu; apt-get update
Get:5 https://repository.spotify.com stable InRelease [3316 B]
Err:5 https://repository.spotify.com stable InRelease
  The following signatures couldn't be verified because the public key is not available: NO_PUBKEY 6224F9941A8AA6D1
W: GPG error: https://repository.spotify.com stable InRelease: The following signatures couldn't be verified because the public key is not available: NO_PUBKEY 6224F9941A8AA6D1
E: The repository 'https://repository.spotify.com stable InRelease' is not signed.
Error: building at STEP "RUN set -eu; apt-get update": while running runtime: exit status 100
"""


def test_failed_build_is_classified_and_logged(tmp_path: Path) -> None:
    runner = FakeCommandRunner([FakeCommand(current_id_argv("spotify_pod"), stdout="old\n"), absent("spotify_pod:previous"),
                                FakeCommand(("podman", "tag", "old", "spotify_pod:previous")),
                                FakeCommand(_planned(), stdout=NO_PUBKEY_LOG, returncode=100),
                                FakeCommand(("podman", "untag", "old", "spotify_pod:previous"))], ordered=True)
    ctx = make_context(tmp_path, commands=runner)
    outcome = run_build(ctx.probes, ctx.paths, BuildRequest.create("spotify_pod", RECIPE, {"SPOTIFY_UID": "1500"}),
                        QuietDisplay(), now=NOW)
    assert outcome.failure is not None and outcome.returncode == 100 and not outcome.ok
    assert outcome.failure.kind is FailureKind.SIGNING_KEY
    assert "signed with key 6224F9941A8AA6D1" in outcome.failure.summary and "rotated" in outcome.failure.summary
    assert outcome.failure.url == "https://www.spotify.com/us/download/linux/"
    assert "E: The repository" in ctx.probes.fs.read_text(outcome.log_path)
    assert runner.exhausted and outcome.previous == ""  # nothing was replaced: previous is untagged again


def test_build_logs_are_rotated(tmp_path: Path) -> None:
    old = {f"{STATE}/builds/2020010{i}-000000.log" if i < 10 else f"{STATE}/builds/2020-{i}.log": "x"
           for i in range(12)}
    runner = FakeCommandRunner([absent(), FakeCommand(_planned(), returncode=1)])
    ctx = make_context(tmp_path, files=old, commands=runner)
    outcome = run_build(ctx.probes, ctx.paths, BuildRequest.create("spotify_pod", RECIPE, {"SPOTIFY_UID": "1500"}),
                        QuietDisplay(), now=NOW)
    kept = ctx.probes.fs.listdir(f"{STATE}/builds")
    assert len(kept) == 10 and os.path.basename(outcome.log_path) in kept


@pytest.mark.parametrize("log, returncode, kind, in_summary", [
    pytest.param(NO_PUBKEY_LOG, 100, FailureKind.SIGNING_KEY, "key 6224F9941A8AA6D1", id="no-pubkey"),
    pytest.param("W: GPG error: https://repository.spotify.com stable InRelease: The following signatures were "
                 "invalid: EXPKEYSIG 7A3A762FAFD4A51F Spotify Public Repository Signing Key\n", 100,
                 FailureKind.SIGNING_KEY, "key 7A3A762FAFD4A51F has expired", id="expired-key"),
    pytest.param("curl: (22) The requested URL returned error: 404\n", 22, FailureKind.SIGNING_KEY,
                 "rotated", id="key-url-gone"),
    pytest.param('Error: creating build container: initializing source docker://debian:bookworm-slim: pinging '
                 'container registry registry-1.docker.io: Get "https://registry-1.docker.io/v2/": dial tcp: lookup '
                 'registry-1.docker.io on 10.255.255.53:53: no such host\n', 125, FailureKind.DNS,
                 "could not resolve registry-1.docker.io", id="registry-unreachable"),
    pytest.param("Err:1 http://deb.debian.org/debian bookworm InRelease\n  Temporary failure resolving "
                 "'deb.debian.org'\n", 100, FailureKind.DNS, "deb.debian.org", id="apt-dns"),
    pytest.param('Error: building at STEP "RUN echo x": failed to read from slirp4netns sync pipe: EOF\n', 125,
                 FailureKind.NETWORK_SETUP, "slirp4netns", id="slirp4netns"),
    pytest.param('time="2026-11-29T22:51:11Z" level=error msg="did not get container create message from '
                 'subprocess: EOF"\nError: building at STEP "RUN /bin/busybox sh -c true": while running runtime: '
                 'exit status 1\n', 1, FailureKind.RUNTIME, "OCI runtime", id="crun-hybrid-cgroups"),
    pytest.param("Error: writing blob: adding layer with blob \"sha256:1\": Error processing tar file(exit status 1): "
                 "potentially insufficient UIDs or GIDs available in user namespace (requested 0:42 for /etc/gshadow)"
                 ": Check /etc/subuid and /etc/subgid\n", 125, FailureKind.USERNS, "subordinate", id="userns"),
    pytest.param("write /var/lib/x: no space left on device\n", 125, FailureKind.DISK, "full", id="disk-full"),
    pytest.param("E: Unable to locate package spotify-client\nError: building at STEP \"RUN apt-get install "
                 "spotify-client\": while running runtime: exit status 100\n", 100, FailureKind.MISSING_PACKAGE,
                 "no package spotify-client", id="a-failing-run-is-not-a-runtime-error"),
    pytest.param("+ false\nError: building at STEP \"RUN false\": while running runtime: exit status 1\n", 1,
                 FailureKind.RECIPE, "the build failed at RUN false", id="other-run-failure"),
])
def test_classify(log: str, returncode: int, kind: FailureKind, in_summary: str) -> None:
    failure = classify(log.splitlines(), returncode)
    assert failure.kind is kind and in_summary in failure.summary and failure.advice_for(Command.BUILD)


def test_classify_missing_buildah_and_timeouts() -> None:
    assert classify(["buildah: command not found"], 127).kind is FailureKind.MISSING_TOOL
    assert classify(["[1/2] STEP 2/2: RUN apt-get update"], 124, timed_out=True).kind is FailureKind.TIMEOUT
    assert classify([], 1).summary == "the build failed (exit status 1)"


# -- the fix ----------------------------------------------------------------------------------

def test_build_fix_is_a_safe_network_fix_with_the_configured_uid() -> None:
    fix = build_fix(Config(container_uid=1234, build_args=("SPOTIFY_KEY_URL=u",)))
    assert (fix.id, fix.applicability, fix.needs_network) == (BUILD_FIX_ID, Applicability.SAFE, True)
    [step] = fix.steps
    assert step == BuildImage("build spotify_pod from the bundled recipe with buildah", image="spotify_pod",
                              containerfile="", build_args=("SPOTIFY_KEY_URL=u", "SPOTIFY_UID=1234"))
    assert step.to_json()["recipe"] == BUNDLED


def test_build_step_preview_and_apply(tmp_path: Path) -> None:
    step = build_fix(Config(containerfile="/src/Containerfile")).steps[0]
    assert isinstance(step, BuildImage)
    mine = Recipe("FROM scratch\n", "/src/Containerfile")
    args = {"SPOTIFY_UID": "1500"}
    runner = FakeCommandRunner([absent(), FakeCommand(build_argv(
        image="spotify_pod", containerfile="/src/Containerfile", context_dir="/src", build_args=args,
        labels=build_labels(mine, args, datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")),
        iidfile=f"{WORK}/iid"), returncode=1, stdout="E: boom\n")])
    ctx = make_context(tmp_path, files={"/src/Containerfile": "FROM scratch\n"}, commands=runner)
    env = StepEnvironment.from_context(ctx)
    preview = step.preview(env)
    assert preview[0].startswith("$ buildah bud --file /src/Containerfile --tag spotify_pod --build-arg SPOTIFY_UID=1500")
    with pytest.raises(FixFailed) as failed:
        step.apply(env)
    lines = str(failed.value).splitlines()
    assert lines[0] == "the build failed (exit status 1)" and lines[1].strip() == "E: boom"
    assert lines[2].strip() == ("→ The log shows the failing command's output: fix your Containerfile, then run "
                                "`spotidoctor fix image`.")
    assert lines[3].strip().startswith(f"Full log: {STATE}/builds/")


def test_request_from_config_uses_command_line_recipe_and_args(tmp_path: Path) -> None:
    ctx = make_context(tmp_path, files={"/src/Containerfile": "FROM scratch\n"})
    request = request_from_config(ctx.probes, Config(image="img", build_args=("A=1",)),
                                  containerfile="/src/Containerfile", extra_args=["B=2"], no_cache=True)
    assert request == BuildRequest("img", Recipe("FROM scratch\n", "/src/Containerfile"),
                                   (("A", "1"), ("B", "2"), ("SPOTIFY_UID", "1500")), no_cache=True)


def test_build_step_with_an_unreadable_recipe_fails_cleanly(tmp_path: Path) -> None:
    step = BuildImage("build", image="spotify_pod", containerfile="/gone/Containerfile")
    env = StepEnvironment.from_context(make_context(tmp_path))
    assert step.preview(env) == ["(cannot build: cannot read Containerfile /gone/Containerfile: No such file or directory)"]
    with pytest.raises(FixFailed, match="cannot read Containerfile /gone/Containerfile"):
        step.apply(env)


def test_plain_display_says_the_time_so_far_and_estimates_the_rest() -> None:
    ticks = iter([0.0, 0.0, 30.0, 90.0, 150.0])
    out = io.StringIO()
    display = PlainDisplay(out, clock=lambda: next(ticks))
    display.start("spotify_pod", "/x.log")
    for line in ("STEP 1/4: FROM debian", "STEP 2/4: RUN apt-get update", "STEP 3/4: RUN apt-get install x"):
        display.line(line)
    assert out.getvalue().splitlines()[1:] == [
        "  step 1/4: FROM debian  (30 s so far)",
        "  step 2/4: RUN apt-get update  (2 min so far, about 5 min left)",
        "  step 3/4: RUN apt-get install x  (3 min so far, about 3 min left)",
    ]


def test_rich_display_shows_steps_without_taking_brackets_for_markup() -> None:
    from spotidoctor.backend.progress import RichDisplay, make_display

    out = io.StringIO()
    display = RichDisplay(out)
    display.start("spotify_pod", "/x.log")
    for line in BUILD_OK.splitlines():
        display.line(line)
    display.finish(True)
    text = out.getvalue()
    assert "Building spotify_pod (full log: /x.log)" in text
    assert 'stage 2/2 · step 3/3: ENTRYPOINT ["/usr/bin/spotify"]' in text  # brackets kept verbatim
    assert "done" in text and "3/3" in text
    assert isinstance(make_display(io.StringIO(), {}), PlainDisplay)  # not a terminal: plain
