"""The undo history as a list, like Audacity's History window (View › History).

Row 0 is the state the file or project opened in, then one row per undo step, oldest first,
with the step's label ("Change Gate max reduction"). The current state is highlighted, the steps
that can be redone are greyed; clicking a row undoes or redoes to it (``Session.go_to_step``:
clicking back N rows is exactly N undos). The list follows every edit, undo and redo.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QKeySequence
from PySide6.QtWidgets import QDockWidget, QListWidget, QListWidgetItem

from app.qt import theme


class HistoryView(QListWidget):
    """The list of history labels; emits ``stepChosen(index)`` when the user picks a row."""

    stepChosen = Signal(int)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("historyList")
        self.setToolTip("Every edit of this project, oldest first. Click a step to go back (or forward) "
                        "to it; the greyed steps after the current one can still be redone until you "
                        "make a new edit.")
        self.setUniformItemSizes(True)
        self.itemClicked.connect(lambda item: self.stepChosen.emit(self.row(item)))
        self.itemActivated.connect(lambda item: self.stepChosen.emit(self.row(item)))

    def show_history(self, initial: str, labels: list[str], index: int) -> None:
        """Rows for ``initial`` and ``labels``; row ``index`` is the current state."""
        rows = [initial, *labels]
        self.blockSignals(True)
        if self.count() > len(rows):
            for _ in range(self.count() - len(rows)):
                self.takeItem(self.count() - 1)
        bold, plain = QFont(self.font()), QFont(self.font())
        bold.setBold(True)
        dim = QBrush(QColor(theme.TEXT_DIM))
        for i, text in enumerate(rows):
            item = self.item(i) if i < self.count() else None
            if item is None:
                item = QListWidgetItem()
                self.addItem(item)
            item.setText(text)
            item.setFont(bold if i == index else plain)
            item.setForeground(dim if i > index else QBrush())
            item.setToolTip("Current state" if i == index else
                            ("Click to redo up to here" if i > index else "Click to undo back to here"))
        self.setCurrentRow(index)
        self.scrollToItem(self.item(index))
        self.blockSignals(False)


class HistoryDock:
    """The History dock of the workstation ``window``: a :class:`HistoryView` bound to its
    session (through the window's SessionBridge) and the View › History action."""

    def __init__(self, window) -> None:
        self.window = window
        self.view = HistoryView()
        self.view.stepChosen.connect(self.go_to)
        dock = QDockWidget("History", window)
        dock.setObjectName("historyDock")
        dock.setWidget(self.view)
        window.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)  # the right holds the processing panel
        dock.hide()
        self.dock = dock
        act = dock.toggleViewAction()
        act.setText("&History")
        act.setShortcut(QKeySequence("Ctrl+Shift+H"))
        act.setToolTip("Show or hide the undo history: every edit, and a click goes back to it.")
        act.setStatusTip(act.toolTip())
        window.addAction(act)
        window.view_menu.addAction(act)
        self.action = act
        window.bridge.projectChanged.connect(lambda *_: self.refresh())
        self.refresh()

    def refresh(self) -> None:
        h = self.window.session.history
        self.view.show_history(h.initial_label, h.labels(), h.index)

    def go_to(self, index: int) -> None:
        w = self.window
        w._guard(w.session.go_to_step, index)
        self.refresh()
