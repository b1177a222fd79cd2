"""Preview equals render with edits: the monitor started from a playhead inside an edited region
plays the exported file's same span (a fake device records what the monitor's callback wrote)."""

from __future__ import annotations

import time
from contextlib import contextmanager
from unittest import mock

import numpy as np
import pytest
import soundfile as sf

from app.audio import Monitor, devices
from app.audio.project_monitor import MonitorAdapter
from app.session import Session
from app.session.project import Project, Selection
from app.session.session import render_project
from dsp.chain import ChainSettings, StageSpec
from dsp.denoise import GateSettings
from dsp.edits import Cut, RegionGain, RoomToneFill, SpectralRepair
from dsp.roomtone import estimate_room_tone
from tests.app.audio.fake_stream import FakeOpener

DEV = devices.OutputDevice(0, "Fake Phones", "test", 2, 48000.0, 0.005, 0.02, True)


@contextmanager
def ready_adapter(project, opener):
    """A monitor on the fake device with ``project`` set and ready to play (shut down after)."""
    with mock.patch.object(devices, "resolve_output_device", return_value=DEV):
        adapter = MonitorAdapter(Monitor(stream_opener=opener))
        try:
            adapter.set_project(project)
            t0 = time.monotonic()
            while not adapter.ready:
                adapter.poll()
                assert time.monotonic() - t0 < 60, adapter.error
                time.sleep(0.02)
            yield adapter
        finally:
            adapter.shutdown()


@pytest.fixture
def project(dev_data, tmp_path):
    x, sr = sf.read(str(dev_data / "podcast" / "podcast_dev_2min_noisy.flac"), dtype="float32", start=9 * 48000,
                    frames=6 * 48000)
    sf.write(str(tmp_path / "clip.wav"), x, sr, subtype="FLOAT")
    bed, _ = sf.read(str(dev_data / "podcast" / "podcast_dev_2min_noisebed.flac"), dtype="float32", frames=6 * sr,
                     always_2d=True)
    s = Session(Project(chain=ChainSettings(stages=(StageSpec("gate", GateSettings()),))))
    s.open_source(tmp_path / "clip.wav")
    s.set_profile(estimate_room_tone(bed.T, sr, regions=[(0.0, 6.0)]))
    for e in (Cut(1.0, 1.4, keep_room_tone=True), RoomToneFill(2.0, 2.6), RegionGain(2.4, 3.2, gain_db=-8.0),
              SpectralRepair(3.0, 3.6, low_hz=1500.0, high_hz=2500.0, mode="replace")):
        s.add_edit(e)
    s.set_selection(Selection(2.1, 2.2))
    return s.project


@pytest.mark.parametrize("start_s", [2.2, 3.3])
def test_monitor_from_a_playhead_inside_an_edit_equals_the_export(project, tmp_path, start_s):
    render_project(project, tmp_path / "out.wav")
    exported, sr = sf.read(str(tmp_path / "out.wav"), dtype="float32", always_2d=True)
    opener = FakeOpener()
    with ready_adapter(project, opener) as adapter:
        adapter.play(start_s)
        time.sleep(1.0)
        assert adapter.error is None
        assert start_s + 0.3 < adapter.position_s < start_s + 1.5  # source time, across the cut before it
        adapter.stop()
        time.sleep(0.2)
        edited = adapter.monitor._source.source
        assert edited.restarts <= 3, edited.restarts  # set_source's warm-up, play; reads behind come from memory
    stream = opener.streams[-1]
    heard = stream.out[: stream.n, 0]
    o0 = round((start_s - 0.4) * sr)  # the 0.4 s cut lies before the playhead
    ref = exported[o0 : o0 + sr // 2, 0]
    first = int(np.flatnonzero(np.abs(heard) > 0)[0])
    skip = int(0.01 * sr)  # the play fade-in
    got = heard[first + skip : first + len(ref)]
    # the gate's recursive smoothing started from the playhead (with its preroll) converges to the
    # full render's: equal within 1e-6 of full scale (ARCHITECTURE-NOTES: preview equals render)
    print(f"preview from {start_s} s vs export: max difference {np.max(np.abs(got - ref[skip:])):.2e}")
    np.testing.assert_allclose(got, ref[skip:], rtol=0, atol=1e-6)
    assert np.corrcoef(got, ref[skip:])[0, 1] > 0.999999


def test_hear_original_with_edits_plays_the_source_through_the_same_cuts(project, tmp_path):
    x, sr = sf.read(project.source.path, dtype="float32")
    opener = FakeOpener()
    with ready_adapter(project, opener) as adapter:
        adapter.set_listen("original")
        adapter.play(4.0)
        time.sleep(0.8)
        adapter.stop()
        time.sleep(0.2)
    stream = opener.streams[-1]
    heard = stream.out[: stream.n, 0]
    first = int(np.flatnonzero(np.abs(heard) > 0)[0])
    skip = int(0.01 * sr)
    ref = x[round(4.0 * sr) : round(4.0 * sr) + sr // 3]  # past the cut: the source itself, unprocessed, unedited
    np.testing.assert_array_equal(heard[first + skip : first + len(ref)], ref[skip:])
