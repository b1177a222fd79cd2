"""Headphone monitoring in the window (offscreen): transport, Space, listen/solo, playhead, meters,
preferences, device errors; the real monitor on a fake stream and on the JACK dummy device.

Most tests drive the window with :class:`FakeMonitor`, which records every call the window
makes and lets the test set what the monitor reports (position, meters, errors). Two tests use
the real :class:`app.audio.Monitor` through :class:`app.audio.project_monitor.MonitorAdapter`: one
on a fake stream paced by a thread (always runs), one on JACK's real-time dummy driver
(marked ``audio``).
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

pytestmark = pytest.mark.gui

from app.audio import MeterReading, OutputSettings  # noqa: E402
from app.audio import devices as audio_devices  # noqa: E402
from app.session import Selection  # noqa: E402
from dsp.errors import DeviceError  # noqa: E402
from dsp.io import write_audio  # noqa: E402

SR = 48000


class FakeMonitor:
    """Records the window's calls; the test sets what it reports."""

    available = True

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.position_s = 0.0
        self.playing = False
        self.state = "stopped"
        self.listen = "processed"
        self.solo: int | None = None
        self.reading: MeterReading | None = None
        self.underruns = 0
        self.error: str | None = None
        self.output = OutputSettings()
        self.output_latency_s = 0.0
        self.device_label = "Fake Phones (test)"
        self.play_error: Exception | None = None
        self.open_error: Exception | None = None
        self.projects = 0

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]

    def set_project(self, project) -> None:
        self.projects += 1

    def poll(self) -> None:
        pass

    def play(self, start_s=None) -> None:
        self.calls.append(("play", start_s))
        if self.play_error is not None:
            self.state = "off"
            self.error = str(self.play_error)
            raise self.play_error
        self.playing, self.state = True, "playing"
        if start_s is not None:
            self.position_s = start_s

    def stop(self) -> None:
        self.calls.append(("stop",))
        self.playing, self.state = False, "stopped"

    def seek(self, s) -> None:
        self.calls.append(("seek", s))
        self.position_s = s

    def set_loop(self, a, b=None) -> None:
        self.calls.append(("set_loop", a, b))

    def set_listen(self, mode) -> None:
        self.calls.append(("set_listen", mode))
        self.listen = mode

    def set_solo(self, index) -> None:
        self.calls.append(("set_solo", index))
        self.solo = index

    def meters(self):
        return self.reading

    def clear_clip(self) -> None:
        self.calls.append(("clear_clip",))

    def clear_error(self) -> None:
        self.error = None

    def configure(self, output) -> None:
        self.calls.append(("configure", output))
        self.output = output

    def open(self) -> None:
        self.calls.append(("open",))
        if self.open_error is not None:
            raise self.open_error
        self.state = "stopped"
        self.output_latency_s = 0.0123

    def shutdown(self) -> None:
        self.calls.append(("shutdown",))


def _tone_file(path, seconds: float = 3.0):
    t = np.arange(int(seconds * SR)) / SR
    rng = np.random.default_rng(1)
    x = 0.2 * np.sin(2 * np.pi * 220 * t) * (t > 1.0) + 0.004 * rng.standard_normal(t.size)
    write_audio(path, x.astype(np.float32)[None], SR, "wav24")
    return path


@pytest.fixture
def source(tmp_path):
    return _tone_file(tmp_path / "episode.wav")


def _open(w, qtbot, path) -> None:
    assert w.open_path(path)
    assert w.wait_for_jobs(120)
    qtbot.wait(20)
    assert w.wait_for_jobs(120)
    assert w.session.project.source is not None, w.errors


def _tick(qtbot, ms: int = 80) -> None:
    qtbot.wait(ms)  # the window polls the monitor at ~30 Hz


