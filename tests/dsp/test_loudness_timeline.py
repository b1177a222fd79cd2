"""Loudness timeline: streamed energies, curves, phrases and the speaker-level spread."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dsp.loudness_timeline import (
    Phrase,
    TimelineMeter,
    build_timeline,
    gated_loudness,
    loudness_timeline,
    speaker_spread,
    timeline_energies,
)
from dsp.presence import SpeechTrack
from dsp.render import ArraySource

SR = 48000


def _sine(db: float, seconds: float, sr: int = SR, hz: float = 997.0) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (10 ** (db / 20) * np.sin(2 * np.pi * hz * t)).astype(np.float32)


@pytest.mark.parametrize("block", [64, 65, 511, 4096, 48000])
def test_block_size_does_not_change_the_energies(block):
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal((2, SR * 2 + 123))).astype(np.float32)
    whole = TimelineMeter(SR, 2)
    whole.add(x)
    parts = TimelineMeter(SR, 2)
    for s in range(0, x.shape[1], block):
        parts.add(x[:, s : s + block])
    assert whole.energies().size == 20  # the trailing partial sub-block is left out
    np.testing.assert_allclose(parts.energies(), whole.energies(), rtol=1e-10)


def test_sine_reads_its_bs1770_loudness():
    # a 997 Hz sine at -20 dBFS reads -23.0 LUFS (0 dBFS sine: -3.01 LUFS)
    tl = loudness_timeline(_sine(-20.0, 10.0)[None], SR)
    mid = tl.short_term_lufs[40:60]
    assert np.all(np.abs(mid - (-23.01)) < 0.1), mid
    assert abs(tl.momentary_lufs[50] - (-23.01)) < 0.1
    assert tl.times_s[0] == pytest.approx(0.05)
    assert tl.energy.size == 100


def test_block_source_streams_like_an_array():
    rng = np.random.default_rng(3)
    x = (0.05 * rng.standard_normal((1, SR * 3))).astype(np.float32)
    np.testing.assert_allclose(timeline_energies(ArraySource(x, SR), SR), timeline_energies(x, SR), rtol=1e-12)


def test_gated_loudness_gates_silence_out():
    e = np.full(50, 10 ** ((-20 + 0.691) / 10))
    assert gated_loudness(e) == pytest.approx(-20.0, abs=1e-9)
    with_gap = np.concatenate([e, np.full(50, 1e-12)])
    assert gated_loudness(with_gap) == pytest.approx(-20.0, abs=0.2)  # the silent half is gated (edge blocks pass)
    assert gated_loudness(e[:2]) == pytest.approx(-20.0, abs=1e-9)  # shorter than a block: the mean
    assert gated_loudness(np.zeros(0)) == -math.inf


def test_vad_phrases_hysteresis_merge_and_minimum():
    frame = 0.032
    p = np.zeros(200, np.float32)
    p[10:40] = 0.9          # a phrase (0.32-1.28 s)
    p[40:45] = 0.4          # still above the leave threshold: the phrase continues to 1.44 s
    p[50:70] = 0.9          # 1.6-2.24 s: gap of 160 ms < 300 ms -> merged with the first
    p[120:124] = 0.9        # 128 ms alone: dropped (< 200 ms)
    p[150:170] = 0.8        # 4.8-5.44 s
    energy = np.full(int(200 * frame / 0.1), 1e-3)
    tl = build_timeline(energy, 16000, speech=SpeechTrack(p, frame, "vad"))
    spans = [(round(ph.start_s, 3), round(ph.end_s, 3)) for ph in tl.phrases]
    assert spans == [(0.32, 2.24), (4.8, 5.44)]
    assert tl.detector == "vad"


def test_energy_detector_finds_the_tone_bursts_over_the_floor():
    rng = np.random.default_rng(2)
    x = (rng.standard_normal(SR * 8) * 10 ** (-60 / 20)).astype(np.float32)
    for a, b in ((1.0, 2.5), (4.0, 6.0)):
        x[int(a * SR) : int(b * SR)] += _sine(-20.0, b - a)
    tl = loudness_timeline(x[None], SR)
    assert tl.detector == "energy"
    assert len(tl.phrases) == 2
    for ph, (a, b) in zip(tl.phrases, ((1.0, 2.5), (4.0, 6.0)), strict=True):
        assert abs(ph.start_s - a) <= 0.25 and abs(ph.end_s - b) <= 0.25
        assert ph.loudness_lufs == pytest.approx(-23.0, abs=0.3)


def test_spread_reads_the_distance_between_two_clusters_whatever_their_shares():
    rng = np.random.default_rng(5)
    loud = -20 + rng.normal(0, 1.5, 30)
    quiet = -32 + rng.normal(0, 1.5, 8)  # the quiet voice talks a fifth of the time
    v = np.concatenate([loud, quiet])
    w = rng.uniform(1, 3, v.size)
    assert speaker_spread(v, w) == pytest.approx(12.0, abs=1.5)
    assert speaker_spread([-20.0], [1.0]) != speaker_spread([-20.0], [1.0])  # nan: one phrase
    assert speaker_spread([-20.0, -20.0, -20.0], [1, 1, 1]) == pytest.approx(0.0)


def test_render_is_measured_over_the_source_phrases():
    ph = (Phrase(0.5, 1.5, -30.0),)
    energy = np.full(30, 10 ** ((-18 + 0.691) / 10))
    tl = build_timeline(energy, SR, phrases=ph)
    assert tl.detector == "given"
    assert [(p.start_s, p.end_s) for p in tl.phrases] == [(0.5, 1.5)]
    assert tl.phrases[0].loudness_lufs == pytest.approx(-18.0, abs=1e-9)
    assert tl.summary()["phrases"] == 1


def test_two_voices_twelve_db_apart_read_twelve_lu(dev_data):
    from tests.two_voices import two_voices

    x, sr = two_voices(dev_data, 12.0)
    tl = loudness_timeline(x[None], sr)
    assert tl.spread_lu == pytest.approx(12.0, abs=2.0), tl.summary()
    x0, _ = two_voices(dev_data, 0.0)
    assert loudness_timeline(x0[None], sr).spread_lu < 4.0  # one level: only the phrases' own scatter

