"""Denoise passes: kernels against numpy references, caps, tone preservation, engine invariants."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from dsp.chain import BuildContext, ChainSettings, StageSpec, build_chain
from dsp.denoise import (
    LSA_TABLE,
    LSA_TABLE_SIZE,
    LSA_TABLE_U_MAX,
    GateSettings,
    MmseDenoiser,
    MmseSettings,
    SpectralGate,
    _box_smooth,
    lsa_gain,
    smoothing_half_width,
    time_coefficient,
)
from dsp.errors import ParameterError
from dsp.render import ArraySource, render_array, render_blocks
from dsp.roomtone import estimate_room_tone
from dsp.stft import FrameBlock, StftGeometry, StftProcessor, StftSettings

SR = 16000
BLOCKS = [1, 64, 65, 511, 4096]
GEOM = StftGeometry(SR, 1, 512, 128)


def white(n, seed=0, scale=0.01, channels=1):
    return (np.random.default_rng(seed).standard_normal((channels, n)) * scale).astype(np.float32)


def profile_for(x, sr=SR):
    return estimate_room_tone(x, sr, regions=[(0, x.shape[-1] / sr)])


# -- numpy references ---------------------------------------------------------------------------
def box_ref(raw, half):
    out = np.empty_like(raw)
    for b in range(raw.size):
        lo, hi = max(0, b - half), min(raw.size, b + half + 1)
        out[b] = raw[lo:hi].mean()
    return out


def keep_ref(sm, raw, xi, keep):
    out = sm.copy()
    for b in np.flatnonzero(xi > keep):
        lo, hi = max(0, b - 2), min(sm.size, b + 3)
        out[lo:hi] = np.maximum(out[lo:hi], raw[b])
    return out


def hold_ref(box, g_prev, attack, release, floor, started):
    target = np.clip(box, floor, 1.0)
    if not started:
        return target
    coef = np.where(target > g_prev, attack, release)
    return target + coef * (g_prev - target)


def presence_ref(sm, gamma, zeta, s, started, floor):
    """Speech presence from the time- and band-smoothed ML SNR; uniform floor where speech is absent."""
    beta = time_coefficient(s.presence_time_ms, GEOM.hop_length, SR) if started else 0.0
    zlo, zhi = 10 ** (s.presence_low_snr_db / 10), 10 ** (s.presence_high_snr_db / 10)
    zeta = beta * zeta + (1 - beta) * np.minimum(gamma * 10 ** (s.over_subtraction_db / 10) - 1, 100 * zhi)

    def ramp(v, lo, hi):
        return np.clip((v - lo) / (hi - lo), 0.0, 1.0)

    p = ramp(box_ref(zeta, 1), zlo, zhi) * ramp(box_ref(zeta, smoothing_half_width(s.presence_smoothing_hz, GEOM)), zlo, zhi)
    if s.frame_presence:
        fhi = 10 ** (s.frame_presence_snr_db / 10)
        p = p * ramp(zeta.mean(), fhi * 10 ** -0.5, fhi)
    return floor + p * (np.maximum(sm ** s.speech_gain_exponent, floor) - floor), zeta


def gate_ref(spectra, gcum, noise, s: GateSettings, stage: SpectralGate):
    c_n, k_n, _ = spectra.shape
    out = np.empty(spectra.shape, np.float64)
    for c in range(c_n):
        prev, g, started, zeta = None, None, False, 0.0
        for k in range(k_n):
            p = np.abs(spectra[c, k].astype(np.complex128)) ** 2
            gamma = p / (noise * gcum[c, k].astype(np.float64) ** 2 + 1e-20)
            ml = np.maximum(gamma - 1, 0)
            xi = s.snr_smoothing * prev + (1 - s.snr_smoothing) * ml if started else ml
            raw = (xi / (1 + xi)) ** s.gain_exponent
            sm = box_ref(raw, stage._half)
            sm = keep_ref(sm, raw, xi, 10 ** (s.keep_snr_db / 10))
            floor = 10 ** (-s.max_reduction_db / 20)
            if s.speech_presence:
                sm, zeta = presence_ref(sm, gamma, zeta if started else 0.0, s, started, floor)
            g = hold_ref(sm, g, stage._attack, stage._release, floor, started)
            prev = gamma * raw * raw if s.speech_presence else gamma * g * g
            out[c, k] = g
            started = True
    return out


def mmse_ref(spectra, original, gcum, init, s: MmseSettings, stage: MmseDenoiser):
    c_n, k_n, _ = spectra.shape
    xi_h1 = 10 ** (s.speech_prior_snr_db / 10)
    out = np.empty(spectra.shape, np.float64)
    for c in range(c_n):
        started, prev, g, sig, spp, zeta = False, None, None, None, None, 0.0
        for k in range(k_n):
            po = np.abs(original[c, k].astype(np.complex128)) ** 2
            if not started:
                sig = init.astype(np.float64) if init is not None else po + 1e-20
                spp = np.full(po.shape, 0.5)
            e = np.minimum(po / (sig + 1e-20) * xi_h1 / (1 + xi_h1), 24.0)
            p = 1 / (1 + (1 + xi_h1) * np.exp(-e))
            spp = 0.9 * spp + 0.1 * p
            p = np.where(spp > 0.99, np.minimum(p, 0.99), p)
            sig = np.minimum(stage._track * sig + (1 - stage._track) * ((1 - p) * po + p * sig), stage._ceiling)
            pc = np.abs(spectra[c, k].astype(np.complex128)) ** 2
            gamma = pc / (sig * 10 ** (s.over_subtraction_db / 10) * gcum[c, k] ** 2 + 1e-20)
            ml = np.maximum(gamma - 1, 0)
            xi = s.snr_smoothing * prev + (1 - s.snr_smoothing) * ml if started else ml
            xi = np.maximum(xi, 10 ** (s.min_prior_snr_db / 10))
            raw = np.minimum(lsa_gain(xi, gamma), 1.0)
            sm = box_ref(raw, stage._half)
            sm = keep_ref(sm, raw, xi, 10 ** (s.keep_snr_db / 10))
            floor = 10 ** (-s.max_reduction_db / 20)
            if s.speech_presence:
                sm, zeta = presence_ref(sm, gamma, zeta if started else 0.0, s, started, floor)
            g = hold_ref(sm, g if started else None, stage._attack, stage._release, floor, started)
            prev = gamma * raw * raw if s.speech_presence else gamma * g * g
            out[c, k] = g
            started = True
    return out


def random_block(seed, channels=2, frames=40, bins=GEOM.bins, scale=1.0):
    rng = np.random.default_rng(seed)
    level = np.exp(rng.normal(0, 2, (channels, frames, 1)))  # speech-like level changes
    spec = (rng.standard_normal((channels, frames, bins)) + 1j * rng.standard_normal((channels, frames, bins)))
    spec = (spec * level * scale).astype(np.complex64)
    fb = FrameBlock(spec, 0, 10 ** (-40 / 20))
    fb.gain[:] = rng.uniform(0.3, 1.0, fb.gain.shape).astype(np.float32)
    return fb


def test_box_smooth_kernel_matches_reference():
    rng = np.random.default_rng(1)
    for n, half in ((257, 0), (257, 1), (257, 3), (1025, 7), (5, 3), (12, 2)):
        raw = rng.random(n).astype(np.float32)
        box = np.zeros(n, np.float32)
        _box_smooth(raw, box, half)
        np.testing.assert_allclose(box, box_ref(raw, half), rtol=1e-5)


def test_lsa_table_matches_exact_gain():
    xi = np.logspace(-3, 2, 60)[:, None]
    gamma = np.logspace(-2, 2, 60)[None, :]
    v = xi * gamma / (1 + xi)
    u = np.sqrt(v)
    pos = np.minimum(u, LSA_TABLE_U_MAX) / (LSA_TABLE_U_MAX / (LSA_TABLE_SIZE - 1))
    i = np.minimum(pos.astype(int), LSA_TABLE_SIZE - 2)
    t = LSA_TABLE[i] + (pos - i) * (LSA_TABLE[i + 1] - LSA_TABLE[i])
    approx = np.where(u < LSA_TABLE_U_MAX, xi / (1 + xi) * t / u, xi / (1 + xi))
    np.testing.assert_allclose(approx, lsa_gain(xi, gamma), rtol=2e-3)


@pytest.mark.parametrize("presence", [True, False])
@pytest.mark.parametrize("exponent", [0.5, 1.0, 2.0])
def test_gate_kernel_matches_numpy_reference(exponent, presence):
    s = GateSettings(gain_exponent=exponent, max_reduction_db=12.0, speech_presence=presence,
                     frequency_smoothing_hz=0.0 if presence else 400.0, speech_gain_exponent=0.8,
                     frame_presence=exponent == 1.0)
    noise = np.full(GEOM.bins, 2.0)
    fb = random_block(2)
    prof = estimate_room_tone(white(SR), SR)
    stage = SpectralGate(s, profile=prof)
    stage.prepare(StftGeometry(SR, 2, 512, 128))
    stage._noise = noise.astype(np.float32)
    got = np.concatenate([stage.gains(_slice(fb, 0, 17)), stage.gains(_slice(fb, 17, 40))], axis=1)
    np.testing.assert_allclose(got, gate_ref(fb.spectra, fb.gain, noise, s, stage), rtol=2e-4, atol=1e-6)


@pytest.mark.parametrize("presence", [True, False])
@pytest.mark.parametrize("with_profile", [True, False])
def test_mmse_kernel_matches_numpy_reference(with_profile, presence):
    s = MmseSettings(max_reduction_db=12.0, over_subtraction_db=2.0, speech_presence=presence,
                     frame_presence=with_profile)
    fb = random_block(3)
    prof = estimate_room_tone(white(SR, scale=1 / 16), SR) if with_profile else None
    stage = MmseDenoiser(s, profile=prof)
    stage.prepare(StftGeometry(SR, 2, 512, 128))
    got = np.concatenate([stage.gains(_slice(fb, 0, 9)), stage.gains(_slice(fb, 9, 40))], axis=1)
    ref = mmse_ref(fb.spectra, fb.original, fb.gain, stage._init if with_profile else None, s, stage)
    # float32 kernel with a polynomial exp vs float64 with np.exp: a bin sitting exactly on a
    # threshold (presence clamp, keep_snr_db) may flip, so a handful may differ by a little more.
    close = np.isclose(got, ref, rtol=2e-3, atol=2e-4)
    assert close.mean() > 0.999
    assert np.max(np.abs(got - ref)) < 0.03


def _slice(fb, a, b):
    out = FrameBlock(np.ascontiguousarray(fb.spectra[:, a:b]), a, 1e-3)
    out.original = np.ascontiguousarray(fb.original[:, a:b])
    out.gain = np.ascontiguousarray(fb.gain[:, a:b])
    return out


@hsettings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000), cap=st.floats(0.0, 20.0), scale=st.floats(1e-4, 1e3),
    kind=st.sampled_from(["gate", "mmse"]), exponent=st.sampled_from([0.5, 1.0, 1.7]),
)
def test_each_pass_never_attenuates_more_than_its_cap(seed, cap, scale, kind, exponent):
    fb = random_block(seed, scale=scale, frames=25)
    prof = estimate_room_tone(white(SR, seed=seed, scale=0.05), SR)
    if kind == "gate":
        stage = SpectralGate(GateSettings(max_reduction_db=cap, gain_exponent=exponent), profile=prof)
    else:
        stage = MmseDenoiser(MmseSettings(max_reduction_db=cap), profile=prof if seed % 2 else None)
    stage.prepare(StftGeometry(SR, 2, 512, 128))
    g = stage.gains(fb)
    floor = np.float32(10 ** (-cap / 20))
    assert np.all(np.isfinite(g))
    assert g.min() >= floor * np.float32(1 - 1e-6)
    assert g.max() <= 1.0
    # applied through the engine's apply_gain the spectra shrink by at most the cap too
    before = np.abs(fb.spectra).copy()
    gain_before = fb.gain.copy()
    fb.apply_gain(g, 1.0)
    ratio = np.abs(fb.spectra)[before > 0] / before[before > 0]
    floor_total = np.maximum(floor, fb.total_floor / gain_before)[before > 0]
    assert np.all(ratio >= np.minimum(floor_total, 1.0) * (1 - 1e-5))


def chain(kinds, prof, **kw):
    specs = []
    for k in kinds:
        specs.append(StageSpec(k, GateSettings(**kw) if k == "gate" else MmseSettings(**kw)))
    return build_chain(ChainSettings(stages=tuple(specs), stft=StftSettings(n_fft=512)), BuildContext(SR, 1, profile=prof))


def test_pure_tone_in_white_noise_keeps_its_level():
    n = SR * 4
    t = np.arange(n) / SR
    noise = white(n, seed=4, scale=0.003)
    tone = (0.1 * np.sin(2 * np.pi * 1000.0 * t)).astype(np.float32)
    prof = profile_for(white(SR * 2, seed=9, scale=0.003))
    for kinds in (("gate",), ("mmse",), ("gate", "mmse")):
        y = render_array(noise + tone, SR, chain(kinds, prof))[0, SR:]
        x = (noise + tone)[0, SR:]
        w = np.hanning(y.size)
        k = int(round(1000.0 * y.size / SR))

        def lvl(s, w=w, k=k):
            return 20 * np.log10(np.max(np.abs(np.fft.rfft(s * w))[k - 2 : k + 3]))

        assert abs(lvl(y) - lvl(x)) < 0.5, kinds
        # while the noise away from the tone goes down by most of the cap
        spec_in = np.abs(np.fft.rfft(x * w)) ** 2
        spec_out = np.abs(np.fft.rfft(y * w)) ** 2
        band = slice(int(3000 * y.size / SR), int(7000 * y.size / SR))
        assert 10 * np.log10(spec_out[band].sum() / spec_in[band].sum()) < -3.0


@pytest.mark.parametrize("kinds", [("gate",), ("mmse",), ("gate", "mmse", "gate")])
def test_steady_noise_is_reduced_by_the_caps_within_the_total(kinds):
    x = white(SR * 3, seed=5)
    prof = profile_for(white(SR * 2, seed=6))
    y = render_array(x, SR, chain(kinds, prof))[0, SR:]
    drop = 20 * np.log10(np.std(y) / np.std(x[0, SR:]))
    assert -6.0 * len(kinds) - 0.1 <= drop
    assert drop >= -15.1  # the chain's total cap
    assert drop < -3.0 * min(len(kinds), 2)


def test_mmse_works_without_a_profile_and_tracks_a_level_change():
    x = white(SR * 6, seed=7)
    x[:, 3 * SR :] *= 4.0  # the noise gets 12 dB louder
    y = render_array(x, SR, chain(("mmse",), None))
    late = 20 * np.log10(np.std(y[0, 5 * SR :]) / np.std(x[0, 5 * SR :]))
    assert -6.1 < late < -3.0  # MMSE-LSA lifts low bins: it sits above its floor on steady noise


def test_gate_needs_a_profile_with_a_clear_error():
    with pytest.raises(ParameterError, match="needs a room-tone profile"):
        build_chain(ChainSettings(stages=(StageSpec("gate", GateSettings()),)), BuildContext(SR, 1))
    with pytest.raises(ParameterError, match="needs a room-tone profile"):
        SpectralGate(GateSettings())


def test_profile_from_another_rate_is_refused_or_adapted():
    prof16 = profile_for(white(SR * 2))
    with pytest.raises(ParameterError, match="Learn the profile again"):
        render_array(white(48000, channels=1), 48000, build_chain(
            ChainSettings(stages=(StageSpec("gate", GateSettings()),)), BuildContext(48000, 1, profile=prof16)))
    # another FFT size at the same rate: adapted in prepare()
    y = render_array(white(SR * 2, seed=3), SR, build_chain(
        ChainSettings(stages=(StageSpec("gate", GateSettings()),), stft=StftSettings(n_fft=1024)),
        BuildContext(SR, 1, profile=prof16)))
    assert 20 * np.log10(np.std(y[0, SR:]) / 0.01) < -3.0


def test_bad_settings_are_clear():
    with pytest.raises(ParameterError, match="max_reduction_db"):
        GateSettings(max_reduction_db=-1)
    with pytest.raises(ParameterError, match="snr_smoothing"):
        MmseSettings(snr_smoothing=1.0)
    with pytest.raises(ParameterError, match="noise_tracking_ms"):
        MmseSettings(noise_tracking_ms=0.0)
    with pytest.raises(ParameterError, match="attack_ms"):
        GateSettings(attack_ms=-5)


# -- engine invariants ----------------------------------------------------------------------------
def speechy(n, channels=1, seed=0):
    """Noise with syllable-rate bursts: exercises gate opening and closing."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((channels, n)) * 0.01
    t = np.arange(n) / SR
    env = 1 + 20 * (np.sin(2 * np.pi * 3 * t + rng.uniform(0, 6, (channels, 1))) > 0.6)
    return (x * env).astype(np.float32)


