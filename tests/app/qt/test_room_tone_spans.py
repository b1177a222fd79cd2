"""The spans the room tone was learned from, on the waveform (issue 24, item 6): exactly the
profile's recorded regions, filled when found automatically, outlined when learned from a
selection, gone with the profile."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.gui

from tests.app.qt.helpers import tone_file, wait_for_jobs  # noqa: E402


def _drawn(w):
    return [tuple(i.getRegion()) for i in w.waveform._room_tone_items if hasattr(i, "getRegion")]


def test_automatic_room_tone_spans_are_drawn_as_recorded(make_window, qtbot, tmp_path):
    w = make_window()
    assert w.open_path(tone_file(tmp_path / "ep.wav", seconds=4.0, noise=0.004))
    wait_for_jobs(w, qtbot)
    assert _drawn(w) == []
    w.find_room_tone()
    wait_for_jobs(w, qtbot)
    profile = w.session.project.profile
    assert profile is not None and profile.method in ("auto", "vad"), w.errors
    assert profile.regions, "the automatic profile records the spans it used"
    assert _drawn(w) == [tuple(r) for r in profile.regions]  # exactly the recorded spans
    assert w.waveform.room_tone_spans == [tuple(r) for r in profile.regions]
    region = next(i for i in w.waveform._room_tone_items if hasattr(i, "getRegion"))
    assert "found automatically" in region.toolTip() and region.brush.color().alpha() > 0
    assert any("room tone (auto)" in getattr(i, "textItem", i).toPlainText()
               for i in w.waveform._room_tone_items if hasattr(i, "textItem"))

    # learned from a selection: that span, outlined, not filled
    w.waveform.vb.sigSelect.emit(0.1, 0.7, None, None, True)
    w.learn_from_selection()
    wait_for_jobs(w, qtbot)
    assert w.session.project.profile.method == "learn"
    learned = w.session.project.profile.regions
    assert _drawn(w) == [tuple(r) for r in learned] and learned[0][0] == pytest.approx(0.1, abs=0.05)
    region = next(i for i in w.waveform._room_tone_items if hasattr(i, "getRegion"))
    assert "learned from a selection" in region.toolTip() and region.brush.color().alpha() == 0

    w.session_undo()  # back to the automatic one
    assert _drawn(w) == [tuple(r) for r in profile.regions]
    w.session.set_profile(None)
    assert _drawn(w) == [] and w.waveform._room_tone_items == []
