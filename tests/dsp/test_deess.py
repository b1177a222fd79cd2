"""De-esser (issue 23): the analysis grid against a naive STFT, the band weights, the must-show
behaviours on a synthetic voice (only loud sibilant frames, only the band, at most the set
amount, no reduction = the STFT's identity), events, and settings validation."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import scipy.signal

from dsp.chain import ChainSettings, StageSpec
from dsp.deess import DeessSettings, analyse_sibilance, band_weights, frame_band_powers
from dsp.errors import ParameterError
from dsp.presence import SpeechTrack
from dsp.render import ArraySource, render_array
from dsp.stft import StftSettings, stft_windows

SR = 48000


def _signal(seed=0):
    """A harmonic voice (vowels) with hiss bursts ("s") of rising level between them, known places."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(6.0 * SR)) / SR
    voice = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 25))
    env = (np.sin(2 * np.pi * 1.5 * t) > -0.3).astype(float)
    x = 0.1 * voice * env
    sos = scipy.signal.butter(6, [4500, 9000], btype="bandpass", fs=SR, output="sos")
    s = scipy.signal.sosfilt(sos, rng.standard_normal(t.size))
    bursts = []
    for i, start in enumerate(np.arange(0.5, 5.5, 0.6)):
        a, b = int(start * SR), int((start + 0.12) * SR)
        gain = 0.01 * 10 ** (i * 3 / 20)  # some quiet, some loud
        x[a:b] += gain * s[a:b] / np.sqrt(np.mean(s[a:b] ** 2)) * np.hanning(b - a) ** 0.3
        bursts.append((a, b, gain))
    x += 1e-4 * rng.standard_normal(t.size)
    return x.astype(np.float32), bursts


def _render(x, settings=None, track=None):
    """Render through the de-esser alone; without ``track`` no voice activity track (every frame
    may be the voice: the synthetic voice is not one the model knows)."""
    settings = settings or DeessSettings()
    from app.pipeline import prepare_processor

    chain = ChainSettings(stages=(StageSpec("deess", settings),))
    src = ArraySource(x[None], SR)
    proc, ctx = prepare_processor(src, chain, speech={} if track is None else {"speech": track})
    return render_array(x[None], SR, proc)[0], ctx


def _band_db(x, lo, hi, a, b):
    f, p = scipy.signal.welch(x[a:b].astype(np.float64), SR, nperseg=1024)
    return 10 * np.log10(p[(f >= lo) & (f <= hi)].sum() + 1e-30)


def test_band_weights_are_flat_inside_zero_outside_and_smooth():
    f = np.linspace(0, 24000, 4801)
    w = band_weights(f, 4000.0, 10000.0)
    assert np.all(w[(f >= 4000) & (f <= 10000)] == 1.0)
    assert np.all(w[f < 4000 * 2 ** (-1 / 3)] == 0.0) and np.all(w[f > 10000 * 2 ** (1 / 3)] == 0.0)
    assert np.max(np.abs(np.diff(w))) < 0.05


def test_analysis_frames_match_a_naive_stft_on_the_chain_grid():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 5000)).astype(np.float32)
    n_fft, hop = 512, 128
    band, full = frame_band_powers(ArraySource(x, SR), n_fft, hop, 4000.0, 10000.0)
    win, _ = stft_windows(n_fft, hop)
    freqs = np.fft.rfftfreq(n_fft, 1 / SR)
    wb = band_weights(freqs, 4000.0, 10000.0)
    padded = np.concatenate([np.zeros((2, n_fft - hop)), x, np.zeros((2, n_fft))], axis=1)
    for f in (0, 1, 7, band.size - 1):
        seg = padded[:, f * hop : f * hop + n_fft]  # frame f starts at f*hop - (n_fft - hop)
        p = (np.abs(np.fft.rfft(seg * win, axis=-1)) ** 2).sum(axis=0)
        assert band[f] == pytest.approx(p @ wb, rel=1e-4)
        assert full[f] == pytest.approx(p[freqs >= 80].sum(), rel=1e-4)
    assert band.size == 5000 // hop + 1


