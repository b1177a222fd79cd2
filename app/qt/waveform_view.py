"""The zoomable waveform with its time ruler, and the pieces every timeline view shares.

:class:`EditorViewBox` is the mouse model of all timeline views: left-drag selects (a time
range, or a time-frequency rectangle on a spectrogram in rectangle mode), a click places the
cursor, the wheel scrolls in time, Ctrl+wheel zooms in time around the mouse, Alt+wheel zooms
in frequency, middle-drag pans. :class:`TimeAxisItem` is the ruler (h:mm:ss.mmm).

:class:`WaveformView` draws peak-mode min/max columns plus an RMS body from an
:class:`app.overview.WaveformPyramid` level chosen for the zoom (STYLE.md 10); below 256
samples per pixel it reads the visible samples (a screenful) and draws them as a line with
pyqtgraph's peak downsampling and clip-to-view. The rendered ("after") waveform is drawn over
it in another colour once Apply has run.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, QTimer, Signal

from app.overview import Envelope, WaveformPyramid
from app.qt import theme
from app.timecode import format_time

LEFT_AXIS_WIDTH = 58
EMPTY_SPAN_S = 1.0  # the time ruler spans the first second while no file is open


class TimeAxisItem(pg.AxisItem):
    """A time ruler: tick labels in m:ss / h:mm:ss with as many decimals as the spacing needs."""

    def tickStrings(self, values, scale, spacing):
        decimals = 0 if spacing >= 1 else min(3, max(1, math.ceil(-math.log10(spacing))))
        return [format_time(v, decimals=decimals) for v in values]


class FrequencyAxisItem(pg.AxisItem):
    """A frequency axis labelled in Hz below 1 kHz and kHz above."""

    def tickStrings(self, values, scale, spacing):
        out = []
        for v in values:
            if v >= 1000:
                out.append(f"{v / 1000:g}k")
            else:
                out.append(f"{v:g}")
        return out


class EditorViewBox(pg.ViewBox):
    """Timeline mouse model shared by the waveform and the spectrograms."""

    #: (start_s, end_s, low_hz or None, high_hz or None, finished)
    sigSelect = Signal(float, float, object, object, bool)
    sigClick = Signal(float)
    sigHover = Signal(float, float)

    def __init__(self, *, frequency_axis: bool = False) -> None:
        super().__init__(enableMenu=False)
        self.frequency_axis = frequency_axis
        self.rectangle_mode = False
        self.setMouseEnabled(x=True, y=frequency_axis)

    def mouseDragEvent(self, ev, axis=None):
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            p0 = self.mapSceneToView(ev.buttonDownScenePos())
            p1 = self.mapSceneToView(ev.scenePos())
            t0, t1 = sorted((p0.x(), p1.x()))
            lo = hi = None
            if self.frequency_axis and self.rectangle_mode:
                lo, hi = sorted((max(0.0, p0.y()), max(0.0, p1.y())))
            self.sigSelect.emit(t0, t1, lo, hi, ev.isFinish())
        elif ev.button() == Qt.MouseButton.MiddleButton:
            ev.accept()
            last = self.mapSceneToView(ev.lastScenePos())
            now = self.mapSceneToView(ev.scenePos())
            self.translateBy(x=last.x() - now.x())
        else:
            ev.ignore()

    def mouseClickEvent(self, ev):
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self.sigClick.emit(self.mapSceneToView(ev.scenePos()).x())
        else:
            ev.ignore()

    def wheelEvent(self, ev, axis=None):
        mods = ev.modifiers()
        steps = ev.delta() / 120.0
        pos = self.mapSceneToView(ev.scenePos())
        if mods & Qt.KeyboardModifier.ControlModifier:
            self.zoom_time(0.8**steps, centre=pos.x())
        elif mods & Qt.KeyboardModifier.AltModifier and self.frequency_axis:
            f = 0.8**steps
            self.scaleBy(x=1.0, y=f, center=QPointF(pos.x(), pos.y()))
        else:
            (x0, x1), _ = self.viewRange()
            self.translateBy(x=-(x1 - x0) * 0.1 * steps)
        ev.accept()

    def hoverEvent(self, ev):
        if not ev.isExit():
            p = self.mapSceneToView(ev.scenePos())
            self.sigHover.emit(p.x(), p.y())

    def zoom_time(self, factor: float, centre: float | None = None) -> None:
        (x0, x1), _ = self.viewRange()
        c = (x0 + x1) / 2 if centre is None else centre
        self.setXRange(c - (c - x0) * factor, c + (x1 - c) * factor, padding=0)


class TimelinePlot(pg.PlotWidget):
    """A PlotWidget on an :class:`EditorViewBox` with a time ruler and a fixed-width left axis."""

    def __init__(self, parent=None, *, frequency_axis: bool = False, show_time_axis: bool = True,
                 view_box: EditorViewBox | None = None) -> None:
        self.vb = view_box if view_box is not None else EditorViewBox(frequency_axis=frequency_axis)
        axes = {"bottom": TimeAxisItem("bottom")}
        if frequency_axis:
            axes["left"] = FrequencyAxisItem("left")
        super().__init__(parent, viewBox=self.vb, axisItems=axes)
        item = self.getPlotItem()
        item.hideButtons()
        item.setMenuEnabled(False)
        item.getAxis("left").setWidth(LEFT_AXIS_WIDTH)
        item.layout.setContentsMargins(0, 2, 6, 0)
        if not show_time_axis:
            item.getAxis("bottom").setStyle(showValues=False)
            item.getAxis("bottom").setHeight(6)
        self.setMinimumHeight(60)
        self.show_empty_time()
        self.playhead = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(theme.PLAYHEAD, width=1))
        self.playhead.setZValue(50)
        self.addItem(self.playhead, ignoreBounds=True)
        self.cursor_line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(theme.TEXT_DIM, width=1, style=Qt.PenStyle.DashLine))
        self.cursor_line.setZValue(49)
        self.addItem(self.cursor_line, ignoreBounds=True)
        self.time_selection = pg.LinearRegionItem(
            movable=False, brush=pg.mkBrush(*theme.SELECTION_FILL), pen=pg.mkPen(*theme.SELECTION_EDGE)
        )
        self.time_selection.setZValue(40)
        self.time_selection.hide()
        self.addItem(self.time_selection, ignoreBounds=True)

    def show_empty_time(self) -> None:
        """No file: the ruler shows the first second (never negative times)."""
        self.vb.setLimits(xMin=0.0, xMax=None, minXRange=None)
        self.setXRange(0.0, EMPTY_SPAN_S, padding=0)

    def set_playhead(self, seconds: float | None) -> None:
        if seconds is None:
            self.playhead.hide()
        else:
            self.playhead.setValue(seconds)
            self.playhead.show()

    def set_cursor(self, seconds: float | None) -> None:
        if seconds is None:
            self.cursor_line.hide()
        else:
            self.cursor_line.setValue(seconds)
            self.cursor_line.show()

    def show_selection(self, start_s: float | None, end_s: float | None, low_hz=None, high_hz=None) -> None:
        """Time selection band (spectrogram views override to draw rectangles)."""
        if start_s is None:
            self.time_selection.hide()
        else:
            self.time_selection.setRegion((start_s, end_s))
            self.time_selection.show()


def envelope_pairs(env: Envelope) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x, y for a ``connect='pairs'`` curve of min/max columns, and y of the RMS body."""
    x = np.repeat(env.times_s, 2)
    y = np.column_stack([env.minimum, env.maximum]).ravel()
    r = np.column_stack([-env.rms, env.rms]).ravel()
    return x, y, r