# == transport, Space, listen ======================================================================
def test_transport_buttons_space_and_listen_buttons_call_the_monitor(make_window, qtbot, source):
    fake = FakeMonitor()
    w = make_window(fake)
    _open(w, qtbot, source)
    assert fake.projects >= 1  # the window hands every project to the monitor
    w.seek(0.7)
    qtbot.mouseClick(w.transport.play_button, Qt.MouseButton.LeftButton)
    assert fake.calls[-1] == ("play", 0.7)
    assert ("set_loop", None, None) in fake.calls  # no selection: no loop
    _tick(qtbot)
    assert w.transport.play_button.text() == "❚❚"

    qtbot.keyClick(w, Qt.Key.Key_Space)  # pause
    assert fake.names()[-1] == "stop"
    assert not fake.playing

    # Space still plays while a number field has the focus (it never needs a space)
    spin = next(iter(v for v in w.chain_panel._field_widgets.values() if hasattr(v, "spin"))).spin
    spin.setFocus()
    QApplication.processEvents()
    assert QApplication.focusWidget() in (spin, spin.lineEdit())
    n = len(fake.calls)
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Space)
    assert ("play", 0.7) in fake.calls[n:], fake.calls[n:]

    # Stop: stops and returns the cursor to where playback started
    fake.position_s = 2.0
    qtbot.mouseClick(w.transport.stop_button, Qt.MouseButton.LeftButton)
    assert fake.names()[-1] == "stop"
    _tick(qtbot)
    assert fake.calls[-1] == ("seek", 0.7) and fake.position_s == 0.7

    # listen buttons and keys 1-3
    qtbot.mouseClick(w.transport.listen_buttons["original"], Qt.MouseButton.LeftButton)
    assert ("set_listen", "original") in fake.calls
    assert w.transport.listen_buttons["original"].isChecked()
    w.setFocus()
    qtbot.keyClick(w, Qt.Key.Key_3)
    assert fake.listen == "removed"
    _tick(qtbot)
    assert w.transport.listen_buttons["removed"].isChecked()
    qtbot.keyClick(w, Qt.Key.Key_1)
    assert fake.listen == "processed"
    assert fake.solo is None


def test_solo_plays_the_selected_pass_and_follows_the_selection(make_window, qtbot, source):
    fake = FakeMonitor()
    w = make_window(fake)
    _open(w, qtbot, source)
    stages = w.session.project.chain.stages
    assert len(stages) >= 2
    w.chain_panel.stage_list.setCurrentRow(1)
    solo = w.transport.listen_buttons["solo"]
    assert solo.isEnabled() and "2." in solo.toolTip()
    qtbot.mouseClick(solo, Qt.MouseButton.LeftButton)
    assert ("set_solo", 1) in fake.calls and fake.calls[-1] == ("set_listen", "solo")
    w.chain_panel.stage_list.setCurrentRow(0)  # solo follows the selected pass
    assert fake.calls[-1] == ("set_solo", 0)
    qtbot.mouseClick(w.transport.listen_buttons["processed"], Qt.MouseButton.LeftButton)
    assert fake.calls[-2:] == [("set_listen", "processed"), ("set_solo", None)]  # the reference is dropped
    w.chain_panel.stage_list.setCurrentRow(1)
    assert fake.calls[-1] != ("set_solo", 1)  # not soloing: no reference chain is built


def test_loop_and_play_selection(make_window, qtbot, source):
    fake = FakeMonitor()
    w = make_window(fake)
    _open(w, qtbot, source)
    w.session.set_selection(Selection(0.5, 1.5))
    w.loop_action.setChecked(True)
    assert w.transport.loop_button.isChecked()
    w.toggle_play()
    assert ("set_loop", 0.5, 1.5) in fake.calls and fake.calls[-1] == ("play", 0.5)
    w.session.set_selection(Selection(1.0, 2.0))  # a new selection while looping: the loop follows
    assert fake.calls[-1] == ("set_loop", 1.0, 2.0)
    w.loop_action.setChecked(False)
    assert fake.calls[-1] == ("set_loop", None, None)
    w.toggle_play()  # pause
    # without loop, playing a selection stops at its end
    w.toggle_play()
    assert fake.calls[-1] == ("play", 1.0)
    fake.position_s = 1.6
    _tick(qtbot)
    assert fake.playing
    fake.position_s = 2.01
    _tick(qtbot)
    assert fake.names()[-1] == "stop" and not fake.playing


