"""Per-band dry/wet inside the STFT (stage kind ``bandmix``).

Algorithm
---------
For every frame, ``Y <- X + m(f) * (Y - X)`` where ``X`` is the chain's input spectrum
(``FrameBlock.original``), ``Y`` what the stages before this one made of it, and ``m(f)`` a
per-bin mix: ``mix_below`` under the crossover, ``mix_above`` over it, joined by a raised-cosine
transition ``transition_octaves`` wide centred (in log frequency) on ``crossover_hz``. The
default keeps 30 % dry above 8 kHz, where consonants (s, t, sh) live and passes tend to eat
them. Bins where ``m`` is exactly 1 are left bit for bit (the wet path); where it is exactly 0
they become ``X`` bit for bit (the dry path). Because dry and wet are the same frames of the
same STFT, the blend is phase-aligned by construction (no comb filtering). The stage's own
``mix`` scales the effect: ``m_eff = 1 + mix * (m - 1)``. The cumulative gain is blended the
same way, so later stages see the gain actually applied.

Units: mixes are linear amplitude weights 0..1; frequencies in Hz.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dsp.chain import BuildContext, StageKind, register
from dsp.schema import check_settings, setting
from dsp.stft import FrameBlock, SpectralStage, StftGeometry


@dataclass(frozen=True)
class BandMixSettings:
    """Per-band dry/wet: how much of the processed (wet) signal to keep below/above a crossover."""

    crossover_hz: float = setting(8000.0, lo=20.0, hi=96000.0, unit="Hz",
                                  doc="Where the blend changes from the low band's mix to the high band's.")
    mix_below: float = setting(1.0, lo=0.0, hi=1.0, doc="Share of the processed signal kept below the crossover.")
    mix_above: float = setting(0.7, lo=0.0, hi=1.0, doc="Share of the processed signal kept above the crossover.")
    transition_octaves: float = setting(0.5, lo=0.0, hi=4.0, unit="octaves",
                                        doc="Width of the raised-cosine change around the crossover.")

    def __post_init__(self) -> None:
        self.validate()  # every settings object is valid from birth (issue 20)

    def validate(self) -> None:
        check_settings(self, "bandmix")


def band_mix_curve(settings: BandMixSettings, frequencies: np.ndarray) -> np.ndarray:
    """Wet fraction ``m(f)`` (float32) at ``frequencies`` (Hz)."""
    f = np.asarray(frequencies, np.float64)
    t = settings.transition_octaves
    with np.errstate(divide="ignore"):
        octs = np.log2(np.maximum(f, 1e-9) / settings.crossover_hz)
    if t > 0:
        u = np.clip(octs / t + 0.5, 0.0, 1.0)
        s = 0.5 - 0.5 * np.cos(math.pi * u)
    else:
        s = (octs >= 0).astype(np.float64)
    m = settings.mix_below + (settings.mix_above - settings.mix_below) * s
    # exact end values where the curve is flat (bit-exact wet / dry paths)
    m = np.where(s == 0.0, settings.mix_below, np.where(s == 1.0, settings.mix_above, m))
    return m.astype(np.float32)


class BandMixer(SpectralStage):
    """Blends the chain's input back in per frequency band (see the module header)."""

    mix = 1.0

    def __init__(self, settings: BandMixSettings) -> None:
        settings.validate()
        self.settings = settings

    def prepare(self, geometry: StftGeometry) -> None:
        self.curve = band_mix_curve(self.settings, geometry.bin_frequencies())
        super().prepare(geometry)

    def process_frames(self, frames: FrameBlock) -> None:
        m = self.curve if self.mix == 1.0 else (1.0 + np.float32(self.mix) * (self.curve - 1.0)).astype(np.float32)
        if np.all(m == 1.0):
            return
        y, x, g = frames.spectra, frames.original, frames.gain
        blend = (m != 1.0) & (m != 0.0)
        dry = m == 0.0
        if dry.any():
            y[:, :, dry] = x[:, :, dry]
            g[:, :, dry] = 1.0
        if blend.any():
            mb = m[blend]
            yb, xb = y[:, :, blend], x[:, :, blend]
            y[:, :, blend] = xb + mb * (yb - xb)
            g[:, :, blend] = 1.0 + mb * (g[:, :, blend] - 1.0)


def _factory(settings: BandMixSettings, context: BuildContext) -> BandMixer:
    return BandMixer(settings)


BANDMIX = register(
    StageKind(
        name="bandmix",
        label="Band dry/wet",
        settings_cls=BandMixSettings,
        domain="spectral",
        factory=_factory,
        description="Per-band dry/wet of everything before it (e.g. keep more dry above 8 kHz for consonants).",
        role="repair",
        placement=55,
    )
)
