"""Progress of the running background jobs (render, analyses, export) with a Cancel button.

Lives in the status bar; refreshed from a timer (the jobs never call into Qt). Shows the
first running job's label and progress, and how many more are queued.
"""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QToolButton, QWidget


class JobsView(QWidget):
    """A label, a progress bar and Cancel for the :class:`~app.qt.session_bridge.JobPoller`'s jobs."""

    def __init__(self, poller, parent=None) -> None:
        super().__init__(parent)
        self.poller = poller
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.label = QLabel("")
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(False)
        self.bar.setFixedWidth(110)
        self.cancel_button = QToolButton()
        self.cancel_button.setText("Cancel")
        self.cancel_button.setToolTip("Stop the running job; nothing it was writing is kept.")
        self.cancel_button.clicked.connect(self.cancel)
        lay.addWidget(self.label)
        lay.addWidget(self.bar)
        lay.addWidget(self.cancel_button)
        self._timer = QTimer(self)
        self._timer.setInterval(100)
        self._timer.timeout.connect(self.refresh)
        self._timer.start()
        poller.jobsChanged.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        jobs = self.poller.active()
        if not jobs:
            self.hide()
            return
        job = jobs[0]
        more = f" (+{len(jobs) - 1})" if len(jobs) > 1 else ""
        self.label.setText(f"{job.label}{more}")
        self.bar.setValue(int(job.progress * 1000))
        self.show()

    def cancel(self) -> None:
        for job in self.poller.active():
            job.cancel()