# == playhead, follow, readout =====================================================================
def test_playhead_moves_in_all_views_and_the_readout(make_window, qtbot, source):
    fake = FakeMonitor()
    w = make_window(fake)
    _open(w, qtbot, source)
    fake.position_s = 1.25
    _tick(qtbot)
    for v in (w.waveform, w.before_view, w.after_view):
        assert v.playhead.isVisible() and v.playhead.value() == pytest.approx(1.25)
    assert w.overview_playhead.isVisible() and w.overview_playhead.value() == pytest.approx(1.25)
    assert w.transport.time_label.text() == "0:01.250"
    fake.position_s = 2.5
    _tick(qtbot)
    assert w.waveform.playhead.value() == pytest.approx(2.5)
    assert w.after_view.playhead.value() == pytest.approx(2.5)

    # follow the playhead: a page further when it leaves the view
    w.follow_action.setChecked(True)
    w.waveform.setXRange(0.0, 0.5, padding=0)
    fake.playing = True
    fake.position_s = 0.9
    _tick(qtbot)
    (x0, x1), _ = w.waveform.vb.viewRange()
    assert x0 <= 0.9 <= x1 and x1 - x0 == pytest.approx(0.5, rel=0.02)
    w.follow_action.setChecked(False)
    assert not w.transport.follow_button.isChecked()
    fake.position_s = 2.0
    _tick(qtbot)
    (y0, y1), _ = w.waveform.vb.viewRange()
    assert (y0, y1) == pytest.approx((x0, x1))


# == meters ========================================================================================
def test_meters_update_from_the_monitor_and_clip_resets(make_window, qtbot, source):
    fake = FakeMonitor()
    w = make_window(fake)
    _open(w, qtbot, source)
    fake.reading = MeterReading((-6.0, -12.0), (-18.0, -21.0), -23.4, False, 0)
    _tick(qtbot)
    m = w.meters
    assert m.peak_db == pytest.approx([-6.0, -12.0])
    assert m.rms_db == pytest.approx([-18.0, -21.0])
    assert m.hold_db == pytest.approx([-6.0, -12.0])
    assert "-23.4 LUFS" in m.lufs_label.text()
    assert not m.clipped
    # the level falls: the peak bar falls gradually, the hold tick stays
    fake.reading = MeterReading((-40.0, -40.0), (-45.0, -45.0), -30.0, True, 3)
    _tick(qtbot, 150)
    assert -40.0 < m.peak_db[0] < -6.0
    assert m.hold_db[0] == pytest.approx(-6.0)
    assert m.rms_db[0] == pytest.approx(-45.0)
    assert m.clipped and "3×" in m.clip_button.toolTip()
    qtbot.mouseClick(m.clip_button, Qt.MouseButton.LeftButton)
    assert fake.calls[-1] == ("clear_clip",) and not m.clipped
    # mono files: one bar
    fake.reading = MeterReading((-3.0,), (-10.0,), -14.0, False, 0)
    _tick(qtbot)
    assert len(m.peak_db) == 1
    # dropouts show in the status bar only when there are some
    assert not w.underrun_label.isVisible()
    fake.underruns = 3
    _tick(qtbot)
    assert w.underrun_label.isVisible() and "3 dropouts" in w.underrun_label.text()


# == preferences ===================================================================================
DEVICES = [
    audio_devices.OutputDevice(0, "Built-in Audio", "ALSA", 2, 48000.0, 0.008, 0.03, True),
    audio_devices.OutputDevice(3, "USB Headphones", "ALSA", 2, 44100.0, 0.005, 0.02, False),
]


