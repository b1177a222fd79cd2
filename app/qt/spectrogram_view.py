"""A spectrogram pane (before, after, or the removed-energy difference) with overlays.

The pane never computes a spectrum on the GUI thread: when its visible span changes it asks
its *provider* (a function ``(start_s, end_s, columns, cancel) -> (columns, bins) dB array``)
for a tile of the span plus a margin on either side, at one column per pixel, through the
window's :class:`~app.qt.session_bridge.JobPoller`; an older request still running is
cancelled. While a tile is on its way the previous one stays in place at its own time span,
so scrolling and zooming stay fluid. Small pans inside the margin need no new tile.

The frequency scale (:class:`app.spectrogram_settings.FrequencyScale`: linear, log or mel) is
the view's vertical coordinate: a tile's bins are resampled onto rows evenly spaced on that
scale inside the tile job (:func:`~app.spectrogram_settings.warp_rows`), the left axis labels
the rows in Hz, and :class:`SpectrogramViewBox` turns the mouse's vertical position back into Hz,
so selections (``sigSelect``), the hover readout and everything outside this module stay in Hz.
Shift+wheel (or Alt+wheel) zooms the frequency axis around the mouse; Ctrl+wheel still zooms time.

Each pane carries a colour legend (:class:`~app.qt.colour_legend.ColourLegend`) of its current
colour map and dB range: ``dB`` for magnitudes, ``dB removed`` for the removed energy. Levels and
colours are applied to the tile on screen (no new tile); a new scale asks for new tiles.

Overlays: the selection (time band or time-frequency rectangle), the playhead and the
detected spectral holes (one path item however many holes, drawn only in the visible span).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer
from PySide6.QtGui import QPainterPath
from PySide6.QtWidgets import QGraphicsPathItem, QGraphicsRectItem, QLabel

from app.qt import theme
from app.qt.colour_legend import ColourLegend, colour_map
from app.qt.waveform_view import LEFT_AXIS_WIDTH, EditorViewBox, TimelinePlot
from app.spectrogram_settings import (
    DEFAULT_CEILING_DB,
    DEFAULT_COLORMAP,
    DEFAULT_FLOOR_DB,
    DEFAULT_REMOVED_CEILING_DB,
    DEFAULT_REMOVED_COLORMAP,
    FrequencyScale,
    format_hz,
    warp_rows,
)

#: provider(start_s, end_s, columns, cancel) -> dB array (columns, bins)
TileProvider = Callable[[float, float, int, Callable[[], bool]], np.ndarray]

MARGIN = 0.25  # extra span requested on each side, as a fraction of the visible span
MAX_COLUMNS = 2400
MIN_HOLE_PX = 7
#: Outline of a spectral repair of the edit list (the edit list's colour for repairs, opaque).
REPAIR_EDGE = (200, 120, 255)
FREQUENCY_ZOOM_STEP = 0.8  # per wheel notch (the time zoom's step)
LEGEND_CAPTIONS = {"magnitude": "dB", "difference": "dB removed"}


class SpectrogramViewBox(EditorViewBox):
    """The timeline mouse model on a frequency ``scale``: vertical positions leave it in Hz.

    The view's y coordinate is the scale's display unit; a drag's rectangle and the hover
    position are converted to Hz before they are emitted. Shift+wheel and Alt+wheel zoom the
    frequency axis around the mouse.
    """

    def __init__(self) -> None:
        super().__init__(frequency_axis=True)
        self.frequency_scale = FrequencyScale()

    def mouseDragEvent(self, ev, axis=None):
        if ev.button() != Qt.MouseButton.LeftButton:
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        p0 = self.mapSceneToView(ev.buttonDownScenePos())
        p1 = self.mapSceneToView(ev.scenePos())
        t0, t1 = sorted((p0.x(), p1.x()))
        lo = hi = None
        if self.rectangle_mode:
            lo, hi = sorted((self._hz(p0.y()), self._hz(p1.y())))
        self.sigSelect.emit(t0, t1, lo, hi, ev.isFinish())

    def hoverEvent(self, ev):
        if not ev.isExit():
            p = self.mapSceneToView(ev.scenePos())
            self.sigHover.emit(p.x(), self._hz(p.y()))

    def wheelEvent(self, ev, axis=None):
        mods = ev.modifiers()
        if mods & (Qt.KeyboardModifier.ShiftModifier | Qt.KeyboardModifier.AltModifier) and not (
                mods & Qt.KeyboardModifier.ControlModifier):
            self.zoom_frequency(FREQUENCY_ZOOM_STEP ** (ev.delta() / 120.0), self.mapSceneToView(ev.scenePos()).y())
            ev.accept()
            return
        super().wheelEvent(ev, axis)

    def _hz(self, y: float) -> float:
        u0, u1 = self.frequency_scale.display_range
        return max(0.0, min(float(self.frequency_scale.to_hz(min(max(y, u0), u1))), self.frequency_scale.nyquist))

    def zoom_frequency(self, factor: float, centre: float | None = None) -> None:
        """Show ``factor`` times the frequency span (display units), about ``centre``; without one,
        about the middle of the view, or its bottom while the lowest frequency is in view (so
        zooming in from the whole band keeps the voice's range on screen)."""
        _, (y0, y1) = self.viewRange()
        if centre is None:
            u0 = self.frequency_scale.display_range[0]
            centre = u0 if y0 <= u0 + 1e-6 * max(y1 - y0, 1e-9) else (y0 + y1) / 2
        self.scaleBy(x=1.0, y=factor, center=QPointF(0.0, centre))


class ScaledFrequencyAxis(pg.AxisItem):
    """The left axis of a spectrogram: ticks on round frequencies, labelled in Hz / kHz,
    wherever the :class:`FrequencyScale` puts them."""

    def __init__(self, orientation: str = "left") -> None:
        super().__init__(orientation)
        self.frequency_scale = FrequencyScale()

    def tickValues(self, minVal, maxVal, size):  # noqa: N802, N803 - pyqtgraph naming
        if self.frequency_scale.linear:
            return super().tickValues(minVal, maxVal, size)
        major, minor = self.frequency_scale.ticks(minVal, maxVal, max(2, int(size // 24)))
        return [(1.0, [self.frequency_scale.to_display(f) for f in major]), (0.1, [self.frequency_scale.to_display(f) for f in minor])]

    def tickStrings(self, values, scale, spacing):  # noqa: N802 - pyqtgraph naming
        if spacing < 1.0 and not self.frequency_scale.linear:
            return ["" for _ in values]  # minor ticks of a warped scale carry no label
        return [format_hz(self.frequency_scale.to_hz(v) if not self.frequency_scale.linear else v) for v in values]


class SpectrogramView(TimelinePlot):
    """One spectrogram pane; call :meth:`set_provider` to give it something to show."""

    def __init__(self, title: str, parent=None, *, poller=None) -> None:
        super().__init__(parent, frequency_axis=True, view_box=SpectrogramViewBox())
        self.poller = poller
        self.axis = ScaledFrequencyAxis("left")
        self.getPlotItem().setAxisItems({"left": self.axis})
        self.axis.setWidth(LEFT_AXIS_WIDTH)
        self.axis.setLabel("")
        self.frequency_scale = FrequencyScale()
        self.palettes = {"magnitude": (DEFAULT_COLORMAP, (DEFAULT_FLOOR_DB, DEFAULT_CEILING_DB)),
                         "difference": (DEFAULT_REMOVED_COLORMAP, (0.0, DEFAULT_REMOVED_CEILING_DB))}
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
        self.repairs_item = QGraphicsPathItem()  # the project's spectral repairs (the edit list)
        pen = pg.mkPen(REPAIR_EDGE, width=1.5, style=Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        self.repairs_item.setPen(pen)
        self.repairs_item.setZValue(31)
        self.addItem(self.repairs_item, ignoreBounds=True)
        self._repairs: np.ndarray = np.zeros((0, 4))
        self._selection_hz: tuple | None = None  # (start_s, end_s, low_hz, high_hz) of the rectangle shown
        self.legend = ColourLegend(self)
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
        self.vb.sigResized.connect(lambda *_: self._place_legend())
        self.set_mode("magnitude")

    # -- configuration ---------------------------------------------------------------------
    def set_title(self, text: str) -> None:
        self.title.setText(text)
        self.title.adjustSize()

    @property
    def mode(self) -> str:
        return self._mode

    def set_mode(self, mode: str) -> None:
        """``"magnitude"`` (dB) or ``"difference"`` (removed energy, dB)."""
        self._mode = mode
        self._apply_palette()

    def set_palette(self, mode: str, cmap_name: str, levels: tuple[float, float]) -> None:
        """The colour map and dB range (low, high) drawn in ``mode``; applied at once if it is the
        current mode (the tile on screen is re-coloured, no new tile is asked for)."""
        self.palettes[mode] = (cmap_name, (float(levels[0]), float(levels[1])))
        if mode == self._mode:
            self._apply_palette()

    def levels(self) -> tuple[float, float]:
        """The dB range of the current mode (low, high)."""
        return self.palettes[self._mode][1]

    def _apply_palette(self) -> None:
        cmap_name, levels = self.palettes[self._mode]
        self.image.setColorMap(colour_map(cmap_name))
        self.image.setLevels(levels)
        self.legend.set_scale(cmap_name, levels, LEGEND_CAPTIONS[self._mode])
        self._place_legend()

    def _place_legend(self) -> None:
        """In the plot area's top-right corner, at most 170 px tall (less in a short pane)."""
        area = self.vb.sceneBoundingRect()
        if area.height() < 10:  # not laid out yet
            area = QRectF(0, 0, self.width() - 6, self.height() - 30)
        self.legend.set_height(int(min(170, max(24, area.height() - 8))))
        self.legend.move(max(0, int(area.right()) - self.legend.width() - 4), int(area.top()) + 4)
        self.legend.raise_()

    def set_frequency_range(self, nyquist: float) -> None:
        self.nyquist = float(nyquist)
        self._set_scale(FrequencyScale(self.frequency_scale.kind, self.nyquist))

    def set_scale(self, kind: str) -> None:
        """Draw frequencies on a ``"linear"``, ``"log"`` or ``"mel"`` scale, keeping the band in view."""
        if kind != self.frequency_scale.kind:
            self._set_scale(FrequencyScale(kind, self.nyquist), keep_band=True)

    def _set_scale(self, scale: FrequencyScale, keep_band: bool = False) -> None:
        _, (y0, y1) = self.vb.viewRange()
        band = (self.frequency_scale.to_hz(y0), self.frequency_scale.to_hz(y1))
        changed = scale != self.frequency_scale
        self.frequency_scale = self.vb.frequency_scale = self.axis.frequency_scale = scale
        u0, u1 = scale.display_range
        self.vb.setLimits(yMin=u0, yMax=u1, minYRange=200.0 if scale.linear else (u1 - u0) / 120.0)
        lo, hi = (max(scale.to_display(band[0]), u0), min(scale.to_display(band[1]), u1)) if keep_band else (u0, u1)
        self.setYRange(lo, hi if hi > lo else u1, padding=0)
        self.axis.picture = None  # the ticks change with the scale even where the range does not
        self.axis.update()
        self._redraw_overlays()
        if not changed:
            return
        self._shown = None
        self.image.clear()
        self.image.hide()
        if self._provider is not None:
            self._request_id += 1  # a tile on its way was made for the old scale
            self._timer.start(0)

    def zoom_frequency(self, factor: float) -> None:
        """Show ``factor`` times the frequency span about its centre (< 1 zooms in)."""
        self.vb.zoom_frequency(factor)

    def reset_frequency_zoom(self) -> None:
        """Show every frequency again."""
        u0, u1 = self.frequency_scale.display_range
        self.setYRange(u0, u1, padding=0)

    def frequency_band(self) -> tuple[float, float]:
        """The lowest and highest frequency in view (Hz)."""
        _, (y0, y1) = self.vb.viewRange()
        return float(self.frequency_scale.to_hz(y0)), float(self.frequency_scale.to_hz(y1))

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
        self._place_legend()
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
        scale = self.frequency_scale

        def work(progress, is_cancelled):
            return warp_rows(provider(a, b, columns, is_cancelled), int(round(2 * scale.nyquist)), scale)

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
        self.image.setLevels(self.levels())
        if self.frequency_scale.linear:  # row k is bin k, centred on k * df Hz
            df = self.nyquist / max(db.shape[1] - 1, 1)
            self.image.setRect(QRectF(a, -df / 2, b - a, db.shape[1] * df))
        else:  # rows evenly spaced over the scale's display range
            u0, u1 = self.frequency_scale.display_range
            self.image.setRect(QRectF(a, u0, b - a, u1 - u0))
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
            self._selection_hz = None
            self.rect_selection.hide()
            super().show_selection(start_s, end_s)
            return
        self.time_selection.hide()
        self._selection_hz = (start_s, end_s, low_hz, high_hz)
        u_lo, u_hi = self.frequency_scale.to_display(low_hz), self.frequency_scale.to_display(high_hz)
        self.rect_selection.setRect(QRectF(start_s, u_lo, end_s - start_s, u_hi - u_lo))
        self.rect_selection.show()

    def _redraw_overlays(self) -> None:
        """The rectangle selection and the holes on the current scale."""
        if self._selection_hz is not None:
            self.show_selection(*self._selection_hz)
        self._draw_holes()
        self._draw_repairs()

    def set_repairs(self, rects: np.ndarray | None) -> None:
        """Outline the spectral repairs of the edit list: ``(n, 4)`` start_s, end_s, low_hz, high_hz."""
        self._repairs = np.zeros((0, 4)) if rects is None else np.asarray(rects, float).reshape(-1, 4)
        self._draw_repairs()

    def _draw_repairs(self) -> None:
        path = QPainterPath()
        for s, e, lo_hz, hi_hz in self._repairs:
            lo, hi = self.frequency_scale.to_display(lo_hz), self.frequency_scale.to_display(hi_hz)
            path.addRect(QRectF(s, lo, e - s, hi - lo))
        self.repairs_item.setPath(path)

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
            bottom = self.frequency_scale.display_range[0]
            for s, e, lo_hz, hi_hz in vis:
                lo, hi = self.frequency_scale.to_display(lo_hz), self.frequency_scale.to_display(hi_hz)
                w, hgt = max(e - s, w_min), max(hi - lo, h_min)
                cx, cy = (s + e) / 2, max((lo + hi) / 2, bottom + hgt / 2)
                path.addRect(QRectF(cx - w / 2, cy - hgt / 2, w, hgt))
        self.holes_item.setPath(path)

    @property
    def hole_count(self) -> int:
        return len(self._holes)