PROF = None


def make(kinds):
    global PROF
    if PROF is None:
        PROF = profile_for(white(SR, seed=11))
    return lambda: chain(kinds, PROF)


PASSES = {"gate": ("gate",), "mmse": ("mmse",), "gate+mmse": ("gate", "mmse")}


@pytest.mark.parametrize("name", list(PASSES))
@pytest.mark.parametrize("block", BLOCKS)
def test_block_size_invariance(name, block):
    x = speechy(3000 if block == 1 else 12000)
    ref = render_array(x, SR, make(PASSES[name])(), block_size=4096)
    out = render_array(x, SR, make(PASSES[name])(), block_size=block)
    np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("name", list(PASSES))
def test_reset_equals_fresh(name):
    x = speechy(9000)
    p = make(PASSES[name])()
    render_array(speechy(9000, seed=5), SR, p)
    np.testing.assert_array_equal(render_array(x, SR, p), render_array(x, SR, make(PASSES[name])()))


@pytest.mark.parametrize("name", list(PASSES))
def test_stereo_equals_channels_separately(name):
    x = speechy(9000, channels=2)
    both = render_array(x, SR, make(PASSES[name])())
    for c in range(2):
        np.testing.assert_array_equal(both[c : c + 1], render_array(x[c : c + 1], SR, make(PASSES[name])()))


