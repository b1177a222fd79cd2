"""A spectrogram pane (before, after, or the removed-energy difference) with overlays.

The pane never computes a spectrum on the GUI thread: when its visible span changes it asks
its *provider* (a function ``(start_s, end_s, columns, cancel) -> (columns, bins) dB array``)
for a tile of the span plus a margin on either side, at one column per pixel, through the
window's :class:`~app.qt.session_bridge.JobPoller`; an older request still running is
cancelled. While a tile is on its way the previous one stays in place at its own time span,
so scrolling and zooming stay fluid. Small pans inside the margin need no new tile.

Overlays: the selection (time band or time-frequency rectangle), the playhead and the
detected spectral holes (one path item however many holes, drawn only in the visible span).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, QTimer
from PySide6.QtGui import QPainterPath
from PySide6.QtWidgets import QGraphicsPathItem, QGraphicsRectItem, QLabel

from app.qt import theme
from app.qt.waveform_view import TimelinePlot

#: provider(start_s, end_s, columns, cancel) -> dB array (columns, bins)
TileProvider = Callable[[float, float, int, Callable[[], bool]], np.ndarray]

MARGIN = 0.25  # extra span requested on each side, as a fraction of the visible span
MAX_COLUMNS = 2400
MIN_HOLE_PX = 7


class SpectrogramView(TimelinePlot):
    """One spectrogram pane; call :meth:`set_provider` to give it something to show."""

    def __init__(self, title: str, parent=None, *, poller=None) -> None:
        super().__init__(parent, frequency_axis=True)
        self.poller = poller
        self.getPlotItem().getAxis("left").setLabel("")
        self.image = pg.ImageItem(axisOrder="col-major")
        self.image.setZValue(-10)
        self.addItem(self.image)
        self.title = QLabel(title, self)
        self.title.setObjectName("viewTitle")
        self.title.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.title.setStyleSheet(
            f"background: rgba(20,21,24,170); color: {theme.TEXT}; padding: 2px 6px; border-radius: 3px;"
        )
        self.title.move(66, 6)
        self.message = pg.TextItem("", color=theme.TEXT_DIM, anchor=(0.5, 0.5))
        self.message.setZValue(60)
        self.addItem(self.message, ignoreBounds=True)
        self.rect_selection = QGraphicsRectItem()
        self.rect_selection.setPen(pg.mkPen(*theme.SELECTION_EDGE, width=1))
        self.rect_selection.setBrush(pg.mkBrush(*theme.SELECTION_FILL))
        self.rect_selection.setZValue(41)
        self.rect_selection.hide()
        self.addItem(self.rect_selection, ignoreBounds=True)
        self.holes_item = QGraphicsPathItem()
        pen = pg.mkPen(theme.HOLE, width=1.5)
        pen.setCosmetic(True)
        self.holes_item.setPen(pen)
        hole_fill = pg.mkColor(theme.HOLE)
        hole_fill.setAlpha(50)
        self.holes_item.setBrush(pg.mkBrush(hole_fill))
        self.holes_item.setZValue(30)
        self.addItem(self.holes_item, ignoreBounds=True)
        self._holes: np.ndarray = np.zeros((0, 4))
        self._provider: TileProvider | None = None
        self._provider_key: object = None
        self._mode = "magnitude"
        self._job = None
        self._shown: tuple[float, float, float] | None = None  # start, end, columns per second
        self._request_id = 0
        self._pending = False
        self.nyquist = 24000.0
        self.tiles_done = 0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(40)
        self._timer.timeout.connect(self.request_tile)
        self.vb.sigXRangeChanged.connect(self._view_changed)
        self.vb.sigYRangeChanged.connect(lambda *_: self._draw_holes())
        self.set_mode("magnitude")

    # -- configuration ---------------------------------------------------------------------
    def set_title(self, text: str) -> None:
        self.title.setText(text)
        self.title.adjustSize()

    def set_mode(self, mode: str) -> None:
        """``"magnitude"`` (dB) or ``"difference"`` (removed energy, dB)."""
        self._mode = mode
        cmap_name, levels = (
            (theme.MAGNITUDE_CMAP, theme.MAGNITUDE_LEVELS_DB)
            if mode == "magnitude"
            else (theme.DIFFERENCE_CMAP, theme.DIFFERENCE_LEVELS_DB)
        )
        self.image.setColorMap(pg.colormap.get(cmap_name))
        self.image.setLevels(levels)

    def set_frequency_range(self, nyquist: float) -> None:
        self.nyquist = float(nyquist)
        self.vb.setLimits(yMin=0.0, yMax=self.nyquist, minYRange=200.0)
        self.setYRange(0.0, self.nyquist, padding=0)

    def set_duration(self, duration_s: float, sample_rate: int) -> None:
        self.vb.setLimits(xMin=0.0, xMax=max(duration_s, 1e-3), minXRange=min(duration_s, 64 / sample_rate))

    def set_provider(self, provider: TileProvider | None, key: object = None, *, message: str = "") -> None:
        """Show tiles from ``provider``; ``key`` identifies its content (a new key forces new tiles)."""
        if key == self._provider_key and provider is not None and self._provider is not None:
            return
        self._provider = provider
        self._provider_key = key
        self._shown = None
        if self._job is not None:
            self._job.cancel()
            self._job = None
        self._pending = False
        self._request_id += 1
        if provider is None:
            self.image.clear()
            self.image.hide()
            self._show_message(message)
        else:
            self._show_message("")
            self._timer.start(0)

    def _show_message(self, text: str) -> None:
        self.message.setText(text)
        if text:
            (x0, x1), (y0, y1) = self.vb.viewRange()
            self.message.setPos((x0 + x1) / 2, (y0 + y1) / 2)
            self.message.show()
        else:
            self.message.hide()

    # -- tiles -----------------------------------------------------------------------------
    def _view_changed(self, *_args) -> None:
        if self.message.isVisible():
            self._show_message(self.message.toPlainText())
        self._draw_holes()
        if self._provider is None:
            return
        (x0, x1), _ = self.vb.viewRange()
        width = max(1, int(self.vb.width()))
        if self._shown is not None:
            a, b, density = self._shown
            want = width / max(x1 - x0, 1e-9)
            if a <= x0 and x1 <= b and 0.8 < density / want < 1.25:
                return  # the tile on screen still covers the view at about the right resolution
        self._timer.start()

    def resizeEvent(self, ev):
        super().resizeEvent(ev)
        if "_timer" not in self.__dict__:
            return  # called by the base class before __init__ finished
        self._shown = None
        if self._provider is not None:
            self._timer.start()

    def request_tile(self) -> None:
        provider = self._provider
        if provider is None or self.poller is None:
            return
        (x0, x1), _ = self.vb.viewRange()
        span = max(x1 - x0, 1e-6)
        width = max(16, int(self.vb.width()) or 600)
        xmin = self.vb.state["limits"]["xLimits"][0]
        xmax = self.vb.state["limits"]["xLimits"][1]
        a = x0 - MARGIN * span
        b = x1 + MARGIN * span
        if xmin is not None:
            a = max(a, xmin)
        if xmax is not None:
            b = min(b, xmax)
        if b <= a:
            return
        columns = int(min(MAX_COLUMNS, max(8, round(width * (b - a) / span))))
        if self._job is not None and not self._job.done:
            # one tile at a time: while the view keeps moving, let the running tile finish and
            # ask again when it lands (cancelling each time would never show anything)
            self._pending = True
            return
        self._pending = False
        self._request_id += 1
        rid = self._request_id

        def work(progress, is_cancelled):
            return provider(a, b, columns, is_cancelled)

        def done(job) -> None:
            if job is self._job:
                self._job = None
            if rid == self._request_id and not job.cancelled and job.error is None:
                self._set_image(job.result, a, b, columns)
            if self._pending:
                self._pending = False
                self._view_changed()

        self._job = self.poller.submit(f"spectrogram {a:.2f}-{b:.2f}s", work, done, visible=False)

    def _set_image(self, db: np.ndarray, a: float, b: float, columns: int) -> None:
        self.image.setImage(db, autoLevels=False)
        lo, hi = (theme.MAGNITUDE_LEVELS_DB if self._mode == "magnitude" else theme.DIFFERENCE_LEVELS_DB)
        self.image.setLevels((lo, hi))
        self.image.setRect(QRectF(a, 0.0, b - a, self.nyquist))
        self.image.show()
        self._shown = (a, b, columns / (b - a))
        self.tiles_done += 1

    def current_image(self) -> np.ndarray | None:
        """The dB array on screen (None before the first tile)."""
        img = self.image.image
        return None if img is None or not self.image.isVisible() else np.asarray(img)

    # -- overlays --------------------------------------------------------------------------
    def show_selection(self, start_s, end_s, low_hz=None, high_hz=None) -> None:
        if start_s is None or low_hz is None or high_hz is None:
            self.rect_selection.hide()
            super().show_selection(start_s, end_s)
            return
        self.time_selection.hide()
        self.rect_selection.setRect(QRectF(start_s, low_hz, end_s - start_s, high_hz - low_hz))
        self.rect_selection.show()

    def set_holes(self, regions: np.ndarray | None) -> None:
        """Regions ``(n, 4)``: start_s, end_s, low_hz, high_hz (None or empty: none)."""
        self._holes = np.zeros((0, 4)) if regions is None else np.asarray(regions, float).reshape(-1, 4)
        self._draw_holes()

    def _draw_holes(self) -> None:
        path = QPainterPath()
        h = self._holes
        if len(h):
            (x0, x1), _ = self.vb.viewRange()
            vis = h[(h[:, 1] >= x0) & (h[:, 0] <= x1)][:2000]
            try:
                px, py = self.vb.viewPixelSize()
            except Exception:  # noqa: BLE001 - not laid out yet
                px, py = 1e-3, 1.0
            # at least MIN_HOLE_PX on screen, so a 30 ms, 50 Hz hole is still seen on a whole-file view
            w_min, h_min = MIN_HOLE_PX * px, MIN_HOLE_PX * py
            for s, e, lo, hi in vis:
                w, hgt = max(e - s, w_min), max(hi - lo, h_min)
                cx, cy = (s + e) / 2, max((lo + hi) / 2, hgt / 2)
                path.addRect(QRectF(cx - w / 2, cy - hgt / 2, w, hgt))
        self.holes_item.setPath(path)

    @property
    def hole_count(self) -> int:
        return len(self._holes)