def test_preferences_list_devices_apply_and_persist(make_window, qtbot, source, settings, monkeypatch):
    monkeypatch.setattr(audio_devices, "list_output_devices", lambda: list(DEVICES))
    fake = FakeMonitor()
    w = make_window(fake)
    w.open_preferences()
    dlg = w.preferences_dialog
    items = [dlg.device_combo.itemText(i) for i in range(dlg.device_combo.count())]
    assert items[0] == "System default"
    assert any("USB Headphones (ALSA)" in t for t in items) and any("Built-in Audio" in t for t in items)
    assert [dlg.block_combo.itemData(i) for i in range(dlg.block_combo.count())] == list(audio_devices.BLOCK_SIZES)
    assert "nominal" in dlg.latency_label.text() or "not measured" in dlg.latency_label.text()
    dlg.device_combo.setCurrentIndex(dlg.device_combo.findData("USB Headphones (ALSA)"))
    dlg.block_combo.setCurrentIndex(dlg.block_combo.findData(512))
    assert "5.0 ms nominal" in dlg.latency_label.text()
    assert dlg.apply()
    configured = [c[1] for c in fake.calls if c[0] == "configure"]
    assert configured[-1] == OutputSettings(device="USB Headphones (ALSA)", block_size=512)
    assert fake.names()[-1] == "open"  # opened to check it and to measure the latency
    assert "12.3 ms" in dlg.latency_label.text() and "reported" in dlg.latency_label.text()
    assert settings.value("audio/device") == "USB Headphones (ALSA)"
    assert int(settings.value("audio/block_size")) == 512

    # the next start re-applies the saved choice
    fake2 = FakeMonitor()
    make_window(fake2)
    assert ("configure", OutputSettings(device="USB Headphones (ALSA)", block_size=512)) in fake2.calls
    # and the dialog shows it selected
    w.open_preferences()
    assert w.preferences_dialog.device() == "USB Headphones (ALSA)"
    assert w.preferences_dialog.block_size() == 512


def test_preferences_report_a_device_that_cannot_open(make_window, qtbot, settings, monkeypatch):
    monkeypatch.setattr(audio_devices, "list_output_devices", lambda: list(DEVICES))
    fake = FakeMonitor()
    w = make_window(fake)
    fake.open_error = DeviceError("cannot open output device 'USB Headphones (ALSA)' at 48000 Hz; choose another")
    w.open_preferences()
    dlg = w.preferences_dialog
    dlg.device_combo.setCurrentIndex(dlg.device_combo.findData("USB Headphones (ALSA)"))
    assert not dlg.apply()
    assert not dlg.message.isHidden() and "cannot open" in dlg.message.text()
    assert fake.output == OutputSettings()  # the previous settings are back
    assert settings.value("audio/device") in (None, "")  # nothing persisted


def test_preferences_without_any_device(make_window, qtbot, monkeypatch):
    def boom():
        raise DeviceError("cannot list audio devices (PortAudio not initialised); check the sound system")

    monkeypatch.setattr(audio_devices, "list_output_devices", boom)
    w = make_window(FakeMonitor())
    w.open_preferences()
    dlg = w.preferences_dialog
    assert dlg.device_combo.count() == 1 and not dlg.message.isHidden()
    assert "cannot list audio devices" in dlg.message.text()


