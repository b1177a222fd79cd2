"""Fixtures for the window tests: a window factory with private settings and autosave folder, and
the JACK dummy sound card (for the real-monitor test).

The same rig as ``tests/app/audio/conftest.py`` (:func:`tests.app.audio.jack_rig.running_jack_server`),
but module-scoped and under a server name of its own, so it can run in the same pytest session
as the audio tests' session-wide server; on teardown whatever server was current before is
current again. No jackd is left running.
"""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="module")
def jack_server():
    from tests.app.audio.jack_rig import running_jack_server

    with running_jack_server(f"roomtone-qt-test-{os.getpid()}") as server:
        yield server


@pytest.fixture
def settings(tmp_path):
    from PySide6.QtCore import QSettings

    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def make_window(qtbot, tmp_path, settings):
    """``make_window(monitor=None, **kw)``: a shown MainWindow without dialogs, closed afterwards."""
    from app.qt.main_window import MainWindow
    from app.session import Autosave

    made = []

    def make(monitor=None, **kw):
        w = MainWindow(settings=settings, autosave=Autosave(tmp_path / "autosave"), monitor=monitor, **kw)
        w.show_dialogs = False
        w.ask_before_closing = False
        qtbot.addWidget(w)
        w.resize(1400, 900)
        w.show()
        made.append(w)
        return w

    yield make
    for w in made:
        w.close()
