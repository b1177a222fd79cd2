"""Edit > Preferences: the headphone output (device, buffer size) and its reported latency.

The dialog lists the output devices PortAudio reports (:func:`app.audio.devices.list_output_devices`),
offers the buffer sizes the monitor supports (:data:`app.audio.devices.BLOCK_SIZES`), and hands
an :class:`app.audio.OutputSettings` to ``apply`` (the window's ``apply_output_settings``:
it reconfigures the monitor, opens the device to check it, and persists the choice). The
latency the device reports once open is shown; before that, the device's nominal low latency.
A device that cannot be listed or opened is reported in the dialog itself; nothing crashes and
the previous choice stays in effect.

Devices are remembered by label (``name (host API)``), not index: indices change when devices
come and go.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QVBoxLayout,
)

from app.audio import OutputSettings
from app.audio import devices as audio_devices
from app.audio.devices import BLOCK_SIZES
from app.qt import theme
from dsp.errors import RoomtoneError

DEFAULT_BLOCK = 256


def _block_sizes() -> tuple[int, ...]:
    return tuple(BLOCK_SIZES)


class PreferencesDialog(QDialog):
    """Audio output preferences.

    Parameters
    ----------
    device : str or None
        The current device label (None: the system default).
    block_size : int
        The current buffer size in frames.
    apply : callable, optional
        ``apply(output_settings) -> latency_s or None``; raises RoomtoneError (DeviceError)
        when the device cannot be used. Without it the dialog only collects the values.
    latency_s : float, optional
        The latency the open device reports now (0 or None: not open).
    sample_rate : int
        Used to show buffer sizes in milliseconds.
    """

    def __init__(self, *, device: str | None = None, block_size: int = DEFAULT_BLOCK,
                 apply: Callable | None = None, latency_s: float | None = None, sample_rate: int = 48000,
                 parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self.setMinimumWidth(520)
        self._apply_fn = apply
        self._sample_rate = int(sample_rate) or 48000
        self.devices: list = []
        self.applied = None  # the OutputSettings last applied successfully
        root = QVBoxLayout(self)
        box = QGroupBox("Headphone monitoring")
        form = QFormLayout(box)
        self.device_combo = QComboBox()
        self.device_combo.setToolTip(
            "The output the monitor plays through (headphones or an audio interface). 'System default' follows "
            "the sound system's choice. A device that is unplugged later turns monitoring off with a message; "
            "press Play again once it is back.")
        form.addRow("Output device", self.device_combo)
        self.block_combo = QComboBox()
        self.block_combo.setToolTip(
            "Frames the device asks for per callback. Smaller buffers react sooner (lower latency) but need a "
            "steadier machine; raise it if you hear dropouts (the status bar counts them).")
        for n in _block_sizes():
            self.block_combo.addItem(f"{n} frames  ({1000.0 * n / self._sample_rate:.1f} ms at "
                                     f"{self._sample_rate / 1000:g} kHz)", n)
        form.addRow("Buffer size", self.block_combo)
        self.latency_label = QLabel("")
        self.latency_label.setToolTip(
            "Output latency the device reports: the time between the monitor handing audio over and it "
            "reaching your ears (the playhead already accounts for it).")
        form.addRow("Output latency", self.latency_label)
        root.addWidget(box)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setStyleSheet(f"color: {theme.WARN};")
        self.message.hide()
        root.addWidget(self.message)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Apply
            | QDialogButtonBox.StandardButton.Cancel)
        self.apply_button = buttons.button(QDialogButtonBox.StandardButton.Apply)
        self.apply_button.setToolTip("Use these settings now (the device is opened to check it).")
        buttons.button(QDialogButtonBox.StandardButton.Ok).setToolTip("Use these settings and close.")
        buttons.button(QDialogButtonBox.StandardButton.Cancel).setToolTip("Close without changing anything.")
        buttons.accepted.connect(self._ok)
        buttons.rejected.connect(self.reject)
        self.apply_button.clicked.connect(self.apply)
        root.addWidget(buttons)
        self._populate(device)
        idx = self.block_combo.findData(int(block_size))
        self.block_combo.setCurrentIndex(idx if idx >= 0 else max(0, self.block_combo.findData(DEFAULT_BLOCK)))
        self.device_combo.currentIndexChanged.connect(lambda _i: self._show_latency(None))
        self._show_latency(latency_s)

    # -- devices -----------------------------------------------------------------------------
    def _populate(self, current: str | None) -> None:
        self.device_combo.clear()
        self.device_combo.addItem("System default", None)
        try:
            self.devices = list(audio_devices.list_output_devices())
        except (RoomtoneError, ImportError, OSError) as exc:  # ImportError: sounddevice is not installed
            self.devices = []
            self._say(f"Cannot list audio devices: {exc}")
        for d in self.devices:
            text = d.label + ("  — default" if getattr(d, "is_default", False) else "")
            self.device_combo.addItem(text, d.label)
            self.device_combo.setItemData(
                self.device_combo.count() - 1,
                f"{d.max_output_channels} output channel(s), {d.default_sample_rate / 1000:g} kHz, nominal latency "
                f"{d.default_low_latency_s * 1000:.1f} ms", 3)  # Qt.ToolTipRole
        if not self.devices and self.message.isHidden():
            self._say("No audio output device found: connect headphones or an audio interface (or start the "
                      "sound server). Roomtone keeps working; monitoring stays off until a device is there.")
        if current:
            idx = self.device_combo.findData(current)
            if idx < 0:  # remembered but not present now: keep it selectable, say so
                self.device_combo.addItem(f"{current}  — not available", current)
                idx = self.device_combo.count() - 1
                self._say(f"The device chosen before, {current}, is not available now (unplugged?). Choose another "
                          "one or reconnect it.")
            self.device_combo.setCurrentIndex(idx)

    def device(self) -> str | None:
        return self.device_combo.currentData()

    def block_size(self) -> int:
        return int(self.block_combo.currentData())

    def output_settings(self):
        """The chosen :class:`app.audio.OutputSettings`."""
        return OutputSettings(device=self.device(), block_size=self.block_size())

    # -- apply -------------------------------------------------------------------------------
    def apply(self) -> bool:
        """Hand the settings to ``apply``; show the reported latency or the problem. True if applied."""
        try:
            settings = self.output_settings()
        except RoomtoneError as exc:
            self._say(str(exc))
            return False
        if self._apply_fn is None:
            self.applied = settings
            return True
        try:
            latency = self._apply_fn(settings)
        except RoomtoneError as exc:
            self._say(str(exc))
            self._show_latency(None)
            return False
        self.applied = settings
        self.message.hide()
        self._show_latency(latency)
        return True

    def _ok(self) -> None:
        if self.apply():
            self.accept()

    def _show_latency(self, latency_s: float | None) -> None:
        if latency_s:
            self.latency_label.setText(f"{latency_s * 1000:.1f} ms (reported by the device)")
            return
        label = self.device()
        nominal = None
        for d in self.devices:
            if d.label == label or (label is None and getattr(d, "is_default", False)):
                nominal = d.default_low_latency_s
        if nominal:
            self.latency_label.setText(f"≈ {nominal * 1000:.1f} ms nominal — measured when the device opens")
        else:
            self.latency_label.setText("not measured yet — Apply or Play opens the device")

    def _say(self, text: str) -> None:
        self.message.setText(text)
        self.message.show()


__all__ = ["PreferencesDialog"]
