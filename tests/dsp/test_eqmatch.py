"""EQ match: a band a pass over-suppressed in speech is restored, within the boost bound."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import scipy.fft

from dsp.chain import (
    BuildContext,
    ChainSettings,
    StageKind,
    StageSpec,
    analyse_source,
    build_chain,
    register,
    stage_kind,
    unregister,
)
from dsp.eqmatch import EqMatchSettings
from dsp.errors import ParameterError
from dsp.render import ArraySource, render_array
from dsp.roomtone import NoiseProfile
from dsp.stft import SpectralStage, StftSettings, frame_signal, stft_windows

SR, N_FFT, HOP = 48000, 2048, 512


@dataclass(frozen=True)
class BandCutSettings:
    low_hz: float = 2000.0
    high_hz: float = 4000.0
    cut_db: float = 10.0


class BandCut(SpectralStage):
    """A deliberately over-suppressing 'pass': cuts one band by cut_db, everywhere."""

    def __init__(self, settings):
        self.settings = settings

    def process_frames(self, fb):
        f = self.geometry.bin_frequencies()
        g = np.ones(f.size, np.float32)
        g[(f >= self.settings.low_hz) & (f <= self.settings.high_hz)] = 10 ** (-self.settings.cut_db / 20)
        fb.apply_gain(np.broadcast_to(g, fb.spectra.shape).copy(), self.mix)


@pytest.fixture
def bandcut_kind():
    """A stand-in pass that cuts a band (registered for one test, then removed)."""
    register(StageKind("test_bandcut", "Test band cut", BandCutSettings, "spectral", lambda s, c: BandCut(s),
                       role="pass"))
    yield "test_bandcut"
    unregister("test_bandcut")


def speechy(seconds=6.0, seed=0):
    """Loud broadband bursts (0.4 s on / 0.4 s off) over quiet noise; returns (signal, noise-only)."""
    rng = np.random.default_rng(seed)
    n = int(SR * seconds)
    room = rng.standard_normal(n) * 0.003
    t = np.arange(n) / SR
    env = (np.floor(t / 0.4) % 2 == 1).astype(np.float64)
    speech = rng.standard_normal(n) * 0.1 * env
    return (room + speech).astype(np.float32)[None], room.astype(np.float32)[None]


def profile_of(x):
    w, _ = stft_windows(N_FFT, HOP)
    p = (np.abs(scipy.fft.rfft(frame_signal(x, N_FFT, HOP, w), axis=-1)).astype(np.float64) ** 2)[0]
    return NoiseProfile(SR, N_FFT, HOP, p.mean(0), p.std(0), -50.0)


def band_level(x, lo, hi, frames_sel=None):
    w, _ = stft_windows(N_FFT, HOP)
    p = (np.abs(scipy.fft.rfft(frame_signal(x, N_FFT, HOP, w), axis=-1)) ** 2)[0]
    f = np.arange(p.shape[1]) * SR / N_FFT
    if frames_sel is not None:
        p = p[frames_sel]
    return 10 * np.log10(p[:, (f >= lo) & (f <= hi)].mean())


def test_eq_match_restores_an_over_suppressed_band_within_its_bound(bandcut_kind):
    x, room = speechy()
    prof = profile_of(room)
    chain = ChainSettings(
        stages=(StageSpec("test_bandcut", BandCutSettings()), StageSpec("eqmatch", EqMatchSettings(max_boost_db=6.0))),
        stft=StftSettings(n_fft=N_FFT),
    )
    ctx = analyse_source(ArraySource(x, SR), chain, BuildContext(SR, 1, profile=prof, extras={"chain_settings": chain}))
    curve = ctx.extras["eq_curve"]
    f, g = np.asarray(curve["frequencies_hz"]), np.asarray(curve["gain_db"])
    assert curve["speech_frames"] > 100
    assert g.max() <= 6.0 + 1e-9 and g.min() >= 0.0
    assert np.all(g[(f > 2400) & (f < 3600)] > 5.5)  # the 10 dB cut, restored up to the 6 dB bound
    assert np.all(g[(f > 200) & (f < 1300)] < 0.5)  # untouched bands stay flat
    assert np.all(g[(f > 6000) & (f < 20000)] < 0.5)
    out = render_array(x, SR, build_chain(chain, ctx))
    cut_only = render_array(x, SR, build_chain(ChainSettings(stages=chain.stages[:1], stft=chain.stft), ctx))
    w, _ = stft_windows(N_FFT, HOP)
    speech = (np.abs(scipy.fft.rfft(frame_signal(x, N_FFT, HOP, w), axis=-1)) ** 2)[0].sum(1) > prof.mean_power.sum() * 100
    loss_before = band_level(cut_only, 2500, 3500, speech) - band_level(x, 2500, 3500, speech)
    loss_after = band_level(out, 2500, 3500, speech) - band_level(x, 2500, 3500, speech)
    assert loss_before == pytest.approx(-10.0, abs=0.5)
    assert loss_after == pytest.approx(-4.0, abs=0.7)
    assert band_level(out, 500, 1000, speech) == pytest.approx(band_level(x, 500, 1000, speech), abs=0.3)


def test_nothing_to_restore_gives_a_flat_curve():
    x, room = speechy(seconds=4.0)
    prof = profile_of(room)
    chain = ChainSettings(stages=(StageSpec("eqmatch", EqMatchSettings()),), stft=StftSettings(n_fft=N_FFT))
    ctx = analyse_source(ArraySource(x, SR), chain, BuildContext(SR, 1, profile=prof, extras={"chain_settings": chain}))
    assert max(ctx.extras["eq_curve"]["gain_db"]) < 0.5


def test_clear_errors_and_registration():
    kind = stage_kind("eqmatch")
    assert kind.domain == "spectral" and kind.role == "repair" and kind.analyse is not None
    chain = ChainSettings(stages=(StageSpec("eqmatch", EqMatchSettings()),))
    with pytest.raises(ParameterError, match="no curve"):
        build_chain(chain, BuildContext(SR, 1))
    with pytest.raises(ParameterError, match="max_boost_db"):
        EqMatchSettings(max_boost_db=40).validate()
