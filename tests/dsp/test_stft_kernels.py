"""The STFT kernels against slow numpy references (and their wrappers' input checks)."""

from __future__ import annotations

import numpy as np
import pytest

from dsp.errors import ParameterError
from dsp.stft import (
    _apply_gain,
    _frame_windowed,
    _overlap_add,
    frame_signal,
    overlap_add,
    stft_windows,
)


def ref_frame_windowed(x, n_frames, n_fft, hop, window):
    out = np.zeros((x.shape[0], n_frames, n_fft), np.float32)
    for c in range(x.shape[0]):
        for k in range(n_frames):
            out[c, k] = x[c, k * hop : k * hop + n_fft] * window
    return out


def ref_overlap_add(frames, hop, window, acc):
    acc = acc.copy()
    for c in range(frames.shape[0]):
        for k in range(frames.shape[1]):
            acc[c, k * hop : k * hop + frames.shape[2]] += frames[c, k] * window
    return acc


def ref_apply_gain(spectra, gain_cum, gain, mix, total_floor):
    g = np.float32(1.0) - mix + mix * gain
    limited = g * gain_cum < total_floor
    g = np.where(limited, total_floor / gain_cum, g).astype(np.float32)
    return spectra * g, gain_cum * g


@pytest.mark.parametrize("channels, n_fft, hop, extra", [(1, 16, 4, 0), (2, 32, 16, 7), (3, 64, 8, 63)])
def test_frame_windowed_matches_reference(channels, n_fft, hop, extra):
    rng = np.random.default_rng(0)
    n_frames = 9
    x = rng.standard_normal((channels, (n_frames - 1) * hop + n_fft + extra)).astype(np.float32)
    window = rng.random(n_fft).astype(np.float32)
    out = np.full((channels, n_frames, n_fft), np.nan, np.float32)
    _frame_windowed(x, n_frames, n_fft, hop, window, out)
    np.testing.assert_array_equal(out, ref_frame_windowed(x, n_frames, n_fft, hop, window))
    # the wrapper computes the frame count itself
    got = frame_signal(x, n_fft, hop, window)
    n_all = (x.shape[1] - n_fft) // hop + 1
    np.testing.assert_array_equal(got, ref_frame_windowed(x, n_all, n_fft, hop, window))
    assert frame_signal(x[:, : n_fft - 1], n_fft, hop, window).shape == (channels, 0, n_fft)


@pytest.mark.parametrize("channels, n_fft, hop", [(1, 16, 4), (2, 32, 16), (2, 64, 8)])
def test_overlap_add_matches_reference(channels, n_fft, hop):
    rng = np.random.default_rng(1)
    frames = rng.standard_normal((channels, 11, n_fft)).astype(np.float32)
    window = rng.random(n_fft).astype(np.float32)
    acc0 = rng.standard_normal((channels, 10 * hop + n_fft + 5)).astype(np.float32)
    acc = acc0.copy()
    _overlap_add(frames, hop, window, acc)
    # same operations in the same order (frame by frame): exact equality
    np.testing.assert_array_equal(acc, ref_overlap_add(frames, hop, window, acc0))
    acc = acc0.copy()
    overlap_add(frames, hop, window, acc)
    np.testing.assert_array_equal(acc, ref_overlap_add(frames, hop, window, acc0))


def test_overlap_add_rejects_a_short_buffer():
    frames = np.zeros((1, 4, 16), np.float32)
    with pytest.raises(ParameterError, match="too small"):
        overlap_add(frames, 4, np.ones(16, np.float32), np.zeros((1, 20), np.float32))
    with pytest.raises(ParameterError):
        overlap_add(frames, 4, np.ones(16, np.float32), np.zeros((2, 64), np.float32))


@pytest.mark.parametrize("mix", [0.0, 0.3, 1.0])
@pytest.mark.parametrize("floor_db", [6.0, 15.0, 60.0])
def test_apply_gain_matches_reference(mix, floor_db):
    rng = np.random.default_rng(2)
    shape = (2, 7, 33)
    spectra = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)
    gain_cum = rng.uniform(0.2, 1.0, shape).astype(np.float32)
    gain = rng.uniform(0.0, 1.2, shape).astype(np.float32)
    floor = np.float32(10 ** (-floor_db / 20))
    s, g = spectra.copy(), gain_cum.copy()
    _apply_gain(s, g, gain, np.float32(mix), floor)
    rs, rg = ref_apply_gain(spectra, gain_cum, gain, np.float32(mix), floor)
    np.testing.assert_allclose(s, rs, rtol=2e-7, atol=0)
    np.testing.assert_allclose(g, rg, rtol=2e-7, atol=0)
    # the cap: cumulative gain never falls below the floor (unless it already was)
    assert np.all((g >= floor * (1 - 1e-6)) | (gain_cum < floor))
    if mix == 0.0:  # a fully dry stage changes nothing where the cap is not already exceeded
        ok = gain_cum >= floor
        np.testing.assert_array_equal(g[ok], gain_cum[ok])
        np.testing.assert_array_equal(s[ok], spectra[ok])


def test_windows_overlap_add_to_one():
    for n_fft, hop in [(512, 128), (1024, 512), (2048, 256)]:
        a, s = stft_windows(n_fft, hop)
        prod = (a * s).astype(np.float64)
        total = np.zeros(hop)
        for start in range(0, n_fft, hop):
            total += prod[start : start + hop]
        np.testing.assert_allclose(total, 1.0, atol=1e-6)
