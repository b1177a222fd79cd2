"""Fixtures for the window tests: the JACK dummy sound card (for the real-monitor test).

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
