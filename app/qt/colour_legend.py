"""The colour legend drawn on every spectrogram pane: the colour map as a bar, labelled in dB.

A small widget laid over the pane's top-right corner (transparent to the mouse, so drags and
clicks reach the plot below), rather than a column beside the plot: the spectrograms keep the
same width as the waveform and loudness views, so time lines up across all of them. The
magnitude panes say ``dB``, the removed-energy pane ``dB removed``.
"""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFontMetrics, QLinearGradient, QPainter, QPen
from PySide6.QtWidgets import QWidget

from app.qt import theme

#: pyqtgraph names of the settings' colour maps ("grey" is its CET-L1 linear greyscale).
PYQTGRAPH_NAMES = {"grey": "CET-L1"}
BAR_WIDTH = 10
MIN_LABEL_GAP_PX = 16
COMPACT_BELOW_PX = 90  # in a pane shorter than this the legend is one line (see ColourLegend)
HBAR_WIDTH = 44


def colour_map(name: str) -> pg.ColorMap:
    """The pyqtgraph colour map of a :data:`app.spectrogram_settings.COLORMAPS` name."""
    return pg.colormap.get(PYQTGRAPH_NAMES.get(name, name))


def legend_ticks(lo: float, hi: float, height_px: float) -> list[float]:
    """Round dB values between ``lo`` and ``hi`` (both ends included) at least
    :data:`MIN_LABEL_GAP_PX` apart on a bar ``height_px`` tall."""
    span = hi - lo
    if span <= 0 or height_px <= 0:
        return [lo, hi]
    fit = max(1, int(height_px // MIN_LABEL_GAP_PX))
    step = next((s for s in (1, 2, 3, 5, 10, 20, 30, 50) if span / s <= fit), 100)
    inner = [step * k for k in range(math.ceil(lo / step), math.floor(hi / step) + 1)]
    gap = MIN_LABEL_GAP_PX * span / height_px
    return [lo] + [v for v in inner if v - lo >= gap and hi - v >= gap] + [hi]


class ColourLegend(QWidget):
    """A vertical colour bar from ``levels[0]`` (bottom) to ``levels[1]`` (top) with dB labels;
    in a pane too short for that (:data:`COMPACT_BELOW_PX`), one line: low, a horizontal bar,
    high and the caption."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setObjectName("colourLegend")
        self.cmap_name = "inferno"
        self.levels = (0.0, 1.0)
        self.caption = "dB"
        self.compact = False
        self._cmap = colour_map(self.cmap_name)
        self._available = 150
        self.resize(60, 150)

    def set_scale(self, cmap_name: str, levels: tuple[float, float], caption: str) -> None:
        """Show ``cmap_name`` over ``levels`` (dB), captioned ``caption``."""
        if cmap_name != self.cmap_name:
            self._cmap = colour_map(cmap_name)
        self.cmap_name, self.levels, self.caption = cmap_name, (float(levels[0]), float(levels[1])), caption
        self._fit()
        self.update()

    def set_height(self, available: int) -> None:
        """Fit a pane that leaves ``available`` pixels of height."""
        if available != self._available:
            self._available = available
            self._fit()

    def _fit(self) -> None:
        fm = QFontMetrics(self.font())
        self.compact = self._available < COMPACT_BELOW_PX
        if self.compact:
            lo, hi = (fm.horizontalAdvance(self._label(v)) for v in self.levels)
            self.resize(lo + hi + HBAR_WIDTH + 28, fm.height() + 6)
            return
        labels = [self._label(v) for v in self.levels] + [self._label(-160.0)]
        width = max(fm.horizontalAdvance(self.caption), BAR_WIDTH + 7 + max(fm.horizontalAdvance(t) for t in labels))
        self.resize(width + 12, self._available)

    def tick_values(self) -> list[float]:
        if self.compact:
            return [self.levels[0], self.levels[1]]
        return legend_ticks(self.levels[0], self.levels[1], self._bar_rect().height())

    def _label(self, value: float) -> str:
        text = f"{value:.0f}" if abs(value - round(value)) < 0.05 else f"{value:.1f}"
        text = text.replace("-", "\u2212")  # a minus sign, not a hyphen beside the tick mark
        return f"{text} {self.caption}" if self.compact and value == self.levels[1] else text

    def _bar_rect(self) -> QRectF:
        fm = QFontMetrics(self.font())
        top = fm.height() + 6
        return QRectF(6, top, BAR_WIDTH, max(4.0, self.height() - top - fm.height() / 2 - 3))

    def _gradient(self, x0: float, y0: float, x1: float, y1: float) -> QLinearGradient:
        grad = QLinearGradient(x0, y0, x1, y1)
        for pos, colour in zip(*self._cmap.getStops(mode="qcolor"), strict=True):
            grad.setColorAt(float(pos), colour)
        return grad

    def paintEvent(self, _ev) -> None:  # noqa: N802 - Qt naming
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(20, 21, 24, 190))
        p.drawRoundedRect(QRectF(self.rect()), 4, 4)
        if self.compact:
            self._paint_line(p)
        else:
            self._paint_column(p)
        p.end()

    def _paint_line(self, p: QPainter) -> None:
        fm = QFontMetrics(self.font())
        lo_text, hi_text = (self._label(v) for v in self.levels)
        row = QRectF(6, 3, self.width() - 12, fm.height())
        p.setPen(QColor(theme.TEXT_DIM))
        p.drawText(row, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, lo_text)
        p.setPen(QColor(theme.TEXT))
        p.drawText(row, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, hi_text)
        x0 = 6 + fm.horizontalAdvance(lo_text) + 5
        bar = QRectF(x0, row.center().y() - BAR_WIDTH / 2 + 1, HBAR_WIDTH, BAR_WIDTH - 2)
        p.fillRect(bar, self._gradient(bar.left(), 0, bar.right(), 0))

    def _paint_column(self, p: QPainter) -> None:
        fm = QFontMetrics(self.font())
        p.setPen(QColor(theme.TEXT))
        p.drawText(QRectF(0, 3, self.width(), fm.height()), Qt.AlignmentFlag.AlignHCenter, self.caption)
        bar = self._bar_rect()
        p.fillRect(bar, self._gradient(0, bar.bottom(), 0, bar.top()))
        lo, hi = self.levels
        p.setPen(QPen(QColor(theme.TEXT_DIM)))
        for value in self.tick_values():
            y = bar.bottom() - (value - lo) / (hi - lo) * bar.height() if hi > lo else bar.bottom()
            p.drawLine(int(bar.right()), int(round(y)), int(bar.right()) + 2, int(round(y)))
            p.drawText(QRectF(bar.right() + 6, y - fm.height() / 2, self.width(), fm.height()),
                       Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, self._label(value))
