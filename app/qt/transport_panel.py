"""Transport controls (play/stop/loop, listen mode, time readout), bound to the monitor.

The monitor itself (the project's chain and file reaching the ears, or a stand-in without a
sound card) lives in :mod:`app.audio.project_monitor`; this panel only shows its state and sends
it the user's clicks.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QButtonGroup, QFrame, QHBoxLayout, QLabel, QToolButton, QWidget

from app.timecode import format_time

log = logging.getLogger(__name__)

#: (mode, button text, tooltip) of the listen buttons, in order (shortcuts 1-4).
LISTEN_BUTTONS = (
    ("processed", "Processed",
     "Hear the chain's output: the cleaned audio, exactly as Export will write it (1). Switching is "
     "instant, time-aligned and crossfaded, so you can A/B on the same syllable."),
    ("original", "Original",
     "Hear the untouched input, latency-aligned with the processed signal (2): the 'A' of an A/B "
     "comparison. Nothing in the project changes."),
    ("removed", "Removed",
     "Hear only what the chain takes away, original minus processed (3). Noise is fine; "
     "recognisable words mean the settings are too strong."),
    ("solo", "Solo pass",
     "Hear only what the pass selected in the Chain panel removes, in the context of the whole "
     "chain: the chain without that pass minus the full chain (4)."),
)


def _separator() -> QFrame:
    line = QFrame()
    line.setFrameShape(QFrame.Shape.VLine)
    line.setObjectName("transportSeparator")
    line.setFixedWidth(9)
    return line


class TransportPanel(QWidget):
    """Play/stop, loop, follow, the time readout and the listen buttons.

    Emits requests; the window talks to the monitor and echoes its state back with
    :meth:`show_state` and :meth:`show_listen`.
    """

    playToggled = Signal()
    stopRequested = Signal()
    loopToggled = Signal(bool)
    followToggled = Signal(bool)
    listenChosen = Signal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(4, 0, 4, 0)
        lay.setSpacing(2)
        self.play_button = QToolButton()
        self.play_button.setText("▶")
        self.play_button.setToolTip("Play from the cursor (or the selection) through the chain as set now; "
                                    "press again to pause where you are. Setting changes are heard while playing. "
                                    "Shortcut: Space.")
        self.stop_button = QToolButton()
        self.stop_button.setText("■")
        self.stop_button.setToolTip("Stop playback (with a short fade, no click) and return the cursor to where "
                                    "playback started.")
        self.loop_button = QToolButton()
        self.loop_button.setText("⟲")
        self.loop_button.setCheckable(True)
        self.loop_button.setToolTip("Loop the selection while playing, seamlessly, to compare settings on the same "
                                    "words. Shortcut: L.")
        self.follow_button = QToolButton()
        self.follow_button.setText("⇥")
        self.follow_button.setCheckable(True)
        self.follow_button.setToolTip("Follow the playhead: scroll the views a page at a time so the audio being "
                                      "heard stays on screen.")
        for b in (self.play_button, self.stop_button, self.loop_button, self.follow_button):
            b.setFixedWidth(36)
            b.setStyleSheet("QToolButton { padding: 3px 2px; }")  # the toolbar's padding would elide ❚❚
            lay.addWidget(b)
        self.time_label = QLabel(format_time(0.0))
        self.time_label.setObjectName("transportTime")
        self.time_label.setToolTip("Playhead position: the source time being heard now, output latency accounted "
                                   "for (minutes:seconds.milliseconds).")
        self.time_label.setStyleSheet("font-family: monospace; font-size: 13pt; padding: 0 10px;")
        self.time_label.setMinimumWidth(120)
        lay.addWidget(self.time_label)
        lay.addWidget(_separator())
        hear = QLabel("Hear")
        hear.setObjectName("hint")
        hear.setToolTip("What the headphones get. This is a monitoring switch: it changes neither the project "
                        "nor what Apply and Export render.")
        lay.addWidget(hear)
        self.listen_group = QButtonGroup(self)
        self.listen_group.setExclusive(True)
        self.listen_buttons: dict[str, QToolButton] = {}
        for mode, text, tip in LISTEN_BUTTONS:
            b = QToolButton()
            b.setText(text)
            b.setCheckable(True)
            b.setToolTip(tip)
            b.setObjectName("listenButton")
            b.setProperty("mode", mode)
            b.clicked.connect(lambda _=False, m=mode: self.listenChosen.emit(m))
            self.listen_group.addButton(b)
            self.listen_buttons[mode] = b
            lay.addWidget(b)
        self.listen_buttons["processed"].setChecked(True)
        self.play_button.clicked.connect(self.playToggled)
        self.stop_button.clicked.connect(self.stopRequested)
        self.loop_button.toggled.connect(self.loopToggled)
        self.follow_button.toggled.connect(self.followToggled)
        self._shown: tuple | None = None

    def show_state(self, position_s: float, playing: bool) -> None:
        shown = (round(position_s, 3), playing)
        if shown == self._shown:
            return
        self._shown = shown
        self.time_label.setText(format_time(position_s))
        self.play_button.setText("❚❚" if playing else "▶")

    def show_listen(self, mode: str) -> None:
        b = self.listen_buttons.get(mode)
        if b is not None and not b.isChecked():
            b.setChecked(True)

    def set_solo_target(self, label: str | None) -> None:
        """Name the pass the Solo button plays (None: no pass selected, button disabled)."""
        b = self.listen_buttons["solo"]
        b.setEnabled(label is not None)
        tip = LISTEN_BUTTONS[3][2]
        b.setToolTip(f"{tip}\nNow: {label}." if label else f"{tip}\nSelect a pass in the Chain panel first.")

    def set_follow(self, on: bool) -> None:
        self.follow_button.blockSignals(True)
        self.follow_button.setChecked(on)
        self.follow_button.blockSignals(False)


__all__ = ["LISTEN_BUTTONS", "TransportPanel"]

