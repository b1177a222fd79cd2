"""Loudness meter, true peak and limiter: against pyloudnorm and numpy references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.signal
import soundfile as sf

from app.batch.loudness import (
    Oversampler,
    ProgramMeter,
    TruePeakLimiter,
    integrated_loudness,
    resolve_target,
    true_peak,
)
from dsp.errors import ParameterError

pyln = pytest.importorskip("pyloudnorm")


def _reference_true_peak(x: np.ndarray) -> float:
    """Independent check: 8x polyphase resampling (scipy's own filter)."""
    y = scipy.signal.resample_poly(np.asarray(x, np.float64), 8, 1, axis=-1)
    return 20 * math.log10(max(np.abs(y).max(), np.abs(x).max()))


def test_integrated_matches_pyloudnorm_on_dev_speech(dev_data):
    x, sr = sf.read(dev_data / "clean" / "s01_vctk_p286.flac", dtype="float64")
    mine = integrated_loudness(x[None], sr)
    ref = pyln.Meter(sr).integrated_loudness(x)
    assert abs(mine - ref) < 0.1, (mine, ref)


def test_integrated_matches_pyloudnorm_16k_and_stereo(dev_data):
    x, sr = sf.read(dev_data / "mixtures" / "s03_libri_198__hum_50hz__snr00_noisy.flac", dtype="float64")
    assert abs(integrated_loudness(x[None], sr) - pyln.Meter(sr).integrated_loudness(x)) < 0.2
    rng = np.random.default_rng(1)
    st = rng.standard_normal((2, 44100 * 6)) * np.array([[0.1], [0.03]])
    st[:, 44100:88200] *= 0.01  # a quiet stretch the relative gate removes
    assert abs(integrated_loudness(st, 44100) - pyln.Meter(44100).integrated_loudness(st.T)) < 0.1


def test_meter_is_block_size_invariant_and_sine_calibrated():
    sr = 48000
    t = np.arange(sr * 5) / sr
    sine = (10 ** (-20 / 20) * np.sin(2 * np.pi * 997 * t))[None]
    whole = ProgramMeter(sr, 1)
    whole.add(sine)
    parts = ProgramMeter(sr, 1)
    for i in range(0, sine.shape[1], 7777):
        parts.add(sine[:, i : i + 7777])
    a, b = whole.result(), parts.result()
    assert a.integrated_lufs == pytest.approx(b.integrated_lufs, abs=1e-9)
    assert a.true_peak_dbtp == b.true_peak_dbtp
    # a -20 dBFS 1 kHz sine in one channel reads about -23 LUFS (BS.1770 calibration: 0 dBFS -> -3.01)
    assert a.integrated_lufs == pytest.approx(-23.0, abs=0.1)
    assert a.lra_lu == pytest.approx(0.0, abs=0.1)


def _reference_levels(x: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray, float, int]:
    """What the meter accumulates, with numpy and scipy: weighted K-weighted mean square per 100 ms
    sub-block, mean power per 50 ms window, the sample peak, the clipped samples."""
    from dsp.loudness import CLIP_LEVEL, k_weighting_sos

    ch, n = x.shape
    kw = scipy.signal.sosfilt(k_weighting_sos(sr), x, axis=1)
    sub, win = round(0.1 * sr), round(0.05 * sr)
    subs = (kw[:, : n // sub * sub] ** 2).reshape(ch, -1, sub).sum(axis=2).sum(axis=0) / sub
    wins = (x[:, : n // win * win] ** 2).reshape(ch, -1, win).sum(axis=2).sum(axis=0) / (win * ch)
    return subs, wins, float(np.abs(x).max()), int(np.count_nonzero(np.abs(x) >= CLIP_LEVEL))


@pytest.mark.parametrize("sr, ch, dtype", [(48000, 1, np.float32), (44100, 2, np.float64), (8000, 2, np.float32)])
def test_meter_kernel_matches_numpy_and_any_blocks_give_the_same_sums(sr, ch, dtype):
    rng = np.random.default_rng(sr + ch)
    x = (rng.standard_normal((ch, sr * 3 + 123)) * 0.2).astype(dtype)
    x[:, 5000:5010] = 1.0  # clipped samples
    subs, wins, peak, clipped = _reference_levels(x.astype(np.float64), sr)
    n = x.shape[1]
    splits = ([0, n], [*range(0, n, 4096), n], [*range(0, n, 999), n], [0, 1, 2, 7, 4800, 4801, 10000, n])
    metered = []
    for bounds in splits:
        m = ProgramMeter(sr, ch, true_peak=False)
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            m.add(x[:, a:b])
        metered.append(m)
        np.testing.assert_allclose(m.sub_block_energies(), subs, rtol=1e-12, atol=0)
        np.testing.assert_allclose(np.asarray(m._wins), wins, rtol=1e-12, atol=0)
        assert m._peak == peak and m._clipped == clipped
    # sums added in sample order: the block split changes nothing, not even the last bit
    for m in metered[1:]:
        np.testing.assert_array_equal(m.sub_block_energies(), metered[0].sub_block_energies())
        np.testing.assert_array_equal(np.asarray(m._wins), np.asarray(metered[0]._wins))
        assert m.result() == metered[0].result()


def test_true_peak_catches_intersample_peaks():
    sr = 48000
    n = np.arange(sr)
    # fs/4 sine with a 45 degree phase: samples hit 0.707 of the real peak
    x = np.sin(2 * np.pi * n / 4 + np.pi / 4)[None] * 0.9
    tp = true_peak(x)
    assert 20 * math.log10(np.abs(x).max()) == pytest.approx(20 * math.log10(0.9 * math.sqrt(0.5)), abs=0.01)
    assert tp == pytest.approx(20 * math.log10(0.9), abs=0.3)
    assert tp == pytest.approx(_reference_true_peak(x), abs=0.3)


def test_group_peaks_kernel_matches_numpy_reference():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3000)) * 0.3
    fast, ref = Oversampler(2), Oversampler(2)
    for i in range(0, 3000, 700):
        blk = x[:, i : i + 700]
        p = fast.peaks(blk)
        r = np.abs(ref.reference(blk)).reshape(2, -1, fast.factor).max(axis=2).max(axis=0)
        np.testing.assert_allclose(p, r, rtol=1e-12, atol=1e-12)


def test_limiter_holds_ceiling_is_transparent_below_it_and_block_invariant(dev_data):
    x, sr = sf.read(dev_data / "clean" / "s01_vctk_p286.flac", dtype="float32")
    x = x[None]
    hot = x * np.float32(10 ** (12 / 20) / np.abs(x).max())  # +12 dBFS peaks
    outs = {}
    for bs in (4096, 30011):
        lim = TruePeakLimiter(sr, 1, ceiling_dbtp=-1.0)
        parts = [lim.process(hot[:, i : i + bs]) for i in range(0, hot.shape[1], bs)]
        parts.append(lim.flush())
        outs[bs] = np.concatenate(parts, axis=1)
    y = outs[4096]
    assert y.shape == hot.shape
    np.testing.assert_array_equal(outs[4096], outs[30011])
    assert true_peak(y) <= -1.0
    assert _reference_true_peak(y) <= -1.0 + 0.05
    assert lim.max_reduction_db > 10
    # below the ceiling: bit-exact pass-through, time-aligned
    quiet = x * np.float32(0.5 / np.abs(x).max())
    lim = TruePeakLimiter(sr, 1, ceiling_dbtp=-1.0)
    q = np.concatenate([lim.process(quiet[:, i : i + 5000]) for i in range(0, quiet.shape[1], 5000)] + [lim.flush()], axis=1)
    np.testing.assert_array_equal(q, quiet)
    assert lim.max_reduction_db == 0.0


def test_targets():
    assert resolve_target("podcast", 1)[0] == -19.0
    assert resolve_target("podcast", 2)[0] == -16.0
    assert resolve_target("ebu-r128", 2)[:2] == (-23.0, -1.0)
    assert resolve_target("atsc", 1)[0] == -24.0
    assert resolve_target("off", 2) is None
    with pytest.raises(ParameterError, match="choose one of"):
        resolve_target("loud", 2)
