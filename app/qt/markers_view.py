"""Markers and regions in the workstation: the Markers dock (a table of name, start and length),
their drawing on the waveform and the spectrograms, their keys and the marker export.

==============  ====================================================================
Key             What it does
==============  ====================================================================
M               add a marker at the playhead
Shift+M         add a region from the time selection
. (period)      playhead to the next marker or region start
, (comma)       playhead to the previous one
Ctrl+Shift+K    show or hide the Markers dock
==============  ====================================================================

In the dock, double-click (or Enter on) a time to move the playhead there; double-click a name
(or F2) to rename it; Delete removes the selected row. Every change is one undo step
(``Session.add_marker``...). File › Export Markers… writes CSV or an Audacity label file.
"""

from __future__ import annotations

from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.qt.window_actions import add_action
from app.session.markers import Marker
from app.timecode import format_time

MARKER_COLOUR = "#ffd24a"
REGION_FILL = (255, 210, 74, 28)
REGION_EDGE = (255, 210, 74, 150)
COLUMNS = ("Name", "Start", "Length")
#: where along a marker line its name sits (0 bottom, 1 top): under the room-tone strip
LABEL_AT = 0.75
LABEL_FILL = (23, 24, 27, 200)  # readable over a loud passage


class MarkersView(QTableWidget):
    """The markers table. ``renamed(row, name)``, ``jumpRequested(seconds)``, ``removeRequested(row)``."""

    renamed = Signal(int, str)
    jumpRequested = Signal(float)
    removeRequested = Signal(int)

    def __init__(self, parent=None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setObjectName("markersTable")
        self.setHorizontalHeaderLabels(COLUMNS)
        self.verticalHeader().hide()
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked | QAbstractItemView.EditTrigger.EditKeyPressed)
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c in (1, 2):
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        self.setToolTip("Markers (a point) and regions (a named span), in time order. Double-click a time to "
                        "go there, a name to rename it; Delete removes the selected one.")
        self.markers: tuple[Marker, ...] = ()
        self.itemChanged.connect(self._item_changed)
        self.cellDoubleClicked.connect(self._double_clicked)
        self.cellActivated.connect(self._double_clicked)

    def show_markers(self, markers: tuple[Marker, ...]) -> None:
        if markers == self.markers and self.rowCount() == len(markers):
            return
        self.markers = markers
        row = self.currentRow()
        self.blockSignals(True)
        self.setRowCount(len(markers))
        for i, m in enumerate(markers):
            name = QTableWidgetItem(m.name)
            name.setToolTip(f"{m.kind().capitalize()} '{m.name}': double-click to rename")
            self.setItem(i, 0, name)
            for c, text in ((1, format_time(m.start_s)), (2, format_time(m.duration_s) if m.is_region else "")):
                item = QTableWidgetItem(text)
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                item.setToolTip("Double-click to move the playhead here")
                self.setItem(i, c, item)
        self.blockSignals(False)
        if 0 <= row < len(markers):
            self.selectRow(row)

    def _item_changed(self, item: QTableWidgetItem) -> None:
        if item.column() == 0 and 0 <= item.row() < len(self.markers) and item.text() != self.markers[item.row()].name:
            self.renamed.emit(item.row(), item.text())

    def _double_clicked(self, row: int, column: int) -> None:
        if column != 0 and 0 <= row < len(self.markers):
            self.jumpRequested.emit(self.markers[row].start_s)

    def keyPressEvent(self, ev):  # noqa: N802 - Qt naming
        if ev.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace) and self.state() != QAbstractItemView.State.EditingState \
                and 0 <= self.currentRow() < len(self.markers):
            self.removeRequested.emit(self.currentRow())
            return
        super().keyPressEvent(ev)


