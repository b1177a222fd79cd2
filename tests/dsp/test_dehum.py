"""De-hum: detection on real hum, measured removal, passthrough without hum, kernel, invariants."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import scipy.signal
import soundfile as sf

from dsp.chain import BuildContext, ChainSettings, StageSpec, analyse_source, build_chain
from dsp.dehum import (
    Dehummer,
    DehumSettings,
    HumEstimate,
    apply_notches,
    detect_hum,
    notch_bank,
    start_phasors,
    steady_state,
)
from dsp.engine import AudioSpec
from dsp.errors import ParameterError
from dsp.render import ArraySource, render_array, render_blocks

BLOCKS = [1, 64, 65, 511, 4096]
SR = 16000


def synthetic_hum(seconds=6.0, sr=SR, mains=60.0, seed=0, harmonics=(1, 2, 3, 5)):
    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(seed)
    hum = sum(0.02 / h * np.sin(2 * np.pi * mains * 1.0007 * h * t + h) for h in harmonics)
    return (hum + 0.003 * rng.standard_normal(t.size)).astype(np.float32)


def line_power_db(x, sr, freqs):
    f, p = scipy.signal.welch(x, sr, nperseg=int(2 * sr))
    out = []
    for fr in freqs:
        k = int(round(fr / (f[1] - f[0])))
        out.append(10 * np.log10(p[k - 1 : k + 2].sum()))
    return np.array(out)


def test_real_50hz_hum_is_detected_and_its_harmonics_removed(dev_data):
    x, sr = sf.read(dev_data / "noise" / "n03_hum_50hz.flac", dtype="float32")
    hum = detect_hum(ArraySource(x, sr))
    assert hum is not None and hum.mains_hz == 50.0
    assert abs(hum.fundamental_hz - 50.0) < 0.25
    assert set(range(1, 11)) <= set(hum.harmonics)
    y = render_array(x[None], sr, Dehummer(hum=hum))[0]
    removed = line_power_db(x[sr:], sr, hum.frequencies_hz[:10]) - line_power_db(y[sr:], sr, hum.frequencies_hz[:10])
    # measured on this recording: 25-38 dB on the first ten harmonics
    assert np.all(removed > 20.0), removed
    assert 20 * np.log10(np.std(y[sr:]) / np.std(x[sr:])) < -15.0


def test_hum_in_a_real_mixture_is_found_and_speech_is_kept(dev_data):
    noisy, sr = sf.read(dev_data / "mixtures" / "s02_freesound33711__hum_50hz__snr05_noisy.flac", dtype="float32")
    clean, _ = sf.read(dev_data / "mixtures" / "s02_freesound33711__hum_50hz__snr05_clean.flac", dtype="float32")
    hum = detect_hum(ArraySource(noisy, sr))
    assert hum is not None and {1, 2} <= set(hum.harmonics)
    y = render_array(noisy[None], sr, Dehummer(hum=hum))[0]
    err_before = np.std(noisy - clean)
    err_after = np.std(y - clean)
    assert 20 * np.log10(err_after / err_before) < -10.0


@pytest.mark.parametrize("name", ["s02_freesound33711", "s04_libri_3436", "s06_arctic_aew"])
def test_hum_free_speech_is_left_untouched(dev_data, name):
    x, sr = sf.read(dev_data / "clean" / f"{name}.flac", dtype="float32")
    assert detect_hum(ArraySource(x, sr)) is None
    settings = ChainSettings(stages=(StageSpec("dehum", DehumSettings()),))
    ctx = analyse_source(ArraySource(x[None], sr), settings, BuildContext(sr, 1))
    assert ctx.hum is None
    np.testing.assert_array_equal(render_array(x[None], sr, build_chain(settings, ctx)), x[None])


def test_white_noise_has_no_hum_and_60hz_is_told_from_50hz():
    noise = (np.random.default_rng(1).standard_normal(SR * 5) * 0.05).astype(np.float32)
    assert detect_hum(ArraySource(noise, SR)) is None
    hum = detect_hum(ArraySource(synthetic_hum(), SR))
    assert hum is not None and hum.mains_hz == 60.0 and {1, 2, 3, 5} <= set(hum.harmonics)
    assert detect_hum(ArraySource(synthetic_hum(), SR), DehumSettings(mains_hz=50.0)) is None


def reference_notches(x, freqs, bw, sr, depth=1.0):
    out = x.astype(np.float64).copy()
    for f in freqs:
        b, a = scipy.signal.iirpeak(f, f / bw, fs=sr)
        out -= depth * scipy.signal.lfilter(b, a, x.astype(np.float64))
    return out


@pytest.mark.parametrize("n_freqs", [1, 8, 11])
def test_notch_kernel_matches_scipy_reference(n_freqs):
    x = synthetic_hum(seconds=1.0)[None].repeat(2, axis=0)
    x[1] *= -0.5
    freqs = [60.0 * (h + 1) for h in range(n_freqs)]
    b0, a1, a2 = notch_bank(freqs, 2.0, SR)
    assert b0.size % 4 == 0
    z = np.zeros((2, b0.size))
    got = apply_notches(x, b0, a1, a2, z.copy(), z.copy(), 0.8)
    for c in range(2):
        np.testing.assert_allclose(got[c], reference_notches(x[c], freqs, 2.0, SR, 0.8), atol=2e-6)


HUM = HumEstimate(60.0, 60.04, (1, 2, 3, 5), (60.04, 120.08, 180.12, 300.2), (30.0, 25.0, 20.0, 15.0), SR, 6.0)


def make():
    return Dehummer(DehumSettings(bandwidth_hz=4.0), hum=HUM)


@pytest.mark.parametrize("block", BLOCKS)
def test_block_size_invariance(block):
    x = synthetic_hum(seconds=0.4 if block == 1 else 1.5)[None]
    np.testing.assert_array_equal(render_array(x, SR, make(), block_size=block), render_array(x, SR, make(), block_size=4096))


def test_reset_equals_fresh_and_stereo_equals_channels():
    x = np.stack([synthetic_hum(seconds=1.0), synthetic_hum(seconds=1.0, seed=3)])
    p = make()
    render_array(x[::-1].copy(), SR, p)
    both = render_array(x, SR, p)
    np.testing.assert_array_equal(both, render_array(x, SR, make()))
    for c in range(2):
        np.testing.assert_array_equal(both[c : c + 1], render_array(x[c : c + 1], SR, make()))


@pytest.mark.parametrize("start", [1, 5001, 30000])
def test_playhead_with_preroll_equals_full_render(start):
    """IIR notches: equal to float32 rounding (1e-6) once the declared preroll has passed."""
    x = synthetic_hum(seconds=4.0)[None]
    full = render_array(x, SR, make())
    p = make()
    part = np.concatenate(list(render_blocks(ArraySource(x, SR), p, start=start, stop=start + 3000, block_size=999)), axis=1)
    assert p.preroll > 0
    np.testing.assert_allclose(part, full[:, start : start + 3000], atol=1e-6, rtol=0)


def test_bad_settings_are_clear():
    with pytest.raises(ParameterError, match="mains_hz"):
        DehumSettings(mains_hz=55.0)
    with pytest.raises(ParameterError, match="bandwidth_hz"):
        DehumSettings(bandwidth_hz=0.0)
    with pytest.raises(ParameterError, match="depth"):
        DehumSettings(depth=2.0)


def test_hum_estimate_round_trip():
    assert HumEstimate.from_dict(HUM.to_dict()) == HUM
    assert "60.04 Hz" in HUM.summary()
    primed = detect_hum(ArraySource(synthetic_hum(seconds=3.0), SR))
    assert primed.start_phasors and HumEstimate.from_dict(primed.to_dict()) == primed


# -- the start of a render: the notches begin in their steady state -----------------------------
def rms_db(x):
    return 10 * np.log10(np.mean(np.asarray(x, np.float64) ** 2))


def test_steady_state_matches_running_the_filters_into_the_hum():
    """The closed-form start state against its reference: the notch kernel run from rest over
    a long stretch of the same lines, ending just before sample 0."""
    sr = 16000
    freqs = [50.01, 100.02, 150.03, 250.05, 350.07]
    b0, a1, a2 = notch_bank(freqs, 2.0, sr)
    w = 2 * np.pi * np.array(freqs) / sr
    amps = np.array([[0.02 * np.exp(1j * k) / (k + 1) for k in range(len(freqs))],
                     [0.01 * np.exp(-0.5j * k) for k in range(len(freqs))]])
    n = np.arange(-30 * sr, 0)
    x = np.stack([np.real((a[None, :] * np.exp(1j * np.outer(n, w))).sum(axis=1)) for a in amps]).astype(np.float32)
    z1, z2 = np.zeros((2, b0.size)), np.zeros((2, b0.size))
    apply_notches(x, b0, a1, a2, z1, z2, 1.0)
    s1, s2 = steady_state(b0, a1, a2, w, amps)
    np.testing.assert_allclose(s1, z1, atol=1e-7, rtol=0)
    np.testing.assert_allclose(s2, z2, atol=1e-7, rtol=0)
    assert np.abs(s1).max() > 1e-4  # not trivially zero


def test_start_phasors_recover_the_hum_at_the_first_sample():
    """Known amplitudes and phases (in noise, at the measured frequencies) come back within 1 %."""
    sr, f0 = 16000, 50.02
    t = np.arange(sr) / sr
    amps, phases = [0.05, 0.02, 0.01], [0.3, -1.2, 2.5]
    x = sum(a * np.cos(2 * np.pi * h * f0 * t + ph) for h, a, ph in zip((1, 2, 3), amps, phases, strict=True))
    x = (x + 0.002 * np.random.default_rng(0).standard_normal(t.size)).astype(np.float32)
    got = start_phasors(ArraySource(x, sr), [f0, 2 * f0, 3 * f0])
    assert len(got) == 1
    z = np.array(got[0][0::2]) + 1j * np.array(got[0][1::2])
    np.testing.assert_allclose(z, np.array(amps) * np.exp(1j * np.array(phases)), atol=0.01 * max(amps))
    assert start_phasors(ArraySource(x[: sr // 20], sr), [f0]) == ()  # 50 ms: too short to fit


def test_a_render_from_the_start_has_no_burst_of_hum():
    """Filters started from zero let the hum through while they settle (about 0.3 s at a 2 Hz
    bandwidth); started in the fitted hum's steady state, the first 100 ms are as clean as the rest."""
    x = synthetic_hum(seconds=4.0)
    hum = detect_hum(ArraySource(x, SR))
    assert hum is not None and len(hum.start_phasors) == 1
    steady = {}
    for label, est in (("primed", hum), ("cold", replace(hum, start_phasors=()))):
        y = render_array(x[None], SR, Dehummer(DehumSettings(), hum=est))[0]
        steady[label] = (rms_db(y[: SR // 10]), rms_db(y[2 * SR : 3 * SR]))
    head, rest = steady["primed"]
    assert head - rest < 1.0, steady  # measured: -0.2 dB
    head, rest = steady["cold"]
    assert head - rest > 10.0, steady  # the burst the priming removes (measured: 12.7 dB)


def test_real_hum_recording_starts_without_a_burst(dev_data):
    x, sr = sf.read(dev_data / "noise" / "n03_hum_50hz.flac", dtype="float32")
    hum = detect_hum(ArraySource(x, sr))
    y = render_array(x[None], sr, Dehummer(hum=hum))[0]
    assert rms_db(y[: sr // 10]) - rms_db(y[sr : 3 * sr]) < 2.0  # measured: -0.1 dB (22.5 dB unprimed)


def test_each_channel_starts_from_its_own_fit():
    x = synthetic_hum(seconds=3.0)
    stereo = np.stack([x, synthetic_hum(seconds=3.1, seed=1)[97 : 97 + x.size]])  # the same hum, another phase
    hum = detect_hum(ArraySource(stereo, SR))
    assert len(hum.start_phasors) == 2 and hum.for_channel(1).start_phasors == hum.start_phasors[1:]
    y = render_array(stereo, SR, Dehummer(hum=hum))
    for c in range(2):
        assert rms_db(y[c, : SR // 10]) - rms_db(y[c, SR : 2 * SR]) < 1.0
        np.testing.assert_array_equal(render_array(stereo[c : c + 1], SR, Dehummer(hum=hum.for_channel(c)))[0], y[c])


def test_priming_needs_a_fit_for_this_rate_and_channel_count():
    x = synthetic_hum(seconds=2.0)
    hum = detect_hum(ArraySource(x, SR))
    stereo = np.stack([x, x])
    cold = replace(hum, start_phasors=())
    # a mono fit on stereo input: no priming (both channels behave like the unprimed filter)
    np.testing.assert_array_equal(render_array(stereo, SR, Dehummer(hum=hum)), render_array(stereo, SR, Dehummer(hum=cold)))
    # only a reset at the first sample is primed (a playhead further on has real history instead)
    p = Dehummer(hum=hum)
    p.prepare(AudioSpec(SR, 1, 512))
    p.reset(position=0)
    assert np.any(p._z1 != 0)
    p.reset(position=SR)
    assert not np.any(p._z1) and not np.any(p._z2)


@pytest.mark.parametrize("start", [1, 5001, 30000])
def test_primed_playhead_equals_full_render(start):
    """A playhead within the preroll of the start renders from 0 (primed, like the full render);
    later ones converge from a cold start within the preroll."""
    x = synthetic_hum(seconds=4.0)[None]
    hum = detect_hum(ArraySource(x, SR))
    full = render_array(x, SR, Dehummer(DehumSettings(bandwidth_hz=4.0), hum=hum))
    p = Dehummer(DehumSettings(bandwidth_hz=4.0), hum=hum)
    part = np.concatenate(list(render_blocks(ArraySource(x, SR), p, start=start, stop=start + 3000, block_size=999)), axis=1)
    np.testing.assert_allclose(part, full[:, start : start + 3000], atol=1e-6, rtol=0)


def test_long_term_spectrum_reads_each_sample_once_and_matches_the_framewise_reference():
    from dsp.dehum import long_term_spectrum

    sr = 8000
    x = (0.1 * np.random.default_rng(3).standard_normal((2, 7 * sr))).astype(np.float32)

    class CountingSource(ArraySource):
        read_samples = 0

        def read(self, start, frames):
            out = super().read(start, frames)
            CountingSource.read_samples += out.shape[1]
            return out

    src = CountingSource(x, sr)
    freqs, power, seconds = long_term_spectrum(src, analysis_s=6.0)
    n_fft, hop, total = 16384, 8192, 6 * sr
    w = scipy.signal.get_window("hann", n_fft).astype(np.float32)
    ref, count = np.zeros(n_fft // 2 + 1), 0
    for pos in range(0, total - n_fft + 1, hop):
        spec = np.fft.rfft((x[:, pos : pos + n_fft] * w).astype(np.float64), axis=-1)
        ref += np.mean(np.abs(spec) ** 2, axis=0)
        count += 1
    np.testing.assert_allclose(power, ref / count, rtol=1e-4, atol=1e-9 * ref.max())
    assert seconds == 6.0 and freqs[1] == pytest.approx(sr / n_fft)
    assert CountingSource.read_samples <= total  # each sample decoded once, not twice
