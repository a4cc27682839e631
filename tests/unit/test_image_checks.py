"""image.* checks against a fake podman answering with real-shaped output (``podman image exists``
rc 0/1/125, ``podman image inspect`` printing a JSON list)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from spotidoctor.backend.build import BUILD_FIX_ID, BuildImage
from spotidoctor.backend.images import lookup_image, parse_created, parse_inspect, passwd_argv
from spotidoctor.backend.recipe import LABEL_RECIPE, LABEL_RECIPE_HASH, LABEL_SPOTIFY_VERSION, bundled_text, recipe_hash
from spotidoctor.checks.image import CHECKS
from spotidoctor.checks.image.common import NOT_OURS
from spotidoctor.checks.image.recipe import REMEMBER_FIX_ID
from spotidoctor.config import Config, SetConfig
from spotidoctor.engine.planning import plan
from spotidoctor.engine.runner import Runner
from spotidoctor.errors import ParseError
from spotidoctor.fixes import Applicability
from spotidoctor.model import CheckResult, Status
from spotidoctor.testing import FakeCommand, FakeCommandRunner, make_context

# The checks answered from `podman image exists/inspect` alone (the image-contents checks look
# inside the image: tests/unit/test_image_contents.py).
LOOKUP_CHECKS = tuple(c for c in CHECKS if c.id in ("image.present", "image.recipe", "image.age", "image.user",
                                                    "image.update"))

# `podman image inspect localhost/spotidoctor-standin:test` (podman 4.3.1, buildah 1.28.2), verbatim.
STANDIN_INSPECT = r"""[
     {
          "Id": "64964c2f85cbb8cade50abb451aa51fbd4898056838fa970121005530167a529",
          "Digest": "sha256:2e1894bbeab798a8c35741232ba32e357f14f84569496a80d456b34e51658efa",
          "RepoTags": [
               "localhost/spotidoctor-standin:test"
          ],
          "RepoDigests": [
               "localhost/spotidoctor-standin@sha256:2e1894bbeab798a8c35741232ba32e357f14f84569496a80d456b34e51658efa"
          ],
          "Parent": "",
          "Comment": "",
          "Created": "2026-11-29T23:56:49.212961443Z",
          "Config": {
               "User": "1500:1500",
               "Env": [
                    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "HOME=/home/spotify_user"
               ],
               "Cmd": [
                    "/usr/bin/spotify"
               ],
               "Labels": {
                    "io.buildah.version": "1.28.2",
                    "org.opencontainers.image.title": "spotidoctor-standin"
               }
          },
          "Version": "",
          "Author": "",
          "Architecture": "amd64",
          "Os": "linux",
          "Size": 37525783,
          "VirtualSize": 37525783,
          "GraphDriver": {
               "Name": "vfs",
               "Data": null
          },
          "RootFS": {
               "Type": "layers",
               "Layers": [
                    "sha256:dc3da9764d6908c4cc482614006c8d163974b0d0a6a469b23655246eeb6c24fa"
               ]
          },
          "Labels": {
               "io.buildah.version": "1.28.2",
               "org.opencontainers.image.title": "spotidoctor-standin"
          },
          "Annotations": {
               "org.opencontainers.image.base.digest": "",
               "org.opencontainers.image.base.name": ""
          },
          "ManifestType": "application/vnd.oci.image.manifest.v1+json",
          "User": "1500:1500",
          "History": [
               {
                    "created": "2026-11-29T23:56:49.150267741Z",
                    "created_by": "/bin/sh -c #(nop) COPY dir:ae66d87b538428b7fdfec8c54075481041d691187f5b68af30a9efc58d79dee0 in / ",
                    "empty_layer": true
               },
               {
                    "created": "2026-11-29T23:56:49.211739448Z",
                    "created_by": "/bin/sh -c #(nop) COPY dir:f9f28dcf46054d27fdfc51b038bd4d33f77c702844784b46619c8d9cf1bd8b88 in /home/spotify_user ",
                    "empty_layer": true
               },
               {
                    "created": "2026-11-29T23:56:49.211786308Z",
                    "created_by": "/bin/sh -c #(nop) USER 1500:1500",
                    "empty_layer": true
               },
               {
                    "created": "2026-11-29T23:56:49.211792648Z",
                    "created_by": "/bin/sh -c #(nop) ENV HOME=/home/spotify_user",
                    "empty_layer": true
               },
               {
                    "created": "2026-11-29T23:56:49.21180037Z",
                    "created_by": "/bin/sh -c #(nop) LABEL org.opencontainers.image.title=spotidoctor-standin",
                    "empty_layer": true
               },
               {
                    "created": "2026-11-29T23:56:49.304979676Z",
                    "created_by": "/bin/sh -c #(nop) CMD [\"/usr/bin/spotify\"]"
               }
          ],
          "NamesHistory": [
               "localhost/spotidoctor-standin:test"
          ]
     }
]
"""
STANDIN = "localhost/spotidoctor-standin:test"
NOT_KNOWN = "Error: inspecting object: {name}: image not known\n"


def inspect_json(*, days_old: float = 1, user: str = "1500:1500", labels: dict[str, str] | None = None) -> str:
    data = json.loads(STANDIN_INSPECT)
    # A minute's margin: the fixed fraction below may move the time up to a second forward.
    created = datetime.now(timezone.utc) - timedelta(days=days_old, minutes=1)
    data[0]["Created"] = created.strftime("%Y-%m-%dT%H:%M:%S.") + "123456789Z"  # podman's nanoseconds
    data[0]["Config"]["User"] = data[0]["User"] = user
    if labels is not None:
        data[0]["Labels"] = data[0]["Config"]["Labels"] = {**data[0]["Labels"], **labels}
    return json.dumps(data, indent=5)


def ours(config: Config | None = None, **extra: str) -> dict[str, str]:
    """The labels `spotidoctor build` puts on an image built from ``config``'s recipe now."""
    config = config or Config()
    current = recipe_hash(bundled_text(), {"SPOTIFY_UID": str(config.container_uid)})
    return {LABEL_RECIPE: "bundled", LABEL_RECIPE_HASH: current, LABEL_SPOTIFY_VERSION: "1:1.2.52.442", **extra}


