"""The Qt-free view computations: waveform pyramids and spectrogram tiles (naive references)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.fft

from app.overview import (
    LEVEL_FACTOR,
    LEVEL_SAMPLES,
    WaveformPyramid,
    difference_db,
    long_term_spectrum,
    spectrogram_tile,
)
from dsp.errors import Cancelled, ParameterError
from dsp.io import AudioReader, write_audio
from dsp.render import ArraySource

SR = 48000


def _signal(frames: int, channels: int = 2, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((channels, frames)).astype(np.float32) * 0.1
    x[:, frames // 3 : frames // 3 + 500] += 0.8  # a burst, so min/max differ between blocks
    return x


def _naive_level(x: np.ndarray, spp: int):
    n = math.ceil(x.shape[1] / spp)
    mn = np.array([[x[c, i * spp : (i + 1) * spp].min() for i in range(n)] for c in range(x.shape[0])])
    mx = np.array([[x[c, i * spp : (i + 1) * spp].max() for i in range(n)] for c in range(x.shape[0])])
    ss = np.array(
        [[np.sum(x[c, i * spp : (i + 1) * spp].astype(np.float64) ** 2) for i in range(n)] for c in range(x.shape[0])]
    )
    return mn, mx, ss


@pytest.mark.parametrize("frames", [65536 * 16 + 777, 1000, 65536 * 16 * 2])
def test_pyramid_levels_match_naive_summaries(frames):
    x = _signal(frames)
    pyr = WaveformPyramid.build(ArraySource(x, SR))
    assert pyr.complete
    for level in pyr.levels:
        mn, mx, ss = _naive_level(x, level.samples_per_summary)
        np.testing.assert_array_equal(level.minimum, mn)
        np.testing.assert_array_equal(level.maximum, mx)
        np.testing.assert_allclose(level.sumsq, ss, rtol=2e-4)
    assert [lv.samples_per_summary for lv in pyr.levels] == list(LEVEL_SAMPLES)
    assert LEVEL_SAMPLES[0] == 256 and LEVEL_SAMPLES[-1] == 65536


def test_pyramid_from_file_reader_block_wise(tmp_path):
    x = _signal(SR * 3, channels=1)
    path = tmp_path / "a.wav"
    write_audio(path, x, SR, "float32")
    seen = []
    with AudioReader(path) as r:
        pyr = WaveformPyramid.build(r, progress=seen.append)
    assert seen[-1] == pytest.approx(1.0)
    np.testing.assert_array_equal(pyr.levels[0].maximum, _naive_level(x, 256)[1])


def test_pyramid_cancel_and_partial_reads():
    x = _signal(65536 * 16 * 3)
    pyr = WaveformPyramid(SR, 2, x.shape[1])
    calls = {"n": 0}

    def cancel():
        calls["n"] += 1
        return calls["n"] > 1

    with pytest.raises(Cancelled):
        WaveformPyramid.build(ArraySource(x, SR), cancel=cancel, into=pyr)
    assert 0 < pyr.frames_done < x.shape[1]
    env = pyr.envelope(0, x.shape[1] / SR, 100)
    # only the part built so far is drawn
    assert env.times_s[-1] < pyr.frames_done / SR
    WaveformPyramid.build(ArraySource(x, SR), into=pyr)  # resumes
    assert pyr.complete


def test_envelope_picks_level_and_bounds_columns():
    x = _signal(SR * 60, channels=1)
    pyr = WaveformPyramid.build(ArraySource(x, SR))
    env = pyr.envelope(0, 60, 1000)  # 2880 samples per pixel -> 1024-sample level
    assert env.samples_per_column == 1024
    assert 1000 <= len(env.minimum) <= LEVEL_FACTOR * 1000  # levels are 4x apart
    assert env.maximum.max() == pytest.approx(x.max())
    # zoomed in beyond the finest level: raw samples from the reader, a screenful only
    src = ArraySource(x, SR)
    env = pyr.envelope(1.0, 1.01, 1000, reader=src)
    assert env.samples_per_column == 1
    np.testing.assert_array_equal(env.maximum, x[0, SR : SR + 480])


def test_levels_db_of_a_sine():
    t = np.arange(SR * 2) / SR
    x = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)[None]
    pyr = WaveformPyramid.build(ArraySource(x, SR))
    peak, rms = pyr.levels_db(0.0, 2.0)
    assert peak == pytest.approx(20 * np.log10(0.5), abs=0.01)
    assert rms == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.05)


def test_spectrogram_tile_matches_naive_stft_and_dbfs():
    t = np.arange(SR * 2) / SR
    x = np.sin(2 * np.pi * 3000 * t).astype(np.float32)[None]  # full-scale sine
    src = ArraySource(x, SR)
    tile = spectrogram_tile(src, 0.5, 1.5, columns=40, n_fft=1024)
    assert tile.db.shape == (40, 513)
    peak_bin = int(np.argmax(tile.db[10]))
    assert peak_bin == round(3000 * 1024 / SR)
    assert tile.db[10].max() == pytest.approx(0.0, abs=1.5)  # scalloping between bins < 1.5 dB
    # naive column 7
    centre = 0.5 + 7.5 * (1.0 / 40)
    s = round(centre * SR) - 512
    w = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(1024) / 1024)
    ref = 10 * np.log10(np.abs(scipy.fft.rfft(x[0, s : s + 1024] * w)) ** 2 + 1e-14) - 20 * np.log10(w.sum() / 2)
    audible = ref > -100  # below that it is float32 rounding noise
    np.testing.assert_allclose(tile.db[7][audible], ref[audible], atol=1e-3)


def test_spectrogram_tile_sparse_equals_dense_and_edges():
    x = _signal(SR * 20, channels=2)
    src = ArraySource(x, SR)
    # zoomed out (sparse reads) and a zoomed-in tile on the same column centres agree
    wide = spectrogram_tile(src, 0.0, 20.0, columns=20, n_fft=512)
    one = spectrogram_tile(src, 5.0, 6.0, columns=1, n_fft=512)
    np.testing.assert_allclose(wide.db[5], one.db[0], atol=1e-4)
    # beyond the ends: zeros, no error
    edge = spectrogram_tile(src, -1.0, 21.0, columns=22, n_fft=512)  # column 0 centred at -0.5 s
    assert np.all(edge.db[0] < -150) and np.all(edge.db[1].max() > -60)
    with pytest.raises(ParameterError):
        spectrogram_tile(src, 2.0, 2.0, columns=10)


def test_difference_is_removed_energy():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, SR)).astype(np.float32)
    a = spectrogram_tile(ArraySource(x, SR), 0, 1, columns=8, n_fft=512)
    b = spectrogram_tile(ArraySource(x * 0.1, SR), 0, 1, columns=8, n_fft=512)
    np.testing.assert_allclose(difference_db(a, b), 20.0, atol=1e-3)
    c = spectrogram_tile(ArraySource(x, SR), 0, 0.5, columns=8, n_fft=512)
    with pytest.raises(ParameterError):
        difference_db(a, c)


def test_long_term_spectrum_units_match_profile_power():
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((1, SR * 4)) * 0.01).astype(np.float32)
    spec = long_term_spectrum(ArraySource(x, SR), n_fft=1024)
    w = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(1024) / 1024)
    expected = (0.01**2) * np.sum(w**2)  # white noise: E|rfft(w x)|^2 = sigma^2 sum(w^2)
    assert np.median(spec[5:-5]) == pytest.approx(expected, rel=0.15)
