"""Keyboard navigation (issue 24, item 5): Home / End, arrows with a zoom-scaled step, Shift to
extend the selection, Stop and Return on Shift+Space, zoom that keeps the playhead on screen; and
none of it while a text field, number field or list has the focus."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

pytestmark = pytest.mark.gui

from tests.app.qt.helpers import opened_tone_window  # noqa: E402

SHIFT = Qt.KeyboardModifier.ShiftModifier


@pytest.fixture
def window(make_window, qtbot, tmp_path):
    return opened_tone_window(make_window, qtbot, tmp_path)


def _span(w):
    (x0, x1), _ = w.waveform.vb.viewRange()
    return x0, x1


def test_home_end_and_arrows_move_the_playhead(window, qtbot):
    w = window
    qtbot.keyClick(w.waveform, Qt.Key.Key_End)
    assert w.monitor.position_s == pytest.approx(4.0)
    qtbot.keyClick(w.waveform, Qt.Key.Key_Home)
    assert w.monitor.position_s == 0.0
    qtbot.keyClick(w.waveform, Qt.Key.Key_Left)  # clamped at the start
    assert w.monitor.position_s == 0.0
    x0, x1 = _span(w)
    qtbot.keyClick(w.waveform, Qt.Key.Key_Right)
    assert w.monitor.position_s == pytest.approx((x1 - x0) / 40)
    # the step follows the zoom: zoomed in 4x, a step is 4x smaller
    w.waveform.setXRange(0.0, (x1 - x0) / 4, padding=0)
    w.seek(0.0)
    qtbot.keyClick(w.waveform, Qt.Key.Key_Right)
    assert w.monitor.position_s == pytest.approx((x1 - x0) / 160)
    assert w.session.project.selection is None
    assert w.session.history.index == 0  # moving the playhead is not an edit


def test_shift_extends_the_selection_from_the_playhead(window, qtbot):
    w = window
    w.seek(1.0)
    step = (_span(w)[1] - _span(w)[0]) / 40
    qtbot.keyClick(w.waveform, Qt.Key.Key_Right, SHIFT)
    qtbot.keyClick(w.waveform, Qt.Key.Key_Right, SHIFT)
    sel = w.session.project.selection
    assert (sel.start_s, sel.end_s) == pytest.approx((1.0, 1.0 + 2 * step))
    qtbot.keyClick(w.waveform, Qt.Key.Key_End, SHIFT)
    sel = w.session.project.selection
    assert (sel.start_s, sel.end_s) == pytest.approx((1.0, 4.0))
    qtbot.keyClick(w.waveform, Qt.Key.Key_Home, SHIFT)  # across the anchor: 0 to 1
    sel = w.session.project.selection
    assert (sel.start_s, sel.end_s) == pytest.approx((0.0, 1.0))
    qtbot.keyClick(w.waveform, Qt.Key.Key_Right)  # a plain move keeps the selection
    assert w.session.project.selection == sel and w.monitor.position_s == pytest.approx(step)
    qtbot.keyClick(w.waveform, Qt.Key.Key_Right, SHIFT)  # moves the edge nearest the playhead
    sel = w.session.project.selection
    assert (sel.start_s, sel.end_s) == pytest.approx((2 * step, 1.0))


def test_stop_and_return_has_a_key(window, qtbot):
    w = window
    assert w.stop_action.shortcut().toString() == "Shift+Space"
    w.seek(0.5)
    w.toggle_play()
    w.monitor.position_s = 2.5  # the null monitor does not move by itself
    w.monitor.playing = True
    qtbot.keyClick(w.waveform, Qt.Key.Key_Space, SHIFT)
    assert not w.monitor.playing
    w.playback.tick()
    assert w.monitor.position_s == pytest.approx(0.5)


def test_keyboard_zoom_keeps_the_playhead_on_screen(window, qtbot):
    w = window
    w.seek(3.0)
    x0, x1 = _span(w)
    frac = (3.0 - x0) / (x1 - x0)
    qtbot.keyClick(w.waveform, Qt.Key.Key_Equal, Qt.KeyboardModifier.ControlModifier)
    y0, y1 = _span(w)
    assert y1 - y0 == pytest.approx((x1 - x0) / 2, rel=0.02)
    assert (3.0 - y0) / (y1 - y0) == pytest.approx(frac, abs=0.01)  # same place on screen
    qtbot.keyClick(w.waveform, Qt.Key.Key_Minus, Qt.KeyboardModifier.ControlModifier)
    z0, z1 = _span(w)
    assert (3.0 - z0) / (z1 - z0) == pytest.approx(frac, abs=0.01)


def test_wheel_zoom_keeps_the_mouse_time_on_screen(window):
    vb = window.waveform.vb
    x0, x1 = _span(window)
    vb.zoom_time(0.5, centre=1.0)
    y0, y1 = _span(window)
    assert (1.0 - y0) / (y1 - y0) == pytest.approx((1.0 - x0) / (x1 - x0), abs=0.01)


def test_keys_stay_with_a_focused_text_number_field_or_list(window, qtbot):
    w = window
    spin = next(v for v in w.chain_panel._field_widgets.values() if hasattr(v, "spin")).spin
    w.seek(1.0)
    spin.setFocus()
    QApplication.processEvents()
    before = spin.value()
    for key in (Qt.Key.Key_Home, Qt.Key.Key_End, Qt.Key.Key_Right, Qt.Key.Key_Left):
        qtbot.keyClick(QApplication.focusWidget(), key)
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Right, SHIFT)
    assert w.monitor.position_s == pytest.approx(1.0) and w.session.project.selection is None
    assert spin.value() == before  # the keys moved the text cursor, nothing else
    w.chain_panel.stage_list.setFocus()
    w.chain_panel.stage_list.setCurrentRow(0)
    QApplication.processEvents()
    qtbot.keyClick(w.chain_panel.stage_list, Qt.Key.Key_End)
    assert w.monitor.position_s == pytest.approx(1.0)
    assert w.chain_panel.stage_list.currentRow() == w.chain_panel.stage_list.count() - 1  # the list's End
