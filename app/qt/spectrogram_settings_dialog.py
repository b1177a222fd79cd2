"""View › Spectrogram Settings…: a small non-modal panel that edits the spectrogram settings live.

The panel binds to a :class:`~app.spectrogram_settings.SpectrogramSettings` model: every edit
builds a new settings object and emits ``settingsChanged`` (the window's
:class:`~app.qt.spectrogram_controller.SpectrogramController` applies it to every view at once);
:meth:`show_settings` echoes the model back with the controls' signals blocked. A value the
settings refuse (a floor above the ceiling) is not applied: the panel says why in its note line
and shows the settings in force.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QLinearGradient, QPainter, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
)

from app.qt import theme
from app.qt.colour_legend import colour_map
from app.spectrogram_settings import (
    COLORMAPS,
    FFT_SIZES,
    LEVEL_LIMITS_DB,
    REMOVED_LIMITS_DB,
    SCALE_LABELS,
    SCALES,
    SpectrogramSettings,
)
from dsp.errors import ParameterError
from dsp.stft import default_n_fft

ICON_SIZE = (64, 12)


def colour_icon(name: str) -> QIcon:
    """A small horizontal strip of the colour map ``name`` (for the colour-map combo boxes)."""
    size = QSize(*ICON_SIZE)
    pix = QPixmap(size)
    grad = QLinearGradient(0, 0, size.width(), 0)
    for pos, colour in zip(*colour_map(name).getStops(mode="qcolor"), strict=True):
        grad.setColorAt(float(pos), colour)
    p = QPainter(pix)
    p.fillRect(pix.rect(), grad)
    p.end()
    return QIcon(pix)


def _db_spin(lo: float, hi: float, suffix: str, tip: str) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(lo, hi)
    spin.setDecimals(0)
    spin.setSingleStep(5.0)
    spin.setSuffix(suffix)
    spin.setKeyboardTracking(False)  # apply when the value is complete, not at every digit typed
    spin.setToolTip(tip)
    return spin


def _colour_combo(tip: str) -> QComboBox:
    combo = QComboBox()
    combo.setIconSize(QSize(*ICON_SIZE))
    for name in COLORMAPS:
        combo.addItem(colour_icon(name), name.capitalize(), name)
    combo.setToolTip(tip)
    return combo


class SpectrogramSettingsDialog(QDialog):
    """FFT size, frequency scale, colour maps and dB ranges of every spectrogram view."""

    #: a new, valid SpectrogramSettings
    settingsChanged = Signal(object)

    def __init__(self, settings: SpectrogramSettings, *, sample_rate: int = 48000, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Spectrogram Settings")
        self.setModal(False)
        self.settings = settings
        self._auto_levels: tuple[float, float] | None = None
        self._sample_rate = int(sample_rate)
        root = QVBoxLayout(self)
        root.addWidget(self._build_analysis_box())
        root.addWidget(self._build_range_box())
        root.addWidget(self._build_removed_box())
        self.error_label = QLabel("")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(f"color: {theme.WARN};")
        self.error_label.hide()
        root.addWidget(self.error_label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.defaults_button = QPushButton("Defaults")
        self.defaults_button.setToolTip("Put every spectrogram setting back to its default.")
        buttons.addButton(self.defaults_button, QDialogButtonBox.ButtonRole.ResetRole)
        self.defaults_button.clicked.connect(lambda: self._emit(SpectrogramSettings()))
        buttons.rejected.connect(self.close)
        root.addWidget(buttons)
        self.set_sample_rate(sample_rate)
        self.show_settings(settings)

    # -- construction -------------------------------------------------------------------------
    def _build_analysis_box(self) -> QGroupBox:
        box = QGroupBox("Analysis and display")
        form = QFormLayout(box)
        self.fft_combo = QComboBox()
        self.fft_combo.setToolTip(
            "Samples per analysis frame. Larger frames resolve close frequencies (hum harmonics, pitch) "
            "but smear fast events (clicks, plosives) in time; smaller ones the other way round.")
        form.addRow("FFT size", self.fft_combo)
        self.scale_combo = QComboBox()
        for kind in SCALES:
            self.scale_combo.addItem(SCALE_LABELS[kind], kind)
        self.scale_combo.setToolTip(
            "How frequencies are spread vertically. Linear: every kHz the same height (hiss, high "
            "content). Logarithmic: every octave the same height (hum, voice fundamentals). Mel: "
            "close to how we hear pitch, the speech band large.")
        form.addRow("Frequency scale", self.scale_combo)
        self.colormap_combo = _colour_combo("Colours of the BEFORE and AFTER spectrograms, quiet to loud.")
        form.addRow("Colours", self.colormap_combo)
        self.fft_combo.currentIndexChanged.connect(self._edited)
        self.scale_combo.currentIndexChanged.connect(self._edited)
        self.colormap_combo.currentIndexChanged.connect(self._edited)
        return box

    def _build_range_box(self) -> QGroupBox:
        box = QGroupBox("Level range (BEFORE and AFTER share it)")
        lay = QVBoxLayout(box)
        self.auto_check = QCheckBox("Automatic: floor under the room tone, ceiling at the file's peak")
        self.auto_check.setToolTip(
            "Fit the colours to this recording: the floor a little below the room tone's level (or, "
            "without a room tone, below the file's quietest parts) and the ceiling at its loudest "
            "point, so a hot or noisy file does not saturate. The same range on both panes.")
        lay.addWidget(self.auto_check)
        row = QHBoxLayout()
        lo, hi = LEVEL_LIMITS_DB
        self.floor_spin = _db_spin(lo, hi, " dB", "Level drawn in the darkest colour (dB re a full-scale sine).")
        self.ceiling_spin = _db_spin(lo, hi, " dB", "Level drawn in the brightest colour (dB re a full-scale sine).")
        row.addWidget(QLabel("Floor"))
        row.addWidget(self.floor_spin)
        row.addSpacing(12)
        row.addWidget(QLabel("Ceiling"))
        row.addWidget(self.ceiling_spin)
        row.addStretch(1)
        lay.addLayout(row)
        self.range_note = QLabel("")
        self.range_note.setObjectName("hint")
        self.range_note.setWordWrap(True)
        lay.addWidget(self.range_note)
        self.auto_check.toggled.connect(self._edited)
        self.floor_spin.valueChanged.connect(self._edited)
        self.ceiling_spin.valueChanged.connect(self._edited)
        return box

    def _build_removed_box(self) -> QGroupBox:
        box = QGroupBox("Removed energy")
        form = QFormLayout(box)
        lo, hi = REMOVED_LIMITS_DB
        self.removed_spin = _db_spin(lo, hi, " dB removed",
                                     "Removal drawn in the brightest colour; 0 dB removed is the darkest.")
        form.addRow("Range up to", self.removed_spin)
        self.removed_colormap_combo = _colour_combo("Colours of the removed-energy view (View › Show Removed Energy).")
        form.addRow("Colours", self.removed_colormap_combo)
        self.removed_spin.valueChanged.connect(self._edited)
        self.removed_colormap_combo.currentIndexChanged.connect(self._edited)
        return box

    # -- model echo ---------------------------------------------------------------------------
    def set_sample_rate(self, sample_rate: int) -> None:
        """Label the automatic FFT size and the frame lengths for a file at ``sample_rate``."""
        self._sample_rate = int(sample_rate) or 48000
        rate = self._sample_rate
        self.fft_combo.blockSignals(True)
        current = self.fft_combo.currentData()
        self.fft_combo.clear()
        self.fft_combo.addItem(f"Automatic ({default_n_fft(rate)} at {rate / 1000:g} kHz)", 0)
        for n in FFT_SIZES:
            self.fft_combo.addItem(f"{n}  ({1000 * n / rate:.0f} ms)", n)
        self.fft_combo.setCurrentIndex(max(0, self.fft_combo.findData(current if current is not None else 0)))
        self.fft_combo.blockSignals(False)

    def show_settings(self, settings: SpectrogramSettings, note: str | None = None,
                      auto_levels: tuple[float, float] | None = None) -> None:
        """Show ``settings`` without emitting; ``note`` says what the automatic range is now.

        While the range is automatic the (disabled) floor and ceiling show ``auto_levels``, the
        range in use, so switching it off starts the manual range from what is on screen."""
        self.settings = settings
        self._auto_levels = auto_levels
        widgets = (self.fft_combo, self.scale_combo, self.colormap_combo, self.auto_check, self.floor_spin,
                   self.ceiling_spin, self.removed_spin, self.removed_colormap_combo)
        for w in widgets:
            w.blockSignals(True)
        self.fft_combo.setCurrentIndex(max(0, self.fft_combo.findData(settings.fft_size)))
        self.scale_combo.setCurrentIndex(self.scale_combo.findData(settings.scale))
        self.colormap_combo.setCurrentIndex(self.colormap_combo.findData(settings.colormap))
        self.auto_check.setChecked(settings.auto_range)
        floor, ceiling = auto_levels if settings.auto_range and auto_levels else (settings.floor_db, settings.ceiling_db)
        self.floor_spin.setValue(floor)
        self.ceiling_spin.setValue(ceiling)
        self.floor_spin.setEnabled(not settings.auto_range)
        self.ceiling_spin.setEnabled(not settings.auto_range)
        self.removed_spin.setValue(settings.removed_ceiling_db)
        self.removed_colormap_combo.setCurrentIndex(self.removed_colormap_combo.findData(settings.removed_colormap))
        for w in widgets:
            w.blockSignals(False)
        if note is not None:
            self.range_note.setText(note)

    # -- edits --------------------------------------------------------------------------------
    def _edited(self, *_args) -> None:
        try:
            settings = SpectrogramSettings(
                fft_size=int(self.fft_combo.currentData()),
                auto_range=self.auto_check.isChecked(),
                floor_db=float(self.floor_spin.value()),
                ceiling_db=float(self.ceiling_spin.value()),
                scale=str(self.scale_combo.currentData()),
                colormap=str(self.colormap_combo.currentData()),
                removed_ceiling_db=float(self.removed_spin.value()),
                removed_colormap=str(self.removed_colormap_combo.currentData()),
            )
        except ParameterError as exc:
            self.error_label.setText(f"Not applied: {exc}")
            self.error_label.show()
            self.show_settings(self.settings, auto_levels=self._auto_levels)
            return
        self._emit(settings)

    def _emit(self, settings: SpectrogramSettings) -> None:
        self.error_label.hide()
        self.show_settings(settings, auto_levels=self._auto_levels)
        self.settingsChanged.emit(settings)

    def keyPressEvent(self, ev) -> None:  # noqa: N802 - Qt naming
        if ev.key() == Qt.Key.Key_Escape:
            self.close()
            return
        super().keyPressEvent(ev)
