"""Apply and the AFTER view: render the chain as a job and show what it did.

"Apply" renders the chain with the same ``build_processor`` + ``render_blocks`` path the CLI
uses (:func:`app.session.preview.render_preview`) into a temporary float32 file that the AFTER
views read; the AFTER pane shows the render's spectrogram (or the energy it removed), its
spectral holes, and says when the project changed since (out of date). The render's
loudness goes to the Loudness view, its detected events to the waveform.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from pathlib import Path

from app.qt.tile_providers import difference_provider, hole_regions, tile_provider
from app.session.preview import RenderResult, in_place_edits, render_preview
from app.session.project import profiles_equal
from dsp.errors import ParameterError

APPLY_MESSAGE = "Press Apply (Ctrl+Enter) to hear and see the chain's result"


def listening_to(project, listen: str):
    """``project`` rendering ``listen`` (processed / removed / original) instead of its own setting.

    Apply always shows the chain's result and an export renders what the export dialog chose;
    neither follows the project's stored ``listen`` nor what the transport's Hear plays.
    """
    if project.chain.listen == listen:
        return project
    return dataclasses.replace(project, chain=dataclasses.replace(project.chain, listen=listen))


class AfterViewController:
    """Apply's job and its result (``result``) in the views of the workstation ``window``."""

    def __init__(self, window) -> None:
        self.window = window
        self.result: RenderResult | None = None
        self.job = None
        self._render_dir = Path(tempfile.mkdtemp(prefix="roomtone-render-"))
        self._render_count = 0

    def apply(self) -> None:
        """Render the chain into the AFTER view as a job (progress, cancel)."""
        w = self.window
        project = listening_to(w.session.project, "processed")
        if project.source is None:
            w.report_error(ParameterError("open an audio file first (Ctrl+O)"))
            return
        if self.job is not None:
            self.job.cancel()
        self._render_count += 1
        out = self._render_dir / f"after-{self._render_count}.wav"

        def work(progress, cancelled):
            return render_preview(project, out, progress, cancelled)

        self.job = w.jobs.submit("Applying the chain", work, self._done)

    def _done(self, job) -> None:
        w = self.window
        if job is self.job:
            self.job = None
        if w._job_failed(job):
            return
        result: RenderResult = job.result
        cur = w.session.project.source
        if cur is None or cur.path != result.project.source.path:
            return
        old = self.result
        self.result = result
        if old is not None and old.path != result.path:
            old.path.unlink(missing_ok=True)
        w.waveform.set_layer("after", result.pyramid)
        w.waveform.set_events(result.events)
        w.overview.set_pyramid(w._pyramid, result.pyramid)
        self.update(force=True)
        n = len(result.holes.regions) if result.holes is not None else 0
        w.statusBar().showMessage(
            f"Applied in {result.seconds:.1f} s" + (f" · {n} spectral hole{'s' if n != 1 else ''} found" if result.holes is not None else ""),
            6000)

    def is_current(self) -> bool:
        """The render shown was made from the project as it is now (source, chain, room tone, the
        edits it shows)."""
        r, p = self.result, listening_to(self.window.session.project, "processed")
        return r is not None and r.project.source == p.source and r.project.chain == p.chain and profiles_equal(
            r.project.profile, p.profile) and in_place_edits(r.project) == in_place_edits(p)

    def update(self, force: bool = False) -> None:
        """Point the AFTER view at the render (magnitude or removed energy); title, holes, loudness."""
        w = self.window
        r = self.result
        if r is None:
            if w.session.project.source is not None:
                w.after_view.set_provider(None, message=APPLY_MESSAGE)
            w.after_view.set_title("AFTER")
            w.after_view.set_holes(None)
            return
        diff = w.difference_action.isChecked()
        src = w.session.project.source
        n_fft = w.spectrogram.n_fft(src.sample_rate) if src else 2048
        if diff:
            provider = difference_provider(src.path, r.path, n_fft)
            key = ("difference", str(r.path), n_fft)
        else:
            provider = tile_provider(r.path, n_fft)
            key = ("after", str(r.path), n_fft)
        w.after_view.set_provider(provider, key=key)
        w.after_view.set_title(self._title(r, diff))
        w.after_view.set_holes(hole_regions(r.holes))
        w.after_view.holes_item.setVisible(w.holes_action.isChecked())
        w.loudness.show()

    def _title(self, r: RenderResult, diff: bool) -> str:
        title = "REMOVED ENERGY (dB)" if diff else "AFTER"
        if r.holes is not None:
            title += f"  ·  {len(r.holes.regions)} holes"
        if not self.is_current():
            title += "  ·  out of date — press Apply"
        return title

    def forget(self) -> None:
        """A new source: the render shown belongs to the old one."""
        self.result = None

    def shutdown(self) -> None:
        """Remove the render cache."""
        shutil.rmtree(self._render_dir, ignore_errors=True)
