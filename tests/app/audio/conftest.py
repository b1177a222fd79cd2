"""The ``jack_server`` fixture: a real, real-time-paced output device (JACK's dummy driver).

See :mod:`tests.app.audio.jack_rig` for how it is started and how the tests capture what the
device receives. Teardown terminates PortAudio *before* stopping jackd (the other order aborts
the interpreter at exit, ENVIRONMENT.md), and never leaves a jackd process behind.
"""

from __future__ import annotations

import os

import pytest

from tests.app.audio.jack_rig import running_jack_server


@pytest.fixture(scope="session")
def jack_server():
    with running_jack_server(f"roomtone-test-{os.getpid()}") as server:
        yield server