def absent(name: str) -> list[FakeCommand]:
    """What podman 4.3.1 answers for an image that is not there (exit 1 quietly, then "image not known")."""
    return [FakeCommand(("podman", "image", "exists", name), returncode=1),
            FakeCommand(("podman", "image", "inspect", "--format", "{{.Id}}", name), returncode=125,
                        stderr=NOT_KNOWN.format(name=name))]


def present(name: str, inspect: str) -> list[FakeCommand]:
    return [FakeCommand(("podman", "image", "exists", name)),
            FakeCommand(("podman", "image", "inspect", name), stdout=inspect)]


def run_checks(tmp_path: Path, commands: list[FakeCommand], config: Config | None = None,
               **kwargs: object) -> dict[str, CheckResult]:
    config = config or Config(image=STANDIN)
    runner = FakeCommandRunner(commands, **kwargs)  # type: ignore[arg-type]
    ctx = make_context(tmp_path, commands=runner, config=config)
    results = {r.check_id: r for r in Runner(ctx).run(plan(LOOKUP_CHECKS)).results}
    assert runner.exhausted, "every podman answer was used exactly once (one lookup shared by all checks)"
    return results


def test_parse_real_inspect_output() -> None:
    info = parse_inspect(STANDIN_INSPECT, STANDIN)
    assert (info.id, info.user, info.digest) == (
        "64964c2f85cbb8cade50abb451aa51fbd4898056838fa970121005530167a529", "1500:1500",
        "sha256:2e1894bbeab798a8c35741232ba32e357f14f84569496a80d456b34e51658efa")
    assert info.labels == {"io.buildah.version": "1.28.2", "org.opencontainers.image.title": "spotidoctor-standin"}
    assert info.created == datetime(2026, 11, 29, 23, 56, 49, 212961, tzinfo=timezone.utc)
    assert not info.built_by_spotidoctor


@pytest.mark.parametrize("text", ["", "[]", "{}", "not json", "[1]"])
def test_parse_inspect_rejects_non_images(text: str) -> None:
    with pytest.raises(ParseError):
        parse_inspect(text, STANDIN)