#: How the waveform's legend names each detector's events (kind -> plural noun).
EVENT_WORDS = {"declick": "clicks", "breath": "breaths", "deess": "sibilants", "deplosive": "pops"}
#: the room-tone spans' strip: filled when found automatically, outlined when learned from a selection
ROOM_TONE_FILL = (126, 224, 126, 70)
ROOM_TONE_EDGE = "#7ee07e"
ROOM_TONE_WORDS = {"auto": "found automatically (the quietest stretches)",
                   "vad": "found automatically (stretches without speech)",
                   "learn": "learned from a selection"}


class WaveformView(TimelinePlot):
    """The zoomable waveform: peak columns from the pyramid, raw samples when zoomed in."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setToolTip(
            "Waveform of the source (blue) and, after Apply, of the processed audio (amber).\n"
            "Drag to select a time range · click to place the cursor · wheel scrolls ·\n"
            "Ctrl+wheel zooms in time · middle-drag pans."
        )
        item = self.getPlotItem()
        item.showGrid(x=True, y=False, alpha=0.12)
        self.setYRange(-1.0, 1.0, padding=0.02)
        self.vb.setLimits(yMin=-1.05, yMax=1.05)
        item.getAxis("left").setTicks([[(-1, "-1"), (-0.5, ""), (0, "0"), (0.5, ""), (1, "1")]])
        self._layers = {}
        for name, colour, rms_colour, z in (
            ("before", theme.WAVE, theme.WAVE_RMS, 10),
            ("after", theme.WAVE_AFTER, theme.WAVE_AFTER_RMS, 20),
        ):
            peak = pg.PlotCurveItem(pen=pg.mkPen(colour, width=1), connect="pairs")
            peak.setZValue(z)
            rms = None
            if rms_colour:
                rms = pg.PlotCurveItem(pen=pg.mkPen(rms_colour, width=1), connect="pairs")
                rms.setZValue(z + 1)
                self.addItem(rms)
            line = pg.PlotDataItem(pen=pg.mkPen(colour, width=1))
            line.setDownsampling(auto=True, method="peak")
            line.setClipToView(True)
            line.setZValue(z)
            self.addItem(peak)
            self.addItem(line)
            self._layers[name] = {"peak": peak, "rms": rms, "line": line, "pyramid": None, "reader": None}
        zero = pg.InfiniteLine(pos=0.0, angle=0, pen=pg.mkPen(theme.BORDER))
        self.addItem(zero, ignoreBounds=True)
        self._redraw_timer = QTimer(self)
        self._redraw_timer.setSingleShot(True)
        self._redraw_timer.setInterval(0)
        self._redraw_timer.timeout.connect(self.redraw)
        self.vb.sigXRangeChanged.connect(lambda *_: self._redraw_timer.start())
        self.columns_drawn = 0
        self._event_items: list = []
        self._event_legend = None
        self._event_counts: dict[str, int] = {}
        self._events_visible = True
        self._room_tone_items: list = []
        self.room_tone_spans: list[tuple[float, float]] = []
        self.room_tone_method: str | None = None

    def set_layer(self, name: str, pyramid: WaveformPyramid | None, reader=None) -> None:
        """Show ``pyramid`` as the ``"before"`` or ``"after"`` waveform (None hides it)."""
        layer = self._layers[name]
        layer["pyramid"] = pyramid
        layer["reader"] = reader
        if name == "after":
            # with a render on top, the source becomes a muted ghost: what was removed shows around it
            before = self._layers["before"]
            ghost = pyramid is not None
            before["peak"].setPen(pg.mkPen(theme.WAVE_GHOST if ghost else theme.WAVE, width=1))
            before["line"].setPen(pg.mkPen(theme.WAVE_GHOST if ghost else theme.WAVE, width=1))
            before["rms"].setVisible(not ghost)
        if pyramid is not None and name == "before":
            d = max(pyramid.duration_s, 1e-3)
            self.vb.setLimits(xMin=0.0, xMax=d, minXRange=min(d, 64 / pyramid.sample_rate))
        elif name == "before":
            self.show_empty_time()
        self.redraw()

    def set_events(self, events: dict[str, np.ndarray] | None) -> None:
        """Draw what the stages' detectors found (kind -> ``(n, 2)`` start/end seconds) as lanes of
        marks along the bottom of the waveform, one colour per kind, with a legend that counts
        them; None or an empty dict clears them. Short events (a 1 ms click) stay visible as a
        marker at their centre whatever the zoom."""
        for item in self._event_items:
            self.removeItem(item)
        self._event_items = []
        if self._event_legend is not None:
            scene = self._event_legend.scene()
            if scene is not None:
                scene.removeItem(self._event_legend)
            self._event_legend = None
        self._event_counts = {}
        events = {k: np.asarray(v, dtype=np.float64).reshape(-1, 2) for k, v in (events or {}).items()}
        events = {k: v for k, v in events.items() if len(v)}
        if not events:
            return
        legend = pg.LegendItem(offset=(-10, 4), labelTextColor=theme.TEXT, labelTextSize="8pt",
                               brush=pg.mkBrush(23, 24, 27, 215), colCount=len(events))
        legend.setParentItem(self.getPlotItem().vb)
        legend.setZValue(100)  # over the waveform, readable on a loud passage
        self._event_legend = legend
        for lane, (kind, spans) in enumerate(sorted(events.items())):
            colour = theme.EVENT_COLOURS[lane % len(theme.EVENT_COLOURS)]
            y = -0.97 + 0.07 * lane
            x = spans.reshape(-1)
            bars = pg.PlotCurveItem(x, np.full(x.shape, y), pen=pg.mkPen(colour, width=5), connect="pairs")
            marks = pg.ScatterPlotItem(spans.mean(axis=1), np.full(len(spans), y), symbol="d", size=7,
                                       pen=pg.mkPen(colour), brush=pg.mkBrush(colour))
            for item in (bars, marks):
                item.setZValue(40)
                self.addItem(item, ignoreBounds=True)
                self._event_items.append(item)
            self._event_counts[kind] = len(spans)
            word = EVENT_WORDS.get(kind, kind)
            legend.addItem(marks, f"{len(spans)} {word if len(spans) != 1 else word.rstrip('s')}")
        self.set_events_visible(self._events_visible)

    def set_room_tone(self, profile) -> None:
        """Shade, in a strip along the top, the spans the room-tone profile was learned from:
        filled for a profile found automatically (``method`` ``auto`` / ``vad``), outlined for
        one learned from a selection; a profile estimated over the whole file (``minimum``) has
        no spans. The spans drawn are :attr:`room_tone_spans`, exactly the profile's ``regions``."""
        spans = [] if profile is None else [(float(a), float(b)) for a, b in profile.regions]
        method = None if profile is None else profile.method
        if spans == self.room_tone_spans and method == self.room_tone_method:
            return
        for item in self._room_tone_items:
            self.removeItem(item)
        self._room_tone_items = []
        self.room_tone_spans, self.room_tone_method = spans, method
        automatic = method != "learn"
        how = ROOM_TONE_WORDS.get(method or "", method)
        for a, b in spans:
            item = pg.LinearRegionItem((a, b), movable=False, span=(0.9, 1.0),
                                       brush=pg.mkBrush(*(ROOM_TONE_FILL if automatic else (0, 0, 0, 0))),
                                       pen=pg.mkPen(ROOM_TONE_EDGE, width=1,
                                                    style=Qt.PenStyle.SolidLine if automatic else Qt.PenStyle.DashLine))
            item.setZValue(41)
            item.setToolTip(f"Room tone {how}: learned from {a:.2f}-{b:.2f} s")
            self.addItem(item, ignoreBounds=True)
            self._room_tone_items.append(item)
        if spans:
            label = pg.TextItem("room tone" + (" (auto)" if automatic else ""),
                                color=ROOM_TONE_EDGE, anchor=(0, 0))
            label.setPos(spans[0][0], 1.0)
            label.setZValue(41)
            self.addItem(label, ignoreBounds=True)
            self._room_tone_items.append(label)

    def set_events_visible(self, on: bool) -> None:
        """Show or hide the detected-event lanes (View > Show Detected Events)."""
        self._events_visible = bool(on)
        for item in self._event_items:
            item.setVisible(self._events_visible)
        if self._event_legend is not None:
            self._event_legend.setVisible(self._events_visible)

    def event_counts(self) -> dict[str, int]:
        """How many events of each kind are drawn (for tests and the status bar)."""
        return dict(self._event_counts)

    def resizeEvent(self, ev):
        super().resizeEvent(ev)
        if "_redraw_timer" not in self.__dict__:
            return  # called by the base class before __init__ finished
        self._redraw_timer.start()

    def redraw(self) -> None:
        (x0, x1), _ = self.vb.viewRange()
        width = max(50, int(self.vb.width()) or self.width())
        self.columns_drawn = 0
        for layer in self._layers.values():
            pyr = layer["pyramid"]
            if pyr is None:
                layer["peak"].setData([], [])
                layer["line"].setData([], [])
                if layer["rms"] is not None:
                    layer["rms"].setData([], [])
                continue
            env = pyr.envelope(max(0.0, x0), x1, width, reader=layer["reader"])
            self.columns_drawn += len(env.times_s)
            if env.samples_per_column == 1:
                layer["peak"].setData([], [])
                if layer["rms"] is not None:
                    layer["rms"].setData([], [])
                layer["line"].setData(env.times_s, env.maximum)
            else:
                x, y, r = envelope_pairs(env)
                layer["line"].setData([], [])
                layer["peak"].setData(x, y)
                if layer["rms"] is not None:
                    layer["rms"].setData(x, r)
