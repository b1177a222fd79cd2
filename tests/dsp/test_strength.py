"""Adaptive strength: the SNR decides how far each pass goes, never past the user's caps."""

from __future__ import annotations

import math

import numpy as np
import pytest

from app.presets import apply_overrides, load_preset
from dsp.chain import BuildContext, analyse_source, build_chain
from dsp.errors import ParameterError
from dsp.render import ArraySource, render_array
from dsp.roomtone import estimate_room_tone
from dsp.strength import (
    FRAME_S,
    StrengthSettings,
    apply_strength,
    estimate_snr,
    frame_powers,
    strength_from_snr,
)

SR = 16000


def _speech_like(snr_db: float, seconds: float = 8.0, seed: int = 0) -> tuple[np.ndarray, float]:
    """Noise at -40 dBFS with 'syllables' (modulated tones) in alternate 0.5 s, at ``snr_db``
    active speech power over the noise; returns (signal, noise power)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    noise = rng.standard_normal(n) * 0.01
    t = np.arange(n) / SR
    on = (np.floor(t / 0.5) % 2 == 1).astype(float)
    tone = np.sin(2 * np.pi * 220 * t) + 0.5 * np.sin(2 * np.pi * 660 * t)
    tone *= on
    active = np.mean(tone[on > 0] ** 2)
    tone *= math.sqrt(1e-4 * 10 ** (snr_db / 10) / active)
    return (noise + tone).astype(np.float32), 1e-4


@pytest.mark.parametrize("snr", [0.0, 5.0, 12.0, 20.0])
def test_snr_estimate_reads_the_speech_over_the_room_tone(snr):
    x, noise_power = _speech_like(snr)
    est, speech_s = estimate_snr(frame_powers(ArraySource(x[None, :], SR)), noise_power)
    assert abs(est - snr) < 1.5
    assert speech_s == pytest.approx(0.5 * len(x) / SR, abs=2 * FRAME_S)


def test_snr_estimate_edges():
    assert estimate_snr(np.full(10, 1e-4), 1e-4)[0] == -math.inf  # nothing louder than the room
    assert estimate_snr(np.full(10, 1e-4), 0.0)[0] == math.inf  # a silent room
    assert estimate_snr(np.zeros(10), 1e-4)[0] == math.inf  # digital silence: nothing to take away


def test_frame_powers_average_channels_and_ignore_dc():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, SR)).astype(np.float32) * np.array([[0.1], [0.2]], np.float32) + 0.5
    p = frame_powers(ArraySource(x, SR))
    assert p.shape == (SR // int(round(FRAME_S * SR)),)
    assert np.mean(p) == pytest.approx((0.01 + 0.04) / 2, rel=0.05)


def test_strength_is_linear_between_the_anchors_and_clipped():
    st = StrengthSettings(adaptive=True, light_snr_db=20, strong_snr_db=0)
    assert strength_from_snr(25, st) == 0.0
    assert strength_from_snr(-5, st) == 1.0
    assert strength_from_snr(10, st) == pytest.approx(0.5)
    assert strength_from_snr(-math.inf, st) == 1.0 and strength_from_snr(math.inf, st) == 0.0
    with pytest.raises(ParameterError):
        StrengthSettings(light_snr_db=0, strong_snr_db=5)


def _adaptive(caps: tuple[float, float], total: float):
    return apply_overrides(load_preset("podcast"), [
        "strength.adaptive=true", f"gate.max_reduction_db={caps[0]}", f"mmse.max_reduction_db={caps[1]}",
        f"max_total_reduction_db={total}",
    ])


def _passes(chain):
    return [s.settings.max_reduction_db for s in chain.stages if s.kind in ("gate", "mmse")]


def test_apply_strength_never_exceeds_the_caps():
    chain = _adaptive((15, 4), 30)
    is_pass = lambda k: k in ("gate", "mmse", "dehum")  # noqa: E731
    light, est0 = apply_strength(chain, 0.0, is_pass)
    strong, est1 = apply_strength(chain, 1.0, is_pass)
    half, _ = apply_strength(chain, 0.5, is_pass)
    assert _passes(light) == [6.0, 4.0]  # light is min(cap, 6 dB): the 4 dB cap holds
    assert _passes(strong) == [15.0, 4.0]
    assert _passes(half) == [10.5, 4.0]
    assert light.max_total_reduction_db == 15.0 and strong.max_total_reduction_db == 30.0
    pause = [s.settings.pause_level_db for s in (light, half, strong) for s in s.stages if s.kind == "refill"]
    assert pause[0] == -7.0 and pause[2] == -20.0 and pause[0] > pause[1] > pause[2]
    assert est1.reductions_db == (15.0, 4.0) and est1.total_db == 30.0


def test_the_chain_chooses_more_for_lower_snr_and_records_it():
    chain = _adaptive((15, 15), 30)
    chosen = {}
    for snr in (0.0, 25.0):
        x, _ = _speech_like(snr, seed=2)
        src = ArraySource(x[None, :], SR)
        profile = estimate_room_tone(x, SR, regions=[(0.0, 0.45)])
        ctx = analyse_source(src, chain, BuildContext(SR, 1, profile=profile))
        est = ctx.extras["strength"]
        assert abs(est.snr_db - snr) < 2.0
        chosen[snr] = est
        y = render_array(x[None, :], SR, build_chain(chain, ctx))
        assert np.all(np.isfinite(y))
    assert chosen[0.0].strength == 1.0 and chosen[0.0].reductions_db == (15.0, 15.0)
    assert chosen[25.0].strength == 0.0 and chosen[25.0].reductions_db == (6.0, 6.0)


def test_adaptive_off_leaves_the_chain_as_set():
    x, _ = _speech_like(0.0, seconds=3.0)
    profile = estimate_room_tone(x, SR, regions=[(0.0, 0.45)])
    chain = load_preset("podcast")
    assert not chain.strength.adaptive
    ctx = analyse_source(ArraySource(x[None, :], SR), chain, BuildContext(SR, 1, profile=profile))
    assert "strength" not in ctx.extras
    forced = apply_overrides(chain, ["strength.adaptive=true"])
    ctx2 = analyse_source(ArraySource(x[None, :], SR), forced, BuildContext(SR, 1, profile=profile))
    # at 0 dB SNR the adaptive chain goes to the caps, which are the preset's own 6 dB passes here
    a = render_array(x[None, :], SR, build_chain(chain, ctx))
    b = render_array(x[None, :], SR, build_chain(forced, ctx2))
    assert ctx2.extras["strength"].reductions_db == (6.0, 6.0)
    pause = [s.settings.pause_level_db for s in chain.stages if s.kind == "refill"][0]
    assert ctx2.extras["strength"].pause_level_db < pause  # ... but the pause floor goes down
    assert not np.array_equal(a, b)


def test_strength_settings_round_trip_through_toml_and_set():
    import tomllib

    from app.presets import preset_to_toml
    from dsp.chain import ChainSettings

    chain = apply_overrides(load_preset("podcast"), ["strength.adaptive=yes", "strength.light_snr_db=18"])
    assert chain.strength.adaptive and chain.strength.light_snr_db == 18.0
    assert ChainSettings.from_dict(tomllib.loads(preset_to_toml(chain))) == chain
    with pytest.raises(ParameterError, match="strength"):
        apply_overrides(load_preset("podcast"), ["strength.speech_fraction=0"])