@pytest.mark.parametrize("text, expected", [
    ("2026-11-29T22:51:11.199306773Z", datetime(2026, 11, 29, 22, 51, 11, 199306, tzinfo=timezone.utc)),
    ("2026-11-29T22:51:11Z", datetime(2026, 11, 29, 22, 51, 11, tzinfo=timezone.utc)),
    ("2026-11-29T23:51:11.5+01:00", datetime(2026, 11, 29, 22, 51, 11, 500000, tzinfo=timezone.utc)),
    ("", None), ("yesterday", None),
])
def test_parse_created(text: str, expected: datetime | None) -> None:
    assert parse_created(text) == expected


def test_missing_image_fails_with_the_build_fix_and_the_rest_skip(tmp_path: Path) -> None:
    results = run_checks(tmp_path, absent(STANDIN))
    missing = results["image.present"]
    assert (missing.status, missing.summary) == (Status.FAIL, f"{STANDIN} is not built yet")
    [fix] = missing.fixes
    assert (fix.id, fix.applicability, fix.needs_network) == (BUILD_FIX_ID, Applicability.SAFE, True)
    assert isinstance(fix.steps[0], BuildImage) and fix.steps[0].image == STANDIN
    assert {results[i].status for i in ("image.recipe", "image.age", "image.user", "image.update")} == {Status.SKIP}


def test_storage_error_is_reported_with_podmans_words(tmp_path: Path) -> None:
    error = "Error: error opening database: database is locked\n"
    results = run_checks(tmp_path, [FakeCommand(("podman", "image", "exists", STANDIN), returncode=125,
                                                stderr=error)])
    result = results["image.present"]
    assert result.status is Status.SKIP and not result.fixes
    assert result.summary == (f"cannot tell whether {STANDIN} exists: podman failed (Error: error opening database: "
                              "database is locked); `spotidoctor check podman` diagnoses podman")


# podman 4.3.1 with a broken ~/.config/containers/storage.conf: exit status 1, like "no such image".
BROKEN_STORAGE_CONF = (
    "Failed to read /home/alice/.config/containers/storage.conf toml: line 2: expected '.' or ']' to end table "
    "name, but got '\\n' instead\n"
    'time="2026-12-07T02:52:25Z" level=error msg="toml: line 2: expected \'.\' or \']\' to end table name, but got '
    "'\\\\n' instead\"\n")


@pytest.mark.parametrize("answers, why", [
    pytest.param([FakeCommand(("podman", "image", "exists", STANDIN), returncode=1, stderr=BROKEN_STORAGE_CONF)],
                 "Failed to read /home/alice/.config/containers/storage.conf toml", id="exit-1-with-an-error"),
    pytest.param([FakeCommand(("podman", "image", "exists", STANDIN), returncode=1),
                  FakeCommand(("podman", "image", "inspect", "--format", "{{.Id}}", STANDIN), returncode=1)],
                 "exit status 1", id="exit-1-silently-and-inspect-cannot-confirm"),
    pytest.param([FakeCommand(("podman", "image", "exists", STANDIN), returncode=124, timed_out=True)],
                 "timed out", id="hung"),
])
def test_unknown_is_never_absent_and_offers_no_build(tmp_path: Path, answers: list[FakeCommand], why: str) -> None:
    """issue 19 #11: podman that cannot run must not make an existing image "not built yet"."""
    results = run_checks(tmp_path, answers)
    result = results["image.present"]
    assert result.status is Status.SKIP and result.fixes == () and result.facts["present"] is None
    assert result.summary.startswith(f"cannot tell whether {STANDIN} exists: podman failed (") and why in result.summary
    assert "not built" not in result.summary


def test_warnings_alone_do_not_make_an_absent_image_unknown(tmp_path: Path) -> None:
    warning = 'time="2026-12-07T02:52:15Z" level=warning msg="\\"/\\" is not a shared mount"\n'
    results = run_checks(tmp_path, [FakeCommand(("podman", "image", "exists", STANDIN), returncode=1, stderr=warning),
                                    *absent(STANDIN)[1:]])
    assert results["image.present"].summary == f"{STANDIN} is not built yet"