class MarkerOverlay:
    """Markers drawn on one time-line plot: a dashed line with its name for a point, a shaded
    span with its name for a region. Redrawn only when the markers change."""

    def __init__(self, plot, *, labels: bool = True) -> None:
        self.plot = plot
        self.labels = labels
        self.items: list = []
        self.markers: tuple[Marker, ...] = ()

    def show(self, markers: tuple[Marker, ...]) -> None:
        if markers == self.markers:
            return
        self.markers = markers
        for item in self.items:
            self.plot.removeItem(item)
        self.items = [self._item(m) for m in markers]
        for item in self.items:
            self.plot.addItem(item, ignoreBounds=True)

    def _item(self, m: Marker):
        pen = pg.mkPen(MARKER_COLOUR, width=1, style=Qt.PenStyle.DashLine)
        if m.is_region:
            item = pg.LinearRegionItem((m.start_s, m.stop_s), movable=False, brush=pg.mkBrush(*REGION_FILL),
                                       pen=pg.mkPen(*REGION_EDGE))
            if self.labels:
                pg.InfLineLabel(item.lines[0], text=m.name, position=LABEL_AT, anchors=[(0, 0), (0, 0)],
                                color=MARKER_COLOUR, fill=LABEL_FILL)
        else:
            item = pg.InfiniteLine(m.start_s, angle=90, movable=False, pen=pen,
                                   label=m.name if self.labels else None,
                                   labelOpts={"position": LABEL_AT, "color": MARKER_COLOUR, "anchors": [(0, 0), (0, 0)],
                                              "fill": LABEL_FILL})
        item.setZValue(45)
        item.setToolTip(f"{m.kind().capitalize()} '{m.name}' at {format_time(m.start_s)}"
                        + (f", {format_time(m.duration_s)} long" if m.is_region else ""))
        return item


