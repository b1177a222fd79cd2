"""Unit tests of the quality benchmark's metric implementations (bench/metrics.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench import metrics

SR = 16000


def _noise(seconds: float, seed: int = 0) -> np.ndarray:
    return (0.05 * np.random.default_rng(seed).standard_normal(int(seconds * SR))).astype(np.float32)


def _all_noise_mask(p: np.ndarray) -> np.ndarray:
    return np.ones(len(p), bool)


# -- SI-SDR --------------------------------------------------------------------------------------
def test_si_sdr_of_a_scaled_copy_is_infinite_or_very_high():
    s = _noise(1.0)
    assert metrics.si_sdr(s, 0.3 * s) > 100.0


def test_si_sdr_matches_the_added_noise_level():
    rng = np.random.default_rng(1)
    s = rng.standard_normal(SR * 4)
    e = rng.standard_normal(SR * 4) * 10 ** (-10 / 20)  # 10 dB below, uncorrelated
    assert metrics.si_sdr(s, s + e) == pytest.approx(10.0, abs=0.2)
    # scale invariance: the gain of the estimate does not matter
    assert metrics.si_sdr(s, 5.0 * (s + e)) == pytest.approx(metrics.si_sdr(s, s + e), abs=1e-9)


def test_si_sdr_of_silence_reference_is_nan():
    assert math.isnan(metrics.si_sdr(np.zeros(100), np.ones(100)))


# -- noise-only measures ------------------------------------------------------------------------
def test_passthrough_hole_rate_matches_the_exponential_law_for_gaussian_noise():
    x = _noise(10.0)
    p = metrics.power_spectrogram(x, SR)
    ns = metrics.noise_scores(p, p, _all_noise_mask(p))
    # |X|^2 / mean is exponential(1) for Gaussian noise: P(below -20 dB) = 1 - exp(-0.01)
    assert ns.hole_rate == pytest.approx(1.0 - math.exp(-0.01), abs=0.002)
    assert ns.kurtosis_ratio == pytest.approx(1.0)
    assert ns.attenuation_db == pytest.approx(0.0, abs=1e-9)


def test_kurtosis_of_gaussian_noise_power_is_six_and_identical_signals_give_one():
    x = _noise(10.0, seed=3)
    p = metrics.power_spectrogram(x, SR)
    valid = metrics.valid_bins(p.mean(axis=0))
    assert metrics._kurtosis(p[:, valid]) == pytest.approx(6.0, rel=0.08)
    y = _noise(10.0, seed=4)  # another realisation of the same noise: ratio about 1
    q = metrics.power_spectrogram(y, SR)
    assert metrics.noise_scores(p, q, _all_noise_mask(p)).kurtosis_ratio == pytest.approx(1.0, abs=0.1)


def test_musical_noise_raises_the_kurtosis_ratio():
    """Zeroing most bins at random (isolated surviving peaks) is musical noise: ratio >> 1."""
    x = _noise(5.0)
    p = metrics.power_spectrogram(x, SR)
    keep = np.random.default_rng(2).random(p.shape) < 0.1
    ns = metrics.noise_scores(p, p * keep, _all_noise_mask(p))
    assert ns.kurtosis_ratio > 3.0
    assert ns.hole_rate > 0.85


def test_a_plain_gain_changes_attenuation_only():
    x = _noise(5.0)
    p_in = metrics.power_spectrogram(x, SR)
    p_out = metrics.power_spectrogram(0.5 * x, SR)
    ns = metrics.noise_scores(p_in, p_out, _all_noise_mask(p_in))
    assert ns.attenuation_db == pytest.approx(20 * math.log10(2), abs=1e-6)
    assert ns.kurtosis_ratio == pytest.approx(1.0, abs=1e-9)
    # 6 dB down: holes where the input was already 14 dB below its floor, 1 - exp(-10**-1.4)
    assert ns.hole_rate == pytest.approx(1.0 - math.exp(-(10 ** -1.4)), abs=0.005)


def test_30_db_down_is_nearly_all_holes():
    x = _noise(5.0)
    p_in = metrics.power_spectrogram(x, SR)
    p_out = metrics.power_spectrogram(x * 10 ** (-30 / 20), SR)
    ns = metrics.noise_scores(p_in, p_out, _all_noise_mask(p_in))
    assert ns.hole_rate == pytest.approx(1.0 - math.exp(-10.0), abs=0.001)
    assert ns.attenuation_db == pytest.approx(30.0, abs=1e-6)


def test_too_few_noise_frames_give_nan():
    p = metrics.power_spectrogram(_noise(1.0), SR)
    mask = np.zeros(len(p), bool)
    mask[:2] = True
    ns = metrics.noise_scores(p, p, mask)
    assert math.isnan(ns.hole_rate) and ns.noise_frames == 2


def test_valid_bins_drop_dc_and_dead_bands():
    floor = np.ones(257)
    floor[200:] = 1e-9  # a dead band 90 dB down (lossy source cut-off)
    ok = metrics.valid_bins(floor)
    assert not ok[0] and ok[1:200].all() and not ok[200:].any()


def test_noise_only_frames_follow_the_clean_reference():
    """Speech bursts with pauses: pauses are noise-only, bursts are not, regions lie in pauses."""
    t = np.arange(6 * SR) / SR
    clean = np.where((t % 2.0) < 1.0, 0.3 * np.sin(2 * np.pi * 220 * t), 0.0).astype(np.float32)
    noise = _noise(6.0) * 0.1
    nf = metrics.noise_only_frames(clean, clean + noise, SR)
    n_fft, hop = metrics.analysis_grid(SR)
    centre = (np.arange(len(nf.mask)) * hop + n_fft / 2) / SR
    in_pause = (centre % 2.0) > 1.1
    in_burst = ((centre % 2.0) > 0.05) & ((centre % 2.0) < 0.95)
    assert nf.mask[in_pause].mean() > 0.9
    assert not nf.mask[in_burst].any()
    assert not nf.fallback
    assert nf.regions and all((a % 2.0) >= 0.99 and b - a <= 1.01 for a, b in nf.regions)
    assert nf.seconds >= 2.0


def test_noise_only_frames_fall_back_to_the_quietest_frames_without_pauses():
    t = np.arange(3 * SR) / SR
    clean = (0.3 * np.sin(2 * np.pi * 220 * t) * (1.0 + 0.9 * np.sin(2 * np.pi * 0.5 * t))).astype(np.float32)
    nf = metrics.noise_only_frames(clean, clean + _noise(3.0) * 0.01, SR)
    assert nf.fallback and not nf.mask.any()
    assert sum(b - a for a, b in nf.regions) >= 0.25


def test_lag_finds_a_known_delay():
    x = _noise(1.0)
    y = np.concatenate([np.zeros(37, np.float32), x[:-37]])
    assert metrics.lag_samples(x, y, 200) == 37


# -- reference-based measures on real speech -----------------------------------------------------
@pytest.fixture(scope="module")
def speech(dev_data):
    import soundfile as sf

    x, sr = sf.read(dev_data / "pairs_real" / "vbdemand_p232_126_clean.flac", dtype="float32")
    y, _ = sf.read(dev_data / "pairs_real" / "vbdemand_p232_126_noisy.flac", dtype="float32")
    return x, y, sr


def test_pesq_stoi_of_identical_speech_are_at_their_maximum(speech):
    x, y, sr = speech
    assert metrics.pesq_wb(x, x, sr) > 4.5
    assert metrics.stoi(x, x, sr) == pytest.approx(1.0, abs=1e-6)
    assert metrics.stoi(x, x, sr, extended=True) == pytest.approx(1.0, abs=1e-6)
    assert metrics.pesq_wb(x, y, sr) < metrics.pesq_wb(x, x, sr) - 1.0
    assert metrics.stoi(x, y, sr, extended=True) < 0.95


def test_pesq_resamples_other_rates(speech):
    x, _, sr = speech
    up = metrics.to_rate(x, sr, 48000)
    assert metrics.pesq_wb(up, up, 48000) > 4.5


@pytest.mark.slow
def test_dnsmos_scores_clean_speech_above_noisy_speech(speech):
    x, y, sr = speech
    d = metrics.Dnsmos()
    clean, noisy = d(x, sr), d(y, sr)
    assert all(1.0 <= v <= 5.0 for v in (*clean.values(), *noisy.values()))
    assert clean["bak"] > noisy["bak"]


@pytest.mark.slow
def test_dnsmos_matches_speechmos_reference_windowing(speech):
    from speechmos import dnsmos

    _, y, sr = speech
    ours = metrics.Dnsmos()(y, sr)
    ref = dnsmos.run(y.astype(np.float32), 16000)
    assert ours["sig"] == pytest.approx(float(ref["sig_mos"]), abs=1e-5)
    assert ours["bak"] == pytest.approx(float(ref["bak_mos"]), abs=1e-5)
    assert ours["ovrl"] == pytest.approx(float(ref["ovrl_mos"]), abs=1e-5)
