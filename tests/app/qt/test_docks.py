"""The window's docks and dialogs (offscreen): the prosody panel as a dock whose findings move the
playhead, File > Batch opening the batch dialog, Edit > Preferences in the menu."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

pytestmark = pytest.mark.gui

from app.audio.project_monitor import NullMonitor  # noqa: E402
from app.qt.main_window import MainWindow  # noqa: E402
from app.session import Autosave  # noqa: E402
from dsp.io import write_audio  # noqa: E402

SR = 48000


@pytest.fixture
def window(qtbot, tmp_path, settings):
    w = MainWindow(settings=settings, autosave=Autosave(tmp_path / "autosave"), monitor=NullMonitor())
    w.show_dialogs = False
    w.ask_before_closing = False
    qtbot.addWidget(w)
    w.resize(1400, 900)
    w.show()
    yield w
    w.close()


@pytest.fixture
def source(tmp_path):
    t = np.arange(3 * SR) / SR
    path = tmp_path / "clip.wav"
    write_audio(path, (0.2 * np.sin(2 * np.pi * 180 * t)).astype(np.float32)[None], SR, "wav24")
    return path


def _open(w, qtbot, path) -> None:
    assert w.open_path(path)
    assert w.wait_for_jobs(120)
    qtbot.wait(20)
    assert w.wait_for_jobs(120)


def _menu_actions(w, title: str) -> dict[str, object]:
    for act in w.menuBar().actions():
        if act.text().replace("&", "") == title:
            return {a.text().replace("&", ""): a for a in act.menu().actions() if a.text()}
    raise AssertionError(f"no {title} menu")


def test_prosody_dock_is_toggled_from_the_view_menu(window, qtbot):
    w = window
    assert w.prosody_dock is not None and w.prosody_panel is not None
    assert w.dockWidgetArea(w.prosody_dock) == Qt.DockWidgetArea.BottomDockWidgetArea
    assert not w.prosody_dock.isVisible()  # out of the way until asked for
    view = _menu_actions(w, "View")
    act = view["Prosody Checks"]
    assert act is w.prosody_action and act.isCheckable() and act.toolTip()
    act.trigger()
    assert w.prosody_dock.isVisible()
    qtbot.keyClick(w, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert not w.prosody_dock.isVisible()


def test_a_prosody_finding_moves_the_playhead(window, qtbot, source):
    w = window
    _open(w, qtbot, source)
    w.prosody_action.trigger()
    w.waveform.setXRange(0.0, 0.5, padding=0)
    w.prosody_panel.seekRequested.emit(2.25)
    assert w.monitor.position_s == pytest.approx(2.25)
    qtbot.wait(80)  # the UI timer draws the playhead
    assert w.waveform.playhead.value() == pytest.approx(2.25)
    assert w.overview_playhead.value() == pytest.approx(2.25)
    (x0, x1), _ = w.waveform.vb.viewRange()
    assert x0 <= 2.25 <= x1  # scrolled into view


def test_a_finding_in_another_file_does_not_move_the_playhead(window, qtbot, source, tmp_path):
    w = window
    _open(w, qtbot, source)
    w.seek(1.0)

    class Clip:
        path = str(tmp_path / "other.wav")

    w.prosody_panel.current_clip = Clip()
    w.prosody_panel.seekRequested.emit(2.0)
    assert w.monitor.position_s == pytest.approx(1.0)
    assert "other.wav" in w.statusBar().currentMessage()


def test_prosody_panel_analyses_the_open_file_and_seeks(window, qtbot, dev_data):
    """The real panel in the dock: analyse a prosody clip, open it, click a finding."""
    w = window
    clip = dev_data / "prosody" / "emo_sad_02.flac"
    if not clip.exists():
        pytest.skip("prosody dev clip missing")
    _open(w, qtbot, clip)
    panel = w.prosody_panel
    w.prosody_action.trigger()
    with qtbot.waitSignal(panel.analysisFinished, timeout=60000):
        panel.load_paths([clip])
    # the checks ran as one of the window's jobs and are kept in the project (undoable, saved)
    kept = w.session.project.analyses["prosody"]
    assert [c["name"] for c in kept["clips"]] == ["emo_sad_02.flac"]
    assert len(kept["findings"]) == len(panel.dataset.findings)
    assert w.session.history.undo_label == "Prosody checks of 1 clip"
    tree = panel.findings
    target = None
    for i in range(tree.topLevelItemCount()):
        item = tree.topLevelItem(i)
        f = item.data(0, Qt.ItemDataRole.UserRole)
        if f is not None and f.clip and f.first_time_s is not None:
            target = (item, f)
            break
    if target is None:
        pytest.skip("no timed finding for this clip")
    item, f = target
    tree.itemClicked.emit(item, 1)
    assert w.monitor.position_s == pytest.approx(f.first_time_s)


def test_file_batch_opens_the_batch_dialog(window, qtbot, source):
    w = window
    file_menu = _menu_actions(w, "File")
    assert "Batch…" in file_menu
    try:
        from app.qt.batch_dialog import BatchDialog
    except Exception:  # noqa: BLE001 - being built elsewhere
        assert not w.batch_action.isEnabled()
        return
    assert w.batch_action.isEnabled()
    _open(w, qtbot, source)
    w.batch_action.trigger()
    dlg = w._batch_dialog
    assert isinstance(dlg, BatchDialog)
    assert dlg.in_edit.text() == str(source.parent)  # starts in the open file's folder


def test_edit_preferences_is_in_the_menu(window):
    edit = _menu_actions(window, "Edit")
    act = edit["Preferences…"]
    assert act.shortcut().toString() == "Ctrl+,"
    assert "buffer" in act.toolTip()


def test_the_prosody_panel_is_built_when_its_dock_is_first_shown(window, qtbot):
    from app.qt.prosody_panel import ProsodyPanel

    assert window.prosody.panel is None  # a window that never opens it does not pay for it
    window.prosody_action.trigger()
    assert window.prosody_dock.isVisible()
    assert isinstance(window.prosody.panel, ProsodyPanel) and window.prosody_dock.widget() is window.prosody.panel
    assert window.prosody_panel is window.prosody.panel  # built once


def test_a_prosody_panel_that_cannot_be_built_says_why_and_the_window_works(window, monkeypatch):
    import app.qt.prosody_dock_controller as pdc

    def broken(**_kw):
        raise RuntimeError("parselmouth is missing")

    monkeypatch.setattr(pdc, "ProsodyPanel", broken)
    window.prosody_action.trigger()
    assert window.prosody_panel is None
    assert "parselmouth is missing" in window.prosody_dock.widget().text()
    assert not window.prosody_action.isEnabled()
    assert not window.errors