def test_podman_not_installed(tmp_path: Path) -> None:
    results = run_checks(tmp_path, [], missing=["podman"])
    assert results["image.present"].status is Status.SKIP and results["image.present"].fixes == ()
    assert results["image.present"].summary == (f"cannot tell whether {STANDIN} exists: podman is not installed "
                                                "(`sudo apt install podman buildah`)")


def test_image_removed_between_exists_and_inspect_counts_as_missing(tmp_path: Path) -> None:
    results = run_checks(tmp_path, [FakeCommand(("podman", "image", "exists", STANDIN)),
                                    FakeCommand(("podman", "image", "inspect", STANDIN), returncode=125,
                                                stdout="[]\n", stderr=NOT_KNOWN.format(name=STANDIN))])
    assert results["image.present"].summary == f"{STANDIN} is not built yet"


def test_foreign_image_is_explained_never_rebuilt(tmp_path: Path) -> None:
    results = run_checks(tmp_path, present(STANDIN, inspect_json(days_old=90)))
    assert results["image.present"].status is Status.OK
    assert results["image.present"].facts["built_by_spotidoctor"] is False
    recipe, age = results["image.recipe"], results["image.age"]
    assert (recipe.status, recipe.summary, recipe.fixes) == (
        Status.WARN, f"{STANDIN} was not built by spotidoctor", ())
    assert recipe.messages[0].text == NOT_OURS
    assert (age.status, age.summary, age.fixes) == (Status.WARN, f"{STANDIN} is 90 days old (limit 30)", ())
    assert results["image.user"].status is Status.OK


def test_current_spotidoctor_image_is_all_ok(tmp_path: Path) -> None:
    config = Config()
    results = run_checks(tmp_path, present("spotify_pod", inspect_json(labels=ours(config))), config=config)
    assert {r.status for i, r in results.items() if i != "image.update"} == {Status.OK}
    assert results["image.update"].summary == ("spotify_pod does not record its repository (built from another recipe "
                                               "or by an older spotidoctor; `spotidoctor build` rebuilds it with them)")
    assert results["image.present"].summary.endswith(", built 1 day(s) ago, Spotify 1:1.2.52.442)")
    assert results["image.recipe"].summary == "built from the current recipe (bundled)"


@pytest.mark.parametrize("file_exists", [True, False])
def test_an_image_built_from_another_containerfile_is_never_replaced_by_a_safe_fix(tmp_path: Path,
                                                                                   file_exists: bool) -> None:
    # `spotidoctor build --containerfile ~/my/Containerfile`, with no containerfile in config.toml.
    mine = "/home/alice/my/Containerfile"
    if file_exists:
        (tmp_path / mine.lstrip("/")).parent.mkdir(parents=True)
        (tmp_path / mine.lstrip("/")).write_text("FROM x\n")
    labels = ours(**{LABEL_RECIPE: mine, LABEL_RECIPE_HASH: "sha256:of-my-recipe"})
    results = run_checks(tmp_path, present("spotify_pod", inspect_json(labels=labels)), config=Config())
    recipe = results["image.recipe"]
    assert recipe.status is Status.WARN
    fixes = {f.id: f for f in recipe.fixes}
    assert fixes[BUILD_FIX_ID].applicability is Applicability.UNSAFE
    assert f"This replaces your image built from {mine} with one from bundled." in fixes[BUILD_FIX_ID].notes
    if file_exists:
        remember = fixes[REMEMBER_FIX_ID]
        assert remember.applicability is Applicability.SAFE
        assert remember.steps == (SetConfig(f"set containerfile = {mine} in spotidoctor's config",
                                            key="containerfile", value=mine),)
    else:
        assert REMEMBER_FIX_ID not in fixes
    assert not any(f.applicability is Applicability.SAFE and f.id == BUILD_FIX_ID for f in recipe.fixes)


