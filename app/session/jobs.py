"""Background jobs: renders, analyses and spectrogram tiles off the GUI thread.

A job is a function ``fn(progress, is_cancelled)`` run on a worker of a
:class:`concurrent.futures.ThreadPoolExecutor`. It reports progress through ``progress(x)``
(a fraction 0..1) or ``progress(done, total)`` (the form ``render_blocks`` calls, so it can be
passed straight through as ``progress=``), and checks ``is_cancelled()`` (pass it as
``cancel=`` to ``render_blocks``/``render_file``, which then raise
:class:`~dsp.errors.Cancelled`). A job never touches the Project: the GUI polls
:meth:`JobRunner.poll` from a timer and applies finished results through ``Session.apply`` on
its own thread. Nothing a job raises is lost: it lands in :attr:`Job.error` (with the
formatted traceback in :attr:`Job.traceback`).
"""

from __future__ import annotations

import functools
import itertools
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from dsp.errors import Cancelled

ProgressFn = Callable[..., None]
JobFn = Callable[[ProgressFn, Callable[[], bool]], Any]

_ids = itertools.count(1)


class Job:
    """A background task. The GUI reads its fields from a timer; it never blocks on it."""

    def __init__(self, label: str) -> None:
        self.id = next(_ids)
        self.label = label
        self.progress = 0.0
        self.done = False
        self.running = False
        self.error: BaseException | None = None
        self.traceback: str | None = None
        self.result: Any = None
        self.submitted_at = time.monotonic()
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self._cancel = threading.Event()
        self._finished = threading.Event()
        self.future: Future | None = None

    # -- called from the worker ---------------------------------------------------------------
    def set_progress(self, done: float, total: float | None = None) -> None:
        """``set_progress(fraction)`` or ``set_progress(done, total)``; clamped to 0..1."""
        if total is not None:
            done = done / total if total > 0 else 1.0
        self.progress = min(1.0, max(0.0, float(done)))

    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    # -- called from anywhere -----------------------------------------------------------------
    def cancel(self) -> None:
        """Ask the job to stop; it does at its next ``is_cancelled()`` check."""
        self._cancel.set()
        if self.future is not None:
            self.future.cancel()  # not started yet: it never will

    @property
    def cancelled(self) -> bool:
        """True once cancel was requested (a finished job's result is then not to be used)."""
        return self._cancel.is_set()

    @property
    def ok(self) -> bool:
        """Finished, not cancelled and without error: :attr:`result` is valid."""
        return self.done and self.error is None and not self.cancelled

    @property
    def elapsed_s(self) -> float:
        if self.started_at is None:
            return 0.0
        return (self.finished_at or time.monotonic()) - self.started_at

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job finished (tests, CLI); the GUI polls instead. True if done."""
        return self._finished.wait(timeout)

    def __repr__(self) -> str:
        state = ("failed" if self.error else "cancelled" if self.cancelled else "done") if self.done else (
            "running" if self.running else "queued"
        )
        return f"<Job {self.id} {self.label!r} {state} {self.progress:.0%}>"


class JobRunner:
    """A small pool of worker threads running :class:`Job` s; results are collected by :meth:`poll`."""

    def __init__(self, max_workers: int = 2) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="roomtone-job")
        self._finished: deque[Job] = deque()
        self._lock = threading.Lock()
        self._active: list[Job] = []
        self._closed = False

    def submit(self, label: str, fn: JobFn) -> Job:
        """Run ``fn(progress, is_cancelled)`` on a worker; returns the :class:`Job` at once."""
        if self._closed:
            raise RuntimeError("the job runner has been shut down")
        job = Job(label)
        with self._lock:
            self._active.append(job)
        future = self._pool.submit(self._run, job, fn)
        job.future = future
        future.add_done_callback(functools.partial(self._on_future_done, job))
        return job

    def _run(self, job: Job, fn: JobFn) -> None:
        job.started_at = time.monotonic()
        job.running = True
        try:
            if job.is_cancelled():
                raise Cancelled("cancelled before it started")
            job.result = fn(job.set_progress, job.is_cancelled)
            if not job.is_cancelled():
                job.progress = 1.0
        except Cancelled:
            job._cancel.set()
        except BaseException as exc:  # noqa: BLE001 - captured for the GUI; never lost
            job.error = exc
            job.traceback = traceback.format_exc()
        finally:
            job.running = False
            job.finished_at = time.monotonic()
            self._finish(job)

    def _on_future_done(self, job: Job, future: Future) -> None:
        if future.cancelled():  # cancelled while queued: _run never ran
            job._cancel.set()
            job.finished_at = time.monotonic()
            self._finish(job)

    def _finish(self, job: Job) -> None:
        with self._lock:
            if job.done:
                return
            job.done = True
            if job in self._active:
                self._active.remove(job)
            self._finished.append(job)
        job._finished.set()

    def poll(self) -> list[Job]:
        """Jobs finished since the last poll, in the order they finished."""
        with self._lock:
            out = list(self._finished)
            self._finished.clear()
        return out

    @property
    def active(self) -> list[Job]:
        """Jobs queued or running."""
        with self._lock:
            return list(self._active)

    def cancel_all(self) -> None:
        for job in self.active:
            job.cancel()

    def shutdown(self, *, wait: bool = True, cancel: bool = True) -> None:
        """Stop accepting jobs; cancel the queued and running ones (``cancel``) and wait."""
        self._closed = True
        if cancel:
            self.cancel_all()
        self._pool.shutdown(wait=wait, cancel_futures=cancel)

    def __enter__(self) -> JobRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
