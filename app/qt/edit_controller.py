"""Region operations and spectral repair in the workstation: the actions, the edit list tab,
and the edits drawn on the waveform.

Every action acts on the current selection through a Session method (one undo step each,
labelled with what it did); the render path (export, the CLI, monitoring) renders the edits
(:mod:`dsp.edits`). The actions are enabled only when they can work: a time selection for the
region operations, a time-frequency rectangle for spectral repair.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QColor, QKeySequence
from PySide6.QtWidgets import QInputDialog, QMenu

from app.qt.edits_panel import EditsPanel
from dsp.edits import Cut, ProcessSelection, RegionGain, RoomToneFill, SpectralRepair
from dsp.errors import ParameterError

#: Shading of each kind on the waveform (RGBA).
KIND_COLOURS = {
    ProcessSelection: (90, 160, 255, 55),
    RoomToneFill: (80, 200, 140, 70),
    RegionGain: (240, 200, 80, 60),
    SpectralRepair: (200, 120, 255, 70),
    Cut: (230, 70, 70, 90),
}
#: (attribute, menu text, shortcut, tip, slot name, needs a rectangle)
ACTIONS = (
    ("process_action", "&Process Selection", "Ctrl+Alt+P",
     "Apply the chain to the selection only (replaces the chain's output there, crossfaded).", "process_selection", False),
    ("process_stage_action", "Process Selection with the Selected S&tage", "Ctrl+Alt+Shift+P",
     "Apply only the stage selected in the Chain panel to the selection.", "process_selection_stage", False),
    ("room_tone_action", "Replace with &Room Tone", "Ctrl+Shift+R",
     "Replace the selection with room tone synthesised from the profile (coughs, clicks, bumps).",
     "replace_with_room_tone", False),
    ("cut_action", "Cu&t", "Ctrl+X", "Remove the selected time; the join is crossfaded.", "cut", False),
    ("cut_room_tone_action", "Cut, &Keep Room Tone", "Ctrl+Shift+X",
     "Remove the selected time; the join is crossfaded over room tone, so it neither clicks nor goes dead.",
     "cut_keep_room_tone", False),
    ("gain_action", "&Gain on Selection…", "Ctrl+Shift+G", "Raise or lower the selection by some dB.", "gain", False),
    ("repair_attenuate_action", "Spectral Repair: &Attenuate", "Ctrl+Alt+A",
     "Lower the selected time-frequency rectangle (a whistle, a phone ring, a squeak).", "repair_attenuate", True),
    ("repair_replace_action", "Spectral Repair: R&eplace", "Ctrl+Alt+R",
     "Replace the selected rectangle by what is on either side of it in time.", "repair_replace", True),
)


class EditController:
    """The edit operations of the workstation ``window`` (its session, waveform and menus)."""

    def __init__(self, window) -> None:
        self.window = window
        self.gain_db = -6.0  #: the last gain asked for (the dialog's start value)
        self.attenuation_db = 30.0
        self.actions: dict[str, object] = {}
        self._items: list = []
        self.panel = EditsPanel()
        self.panel.setToolTip("The edit list: region operations and spectral repairs, in the order they apply.")
        window.side_tabs.addTab(self.panel, "Edits")  # beside the chain and room tone in the Processing panel
        self.panel.removeRequested.connect(lambda i: window._guard(window.session.remove_edit, i))
        self.panel.clearRequested.connect(lambda: window._guard(window.session.clear_edits))
        self.panel.seekRequested.connect(window.seek)

    def add_actions(self, menu: QMenu, add_action) -> None:
        """Add the operations to ``menu`` (the Edit menu) with ``window_actions.add_action``."""
        w = self.window
        sub = menu.addMenu("Edit &Selection")
        for attr, text, key, tip, slot, _rect in ACTIONS:
            act = add_action(w, text, getattr(self, slot), QKeySequence(key), tip, menu=sub)
            setattr(w, attr, act)
            self.actions[attr] = act
        sub.addSeparator()
        w.remove_edits_action = add_action(w, "Remove All Edits", lambda: w._guard(w.session.clear_edits), None,
                                           "Remove every edit (one undo step).", menu=sub)
        w.show_edits_action = add_action(w, "Show the Edit &List", self.show_list, None,
                                         "Show the list of edits in the Processing panel.", menu=sub)

    def show_list(self) -> None:
        self.window.side_tabs.setCurrentWidget(self.panel)

    # -- the operations --------------------------------------------------------------------------
    def process_selection(self) -> None:
        self.window._guard(self.window.session.process_selection)

    def process_selection_stage(self) -> None:
        """The selection processed by the stage selected in the Chain panel alone."""
        w = self.window
        row = w.chain_panel.stage_list.currentRow()
        if row < 0:
            w.report_error(ParameterError("select a stage in the Chain panel first"))
            return
        w._guard(w.session.process_selection, row)

    def replace_with_room_tone(self) -> None:
        self.window._guard(self.window.session.replace_with_room_tone)

    def cut(self) -> None:
        self.window._guard(self.window.session.cut_selection)

    def cut_keep_room_tone(self) -> None:
        self.window._guard(self.window.session.cut_selection, keep_room_tone=True)

    def gain(self, gain_db: float | None = None) -> None:
        """Gain on the selection; without ``gain_db`` a small dialog asks (-60..+24 dB)."""
        w = self.window
        if gain_db is None:
            if not w.show_dialogs:
                gain_db = self.gain_db
            else:
                value, ok = QInputDialog.getDouble(w, "Gain on selection", "Gain (dB):", self.gain_db, -60.0, 24.0, 1)
                if not ok:
                    return
                gain_db = value
        self.gain_db = float(gain_db)
        w._guard(w.session.gain_selection, self.gain_db)

    def repair_attenuate(self) -> None:
        self.window._guard(self.window.session.spectral_repair, "attenuate", attenuation_db=self.attenuation_db)

    def repair_replace(self) -> None:
        self.window._guard(self.window.session.spectral_repair, "replace")

    # -- echo --------------------------------------------------------------------------------------
    def project_changed(self, project) -> None:
        """Enable the actions for the selection, list the edits, draw them on the waveform."""
        sel = project.selection
        has_time = project.source is not None and sel is not None and sel.duration_s > 0
        for attr, *_rest, rect in ACTIONS:
            act = self.actions.get(attr)
            if act is not None:
                act.setEnabled(has_time and (sel.is_rectangle if rect else True))  # type: ignore[union-attr]
        if self.actions:
            self.window.remove_edits_action.setEnabled(bool(project.edits))
        self.panel.set_edits(project.edits)
        self._draw(project.edits)

    def _draw(self, edits) -> None:
        view = self.window.waveform
        for item in self._items:
            view.removeItem(item)
        self._items = []
        for e in edits:
            colour = QColor(*KIND_COLOURS[type(e)])
            item = pg.LinearRegionItem((e.start_s, e.end_s), movable=False, brush=pg.mkBrush(colour),
                                       pen=pg.mkPen(colour.darker(150), width=1))
            item.setZValue(-5)
            item.setToolTip(e.describe())
            view.addItem(item, ignoreBounds=True)
            self._items.append(item)
        rects = [(e.start_s, e.end_s, e.low_hz, e.high_hz) for e in edits if isinstance(e, SpectralRepair)]
        for spectrogram in (self.window.before_view, self.window.after_view):
            spectrogram.set_repairs(np.array(rects, float).reshape(-1, 4))

    @property
    def drawn(self) -> list:
        """The waveform items drawn for the edits (tests)."""
        return list(self._items)
