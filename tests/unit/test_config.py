"""config.toml: defaults, validation, overrides, and the comment-preserving writer."""
from __future__ import annotations

from pathlib import Path

import pytest

from spotidoctor import config
from spotidoctor.errors import ConfigError


def test_missing_file_gives_the_original_designs_defaults(tmp_path: Path) -> None:
    cfg = config.load(str(tmp_path / "none.toml"))
    assert (cfg.image, cfg.container_name, cfg.storage_dir, cfg.container_uid, cfg.profile) == (
        "spotify_pod", "spotify-container", "~/.spotify", 1500, "isolated")
    assert cfg.storage_path("/home/alice") == "/home/alice/.spotify"


def test_values_and_lists_load(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('image = "mine"\nulimits = ["nofile=65536:65536"]\nshm_size = "2g"\n')
    cfg = config.load(str(path))
    assert (cfg.image, cfg.ulimits, cfg.shm_size) == ("mine", ("nofile=65536:65536",), "2g")


@pytest.mark.parametrize(("key", "value"), [
    ("shm_size", "lots"), ("ulimits", ["nofile"]), ("build_args", ["NOEQUALS"]),
    ("container_uid", 0), ("container_uid", True), ("keep_launch_logs", -1),
    ("container_user", "Bad User"), ("extra_run_args", "--privileged"),
])
def test_wrong_types_are_config_errors(key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"{key} must be"):
        config.from_mapping({key: value}, "test.toml")


def test_flag_overrides_are_validated_too() -> None:
    cfg = config.Config().with_overrides(image="other", profile=None)
    assert cfg.image == "other" and cfg.profile == "isolated"
    with pytest.raises(ConfigError, match="command line: profile must be"):
        config.Config().with_overrides(profile="rootful")


@pytest.mark.parametrize(("before", "after"), [
    ("", 'shm_size = "2g"\n'),
    ('# mine\nshm_size = "1g"  # old\nimage = "x"\n', '# mine\nshm_size = "2g"\nimage = "x"\n'),
    ('image = "x"', 'image = "x"\nshm_size = "2g"\n'),
    ('image = "x"\n[future]\nshm_size = "9g"\n', 'image = "x"\nshm_size = "2g"\n[future]\nshm_size = "9g"\n'),
])
def test_updated_text_changes_one_key_and_keeps_the_rest(before: str, after: str) -> None:
    assert config.updated_text(before, "shm_size", "2g") == after


@pytest.mark.parametrize(("value", "literal"), [
    (True, "true"), (3, "3"), ('a "quoted" \\ path', '"a \\"quoted\\" \\\\ path"'), (("a", "b"), '["a", "b"]'),
])
def test_render_value_round_trips_through_toml(value: object, literal: str) -> None:
    assert config.render_value(value) == literal
    parsed = config.tomllib.loads(f"k = {literal}")["k"]
    assert (tuple(parsed) if isinstance(parsed, list) else parsed) == value


def test_refreshed_context_rereads_config_through_the_fs_probe_and_keeps_flags(tmp_path: Path) -> None:
    import dataclasses

    from spotidoctor.engine.fixer import refreshed
    from spotidoctor.testing import make_context

    config_file = "/home/alice/.config/spotidoctor/config.toml"
    ctx = make_context(tmp_path, files={config_file: 'shm_size = "2g"\nimage = "x"\n'})
    ctx = dataclasses.replace(ctx, config_overrides={"image": "from-flag"})
    config = refreshed(ctx).config
    assert (config.shm_size, config.image) == ("2g", "from-flag")
