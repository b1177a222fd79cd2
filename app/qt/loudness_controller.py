"""The Loudness view's data: the source's timeline (a job) and the last render's.

The source is measured by a job (:func:`app.loudness_timeline.analyse_source`, VAD phrases);
the render's loudness was metered by the Apply job itself and is measured here over the
*source's* phrases, so before and after compare span by span.
"""

from __future__ import annotations

from typing import Any

from app.loudness_timeline import analyse_source
from dsp.loudness_timeline import build_timeline


class LoudnessController:
    """Fills ``view`` (a LoudnessView) from jobs on ``jobs``.

    ``render()`` returns the render shown in the AFTER view (a RenderResult or None) and
    whether it is current (the project has not changed since).
    """

    def __init__(self, view, jobs, render) -> None:
        self.view = view
        self.jobs = jobs
        self.render = render
        self.before: Any = None  # dsp.loudness_timeline.LoudnessTimeline of the source
        self.after: Any = None  # (RenderResult, LoudnessTimeline) of the render shown
        self.job = None
        self.path: str | None = None

    def reset(self) -> None:
        """A new source (or none): forget both timelines and stop measuring the old one."""
        self.before = self.after = None
        self.path = None
        if self.job is not None:
            self.job.cancel()
            self.job = None

    def request(self, path: str) -> None:
        """The source's loudness timeline (VAD phrases) as a job; the view fills in when it is done."""
        self.view.set_timelines(None, None)
        self.path = path

        def done(job) -> None:
            if job is not self.job:
                return
            self.job = None
            if job.cancelled or self.path != path:
                return
            if job.error is not None:
                self.view.set_timelines(None, None, message=f"Loudness not measured: {job.error}")
                return
            self.before = job.result
            self.show()

        self.job = self.jobs.submit(
            "Measuring loudness", lambda progress, cancelled: analyse_source(path, cancel=cancelled, progress=progress),
            done, visible=False)

    def show(self) -> None:
        """Draw the source's timeline and, once Apply ran, the render's over the source's phrases."""
        before = self.before
        if before is None:
            return
        r, current = self.render()
        after = None
        if r is not None and r.loudness_energy is not None:
            if self.after is None or self.after[0] is not r:
                tl = build_timeline(r.loudness_energy, before.sample_rate, phrases=before.phrases)
                self.after = (r, tl)
            after = self.after[1]
        self.view.set_timelines(before, after, after_current=current)
