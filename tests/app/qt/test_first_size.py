"""The window's first size fits the screen (a 1280 x 800 laptop must not lose the right side)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QRect, QSize

pytestmark = pytest.mark.gui

from app.qt.main_window import FIRST_SIZE, first_size  # noqa: E402


class _Screen:
    def __init__(self, w: int, h: int) -> None:
        self._rect = QRect(0, 0, w, h)

    def availableGeometry(self) -> QRect:  # noqa: N802 - Qt's name
        return self._rect


@pytest.mark.parametrize(("room", "want"), [
    ((1280, 770), (1280, 770)),
    ((1920, 1050), FIRST_SIZE),
    ((1400, 1200), (1400, FIRST_SIZE[1])),
])
def test_first_size_is_the_design_size_or_the_screen(room, want):
    assert first_size(_Screen(*room)) == QSize(*want)
    assert first_size(None) == QSize(*FIRST_SIZE)


def test_a_first_start_opens_within_the_screen(qtbot, tmp_path, settings):
    from app.qt.main_window import MainWindow
    from app.session import Autosave

    w = MainWindow(settings=settings, autosave=Autosave(tmp_path / "autosave"))  # no saved geometry
    w.show_dialogs = False
    w.ask_before_closing = False
    qtbot.addWidget(w)
    room = w.screen().availableGeometry().size()
    assert w.width() <= room.width() and w.height() <= room.height()
    assert w.size() == first_size(w.screen())
    w.close()
