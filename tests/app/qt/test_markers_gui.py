"""Markers and regions in the workstation (issue 24, item 3): M / Shift+M, the Markers dock
(rename, jump, remove), '.' and ',' between them, drawing on the views, export, undo."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

pytestmark = pytest.mark.gui

from tests.app.qt.helpers import opened_tone_window, wait_for_jobs  # noqa: E402

SHIFT = Qt.KeyboardModifier.ShiftModifier


@pytest.fixture
def window(make_window, qtbot, tmp_path):
    return opened_tone_window(make_window, qtbot, tmp_path)


def _names(table):
    return [table.item(r, 0).text() for r in range(table.rowCount())]


def test_keys_add_markers_and_regions_shown_in_the_dock_and_on_the_views(window, qtbot):
    from app.session.markers import Marker

    w, table = window, window.markers_panel.view
    qtbot.keyClick(w, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier | SHIFT)
    assert w.markers_panel.dock.isVisible()
    w.seek(2.5)
    qtbot.keyClick(w.waveform, Qt.Key.Key_M)
    assert w.session.project.markers == (Marker(2.5, "Marker 1"),)
    assert w.session.history.undo_label == "Add marker 'Marker 1' at 2.50 s"
    qtbot.keyClick(w.waveform, Qt.Key.Key_M, SHIFT)  # no selection: nothing, and the status bar says why
    assert len(w.session.project.markers) == 1 and "Select a time range" in w.statusBar().currentMessage()
    w.waveform.vb.sigSelect.emit(0.5, 1.5, None, None, True)
    qtbot.keyClick(w.waveform, Qt.Key.Key_M, SHIFT)
    assert w.session.project.markers == (Marker(0.5, "Region 1", 1.5), Marker(2.5, "Marker 1"))
    assert _names(table) == ["Region 1", "Marker 1"]
    assert table.item(0, 1).text() == "0:00.500" and table.item(0, 2).text() == "0:01.000"
    assert table.item(1, 2).text() == ""  # a point has no length
    # drawn on the waveform (with names) and both spectrograms
    for overlay in w.markers_panel.overlays:
        assert len(overlay.items) == 2 and overlay.items[0] in overlay.plot.getPlotItem().items
    spans = [tuple(i.getRegion()) for i in w.markers_panel.overlays[0].items if hasattr(i, "getRegion")]
    assert spans == [(0.5, 1.5)]
    w.session_undo()
    assert _names(table) == ["Marker 1"] and len(w.markers_panel.overlays[0].items) == 1
    w.session_redo()
    assert _names(table) == ["Region 1", "Marker 1"]


def test_dock_renames_jumps_and_removes(window, qtbot, tmp_path):
    w, table = window, window.markers_panel.view
    w.session.add_marker(1.0)
    w.session.add_marker(3.0, name="Outro")
    w.markers_panel.dock.show()
    table.item(0, 0).setText("Intro")  # what the table's editor does on Enter
    assert w.session.project.markers[0].name == "Intro"
    assert w.session.history.undo_label == "Rename marker 'Marker 1' to 'Intro'"
    w.session_undo()
    assert _names(table) == ["Marker 1", "Outro"]
    table.item(0, 0).setText("x" * 300)  # refused (too long): said, and the old name is back
    assert w.errors and "at most 200 characters" in str(w.errors[-1])
    assert _names(table) == ["Marker 1", "Outro"] and w.session.project.markers[0].name == "Marker 1"
    table.cellDoubleClicked.emit(1, 1)
    assert w.monitor.position_s == pytest.approx(3.0)
    table.setFocus()
    table.selectRow(0)
    qtbot.keyClick(table, Qt.Key.Key_Delete)
    assert _names(table) == ["Outro"] and w.session.history.undo_label == "Remove marker 'Marker 1' at 1.00 s"
    out = w.markers_panel.export_to(tmp_path / "m.txt")
    assert out.read_text() == "3.000000\t3.000000\tOutro\n"
    assert w.markers_panel.export_action in w.file_menu.actions()


def test_ctrl_shift_m_moves_the_selected_marker_to_the_playhead(window, qtbot):
    from app.session.markers import Marker

    w, table = window, window.markers_panel.view
    w.session.add_marker(0.5, 1.5, name="Laugh")
    w.session.add_marker(3.0, name="Outro")
    w.markers_panel.dock.show()
    qtbot.keyClick(w.waveform, Qt.Key.Key_M, Qt.KeyboardModifier.ControlModifier | SHIFT)  # nothing selected
    assert "Select a marker" in w.statusBar().currentMessage()
    assert w.session.project.markers == (Marker(0.5, "Laugh", 1.5), Marker(3.0, "Outro"))
    table.selectRow(0)
    w.seek(3.5)
    w.waveform.setFocus()
    qtbot.keyClick(w.waveform, Qt.Key.Key_M, Qt.KeyboardModifier.ControlModifier | SHIFT)
    assert w.session.project.markers == (Marker(3.0, "Outro"), Marker(3.5, "Laugh", 4.5))  # keeps its length
    assert w.session.history.undo_label == "Move region 'Laugh' to 3.50 s"
    assert _names(table) == ["Outro", "Laugh"] and table.currentRow() == 1
    w.session_undo()
    assert w.session.project.markers[0] == Marker(0.5, "Laugh", 1.5)


def test_period_and_comma_go_between_markers(window, qtbot):
    w = window
    for t in (1.0, 2.0):
        w.session.add_marker(t)
    w.session.add_marker(2.5, 3.5)
    w.seek(0.0)
    stops = []
    for _ in range(4):
        qtbot.keyClick(w.waveform, Qt.Key.Key_Period)
        stops.append(w.monitor.position_s)
    assert stops == pytest.approx([1.0, 2.0, 2.5, 2.5])  # stays at the last
    qtbot.keyClick(w.waveform, Qt.Key.Key_Comma)
    assert w.monitor.position_s == pytest.approx(2.0)


def test_marker_keys_do_not_fire_in_a_text_or_number_field(window, qtbot):
    w = window
    spin = next(v for v in w.chain_panel._field_widgets.values() if hasattr(v, "spin")).spin
    spin.setFocus()
    QApplication.processEvents()
    for key, mods in ((Qt.Key.Key_M, Qt.KeyboardModifier.NoModifier), (Qt.Key.Key_M, SHIFT),
                      (Qt.Key.Key_Period, Qt.KeyboardModifier.NoModifier)):
        qtbot.keyClick(QApplication.focusWidget(), key, mods)
    assert w.session.project.markers == ()


def test_markers_come_back_with_the_project(window, qtbot, tmp_path, make_window):
    w = window
    w.session.add_marker(1.25, name="Cut")
    path = w.save_project(path=tmp_path / "ep.roomtone")
    w2 = make_window()
    assert w2.open_path(path)
    wait_for_jobs(w2, qtbot)
    assert _names(w2.markers_panel.view) == ["Cut"]
    assert w2.markers_panel.overlays[0].items[0].value() == pytest.approx(1.25)
