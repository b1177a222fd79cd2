"""The spectrogram settings of the workstation: one model for every spectrogram view.

:class:`SpectrogramController` keeps the user's :class:`~app.spectrogram_settings.SpectrogramSettings`
(read from and written to the window's QSettings under ``spectrogram/``; never part of a
project), and applies them to the BEFORE and AFTER panes at once, so a comparison is honest:
same FFT size, frequency scale, colour map and dB range on both sides (the removed-energy mode
has its own colour map and range, in dB removed).

What a change costs: colours and the dB range re-colour the tiles on screen; the FFT size and the
frequency scale ask for new tiles (through the views' background tile jobs). The automatic dB
range needs the file's level statistics (:func:`~app.spectrogram_settings.sample_levels`), a
job per source and FFT size; the room tone's part is recomputed on the GUI thread from the
project's profile (a few thousand bins). Until the statistics arrive the manual range is shown.

The View menu's Spectrogram Settings… opens :class:`~app.qt.spectrogram_settings_dialog.SpectrogramSettingsDialog`
(non-modal, live); its frequency-zoom entries call :meth:`zoom_frequency` and
:meth:`reset_frequency_zoom`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app.qt.spectrogram_settings_dialog import SpectrogramSettingsDialog
from app.qt.tile_providers import tile_provider
from app.session.project import profiles_equal
from app.spectrogram_settings import (
    SpectrogramSettings,
    auto_range,
    level_quantiles,
    room_tone_level_db,
    sample_levels,
)
from dsp.errors import RoomtoneError
from dsp.io import AudioReader

SETTINGS_GROUP = "spectrogram"
#: One step of the frequency-zoom keys: half (or twice) the band.
FREQUENCY_ZOOM_STEP = 0.5


def load_settings(qsettings) -> SpectrogramSettings:
    """The settings stored in ``qsettings`` (defaults for anything missing or unreadable)."""
    stored = {}
    for key in SpectrogramSettings().to_dict():
        value = qsettings.value(f"{SETTINGS_GROUP}/{key}")
        if value is not None:
            stored[key] = value
    return SpectrogramSettings.from_dict(stored)


def save_settings(qsettings, settings: SpectrogramSettings) -> None:
    for key, value in settings.to_dict().items():
        qsettings.setValue(f"{SETTINGS_GROUP}/{key}", value)


class SpectrogramController:
    """The spectrogram settings of the workstation ``window`` and the views they drive."""

    def __init__(self, window) -> None:
        self.window = window
        self.settings = load_settings(window.settings)
        self.dialog: SpectrogramSettingsDialog | None = None
        self.auto_levels: tuple[float, float] | None = None  # the automatic range now in use
        self._levels_key: tuple | None = None  # (path, n_fft) of the statistics below
        self._levels_db: np.ndarray | None = None  # the source's level quantiles (level_quantiles)
        self._levels_job = None
        self._source: tuple[str, int] | None = None  # path, sample rate
        self._profile = None
        self._tone_used = False  # the automatic floor came from the room tone
        self.apply_palettes()

    @property
    def views(self):
        return (self.window.before_view, self.window.after_view)

    # -- the model -------------------------------------------------------------------------
    def set_settings(self, settings: SpectrogramSettings) -> None:
        """Use ``settings`` in every spectrogram view and remember them for the next session."""
        old, self.settings = self.settings, settings
        save_settings(self.window.settings, settings)
        if settings.scale != old.scale:
            self._set_scale(settings.scale)
        if self._source is not None and settings.n_fft(self._source[1]) != old.n_fft(self._source[1]):
            self._provide_before()
            self.window.after.update(force=True)
        self._request_levels()
        self.apply_palettes()
        self._echo()

    def n_fft(self, sample_rate: int) -> int:
        return self.settings.n_fft(sample_rate)

    def magnitude_levels(self) -> tuple[float, float]:
        """The dB range of the magnitude views: automatic when asked for and known, else manual."""
        s = self.settings
        if s.auto_range and self.auto_levels is not None:
            return self.auto_levels
        return s.floor_db, s.ceiling_db

    def describe_range(self) -> str:
        """What the automatic range is now, for the dialog."""
        if not self.settings.auto_range:
            return "Manual range."
        if self.auto_levels is None:
            return "Automatic: waiting for the file's levels (the manual range is shown meanwhile)."
        lo, hi = self.auto_levels
        basis = "the room tone" if self._tone_used else (
            "the file's quietest cells (no room tone yet)" if self._profile is None
            else "the file's quietest cells (the room tone was learned at a lower rate)")
        return f"Automatic: {lo:.0f} to {hi:.0f} dB, floor from {basis}, ceiling from the file's peak."

    def _echo(self) -> None:
        if self.dialog is not None:
            self.dialog.show_settings(self.settings, self.describe_range(), self.auto_levels)

    # -- applying it -----------------------------------------------------------------------
    def apply_palettes(self) -> None:
        s = self.settings
        for v in self.views:
            v.set_palette("magnitude", s.colormap, self.magnitude_levels())
            v.set_palette("difference", s.removed_colormap, (0.0, s.removed_ceiling_db))

    def _set_scale(self, kind: str) -> None:
        before, after = self.views
        after.setYLink(None)  # each view converts its own band; linked, they would fight mid-change
        for v in self.views:
            v.set_scale(kind)
        after.setYLink(before)

    def show_source(self, path: str, sample_rate: int) -> None:
        """A new source: BEFORE shows its tiles; the automatic range is measured again."""
        self._source = (str(path), int(sample_rate))
        for v in self.views:
            if v.frequency_scale.kind != self.settings.scale:
                v.set_scale(self.settings.scale)
        self._provide_before()
        self._request_levels()
        self.apply_palettes()
        if self.dialog is not None:
            self.dialog.set_sample_rate(sample_rate)
            self._echo()

    def _provide_before(self) -> None:
        path, rate = self._source
        n_fft = self.n_fft(rate)
        self.window.before_view.set_provider(tile_provider(path, n_fft), key=("before", path, n_fft))

    def project_changed(self, old, new) -> None:
        """A new room tone moves the automatic floor (no new tiles)."""
        profile = new.profile
        if profile is self._profile or (profile is not None and self._profile is not None
                                        and profiles_equal(profile, self._profile)):
            return
        self._profile = profile
        self._update_auto_levels()

    # -- the automatic range ---------------------------------------------------------------
    def _request_levels(self) -> None:
        if self._source is None or not self.settings.auto_range:
            return
        path, rate = self._source
        key = (path, self.n_fft(rate))
        if key == self._levels_key:
            return  # measured (or being measured) already
        if self._levels_job is not None:
            self._levels_job.cancel()
        if self._levels_key is None or self._levels_key[0] != path:
            self.auto_levels = None  # another file: its range is unknown (same file: keep it meanwhile)
        self._levels_key, self._levels_db = key, None

        def work(progress, cancelled):
            with AudioReader(key[0]) as reader:
                return level_quantiles(sample_levels(reader, key[1], cancel=cancelled))

        def done(job) -> None:
            if job is self._levels_job:
                self._levels_job = None
            if key != self._levels_key or job.cancelled:
                return
            if job.error is not None:
                if not isinstance(job.error, RoomtoneError):
                    self.window.report_error(job.error, getattr(job, "traceback", None))
                return  # a file that cannot be read says so elsewhere; the manual range stays
            self._levels_db = job.result
            self._update_auto_levels()

        self._levels_job = self.window.jobs.submit(f"Spectrogram levels of {Path(path).name}", work, done,
                                                   visible=False)

    def _update_auto_levels(self) -> None:
        if self._levels_db is None or self._source is None:
            return
        rate = self._source[1]
        tone = None
        if self._profile is not None and self._profile.sample_rate >= rate:
            tone = room_tone_level_db(self._profile, rate, self.n_fft(rate))
        self.auto_levels = auto_range(self._levels_db, tone)
        self._tone_used = tone is not None
        self.apply_palettes()
        self._echo()

    # -- frequency zoom and the dialog ------------------------------------------------------
    def zoom_frequency(self, factor: float) -> None:
        """Show ``factor`` times the frequency span on both spectrograms (< 1 zooms in)."""
        self.window.before_view.zoom_frequency(factor)

    def reset_frequency_zoom(self) -> None:
        self.window.before_view.reset_frequency_zoom()

    def open_dialog(self) -> SpectrogramSettingsDialog:
        """View › Spectrogram Settings…: the non-modal panel (raised if it is open already)."""
        if self.dialog is None:
            rate = self._source[1] if self._source is not None else 48000
            self.dialog = SpectrogramSettingsDialog(self.settings, sample_rate=rate, parent=self.window)
            self.dialog.settingsChanged.connect(self.set_settings)
        else:
            self.dialog.set_sample_rate(self._source[1] if self._source is not None else 48000)
        self._echo()
        self.dialog.show()
        self.dialog.raise_()
        return self.dialog
