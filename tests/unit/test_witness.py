"""The host-side witnesses (tests/witness.py) read real xwininfo and pactl output."""
from __future__ import annotations

from pathlib import Path

from tests import witness

DATA = Path(__file__).parent.parent / "data"
# `xwininfo -root -tree` on Xvfb while the Chromium stand-in runs (Chromium 156, no window manager).
TREE = (DATA / "xwininfo_tree_chromium156.txt").read_text()
# `LC_ALL=C pactl list sink-inputs` on PulseAudio 16.1 while its tone plays (machine ids made up).
CHROMIUM_STREAM = (DATA / "pactl_sink_inputs_chromium156.txt").read_text()
CORKED = (CHROMIUM_STREAM.replace("Sink Input #0", "Sink Input #7").replace("Corked: no", "Corked: yes")
          .replace('binary = "chromium"', 'binary = "paplay"'))


def test_windows_are_read_with_names_classes_and_sizes() -> None:
    found = witness.parse_tree(TREE)
    assert [w.id for w in found] == ["0x200002", "0x200004", "0x400001", "0x200000"]
    assert found[0] == witness.Window("0x200002", "spotidoctor chromium stand-in: running",
                                      ("usr_share_spotidoctor-standin_tone.html", "Chromium"), 800, 600)
    assert found[1].name == "" and found[1].wm_class == ()


def test_of_class_wants_a_real_window_not_chromiums_helpers() -> None:
    chosen = [w.id for w in witness.parse_tree(TREE) if witness.of_class("chromium")(w)]
    assert chosen == ["0x200002"]  # not the 10x10 "chromium" leader window, not the clipboard window
    assert not any(witness.of_class("spotify")(w) for w in witness.parse_tree(TREE))


def test_sink_inputs_with_their_state_and_properties() -> None:
    [stream] = witness.parse_sink_inputs(CHROMIUM_STREAM)
    assert (stream.index, stream.corked, stream.muted) == (0, False, False)
    assert stream.properties["application.process.user"] == "spotify_user"
    assert witness.from_binary("chromium")(stream) and not witness.from_binary("spotify")(stream)
    [corked, live] = witness.parse_sink_inputs(CORKED + "\n" + CHROMIUM_STREAM)
    assert (corked.index, corked.corked, live.corked) == (7, True, False)
    assert witness.parse_sink_inputs("") == []
