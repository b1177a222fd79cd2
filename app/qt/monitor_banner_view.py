"""The banner above the waveform that says monitoring is off, why, and what to do about it.

Non-modal (editing goes on): Audio Preferences…, Retry and ✕; the window connects the buttons.
"""

from __future__ import annotations

from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QToolButton

from app.qt import theme


class MonitorBannerView(QFrame):
    """A warning strip with a message, ``prefs_button``, ``retry_button`` and a close button."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("monitorBanner")
        self.setStyleSheet(
            f"QFrame#monitorBanner {{ background: #3a2c14; border: 1px solid {theme.WARN}; border-radius: 4px; }}"
            f"QFrame#monitorBanner QLabel {{ color: {theme.TEXT}; }}")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(10, 4, 4, 4)
        icon = QLabel("⚠")
        icon.setStyleSheet(f"color: {theme.WARN}; font-size: 14pt;")
        lay.addWidget(icon)
        self.label = QLabel("")
        self.label.setWordWrap(True)
        lay.addWidget(self.label, 1)
        self.prefs_button = QPushButton("Audio Preferences…")
        self.prefs_button.setToolTip("Choose another output device or buffer size.")
        self.retry_button = QPushButton("Retry")
        self.retry_button.setToolTip("Try the output device again and play (after reconnecting it).")
        close = QToolButton()
        close.setText("✕")
        close.setToolTip("Hide this message (monitoring stays off until Play succeeds).")
        close.clicked.connect(self.dismiss)
        for w in (self.prefs_button, self.retry_button, close):
            lay.addWidget(w)
        self.hide()
        self.kind = ""  # "monitor" while it shows a monitoring problem

    def show_problem(self, message: str) -> None:
        self.label.setText(f"<b>Monitoring is off.</b> {message}")
        self.kind = "monitor"
        self.show()

    def dismiss(self) -> None:
        self.hide()
        self.kind = ""
