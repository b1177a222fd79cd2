"""The polyphase resamplers: streaming equals one call, and the whole-array one is scipy's bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import resample_poly as scipy_resample_poly

from dsp.errors import ParameterError
from dsp.resample import PolyphaseResampler, design_lowpass, resample_poly

RATIOS = [(3, 1), (1, 3), (160, 147), (147, 160), (160, 441), (320, 441), (2, 1), (1, 6), (5, 7)]


def _noise(n, seed=0, channels=1, level=0.05):
    return (np.random.default_rng(seed).standard_normal((channels, n)) * level).astype(np.float32)


def polyphase_ref(x, up, down):
    """Slow numpy reference of the streaming resampler: ``y[m] = sum_i h[m*down - i*up] x[i]``."""
    h = design_lowpass(up, down)
    n_out = PolyphaseResampler.count(x.shape[1], up, down)
    y = np.zeros((x.shape[0], n_out))
    for m in range(n_out):
        i = np.arange(x.shape[1])
        k = m * down - i * up
        ok = (k >= 0) & (k < h.size)
        y[:, m] = x[:, i[ok]].astype(np.float64) @ h[k[ok]]
    return y


def test_design_is_scipys_filter():
    from scipy.signal import firwin

    np.testing.assert_array_equal(design_lowpass(160, 147), firwin(3201, 1 / 160, window=("kaiser", 5.0)) * 160)


@pytest.mark.parametrize("up,down", [(3, 1), (1, 3), (160, 147), (147, 160)])
def test_streaming_resampler_streams_exactly_and_matches_resample_poly(up, down):
    x = _noise(6000, seed=3)
    whole = PolyphaseResampler(up, down, 1).process(x)
    r = PolyphaseResampler(up, down, 1)
    parts, pos = [], 0
    for n in [1, 7, 64, 65, 511, 1000, 4000]:
        parts.append(r.process(x[:, pos : pos + n]))
        pos += n
    np.testing.assert_array_equal(np.concatenate(parts, axis=1), whole[:, : sum(p.shape[1] for p in parts)])
    ref = scipy_resample_poly(x[0].astype(np.float64), up, down)
    d = r.delay_grid // down  # whole output samples of delay (exact when divisible)
    if r.delay_grid % down == 0:
        m = np.arange(200, whole.shape[1] - 200)
        np.testing.assert_allclose(whole[0, m], ref[m - d], atol=2e-6)


@pytest.mark.parametrize("up,down", [(3, 1), (1, 3), (147, 160)])
def test_streaming_kernel_matches_numpy_reference(up, down):
    x = _noise(700, seed=5, channels=2)
    got = PolyphaseResampler(up, down, 2).process(x)
    np.testing.assert_allclose(got, polyphase_ref(x, up, down), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("up,down", RATIOS)
@pytest.mark.parametrize("n", [0, 1, 2, 5, 17, 1001, 4410])
def test_whole_array_equals_scipy_bit_for_bit(up, down, n):
    x = np.random.default_rng(n + up).standard_normal(n) * 0.3
    want = scipy_resample_poly(x, up, down)
    got = resample_poly(x, up, down)
    assert got.dtype == np.float64 and got.shape == want.shape
    np.testing.assert_array_equal(got.view(np.uint64), want.view(np.uint64))


def test_whole_array_takes_channels_float32_and_unreduced_ratios():
    x = _noise(5000, seed=7, channels=2)
    want = scipy_resample_poly(x.astype(np.float64), 160, 441, axis=-1)
    np.testing.assert_array_equal(resample_poly(x, 16000, 44100), want)
    same = resample_poly(x, 3, 3)
    np.testing.assert_array_equal(same, x.astype(np.float64))
    with pytest.raises(ParameterError):
        resample_poly(x, 0, 3)
    with pytest.raises(ParameterError):
        resample_poly(np.zeros((1, 2, 3)), 1, 3)
