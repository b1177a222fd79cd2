"""The headphone output as the workstation sees it: health readout, problems, Retry, Preferences.

Device and monitoring problems are shown in the window's banner (non-modal; editing and export
go on), the status bar says which output plays and its latency, and the output settings the
user chose in Preferences are remembered in QSettings and reapplied at start.
"""

from __future__ import annotations

from app.audio import OutputSettings
from app.qt.preferences_dialog import PreferencesDialog
from dsp.errors import DeviceError, RoomtoneError


class OutputController:
    """Output device handling of the workstation ``window`` (its monitor, banner and settings)."""

    def __init__(self, window) -> None:
        self.window = window
        self.shown_error: str | None = None
        self.errors: list[str] = []  # device / monitoring problems shown in the banner

    @property
    def monitor(self):
        return self.window.monitor

    def show_problem(self, message: str) -> None:
        """A device or monitoring problem: say it in the window (non-modal); editing goes on."""
        w = self.window
        self.shown_error = message
        self.errors.append(message)
        w.playback.play_end = None
        w.banner.show_problem(message)
        w.statusBar().showMessage("Monitoring is off: see the message above the waveform.", 6000)

    def show_health(self) -> None:
        """Show a new monitor error, the dropout count and the output in use (GUI timer)."""
        w, m = self.window, self.monitor
        err = getattr(m, "error", None)
        if err and err != self.shown_error:
            self.show_problem(err)
        under = int(getattr(m, "underruns", 0) or 0)
        if under:
            w.underrun_label.setText(f"⚠ {under} dropout{'s' if under != 1 else ''}")
            w.underrun_label.show()
        elif w.underrun_label.isVisible():
            w.underrun_label.hide()
        text = self._output_text(err)
        if text != w.output_label.text():
            w.output_label.setText(text)

    def _output_text(self, err) -> str:
        m = self.monitor
        if not getattr(m, "available", False):
            return "No audio output"
        state = str(getattr(m, "state", "off"))
        if state == "off":
            return "Monitoring off" if err else "Output: idle"
        dev = str(getattr(m, "device_label", "") or "default output")
        if len(dev) > 32:
            dev = dev[:31] + "…"
        lat = float(getattr(m, "output_latency_s", 0.0) or 0.0)
        if state == "playing" and self.window.banner.kind == "monitor" and not err:
            self.window.banner.dismiss()  # monitoring works again
        return f"Output: {dev}" + (f" · {lat * 1000:.1f} ms" if lat else "")

    def retry(self) -> None:
        """Retry: look for output devices again (one plugged in or a sound server started since
        launch), then play."""
        m = self.monitor
        if hasattr(m, "clear_error"):
            m.clear_error()
        self.shown_error = None
        self.window.banner.dismiss()
        if m.playing:
            return
        if not self.rescan_devices():
            return
        self.window.toggle_play()

    def rescan_devices(self) -> bool:
        """Have the monitor enumerate the output devices again; False (and said) when it cannot."""
        m = self.monitor
        if not hasattr(m, "rescan_devices") or m.playing:
            return True
        try:
            m.rescan_devices()
        except DeviceError as exc:
            self.show_problem(str(exc))
            return False
        return True

    def restore_settings(self) -> None:
        """Open the output the user chose last time (a bad saved value is said, not fatal)."""
        m = self.monitor
        if not getattr(m, "available", False) or not hasattr(m, "configure"):
            return
        device, block = self.saved_output()
        try:
            cur = getattr(m, "output", None)
            if cur is not None and (cur.device, cur.block_size) == (device, block):
                return
            m.configure(OutputSettings(device=device, block_size=block))
        except RoomtoneError as exc:  # a bad saved value (or the device fails to reopen): say so, go on
            self.show_problem(str(exc))
        except ImportError:  # sounddevice (the gui extra) is not installed: nothing to reopen
            pass

    def saved_output(self) -> tuple[str | None, int]:
        settings = self.window.settings
        device = settings.value("audio/device", "")
        device = str(device) if device not in (None, "") else None
        try:
            block = int(settings.value("audio/block_size", 256))
        except (TypeError, ValueError):
            block = 256
        return device, block

    def open_preferences(self):
        """The Preferences dialog (shown modal unless the window's dialogs are switched off)."""
        w, m = self.window, self.monitor
        self.rescan_devices()  # list what is there now, not what was there at launch
        device, block = self.saved_output()
        rate = w._reader.sample_rate if w._reader is not None else 48000
        dlg = PreferencesDialog(device=device, block_size=block, apply=w.apply_output_settings,
                                latency_s=float(getattr(m, "output_latency_s", 0.0) or 0.0)
                                if getattr(m, "state", "off") != "off" else None,
                                sample_rate=rate, parent=w)
        w.preferences_dialog = dlg
        if w.show_dialogs:
            dlg.exec()
        return dlg

    def apply_output_settings(self, output) -> float | None:
        """Use ``output`` (an OutputSettings) for monitoring: reconfigure, open to check, remember.

        Returns the latency the device reports; raises DeviceError (and keeps the previous
        settings) when the device cannot be used.
        """
        m = self.monitor
        if getattr(m, "available", False) and hasattr(m, "configure"):
            previous = getattr(m, "output", None)
            try:
                m.configure(output)
                m.open()
            except RoomtoneError:
                if previous is not None:
                    try:
                        m.configure(previous)
                    except RoomtoneError:
                        pass
                raise
        self.window.settings.setValue("audio/device", output.device or "")
        self.window.settings.setValue("audio/block_size", int(output.block_size))
        if hasattr(m, "clear_error"):
            m.clear_error()
        self.shown_error = None
        if self.window.banner.kind == "monitor":
            self.window.banner.dismiss()
        lat = float(getattr(m, "output_latency_s", 0.0) or 0.0)
        return lat or None
