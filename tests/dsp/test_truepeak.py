"""The true-peak detector's shortcuts and the limiter's gain kernel against plain references.

The detector skips chunks that cannot reach the level asked for, and the limiter's gain kernel
keeps its look-ahead minimum in a ring: these tests check both against the plain computation.
"""

from __future__ import annotations

import numpy as np
import pytest

from dsp.truepeak import Oversampler, TruePeakLimiter, _interpolator


def _full_peaks(x: np.ndarray) -> np.ndarray:
    ref = Oversampler(x.shape[0])
    return np.abs(ref.reference(x)).reshape(x.shape[0], -1, ref.factor).max(axis=2).max(axis=0)


def _worst_case_burst(phase: int, n: int, at: int) -> np.ndarray:
    """A signal whose oversampled value at ``at`` (phase ``phase``) is the phase's whole L1 norm:
    every tap meets a sample of its own sign. The taps near the centre alone read much less."""
    ip = _interpolator(4)
    h = ip.phases[phase]
    x = np.zeros(n)
    taps = h.shape[0]
    # out[o] sums h[j] * x_ext[o + taps - j]; x_ext is the history (taps samples) then the block
    for j in range(taps):
        x[at + taps - j - taps] = np.sign(h[j])
    return x[None]


def test_peaks_above_the_floor_are_exact_and_skipped_ones_cannot_reach_it():
    ip = _interpolator(4)
    near_only = float(np.abs(ip.phases[2, ip.near[0] : ip.near[1]]).sum())
    full = float(np.abs(ip.phases[2]).sum())
    assert near_only < full - 0.3  # the burst below tells the near taps from all of them
    x = _worst_case_burst(2, 4000, 2000) * 0.3
    rng = np.random.default_rng(5)
    x = x + rng.standard_normal(x.shape) * 0.01
    ref = _full_peaks(x)
    assert ref.max() == pytest.approx(0.3 * full, rel=0.05)
    for floor in (0.0, 0.3 * near_only, 0.3 * (near_only + full) / 2, 0.3 * full * 0.98, 0.2, 1.0):
        got = Oversampler(1).peaks(x, floor=floor)
        kept = got > 0
        np.testing.assert_allclose(got[kept], ref[kept], rtol=1e-12, atol=0)
        assert np.all(ref[~kept] <= floor * (1 + 1e-9))
        assert np.all(kept[ref > floor * (1 + 1e-9)])


def test_peaks_in_blocks_with_a_rising_floor_match_the_whole_signal():
    rng = np.random.default_rng(11)
    n = 48000
    env = np.abs(np.sin(np.linspace(0, 7 * np.pi, n))) ** 3
    x = (rng.standard_normal((2, n)) * env * 0.4).astype(np.float32).astype(np.float64)
    x[:, 30000:30040] = 0.9 * np.sign(np.sin(np.arange(40) * 0.93 * np.pi))  # near Nyquist
    ref = _full_peaks(x).max()
    os_, tp = Oversampler(2), 0.0
    for i in range(0, n, 3001):
        blk = x[:, i : i + 3001]
        tp = max(tp, float(os_.peaks(blk, floor=max(tp, float(np.abs(blk).max()))).max()))
    tp = max(tp, float(os_.tail().max()))
    assert tp == pytest.approx(ref, rel=1e-12)


def _reference_gains(r: np.ndarray, lookahead: int, release_coef: float) -> np.ndarray:
    """The module docstring's limiter gain, written out plainly (pre-roll of ``lookahead`` ones)."""
    r = np.concatenate([np.ones(lookahead), r])
    out, h_prev, hs = [], 1.0, [1.0] * lookahead
    for k in range(r.shape[0] - lookahead + 1):
        m = r[k : k + lookahead].min()
        h = min(m, h_prev + (1.0 - h_prev) * release_coef)
        h_prev = h
        hs.append(h)
        out.append(sum(hs[-lookahead:]) / lookahead)
    return np.asarray(out)


