"""Mouth de-click (issue 23): the kernels against numpy references, detection of inserted clicks
(and not of plosive bursts or onsets), the LSAR repair, the engine invariants with clicks present."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from dsp.declick import (
    ClickMap,
    Declicker,
    DeclickSettings,
    ar_residual,
    context_period,
    detect_clicks,
    levinson,
    lsar_fill,
    repair_filter,
    repair_span,
)
from dsp.engine import AudioSpec
from dsp.errors import ParameterError
from dsp.render import ArraySource, render_array, render_blocks
from tests.dsp.mouth_signals import SR, damped_click, voice


# -- kernels against references -----------------------------------------------------------------
def test_levinson_matches_a_toeplitz_solve():
    rng = np.random.default_rng(1)
    x = np.convolve(rng.standard_normal(4000), [1, 0.6, -0.3, 0.2], mode="same")
    p = 12
    r = np.array([np.dot(x[: x.size - k], x[k:]) for k in range(p + 1)])
    a = levinson(r[None])[0]
    ref = -scipy.linalg.solve_toeplitz(r[:p], r[1 : p + 1])
    assert a[0] == 1.0
    np.testing.assert_allclose(a[1:], ref, rtol=1e-8, atol=1e-10)


def test_ar_residual_matches_blockwise_convolution():
    rng = np.random.default_rng(2)
    x = rng.standard_normal(1000)
    a = np.concatenate([np.ones((5, 1)), rng.standard_normal((5, 4)) * 0.3], axis=1)
    e = ar_residual(x, a, 200, first=0)
    ref = np.concatenate([np.convolve(x, a[j])[: x.size][j * 200 : (j + 1) * 200] for j in range(5)])
    np.testing.assert_allclose(e, ref, rtol=1e-12, atol=1e-12)
    with pytest.raises(ParameterError):
        ar_residual(x, a[:2], 200)


def _lsar_reference(seg, lo, hi, a):
    """Dense least squares: minimise ||E x|| over the missing samples (every equation in seg)."""
    p = a.size - 1
    rows = range(p, seg.size)
    big = np.zeros((len(rows), seg.size))
    for i, n in enumerate(rows):
        big[i, n - p : n + 1] = a[::-1]
    unknown = np.arange(lo, hi)
    known = np.setdiff1d(np.arange(seg.size), unknown)
    u, *_ = np.linalg.lstsq(big[:, unknown], -big[:, known] @ seg[known], rcond=None)
    return u


def test_lsar_fill_matches_dense_least_squares():
    rng = np.random.default_rng(3)
    x = np.convolve(rng.standard_normal(600), [1, 0.9, 0.5], mode="same")
    a = repair_filter(x[:200], x[260:], 10)
    got = lsar_fill(x, 200, 260, a)
    np.testing.assert_allclose(got, _lsar_reference(x, 200, 260, a), rtol=1e-6, atol=1e-8)
    with pytest.raises(ParameterError):
        lsar_fill(x, 5, 60, a)  # not enough context before the gap


def test_lsar_rebuilds_a_sine_through_a_gap():
    t = np.arange(2000) / SR
    x = np.sin(2 * np.pi * 440 * t)
    a = repair_filter(x[:900], x[1000:], 16)
    got = lsar_fill(x, 900, 1000, a)
    assert np.max(np.abs(got - x[900:1000])) < 1e-2  # -40 dB of the sine over a 2 ms gap


def test_context_period_matches_a_brute_force_search():
    rng = np.random.default_rng(5)
    t = np.arange(4000)
    x = np.sin(2 * np.pi * t / 173.0) + 0.5 * np.sin(4 * np.pi * t / 173.0 + 1) + 0.05 * rng.standard_normal(t.size)
    lo, hi, c, t_lo, t_hi = 2000, 2080, 400, 100, 500
    got_t, got_r = context_period(x, lo, hi, c, t_lo, t_hi)
    rs = []
    for lag in range(t_lo, t_hi + 1):
        left, right = x[lo - c : lo], x[hi : hi + c]
        l2, r2 = x[lo - c - lag : lo - lag], x[hi + lag : hi + c + lag]
        rs.append((left @ l2 + right @ r2) / np.sqrt((left @ left + right @ right) * (l2 @ l2 + r2 @ r2)))
    rs = np.array(rs)
    peaks = [k for k in range(rs.size) if (k == 0 or rs[k] >= rs[k - 1]) and (k == rs.size - 1 or rs[k] >= rs[k + 1])]
    first = min(k for k in peaks if rs[k] >= 0.95 * rs.max())  # the shortest peak near the best, not 2 periods
    assert got_t == t_lo + first == 173 and got_r == pytest.approx(rs[first], abs=1e-9)
    gap = repair_span(x, lo, hi, c, 32, t_lo, t_hi)
    assert np.max(np.abs(gap - x[lo:hi])) < 0.2  # within the noise (0.05 rms) and its interpolation


# -- detection ----------------------------------------------------------------------------------
def _detect(x, settings=None, sr=SR):
    return detect_clicks(ArraySource(x[None].astype(np.float32), sr), settings or DeclickSettings())


def _hit(cm: ClickMap, a: int, b: int) -> bool:
    return bool(np.any((cm.starts < b + 48) & (cm.ends > a - 48)))


def test_clicks_in_pauses_and_words_are_found_and_clean_voice_is_left_alone():
    x = voice(2.0)
    assert _detect(x).starts.size == 0
    y = x.copy()
    at = {"pause": int(0.02 * SR), "word": int(0.33 * SR)}  # before the first syllable; in its loud middle
    y[at["pause"] + 2000 : at["pause"] + 2000 + 72] += damped_click(ms=1.5, peak=0.02)
    y[at["word"] : at["word"] + 96] += damped_click(ms=2.0, peak=0.08, freq=4000.0)
    cm = _detect(y)
    assert _hit(cm, at["pause"] + 2000, at["pause"] + 2072)
    assert _hit(cm, at["word"], at["word"] + 96)
    assert cm.starts.size == 2
    ev = cm.events
    assert ev[0].kind == "click" and 0 < ev[0].end_s - ev[0].start_s < 0.01


def test_a_plosive_burst_after_silence_is_not_a_click():
    rng = np.random.default_rng(4)
    x = voice(2.0)
    s = int(0.66 * SR)  # in the pause before the second syllable
    burst = rng.standard_normal(int(0.03 * SR)) * np.exp(-np.arange(int(0.03 * SR)) / (0.008 * SR)) * 0.05
    burst[:24] *= np.linspace(0, 1, 24)
    y = x.copy()
    y[s : s + burst.size] += burst
    assert _detect(y).starts.size == 0
    assert _detect(y).rejected_long + _detect(y).rejected_onset > 0  # seen and turned down


def test_a_fricative_onset_is_not_a_click():
    rng = np.random.default_rng(6)
    x = voice(2.0)
    s = int(0.4 * SR)  # in the pause between the syllables: an "s" starting abruptly, 150 ms
    n = int(0.15 * SR)
    hiss = np.convolve(rng.standard_normal(n), [1.0, -0.95], mode="same") * 0.03
    hiss[:48] *= np.linspace(0, 1, 48)
    y = x.copy()
    y[s : s + n] += hiss
    cm = _detect(y)
    assert not _hit(cm, s - 480, s + n)


@pytest.mark.parametrize("where_s", [0.5, 0.2])
def test_repair_takes_the_click_out_and_leaves_every_other_sample(where_s):
    """In a pause (0.5 s) and inside a loud vowel (0.2 s: peak 0.12 against the click's 0.05, where
    plain LSAR gets 7 dB and the pitch-assisted repair 26 dB) the click goes down by 20 dB."""
    at_least_db = 20.0
    x = voice(1.0)
    y = x.copy()
    s = int(where_s * SR)
    c = damped_click(ms=1.5, peak=0.05)
    y[s : s + c.size] += c
    src = ArraySource(y[None].astype(np.float32), SR)
    cm = detect_clicks(src, DeclickSettings())
    assert _hit(cm, s, s + c.size)
    out = render_array(y[None].astype(np.float32), SR, Declicker(DeclickSettings(), clicks=cm))[0]
    click_db = 10 * np.log10(np.sum(c ** 2))
    left_db = 10 * np.log10(np.sum((out[s - 48 : s + c.size + 48] - x[s - 48 : s + c.size + 48]) ** 2))
    assert click_db - left_db >= at_least_db
    outside = np.ones(y.size, bool)
    for a, b in zip(cm.starts, cm.ends, strict=True):
        outside[a:b] = False
    np.testing.assert_array_equal(out[outside], y.astype(np.float32)[outside])


def test_engine_invariants_with_clicks_present():
    x = voice(1.5)
    for s in (int(0.02 * SR), int(0.6 * SR), int(1.3 * SR)):
        x[s : s + 72] += damped_click(ms=1.5, peak=0.03)
    x = np.stack([x, x]).astype(np.float32)
    cm = detect_clicks(ArraySource(x, SR), DeclickSettings())
    assert cm.starts.size >= 2

    def make():
        return Declicker(DeclickSettings(), clicks=cm)

    ref = render_array(x, SR, make(), block_size=4096)
    for bs in (1, 17, 512):
        np.testing.assert_array_equal(render_array(x, SR, make(), block_size=bs), ref)
    for start in (0, 777, int(0.6 * SR) - 30):
        part = np.concatenate(list(render_blocks(ArraySource(x, SR), make(), start=start, stop=start + 9000,
                                                 block_size=333)), axis=1)
        np.testing.assert_array_equal(part, ref[:, start : start + 9000])
    np.testing.assert_array_equal(ref[0], ref[1])
    assert not np.array_equal(ref, x)


def test_clicks_found_at_another_rate_are_refused():
    cm = ClickMap(16000, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32))
    with pytest.raises(ParameterError, match="16000 Hz"):
        Declicker(clicks=cm).prepare(AudioSpec(48000, 1))


def test_click_map_round_trips_and_reads_as_events():
    cm = ClickMap(48000, np.array([10, 100]), np.array([20, 130]), np.array([20.0, 30.5], np.float32), 2, 3)
    back = ClickMap.from_dict(cm.to_dict())
    assert back.to_dict() == cm.to_dict() and back.summary()["clicks"] == 2
    assert len(cm) == 2 and [e.start_s for e in cm] == [10 / 48000, 100 / 48000]


@pytest.mark.parametrize("field,value", [("click_threshold_db", 3.0), ("max_click_ms", 0.0), ("onset_guard_db", -1.0),
                                         ("pitch_isolation_db", 50.0), ("ar_order", 2), ("context_ms", 100.0)])
def test_settings_out_of_range_are_refused(field, value):
    with pytest.raises(ParameterError, match=field):
        DeclickSettings(**{field: value})
