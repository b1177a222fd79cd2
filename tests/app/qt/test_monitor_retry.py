"""Monitoring's Retry on a real device (JACK's dummy driver): issue 19, item 11.

* Started with no sound server, then ``jackd -d dummy`` started: Retry re-initialises PortAudio,
  finds JACK and plays; Preferences lists it.
* The JACK server disappearing while playing is reported, the window keeps working, Retry says
  what to do, and the process quits cleanly. PortAudio aborts the process or blocks for ever
  when handled carelessly there (ENVIRONMENT.md), so that part runs in a child process.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.gui, pytest.mark.audio]

REPO = Path(__file__).resolve().parents[3]
SR = 48000


def _need_jack():
    if shutil.which("jackd") is None or shutil.which("jack_wait") is None:
        pytest.skip("jackd is not installed (apt-get install jackd2): no real-time test device")


def _file(path: Path) -> Path:
    from dsp.io import write_audio

    t = np.arange(3 * SR) / SR
    write_audio(path, (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)[None], SR, "wav24")
    return path


def _wait_until(qtbot, cond, seconds, what):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cond():
            return
        qtbot.wait(20)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_retry_finds_a_sound_server_started_after_launch(make_window, qtbot, tmp_path):
    _need_jack()
    import sounddevice as sd

    from app.audio import Monitor, OutputSettings
    from app.audio.project_monitor import MonitorAdapter
    from tests.app.audio.jack_rig import start_jackd

    name = f"roomtone-retry-{os.getpid()}"
    old_env = os.environ.get("JACK_DEFAULT_SERVER")
    os.environ["JACK_DEFAULT_SERVER"] = name
    sd._terminate()
    sd._initialize()  # Roomtone "launched" with no sound server running
    proc = None
    w = None
    try:
        adapter = MonitorAdapter(Monitor(output=OutputSettings(block_size=256)))
        w = make_window(adapter)
        assert w.open_path(_file(tmp_path / "a.wav"))
        assert w.wait_for_jobs(120)
        _wait_until(qtbot, lambda: adapter.ready, 60, "the monitor to get the file")
        w.toggle_play()
        assert w.banner.isVisible() and not adapter.playing  # no output device at all
        proc = start_jackd(name, False)
        assert proc is not None, "jackd's dummy driver did not start"
        w.banner_retry.click()
        _wait_until(qtbot, lambda: adapter.playing and adapter.position_s > 0.2, 10, "Retry to play on JACK")
        assert not w.banner.isVisible(), w.banner_label.text()
        assert "JACK" in adapter.device_label
        w.open_preferences()
        combo = w.preferences_dialog.device_combo
        labels = [combo.itemText(i) for i in range(combo.count())]
        assert any("JACK" in t for t in labels), labels
        w.stop()
        _wait_until(qtbot, lambda: not adapter.playing, 5, "the stop")
    finally:
        if w is not None:
            w.close()  # closes the stream: before PortAudio is terminated
        sd._terminate()  # BEFORE stopping jackd (ENVIRONMENT.md)
        if proc is not None:
            proc.terminate()
            proc.wait(10)
        if old_env is None:
            os.environ.pop("JACK_DEFAULT_SERVER", None)
        else:
            os.environ["JACK_DEFAULT_SERVER"] = old_env
        sd._initialize()


CHILD = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    import numpy as np
    from tests.app.audio.jack_rig import start_jackd
    name = os.environ["JACK_DEFAULT_SERVER"]
    jackd = start_jackd(name, False)
    assert jackd is not None, "jackd did not start"
    print("JACKD", jackd.pid, flush=True)
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication
    app = QApplication([])
    from app.audio import Monitor, OutputSettings
    from app.qt.main_window import MainWindow
    from app.audio.project_monitor import MonitorAdapter
    from dsp.io import write_audio
    tmp = Path(sys.argv[1])
    t = np.arange(4 * 48000) / 48000
    write_audio(tmp / "a.wav", (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)[None], 48000, "wav24")
    adapter = MonitorAdapter(Monitor(output=OutputSettings(block_size=256)))
    w = MainWindow(settings=QSettings(str(tmp / "s.ini"), QSettings.Format.IniFormat), monitor=adapter)
    w.show_dialogs = False
    w.ask_before_closing = False
    w.show()

    def wait(cond, seconds, what):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents()
            if cond():
                return
            time.sleep(0.02)
        raise SystemExit(f"timed out waiting for {what}")

    w.open_path(tmp / "a.wav")
    w.wait_for_jobs(120)
    wait(lambda: adapter.ready, 60, "the monitor")
    w.toggle_play()
    wait(lambda: adapter.playing and adapter.position_s > 0.3, 10, "playback")
    jackd.terminate()
    jackd.wait(10)
    wait(lambda: w.banner.isVisible(), 10, "the device loss to be reported")
    print("REPORTED:", w.banner_label.text(), flush=True)
    w.session.set_chain_field("mix", 0.5)  # the window still works
    t0 = time.monotonic()
    w.banner_retry.click()
    wait(lambda: w.banner.isVisible(), 10, "Retry's answer")
    print("RETRY:", w.banner_label.text(), f"({time.monotonic() - t0:.1f} s)", flush=True)
    w.close()
    print("CLOSED", flush=True)
""")


