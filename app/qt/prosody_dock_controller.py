"""The prosody panel docked under the views: its dock, its size, its findings in the project.

The panel (``app.qt.prosody_panel``: three plot panes and two tables, about 40 % of the window's
construction) is built the first time the dock is shown (:meth:`ProsodyDockController.ensure_panel`),
so a window that never opens it starts faster. It is optional: when it cannot be built the window
works without it (the dock says why and its action is disabled). Its checks become part of the
project (``analyses["prosody"]``, undoable, saved) and a finding in the open file moves the
playhead.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QLabel

from app.qt.prosody_panel import ProsodyPanel

log = logging.getLogger(__name__)

PROSODY_DOCK_SHARE = 0.45  # of the window's height, for the prosody panel when it is docked
PROCESSING_DOCK_SHARE = 0.3  # of the window's width, for the processing panel while prosody is docked


class ProsodyDockController:
    """Builds the prosody dock on the workstation ``window`` and binds it to the session."""

    def __init__(self, window) -> None:
        self.window = window
        self.panel: ProsodyPanel | None = None
        self.failed: str | None = None  # why the panel could not be built
        dock = QDockWidget("Prosody checks", window)
        dock.setObjectName("prosodyDock")
        dock.setWidget(QLabel("Loading the prosody checks…"))
        dock.setToolTip("Voice-clone prosody checks for clips or a folder; click a finding to hear it.")
        window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
        dock.hide()
        dock.visibilityChanged.connect(self._shown)
        self.dock: QDockWidget = dock

    def ensure_panel(self) -> ProsodyPanel | None:
        """The panel, built on first use (None when it cannot be built: :attr:`failed` says why)."""
        if self.panel is not None or self.failed is not None:
            return self.panel
        try:
            panel = ProsodyPanel(jobs=self.window.jobs)
        except Exception as exc:  # noqa: BLE001 - the window works without it
            log.exception("prosody panel unavailable")
            self.failed = f"The prosody checks are unavailable here: {exc}"
            self.dock.setWidget(QLabel(self.failed))
            self.dock.toggleViewAction().setEnabled(False)
            return None
        panel.seekRequested.connect(self.seek)
        panel.analysisFinished.connect(self.keep)
        self.dock.setWidget(panel)
        self.panel = panel
        return panel

    def _shown(self, visible: bool) -> None:
        if visible:
            self.ensure_panel()
        self.size_dock(visible)

    def size_dock(self, visible: bool) -> None:
        """Docked, the prosody panel gets about 45 % of the window's height (its tables and three
        stacked plots are unreadable in the few rows the dock would otherwise get)."""
        w, dock = self.window, self.dock
        if not visible or dock is None or dock.isFloating():
            return
        want = max(dock.minimumSizeHint().height(), int(PROSODY_DOCK_SHARE * w.height()))
        if dock.height() < want:
            w.resizeDocks([dock], [want], Qt.Orientation.Vertical)
        # it sits under the views only (the processing panel keeps the right-hand side): give it
        # the width the processing panel does not need
        side = max(w.dock.minimumSizeHint().width(), int(PROCESSING_DOCK_SHARE * w.width()))
        if w.dock.isVisible() and w.dock.width() > side:
            w.resizeDocks([w.dock], [side], Qt.Orientation.Horizontal)

    def keep(self) -> None:
        """The prosody checks just shown become part of the project (saved with it, undoable):
        ``analyses["prosody"]``, the clips' measures and the findings (no contours)."""
        panel, session = self.panel, self.window.session
        dataset = getattr(panel, "dataset", None)
        if dataset is None or panel.is_busy():
            return
        summary = dataset.to_dict(contours=False)
        if session.project.analyses.get("prosody") != summary:
            n = len(dataset.clips)
            self.window._guard(session.set_analysis, "prosody", summary,
                               f"Prosody checks of {n} clip{'s' if n != 1 else ''}")

    def seek(self, seconds: float) -> None:
        """A finding in the prosody panel: move the playhead there (in the open file)."""
        w = self.window
        clip = getattr(self.panel, "current_clip", None)
        src = w.session.project.source
        clip_path = getattr(clip, "path", None)
        if clip_path and src is not None and Path(clip_path).resolve() != Path(src.path).resolve():
            w.statusBar().showMessage(
                f"That finding is in {Path(clip_path).name}; open it (File › Open) to hear it here.", 6000)
            return
        if src is None:
            return
        t = max(0.0, min(float(seconds), w._duration()))
        w.seek(t)
        (x0, x1), _ = w.waveform.vb.viewRange()
        if not x0 <= t <= x1:
            span = x1 - x0
            a = max(0.0, min(t - span / 4, w._duration() - span))
            w.waveform.setXRange(a, a + span, padding=0)
