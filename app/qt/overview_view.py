"""The whole-file overview strip: the waveform at a glance and the visible span as a handle.

Drawn from the coarsest pyramid level that still gives one column per pixel, so it costs the
same for a minute or a day; it fills in while the pyramid is still being built. Dragging the
highlighted span scrolls the editor; clicking elsewhere centres the editor there.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal

from app.overview import WaveformPyramid
from app.qt import theme
from app.qt.waveform_view import LEFT_AXIS_WIDTH, envelope_pairs


class _OverviewViewBox(pg.ViewBox):
    sigJump = Signal(float)

    def __init__(self) -> None:
        super().__init__(enableMenu=False)
        self.setMouseEnabled(x=False, y=False)

    def mouseClickEvent(self, ev):
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self.sigJump.emit(self.mapSceneToView(ev.scenePos()).x())

    def mouseDragEvent(self, ev, axis=None):
        ev.ignore()

    def wheelEvent(self, ev, axis=None):
        ev.ignore()


class OverviewView(pg.PlotWidget):
    """Whole-file waveform with the editor's visible span; emits ``spanChanged(start_s, end_s)``."""

    spanChanged = Signal(float, float)

    def __init__(self, parent=None) -> None:
        self._vb = _OverviewViewBox()
        super().__init__(parent, viewBox=self._vb)
        item = self.getPlotItem()
        item.hideButtons()
        item.setMenuEnabled(False)
        item.hideAxis("bottom")
        item.getAxis("left").setWidth(LEFT_AXIS_WIDTH)
        item.getAxis("left").setStyle(showValues=False)
        item.layout.setContentsMargins(0, 2, 6, 2)
        self.setFixedHeight(54)
        self.setToolTip("Whole-file overview. Drag the highlighted span to scroll; click to jump there.")
        self._curve = pg.PlotCurveItem(pen=pg.mkPen(theme.WAVE, width=1), connect="pairs")
        self._after = pg.PlotCurveItem(pen=pg.mkPen(theme.WAVE_AFTER, width=1), connect="pairs")
        self.addItem(self._curve)
        self.addItem(self._after)
        self.region = pg.LinearRegionItem(
            brush=pg.mkBrush(255, 255, 255, 28), pen=pg.mkPen(theme.ACCENT, width=1), hoverBrush=pg.mkBrush(255, 255, 255, 45)
        )
        self.region.setZValue(10)
        self.addItem(self.region, ignoreBounds=True)
        self.region.sigRegionChanged.connect(self._region_moved)
        self._vb.sigJump.connect(self._jump)
        self.setYRange(-1, 1, padding=0.05)
        self._pyramid: WaveformPyramid | None = None
        self._after_pyramid: WaveformPyramid | None = None
        self._echo = False

    def set_pyramid(self, pyramid: WaveformPyramid | None, after: WaveformPyramid | None = None) -> None:
        self._pyramid = pyramid
        self._after_pyramid = after
        if pyramid is not None:
            self.setXRange(0, max(pyramid.duration_s, 1e-3), padding=0)
        self.refresh()

    def refresh(self) -> None:
        width = max(100, self.width())
        for pyr, curve in ((self._pyramid, self._curve), (self._after_pyramid, self._after)):
            if pyr is None:
                curve.setData([], [])
                continue
            env = pyr.envelope(0.0, pyr.duration_s, width)
            x, y, _ = envelope_pairs(env)
            curve.setData(x, y)

    def resizeEvent(self, ev):
        super().resizeEvent(ev)
        if "_after" not in self.__dict__:
            return  # called by the base class before __init__ finished
        self.refresh()

    def show_span(self, start_s: float, end_s: float) -> None:
        """Echo the editor's visible span (does not re-emit ``spanChanged``)."""
        self._echo = True
        try:
            self.region.setRegion((start_s, end_s))
        finally:
            self._echo = False

    def _region_moved(self) -> None:
        if not self._echo:
            a, b = self.region.getRegion()
            self.spanChanged.emit(a, b)

    def _jump(self, t: float) -> None:
        a, b = self.region.getRegion()
        half = (b - a) / 2
        self.spanChanged.emit(t - half, t + half)
