"""The room-tone panel: learn, find, load and save the profile; its curve against the file.

The curve is the profile's mean power per bin in dB (``NoiseProfile.mean_power``) drawn over
the file's long-term spectrum in the same units (:func:`app.overview.long_term_spectrum`),
on a logarithmic frequency axis, so an editor sees at a glance whether the learned stretch is
really the room (the profile hugs the spectrum's floor) or caught speech (it bulges where
the voice is). Actions are requested through signals; the window runs them as jobs and
applies the result to the Session.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.pipeline import NO_DECAY_WHY
from app.qt import theme


def hz_label(hz: float) -> str:
    """``"50 Hz"``, ``"2 kHz"``, ``"1.5 kHz"``: one way of writing every frequency tick."""
    if hz >= 1000.0:
        return f"{hz / 1000.0:.3g} kHz"
    return f"{hz:.3g} Hz" if hz < 10 else f"{hz:.0f} Hz"


class LogFrequencyAxis(pg.AxisItem):
    """A logarithmic frequency axis labelled in Hz and kHz (pyqtgraph's own mixes "0.1, 1, 10¹")."""

    def tickStrings(self, values, scale, spacing):  # noqa: N802 - pyqtgraph naming
        if not self.logMode:
            return [hz_label(v * scale) for v in values]
        return [hz_label(10.0 ** v) for v in values]


def power_db(power: np.ndarray) -> np.ndarray:
    return 10.0 * np.log10(np.maximum(np.asarray(power, float), 1e-20))


class RoomtonePanel(QWidget):
    """Buttons for the room-tone actions, the profile's facts and its curve."""

    learnRequested = Signal()
    findRequested = Signal()
    loadRequested = Signal()
    saveRequested = Signal()
    clearRequested = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        root = QVBoxLayout(self)
        root.setContentsMargins(8, 8, 8, 8)
        grid = QGridLayout()
        self.learn_button = QPushButton("Learn from selection")
        self.learn_button.setObjectName("primary")
        self.learn_button.setToolTip("Learn the room tone (the room's own background noise, per frequency) from the "
                                     "selected stretch. Select a pause with no speech, breaths or clicks; 1-3 s is enough.")
        self.find_button = QPushButton("Find automatically")
        self.find_button.setToolTip("Let Roomtone find the quietest stretches of the whole file and learn the room "
                                    "tone from them (runs in the background on long files).")
        self.load_button = QPushButton("Load…")
        self.load_button.setToolTip("Use a room-tone profile saved earlier (JSON), e.g. from another episode "
                                    "recorded in the same room.")
        self.save_button = QPushButton("Save…")
        self.save_button.setToolTip("Save this room-tone profile as JSON to reuse it on other recordings from this room.")
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Forget the room-tone profile (passes that need one will be unavailable).")
        grid.addWidget(self.learn_button, 0, 0, 1, 2)
        grid.addWidget(self.find_button, 0, 2, 1, 2)
        grid.addWidget(self.load_button, 1, 0)
        grid.addWidget(self.save_button, 1, 1)
        grid.addWidget(self.clear_button, 1, 2)
        root.addLayout(grid)
        self.learn_button.clicked.connect(self.learnRequested)
        self.find_button.clicked.connect(self.findRequested)
        self.load_button.clicked.connect(self.loadRequested)
        self.save_button.clicked.connect(self.saveRequested)
        self.clear_button.clicked.connect(self.clearRequested)

        facts = QGroupBox("Profile")
        ff = QFormLayout(facts)
        self.method_label = QLabel("—")
        self.regions_label = QLabel("—")
        self.regions_label.setWordWrap(True)
        self.level_label = QLabel("—")
        self.grid_label = QLabel("—")
        self.warnings_label = QLabel("")
        self.warnings_label.setWordWrap(True)
        self.warnings_label.setStyleSheet(f"color: {theme.WARN};")
        ff.addRow("Learned by", self.method_label)
        ff.addRow("From", self.regions_label)
        ff.addRow("Level", self.level_label)
        ff.addRow("Analysis", self.grid_label)
        ff.addRow(self.warnings_label)
        root.addWidget(facts)

        room = QGroupBox("Room")
        rf = QFormLayout(room)
        self.decay_label = QLabel("—")
        self.decay_label.setWordWrap(True)
        self.decay_label.setToolTip("The room's reverberation time (RT60: how long a sound takes to die away by "
                                    "60 dB), estimated from how the voice decays after words. The De-reverb stage "
                                    "uses it unless its “Room decay time” is set by hand.")
        rf.addRow("Decay time", self.decay_label)
        root.addWidget(room)

        self.plot = pg.PlotWidget(axisItems={"bottom": LogFrequencyAxis("bottom")})
        self.plot.setToolTip("Room-tone profile (amber) against the file's long-term spectrum (blue), dB per "
                             "frequency. A good profile follows the bottom of the spectrum.")
        item = self.plot.getPlotItem()
        item.hideButtons()
        item.setMenuEnabled(False)
        item.setLogMode(x=True, y=False)
        item.showGrid(x=True, y=True, alpha=0.15)
        item.setLabel("bottom", "Frequency")  # the ticks carry their unit (Hz / kHz)
        item.setLabel("left", "Power", units="dB")
        item.getViewBox().setMouseEnabled(x=False, y=False)
        self.legend = item.addLegend(offset=(-8, 8), labelTextColor=theme.TEXT, brush=pg.mkBrush(23, 24, 27, 200))
        self.spectrum_curve = item.plot([], [], pen=pg.mkPen(theme.SPECTRUM, width=1.5), name="File spectrum")
        self.profile_curve = item.plot([], [], pen=pg.mkPen(theme.PROFILE, width=2), name="Room tone")
        self.plot.setMinimumHeight(200)
        root.addWidget(self.plot, 1)
        self._profile = None
        self.set_state(profile=None, has_source=False, has_selection=False)

    def set_state(self, *, profile, has_source: bool, has_selection: bool) -> None:
        """Echo the project's profile and what actions are possible."""
        self.learn_button.setEnabled(has_source and has_selection)
        self.find_button.setEnabled(has_source)
        self.load_button.setEnabled(True)
        self.save_button.setEnabled(profile is not None)
        self.clear_button.setEnabled(profile is not None)
        if profile is self._profile:
            return
        self._profile = profile
        if profile is None:
            self.method_label.setText("no profile yet: select a pause and press Learn")
            for lab in (self.regions_label, self.level_label, self.grid_label):
                lab.setText("—")
            self.warnings_label.setText("")
            self.profile_curve.setData([], [])
            return
        methods = {"learn": "learned from selection", "auto": "found automatically", "vad": "speech detector",
                   "minimum": "noise floor over time (no pause to learn from)"}
        self.method_label.setText(methods.get(profile.method, profile.method))
        regions = ", ".join(f"{a:.2f}-{b:.2f} s" for a, b in list(profile.regions)[:4])
        more = f" (+{len(profile.regions) - 4} more)" if len(profile.regions) > 4 else ""
        self.regions_label.setText(f"{regions}{more}  ·  {profile.duration_s:.2f} s in all" if regions else "—")
        self.level_label.setText(f"{profile.level_dbfs:.1f} dBFS")
        self.grid_label.setText(f"{profile.n_fft}-point FFT, hop {profile.hop_length}, {profile.sample_rate} Hz")
        self.warnings_label.setText("\n".join(profile.warnings))
        f = profile.frequencies()
        self.profile_curve.setData(f[1:], power_db(profile.mean_power)[1:])

    def set_room_decay(self, estimate) -> None:
        """The room's decay-time estimate (a :class:`dsp.dereverb.RoomDecayEstimate`; None: not known yet)."""
        if estimate is None:
            self.decay_label.setText("—")
        elif estimate.rt60_s is None:
            self.decay_label.setText(f"not found ({estimate.decays} decays after words in {estimate.analysed_s:.0f} s: "
                                     f"{NO_DECAY_WHY}); De-reverb passes the audio through unless its "
                                     "“Room decay time” is set by hand")
        else:
            self.decay_label.setText(f"RT60 {estimate.rt60_s:.2f} s (from {estimate.decays} decays after words)")

    def set_spectrum(self, frequencies: np.ndarray | None, power: np.ndarray | None) -> None:
        """The file's long-term spectrum (None clears)."""
        if frequencies is None or power is None:
            self.spectrum_curve.setData([], [])
        else:
            self.spectrum_curve.setData(frequencies[1:], power_db(power)[1:])
