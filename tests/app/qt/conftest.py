"""Fixtures for the window tests: the JACK dummy sound card (for the real-monitor test).

``jack_server`` here mirrors ``tests/app/audio/conftest.py`` (same rig, :mod:`tests.app.audio.jack_rig`)
but is module-scoped and uses a server name of its own, so it can run in the same pytest
session as the audio tests' session-wide server: it points PortAudio at its server and, on
teardown, terminates PortAudio *before* stopping jackd (the other order aborts the interpreter
at exit, ENVIRONMENT.md), puts ``JACK_DEFAULT_SERVER`` back and re-initialises PortAudio, so
whatever server was current before is current again. No jackd is left running.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest


@pytest.fixture(scope="module")
def jack_server():
    if shutil.which("jackd") is None or shutil.which("jack_connect") is None:
        pytest.skip("jackd is not installed (apt-get install jackd2): no real-time test device")
    from tests.app.audio.jack_rig import JackServer, start_jackd

    name = f"roomtone-qt-test-{os.getpid()}"
    old_env = os.environ.get("JACK_DEFAULT_SERVER")
    os.environ["JACK_DEFAULT_SERVER"] = name
    proc, realtime = start_jackd(name, True), True
    if proc is None:
        proc, realtime = start_jackd(name, False), False
    if proc is None:
        if old_env is None:
            os.environ.pop("JACK_DEFAULT_SERVER", None)
        else:
            os.environ["JACK_DEFAULT_SERVER"] = old_env
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
