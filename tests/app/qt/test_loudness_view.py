"""The Loudness view: curves for a loaded file, the render's after Apply, phrase colours by level."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import Qt

pytestmark = pytest.mark.gui

from app.loudness_timeline import LEVEL_SCALE  # noqa: E402
from app.qt.loudness_view import LoudnessView  # noqa: E402
from dsp.loudness_timeline import Phrase, build_timeline  # noqa: E402
from tests.two_voices import two_voices  # noqa: E402


def _wait(window, qtbot) -> None:
    assert window.wait_for_jobs(120), "background jobs did not finish"
    qtbot.wait(20)
    assert window.wait_for_jobs(120)


def _is_blue(rgb) -> bool:
    return rgb[2] > rgb[0] + 60


def _is_red(rgb) -> bool:
    return rgb[0] > rgb[2] + 60 and rgb[0] > 200


def test_colours_follow_the_level(qtbot):
    view = LoudnessView()
    qtbot.addWidget(view)
    energy = np.full(100, 10 ** ((-26 + 0.691) / 10))
    phrases = tuple(Phrase(float(i), float(i) + 0.8, lv) for i, lv in enumerate((-26.0, -26.0, -26.0, -20.0, -32.0)))
    # the measured levels are given through the energies: make each phrase's energy its level
    for i, p in enumerate(phrases):
        energy[i * 10 : i * 10 + 8] = 10 ** ((p.loudness_lufs + 0.691) / 10)
    tl = build_timeline(energy, 48000, phrases=phrases)
    assert [round(p.loudness_lufs, 3) for p in tl.phrases] == [-26.0, -26.0, -26.0, -20.0, -32.0]
    view.set_timelines(tl, None)
    typical, loud, quiet = view.bar_colours("before")[0], view.bar_colours("before")[3], view.bar_colours("before")[4]
    assert typical == LEVEL_SCALE[2][1]  # green: the file's typical phrase level
    assert loud == LEVEL_SCALE[-1][1] and _is_red(loud)  # +6 LU
    assert quiet == LEVEL_SCALE[0][1] and _is_blue(quiet)  # -6 LU
    assert view.bars["before"] is not None and view.bars["after"] is None
    assert "Speaker-level spread" in view.title.text() and "no VAD" not in view.title.text()
    assert "typical" in view.legend.text()
    fallback = build_timeline(energy, 48000, note="phrases found by level over the noise floor: no model")
    view.set_timelines(fallback, None)
    assert "phrases by level (no VAD)" in view.title.text() and "no model" in view.title.toolTip()


def test_window_draws_loudness_before_and_after_apply(make_window, qtbot, dev_data, tmp_path):
    x, sr = two_voices(dev_data, 12.0)
    path = tmp_path / "two_voices.wav"
    sf.write(path, x, sr, subtype="PCM_16")
    w = make_window()
    assert w.open_path(path)
    _wait(w, qtbot)
    view = w.loudness_view
    assert not w.errors, w.errors
    before = view.before
    assert before is not None and view.after is None
    xs, ys = view.before_curve.getData()
    assert xs is not None and len(xs) == before.energy.size > 100
    assert before.spread_lu == pytest.approx(12.0, abs=2.5), before.summary()
    assert "Speaker-level spread" in view.title.text() and "\u2192" not in view.title.text()
    # the quiet voice's phrases are blue, the loud voice's red
    colours = view.bar_colours("before")
    assert any(_is_blue(c) for c in colours) and any(_is_red(c) for c in colours)
    # the selection shows here as on the waveform
    w.waveform.vb.sigSelect.emit(1.0, 2.0, None, None, True)
    assert view.time_selection.isVisible() and view.time_selection.getRegion() == pytest.approx((1.0, 2.0))
    # time is shared with the waveform
    w.waveform.setXRange(2.0, 5.0, padding=0)
    assert view.vb.viewRange()[0] == pytest.approx([2.0, 5.0], abs=1e-6)

    qtbot.mouseClick(w.apply_button, Qt.MouseButton.LeftButton)
    _wait(w, qtbot)
    assert not w.errors, w.errors
    after = view.after
    assert after is not None and after.detector == "given"
    assert [(p.start_s, p.end_s) for p in after.phrases] == [(p.start_s, p.end_s) for p in before.phrases]
    ax, _ = view.after_curve.getData()
    assert ax is not None and len(ax) == after.energy.size
    assert "\u2192" in view.title.text() and "out of date" not in view.title.text()
    view.vb.sigHover.emit(3.0, -20.0)  # the status bar reads the loudness under the mouse
    assert "LUFS short-term" in w.position_label.text() and "\u2192" in w.position_label.text()
    # an edit makes the render out of date; the curves stay
    w.session.set_chain_field("mix", 0.5)
    qtbot.wait(20)
    assert not w.render_is_current()
    assert "out of date" in view.title.text()
    assert view.after is after
    # and Apply again updates the after curve: half the chain mixed back in changes the levels
    qtbot.mouseClick(w.apply_button, Qt.MouseButton.LeftButton)
    _wait(w, qtbot)
    assert view.after is not after and "out of date" not in view.title.text()