def _step_by_step_gains(r: np.ndarray, lim: TruePeakLimiter) -> np.ndarray:
    """The limiter's gain kernel as it was before its rest shortcut, one step per sample in plain
    Python (monotonic deque, release, ring of the last ``lookahead`` h, re-summed once a lap):
    the arithmetic the kernel must repeat exactly."""
    la, coef = lim.lookahead, lim.release_coef
    dq: list[tuple[int, float]] = []
    ring, ring_sum, slot, hp, out = [1.0] * la, float(la), 0, 1.0, []
    for t, v in enumerate(np.concatenate([np.ones(la), r])):
        while dq and dq[-1][1] >= v:
            dq.pop()
        dq.append((t, float(v)))
        k = t - la + 1
        if k < 0:
            continue
        while dq[0][0] < k:
            dq.pop(0)
        h = min(dq[0][1], hp + (1.0 - hp) * coef)
        hp = h
        ring_sum += h - ring[slot]
        ring[slot] = h
        if slot == la - 1:
            ring_sum = 0.0
            for q in range(la):
                ring_sum += ring[q]
            slot = 0
        else:
            slot += 1
        out.append(ring_sum / la)
    return np.asarray(out[1:])  # the constructor's pre-roll gives the first


@pytest.mark.parametrize("release_ms", [1.0, 80.0])
def test_limiter_gains_at_rest_are_the_step_by_step_ones_exactly(release_ms):
    # Long rests after peaks: with a 1 ms release at 8 kHz h stops short of 1.0 (the next step
    # rounds back to it), with 80 ms it is still releasing; both must take the shortcut only
    # where it changes nothing.
    sr = 8000
    rng = np.random.default_rng(7)
    n = 40000
    r = np.ones(n)
    for at in (100, 3000, 3004, 20000):
        r[at : at + rng.integers(1, 40)] = rng.uniform(0.2, 0.9)
    r[30000:30300] = rng.uniform(0.8, 1.0, 300)
    r[30000:30300:4] = 1.0
    lim = TruePeakLimiter(sr, 1, ceiling_dbtp=-1.0, lookahead_ms=2.0, release_ms=release_ms)
    want = _step_by_step_gains(r, lim)
    got = np.concatenate([lim._feed_r(r[i : i + 1234]) for i in range(0, n, 1234)])
    np.testing.assert_array_equal(got, want)
    if release_ms == 1.0:  # h came to rest short of 1.0, as described, and ended at rest
        assert 1.0 - 1e-9 < lim._state_f[0] < 1.0 and lim._state_i[5] >= lim.lookahead
    else:  # still releasing at the end
        assert lim._state_f[0] < 1.0 and lim._state_i[5] < lim.lookahead


def test_limiter_gains_match_the_plain_reference_through_rests_and_peaks():
    sr = 8000
    lim = TruePeakLimiter(sr, 1, ceiling_dbtp=-1.0, lookahead_ms=2.0, release_ms=1.0)
    rng = np.random.default_rng(2)
    n = 30000
    r = np.ones(n)
    for at in (500, 520, 9000, 9005, 21000):  # peaks, with long rests between
        r[at : at + rng.integers(1, 30)] = rng.uniform(0.3, 0.95)
    r[15000:15400] = rng.uniform(0.9, 1.0, 400)  # a busy stretch
    r[15000:15400:3] = 1.0
    lim2 = TruePeakLimiter(sr, 1, ceiling_dbtp=-1.0, lookahead_ms=2.0, release_ms=1.0)
    want = _reference_gains(r, lim.lookahead, lim.release_coef)
    got = np.concatenate([lim._feed_r(r[i : i + 777]) for i in range(0, n, 777)])
    whole = lim2._feed_r(r)
    assert got.shape == whole.shape == (n,)
    np.testing.assert_array_equal(got, whole)  # block size does not matter
    # the constructor fed the pre-roll (its one output is the reference's first): got is want[1:]
    np.testing.assert_allclose(got, want[1:], rtol=0, atol=1e-12)
    assert got.min() < 0.5 and got[15000:15400].min() < 0.95 and got[3000:8000].min() > 1.0 - 1e-12
