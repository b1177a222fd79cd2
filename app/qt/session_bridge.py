"""Qt's side of the Qt-free model: Session listeners as a signal, jobs polled on a timer.

:class:`SessionBridge` turns ``Session.subscribe`` callbacks into a ``projectChanged(old, new)``
signal (queued to the GUI thread if a listener ever fired elsewhere). :class:`JobPoller` owns
a :class:`app.session.jobs.JobRunner`, submits work with a completion callback and polls the
runner from a ``QTimer`` (STYLE.md 9: the GUI pulls; workers never push into Qt). Finished
jobs are handed back on the GUI thread, which then changes the Project through
``Session.apply``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, QTimer, Signal

from app.session.jobs import Job, JobRunner


class SessionBridge(QObject):
    """Emits ``projectChanged(old, new)`` after every change of the session's project."""

    projectChanged = Signal(object, object)

    def __init__(self, session, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._session = None
        self._unsubscribe: Callable[[], None] | None = None
        self.set_session(session)

    @property
    def session(self):
        return self._session

    def set_session(self, session) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._session = session
        self._unsubscribe = session.subscribe(self._on_change)

    def _on_change(self, old, new) -> None:
        self.projectChanged.emit(old, new)

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None


class JobPoller(QObject):
    """Runs background work through a JobRunner and calls back on the GUI thread.

    ``visible`` jobs (renders, analyses, export) are listed by :meth:`active` for the progress
    bar; invisible ones (spectrogram tiles, the waveform pyramid) are not.
    """

    jobsChanged = Signal()

    def __init__(self, runner: JobRunner | None = None, *, interval_ms: int = 30, parent: QObject | None = None):
        super().__init__(parent)
        self.runner = runner or JobRunner(max_workers=1)
        self._callbacks: dict[int, tuple[Job, Callable[[Job], Any] | None, bool]] = {}
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.poll)
        self._timer.start()

    def submit(
        self,
        label: str,
        fn: Callable[[Callable[[float], None], Callable[[], bool]], Any],
        on_done: Callable[[Job], Any] | None = None,
        *,
        visible: bool = True,
    ) -> Job:
        job = self.runner.submit(label, fn)
        self._callbacks[id(job)] = (job, on_done, visible)
        if visible:
            self.jobsChanged.emit()
        return job

    def active(self) -> list[Job]:
        return [job for job, _, visible in self._callbacks.values() if visible and not job.done]

    def busy(self) -> bool:
        return bool(self._callbacks)

    def poll(self) -> None:
        finished = self.runner.poll()
        changed = False
        for job in finished:
            entry = self._callbacks.pop(id(job), None)
            if entry is None:
                continue
            _, on_done, visible = entry
            changed |= visible
            if on_done is not None:
                on_done(job)
        if changed:
            self.jobsChanged.emit()

    def cancel_all(self) -> None:
        for job, _, _ in list(self._callbacks.values()):
            job.cancel()

    def wait_idle(self, timeout_s: float = 60.0) -> bool:
        """Process events until every submitted job has been handed back (tests, self-test)."""
        deadline = time.monotonic() + timeout_s
        while self._callbacks and time.monotonic() < deadline:
            QCoreApplication.processEvents()
            self.poll()
            time.sleep(0.005)
        return not self._callbacks

    def shutdown(self) -> None:
        self._timer.stop()
        self.cancel_all()
        self.runner.shutdown()