def test_changed_uid_makes_the_recipe_stale_and_the_user_wrong(tmp_path: Path) -> None:
    config = Config(container_uid=1234)
    results = run_checks(tmp_path, present("spotify_pod", inspect_json(labels=ours(Config()))), config=config)
    recipe, user = results["image.recipe"], results["image.user"]
    assert recipe.status is Status.WARN and [f.id for f in recipe.fixes] == [BUILD_FIX_ID]
    assert user.status is Status.FAIL
    assert user.summary == "the image's default user is uid 1500, but container_uid is 1234"
    rebuild, use_uid = user.fixes
    assert rebuild.id == BUILD_FIX_ID and "SPOTIFY_UID=1234" in rebuild.steps[0].build_args  # type: ignore[attr-defined]
    assert use_uid.applicability is Applicability.UNSAFE
    assert use_uid.steps == (SetConfig("set container_uid = 1500 in config.toml", key="container_uid", value=1500),)


def test_stale_spotidoctor_image_offers_a_rebuild(tmp_path: Path) -> None:
    config = Config(image_max_age_days=7)
    results = run_checks(tmp_path, present("spotify_pod", inspect_json(days_old=8.5, labels=ours(config))),
                         config=config)
    age = results["image.age"]
    assert (age.status, age.summary, age.facts) == (Status.WARN, "spotify_pod is 8 days old (limit 7)",
                                                    {"age_days": 8, "max_age_days": 7})
    assert [f.id for f in age.fixes] == [BUILD_FIX_ID]


def test_root_image_fails_without_the_uid_fix(tmp_path: Path) -> None:
    results = run_checks(tmp_path, present(STANDIN, inspect_json(user="")))
    user = results["image.user"]
    assert user.summary == "the image's default user is root, but container_uid is 1500"
    assert user.fixes == ()  # not ours: no rebuild; and uid 0 is never a container_uid


def test_named_user_is_resolved_from_the_images_passwd(tmp_path: Path) -> None:
    passwd = "root:x:0:0:root:/root:/bin/sh\nspotify_user:x:1500:1500::/home/spotify_user:/bin/sh\n"
    results = run_checks(tmp_path, [*present(STANDIN, inspect_json(user="spotify_user")),
                                    FakeCommand(passwd_argv(STANDIN), stdout=passwd)])
    assert results["image.user"].status is Status.OK
    assert results["image.user"].facts["image_uid"] == 1500


def test_named_user_that_cannot_be_resolved_is_a_warning(tmp_path: Path) -> None:
    results = run_checks(tmp_path, [*present(STANDIN, inspect_json(user="spotify_user")),
                                    FakeCommand(passwd_argv(STANDIN), returncode=127,
                                                stderr="Error: executable file `cat` not found in $PATH")])
    assert results["image.user"].status is Status.WARN
    assert "executable file `cat` not found" in results["image.user"].messages[0].text


def test_passwd_is_read_without_network_or_capabilities() -> None:
    argv = passwd_argv("img")
    assert "--network=none" in argv and "--cap-drop=all" in argv and "--pull=never" in argv and "--rm" in argv


def test_lookup_is_memoised_per_run(tmp_path: Path) -> None:
    runner = FakeCommandRunner(present(STANDIN, inspect_json()))
    ctx = make_context(tmp_path, commands=runner, config=Config(image=STANDIN))
    assert lookup_image(ctx) is lookup_image(ctx)
    assert len(runner.calls) == 2


def test_unparsable_inspect_output(tmp_path: Path) -> None:
    results = run_checks(tmp_path, [FakeCommand(("podman", "image", "exists", STANDIN)),
                                    FakeCommand(("podman", "image", "inspect", STANDIN), stdout="garbage")])
    assert results["image.present"].status is Status.SKIP
    assert "invalid JSON" in results["image.present"].summary


def test_unusable_build_args_never_crash_the_checks(tmp_path: Path) -> None:
    config = Config(build_args=("bad key=1",))
    results = run_checks(tmp_path, absent("spotify_pod"), config=config)
    assert results["image.present"].status is Status.FAIL and results["image.present"].fixes == ()
    results = run_checks(tmp_path / "2", present("spotify_pod", inspect_json(labels=ours())), config=config)
    assert results["image.recipe"].status is Status.FAIL
    assert results["image.recipe"].summary == ("cannot read the configured recipe: build argument 'bad key=1' is not "
                                               "KEY=VALUE")
