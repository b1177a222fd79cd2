"""Delivered files meet their true-peak ceiling and loudness target by independent meters, at any rate."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import scipy.signal
import soundfile as sf

from app.batch.loudness import Oversampler, TruePeakLimiter, oversampling_factor, true_peak
from app.batch.runner import BatchRunner, slug_for
from app.batch.worker import BatchOptions
from app.presets import load_preset
from tests.app.batch.independent import (
    ffmpeg_available,
    ffmpeg_ebur128,
    hot_speech,
    pyloudnorm_lufs,
    scipy_true_peak,
)

pytest.importorskip("pyloudnorm")


def _ideal_peak(x: np.ndarray, factor: int = 64) -> float:
    """Near-ideal band-limited peak: a long (128 zero crossings each side) windowed-sinc interpolator."""
    h = scipy.signal.firwin(2 * 128 * factor + 1, 1.0 / factor, window=("kaiser", 10.0)) * factor
    y = scipy.signal.upfirdn(h, np.asarray(x, np.float64), up=factor, axis=-1)
    return 20 * math.log10(np.abs(y).max())


@pytest.mark.parametrize("sr", [8000, 16000, 44100])
def test_true_peak_sees_bursts_near_nyquist(sr):
    n = np.arange(int(0.004 * sr) + 8)
    x = np.zeros(sr // 2)
    x[1000 : 1000 + n.size] = 0.5 * np.sin(2 * np.pi * 0.45 * n + np.pi / 4) * np.hanning(n.size)
    # a burst at 0.9 of Nyquist: the old 48-tap interpolator (passband to 0.9 of Nyquist) read it dB low
    assert true_peak(x[None], sr) == pytest.approx(_ideal_peak(x), abs=0.3)


@pytest.mark.parametrize("sr", [8000, 16000, 44100])
def test_limiter_holds_bursts_near_nyquist(sr):
    n = np.arange(int(0.004 * sr) + 8)
    x = np.zeros(sr)
    for k, f in ((2000, 0.45), (4000, 0.43), (6000, 0.25)):
        x[k : k + n.size] += 3.0 * np.sin(2 * np.pi * f * n + np.pi / 4) * np.hanning(n.size)
    lim = TruePeakLimiter(sr, 1, ceiling_dbtp=-1.0)
    y = np.concatenate([lim.process(x[None]), lim.flush()], axis=1)
    assert _ideal_peak(y[0]) <= -1.0
    assert 20 * math.log10(np.abs(scipy.signal.resample_poly(y[0].astype(np.float64), 4, 1)).max()) <= -1.0


def test_oversampling_grid_holds_the_reference_meters_and_chunk_skipping_changes_nothing():
    assert [oversampling_factor(r) for r in (8000, 16000, 22050, 44100, 48000, 96000, 192000)] == [24, 12, 18, 10, 4, 4, 4]
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 20000)) * 0.05
    x[:, 7000:7100] *= 15.0
    a, b = Oversampler(2, 16000), Oversampler(2, 16000)
    full, skipped = a.peaks(x), b.peaks(x, floor=0.5)
    assert np.array_equal(full[full > 0.5], skipped[full > 0.5]) and skipped.max() == full.max()
    assert np.count_nonzero(skipped) < full.size / 4  # most chunks were not computed


@pytest.mark.slow
@pytest.mark.skipif(not ffmpeg_available(), reason="needs ffmpeg")
def test_batch_outputs_meet_ceiling_by_independent_meters(dev_data, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    grid = [(8000, 1), (16000, 2), (44100, 1)]
    for sr, ch in grid:
        sf.write(src / f"hot_{sr}_{ch}ch.wav", hot_speech(dev_data, sr, ch), sr, subtype="PCM_16")
    opts = BatchOptions(chain=load_preset("podcast").to_dict(), loudness="podcast", hole_audit=False)
    summary = BatchRunner(src, tmp_path / "out", opts, workers=1).run()
    assert summary.done == len(grid) and summary.failed == 0
    for sr, ch in grid:
        out = tmp_path / "out" / f"hot_{sr}_{ch}ch.wav"
        target = -19.0 if ch == 1 else -16.0
        scipy_tp = scipy_true_peak(out)
        ff_lufs, ff_tp = ffmpeg_ebur128(out)
        assert scipy_tp <= -1.0, (out.name, scipy_tp)
        assert ff_tp <= -1.0, (out.name, ff_tp)
        assert abs(pyloudnorm_lufs(out) - target) <= 0.5 and abs(ff_lufs - target) <= 0.5
        rep = json.loads((tmp_path / "out" / "report" / "files" / f"{slug_for(Path(out.name))}.json").read_text())
        # the report says what an independent meter says about the file as written
        assert rep["after"]["true_peak_dbtp"] == pytest.approx(scipy_tp, abs=0.15), out.name
        assert rep["after"]["true_peak_dbtp"] >= scipy_tp - 0.05
        written, _ = sf.read(out, dtype="float32", always_2d=True)  # the figures are those of the file itself
        assert rep["after"]["true_peak_dbtp"] == pytest.approx(true_peak(written.T, sr), abs=0.002)
        assert rep["loudness"]["limiter_max_reduction_db"] > 5  # the bursts were really limited