def test_only_the_loud_sibilants_lose_band_energy_by_at_most_the_set_amount():
    x, bursts = _signal()
    y, ctx = _render(x, DeessSettings(max_reduction_db=6.0))
    lat_free = y  # render_array trims the latency
    changes = [_band_db(x, 4000, 10000, a, b) - _band_db(lat_free, 4000, 10000, a, b) for a, b, _ in bursts]
    assert max(changes) == pytest.approx(6.0, abs=1.0)  # the loudest are cut by the cap
    assert min(changes) < 0.5  # the quietest, under the typical level, are left alone
    assert all(c <= 6.5 for c in changes)
    # below the band, nothing changes (within the STFT's rounding), also on the sibilant frames
    a, b, _ = bursts[-1]
    assert abs(_band_db(x, 100, 2500, a, b) - _band_db(y, 100, 2500, a, b)) < 0.1
    # vowel-only stretches are untouched
    hits = np.zeros(x.size, bool)
    for a, b, _ in bursts:
        hits[a - SR // 20 : b + SR // 20] = True
    np.testing.assert_allclose(y[~hits], x[~hits], atol=2e-6)
    events = ctx.extras["deess_events"]
    assert events and all(e.kind == "sibilance" for e in events)
    loud = [(a / SR, b / SR) for a, b, _ in bursts[-3:]]
    for a, b in loud:
        assert any(e.start_s < b and e.end_s > a for e in events)


def test_no_reduction_is_the_stft_identity():
    x, _ = _signal(seed=2)
    y, _ = _render(x, DeessSettings(max_reduction_db=0.0))
    np.testing.assert_allclose(y, x, atol=2e-6)


def test_plan_is_data_on_the_grid_it_was_made_for():
    x, _ = _signal()
    n_fft, hop = StftSettings().resolve(SR)
    plan = analyse_sibilance(ArraySource(x[None], SR), DeessSettings(), n_fft=n_fft, hop_length=hop)
    assert plan.reduction_db.dtype == np.float32 and plan.reduction_db.max() <= DeessSettings().max_reduction_db
    s = plan.summary()
    assert s["events"] == len(plan.events) and s["band_hz"] == [4000.0, 10000.0]


@pytest.mark.parametrize("bad", [dict(max_reduction_db=-1), dict(band_low_hz=9000, band_high_hz=8000),
                                 dict(typical_percentile=0), dict(min_share_percent=101),
                                 dict(threshold_over_typical_db=float("inf"))])
def test_settings_are_validated(bad):
    with pytest.raises(ParameterError, match="deess"):
        replace(DeessSettings(), **bad)


def test_only_what_the_voice_activity_track_calls_the_voice_is_de_essed():
    """Sibilance belongs to the voice: a burst the track calls no voice (crickets, hiss in a
    pause) keeps its band; the same bursts inside the voice are reduced."""
    x, bursts = _signal()
    frame_s, edge_s = 0.032, 4.4
    y_all, _ = _render(x)
    cut = [(a, b) for a, b, _ in bursts if _band_db(x, 4500, 9000, a, b) - _band_db(y_all, 4500, 9000, a, b) > 1.0]
    p = np.zeros(int(np.ceil(x.size / SR / frame_s)) + 1, np.float32)
    p[int(edge_s / frame_s):] = 0.95  # the voice from 4.4 s on only
    y, ctx = _render(x, track=SpeechTrack(p, frame_s))
    inside = [(a, b) for a, b in cut if a / SR > edge_s + 2 * frame_s]
    outside = [(a, b) for a, b in cut if b / SR < edge_s - 2 * frame_s]
    assert inside and outside  # the track splits the bursts that are reduced without it
    for a, b in inside:
        assert _band_db(x, 4500, 9000, a, b) - _band_db(y, 4500, 9000, a, b) > 1.0
    for a, b in outside:
        assert abs(_band_db(x, 4500, 9000, a, b) - _band_db(y, 4500, 9000, a, b)) < 0.1
    assert ctx.extras["deess_events"]
    assert all(e.start_s > edge_s - 2 * frame_s for e in ctx.extras["deess_events"])
