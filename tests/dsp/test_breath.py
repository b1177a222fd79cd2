"""Breath control (issue 23): the detector against inserted breaths, the gain rule (set amount,
never below the room tone, gate to room tone, never silence), and settings validation."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from dsp.breath import BreathSettings, detect_breaths, frame_features
from dsp.chain import ChainSettings, StageSpec
from dsp.errors import ParameterError
from dsp.render import ArraySource, render_array

SR = 16000


def _voice(n: int, rng, f0: float = 130.0) -> np.ndarray:
    t = np.arange(n) / SR
    f = f0 * (1 + 0.05 * np.sin(2 * np.pi * 3 * t))
    ph = 2 * np.pi * np.cumsum(f) / SR
    x = sum(np.sin(k * ph) / k for k in range(1, 20))
    return x / np.sqrt(np.mean(x**2))


def _breath(n: int, rng) -> np.ndarray:
    import scipy.signal

    sos = scipy.signal.butter(4, [500, 6000], btype="bandpass", fs=SR, output="sos")
    y = scipy.signal.sosfilt(sos, rng.standard_normal(n)) * np.hanning(n)
    return y / np.sqrt(np.mean(y**2))


def _signal(breath_db=(-40.0, -45.0, -50.0), room_db=-75.0, seed=1):
    """Phrases of a harmonic voice at -20 dBFS, breaths between them at known places, over noise."""
    rng = np.random.default_rng(seed)
    parts, breaths, pos = [], [], 0
    for bdb in [*breath_db, None]:
        v = _voice(int(1.2 * SR), rng) * 10 ** (-20 / 20) * np.hanning(int(1.2 * SR)) ** 0.2
        parts.append(v)
        pos += v.size
        if bdb is None:
            break
        gap = np.zeros(int(1.0 * SR))
        b = _breath(int(0.4 * SR), rng) * 10 ** (bdb / 20)
        gap[int(0.3 * SR) : int(0.3 * SR) + b.size] = b
        breaths.append((pos + int(0.3 * SR), pos + int(0.3 * SR) + b.size))
        parts.append(gap)
        pos += gap.size
    x = np.concatenate(parts)
    x = x + rng.standard_normal(x.size) * 10 ** (room_db / 20)
    return x.astype(np.float32), breaths


def _render(x, settings=None):
    settings = settings or BreathSettings()
    from app.pipeline import prepare_processor

    chain = ChainSettings(stages=(StageSpec("breath", settings),))
    src = ArraySource(x[None], SR)
    proc, ctx = prepare_processor(src, chain)
    return render_array(x[None], SR, proc)[0], ctx


def _level(x):
    return 10 * np.log10(np.mean(x.astype(np.float64) ** 2) + 1e-20)


def test_features_tell_voice_from_breath():
    rng = np.random.default_rng(0)
    n = int(0.04 * SR)
    v = _voice(n * 4, rng)[:n]
    b = _breath(n * 4, rng)[n : 2 * n]
    lv, per, flat, low = frame_features(np.stack([v, b]), SR)
    assert per[0] > 0.8 and per[1] < 0.45
    assert flat[1] > 0.2 > flat[0]
    assert low[0] > low[1]


def test_detector_finds_the_inserted_breaths_and_no_speech():
    x, breaths = _signal()
    plan = detect_breaths(ArraySource(x[None], SR), BreathSettings())
    assert len(plan.events) == len(breaths)
    for ev, (a, b) in zip(plan.events, breaths, strict=True):
        assert abs(ev.start_s - a / SR) < 0.08 and abs(ev.end_s - b / SR) < 0.08
        assert ev.kind == "breath" and ev.strength_db > 10


def test_breaths_are_lowered_by_the_set_amount_and_the_rest_is_untouched():
    x, breaths = _signal()
    y, ctx = _render(x, BreathSettings(reduction_db=10.0))
    assert [e.kind for e in ctx.extras["breath_events"]] == ["breath"] * len(breaths)
    for a, b in breaths:
        m0, m1 = a + (b - a) // 4, b - (b - a) // 4
        assert _level(x[m0:m1]) - _level(y[m0:m1]) == pytest.approx(10.0, abs=1.0)
    # speech (well away from the breaths' ramps) is bit-exact
    far = np.ones(x.size, bool)
    for a, b in breaths:
        far[a - SR // 10 : b + SR // 10] = False
    np.testing.assert_array_equal(y[far], x[far])


def test_never_below_the_room_tone_and_gate_goes_to_the_room_tone_not_silence():
    # a breath only 8 dB over the room tone: 10 dB would take it under the room tone
    x, breaths = _signal(breath_db=(-67.0,), room_db=-75.0, seed=3)
    plan = detect_breaths(ArraySource(x[None], SR), BreathSettings(min_rise_db=4.0))
    assert len(plan.events) == 1
    room = plan.floor_dbfs
    y, _ = _render(x, BreathSettings(min_rise_db=4.0, reduction_db=20.0))
    a, b = breaths[0]
    assert plan.events[0].reduction_db <= plan.events[0].strength_db + 3.0
    assert _level(y[a:b]) >= room - 1.0
    x2, breaths2 = _signal(breath_db=(-45.0,), seed=4)
    yg, ctx = _render(x2, BreathSettings(gate_to_room_tone=True))
    a, b = breaths2[0]
    m0, m1 = a + (b - a) // 4, b - (b - a) // 4
    floor = ctx.extras["breath_plan"].floor_dbfs
    # down to the room tone (it stops 1 dB over it, and a frame goes only as low as its quietest
    # neighbour allows), not below, never to silence
    assert floor - 0.5 <= _level(yg[m0:m1]) <= floor + 5.0
    assert _level(x2[m0:m1]) - _level(yg[m0:m1]) > 15.0


def test_no_breaths_means_an_exact_passthrough():
    rng = np.random.default_rng(5)
    x = (_voice(2 * SR, rng) * 0.1).astype(np.float32)
    y, ctx = _render(x)
    assert ctx.extras["breath_events"] == ()
    np.testing.assert_array_equal(y, x)


@pytest.mark.parametrize("bad", [dict(reduction_db=-1), dict(reduction_db=99), dict(min_breath_ms=500, max_breath_ms=400),
                                 dict(max_periodicity=1.5), dict(gate_to_room_tone="yes"), dict(ramp_ms=float("nan"))])
def test_settings_are_validated(bad):
    with pytest.raises(ParameterError, match="breath"):
        replace(BreathSettings(), **bad)