def _stop_child_jackd(out: str) -> None:
    """The child stops its jackd itself; should it have died before, stop it here (by its id)."""
    import signal

    for line in (out or "").splitlines():
        if line.startswith("JACKD "):
            pid = int(line.split()[1])
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass


@pytest.mark.slow
def test_the_sound_server_disappearing_while_playing_is_reported_and_the_app_keeps_running(tmp_path):
    _need_jack()
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = dict(os.environ, JACK_DEFAULT_SERVER=f"roomtone-lost-{os.getpid()}", QT_QPA_PLATFORM="offscreen",
               PYTHONPATH=str(REPO), NUMBA_CACHE_DIR=os.environ.get("NUMBA_CACHE_DIR", str(REPO / ".cache" / "numba")))
    try:
        r = subprocess.run([sys.executable, str(script), str(tmp_path)], cwd=REPO, env=env, capture_output=True,
                           text=True, timeout=150)
        out = r.stdout
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        raise AssertionError(f"the app hung after its sound server disappeared: {out!r}") from None
    finally:
        _stop_child_jackd(locals().get("out", ""))
    assert r.returncode == 0, (r.returncode, out, r.stderr[-2000:])
    reported = out.split("REPORTED:", 1)[1].split("\n", 1)[0]
    assert "stopped working" in reported and "restart" in reported, out
    retry = out.split("RETRY:", 1)[1]
    assert "restart" in retry.lower(), out
    assert "CLOSED" in out


def test_preferences_list_the_devices_there_now_not_at_launch(make_window, monkeypatch):
    """Opening Preferences re-enumerates first (while not playing), so a device started after
    launch is offered; a monitor that cannot rescan says so and the dialog still opens."""
    from app.audio import devices as audio_devices
    from app.audio.project_monitor import NullMonitor
    from dsp.errors import DeviceError

    jack = audio_devices.OutputDevice(3, "system", "JACK Audio Connection Kit", 2, 48000.0, 0.005, 0.02, True)
    present: list = []

    class Rescanning(NullMonitor):
        available = True
        fail = False

        def rescan_devices(self):
            if self.fail:
                raise DeviceError("cannot look for devices: restart Roomtone")
            present[:] = [jack]  # the server started after launch is found now

    monkeypatch.setattr(audio_devices, "list_output_devices", lambda: list(present))
    m = Rescanning()
    w = make_window(m)
    w.open_preferences()
    combo = w.preferences_dialog.device_combo
    assert any("JACK" in combo.itemText(i) for i in range(combo.count()))
    m.fail = True
    w.open_preferences()
    assert w.banner.isVisible() and "restart" in w.banner_label.text()
    assert w.preferences_dialog is not None
