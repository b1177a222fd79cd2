"""Monitor behaviour that needs no sound server: a fake stream paced by a thread."""

from __future__ import annotations

import time
from unittest import mock

import numpy as np
import pytest

from app.audio import ListenMode, Monitor, MonitorState, OutputSettings, devices
from app.audio.solo import without_stage
from dsp.engine import Chain, DryWet, Gain
from dsp.errors import DeviceError, ParameterError
from dsp.render import ArraySource
from tests.app.audio.fake_stream import FakeOpener

DEV = devices.OutputDevice(0, "Fake Phones", "test", 2, 48000.0, 0.005, 0.02, True)


@pytest.fixture
def fake_device():
    with mock.patch.object(devices, "resolve_output_device", return_value=DEV):
        yield


def tone(seconds=3.0, sr=48000):
    t = np.arange(int(seconds * sr)) / sr
    return ArraySource((0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)[None], sr)


def test_a_vanished_device_turns_monitoring_off_with_a_clear_message(fake_device):
    opener = FakeOpener()
    m = Monitor(stream_opener=opener)
    try:
        m.set_source(tone(), lambda: Gain(-6.0))
        m.play()
        time.sleep(0.2)
        assert m.state is MonitorState.PLAYING
        opener.streams[0].vanish_after_s = 0.0
        t0 = time.monotonic()
        while m.state is not MonitorState.OFF and time.monotonic() - t0 < 5:
            time.sleep(0.02)
        assert m.state is MonitorState.OFF
        assert "Fake Phones" in m.error and "stopped working" in m.error and "Preferences" in m.error
        pos = m.position_s
        assert 0.1 < pos < 3.0  # the playhead stays where the sound stopped
        m.play()  # a new stream opens: monitoring recovers
        time.sleep(0.1)
        assert m.state is MonitorState.PLAYING and len(opener.streams) == 2
    finally:
        m.shutdown()


def test_errors_from_a_bad_chain_or_bad_requests_do_not_stop_playback(fake_device):
    m = Monitor(stream_opener=FakeOpener())
    try:
        m.set_source(tone(), lambda: Gain(-6.0))
        m.play()

        def broken():
            raise ParameterError("gate.max_reduction_db must be between 0 and 30 dB, got 99")

        m.set_chain(broken)
        m.sync()
        assert "max_reduction_db" in m.error and m.state is MonitorState.PLAYING
        with pytest.raises(ParameterError, match="solo needs a stage"):
            m.set_listen(ListenMode.SOLO)
        time.sleep(0.1)
        assert m.state is MonitorState.PLAYING and m.underruns == 0
    finally:
        m.shutdown()


def test_solo_plays_what_one_stage_removes(fake_device):
    opener = FakeOpener()
    m = Monitor(stream_opener=opener)
    try:
        # Stage "A" = -6 dB, stage "B" = -6 dB: soloing B plays chain_without_B - chain.
        full = lambda: DryWet(Chain([Gain(-6.0), Gain(-6.0)]))  # noqa: E731
        without_b = lambda: DryWet(Chain([Gain(-6.0)]))  # noqa: E731
        m.set_source(tone(), full, solo_reference=without_b)
        m.set_listen("solo")
        m.play()
        time.sleep(0.6)
        m.stop()
        time.sleep(0.3)
        out = opener.streams[0].out[: opener.streams[0].n, 0]
        seg = out[int(0.2 * 48000) : int(0.45 * 48000)]
        a = 10 ** (-6 / 20)
        level = np.sqrt(2 * np.mean(seg.astype(np.float64) ** 2)) / 0.3
        assert level == pytest.approx(a - a * a, rel=0.02)
    finally:
        m.shutdown()


def test_without_stage_bypasses_exactly_one_stage():
    from dsp.chain import ChainSettings, StageSpec

    s = ChainSettings(stages=(StageSpec("x", None), StageSpec("y", None)), listen="removed")
    r = without_stage(s, 1)
    assert [st.bypass for st in r.stages] == [False, True] and r.listen == "processed"
    with pytest.raises(ParameterError):
        without_stage(s, 2)


def test_output_settings_are_validated():
    with pytest.raises(ParameterError, match="buffer size"):
        OutputSettings(block_size=300)
    with pytest.raises(ParameterError):
        OutputSettings(guard_ms=200.0, buffer_ms=150.0)


def test_no_device_at_all_is_a_device_error():
    with mock.patch.object(devices, "list_output_devices", return_value=[]):
        with pytest.raises(DeviceError, match="no audio output device found"):
            devices.resolve_output_device(None)


def test_rescan_re_enumerates_only_without_an_open_stream(fake_device):
    """Retry/Preferences: PortAudio is re-initialised to see devices started since launch, never
    under an open stream (an idle one is closed first; while playing nothing is done)."""
    opener = FakeOpener()
    m = Monitor(stream_opener=opener)
    calls = []
    try:
        with mock.patch.object(devices, "rescan", side_effect=lambda: calls.append(m._stream)):
            m.set_source(tone(), lambda: Gain(-6.0))
            m.play()
            time.sleep(0.1)
            m.rescan_devices()
            assert calls == [] and m.state is MonitorState.PLAYING  # playing: left alone
            m.stop()
            t0 = time.monotonic()
            while m.state is MonitorState.PLAYING and time.monotonic() - t0 < 5:
                time.sleep(0.02)
            m.rescan_devices()
            assert calls == [None]  # re-enumerated with no stream open
            assert m.state is MonitorState.OFF
            m.play()  # Play opens a stream on the new list
            time.sleep(0.1)
            assert m.state is MonitorState.PLAYING and len(opener.streams) == 2
    finally:
        m.shutdown()


def test_rescan_says_when_the_sound_server_is_lost(fake_device):
    m = Monitor(stream_opener=FakeOpener())
    try:
        with mock.patch.object(devices, "sound_server_lost", return_value=True):
            with pytest.raises(DeviceError, match="restart"):
                m.rescan_devices()
    finally:
        m.shutdown()