class MarkersDock:
    """The Markers dock, the marker overlays on the window's views, and the marker actions."""

    def __init__(self, window) -> None:
        self.window = window
        self.view = MarkersView()
        self.view.renamed.connect(self.rename)
        self.view.jumpRequested.connect(self.jump)
        self.view.removeRequested.connect(lambda row: window._guard(window.session.remove_marker, row))
        self.dock = self._build_dock()
        self.overlays = [MarkerOverlay(window.waveform)] + [
            MarkerOverlay(v, labels=False) for v in (window.before_view, window.after_view)]
        self._build_actions()
        window.bridge.projectChanged.connect(lambda *_: self.refresh())
        self.refresh()

    def _build_dock(self) -> QDockWidget:
        w = self.window
        panel = QWidget()
        lay = QVBoxLayout(panel)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.view, 1)
        row = QHBoxLayout()
        for text, slot, tip in (("+ Marker", self.add_marker, "Add a marker at the playhead (M)."),
                                ("+ Region", self.add_region, "Add a region from the time selection (Shift+M)."),
                                ("Remove", self.remove_current, "Remove the selected marker (Delete)."),
                                ("Export…", self.export_dialog, "Write the markers as CSV or an Audacity label file.")):
            b = QPushButton(text)
            b.setToolTip(tip)
            b.clicked.connect(lambda _=False, f=slot: f())
            row.addWidget(b)
        lay.addLayout(row)
        dock = QDockWidget("Markers", w)
        dock.setObjectName("markersDock")
        dock.setWidget(panel)
        w.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
        history = getattr(w, "history_panel", None)
        if history is not None:  # stacked over the History dock, both beside the views
            w.splitDockWidget(dock, history.dock, Qt.Orientation.Vertical)
        dock.hide()
        return dock

    def _build_actions(self) -> None:
        w = self.window
        act = self.dock.toggleViewAction()
        act.setText("&Markers")
        act.setShortcut(QKeySequence("Ctrl+Shift+K"))
        act.setToolTip("Show or hide the markers and regions list.")
        w.addAction(act)
        w.view_menu.addAction(act)
        self.toggle_action = act
        m = w.edit_menu
        m.addSeparator()
        self.add_action = add_action(w, "Add &Marker", self.add_marker, "M", "Add a marker at the playhead.", menu=m)
        self.region_action = add_action(w, "Add Re&gion from Selection", self.add_region, "Shift+M",
                                        "Add a named region spanning the time selection.", menu=m)
        self.move_action = add_action(w, "Move Marker to &Playhead", self.move_current_to_playhead, "Ctrl+Shift+M",
                                      "Move the marker selected in the Markers list to the playhead (a region "
                                      "keeps its length).", menu=m)
        self.next_action = add_action(w, "Next Marker", lambda: self.step(1), ".",
                                      "Playhead to the next marker or region start.", menu=m)
        self.previous_action = add_action(w, "Previous Marker", lambda: self.step(-1), ",",
                                          "Playhead to the previous marker or region start.", menu=m)
        self.export_action = add_action(w, "Export &Markers…", self.export_dialog, None,
                                        "Write the markers and regions as CSV (name,start_s,end_s) or as an "
                                        "Audacity label file (.txt).")
        w.file_menu.insertAction(w.batch_action, self.export_action)

    # -- the session ------------------------------------------------------------------------------
    def refresh(self) -> None:
        markers = self.window.session.project.markers
        self.view.show_markers(markers)
        for o in self.overlays:
            o.show(markers)

    def rename(self, row: int, name: str) -> None:
        """A name typed in the table; a refused one (a tab, too long) puts the old name back."""
        w = self.window
        w._guard(w.session.rename_marker, row, name)
        if w.session.project.markers[row].name != name:
            self.view.markers = ()  # redraw the rows from the project
            self.refresh()

    def add_marker(self) -> None:
        w = self.window
        row = w._guard(w.session.add_marker, w.navigation.playhead())
        if row is not None:
            self.view.selectRow(row)

    def add_region(self) -> None:
        w = self.window
        sel = w.session.project.selection
        if sel is None or sel.duration_s <= 0:
            w.statusBar().showMessage("Select a time range first: a region spans the selection.", 4000)
            return
        row = w._guard(w.session.add_marker, sel.start_s, sel.end_s)
        if row is not None:
            self.view.selectRow(row)

    def remove_current(self) -> None:
        row = self.view.currentRow()
        if 0 <= row < len(self.view.markers):
            self.window._guard(self.window.session.remove_marker, row)

    def move_current_to_playhead(self) -> None:
        """The marker selected in the list moves to the playhead (one undo step)."""
        w = self.window
        row = self.view.currentRow()
        if not 0 <= row < len(self.view.markers):
            w.statusBar().showMessage("Select a marker in the Markers list first (View > Markers).", 4000)
            return
        moved = self.view.markers[row]
        w._guard(w.session.move_marker, row, w.navigation.playhead())
        new_row = next((i for i, m in enumerate(w.session.project.markers) if m.name == moved.name), row)
        self.view.selectRow(new_row)

    def jump(self, t: float) -> None:
        self.window.navigation.go_to(t)

    def step(self, direction: int) -> None:
        """Next (+1) / previous (-1) marker or region start from the playhead."""
        pos = self.window.navigation.playhead()
        starts = sorted({m.start_s for m in self.window.session.project.markers})
        after = [t for t in starts if (t > pos + 1e-6 if direction > 0 else t < pos - 1e-6)]
        if after:
            self.jump(after[0] if direction > 0 else after[-1])

    def export_dialog(self) -> None:
        w = self.window
        src = w.session.project.source
        if not w.session.project.markers:
            w.statusBar().showMessage("No markers to export: add one with M (or a region with Shift+M).", 4000)
            return
        stem = Path(src.path).stem if src is not None else "markers"
        default = str(Path(w._last_folder()) / f"{stem}_markers.csv")
        path, _ = QFileDialog.getSaveFileName(w, "Export markers", default,
                                              "CSV (*.csv);;Audacity labels (*.txt)")
        if path:
            self.export_to(path)

    def export_to(self, path: str | Path) -> Path | None:
        w = self.window
        out = w._guard(w.session.export_markers, path)
        if out is not None:
            w.statusBar().showMessage(f"Exported {len(w.session.project.markers)} markers to {Path(out).name}", 6000)
        return out
