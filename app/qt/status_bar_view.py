"""The workstation's status bar: transient messages on the left, readouts and jobs on the right.

The readouts (selection, mouse position, levels, format), the job list, the dropout counter and
the output device are permanent widgets: a message never hides them, and when a message or a
running job needs the room the readouts give way (``fit``) instead of clipping it.
"""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QStatusBar

from app.qt import theme
from app.qt.jobs_view import JobsView
from app.timecode import format_time

STATUS_SPACING = 12  # px between status-bar widgets (QStatusBar's spacing and frames, rounded up)
STATUS_MARGINS = 40  # px the status bar keeps for its margins and size grip


class StatusBarView(QStatusBar):
    """A QStatusBar with the workstation's readouts (``position_label``, ``levels_label``...)."""

    def __init__(self, jobs, parent=None) -> None:
        super().__init__(parent)
        self.position_label = QLabel()
        self.position_label.setToolTip("Time under the mouse / cursor position.")
        self.selection_label = QLabel()
        self.selection_label.setToolTip("The current selection: start – end (length) and, for a rectangle, its band.")
        self.format_label = QLabel()
        self.format_label.setToolTip("Sample rate, channels and length of the source audio.")
        self.levels_label = QLabel()
        self.levels_label.setToolTip("Peak and RMS level of the selection (or of the visible span), dBFS.")
        self.jobs_view = JobsView(jobs)
        self.underrun_label = QLabel()
        self.underrun_label.setObjectName("underruns")
        self.underrun_label.setStyleSheet(f"color: {theme.WARN};")
        self.underrun_label.setToolTip("Dropouts: times the headphone output ran out of audio (heard as a click or "
                                       "gap; exports are never affected). If it keeps counting, raise the buffer "
                                       "size in Edit › Preferences.")
        self.underrun_label.hide()
        self.output_label = QLabel()
        self.output_label.setObjectName("outputDevice")
        self.output_label.setToolTip("The headphone output: device and the latency it reports. "
                                     "Change it in Edit › Preferences.")
        for w in (self.jobs_view, self.position_label, self.selection_label, self.levels_label, self.format_label,
                  self.underrun_label, self.output_label):
            self.addPermanentWidget(w)
        self.readouts = (self.selection_label, self.position_label, self.levels_label, self.format_label)
        self.messageChanged.connect(lambda _text: self.fit())

    def fit(self) -> None:
        """Give the transient message and the job's label the room they need in the status bar.

        QStatusBar clips its message at the first permanent widget and squeezes the permanent
        widgets when they do not fit. The readouts (selection, position, levels, format) are
        shown in that order of importance while they fit next to the job view, the output
        label and the current message, and hidden (until there is room again) otherwise.
        """
        width = self.width()
        if width <= 0:
            return
        gap = STATUS_SPACING
        msg = self.currentMessage()
        budget = width - STATUS_MARGINS - (self.fontMetrics().horizontalAdvance(msg) + gap if msg else 0)
        used = sum(w.sizeHint().width() + gap for w in (self.jobs_view, self.underrun_label, self.output_label)
                   if not w.isHidden())
        for w in self.readouts:
            need = w.sizeHint().width() + gap
            show = used + need <= budget
            if show:
                used += need
            if w.isHidden() == show:
                w.setVisible(show)

    def show_format(self, reader) -> None:
        """Sample rate, channels, sample format and length of the source ``reader``."""
        r = reader
        dur = r.frames / r.sample_rate
        ch = {1: "mono", 2: "stereo"}.get(r.channels, f"{r.channels} ch")
        self.format_label.setText(f"{r.sample_rate / 1000:g} kHz · {ch} · {r.info.subtype.replace('PCM_', '')}-bit · "
                                  f"{format_time(dur, decimals=1)}" if r.info.subtype.startswith("PCM_") else
                                  f"{r.sample_rate / 1000:g} kHz · {ch} · {r.info.subtype.lower()} · {format_time(dur, decimals=1)}")

    def show_selection(self, a: float | None, b: float | None, lo: float | None, hi: float | None) -> None:
        if a is None:
            self.selection_label.setText("No selection")
            return
        text = f"Selection {format_time(a)} – {format_time(b)} ({b - a:.3f} s)"
        if lo is not None:
            text += f" · {lo:.0f}–{hi:.0f} Hz"
        self.selection_label.setText(text)

    def show_levels(self, pyramid, a: float | None, b: float | None, view: tuple[float, float]) -> None:
        """Peak and RMS of the selection ``a``..``b`` (of the ``view`` span without one)."""
        if pyramid is None:
            self.levels_label.setText("")
            return
        if a is None or b <= a:
            a, b = view
            where = "view"
        else:
            where = "selection"
        peak, rms = pyramid.levels_db(max(0.0, a), b)
        self.levels_label.setText(f"{where}: peak {peak:.1f} · RMS {rms:.1f} dBFS")
