"""The prosody panel: voice-clone checks for a clip or a folder, in its own dock.

Layout: a tool row (open clip / folder / reference, export report), then a splitter with the
clip table and the findings list on the left and two tabs on the right:

- **Clip**: spectrogram (0-5 kHz) with the F0 contour on its own right-hand axis, the intensity
  contour, and the waveform with pauses (amber), breaths (cyan) and syllable nuclei (ticks).
- **Dataset**: pitch spread vs energy spread scatter (one dot per clip, coloured by verdict,
  monotone thresholds dashed; reference clips grey) and histograms of F0 spread, articulation
  rate and loudness.

Analysis runs on a worker thread; a timer polls it (the GUI never waits). Clicking a finding
shows its clip and emits :attr:`ProsodyPanel.seekRequested` with the time in seconds where it
applies; the panel's own cursor moves there too.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFontMetrics
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.prosody_report import write_report
from app.qt import theme
from app.qt.colour_legend import ColourLegend
from app.qt.session_bridge import JobPoller
from app.remedies import explain
from app.session.jobs import Job, JobRunner
from dsp.errors import ParameterError
from dsp.io import read_audio
from models.prosody_checks import problems
from models.prosody_dataset import analyse_dataset, judge_synthetic

VERDICT_COLOURS = {"pass": "#3fb950", "warn": theme.WARN, "fail": "#ff5a4e"}
PAUSE_FILL = (240, 160, 48, 70)
BREATH_FILL = (88, 196, 214, 110)
REFERENCE_COLOUR = "#8b9099"
SPEC_MAX_HZ = 5000.0


def _spectrogram(x: np.ndarray, sample_rate: int, *, max_frames: int = 1600) -> tuple[np.ndarray, float, float]:
    """Magnitude spectrogram in dB (frames, bins up to 5 kHz), hop seconds, bin Hz."""
    n_fft = 512 if sample_rate <= 16000 else 1024 if sample_rate <= 24000 else 2048
    hop = max(n_fft // 4, int(math.ceil(len(x) / max_frames)))
    if len(x) < n_fft:
        x = np.pad(x, (0, n_fft - len(x)))
    n = 1 + (len(x) - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(n)[:, None]
    frames = x[idx] * np.hanning(n_fft)[None, :].astype(np.float32)
    spec = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    bin_hz = sample_rate / n_fft
    top = min(spec.shape[1], int(SPEC_MAX_HZ / bin_hz) + 1)
    db = 10 * np.log10(spec[:, :top] + 1e-12)
    return db.astype(np.float32), hop / sample_rate, bin_hz


def _envelope(x: np.ndarray, sample_rate: int, points: int = 3000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Peak envelope (times, min, max) with at most ``points`` buckets."""
    step = max(1, len(x) // points)
    n = len(x) // step
    if n == 0:
        return np.zeros(1), np.zeros(1), np.zeros(1)
    b = x[: n * step].reshape(n, step)
    t = (np.arange(n) * step + step / 2) / sample_rate
    return t, b.min(axis=1), b.max(axis=1)


class WrappingLabelItem(pg.LabelItem):
    """A LabelItem that wraps to the width its layout gives it.

    pyqtgraph's own asks for its whole text's width as a minimum, which made the plot layout
    wider than a docked panel (the plots' right side was cut off).
    """

    def updateMin(self) -> None:  # noqa: N802 - pyqtgraph naming
        h = self.itemRect().height()
        self.setMinimumWidth(0)
        self.setMinimumHeight(h)
        self._sizeHint = {Qt.SizeHint.MinimumSize: (0, h), Qt.SizeHint.PreferredSize: (0, h),
                          Qt.SizeHint.MaximumSize: (-1, -1), Qt.SizeHint.MinimumDescent: (0, 0)}
        self.updateGeometry()

    def resizeEvent(self, ev) -> None:  # noqa: N802 - Qt naming
        w = self.size().width()
        if w > 10 and abs(self.item.textWidth() - w) > 1:
            self.item.setTextWidth(w)
            self.updateMin()
        super().resizeEvent(ev)


class ProsodyPanel(QWidget):
    """Prosody checks view. Signals: ``seekRequested(seconds)``, ``clipSelected(name)``."""

    seekRequested = Signal(float)
    clipSelected = Signal(str)
    analysisFinished = Signal()

    def __init__(self, parent: QWidget | None = None, *, jobs: JobPoller | None = None) -> None:
        """``jobs``: the window's job poller (the analysis then shows in its jobs list and stops
        with the window's other work); a panel on its own runs one of its own."""
        super().__init__(parent)
        self.setObjectName("ProsodyPanel")
        self.dataset = None
        self.reference = None
        self.comparison: list = []
        self.current_clip = None
        self._audio_cache: dict[str, tuple[np.ndarray, int]] = {}
        self._own_jobs = jobs is None
        self.jobs = JobPoller(JobRunner(max_workers=1), parent=self) if jobs is None else jobs
        self._job: Job | None = None
        self._pending_role = "dataset"
        self._progress = (0, 0, "")
        self._timer = QTimer(self)  # the progress bar follows the analysis' file count
        self._timer.setInterval(50)
        self._timer.timeout.connect(self._show_progress)
        self._build()

    # ------------------------------------------------------------------------------ layout
    def _build(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(6, 6, 6, 6)
        root.addLayout(self._build_bar())
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self._build_tables())
        self.tabs = QTabWidget()
        self.clip_view = pg.GraphicsLayoutWidget()
        self.dataset_view = pg.GraphicsLayoutWidget()
        self.tabs.addTab(self.clip_view, "Clip")
        self.tabs.addTab(self.dataset_view, "Dataset")
        split.addWidget(self.tabs)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        split.setSizes([600, 700])
        # narrow (docked beside the processing panel): clip names keep their start and end
        self.clip_table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.findings.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.findings.setColumnWidth(2, 96)
        root.addWidget(split, 1)
        self._build_clip_plots()
        self._build_dataset_plots()

    def _build_bar(self) -> QHBoxLayout:
        """Open clip / folder / reference, the status line, progress and Export report."""
        bar = QHBoxLayout()
        self.open_clip_button = QPushButton("Open clip…")
        self.open_folder_button = QPushButton("Open folder…")
        self.reference_button = QPushButton("Reference…")
        self.reference_button.setToolTip("Reference recordings of the same voice: compare a synthetic clip/folder with them")
        self.export_button = QPushButton("Export report…")
        self.export_button.setObjectName("primary")
        self.export_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(180)
        self.progress.setVisible(False)
        self.status = QLabel("Load a clip or a folder of training clips to check their prosody.")
        self.status.setObjectName("hint")
        self.status.setWordWrap(True)  # long status lines wrap instead of widening the dock (and the window)
        for w in (self.open_clip_button, self.open_folder_button, self.reference_button):
            bar.addWidget(w)
        bar.addWidget(self.status, 1)
        bar.addWidget(self.progress)
        bar.addWidget(self.export_button)
        self.open_clip_button.clicked.connect(self._ask_clip)
        self.open_folder_button.clicked.connect(self._ask_folder)
        self.reference_button.clicked.connect(self._ask_reference)
        self.export_button.clicked.connect(self._ask_export)
        return bar

    def _build_tables(self) -> QSplitter:
        """The clip table above the findings list and the selected finding's detail."""
        left = QSplitter(Qt.Orientation.Vertical)
        left = QSplitter(Qt.Orientation.Vertical)
        self.clip_table = QTableWidget(0, 6)
        self.clip_table.setHorizontalHeaderLabels(["clip", "F0 std st", "span st", "int. dB", "syl/s", "verdict"])
        self.clip_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.clip_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.clip_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.clip_table.verticalHeader().setVisible(False)
        self.clip_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for i in range(1, 6):
            self.clip_table.horizontalHeader().setSectionResizeMode(i, QHeaderView.ResizeMode.ResizeToContents)
        self.clip_table.itemSelectionChanged.connect(self._on_clip_row)
        self.findings = QTreeWidget()
        self.findings.setHeaderLabels(["", "finding", "clip", "measured", "threshold", "at"])
        self.findings.setWordWrap(False)
        self.findings.setRootIsDecorated(False)
        self.findings.setAlternatingRowColors(True)
        self.findings.header().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        for i in (0, 3, 4, 5):
            self.findings.header().setSectionResizeMode(i, QHeaderView.ResizeMode.ResizeToContents)
        self.findings.header().setSectionResizeMode(2, QHeaderView.ResizeMode.Interactive)
        self.findings.itemClicked.connect(self._on_finding)
        self.findings.itemActivated.connect(self._on_finding)
        self.findings.currentItemChanged.connect(lambda item, _prev: self._show_finding_detail(item))
        self.finding_detail = QLabel("Click a finding to see what was measured and what to do; it seeks to where it applies.")
        self.finding_detail.setObjectName("hint")
        self.finding_detail.setWordWrap(True)
        self.finding_detail.setTextFormat(Qt.TextFormat.RichText)
        self.finding_detail.setMinimumHeight(64)
        self.finding_detail.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        findings_box = QWidget()
        fl = QVBoxLayout(findings_box)
        fl.setContentsMargins(0, 0, 0, 0)
        fl.addWidget(self.findings, 1)
        fl.addWidget(self.finding_detail)
        # at least three clips and three findings stay readable, however low the dock is
        rows = 3 * self.clip_table.verticalHeader().defaultSectionSize()
        self.clip_table.setMinimumHeight(self.clip_table.horizontalHeader().sizeHint().height() + rows + 4)
        self.findings.setMinimumHeight(self.findings.header().sizeHint().height() + rows + 4)
        left.addWidget(self.clip_table)
        left.addWidget(findings_box)
        left.setChildrenCollapsible(False)
        left.setSizes([330, 420])
        return left

    def _build_clip_plots(self) -> None:
        v = self.clip_view
        self.spec_plot = v.addPlot(row=0, col=0)
        self.spec_plot.setLabel("left", "Hz")
        self.spec_plot.showAxis("right")
        self.spec_plot.setLabel("right", "F0 (Hz)", color=theme.PROFILE)
        self.spec_image = pg.ImageItem()
        self.spec_image.setColorMap(pg.colormap.get(theme.MAGNITUDE_CMAP))
        self.spec_plot.addItem(self.spec_image)
        self.pitch_vb = pg.ViewBox()
        self.pitch_vb.setZValue(100)  # above the opaque spectrogram
        self.pitch_vb.setMouseEnabled(x=False, y=False)
        self.spec_plot.scene().addItem(self.pitch_vb)
        self.spec_plot.getAxis("right").linkToView(self.pitch_vb)
        self.spec_legend = ColourLegend(v)  # the clip spectrogram's dB scale, like the main views'
        self.spec_legend.set_scale(theme.MAGNITUDE_CMAP, (-80.0, 0.0), "dB")
        self.spec_legend.hide()
        self.spec_plot.vb.sigResized.connect(lambda *_: self._place_spec_legend())
        self.pitch_vb.setXLink(self.spec_plot)
        self.pitch_curve = pg.PlotDataItem(pen=pg.mkPen("#ffffff", width=4), connect="finite")
        self.pitch_curve_core = pg.PlotDataItem(pen=pg.mkPen(theme.PROFILE, width=2), connect="finite")
        self.pitch_vb.addItem(self.pitch_curve)
        self.pitch_vb.addItem(self.pitch_curve_core)
        self.spec_plot.vb.sigResized.connect(self._sync_pitch_vb)

        self.int_plot = v.addPlot(row=1, col=0)
        self.int_plot.setLabel("left", "dB")
        self.int_plot.setXLink(self.spec_plot)
        self.int_curve = self.int_plot.plot(pen=pg.mkPen(theme.WAVE_RMS, width=1.5), connect="finite")

        self.wave_plot = v.addPlot(row=2, col=0)
        self.wave_plot.setLabel("bottom", "time", units="s")
        self.wave_plot.setXLink(self.spec_plot)
        self.wave_hi = pg.PlotDataItem(pen=pg.mkPen(theme.WAVE))
        self.wave_lo = pg.PlotDataItem(pen=pg.mkPen(theme.WAVE))
        self.wave_plot.addItem(pg.FillBetweenItem(self.wave_hi, self.wave_lo, brush=pg.mkBrush(theme.WAVE)))
        self.wave_plot.addItem(self.wave_hi)
        self.wave_plot.addItem(self.wave_lo)
        self.wave_plot.setYRange(-1, 1)
        self.syllable_ticks = pg.ScatterPlotItem(symbol="t1", size=7, brush=pg.mkBrush(theme.TEXT), pen=None)
        self.wave_plot.addItem(self.syllable_ticks)
        self._event_items: list = []
        for plot in (self.spec_plot, self.int_plot, self.wave_plot):
            plot.getAxis("left").setWidth(48)
            plot.showAxis("right")
            plot.getAxis("right").setWidth(52)  # equal widths keep the linked time axes aligned
        for plot in (self.int_plot, self.wave_plot):
            plot.getAxis("right").setStyle(showValues=False)
        for plot in (self.spec_plot, self.int_plot):
            plot.hideAxis("bottom")  # time is linked: one ruler, under the waveform, is enough
        # each plot area tall enough for its axis labels (3 lines of text; 4 for the spectrogram)
        line = QFontMetrics(self.font()).height()
        for plot, lines in ((self.spec_plot, 4), (self.int_plot, 3), (self.wave_plot, 3)):
            plot.vb.setMinimumHeight(lines * line)
        v.ci.layout.setRowStretchFactor(0, 5)
        v.ci.layout.setRowStretchFactor(1, 2)
        v.ci.layout.setRowStretchFactor(2, 3)
        self.cursors = []
        for plot in (self.spec_plot, self.int_plot, self.wave_plot):
            line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(theme.PLAYHEAD, width=1.5))
            line.setVisible(False)
            line.setZValue(50)
            plot.addItem(line)
            self.cursors.append(line)
        self.clip_title = WrappingLabelItem(justify="left", color=theme.TEXT)
        v.addItem(self.clip_title, row=3, col=0)

    def _sync_pitch_vb(self) -> None:
        self.pitch_vb.setGeometry(self.spec_plot.vb.sceneBoundingRect())
        self.pitch_vb.linkedViewChanged(self.spec_plot.vb, self.pitch_vb.XAxis)

    def _build_dataset_plots(self) -> None:
        v = self.dataset_view
        self.scatter_plot = v.addPlot(row=0, col=0, colspan=3, title="Pitch spread vs energy spread (one dot per clip)")
        self.scatter_plot.setLabel("bottom", "F0 std (semitones, re clip median)")
        self.scatter_plot.setLabel("left", "intensity std (dB)")
        self.scatter_plot.showGrid(x=True, y=True, alpha=0.15)
        self.scatter = pg.ScatterPlotItem(size=11, hoverable=True, tip=self._scatter_tip)
        self.ref_scatter = pg.ScatterPlotItem(size=9, brush=pg.mkBrush(REFERENCE_COLOUR), pen=None,
                                              hoverable=True, tip=self._scatter_tip)
        self.scatter_plot.addItem(self.ref_scatter)
        self.scatter_plot.addItem(self.scatter)
        self.scatter.sigClicked.connect(self._on_scatter_click)
        self.threshold_lines = []
        for x, colour, label, pos in ((2.0, theme.WARN, "monotone", 0.9), (1.5, "#ff5a4e", "very monotone", 0.12)):
            line = pg.InfiniteLine(pos=x, angle=90, pen=pg.mkPen(colour, style=Qt.PenStyle.DashLine),
                                   label=label, labelOpts={"position": pos, "color": colour, "rotateAxis": (1, 0),
                                                           "anchors": [(0, 0), (0, 0)]})
            self.scatter_plot.addItem(line)
            self.threshold_lines.append(line)
        self.hist_plots = {}
        self._hist_titles = {}
        for col, (key, label) in enumerate((("f0_std_st", "F0 std (st)"),
                                            ("articulation_rate_syll_s", "articulation rate (syll/s)"),
                                            ("loudness_lufs", "loudness (LUFS)"))):
            p = v.addPlot(row=1, col=col, title=label)
            self._hist_titles[key] = label
            p.getAxis("left").setWidth(30)
            self.hist_plots[key] = p
        v.ci.layout.setRowStretchFactor(0, 3)
        v.ci.layout.setRowStretchFactor(1, 2)

    # ------------------------------------------------------------------------------ loading
    def _ask_clip(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open clip", "", "Audio (*.wav *.flac *.ogg *.opus *.mp3 *.aif *.aiff)")
        if path:
            self.load_paths([path])

    def _ask_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open folder of clips")
        if path:
            self.load_paths([path])

    def _ask_reference(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Reference recordings of the same voice")
        if path:
            self.load_paths([path], role="reference")

    def _ask_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export prosody report", "prosody_report.html", "HTML (*.html)")
        if path:
            try:
                self.export_report(path)
            except Exception as exc:  # RoomtoneError: show it; the panel stays usable
                QMessageBox.warning(self, "Export report", str(exc))

    def is_busy(self) -> bool:
        return self._job is not None

    def load_paths(self, paths, *, role: str = "dataset") -> None:
        """Analyse files/folders on the worker thread; ``role`` is ``"dataset"`` or ``"reference"``."""
        if self.is_busy():
            return

        paths = [str(p) for p in paths]
        self._pending_role = role
        self._progress = (0, 0, "")
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        self.status.setText(f"Analysing {', '.join(Path(p).name for p in paths)} …")

        def work(job_progress, cancelled):
            def progress(done: int, total: int, name: str) -> None:
                self._progress = (done, total, name)  # read by the GUI timer
                if total:
                    job_progress(done / total)

            return analyse_dataset(paths, progress=progress)

        label = "Prosody of the reference" if role == "reference" else "Prosody checks"
        self._job = self.jobs.submit(label, work, self._analysis_done)
        self._timer.start()

    def _show_progress(self) -> None:
        done, total, _ = self._progress
        if total:
            self.progress.setRange(0, total)
            self.progress.setValue(done)

    def _analysis_done(self, job: Job) -> None:
        """Back on the GUI thread (the job poller's callback): show the analysis or why it failed."""
        if job is not self._job:
            return
        self._job = None
        self._timer.stop()
        self.progress.setVisible(False)
        if job.cancelled:
            self.status.setText("Analysis stopped.")
        elif job.error is not None:
            self.status.setText(f"Could not analyse: {explain(job.error, 'gui')}")
        elif self._pending_role == "reference":
            self.set_reference(job.result)
        else:
            self.set_dataset(job.result)
        self.analysisFinished.emit()

    def wait_idle(self, timeout_s: float = 60.0) -> bool:
        """Process events until the current analysis finished and is shown (tests, scripts)."""
        return self.jobs.wait_idle(timeout_s)

    # ------------------------------------------------------------------------------ content
    def set_dataset(self, dataset) -> None:
        """Show an analysed :class:`~models.prosody_dataset.DatasetAnalysis`."""
        self.dataset = dataset
        self._audio_cache.clear()
        self._update_comparison()
        self._fill_table()
        self._fill_findings()
        self._fill_dataset_plots()
        self.export_button.setEnabled(True)
        n_prob = sum(1 for f in dataset.findings if f.verdict != "pass")
        self.status.setText(
            f"{len(dataset.clips)} clip(s), {dataset.total_speech_s:.1f} s of speech: {n_prob} finding(s)"
            + (f"; {len(dataset.failures)} file(s) not readable" if dataset.failures else "")
        )
        if dataset.clips:
            self.select_clip(dataset.clips[0].name)

    def set_reference(self, reference) -> None:
        """Reference recordings of the same voice: dataset plots and findings compare against them."""
        self.reference = reference
        self._update_comparison()
        if self.dataset is not None:
            self._fill_table()
        self._fill_findings()
        self._fill_dataset_plots()
        self.status.setText(f"Reference: {len(reference.clips)} clip(s) loaded")

    def _update_comparison(self) -> None:
        """With reference recordings the clips under test are synthetic output: their findings speak
        of the synthesis (``judge_synthetic``, as ``roomtone prosody --reference``), not of recording."""
        if self.dataset is not None and self.reference is not None:
            self.dataset, self.comparison = judge_synthetic(self.dataset, self.reference)
        else:
            self.comparison = []

    def _clip_verdict(self, name: str) -> tuple[str, str]:
        fs = [f for f in self.dataset.clip_findings(name) if f.verdict != "pass"]
        vs = {f.verdict for f in fs}
        verdict = "fail" if "fail" in vs else "warn" if "warn" in vs else "pass"
        return verdict, ", ".join(f.title.lower() for f in fs) or "ok"

    def _fill_table(self) -> None:
        t = self.clip_table
        t.blockSignals(True)
        t.setRowCount(0)
        for c in self.dataset.clips:
            r = t.rowCount()
            t.insertRow(r)
            verdict, text = self._clip_verdict(c.name)
            vals = [c.name, f"{c.pitch.std_st:.2f}", f"{c.pitch.span_st:.1f}", f"{c.intensity_std_db:.1f}",
                    f"{c.articulation_rate_syll_s:.1f}", text]
            for col, v in enumerate(vals):
                item = QTableWidgetItem(v)
                if col:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if col == 5:
                    item.setForeground(QColor(VERDICT_COLOURS[verdict]))
                    item.setTextAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
                t.setItem(r, col, item)
        t.blockSignals(False)

    def _fill_findings(self) -> None:
        tree = self.findings
        tree.clear()
        if self.dataset is None:
            return
        items = problems(self.dataset.findings)
        for f in items:
            at = f"{f.first_time_s:.2f} s" if f.first_time_s is not None and f.clip else ""
            it = QTreeWidgetItem([f.verdict.upper(), f.title, f.clip or "dataset",
                                  f"{f.measured:.2f} {f.unit}" if math.isfinite(f.measured) else "-",
                                  f"{f.threshold:g} {f.unit}", at])
            it.setForeground(0, QColor(VERDICT_COLOURS[f.verdict]))
            tip = f"{f.message}\n\nWhat to do: {f.advice}" if f.advice else f.message
            for col in range(6):
                it.setToolTip(col, tip)
            it.setData(0, Qt.ItemDataRole.UserRole, f)
            tree.addTopLevelItem(it)
        for c in self.comparison:
            if c.verdict == "pass":
                continue
            msg = (f"outside the reference range {c.reference_low:.2f}-{c.reference_high:.2f} {c.unit} "
                   f"in {len(c.outside)}/{len(c.synthetic_values)} clip(s)")
            it = QTreeWidgetItem([c.verdict.upper(), f"{c.label} vs reference", "synthetic",
                                  f"{c.synthetic_median:.2f} {c.unit}", f"{c.reference_low:.2f}-{c.reference_high:.2f}", ""])
            it.setForeground(0, QColor(VERDICT_COLOURS[c.verdict]))
            it.setToolTip(1, msg)
            it.setData(1, Qt.ItemDataRole.UserRole, f"<b>{c.label} vs reference</b>: {msg}; synthetic median "
                       f"{c.synthetic_median:.2f}, reference median {c.reference_median:.2f}. Outside: "
                       + ", ".join(c.outside[:6]) + (" ..." if len(c.outside) > 6 else ""))
            tree.addTopLevelItem(it)
        if tree.topLevelItemCount() == 0:
            tree.addTopLevelItem(QTreeWidgetItem(["OK", "No problems found", "", "", "", ""]))

    def _fill_dataset_plots(self) -> None:
        ds = self.dataset
        if ds is None:
            return
        spots = []
        for c in ds.clips:
            if math.isfinite(c.pitch.std_st) and math.isfinite(c.intensity_std_db):
                verdict, _ = self._clip_verdict(c.name)
                spots.append({"pos": (c.pitch.std_st, c.intensity_std_db), "data": c.name,
                              "brush": pg.mkBrush(VERDICT_COLOURS[verdict]), "pen": pg.mkPen("#17181b")})
        self.scatter.setData(spots)
        ref = self.reference
        rspots = [{"pos": (c.pitch.std_st, c.intensity_std_db), "data": f"reference {c.name}"}
                  for c in (ref.clips if ref else []) if math.isfinite(c.pitch.std_st) and math.isfinite(c.intensity_std_db)]
        self.ref_scatter.setData(rspots)
        self.scatter_plot.setTitle("Pitch spread vs energy spread (one dot per clip"
                                   + ("; grey: reference)" if ref else ")"))
        for key, plot in self.hist_plots.items():
            plot.setTitle(self._hist_titles[key] + (" · grey: reference" if ref else ""))
        for key, plot in self.hist_plots.items():
            plot.clear()
            series = [(ds.values(key), theme.WAVE)]
            if ref is not None:
                series.insert(0, (ref.values(key), REFERENCE_COLOUR))
            allv = np.concatenate([v[np.isfinite(v)] for v, _ in series])
            if len(allv) == 0:
                continue
            lo, hi = float(allv.min()), float(allv.max())
            if hi - lo < 1e-6:
                lo, hi = lo - 0.5, hi + 0.5
            edges = np.linspace(lo, hi, 11)
            width = (edges[1] - edges[0]) / len(series)
            for k, (v, colour) in enumerate(series):
                counts, _ = np.histogram(v[np.isfinite(v)], edges)
                plot.addItem(pg.BarGraphItem(x0=edges[:-1] + k * width, width=width * 0.92, height=counts,
                                             brush=pg.mkBrush(colour), pen=None))
            if key == "f0_std_st":
                for x, colour in ((2.0, theme.WARN), (1.5, "#ff5a4e")):
                    plot.addItem(pg.InfiniteLine(pos=x, angle=90, pen=pg.mkPen(colour, style=Qt.PenStyle.DashLine)))

    @staticmethod
    def _scatter_tip(x, y, data):
        return f"{data}\nF0 std {x:.2f} st, intensity std {y:.2f} dB"

    def _on_scatter_click(self, _item, points, *_args) -> None:
        if len(points):
            self.select_clip(points[0].data())
            self.tabs.setCurrentIndex(0)

    def _on_clip_row(self) -> None:
        rows = self.clip_table.selectionModel().selectedRows()
        if rows and self.dataset is not None:
            self.show_clip(self.dataset.clips[rows[0].row()].name)

    def select_clip(self, name: str) -> None:
        """Select ``name`` in the table (which shows it)."""
        for r, c in enumerate(self.dataset.clips if self.dataset else []):
            if c.name == name:
                if self.clip_table.currentRow() == r and self.current_clip is not None and self.current_clip.name == name:
                    return
                self.clip_table.selectRow(r)
                self.show_clip(name)
                return

    def _audio(self, clip) -> tuple[np.ndarray, int] | None:
        if clip.name in self._audio_cache:
            return self._audio_cache[clip.name]
        if not clip.path:
            return None

        try:
            audio, rate = read_audio(clip.path)
        except Exception:
            return None
        x = audio.mean(axis=0).astype(np.float32)
        self._audio_cache = {clip.name: (x, rate)}  # keep one clip
        return x, rate

    def _place_spec_legend(self) -> None:
        """In the clip spectrogram's top-left corner (the F0 axis is on the right), one line tall
        when the pane is short."""
        area = self.spec_plot.vb.sceneBoundingRect()
        self.spec_legend.set_height(int(min(140, max(24, area.height() - 8))))
        self.spec_legend.move(int(area.left()) + 4, int(area.top()) + 4)
        self.spec_legend.raise_()

    def show_clip(self, name: str) -> None:
        """Draw one clip's spectrogram, F0, intensity, waveform and events."""
        clip = next((c for c in (self.dataset.clips if self.dataset else []) if c.name == name), None)
        if clip is None or (self.current_clip is clip):
            return
        self.current_clip = clip
        self.clipSelected.emit(name)
        dur = clip.duration_s
        loaded = self._audio(clip)
        for item in self._event_items:
            self.wave_plot.removeItem(item)
        self._event_items = []
        if loaded is not None:
            x, rate = loaded
            db, hop_s, bin_hz = _spectrogram(x, rate)
            top = float(np.percentile(db, 99.5))
            self.spec_image.setImage(db, autoLevels=False, levels=(top - 80.0, top))
            self.spec_legend.set_scale(theme.MAGNITUDE_CMAP, (top - 80.0, top), "dB")
            self.spec_legend.show()
            self._place_spec_legend()
            self.spec_image.setRect(0.0, 0.0, db.shape[0] * hop_s, db.shape[1] * bin_hz)
            t, lo, hi = _envelope(x, rate)
            peak = max(float(np.max(np.abs(x))), 1e-6)
            self.wave_hi.setData(t, hi / peak)
            self.wave_lo.setData(t, lo / peak)
        else:
            self.spec_image.clear()
            self.spec_legend.hide()
            self.wave_hi.setData([], [])
            self.wave_lo.setData([], [])
        self.spec_plot.setYRange(0, SPEC_MAX_HZ, padding=0)
        pt = clip.pitch_track
        if pt is not None:
            self.pitch_curve.setData(pt.times_s, pt.f0_hz)
            self.pitch_curve_core.setData(pt.times_s, pt.f0_hz)
            v = pt.f0_hz[np.isfinite(pt.f0_hz)]
            # at least an octave around the median, so a flat voice looks flat
            med = float(np.median(v)) if len(v) else 150.0
            lo_hz = min(float(np.min(v)) * 0.9, med / 2 ** (7 / 12)) if len(v) else 50.0
            hi_hz = max(float(np.max(v)) * 1.1, med * 2 ** (7 / 12)) if len(v) else 500.0
            self.pitch_vb.setYRange(lo_hz, hi_hz, padding=0)
        if clip.intensity_db is not None:
            self.int_curve.setData(clip.intensity_times_s, clip.intensity_db)
            iv = clip.intensity_db[np.isfinite(clip.intensity_db)]
            if len(iv):
                self.int_plot.setYRange(float(iv.max()) - 45.0, float(iv.max()) + 3.0, padding=0)
        for a, b in clip.pauses:
            self._add_region(a, b, PAUSE_FILL, f"pause {b - a:.2f} s")
        for a, b in ((0.0, clip.leading_silence_s), (dur - clip.trailing_silence_s, dur)):
            if b - a > 0.05:
                self._add_region(a, b, (139, 144, 153, 40), "edge silence")
        for a, b in clip.breaths:
            self._add_region(a, b, BREATH_FILL, f"breath {b - a:.2f} s")
        for a, b in clip.clip_regions:
            self._add_region(a, max(b, a + 0.01), (255, 90, 78, 160), "clipping")
        self.syllable_ticks.setData(clip.syllable_times_s, np.full(len(clip.syllable_times_s), 0.95))
        self.spec_plot.setXRange(0, dur, padding=0.01)
        verdict, text = self._clip_verdict(name)
        self.clip_title.setText(
            f"<b>{name}</b> &nbsp; F0 median {clip.pitch.median_hz:.0f} Hz, spread {clip.pitch.std_st:.2f} st std / "
            f"{clip.pitch.span_st:.1f} st span &nbsp;·&nbsp; {clip.pause_count} pauses, {clip.breath_count} breaths, "
            f"{clip.articulation_rate_syll_s:.1f} syll/s &nbsp;·&nbsp; "
            f"<span style='color:{VERDICT_COLOURS[verdict]}'>{text}</span>", size="9pt")
        for c in self.cursors:
            c.setVisible(False)
        self._sync_pitch_vb()

    def _add_region(self, a: float, b: float, fill, tip: str) -> None:
        region = pg.LinearRegionItem(values=(a, b), movable=False, brush=pg.mkBrush(*fill),
                                     pen=pg.mkPen(None))
        region.setToolTip(tip)
        region.setZValue(-5)
        self.wave_plot.addItem(region)
        self._event_items.append(region)

    # ------------------------------------------------------------------------------ seeking
    def _show_finding_detail(self, item: QTreeWidgetItem | None) -> None:
        if item is None:
            return
        f = item.data(0, Qt.ItemDataRole.UserRole)
        if f is None:
            text = item.data(1, Qt.ItemDataRole.UserRole)
            if text:
                self.finding_detail.setText(str(text))
            return
        where = ""
        if f.times_s and f.clip:
            where = "<br>At " + ", ".join(f"{a:.2f}-{b:.2f} s" for a, b in f.times_s[:5]) + (" …" if len(f.times_s) > 5 else "")
        advice = f"<br><span style='color:{theme.WAVE_RMS}'>What to do: {f.advice}</span>" if f.advice else ""
        self.finding_detail.setText(
            f"<span style='color:{VERDICT_COLOURS[f.verdict]}'><b>{f.title}</b></span> "
            f"({f.clip or 'dataset'}): {f.message}. Threshold {f.threshold:g} {f.unit}.{advice}{where}")

    def _on_finding(self, item: QTreeWidgetItem, _col: int = 0) -> None:
        self._show_finding_detail(item)
        f = item.data(0, Qt.ItemDataRole.UserRole)
        if f is None:
            return
        if f.clip:
            self.select_clip(f.clip)
            self.tabs.setCurrentIndex(0)
        if f.first_time_s is not None and f.clip:
            self.seek(f.first_time_s)
            self.seekRequested.emit(float(f.first_time_s))

    def seek(self, seconds: float) -> None:
        """Move the panel's cursor to ``seconds`` and keep it in view."""
        for c in self.cursors:
            c.setPos(seconds)
            c.setVisible(True)
        (x0, x1), = [self.spec_plot.vb.viewRange()[0]]
        if not x0 <= seconds <= x1:
            w = x1 - x0
            self.spec_plot.setXRange(seconds - w / 4, seconds + 3 * w / 4, padding=0)

    # ------------------------------------------------------------------------------ export
    def export_report(self, path: str) -> Path:
        """Write the HTML report of what is loaded."""
        if self.dataset is None:
            raise ParameterError("nothing to export: load a clip or a folder first")
        return write_report(path, self.dataset, reference=self.reference, comparison=self.comparison)

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt)
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop polling; cancel a running analysis; release the job runner if it is the panel's own."""
        self._timer.stop()
        if self._job is not None:
            self._job.cancel()
        if self._own_jobs:
            self.jobs.shutdown()
