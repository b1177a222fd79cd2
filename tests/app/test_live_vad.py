"""The voice activity model beside the render (issue 18, speed): a file render fills the speech
track on another thread while it runs (``prepare_processor(live=True)``), and what it writes is
bit-identical to a render with the finished track."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest
import soundfile as sf

from app.pipeline import clean_file, prepare_processor, record_path, release
from app.presets import load_preset
from dsp.errors import Cancelled
from dsp.io import AudioReader
from dsp.presence import LiveSpeechTrack, SpeechTrack
from dsp.render import render_blocks

pytestmark = pytest.mark.model  # needs a learned model package

pytest.importorskip("onnxruntime")


@pytest.fixture
def clip(dev_data, tmp_path):
    """40 s of the dev podcast episode (speech, pauses, a noise bed), 16-bit WAV."""
    x, sr = sf.read(str(dev_data / "podcast" / "podcast_dev_2min_noisy.flac"), dtype="float32", always_2d=True)
    path = tmp_path / "episode.wav"
    sf.write(path, x[: 40 * sr], sr, subtype="PCM_16")
    return path


def _vad_threads() -> int:
    return sum(t.name == "roomtone-vad" and t.is_alive() for t in threading.enumerate())


def test_clean_renders_what_the_finished_track_renders(clip, tmp_path):
    settings = load_preset("podcast")
    with AudioReader(clip) as reader:
        processor, context = prepare_processor(reader, settings)  # the track first, then the render
        assert type(context.extras["speech"]) is SpeechTrack
        ref = np.concatenate(list(render_blocks(reader, processor)), axis=1)
    out = tmp_path / "out.wav"
    clean_file(clip, out, settings, fmt="float32")
    got, _ = sf.read(out, dtype="float32", always_2d=True)
    np.testing.assert_array_equal(got.T, ref)
    record = json.loads(record_path(out).read_text())
    speech = record["settings"]["analyses"]["speech"]  # summarised from the finished track
    assert speech["type"] == "SpeechTrack" and speech["probability"]["shape"] == [int(np.ceil(40 / 0.032))]


def test_a_live_context_fills_its_track_on_another_thread(clip):
    with AudioReader(clip) as reader:
        _, context = prepare_processor(reader, load_preset("podcast"), live=True)
    track = context.extras["speech"]
    assert isinstance(track, LiveSpeechTrack)
    finished = track.finished()  # waits for the thread
    assert finished.probability.size == int(np.ceil(40 / 0.032)) and finished.speech_s > 10.0
    release(context)


def test_a_cancelled_render_stops_the_model_too(clip, tmp_path, monkeypatch):
    calls, stopped = [], []
    real_cancel = LiveSpeechTrack.cancel
    monkeypatch.setattr(LiveSpeechTrack, "cancel", lambda self: (stopped.append(self), real_cancel(self)))

    def cancel():
        calls.append(1)
        return len(calls) > 1

    with pytest.raises(Cancelled):
        clean_file(clip, tmp_path / "out.wav", load_preset("podcast"), cancel=cancel)
    deadline = time.monotonic() + 20.0
    while _vad_threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(stopped) == 1 and stopped[0].cancelled
    assert _vad_threads() == 0
    assert not list(tmp_path.glob("out*"))