# == device errors ==================================================================================
@pytest.mark.slow
def test_missing_device_shows_a_message_and_monitoring_goes_off(make_window, qtbot, source):
    fake = FakeMonitor()
    w = make_window(fake)
    _open(w, qtbot, source)
    fake.play_error = DeviceError("output device 'USB Headphones' is not available (unplugged?); "
                                  "choose another one in Preferences > Audio")
    w.toggle_play()  # must not raise
    _tick(qtbot)
    assert w.banner.isVisible()
    assert "not available" in w.banner_label.text() and "Monitoring is off" in w.banner_label.text()
    assert not w.errors  # a banner, not a modal error box
    assert "Monitoring off" in w.output_label.text()
    assert w.transport.play_button.text() == "▶"
    # the window keeps working: select, edit, undo
    w.session.set_selection(Selection(0.2, 0.8))
    assert w.session.project.selection == Selection(0.2, 0.8)
    # the device is back: Retry plays again
    fake.play_error = None
    qtbot.mouseClick(w.banner_retry, Qt.MouseButton.LeftButton)
    assert fake.names()[-1] == "play" and fake.playing
    _tick(qtbot, 600)
    assert not w.banner.isVisible()


@pytest.mark.slow
def test_device_vanishing_while_playing_is_reported(make_window, qtbot, source):
    fake = FakeMonitor()
    w = make_window(fake)
    _open(w, qtbot, source)
    w.toggle_play()
    _tick(qtbot)
    assert not w.banner.isVisible()
    # the feeder notices the device is gone: the monitor turns off and says why
    fake.playing, fake.state = False, "off"
    fake.error = "Fake Phones (test) stopped working (unplugged); monitoring is off. Reconnect it, then press Play"
    _tick(qtbot)
    assert w.banner.isVisible() and "stopped working" in w.banner_label.text()
    assert w.monitor_errors == [fake.error]
    _tick(qtbot)
    assert w.monitor_errors == [fake.error]  # shown once, not on every tick
    qtbot.keyClick(w, Qt.Key.Key_Space)  # Play again retries
    assert fake.names()[-1] == "play"


# == the real monitor ==============================================================================
def _wait_until(qtbot, cond, timeout_s: float, what: str) -> None:
    end = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        qtbot.wait(20)


@pytest.mark.slow
def test_real_monitor_on_a_fake_stream(make_window, qtbot, source, monkeypatch):
    """MonitorAdapter + Monitor: the file and chain reach the monitor, play advances, edits and
    listen switches are applied live, a vanished device turns monitoring off with a message."""
    from app.audio import Monitor
    from app.audio.project_monitor import MonitorAdapter
    from tests.app.audio.fake_stream import FakeOpener

    dev = audio_devices.OutputDevice(0, "Fake Phones", "test", 2, 48000.0, 0.005, 0.02, True)
    monkeypatch.setattr(audio_devices, "resolve_output_device", lambda _d: dev)
    opener = FakeOpener()
    adapter = MonitorAdapter(Monitor(stream_opener=opener))
    w = make_window(adapter)
    _open(w, qtbot, source)
    _wait_until(qtbot, lambda: adapter.ready, 60, "the monitor to get the file and chain")
    mon = adapter.monitor
    assert mon.duration_s == pytest.approx(3.0)
    w.toggle_play()
    _wait_until(qtbot, lambda: adapter.position_s > 0.5, 10, "the playhead to advance")
    assert adapter.playing and mon.state.value == "playing"
    assert w.waveform.playhead.value() == pytest.approx(adapter.position_s, abs=0.2)
    reading = adapter.meters()
    assert len(reading.peak_dbfs) == 1 and reading.peak_dbfs[0] > -60.0  # mono file: one meter
    switches = mon.stats().switches
    # a chain edit is applied live (a switch), without re-running the analyses
    row = [s.kind for s in w.session.project.chain.stages].index("gate")
    w.session.set_stage_setting(row, "max_reduction_db", 9.0, coalesce=False)
    _wait_until(qtbot, lambda: mon.stats().switches > switches, 5, "the chain change to be applied")
    assert adapter.ready
    w.set_listen("original")
    _wait_until(qtbot, lambda: mon.listen.value == "original", 5, "the listen switch")
    w.chain_panel.stage_list.setCurrentRow(row)
    w.set_listen("solo")
    _wait_until(qtbot, lambda: mon.listen.value == "solo", 5, "solo")
    assert adapter.solo == row
    w.set_listen("processed")
    _wait_until(qtbot, lambda: mon.listen.value == "processed", 5, "back to processed")
    assert adapter.solo is None
    # the device vanishes: banner, monitoring off, the window still works
    opener.streams[-1].vanish_after_s = 0.0
    _wait_until(qtbot, lambda: w.banner.isVisible(), 10, "the device-lost banner")
    assert "stopped working" in w.banner_label.text() and not adapter.playing
    w.session.set_selection(Selection(0.1, 0.4))
    w.toggle_play()  # Play again retries: a new stream
    _wait_until(qtbot, lambda: adapter.playing and len(opener.streams) == 2, 10, "monitoring to come back")


