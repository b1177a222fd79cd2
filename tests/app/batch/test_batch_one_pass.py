"""Batch decodes each file as few times as it can, and gets what the separate passes got.

The measuring pass feeds the room-tone screen's frame levels and the voice activity model (one
decode of the source for the three); the holes are found beside the render from what it reads
and writes (no decode of the source or the chain output for them). Each test compares with the
separate pass it replaced, bit for bit, and checks that a failure on either side of a stream
leaves no thread waiting.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

import app.batch.worker as worker
from app.batch.worker import (
    BatchOptions,
    _find_holes,
    _LiveHoles,
    _measure_source,
    _Progress,
    _render_chain,
)
from app.pipeline import adjust_settings, release, resolve_profile
from app.presets import load_preset
from dsp.chain import ChainSettings
from dsp.errors import RoomtoneError
from dsp.io import AudioReader


def _setup(dev_data):
    src = dev_data / "podcast" / "podcast_dev_2min_noisy.flac"
    opts = BatchOptions(chain=load_preset("podcast").to_dict(), loudness="podcast", hole_audit=False)
    return src, opts, ChainSettings.from_dict(opts.chain), _Progress(0, dict(worker.PHASES), None)


def test_the_measuring_pass_gives_the_room_tone_and_speech_track_of_separate_passes(dev_data):
    from models.vad import speech_probabilities

    path, opts, settings, progress = _setup(dev_data)
    src = _measure_source(path, settings, opts, progress)
    try:
        track = src.speech["speech"].finished()
    finally:
        release(src.speech)
    with AudioReader(path) as reader:
        profile, origin = resolve_profile(reader, settings, auto_profile=opts.auto_profile, source_name=str(path))
        probs = speech_probabilities(reader, reader.sample_rate)
    assert origin == src.origin == "automatic"
    np.testing.assert_array_equal(np.asarray(src.profile.mean_power), np.asarray(profile.mean_power))
    assert src.profile.regions == profile.regions
    np.testing.assert_array_equal(np.asarray(track.probability), np.asarray(probs, np.float32))


def test_without_the_model_the_measuring_pass_does_not_wait_for_it(dev_data, monkeypatch):
    from models.versions import ModelUnavailable

    def unavailable(*a, **k):
        raise ModelUnavailable("silero-vad model file is missing")

    monkeypatch.setattr("models.vad.load_model", unavailable)
    path, opts, settings, progress = _setup(dev_data)
    box: list = []
    t = threading.Thread(target=lambda: box.append(_measure_source(path, settings, opts, progress)), daemon=True)
    t.start()
    t.join(60)
    assert not t.is_alive(), "the measuring pass waited for a model that cannot run"
    assert "speech_detector" in box[0].speech


@pytest.mark.slow
def test_holes_found_beside_the_render_equal_those_found_from_the_files(dev_data, tmp_path):
    path, opts, settings, progress = _setup(dev_data)
    src = _measure_source(path, settings, opts, progress)
    settings = adjust_settings(settings, refill="off")  # holes left to find
    side = worker.ThreadPoolExecutor(1)
    try:
        live = _LiveHoles(side, settings, src.profile, sample_rate=src.sr, channels=src.ch, frames=src.frames)
        chain = tmp_path / "chain.flac"
        pre_gain = 1.4  # as a loudness target would set it: the file holds the chain output times this
        _, _, used, hum = _render_chain(path, chain, settings, src.profile, fmt="flac16", pre_gain=pre_gain,
                                        speech=src.speech, live=live)
        assert used == pre_gain
        job = live.result()
        assert job is not None
        holes, mask = job.result(timeout=60)
        # a gain that clips is rendered again, lower: the holes then come from the files
        redo = _LiveHoles(side, settings, src.profile, sample_rate=src.sr, channels=src.ch, frames=src.frames)
        _, _, lower, _ = _render_chain(path, tmp_path / "redo.flac", settings, src.profile, fmt="flac16",
                                       pre_gain=3.0, speech=src.speech, live=redo)
        assert lower < 3.0 and redo.result() is None
    finally:
        release(src.speech)
        side.shutdown()
    want, want_mask = _find_holes(path, chain, pre_gain, settings, src.profile, hum=hum, audit=False, tmp_dir=tmp_path)
    assert holes["remaining"]["count"] > 0  # there is something to compare
    # the file holds the chain output rounded to 16 bits; beside the render it is taken unrounded
    for key in ("count", "hole_rate", "hole_time_s"):
        assert holes["remaining"][key] == pytest.approx(want["remaining"][key], rel=0.02, abs=1e-9), key
    assert holes["hum_bins_excluded"] == want["hum_bins_excluded"]
    assert abs(mask.hole_bins - want_mask.hole_bins) <= 0.02 * want_mask.hole_bins
    assert np.abs(mask.mask - want_mask.mask).mean() < 0.01


def test_a_render_that_fails_leaves_the_hole_finder_free(dev_data, tmp_path, monkeypatch):
    import app.pipeline

    path, opts, settings, progress = _setup(dev_data)
    src = _measure_source(path, settings, opts, progress)
    real = app.pipeline.ChainTap.__call__
    calls = [0]

    def failing(self, block):
        calls[0] += 1
        if calls[0] == 3:
            raise RoomtoneError("disk full (simulated)")
        return real(self, block)

    monkeypatch.setattr(app.pipeline.ChainTap, "__call__", failing)
    side = worker.ThreadPoolExecutor(1)
    try:
        live = _LiveHoles(side, settings, src.profile, sample_rate=src.sr, channels=src.ch, frames=src.frames)
        with pytest.raises(RoomtoneError, match="simulated"):
            _render_chain(path, tmp_path / "chain.flac", settings, src.profile, fmt="flac16", pre_gain=1.0,
                          speech=src.speech, live=live)
        assert live.job.done()  # _render_chain waited for it: the side thread is free
        assert side.submit(lambda: 42).result(timeout=10) == 42
    finally:
        release(src.speech)
        side.shutdown()