@pytest.mark.parametrize("name", list(PASSES))
@pytest.mark.parametrize("start", [1, 777, 20000, 30001])
def test_playhead_with_preroll_equals_full_render(name, start):
    """Recursive state: equal within 1e-5 of full scale after the declared preroll (not bit-exact)."""
    x = speechy(SR * 3)
    full = render_array(x, SR, make(PASSES[name])())
    stop = min(start + 4000, x.shape[1])
    p = make(PASSES[name])()
    part = np.concatenate(list(render_blocks(ArraySource(x, SR), p, start=start, stop=stop, block_size=700)), axis=1)
    np.testing.assert_allclose(part, full[:, start:stop], atol=1e-5, rtol=0)


def test_preroll_is_declared():
    p = make(("gate", "mmse"))()
    p.prepare(__import__("dsp.engine", fromlist=["AudioSpec"]).AudioSpec(SR, 1))
    stft = p.wet.processors[0]
    assert isinstance(stft, StftProcessor)
    assert stft.preroll >= 512 + int(2.0 * SR / 128) * 128


@pytest.mark.parametrize("kind", ["gate", "mmse"])
def test_speech_presence_gives_steady_noise_one_uniform_floor(kind):
    """Where speech is absent every bin gets the same gain (the floor): the residual is the input noise
    scaled, so isolated bins cannot survive as musical noise, even with no frequency smoothing."""
    x = white(SR * 3, seed=11)
    prof = profile_for(white(SR * 2, seed=12))
    kw = dict(frequency_smoothing_hz=0.0, over_subtraction_db=0.0)
    stage = (SpectralGate(GateSettings(**kw), profile=prof) if kind == "gate"
             else MmseDenoiser(MmseSettings(**kw), profile=prof))
    stage.prepare(StftGeometry(SR, 1, 512, 128))
    spec = np.stack([np.fft.rfft(x[0, i * 128 : i * 128 + 512] * np.hanning(512)) for i in range(300)])
    fb = FrameBlock(np.ascontiguousarray(spec[None].astype(np.complex64)), 0, 1e-3)
    g = stage.gains(fb)[0, 100:, 1:-1]  # after the state settled; DC and Nyquist aside
    floor = 10 ** (-6 / 20)
    assert np.mean(np.abs(g - floor) < 0.02) > 0.9  # measured 0.95 (gate): a few bins still open
    # without presence the same pass leaves many bins well above the floor
    off = (SpectralGate(GateSettings(speech_presence=False, **kw), profile=prof) if kind == "gate"
           else MmseDenoiser(MmseSettings(speech_presence=False, **kw), profile=prof))
    off.prepare(StftGeometry(SR, 1, 512, 128))
    g_off = off.gains(fb)[0, 100:, 1:-1]
    assert np.mean(np.abs(g_off - floor) < 0.02) < np.mean(np.abs(g - floor) < 0.02) - 0.3
