"""The edit list as a panel: one row per edit (what it does, where), Remove and Remove all.

It only shows the project's ``edits`` and asks for changes through its signals; the
:class:`app.qt.edit_controller.EditController` binds it to the session.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)


class EditsPanel(QWidget):
    """The project's edit list, in the order it is applied."""

    removeRequested = Signal(int)  #: the row's edit index
    clearRequested = Signal()
    seekRequested = Signal(float)  #: a row was double-clicked: its start (source seconds)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.list = QListWidget()
        self.list.setToolTip("The edits, in the order they are applied to the chain's output. Double-click one "
                             "to put the cursor there; Delete removes it (undoable).")
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Remove the selected edit (undoable).")
        self.clear_button = QPushButton("Remove all")
        self.clear_button.setToolTip("Remove every edit (one undo step).")
        buttons = QHBoxLayout()
        buttons.addWidget(self.remove_button)
        buttons.addWidget(self.clear_button)
        buttons.addStretch(1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.list, 1)
        lay.addLayout(buttons)
        self.remove_button.clicked.connect(self._remove)
        self.clear_button.clicked.connect(self.clearRequested)
        self.list.itemDoubleClicked.connect(lambda item: self.seekRequested.emit(item.data(256)))
        self.list.currentRowChanged.connect(lambda _row: self._enable())
        self._starts: list[float] = []
        self._enable()

    def set_edits(self, edits) -> None:
        """Show ``edits`` (a tuple of :mod:`dsp.edits` edits), keeping the current row where it can."""
        row = self.list.currentRow()
        self.list.blockSignals(True)
        self.list.clear()
        for e in edits:
            item = QListWidgetItem(e.describe())
            item.setData(256, float(e.start_s))
            self.list.addItem(item)
        if edits:
            self.list.setCurrentRow(min(max(row, 0), len(edits) - 1))
        self.list.blockSignals(False)
        self._enable()

    def _remove(self) -> None:
        row = self.list.currentRow()
        if row >= 0:
            self.removeRequested.emit(row)

    def _enable(self) -> None:
        self.remove_button.setEnabled(self.list.currentRow() >= 0)
        self.clear_button.setEnabled(self.list.count() > 0)
