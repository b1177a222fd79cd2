"""Tests of the Qt-free session model (app.session). Shared helpers live here.

The stage kinds registered here (``t_gate``, ``t_denoise``, ``t_gain``) are small stand-ins so
these tests do not depend on the real passes being built elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dsp.chain import ChainSettings, StageKind, StageSpec, register, registry, unregister
from dsp.engine import Gain
from dsp.io import write_audio
from dsp.roomtone import NoiseProfile
from dsp.stft import SpectralStage


@dataclass(frozen=True)
class TGateSettings:
    max_reduction_db: float = 6.0
    threshold_db: float = -40.0
    bands_hz: tuple[float, ...] = (100.0, 4000.0)
    adaptive: bool = True
    order: int = 2

    def __post_init__(self) -> None:
        from dsp.errors import ParameterError

        if not 0.0 <= self.max_reduction_db <= 40.0:
            raise ParameterError(f"max_reduction_db must be 0-40 dB, got {self.max_reduction_db}")


@dataclass(frozen=True)
class TGainSettings:
    gain_db: float = -3.0


class _ConstGain(SpectralStage):
    def __init__(self, settings, context) -> None:
        self.settings = settings
        self.context = context
        self.mix = 1.0

    def process_frames(self, frames) -> None:
        g = np.full(frames.spectra.shape, 10 ** (-self.settings.max_reduction_db / 20), np.float32)
        frames.apply_gain(g, self.mix)


TEST_KINDS = ("t_gate", "t_denoise", "t_gain")


def unregister_test_kinds() -> None:
    """Remove the stand-ins again (the registry is global: later tests must not see them)."""
    for name in TEST_KINDS:
        unregister(name)


def register_test_kinds() -> None:
    registry()  # import the real stage modules first, so ours are not shadowed later
    register(StageKind("t_gate", "Gate", TGateSettings, "spectral", _ConstGain, role="pass"))
    register(StageKind("t_denoise", "MMSE", TGateSettings, "spectral", _ConstGain, needs_profile=True))
    register(StageKind("t_gain", "Trim", TGainSettings, "time", lambda s, c: Gain(s.gain_db), role="utility"))


def make_chain() -> ChainSettings:
    return ChainSettings(
        stages=(StageSpec("t_gate", TGateSettings()), StageSpec("t_gain", TGainSettings())),
        name="test",
    )


def write_test_wav(path: Path, *, seconds: float = 2.0, sample_rate: int = 16000, channels: int = 1,
                   seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    n = int(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    audio = 0.01 * rng.standard_normal((channels, n)) + 0.2 * np.sin(2 * np.pi * 220 * t) * (t > seconds / 2)
    write_audio(path, audio.astype(np.float32), sample_rate, "float32")
    return path


def make_profile(sample_rate: int = 16000, n_fft: int = 512, seed: int = 1) -> NoiseProfile:
    rng = np.random.default_rng(seed)
    bins = n_fft // 2 + 1
    return NoiseProfile(
        sample_rate=sample_rate, n_fft=n_fft, hop_length=n_fft // 4,
        mean_power=rng.random(bins) * 1e-4, power_std=rng.random(bins) * 1e-5, level_dbfs=-62.5,
        regions=[(0.5, 1.25)], duration_s=0.75, method="learn", source="ep.wav",
    )