@pytest.mark.slow
@pytest.mark.audio
def test_demo_in_the_real_window_on_the_jack_dummy_device(jack_server, make_window, qtbot):
    """The demo through the podcast chain on a real-time device: 2 s of play, 0 underruns."""
    from app.audio import Monitor
    from app.audio.project_monitor import MonitorAdapter
    from app.qt.main_window import DEMO

    if not DEMO.exists():
        pytest.skip("the demo episode has not been generated")
    adapter = MonitorAdapter(Monitor(output=OutputSettings(block_size=256)))
    w = make_window(adapter)
    assert w.open_demo()
    assert w.wait_for_jobs(300)
    _wait_until(qtbot, lambda: adapter.ready, 120, "the monitor to get the demo and its chain")
    assert not w.errors, w.errors
    assert w.session.project.chain.name == "podcast" and w.session.project.profile is not None
    w.session.set_selection(None)
    w.seek(3.0)
    w.toggle_play()
    _wait_until(qtbot, lambda: adapter.playing and adapter.position_s > 3.0, 20, "playback to start")
    t0, p0 = time.monotonic(), adapter.position_s
    assert 3.0 < p0 < 3.8  # it started at the cursor
    qtbot.wait(1000)
    # a slider change while playing reaches the monitor as a live switch (no re-analysis)
    gate = [s.kind for s in w.session.project.chain.stages].index("gate")
    switches = adapter.stats().switches
    tc = time.monotonic()
    w.session.set_stage_setting(gate, "max_reduction_db", 9.0, coalesce=False)
    _wait_until(qtbot, lambda: adapter.stats().switches > switches, 2, "the live chain switch")
    switch_s = time.monotonic() - tc
    lead_ms = adapter.stats().last_switch_lead_ms  # audio still played from before the switch point
    qtbot.wait(max(0, int(1000 * (t0 + 2.0 - time.monotonic()))))
    t1, p1 = time.monotonic(), adapter.position_s
    stats = adapter.stats()
    shown = (w.waveform.playhead.value(), w.before_view.playhead.value(), w.overview_playhead.value())
    w.stop()
    _wait_until(qtbot, lambda: not adapter.playing, 5, "the stop")
    qtbot.wait(100)
    print(f"JACK (realtime={jack_server.realtime}): advanced {p1 - p0:.2f} s in {t1 - t0:.2f} s; "
          f"setting change -> monitor switch in {switch_s * 1000:.0f} ms, new audio after {lead_ms:.0f} ms "
          f"more + {stats.output_latency_s * 1000:.1f} ms output latency; {stats}")
    assert not w.monitor_errors, w.monitor_errors
    assert stats.device_rate == 48000 and "JACK" in adapter.device_label
    assert p1 - p0 == pytest.approx(t1 - t0, abs=0.25)  # real-time pace
    assert stats.underruns == 0, stats
    assert switch_s < 0.5 and adapter.ready  # the edit did not wait for whole-file analyses
    assert shown == pytest.approx((p1, p1, p1), abs=0.1)  # the views follow the heard position
    assert w.waveform.playhead.value() == pytest.approx(3.0, abs=0.01)  # Stop returns to the start
