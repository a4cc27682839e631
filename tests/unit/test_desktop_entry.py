"""The desktop entry: its text, mimeapps.list edits, install/uninstall bookkeeping in private
directories, and the desktop.entry check (the real desktop-file-validate and xdg-mime run in
tests/integration/test_daily_desktop.py)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from spotidoctor.checks.desktop.entry import DesktopEntry
from spotidoctor.daily.desktopentry import DESKTOP_ID, exec_line, exec_quote, find_command, render_entry
from spotidoctor.daily.icons import FALLBACK_SVG, ImageIcons, png_size
from spotidoctor.daily.install import DesktopPlaces, install, load_manifest, uninstall
from spotidoctor.daily.mimeapps import read_default, with_default
from spotidoctor.daily.userfiles import UnsafePlace, write_user_file
from spotidoctor.errors import UsageError
from spotidoctor.model import Status
from spotidoctor.paths import UserInfo
from spotidoctor.testing import FakeCommandRunner
from spotidoctor.testing import make_context as fake_context
from tests.aptrepo import png

MIME = "x-scheme-handler/spotify"


@pytest.mark.parametrize("arg, quoted", [
    ("/usr/bin/spotidoctor", "/usr/bin/spotidoctor"),
    ("/home/a b/bin/spotidoctor", '"/home/a b/bin/spotidoctor"'),
    ('/x/"q"$HOME`id`\\', '"/x/\\"q\\"\\$HOME\\`id\\`\\\\"'),
    ("50%", "50%%"),
    ("", '""'),
])
def test_exec_quoting_follows_the_specification(arg: str, quoted: str) -> None:
    assert exec_quote(arg) == quoted


def test_exec_line_doubles_backslashes_once_more_and_refuses_control_characters() -> None:
    assert exec_line(["/a\\b", "launch"], "%U") == '"/a\\\\\\\\b" launch %U'
    with pytest.raises(UsageError):
        exec_line(["/a\nb"])


def test_rendered_entry_has_what_the_desktop_needs() -> None:
    text = render_entry(["/opt/sd/bin/spotidoctor"], ["--container-name", "my spotify"])
    lines = text.splitlines()
    assert 'Exec=/opt/sd/bin/spotidoctor launch --container-name "my spotify" %U' in lines
    assert 'Exec=/opt/sd/bin/spotidoctor stop --container-name "my spotify"' in lines
    assert {"MimeType=x-scheme-handler/spotify;", "StartupWMClass=spotify", "Actions=quit;", "Name=Quit Spotify",
            "TryExec=/opt/sd/bin/spotidoctor", "Icon=spotidoctor-spotify", "[Desktop Action quit]"} <= set(lines)


def test_find_command(tmp_path: Path) -> None:
    script = tmp_path / "bin" / "spotidoctor"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    python = str(tmp_path / "bin" / "python3")
    assert find_command(str(script), "/usr/bin/python3", lambda _: None) == (str(script),)
    assert find_command("-m", python, lambda _: None) == (str(script),)  # python -m in a venv
    assert find_command("-m", "/usr/bin/python3", lambda _: "/usr/local/bin/spotidoctor") == (
        "/usr/local/bin/spotidoctor",)
    assert find_command("-m", "/usr/bin/python3", lambda _: None) == ("/usr/bin/python3", "-m", "spotidoctor")


@pytest.mark.parametrize("text, expected", [
    ("", None),
    ("[Default Applications]\nx-scheme-handler/spotify=a.desktop;\n", "a.desktop;"),
    ("[Added Associations]\nx-scheme-handler/spotify=b.desktop;\n", None),
    ("[Default Applications]\ntext/plain=x.desktop\n[Other]\nx-scheme-handler/spotify=c.desktop\n", None),
])
def test_read_default(text: str, expected: str | None) -> None:
    assert read_default(text, MIME) == expected


def test_with_default_touches_only_its_line() -> None:
    text = "# mine\n[Added Associations]\ntext/plain=x.desktop;\n\n[Default Applications]\ntext/html=ff.desktop\n"
    added = with_default(text, MIME, DESKTOP_ID)
    assert added == text + f"{MIME}={DESKTOP_ID}\n"
    replaced = with_default(added, MIME, "other.desktop")
    assert replaced == text + f"{MIME}=other.desktop\n"
    assert with_default(replaced, MIME, None) == text
    assert with_default("", MIME, DESKTOP_ID) == f"[Default Applications]\n{MIME}={DESKTOP_ID}\n"


def test_png_size() -> None:
    assert png_size(png(48)) == (48, 48) and png_size(b"GIF89a" + b"\0" * 30) is None


# -- install / uninstall ---------------------------------------------------------------------------

@pytest.fixture
def places(tmp_path: Path) -> DesktopPlaces:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    return DesktopPlaces.from_env({}, str(home), str(home / ".local/state/spotidoctor"))


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def no_xdg_mime() -> FakeCommandRunner:
    return FakeCommandRunner([], missing=["xdg-mime"])


def test_install_writes_entry_icon_handler_and_manifest_and_uninstall_undoes_exactly_that(
        places: DesktopPlaces, tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".config").mkdir(mode=0o700)
    (home / ".config/mimeapps.list").write_text(f"[Default Applications]\n{MIME}=native-spotify.desktop\n")
    (home / ".local/share/applications").mkdir(parents=True, mode=0o700)
    (home / ".local/share/applications/other.desktop").write_text("[Desktop Entry]\n")
    before = tree(home)
    report = install(no_xdg_mime(), places, ["/opt/sd/bin/spotidoctor"], [], ImageIcons({}, "fallback"))
    assert report.ok
    assert Path(places.entry_path).read_text() == render_entry(["/opt/sd/bin/spotidoctor"])
    assert Path(places.svg_path).read_text() == FALLBACK_SVG
    assert read_default(Path(places.mimeapps_path).read_text(), MIME) == DESKTOP_ID
    manifest = load_manifest(places)
    assert manifest is not None and manifest.mime_previous == "native-spotify.desktop"
    assert oct(os.stat(places.manifest_path).st_mode & 0o777) == "0o600"
    assert uninstall(places) is not None
    assert tree(home) == before
    assert read_default(Path(places.mimeapps_path).read_text(), MIME) == "native-spotify.desktop"


def test_uninstall_from_a_bare_home_leaves_nothing(places: DesktopPlaces, tmp_path: Path) -> None:
    home = tmp_path / "home"
    install(no_xdg_mime(), places, ["/usr/bin/spotidoctor"], ["--image", "mine"],
            ImageIcons({48: png(48), 256: png(256)}, "from the image"))
    assert Path(places.png_path(48)).read_bytes() == png(48) and not os.path.exists(places.svg_path)
    assert "--image mine %U" in Path(places.entry_path).read_text()
    uninstall(places)
    assert tree(home) == set()


def test_reinstall_keeps_the_first_previous_handler_and_drops_icons_no_longer_written(
        places: DesktopPlaces, tmp_path: Path) -> None:
    install(no_xdg_mime(), places, ["/usr/bin/spotidoctor"], [], ImageIcons({48: png(48)}, "image"))
    install(no_xdg_mime(), places, ["/usr/bin/spotidoctor"], [], ImageIcons({}, "fallback"))
    manifest = load_manifest(places)
    assert manifest is not None and manifest.mime_previous is None and manifest.mimeapps_created
    assert not os.path.exists(places.png_path(48)) and os.path.exists(places.svg_path)
    uninstall(places)
    assert tree(tmp_path / "home") == set()


def test_uninstall_keeps_what_the_user_changed(places: DesktopPlaces) -> None:
    install(no_xdg_mime(), places, ["/usr/bin/spotidoctor"], [], ImageIcons({}, "fallback"))
    Path(places.entry_path).write_text("[Desktop Entry]\nName=Mine\n")
    Path(places.mimeapps_path).write_text(f"[Default Applications]\n{MIME}=mine.desktop\n")
    report = uninstall(places)
    assert report is not None and not report.ok
    assert any("was changed" in w for w in report.warnings)
    assert Path(places.entry_path).exists() and not Path(places.svg_path).exists()
    assert read_default(Path(places.mimeapps_path).read_text(), MIME) == "mine.desktop"
    assert uninstall(places) is None  # the manifest is gone: nothing more is ours


def test_install_uses_xdg_mime_when_installed(places: DesktopPlaces) -> None:
    from spotidoctor.testing import FakeCommand

    cmd = FakeCommandRunner([FakeCommand(("xdg-mime", "default", DESKTOP_ID, MIME))])
    cmd.which = lambda name: f"/usr/bin/{name}"  # type: ignore[method-assign]
    report = install(cmd, places, ["/usr/bin/spotidoctor"], [], ImageIcons({}, "fallback"))
    assert cmd.exhausted and any("xdg-mime default" in line for line in report.lines)
    assert cmd.envs[0] == places.xdg_env()


def test_writes_refuse_symlinked_or_foreign_directories(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    with pytest.raises(UnsafePlace, match="symlink"):
        write_user_file(str(tmp_path / "link" / "x.desktop"), b"x")
    real.chmod(0o777)
    with pytest.raises(UnsafePlace, match="writable by other users"):
        write_user_file(str(real / "x.desktop"), b"x")
    real.chmod(0o775)  # a umask of 002 with a per-user group: the group is the user's own
    write_user_file(str(real / "ok.desktop"), b"x")
    real.chmod(0o755)
    (real / "target").write_text("keep")
    (real / "x.desktop").symlink_to(real / "target")
    write_user_file(str(real / "x.desktop"), b"new")  # replaces the link, never writes through it
    assert (real / "target").read_text() == "keep" and not (real / "x.desktop").is_symlink()


# -- the desktop.entry check -----------------------------------------------------------------------

def check(tmp_path: Path, places: DesktopPlaces) -> tuple[Status, str, tuple[str, ...]]:
    home = str(tmp_path / "home")
    ctx = fake_context("/", user=UserInfo(os.getuid(), os.getgid(), "alice", home),
                       env={"HOME": home, "XDG_STATE_HOME": str(Path(places.state_dir).parent)})
    result = DesktopEntry().run(ctx)
    return result.status, result.summary, tuple(m.text for m in result.messages)


def test_check_not_installed_then_current_then_stale(places: DesktopPlaces, tmp_path: Path) -> None:
    status, summary, _ = check(tmp_path, places)
    assert status is Status.WARN and summary.startswith("no desktop entry")
    program = tmp_path / "bin" / "spotidoctor"
    program.parent.mkdir()
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    install(no_xdg_mime(), places, [str(program)], [], ImageIcons({}, "fallback"))
    status, summary, _ = check(tmp_path, places)
    assert (status, summary) == (Status.OK, f"{places.entry_path} runs {program}; it opens spotify: links")
    program.unlink()
    Path(places.entry_path).write_text(Path(places.entry_path).read_text() + "NoDisplay=true\n")
    status, summary, messages = check(tmp_path, places)
    assert status is Status.WARN and "was changed since" in summary
    assert any("no longer exists" in m for m in messages)


def test_check_notices_a_lost_handler_and_a_foreign_entry(places: DesktopPlaces, tmp_path: Path) -> None:
    install(no_xdg_mime(), places, ["/bin/sh"], [], ImageIcons({}, "fallback"))
    Path(places.mimeapps_path).write_text(f"[Default Applications]\n{MIME}=other.desktop\n")
    status, summary, _ = check(tmp_path, places)
    assert status is Status.WARN and "spotify: links open other.desktop" in summary
    os.unlink(places.manifest_path)
    status, summary, _ = check(tmp_path, places)
    assert status is Status.WARN and "no record of installing it" in summary
    data = {"version": 99}
    Path(places.manifest_path).write_text(json.dumps(data))
    assert check(tmp_path, places)[1].endswith("no record of installing it")
