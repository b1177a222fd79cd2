"""The undo history list (View › History, issue 24 item 5): one row per step with its label, the
current one highlighted, a click goes back or forward to it (exactly N undos), and it follows
edits, undo and redo live."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

pytestmark = pytest.mark.gui

from tests.app.qt.helpers import tone_file, wait_for_jobs  # noqa: E402


def _rows(view):
    return [view.item(i).text() for i in range(view.count())]


def _click(qtbot, view, row):
    rect = view.visualItemRect(view.item(row))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def test_history_list_follows_edits_and_clicks_go_back_exactly(make_window, qtbot, tmp_path):
    from app.session import Session

    w = make_window()
    src = tone_file(tmp_path / "ep.wav")
    assert w.open_path(src)
    wait_for_jobs(w, qtbot)
    view = w.history_panel.view
    assert not w.history_panel.dock.isVisible()
    qtbot.keyClick(w, Qt.Key.Key_H, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert w.history_panel.dock.isVisible()
    assert w.history_panel.action in w.view_menu.actions()

    s = w.session
    states = [s.project]
    for edit in (lambda: s.set_loudness("podcast"), lambda: s.set_chain_field("mix", 0.8, coalesce=False),
                 lambda: s.set_loudness("atsc"), lambda: s.set_chain_field("mix", 0.5, coalesce=False)):
        edit()
        states.append(s.project)
    QApplication.processEvents()
    assert _rows(view) == [s.history.initial_label, *s.history.labels()]
    assert len(_rows(view)) == 5 and view.currentRow() == 4 and view.item(4).font().bold()
    assert "loudness" in _rows(view)[1].lower()

    _click(qtbot, view, 1)  # back three steps
    assert s.project == states[1] and s.history.index == 1
    assert view.currentRow() == 1 and view.item(1).font().bold() and not view.item(4).font().bold()
    assert w.chain_panel.loudness_combo.currentData() == "podcast"  # the window shows that state
    # the same as three undos, exactly
    twin = Session(states[0])
    for k in range(1, 5):
        twin.apply(s.history.labels()[k - 1], lambda p, k=k: states[k])
    for _ in range(3):
        twin.undo()
    assert twin.project == s.project

    _click(qtbot, view, 3)  # forward two
    assert s.project == states[3]
    _click(qtbot, view, 0)  # all the way back to the opened file
    assert s.project == states[0] and not s.can_undo
    w.session_redo()  # the list follows undo/redo from anywhere
    assert view.currentRow() == 1
    s.set_loudness("ebu-r128")  # a new edit drops the redo tail
    assert len(_rows(view)) == 3 and view.currentRow() == 2
    assert s.go_to_step(2) is False  # already current


def test_history_go_to_is_k_undos_or_redos():
    from app.session import History, Project

    h = History(Project())
    projects = [Project(loudness=n) for n in ("podcast", "atsc", "ebu-r128")]
    for i, p in enumerate(projects):
        h.push(f"step {i}", p)
    assert h.go_to(1) == projects[0] and h.index == 1 and h.redo_label == "step 1"
    assert h.go_to(3) == projects[2] and not h.can_redo
    assert h.go_to(3) is None
    with pytest.raises(IndexError):
        h.go_to(4)
