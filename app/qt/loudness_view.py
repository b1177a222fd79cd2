"""Short-term loudness over time, before and after, with the phrases coloured by level.

Binds :class:`dsp.loudness_timeline.LoudnessTimeline` s (computed as jobs by the window through
:mod:`app.loudness_timeline`) to a timeline plot that shares the waveform's time axis: the
source's short-term loudness (LUFS, 3 s) as a thin cyan line, the render's in amber; each phrase
as a bar at its loudness, thin for the source and thick for the render, coloured by
:func:`app.loudness_timeline.level_colour` relative to the typical phrase level (blue quiet,
green typical, red loud). The title carries the speaker-level spread before -> after; a legend
in the corner explains the colours.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from app.loudness_timeline import LEVEL_SCALE, phrase_colours, spread_text
from app.qt import theme
from app.qt.waveform_view import TimelinePlot
from dsp.loudness_timeline import LoudnessTimeline

FLOOR_LUFS = -60.0
TOP_LUFS = 0.0
BAR_LU = {"before": 0.5, "after": 1.4}  # bar heights
#: The legend shows only when the plot is at least this tall (px).
LEGEND_MIN_HEIGHT = 80
#: Levels shown (LU from the top of the plot).
LEVEL_SPAN_LU = 54.0
#: Smaller than the other timeline views' minimum: the window with the prosody dock still fits 1280x800.
MIN_HEIGHT = 44


class LoudnessView(TimelinePlot):
    """The Loudness pane; :meth:`set_timelines` gives it something to show."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.vb.setMouseEnabled(x=True, y=False)
        self.setMinimumHeight(MIN_HEIGHT)
        self.setYRange(FLOOR_LUFS, TOP_LUFS, padding=0)
        self.vb.setLimits(yMin=FLOOR_LUFS - 30, yMax=TOP_LUFS + 12)
        self.getPlotItem().getAxis("left").setLabel("LUFS")
        self.getPlotItem().showGrid(x=False, y=True, alpha=0.15)
        self.before_curve = pg.PlotDataItem(pen=pg.mkPen(theme.WAVE, width=1), connect="finite")
        self.after_curve = pg.PlotDataItem(pen=pg.mkPen(theme.WAVE_AFTER, width=2), connect="finite")
        for c in (self.before_curve, self.after_curve):
            c.setDownsampling(auto=True, method="peak")
            c.setClipToView(True)
            self.addItem(c)
        self.before_curve.setZValue(12)
        self.after_curve.setZValue(14)
        self.bars: dict[str, pg.BarGraphItem | None] = {"before": None, "after": None}
        self.before: LoudnessTimeline | None = None
        self.after: LoudnessTimeline | None = None
        self.title = QLabel("LOUDNESS", self)
        self.title.setObjectName("viewTitle")
        self.title.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.title.setStyleSheet(
            f"background: rgba(20,21,24,170); color: {theme.TEXT}; padding: 2px 6px; border-radius: 3px;")
        self.title.move(66, 6)
        self.legend = QLabel(self._legend_html(), self)
        self.legend.setObjectName("loudnessLegend")
        self.legend.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.legend.setStyleSheet(
            f"background: rgba(20,21,24,190); color: {theme.TEXT_DIM}; padding: 2px 6px; border-radius: 3px;")
        self.vb.sigResized.connect(self._place_overlays)
        self.message = pg.TextItem("", color=theme.TEXT_DIM, anchor=(0.5, 0.5))
        self.message.setZValue(60)
        self.addItem(self.message, ignoreBounds=True)
        self.setToolTip("Short-term loudness (BS.1770, 3 s) of the source (thin cyan) and of the chain's result "
                        "(amber, after Apply). Bars: the phrases at their loudness (thin before, thick after), coloured "
                        "by level against the file's typical phrase: blue quiet, green typical, red loud.")
        self.set_timelines(None, None, message="")

    @staticmethod
    def _legend_html() -> str:
        parts = []
        for v, (r, g, b) in LEVEL_SCALE:
            label = "typical" if v == 0 else f"{v:+g}"
            parts.append(f'<span style="color: rgb({r},{g},{b});">&#9632;</span>&nbsp;{label}')
        return "phrase level, LU: " + " ".join(parts)

    def resizeEvent(self, ev):  # noqa: N802 - Qt naming
        super().resizeEvent(ev)
        self._place_overlays()

    def _place_overlays(self) -> None:
        """The legend in the plot's bottom-right corner (quiet levels: rarely anything there)."""
        if not hasattr(self, "legend"):
            return  # called by the base class before __init__ finished
        self.legend.adjustSize()
        rect = self.mapFromScene(self.vb.sceneBoundingRect()).boundingRect()
        self.legend.move(max(66, rect.right() - self.legend.width() - 4), max(6, rect.bottom() - self.legend.height() - 3))
        self.legend.setVisible(rect.height() >= LEGEND_MIN_HEIGHT)  # a squeezed pane shows its curves instead
        self._place_message()

    def _place_message(self) -> None:
        (x0, x1), (y0, y1) = self.vb.viewRange()
        self.message.setPos((x0 + x1) / 2, (y0 + y1) / 2)

    # -- data ---------------------------------------------------------------------------------
    def set_timelines(self, before: LoudnessTimeline | None, after: LoudnessTimeline | None, *,
                      message: str | None = None, after_current: bool = True) -> None:
        """Show ``before`` (the source) and ``after`` (the render; None before Apply).

        The same two timelines again only update the title (the window calls this on every edit).
        """
        same = before is self.before and after is self.after and before is not None
        self.before, self.after = before, after
        for name, tl, curve in (("before", before, self.before_curve), ("after", after, self.after_curve)):
            if same:
                break
            if tl is None or tl.energy.size == 0:
                curve.setData([], [])
            else:
                y = np.where(np.isfinite(tl.short_term_lufs), tl.short_term_lufs, np.nan)
                curve.setData(tl.times_s, np.maximum(y, FLOOR_LUFS - 5))
            self._set_bars(name, tl)
        title = "LOUDNESS"
        if before is not None:
            title += "  ·  " + spread_text(before, after)
            if before.detector == "energy":
                title += "  ·  phrases by level (no VAD)"  # the fallback says so; the note says why
            if after is not None and not after_current:
                title += "  ·  out of date — press Apply"
        self.title.setText(title)
        self.title.setToolTip(before.note if before is not None else "")
        self.title.adjustSize()
        if not same:
            self._fit_levels()
        self.message.setText(message if message is not None else ("" if before is not None else "Measuring loudness…"))
        self._place_overlays()

    def _fit_levels(self) -> None:
        """Level range: the loudest short-term value plus room for the title at the top, 54 LU shown."""
        peaks = [float(np.max(tl.short_term_lufs[np.isfinite(tl.short_term_lufs)]))
                 for tl in (self.before, self.after)
                 if tl is not None and np.isfinite(tl.short_term_lufs).any()]
        top = TOP_LUFS if not peaks else min(TOP_LUFS + 6, math.ceil((max(peaks) + 9.0) / 6.0) * 6.0)
        self.setYRange(top - LEVEL_SPAN_LU, top, padding=0)

    def _set_bars(self, name: str, tl: LoudnessTimeline | None) -> None:
        old = self.bars.get(name)
        if old is not None:
            self.removeItem(old)
            self.bars[name] = None
        if tl is None or not tl.phrases:
            return
        keep = [i for i, p in enumerate(tl.phrases) if math.isfinite(p.loudness_lufs)]
        if not keep:
            return
        colours = phrase_colours(tl)
        alpha = 150 if name == "before" else 235
        half = BAR_LU[name] / 2
        ph = [tl.phrases[i] for i in keep]
        level = np.array([p.loudness_lufs for p in ph])
        item = pg.BarGraphItem(
            x0=np.array([p.start_s for p in ph]), x1=np.array([p.end_s for p in ph]),
            y0=level - half, y1=level + half,
            brushes=[pg.mkBrush(*colours[i], alpha) for i in keep], pens=[pg.mkPen(None)] * len(keep))
        item.setZValue(10 if name == "before" else 11)
        self.addItem(item)
        self.bars[name] = item

    def readout(self, t: float) -> str:
        """``"  ·  -23.1 → -19.4 LUFS short-term"`` at time ``t`` (the status bar's mouse readout)."""
        vals = []
        for tl in (self.before, self.after):
            if tl is None or tl.energy.size == 0:
                continue
            i = min(max(int(t / tl.step_s), 0), tl.energy.size - 1)
            v = float(tl.short_term_lufs[i])
            vals.append(f"{v:.1f}" if math.isfinite(v) else "-inf")
        return f"  ·  {' → '.join(vals)} LUFS short-term" if vals else ""

    def bar_colours(self, name: str = "after") -> list[tuple[int, int, int]]:
        """RGB of the bars drawn for ``name`` (``"before"``/``"after"``), in phrase order (tests)."""
        tl = self.before if name == "before" else self.after
        if tl is None:
            return []
        return [c for c, p in zip(phrase_colours(tl), tl.phrases, strict=True) if math.isfinite(p.loudness_lufs)]
