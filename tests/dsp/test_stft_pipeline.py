"""The STFT's two-thread pipeline: same output as one thread, bit for bit; errors and threads handled."""

from __future__ import annotations

import pickle
import threading

import numpy as np
import pytest

from app.presets import load_preset
from dsp import stft
from dsp.chain import BuildContext, analyse_source, build_chain
from dsp.engine import AudioSpec
from dsp.render import ArraySource, render_array
from dsp.roomtone import RoomToneSettings, estimate_room_tone
from dsp.stft import SpectralStage, StftProcessor, StftSettings, pipeline_batch_frames

SR = 48000


def noisy_speechlike(seconds=12.0, seed=3):
    """Noise with bursts (speech-like presence changes) and a 50 Hz hum: every stage has work."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    env = 1 + 20 * (np.sin(2 * np.pi * 0.7 * t) > 0.3)
    x = 0.004 * rng.standard_normal(n) * env + 0.02 * np.sin(2 * np.pi * 50.0 * t)
    return x.astype(np.float32)[None]


def podcast_chain(x):
    settings = load_preset("podcast")
    prof = estimate_room_tone(x, SR, regions=[(0.05, 0.4)], settings=RoomToneSettings(stft=StftSettings()))
    ctx = analyse_source(ArraySource(x, SR), settings, BuildContext(SR, x.shape[0], profile=prof))
    return lambda: build_chain(settings, ctx)


def stft_of(chain):
    """The StftProcessor inside a built chain (DryWet around a Chain)."""
    return next(p for p in chain.wet.processors if isinstance(p, StftProcessor))


class Recorder(SpectralStage):
    """Records which thread ran it and the absolute frames it saw, in order."""

    def __init__(self):
        self.frames, self.threads = [], set()

    def process_frames(self, fb):
        self.threads.add(threading.get_ident())
        self.frames.extend(range(fb.first_frame, fb.first_frame + fb.frames))


class Fails(SpectralStage):
    def __init__(self, at_frame):
        self.at_frame = at_frame

    def process_frames(self, fb):
        if fb.first_frame + fb.frames > self.at_frame:
            raise RuntimeError("stage failed on purpose")


def test_pipelined_render_equals_one_thread_bit_for_bit(monkeypatch):
    x = noisy_speechlike()
    make = podcast_chain(x)
    monkeypatch.setenv("ROOMTONE_STFT_THREADS", "1")
    one = render_array(x, SR, make())
    monkeypatch.setenv("ROOMTONE_STFT_THREADS", "2")
    chain = make()
    two = render_array(x, SR, chain, block_size=262144)
    np.testing.assert_array_equal(two, one)
    # the pipeline really ran: the stage times were measured and a worker thread exists
    inner = stft_of(chain)
    assert inner._executor is not None and sum(inner._stage_seconds) > 0
    # odd block sizes (sub-batches that do not divide the block) and a reused, reset processor
    np.testing.assert_array_equal(render_array(x, SR, chain, block_size=300_001), one)
    assert not np.array_equal(one, x[:, : one.shape[1]])  # the chain did change the signal


def test_every_stage_sees_every_frame_once_and_in_order(monkeypatch):
    monkeypatch.setenv("ROOMTONE_STFT_THREADS", "2")
    first, second = Recorder(), Recorder()
    p = StftProcessor([first, second], settings=StftSettings(n_fft=2048))
    x = noisy_speechlike(seconds=20.0)
    render_array(x, SR, p, block_size=262144)
    assert first.frames == second.frames == list(range(len(first.frames)))
    # the work was shared by two threads (the split may move a stage between blocks, never within one)
    assert len(first.threads | second.threads) == 2


def test_split_balances_the_measured_times():
    p = StftProcessor([Recorder(), Recorder(), Recorder()], settings=StftSettings(n_fft=2048))
    p.prepare(AudioSpec(SR, 1))
    p._stage_seconds = [1.0, 1.0, 2.0]
    assert p._split_point() == 2  # worker 2.0, caller 2.0
    p._fixed_seconds = [2.0, 0.0]  # the worker also frames and transforms: a stage moves to the caller
    assert p._split_point() == 1  # worker 3.0, caller 3.0
    p._fixed_seconds = [0.0, 3.0]  # the caller's inverse transforms outweigh: every stage on the worker
    assert p._split_point() == 3
    p._stage_seconds, p._fixed_seconds = [0.0, 0.0, 0.0], [0.0, 0.0]
    assert p._split_point() == 2  # nothing measured yet: half


def test_short_blocks_stay_on_the_calling_thread(monkeypatch):
    monkeypatch.setenv("ROOMTONE_STFT_THREADS", "2")
    rec = Recorder()
    p = StftProcessor([rec], settings=StftSettings(n_fft=2048))
    render_array(noisy_speechlike(seconds=3.0), SR, p, block_size=4096)
    assert p._executor is None
    assert rec.threads == {threading.get_ident()}


def test_an_error_in_the_worker_reaches_the_caller(monkeypatch):
    monkeypatch.setenv("ROOMTONE_STFT_THREADS", "2")
    p = StftProcessor([Fails(at_frame=300), Recorder()], settings=StftSettings(n_fft=2048))
    with pytest.raises(RuntimeError, match="on purpose"):
        render_array(noisy_speechlike(seconds=12.0), SR, p, block_size=262144)
    p.close()
    assert p._executor is None


def test_thread_setting_and_pickling(monkeypatch):
    monkeypatch.setenv("ROOMTONE_STFT_THREADS", "1")
    assert stft.stft_threads() == 1
    monkeypatch.setenv("ROOMTONE_STFT_THREADS", "8")
    assert stft.stft_threads() == 2
    monkeypatch.setenv("ROOMTONE_STFT_THREADS", "nonsense")
    assert stft.stft_threads() == 1
    assert pipeline_batch_frames(1025) == 63 and pipeline_batch_frames(257) == 255 and pipeline_batch_frames(10**6) == 8
    monkeypatch.setenv("ROOMTONE_STFT_THREADS", "2")
    p = StftProcessor([Recorder()], settings=StftSettings(n_fft=2048))
    render_array(noisy_speechlike(seconds=12.0), SR, p, block_size=262144)
    assert p._executor is not None
    clone = pickle.loads(pickle.dumps(p))
    assert clone._executor is None
