"""Room tone in the workstation: learn it (from the selection or automatically), load, save, and
the file's long-term spectrum the Room tone panel draws it against.

Learning runs as a job (:func:`app.session.estimate_profile`); the profile it returns goes
into the project through the Session (undoable, labelled), and only when the same file is
still open.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtWidgets import QFileDialog

from app.overview import long_term_spectrum
from app.session import FIND_LABEL, estimate_profile, learn_label
from dsp.dereverb import estimate_rt60
from dsp.errors import ParameterError
from dsp.io import AudioReader
from dsp.stft import default_n_fft


class RoomToneController:
    """Room-tone actions of the workstation ``window`` (its session, jobs and Room tone panel)."""

    def __init__(self, window) -> None:
        self.window = window
        self.spectrum: tuple | None = None  # (n_fft, path, freqs, spectrum) shown in the panel

    def learn_from_selection(self) -> None:
        w = self.window
        p = w.session.project
        sel = p.selection
        if p.source is None or sel is None or sel.duration_s <= 0:
            w.report_error(ParameterError("select a pause with only room tone first (drag on the waveform), "
                                          "then press Learn from selection"))
            return
        region = (sel.start_s, sel.end_s)
        label = learn_label(*region)
        w.jobs.submit("Learning room tone", lambda progress, cancelled: estimate_profile(p, [region]),
                      lambda job: self._profile_done(job, p, label))

    def find_room_tone(self) -> None:
        w = self.window
        p = w.session.project
        if p.source is None:
            w.report_error(ParameterError("open an audio file first"))
            return
        w.jobs.submit("Finding room tone", lambda progress, cancelled: estimate_profile(p, None),
                      lambda job: self._profile_done(job, p, FIND_LABEL))

    def _profile_done(self, job, project, label: str) -> None:
        w = self.window
        if w._job_failed(job):
            return
        if w.session.project.source != project.source:
            return  # another file was opened meanwhile
        w._guard(w.session.set_profile, job.result, label)
        w.side_tabs.setCurrentWidget(w.roomtone_panel)

    def load_profile_dialog(self) -> None:
        w = self.window
        path, _ = QFileDialog.getOpenFileName(w, "Load room-tone profile", w._last_folder(), "Profile (*.json)")
        if path:
            w._guard(w.session.load_profile_file, path)

    def save_profile_dialog(self) -> None:
        w = self.window
        path, _ = QFileDialog.getSaveFileName(w, "Save room-tone profile",
                                              str(Path(w._last_folder()) / "roomtone-profile.json"), "Profile (*.json)")
        if path:
            w._guard(w.session.save_profile_file, path)

    def forget_spectrum(self) -> None:
        """A new source: the spectrum shown belongs to the old one."""
        self.spectrum = None
        self.window.roomtone_panel.set_spectrum(None, None)

    def request_spectrum(self) -> None:
        """The file's long-term spectrum for the room-tone panel, at the profile's FFT size."""
        w = self.window
        src = w.session.project.source
        if src is None or w._reader is None:
            return
        prof = w.session.project.profile
        n_fft = prof.n_fft if prof is not None else default_n_fft(src.sample_rate)
        if self.spectrum is not None and self.spectrum[:2] == (n_fft, src.path):
            return
        path = src.path

        def work(progress, cancelled):
            with AudioReader(path) as reader:
                return long_term_spectrum(reader, n_fft=n_fft, cancel=cancelled)

        def done(job):
            if w._job_failed(job) or w.session.project.source is None or w.session.project.source.path != path:
                return
            freqs = np.arange(n_fft // 2 + 1) * (src.sample_rate / n_fft)
            self.spectrum = (n_fft, path, freqs, job.result)
            w.roomtone_panel.set_spectrum(freqs, job.result)

        w.jobs.submit("Long-term spectrum", work, done, visible=False)

    def request_room_decay(self) -> None:
        """The room's decay time (RT60, blind, from speech offsets) for the room-tone panel."""
        w = self.window
        src = w.session.project.source
        if src is None:
            return
        path = src.path
        w.roomtone_panel.set_room_decay(None)

        def work(progress, cancelled):
            with AudioReader(path) as reader:
                return estimate_rt60(reader)

        def done(job):
            if w._job_failed(job) or w.session.project.source is None or w.session.project.source.path != path:
                return
            w.roomtone_panel.set_room_decay(job.result)

        w.jobs.submit("Room decay time", work, done, visible=False)
