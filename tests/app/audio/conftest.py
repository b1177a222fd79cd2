"""The ``jack_server`` fixture: a real, real-time-paced output device (JACK's dummy driver).

See :mod:`tests.app.audio.jack_rig` for how it is started and how the tests capture what the
device receives. Teardown terminates PortAudio *before* stopping jackd (the other order aborts
the interpreter at exit, ENVIRONMENT.md), and never leaves a jackd process behind.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.app.audio.jack_rig import JackServer, start_jackd


@pytest.fixture(scope="session")
def jack_server():
    if shutil.which("jackd") is None or shutil.which("jack_connect") is None:
        pytest.skip("jackd is not installed (apt-get install jackd2): no real-time test device")
    name = f"roomtone-test-{os.getpid()}"
    old_env = os.environ.get("JACK_DEFAULT_SERVER")
    os.environ["JACK_DEFAULT_SERVER"] = name
    proc, realtime = start_jackd(name, True), True
    if proc is None:
        proc, realtime = start_jackd(name, False), False
    if proc is None:
        pytest.fail("jackd is installed but its dummy driver did not start")
    import sounddevice as sd

    sd._terminate()
    sd._initialize()
    try:
        yield JackServer(name, proc, realtime)
    finally:
        sd._terminate()  # BEFORE stopping jackd
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        if old_env is None:
            os.environ.pop("JACK_DEFAULT_SERVER", None)
        else:
            os.environ["JACK_DEFAULT_SERVER"] = old_env
        sd._initialize()
