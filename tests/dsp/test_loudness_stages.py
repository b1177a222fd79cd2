"""The loudness stages on the engine contract: LoudnessGain and TruePeakLimiterProcessor.

Invariants (block-size grid, latency identity, stereo linking, reset equals fresh) and the
equality with the batch limiter they replace.
"""

from __future__ import annotations

import numpy as np
import pytest

from dsp.engine import AudioSpec, Chain
from dsp.errors import ParameterError
from dsp.loudness import LoudnessGain
from dsp.render import render_array
from dsp.truepeak import TruePeakLimiter, TruePeakLimiterProcessor, true_peak

SR = 16000


def _hot(seconds: float = 0.6, channels: int = 2, seed: int = 1) -> np.ndarray:
    """Noise-like speech stand-in with bright bursts far over the ceiling, channels differing."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    x = 0.05 * rng.standard_normal((channels, n))
    k = np.arange(64)
    for at, f in ((0.1, 0.43), (0.3, 0.12), (0.45, 0.31)):
        i = int(at * SR)
        x[0, i : i + k.size] += 0.9 * np.sin(2 * np.pi * f * k) * np.hanning(k.size)
    return x.astype(np.float32)


def _stages(gain_db: float = 6.0) -> Chain:
    return Chain([LoudnessGain(gain_db, target="podcast-mono", target_lufs=-19.0, measured_lufs=-25.0),
                  TruePeakLimiterProcessor(ceiling_dbtp=-1.0)])


def test_block_sizes_give_identical_output():
    x = _hot()
    outs = [render_array(x, SR, _stages(), block_size=bs) for bs in (1, 17, 512, 4096)]
    for y in outs[1:]:
        np.testing.assert_array_equal(y, outs[0])
    assert outs[0].shape == x.shape
    assert true_peak(outs[0], SR) <= -1.0


def test_latency_is_reported_and_trimmed():
    proc = TruePeakLimiterProcessor(ceiling_dbtp=-1.0)
    proc.prepare(AudioSpec(SR, 1, 4096))
    lookahead = round(0.005 * SR)
    assert proc.latency == lookahead + 24 - 1  # look-ahead + the detector's delay (one gain emitted at start)
    # below the ceiling the limiter is the identity: after latency trimming, bit for bit, sample for sample
    rng = np.random.default_rng(2)
    quiet = (0.1 * rng.standard_normal((1, 5000))).astype(np.float32)
    np.testing.assert_array_equal(render_array(quiet, SR, proc, block_size=333), quiet)
    # raw process() output is the input delayed by exactly `latency` samples
    proc.reset()
    raw = np.concatenate([proc.process(quiet[:, i : i + 500]) for i in range(0, 5000, 500)], axis=1)
    np.testing.assert_array_equal(raw[:, proc.latency :], quiet[:, : 5000 - proc.latency])
    assert not raw[:, : proc.latency].any()


def test_equals_the_streaming_limiter_batch_used():
    x = _hot(channels=1) * np.float32(2.0)
    lim = TruePeakLimiter(SR, 1, ceiling_dbtp=-1.0)
    ref = np.concatenate([lim.process(x[:, i : i + 1000]) for i in range(0, x.shape[1], 1000)] + [lim.flush()], axis=1)
    proc = TruePeakLimiterProcessor(ceiling_dbtp=-1.0)
    np.testing.assert_array_equal(render_array(x, SR, proc, block_size=777), ref)
    assert proc.max_reduction_db == pytest.approx(lim.max_reduction_db)
    assert proc.max_reduction_db > 6.0


def test_stereo_is_linked():
    x = _hot() * np.float32(2.0)  # the bursts (left channel only) reach +5 dBFS
    y = render_array(x, SR, TruePeakLimiterProcessor(ceiling_dbtp=-1.0), block_size=512)
    gain = np.divide(y, x, out=np.ones_like(y), where=np.abs(x) > 1e-3)
    both = (np.abs(x[0]) > 1e-3) & (np.abs(x[1]) > 1e-3)
    np.testing.assert_allclose(gain[0, both], gain[1, both], rtol=1e-5)
    assert gain[1, both].min() < 0.5  # the quiet right channel was turned down with the left


def test_reset_equals_fresh():
    x = _hot()
    a = _stages()
    first = render_array(x, SR, a, block_size=700)
    again = render_array(x, SR, a, block_size=700)  # render_blocks resets it
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first, render_array(x, SR, _stages(), block_size=700))


def test_gain_stage_and_describe():
    x = _hot(channels=1)
    y = render_array(x, SR, LoudnessGain(-6.0206), block_size=100)
    np.testing.assert_allclose(y, x * 0.5, rtol=1e-5)
    d = _stages().describe()
    assert [p["type"] for p in d["processors"]] == ["LoudnessGain", "TruePeakLimiter"]
    assert d["processors"][0]["target"] == "podcast-mono" and d["processors"][1]["ceiling_dbtp"] == -1.0
    with pytest.raises(ParameterError, match="loudness gain"):
        LoudnessGain(float("nan"))
    with pytest.raises(ParameterError, match="ceiling"):
        TruePeakLimiterProcessor(ceiling_dbtp=3.0)
