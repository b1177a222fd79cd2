"""Output meters: peak and RMS bars per channel with peak hold, a clip indicator, short-term loudness.

The window polls :meth:`app.audio.Monitor.meters` from its timer and hands each
:class:`app.audio.MeterReading` to :meth:`MetersView.set_reading`. Units: dBFS for the bars
(scale -60 to 0 dBFS), LUFS for the loudness readout (BS.1770 short-term, 3 s window).

Ballistics (display only; the monitor's readings are exact): the peak bar rises at once and
falls at ``FALL_DB_PER_S``; the peak-hold tick stays ``HOLD_S`` seconds on the highest peak,
then falls at the same rate. The clip indicator is sticky (the monitor counts clipped chunks
until reset); clicking it resets both.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QToolButton, QWidget

from app.qt import theme

FLOOR_DB = -60.0
TOP_DB = 0.0
HOLD_S = 1.5
FALL_DB_PER_S = 24.0
SCALE_DB = (-48, -36, -24, -18, -12, -6, -3, 0)
GREEN = "#3fb950"
AMBER = theme.WARN
RED = theme.PLAYHEAD
AMBER_FROM_DB = -12.0  # speech peaks belong here
RED_FROM_DB = -3.0  # little headroom left


def _colour(db: float) -> str:
    return RED if db >= RED_FROM_DB else AMBER if db >= AMBER_FROM_DB else GREEN


class _Bars(QWidget):
    """The bars themselves (painted), one row per channel, with a dB scale below."""

    def __init__(self, owner: MetersView) -> None:
        super().__init__(owner)
        self.owner = owner
        self.setMinimumWidth(160)
        self.setMinimumHeight(26)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def _x(self, db: float, x0: float, w: float) -> float:
        f = (min(max(db, FLOOR_DB), TOP_DB) - FLOOR_DB) / (TOP_DB - FLOOR_DB)
        return x0 + f * w

    def paintEvent(self, _ev) -> None:  # noqa: N802 - Qt naming
        o = self.owner
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        n = max(1, len(o.peak_db))
        x0, w = 18.0, max(10.0, self.width() - 22.0)
        scale_h = 10.0
        gap = 2.0
        row_h = max(3.0, (self.height() - scale_h - gap * (n - 1) - 1) / n)
        small = QFont(self.font())
        small.setPointSizeF(6.5)
        p.setFont(small)
        names = ("L", "R") if n == 2 else ("M",) if n == 1 else tuple(str(i + 1) for i in range(n))
        for ch in range(n):
            y = ch * (row_h + gap)
            p.fillRect(QRectF(x0, y, w, row_h), QColor(theme.BACKGROUND))
            p.setPen(QColor(theme.TEXT_DIM))
            p.drawText(QRectF(0, y - 2, x0 - 4, row_h + 4), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, names[ch])
            peak = o.peak_db[ch] if ch < len(o.peak_db) else FLOOR_DB
            rms = o.rms_db[ch] if ch < len(o.rms_db) else FLOOR_DB
            hold = o.hold_db[ch] if ch < len(o.hold_db) else FLOOR_DB
            # peak: segments in their zone colours, dimmed; RMS: the same, full strength
            for value, alpha in ((peak, 120), (rms, 255)):
                end = self._x(value, x0, w)
                a = x0
                for lo, hi in ((FLOOR_DB, AMBER_FROM_DB), (AMBER_FROM_DB, RED_FROM_DB), (RED_FROM_DB, TOP_DB)):
                    b = min(end, self._x(hi, x0, w))
                    if b > a:
                        c = QColor(_colour(lo))
                        c.setAlpha(alpha)
                        p.fillRect(QRectF(a, y, b - a, row_h), c)
                    a = max(a, self._x(hi, x0, w))
            if hold > FLOOR_DB:
                hx = self._x(hold, x0, w)
                p.fillRect(QRectF(hx - 1, y, 2, row_h), QColor(_colour(hold) if hold >= AMBER_FROM_DB else theme.TEXT))
        # scale
        base = n * (row_h + gap) - gap
        p.setPen(QPen(QColor(theme.BORDER)))
        p.drawLine(int(x0), int(base), int(x0 + w), int(base))
        p.setPen(QColor(theme.TEXT_DIM))
        for db in SCALE_DB:
            x = self._x(db, x0, w)
            p.drawLine(int(x), int(base), int(x), int(base + 2))
            p.drawText(QRectF(x - 14, base + 1, 28, scale_h), Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, str(db))
        p.end()


class MetersView(QWidget):
    """Peak/RMS bars per channel with peak hold, clip indicator (click resets), short-term LUFS.

    Signals
    -------
    clipResetRequested
        The clip indicator was clicked: the owner clears the monitor's clip count.
    """

    clipResetRequested = Signal()

    def __init__(self, parent=None, *, channels: int = 2) -> None:
        super().__init__(parent)
        self.setObjectName("metersView")
        self.peak_db = [FLOOR_DB] * channels
        self.rms_db = [FLOOR_DB] * channels
        self.hold_db = [FLOOR_DB] * channels
        self._hold_at = [0.0] * channels
        self._last_t: float | None = None
        self.lufs: float | None = None
        self.clipped = False
        self.clip_count = 0
        lay = QHBoxLayout(self)
        lay.setContentsMargins(4, 2, 4, 2)
        lay.setSpacing(6)
        self.bars = _Bars(self)
        self.bars.setToolTip(
            "Output level of what you hear, per channel (dBFS): the bright bar is the RMS level (300 ms), "
            "the dim extension the peak (50 ms), the tick the highest peak of the last 1.5 s. "
            "Amber from -12 dBFS, red from -3 dBFS.")
        lay.addWidget(self.bars, 1)
        self.lufs_label = QLabel("— LUFS")
        self.lufs_label.setObjectName("lufsReadout")
        self.lufs_label.setMinimumWidth(86)
        self.lufs_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.lufs_label.setStyleSheet("font-family: monospace;")
        self.lufs_label.setToolTip(
            "Short-term loudness of what you hear (ITU-R BS.1770, K-weighted, last 3 s), in LUFS. "
            "Podcast delivery targets are usually -16 LUFS (stereo) or -19 LUFS (mono) integrated.")
        lay.addWidget(self.lufs_label)
        self.clip_button = QToolButton()
        self.clip_button.setText("CLIP")
        self.clip_button.setObjectName("clipIndicator")
        self.clip_button.setFixedWidth(48)
        self.clip_button.setToolTip(
            "Lights red when the monitored signal reached full scale (0 dBFS, it would clip in a fixed-point "
            "file) and stays lit until clicked. Click to reset.")
        self.clip_button.clicked.connect(self._clip_clicked)
        lay.addWidget(self.clip_button)
        self._style_clip()

    # -- updates -----------------------------------------------------------------------------
    def set_channels(self, channels: int) -> None:
        channels = max(1, int(channels))
        if channels != len(self.peak_db):
            self.peak_db = [FLOOR_DB] * channels
            self.rms_db = [FLOOR_DB] * channels
            self.hold_db = [FLOOR_DB] * channels
            self._hold_at = [0.0] * channels
            self.bars.update()

    def set_reading(self, reading, now: float | None = None) -> None:
        """Show a :class:`app.audio.MeterReading` (None: silence, e.g. monitoring off)."""
        now = time.monotonic() if now is None else now
        dt = 0.0 if self._last_t is None else max(0.0, now - self._last_t)
        self._last_t = now
        if reading is None:  # no monitor: nothing is heard, nothing to hold
            n = len(self.peak_db)
            self.peak_db, self.rms_db, self.hold_db = [FLOOR_DB] * n, [FLOOR_DB] * n, [FLOOR_DB] * n
            if self.lufs is not None:
                self.lufs = None
                self.lufs_label.setText("— LUFS")
            self.bars.update()
            return
        peaks, rmss = tuple(reading.peak_dbfs), tuple(reading.rms_dbfs)
        lufs, clipped, count = reading.short_term_lufs, bool(reading.clipped), int(reading.clip_count)
        self.set_channels(len(peaks))
        fall = FALL_DB_PER_S * dt
        for ch in range(len(self.peak_db)):
            pk = peaks[ch] if ch < len(peaks) else FLOOR_DB
            rm = rmss[ch] if ch < len(rmss) else FLOOR_DB
            self.peak_db[ch] = max(pk, self.peak_db[ch] - fall, FLOOR_DB)
            self.rms_db[ch] = max(rm, FLOOR_DB)
            if pk >= self.hold_db[ch]:
                self.hold_db[ch], self._hold_at[ch] = pk, now
            elif now - self._hold_at[ch] > HOLD_S:
                self.hold_db[ch] = max(FLOOR_DB, self.hold_db[ch] - fall)
        self.lufs = None if lufs <= -119.0 else float(lufs)
        self.lufs_label.setText("— LUFS" if self.lufs is None else f"{self.lufs:6.1f} LUFS")
        if clipped != self.clipped or count != self.clip_count:
            self.clipped, self.clip_count = clipped, count
            self._style_clip()
        self.bars.update()

    def reset_clip(self) -> None:
        self.clipped, self.clip_count = False, 0
        self._style_clip()

    def _clip_clicked(self) -> None:
        self.reset_clip()
        self.clipResetRequested.emit()

    def _style_clip(self) -> None:
        if self.clipped:
            self.clip_button.setStyleSheet(
                f"QToolButton {{ background: {RED}; color: white; font-weight: bold; border-radius: 3px; padding: 2px; }}")
            self.clip_button.setToolTip(
                f"Clipped {self.clip_count}× since the last reset: the monitored signal reached 0 dBFS. "
                "Lower the gain or the chain's output. Click to reset.")
        else:
            self.clip_button.setStyleSheet(
                f"QToolButton {{ background: {theme.BACKGROUND}; color: {theme.TEXT_DIM}; border: 1px solid "
                f"{theme.BORDER}; border-radius: 3px; padding: 2px; }}")
            self.clip_button.setToolTip(
                "Lights red when the monitored signal reaches full scale (0 dBFS, it would clip in a fixed-point "
                "file) and stays lit until clicked. Click to reset.")


__all__ = ["MetersView"]
