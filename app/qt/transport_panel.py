"""Transport controls (play/stop/loop, time readout) and the seam to the monitoring engine.

The monitor (``app.audio``, built separately) is reached only through a small duck-typed
surface: ``position_s`` (polled from a timer, STYLE.md 9), ``playing``, ``play(start_s)``,
``stop()``, ``seek(s)``, ``set_loop(start_s, end_s | None)`` and optionally
``set_project(project)``; :class:`MonitorAdapter` gives ``app.audio.Monitor`` that surface. :class:`NullMonitor`
stands in when no monitor is available; it does nothing but keep a cursor position, so the
window behaves the same with or without a sound card.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QWidget

from app.qt.waveform_view import format_time


class NullMonitor:
    """A monitor that plays nothing: keeps ``position_s`` where it was put."""

    available = False

    def __init__(self) -> None:
        self.position_s = 0.0
        self.playing = False
        self.loop: tuple[float, float] | None = None

    def play(self, start_s: float | None = None) -> None:
        if start_s is not None:
            self.position_s = float(start_s)

    def stop(self) -> None:
        self.playing = False

    def seek(self, position_s: float) -> None:
        self.position_s = float(position_s)

    def set_loop(self, start_s: float | None, end_s: float | None = None) -> None:
        self.loop = None if start_s is None or end_s is None else (start_s, end_s)


class MonitorAdapter:
    """Binds an ``app.audio.Monitor`` to the window's project (source, chain, listen mode).

    The window calls :meth:`set_project` on every project change; playback control is passed
    through. Device problems become :class:`~dsp.errors.DeviceError` for the window to show.
    """

    available = True

    def __init__(self, monitor) -> None:
        self.monitor = monitor
        self._source_path: str | None = None
        self._chain_key = None

    @property
    def position_s(self) -> float:
        return float(self.monitor.position_s)

    @property
    def playing(self) -> bool:
        return bool(self.monitor.is_playing)

    def set_project(self, project) -> None:
        from app.session import build_processor

        src = project.source
        if src is None:
            return

        def factory(project=project):
            return build_processor(project)

        key = (project.chain, id(project.profile))
        if src.path != self._source_path:
            from dsp.io import AudioReader

            self.monitor.set_source(AudioReader(src.path), factory)
            self._source_path = src.path
        elif key != self._chain_key:
            self.monitor.set_chain(factory)
        self._chain_key = key
        self.monitor.set_listen(project.chain.listen)

    def play(self, start_s: float | None = None) -> None:
        self.monitor.play(start_s)

    def stop(self) -> None:
        self.monitor.stop()

    def seek(self, position_s: float) -> None:
        self.monitor.seek(position_s)

    def set_loop(self, start_s: float | None, end_s: float | None = None) -> None:
        self.monitor.set_loop(start_s, end_s)

    def shutdown(self) -> None:
        self.monitor.shutdown()


def make_monitor():
    """The real monitor (wrapped) when ``app.audio`` provides one, else a :class:`NullMonitor`."""
    try:
        from app.audio import Monitor
    except Exception:  # noqa: BLE001 - no monitoring engine in this build
        return NullMonitor()
    try:
        return MonitorAdapter(Monitor())
    except Exception:  # noqa: BLE001 - no audio back end here
        return NullMonitor()


class TransportPanel(QWidget):
    """Play/stop, loop and the time readout. Emits requests; the window talks to the monitor."""

    playToggled = Signal()
    stopRequested = Signal()
    loopToggled = Signal(bool)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(4, 0, 4, 0)
        lay.setSpacing(2)
        self.play_button = QToolButton()
        self.play_button.setText("▶")
        self.play_button.setToolTip("Play from the cursor (or the selection) through the chain as set now; "
                                    "press again to pause. Shortcut: Space.")
        self.stop_button = QToolButton()
        self.stop_button.setText("■")
        self.stop_button.setToolTip("Stop playback and return to where it started.")
        self.loop_button = QToolButton()
        self.loop_button.setText("⟲")
        self.loop_button.setCheckable(True)
        self.loop_button.setToolTip("Loop the selection while playing, to compare settings on the same words. "
                                    "Shortcut: L.")
        for b in (self.play_button, self.stop_button, self.loop_button):
            b.setFixedWidth(34)
            lay.addWidget(b)
        self.time_label = QLabel(format_time(0.0))
        self.time_label.setToolTip("Playhead / cursor position (minutes:seconds.milliseconds).")
        self.time_label.setStyleSheet("font-family: monospace; font-size: 12pt; padding: 0 8px;")
        lay.addWidget(self.time_label)
        self.play_button.clicked.connect(self.playToggled)
        self.stop_button.clicked.connect(self.stopRequested)
        self.loop_button.toggled.connect(self.loopToggled)

    def show_state(self, position_s: float, playing: bool) -> None:
        self.time_label.setText(format_time(position_s))
        self.play_button.setText("❚❚" if playing else "▶")
