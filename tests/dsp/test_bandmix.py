"""Per-band dry/wet: mix 1 is the wet path bit for bit, mix 0 the dry path, in between a smooth blend."""

from __future__ import annotations

import numpy as np
import pytest

from dsp.bandmix import BandMixer, BandMixSettings, band_mix_curve
from dsp.chain import stage_kind
from dsp.errors import ParameterError
from dsp.render import render_array
from dsp.stft import SpectralStage, StftProcessor, StftSettings

SR = 48000


def noise(channels=1, n=30000, seed=0):
    return (np.random.default_rng(seed).standard_normal((channels, n)) * 0.1).astype(np.float32)


class Attenuate(SpectralStage):
    def __init__(self, db):
        self.g = np.float32(10 ** (db / 20))

    def process_frames(self, fb):
        fb.apply_gain(np.full(fb.spectra.shape, self.g, np.float32))


def run(x, *stages):
    return render_array(x, SR, StftProcessor(list(stages), settings=StftSettings(n_fft=1024)))


def test_mix_one_everywhere_is_the_wet_path_bit_for_bit():
    x = noise(channels=2)
    wet = run(x, Attenuate(-12))
    out = run(x, Attenuate(-12), BandMixer(BandMixSettings(mix_below=1.0, mix_above=1.0)))
    np.testing.assert_array_equal(out, wet)


def test_mix_zero_everywhere_is_the_dry_path_bit_for_bit():
    x = noise()
    dry = run(x)  # the STFT's own identity
    out = run(x, Attenuate(-12), BandMixer(BandMixSettings(mix_below=0.0, mix_above=0.0)))
    np.testing.assert_array_equal(out, dry)


def test_keeps_more_dry_above_the_crossover():
    x = noise(n=96000)
    out = run(x, Attenuate(-12), BandMixer(BandMixSettings(crossover_hz=8000, mix_below=1.0, mix_above=0.5)))
    X, Y = np.fft.rfft(x[0]), np.fft.rfft(out[0])
    f = np.fft.rfftfreq(x.shape[1], 1 / SR)

    def gain_db(lo, hi):
        sel = (f > lo) & (f < hi)
        return 10 * np.log10(np.sum(np.abs(Y[sel]) ** 2) / np.sum(np.abs(X[sel]) ** 2))

    assert gain_db(1000, 6000) == pytest.approx(-12.0, abs=0.2)
    # above: 0.5 * 1 + 0.5 * 10^(-12/20) amplitude (same phase, so no comb filtering)
    assert gain_db(10000, 20000) == pytest.approx(20 * np.log10(0.5 + 0.5 * 10 ** (-12 / 20)), abs=0.2)


def test_curve_shape_and_stage_mix():
    s = BandMixSettings(crossover_hz=8000, mix_below=1.0, mix_above=0.7, transition_octaves=0.5)
    f = np.array([100.0, 8000 / 2**0.25 - 1, 8000.0, 8000 * 2**0.25 + 1, 20000.0])
    m = band_mix_curve(s, f)
    assert m[0] == 1.0 and m[-1] == np.float32(0.7) and m[3] == np.float32(0.7)
    assert m[2] == pytest.approx(0.85, abs=1e-6)
    assert np.all(np.diff(m) <= 0)
    # stage mix 0 is a bit-exact no-op
    x = noise()
    stage = BandMixer(BandMixSettings(mix_above=0.0))
    stage.mix = 0.0
    np.testing.assert_array_equal(run(x, Attenuate(-12), stage), run(x, Attenuate(-12)))


def test_registered_and_validated():
    kind = stage_kind("bandmix")
    assert kind.domain == "spectral" and kind.role == "repair"
    with pytest.raises(ParameterError, match="mix_above"):
        BandMixer(BandMixSettings(mix_above=1.5))
