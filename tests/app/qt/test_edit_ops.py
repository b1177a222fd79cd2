"""The edit operations in the workstation: each action and its shortcut, their enabled states,
the edit list dock, and the edits drawn on the waveform."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from app.session.project import Selection
from dsp.edits import Cut, ProcessSelection, RegionGain, RoomToneFill, SpectralRepair
from dsp.roomtone import estimate_room_tone
from tests.app.qt.helpers import tone_file, wait_for_jobs

CTRL, SHIFT, ALT = (Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier,
                    Qt.KeyboardModifier.AltModifier)

#: (action attribute, key, modifiers, edit kind it adds, needs a rectangle)
OPS = [
    ("process_action", Qt.Key.Key_P, CTRL | ALT, ProcessSelection, False),
    ("process_stage_action", Qt.Key.Key_P, CTRL | ALT | SHIFT, ProcessSelection, False),
    ("room_tone_action", Qt.Key.Key_R, CTRL | SHIFT, RoomToneFill, False),
    ("cut_action", Qt.Key.Key_X, CTRL, Cut, False),
    ("cut_room_tone_action", Qt.Key.Key_X, CTRL | SHIFT, Cut, False),
    ("gain_action", Qt.Key.Key_G, CTRL | SHIFT, RegionGain, False),
    ("repair_attenuate_action", Qt.Key.Key_A, CTRL | ALT, SpectralRepair, True),
    ("repair_replace_action", Qt.Key.Key_R, CTRL | ALT, SpectralRepair, True),
]


@pytest.fixture
def window(make_window, qtbot, tmp_path):
    w = make_window()
    path = tone_file(tmp_path / "tone.wav", seconds=3.0)
    assert w.open_path(path)
    wait_for_jobs(w, qtbot)
    import soundfile as sf

    x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    w.session.set_profile(estimate_room_tone(x.T, sr, regions=[(0.0, 0.7)]))
    return w


def test_actions_are_enabled_only_for_a_selection_they_can_use(window):
    w = window
    w.session.set_selection(None)
    assert not any(getattr(w, a).isEnabled() for a, *_ in OPS)
    w.session.set_selection(Selection(1.0, 1.5))
    for attr, *_rest, rect in OPS:
        assert getattr(w, attr).isEnabled() is (not rect), attr
    w.session.set_selection(Selection(1.0, 1.5, 500.0, 2000.0))
    assert all(getattr(w, a).isEnabled() for a, *_ in OPS)
    assert not w.remove_edits_action.isEnabled()


def test_each_shortcut_adds_its_edit_as_one_undo_step(window, qtbot):
    # one window for all eight (each is undone before the next): opening and analysing a file
    # is most of this test's time
    w = window
    for attr, key, mods, kind, rect in OPS:
        w.session.set_selection(Selection(1.0, 1.5, 500.0, 2000.0) if rect else Selection(1.0, 1.5))
        w.activateWindow()
        qtbot.keyClick(w, key, mods)
        edits = w.session.project.edits
        assert len(edits) == 1 and isinstance(edits[0], kind), (attr, edits)
        assert w.undo_action.text() == f"&Undo {edits[0].describe()}", attr
        assert w.edits.panel.list.count() == 1 and w.edits.panel.list.item(0).text() == edits[0].describe(), attr
        assert len(w.edits.drawn) == 1 and tuple(w.edits.drawn[0].getRegion()) == pytest.approx((1.0, 1.5)), attr
        if attr == "process_stage_action":  # the stage selected in the Chain panel, alone
            row = w.chain_panel.stage_list.currentRow()
            assert len(edits[0].chain.stages) == 1 and edits[0].chain.stages[0].kind == w.session.project.chain.stages[row].kind
        if attr == "cut_room_tone_action":
            assert edits[0].keep_room_tone
        if attr == "repair_replace_action":
            assert edits[0].mode == "replace" and (edits[0].low_hz, edits[0].high_hz) == (500.0, 2000.0)
        qtbot.keyClick(w, Qt.Key.Key_Z, CTRL)
        assert w.session.project.edits == () and w.edits.panel.list.count() == 0 and w.edits.drawn == [], attr


def test_each_menu_action_triggers(window):
    w = window
    for i, (attr, *_rest, rect) in enumerate(OPS):
        start = 0.1 + 0.3 * i
        w.session.set_selection(Selection(start, start + 0.2, 300.0, 3000.0) if rect else Selection(start, start + 0.2))
        getattr(w, attr).trigger()
        assert len(w.session.project.edits) == i + 1, attr
    assert len(w.edits.drawn) == len(OPS)


def test_gain_asks_for_db_and_remembers_it(window):
    w = window
    w.session.set_selection(Selection(1.0, 1.5))
    w.edits.gain(-9.5)
    assert w.session.project.edits[-1] == RegionGain(1.0, 1.5, gain_db=-9.5)
    w.gain_action.trigger()  # no dialogs in tests: the last value
    assert w.session.project.edits[-1].gain_db == -9.5


def test_the_edit_list_removes_and_clears(window, qtbot):
    w = window
    for a, b in ((0.2, 0.4), (1.0, 1.2)):
        w.session.set_selection(Selection(a, b))
        w.room_tone_action.trigger()
    panel = w.edits.panel
    assert panel.list.count() == 2 and panel.clear_button.isEnabled()
    panel.list.setCurrentRow(0)
    qtbot.mouseClick(panel.remove_button, Qt.MouseButton.LeftButton)
    assert w.session.project.edits == (RoomToneFill(1.0, 1.2),)
    qtbot.mouseClick(panel.clear_button, Qt.MouseButton.LeftButton)
    assert w.session.project.edits == () and not panel.clear_button.isEnabled()
    w.session_undo()
    assert len(w.session.project.edits) == 1
    w.remove_edits_action.trigger()
    assert w.session.project.edits == ()
    w.show_edits_action.trigger()
    assert w.side_tabs.currentWidget() is panel


def test_a_refused_operation_is_a_message_not_a_traceback(window):
    w = window
    w.session.set_selection(Selection(1.0, 1.5))
    w.cut_action.trigger()
    w.session.set_selection(Selection(1.2, 1.8))
    w.cut_action.trigger()  # overlaps the first cut
    assert len(w.session.project.edits) == 1
    assert w.errors and "overlaps" in str(w.errors[-1])


def test_gain_dialog_and_cancel(window, monkeypatch):
    from PySide6.QtWidgets import QInputDialog

    w = window
    w.show_dialogs = True
    w.session.set_selection(Selection(1.0, 1.5))
    asked = []
    monkeypatch.setattr(QInputDialog, "getDouble", lambda *a, **k: asked.append(a[3:6]) or (4.5, True))
    w.gain_action.trigger()
    assert w.session.project.edits[-1] == RegionGain(1.0, 1.5, gain_db=4.5)
    assert asked == [(-6.0, -60.0, 24.0)]  # starts at the last value, within the range an edit allows
    monkeypatch.setattr(QInputDialog, "getDouble", lambda *a, **k: (0.0, False))
    w.gain_action.trigger()  # cancelled: nothing added
    assert len(w.session.project.edits) == 1


def test_double_click_in_the_list_puts_the_cursor_on_the_edit(window, qtbot):
    w = window
    w.session.set_selection(Selection(1.7, 1.9))
    w.cut_action.trigger()
    w.show_edits_action.trigger()
    qtbot.wait(20)
    item = w.edits.panel.list.item(0)
    rect = w.edits.panel.list.visualItemRect(item)
    qtbot.mouseClick(w.edits.panel.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(w.edits.panel.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert w.monitor.position_s == pytest.approx(1.7, abs=0.01)


def test_apply_shows_the_edits_in_the_after_view_and_goes_out_of_date_with_them(window, qtbot):
    import soundfile as sf

    w = window
    w.apply_chain()
    wait_for_jobs(w, qtbot)
    before, sr = sf.read(str(w.after.result.path), dtype="float32", always_2d=True)
    w.session.add_edit(RegionGain(1.0, 1.5, gain_db=-12.0))
    assert not w.render_is_current()  # the gain changes what the AFTER view should show
    w.apply_chain()
    wait_for_jobs(w, qtbot)
    assert w.render_is_current()
    after, _ = sf.read(str(w.after.result.path), dtype="float32", always_2d=True)
    mid = slice(int(1.1 * sr), int(1.4 * sr))
    drop_db = 10 * np.log10(float((before[mid] ** 2).sum() / (after[mid] ** 2).sum()))
    assert drop_db == pytest.approx(12.0, abs=0.01)
    w.session.add_edit(Cut(2.0, 2.2))
    assert w.render_is_current()  # a cut is shaded on the views, which stay in source time
    assert after.shape == before.shape


@pytest.mark.parametrize("scale", ["linear", "mel"])
def test_spectral_repairs_are_outlined_on_both_spectrograms_at_their_frequencies(window, scale):
    w = window
    for v in (w.before_view, w.after_view):
        v.set_scale(scale)
    w.session.set_selection(Selection(1.0, 1.6, 1800.0, 4200.0))
    w.edits.repair_attenuate()
    for v in (w.before_view, w.after_view):
        r = v.repairs_item.path().boundingRect()
        fs = v.frequency_scale
        assert (r.left(), r.right()) == pytest.approx((1.0, 1.6))
        assert (fs.to_hz(r.top()), fs.to_hz(r.bottom())) == pytest.approx((1800.0, 4200.0), rel=1e-6)
    w.session.undo()
    assert w.before_view.repairs_item.path().isEmpty() and w.after_view.repairs_item.path().isEmpty()
