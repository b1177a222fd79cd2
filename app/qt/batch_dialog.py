"""Batch dialog: a folder of episodes in, finished files and a report out -- the same runner as ``roomtone batch``.

The dialog only collects the options and shows progress: the work is
:class:`app.batch.runner.BatchRunner` (local worker processes), run in a background thread;
a ``QTimer`` polls :meth:`BatchRunner.snapshot` and updates the overall bar (with ETA) and the
per-file table. Closing the dialog while a batch runs cancels it (finished files are kept; a
later run continues where this one stopped).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.batch.loudness import TARGET_CHOICES
from app.batch.runner import BatchRunner
from app.batch.worker import BatchOptions
from app.pipeline import adjust_settings
from app.presets import DEFAULT_PRESET, list_presets, load_preset
from app.remedies import explain
from app.session.jobs import Job, JobRunner
from app.timecode import format_duration
from dsp.errors import Cancelled, RoomtoneError
from dsp.io import WRITE_FORMATS

LOUDNESS_LABELS = {
    "podcast": "Podcast: -16 LUFS stereo / -19 LUFS mono",
    "podcast-stereo": "Podcast, stereo: -16 LUFS",
    "podcast-mono": "Podcast, mono: -19 LUFS",
    "ebu-r128": "Broadcast EBU R128: -23 LUFS",
    "atsc": "Broadcast ATSC A/85: -24 LKFS",
    "off": "Off (no loudness normalisation)",
}
STATUS_TEXT = {"queued": "waiting", "running": "", "done": "done", "failed": "failed", "skipped": "already done"}




class BatchDialog(QDialog):
    """Folder pickers, preset, loudness target, workers; progress; open the report.

    Parameters
    ----------
    in_dir, out_dir : path, optional
        Initial folders.
    parent : QWidget, optional
    """

    def __init__(self, in_dir: str | os.PathLike | None = None, out_dir: str | os.PathLike | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Batch clean-up")
        self.resize(760, 560)
        self.runner = None
        self.summary = None
        self.error: str | None = None
        self.jobs = JobRunner(max_workers=1)  # the batch's own worker: the window's Apply and tiles keep theirs
        self._job: Job | None = None
        self.finished_run = False
        outer = QVBoxLayout(self)
        outer.addLayout(self._build_form(in_dir, out_dir))
        self._build_progress(outer)
        self._build_buttons(outer)
        self.timer = QTimer(self)
        self.timer.setInterval(200)
        self.timer.timeout.connect(self._poll)

    # -- building blocks ------------------------------------------------------------------------------
    def _build_form(self, in_dir, out_dir) -> QFormLayout:
        """Folders, preset, loudness target, leveling, output format, workers and the holes audit."""
        form = QFormLayout()
        self.in_edit, in_row = self._folder_row("Folder with the source episodes (searched recursively; never modified)")
        self.out_edit, out_row = self._folder_row("Where the cleaned files and the report go (folder structure is kept)")
        if in_dir is not None:
            self.in_edit.setText(str(in_dir))
        if out_dir is not None:
            self.out_edit.setText(str(out_dir))
        form.addRow("Source folder", in_row)
        form.addRow("Output folder", out_row)
        self.preset_combo = QComboBox()
        default = DEFAULT_PRESET
        try:
            names = sorted(list_presets())
        except Exception:  # noqa: BLE001 - a broken preset folder must not stop the dialog
            names, default = [], "podcast"
        self.preset_combo.addItems(names or ["podcast"])
        self.preset_combo.setCurrentIndex(max(0, self.preset_combo.findText(default)))
        form.addRow("Preset", self.preset_combo)
        self.loudness_combo = QComboBox()
        for key in TARGET_CHOICES:
            self.loudness_combo.addItem(LOUDNESS_LABELS.get(key, key), key)
        self.loudness_combo.setToolTip("Integrated loudness (ITU-R BS.1770-4) after cleaning; every target "
                                       "has a true-peak limiter at -1 dBTP")
        form.addRow("Loudness target", self.loudness_combo)
        self.level_check = QCheckBox("Even out the speakers' levels (adds the leveler at the end of the chain)")
        self.level_check.setToolTip("Like 'roomtone batch --level': quiet and loud voices are brought to the same "
                                    "speech loudness phrase by phrase; pauses and breaths are not raised")
        form.addRow("Leveling", self.level_check)
        self.format_combo = QComboBox()
        self.format_combo.addItem("Same as each source", None)
        for key in WRITE_FORMATS:
            self.format_combo.addItem(key, key)
        form.addRow("Output format", self.format_combo)
        opts = QWidget()
        ol = QHBoxLayout(opts)
        ol.setContentsMargins(0, 0, 0, 0)
        self.workers_spin = QSpinBox()
        self.workers_spin.setRange(1, max(1, os.cpu_count() or 1) * 2)
        self.workers_spin.setValue(max(1, os.cpu_count() or 1))
        self.workers_spin.setToolTip("Files processed at the same time (one CPU core each)")
        ol.addWidget(QLabel("Workers"))
        ol.addWidget(self.workers_spin)
        self.audit_check = QCheckBox("Count the spectral holes refill filled (one extra render per file)")
        self.audit_check.setChecked(True)
        ol.addWidget(self.audit_check, 1)
        form.addRow("", opts)
        return form

    def _build_progress(self, outer: QVBoxLayout) -> None:
        """The overall progress bar, the status line and the per-file table."""
        self.overall = QProgressBar()
        self.overall.setRange(0, 1000)
        self.overall.setFormat("%p%")
        self.status_label = QLabel("Choose the folders and press Start.")
        self.status_label.setWordWrap(True)
        outer.addWidget(self.overall)
        outer.addWidget(self.status_label)
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["File", "Progress", "Status"])
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Interactive)
        self.table.setColumnWidth(2, 260)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        outer.addWidget(self.table, 1)

    def _build_buttons(self, outer: QVBoxLayout) -> None:
        """Start, Stop, Open report, Close and the report's path."""
        buttons = QHBoxLayout()
        self.start_button = QPushButton("Start")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Stop")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.stop)
        self.report_button = QPushButton("Open report")
        self.report_button.setEnabled(False)
        self.report_button.clicked.connect(self.open_report)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.close)
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        buttons.addWidget(self.report_button)
        buttons.addWidget(self.close_button)
        self.report_label = QLabel("")
        self.report_label.setObjectName("hint")
        self.report_label.setWordWrap(True)
        self.report_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.report_label.setToolTip("Where the batch report was written (select the path to copy it).")
        self.report_label.hide()
        outer.addWidget(self.report_label)
        outer.addLayout(buttons)

    def _folder_row(self, tip: str) -> tuple[QLineEdit, QWidget]:
        row = QWidget()
        rl = QHBoxLayout(row)
        rl.setContentsMargins(0, 0, 0, 0)
        edit = QLineEdit()
        edit.setToolTip(tip)
        browse = QToolButton()
        browse.setText("Choose\u2026")
        browse.clicked.connect(lambda: self._browse(edit))
        rl.addWidget(edit, 1)
        rl.addWidget(browse)
        return edit, row

    def _browse(self, edit: QLineEdit) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a folder", edit.text() or str(Path.home()))
        if folder:
            edit.setText(folder)

    # -- running --------------------------------------------------------------------------------------
    def options(self):
        """The :class:`app.batch.worker.BatchOptions` the form describes."""
        preset = self.preset_combo.currentText() or "podcast"
        chain = load_preset(preset)
        if self.level_check.isChecked():
            chain = adjust_settings(chain, level=True)  # the CLI's --level: one rule for both
        return BatchOptions(chain=chain.to_dict(), preset=preset,
                            loudness=self.loudness_combo.currentData(), fmt=self.format_combo.currentData(),
                            hole_audit=self.audit_check.isChecked())

    @property
    def running(self) -> bool:
        return self._job is not None and not self._job.done

    def start(self) -> None:
        """Check the form and start the batch as a background job."""
        if self.running:
            return
        src, dst = self.in_edit.text().strip(), self.out_edit.text().strip()
        if not src or not dst:
            self.status_label.setText("Choose a source folder and an output folder first.")
            return
        try:
            options = self.options()
        except RoomtoneError as exc:
            self.status_label.setText(f"Cannot start: {explain(exc, 'gui')}")
            return
        self.summary, self.error, self.finished_run = None, None, False
        self.runner = BatchRunner(src, dst, options, workers=self.workers_spin.value())
        self._t0 = time.time()
        self._set_running(True)
        self.status_label.setText("Checking the files\u2026")
        runner = self.runner
        self._job = self.jobs.submit("Batch clean-up", lambda progress, cancelled: runner.run())
        self.timer.start()

    def _take_outcome(self, job: Job) -> None:
        """The finished job's summary, or what stopped it, in the dialog's words."""
        exc = job.error
        if job.cancelled or isinstance(exc, Cancelled):
            self.error = "Stopped. Finished files are kept; start again to do the rest."
            self.summary = self.runner.summary
        elif isinstance(exc, RoomtoneError):
            self.error = explain(exc, "gui")
        elif exc is not None:  # shown in the dialog, never a silent death of the worker
            self.error = f"internal error: {type(exc).__name__}: {exc}"
        else:
            self.summary = job.result

    def stop(self) -> None:
        if self.runner is not None and self.running:
            self.runner.cancel()
            self.status_label.setText("Stopping\u2026")

    def _set_running(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        for w in (self.in_edit, self.out_edit, self.preset_combo, self.loudness_combo, self.level_check,
                  self.format_combo, self.workers_spin, self.audit_check):
            w.setEnabled(not running)

    def _poll(self) -> None:
        if self.runner is None:
            return
        p = self.runner.snapshot()
        self._show(p)
        if not self.running:
            self.timer.stop()
            self._set_running(False)
            if self._job is not None and not self.finished_run:
                self._take_outcome(self._job)
            self.finished_run = True
            s = self.summary
            if self.error:
                self.status_label.setText(self.error if s is None else f"{self.error} ({s.line()})")
            elif s is not None:
                text = s.line()
                if s.failures:
                    text += ". Failed: " + "; ".join(f"{f['file']}: {f['error']}" for f in s.failures[:3])
                self.status_label.setText(text)
                self.overall.setValue(1000)
            has_report = self.runner.report_path.is_file()
            self.report_button.setEnabled(has_report)
            self.report_label.setText(f"Report: {self.runner.report_path}" if has_report else "")
            self.report_label.setVisible(has_report)

    def _show(self, p) -> None:
        if p.files and self.table.rowCount() != len(p.files):
            self.table.setRowCount(len(p.files))
            for i, f in enumerate(p.files):
                self.table.setItem(i, 0, QTableWidgetItem(f.rel))
                bar = QProgressBar()
                bar.setRange(0, 100)
                bar.setTextVisible(True)
                self.table.setCellWidget(i, 1, bar)
                self.table.setItem(i, 2, QTableWidgetItem(""))
        for i, f in enumerate(p.files[: self.table.rowCount()]):
            bar = self.table.cellWidget(i, 1)
            if bar is not None:
                bar.setValue(int(round(100 * (1.0 if f.status in ("done", "skipped") else f.fraction))))
            text = STATUS_TEXT.get(f.status, f.status) or f.phase
            if f.status == "failed" and f.error:
                text = f"failed: {f.error}"
            item = self.table.item(i, 2)
            if item is not None and item.text() != text:
                item.setText(text)
                item.setToolTip(f.error or "")
                if f.status == "failed":
                    item.setForeground(Qt.GlobalColor.red)
        if p.files:
            self.overall.setValue(int(round(1000 * p.fraction)))
            done, failed, skipped = p.count("done"), p.count("failed"), p.count("skipped")
            self.status_label.setText(
                f"{done + failed + skipped} of {p.total} files ({failed} failed, {skipped} already done) \u00b7 "
                f"elapsed {format_duration(time.time() - p.started)} \u00b7 ETA {format_duration(p.eta_s())}")
        elif p.message:
            self.status_label.setText(p.message)

    def open_report(self) -> None:
        """Open the HTML report in the browser; without one, say where the report is."""
        if self.runner is None:
            return
        path = self.runner.report_path
        if not path.is_file():
            self.status_label.setText(f"The report is missing ({path}); run the batch again to write it.")
            return
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))):
            self.status_label.setText(f"No web browser could open the report; open it yourself: {path}")

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the batch job ends (tests, shutdown); True if it did."""
        if self._job is not None:
            self._job.wait(timeout_s)
        return not self.running

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        if self.running:
            self.stop()
            self.wait(30.0)
        self.timer.stop()
        self.jobs.shutdown(wait=False)
        super().closeEvent(event)
