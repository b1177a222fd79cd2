"""The dark theme: one palette, one style sheet, pyqtgraph defaults and the view colours.

Colours are named by role (``BACKGROUND``, ``ACCENT``, ``WAVE`` ...) so views never hard-code
hex values; spectrogram colour maps are chosen here too.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication

from app.spectrogram_settings import DEFAULT_COLORMAP, DEFAULT_REMOVED_COLORMAP

BACKGROUND = "#17181b"  # plot canvases
WINDOW = "#202226"  # panels
PANEL = "#26282d"  # group boxes, tool bars
RAISED = "#2f3238"  # buttons, inputs
BORDER = "#3a3d44"
TEXT = "#d9dce1"
TEXT_DIM = "#8b9099"
ACCENT = "#4aa3ff"  # selection, focus, primary action
ACCENT_DARK = "#1f5f9e"
WARN = "#f0a030"
WAVE = "#58c4d6"  # peak envelope
WAVE_RMS = "#a6e6f0"  # RMS body
WAVE_AFTER = "#f0b35a"  # the rendered (after) waveform overlay
WAVE_AFTER_RMS = "#f7d79e"
WAVE_GHOST = "#5b6f80"  # the source under a render
PLAYHEAD = "#ff5a4e"
HOLE = "#39f0c8"  # spectral hole overlay
#: One colour per kind of detected event drawn on the waveform (clicks, breaths, sibilants, pops...)
EVENT_COLOURS = ("#ff6b9a", "#b48cff", "#7ee07e", "#ffd24a", "#ff9f5a")
SELECTION_FILL = (74, 163, 255, 45)
SELECTION_EDGE = (74, 163, 255, 200)
PROFILE = "#f0b35a"
SPECTRUM = "#58c4d6"

#: Default colour maps of magnitude spectrograms (dB) and of the difference view (removed energy);
#: the workstation's views take theirs from the user's spectrogram settings (app.spectrogram_settings).
MAGNITUDE_CMAP = DEFAULT_COLORMAP
DIFFERENCE_CMAP = DEFAULT_REMOVED_COLORMAP

STYLE_SHEET = f"""
QMainWindow, QDialog {{ background: {WINDOW}; }}
QWidget {{ color: {TEXT}; font-size: 10pt; }}
QToolTip {{ background: {RAISED}; color: {TEXT}; border: 1px solid {BORDER}; padding: 4px; }}
QMenuBar {{ background: {PANEL}; border-bottom: 1px solid {BORDER}; }}
QMenuBar::item:selected, QMenu::item:selected {{ background: {ACCENT_DARK}; }}
QMenu {{ background: {PANEL}; border: 1px solid {BORDER}; }}
QMenu::item:disabled {{ color: {TEXT_DIM}; }}
QToolBar {{ background: {PANEL}; border: none; border-bottom: 1px solid {BORDER}; spacing: 4px; padding: 3px; }}
QToolBar QToolButton {{ padding: 4px 8px; border-radius: 4px; }}
QToolButton:hover {{ background: {RAISED}; }}
QToolButton:checked {{ background: {ACCENT_DARK}; }}
QPushButton {{ background: {RAISED}; border: 1px solid {BORDER}; border-radius: 4px; padding: 4px 10px; }}
QPushButton:hover {{ border-color: {ACCENT}; }}
QPushButton:pressed, QPushButton:checked {{ background: {ACCENT_DARK}; }}
QPushButton:disabled {{ color: {TEXT_DIM}; background: {PANEL}; }}
QPushButton#primary {{ background: {ACCENT_DARK}; border-color: {ACCENT}; font-weight: bold; }}
QPushButton#primary:hover {{ background: {ACCENT}; }}
QLineEdit, QSpinBox, QDoubleSpinBox, QComboBox {{
    background: {BACKGROUND}; border: 1px solid {BORDER}; border-radius: 3px; padding: 2px 4px;
    selection-background-color: {ACCENT_DARK};
}}
QComboBox QAbstractItemView {{ background: {PANEL}; selection-background-color: {ACCENT_DARK}; }}
QLineEdit:focus, QSpinBox:focus, QDoubleSpinBox:focus, QComboBox:focus {{ border-color: {ACCENT}; }}
QListWidget {{ background: {BACKGROUND}; border: 1px solid {BORDER}; border-radius: 3px; }}
QListWidget::item {{ padding: 5px 4px; }}
QListWidget::item:selected {{ background: {ACCENT_DARK}; color: {TEXT}; }}
QGroupBox {{ border: 1px solid {BORDER}; border-radius: 5px; margin-top: 14px; padding-top: 6px; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 8px; padding: 0 4px; color: {TEXT_DIM}; }}
QTabWidget::pane {{ border: 1px solid {BORDER}; background: {WINDOW}; }}
QTabBar::tab {{ background: {PANEL}; padding: 6px 14px; border: 1px solid {BORDER}; border-bottom: none; }}
QTabBar::tab:selected {{ background: {WINDOW}; color: {ACCENT}; }}
QDockWidget {{ titlebar-close-icon: none; }}
QDockWidget::title {{ background: {PANEL}; padding: 4px; }}
QStatusBar {{ background: {PANEL}; border-top: 1px solid {BORDER}; }}
QStatusBar QLabel {{ padding: 0 8px; color: {TEXT_DIM}; }}
QSplitter::handle {{ background: {BORDER}; }}
QSlider::groove:horizontal {{ height: 4px; background: {BORDER}; border-radius: 2px; }}
QSlider::sub-page:horizontal {{ background: {ACCENT_DARK}; border-radius: 2px; }}
QSlider::handle:horizontal {{ background: {TEXT}; width: 12px; margin: -5px 0; border-radius: 6px; }}
QSlider::handle:horizontal:hover {{ background: {ACCENT}; }}
QProgressBar {{ background: {BACKGROUND}; border: 1px solid {BORDER}; border-radius: 3px; text-align: center; height: 14px; }}
QProgressBar::chunk {{ background: {ACCENT_DARK}; border-radius: 2px; }}
QScrollArea {{ border: none; }}
QLabel#viewTitle {{ color: {TEXT_DIM}; font-weight: bold; letter-spacing: 1px; }}
QLabel#hint {{ color: {TEXT_DIM}; }}
"""


def apply_theme(app: QApplication) -> None:
    """Fusion style with a dark palette, the style sheet, and pyqtgraph's colours."""
    app.setStyle("Fusion")
    pal = QPalette()
    roles = {
        QPalette.ColorRole.Window: WINDOW,
        QPalette.ColorRole.WindowText: TEXT,
        QPalette.ColorRole.Base: BACKGROUND,
        QPalette.ColorRole.AlternateBase: PANEL,
        QPalette.ColorRole.ToolTipBase: RAISED,
        QPalette.ColorRole.ToolTipText: TEXT,
        QPalette.ColorRole.Text: TEXT,
        QPalette.ColorRole.Button: RAISED,
        QPalette.ColorRole.ButtonText: TEXT,
        QPalette.ColorRole.Highlight: ACCENT_DARK,
        QPalette.ColorRole.HighlightedText: TEXT,
        QPalette.ColorRole.PlaceholderText: TEXT_DIM,
        QPalette.ColorRole.Link: ACCENT,
    }
    for role, colour in roles.items():
        pal.setColor(role, QColor(colour))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        pal.setColor(QPalette.ColorGroup.Disabled, role, QColor(TEXT_DIM))
    app.setPalette(pal)
    font = QFont(app.font())
    font.setPointSizeF(9.5)
    app.setFont(font)
    app.setStyleSheet(STYLE_SHEET)
    configure_pyqtgraph()


def configure_pyqtgraph() -> None:
    """Canvas colours and antialiasing; OpenGL stays off (no GL offscreen / under Xvfb)."""
    pg.setConfigOptions(background=BACKGROUND, foreground=TEXT_DIM, antialias=False, useOpenGL=False)
