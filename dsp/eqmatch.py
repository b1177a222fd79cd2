"""EQ match: gently restore bands the passes over-suppressed in speech (stage kind ``eqmatch``).

Algorithm
---------
Analysis (the kind's ``analyse`` hook, before building): over at most ``analysis_seconds`` of
the source, the chain *without* its EQ-match stages is rendered block by block (the same render
path as everything else), and both the input and that output are analysed on the chain's STFT
grid. Speech frames are those whose broadband power exceeds the room tone's by
``speech_margin_db`` (a seam: ``context.extras["speech_frames"]``, a callable ``(power) -> bool
mask``, lets a voice-activity model choose them instead). Over speech frames the long-term
spectra are ``S_in`` (input) and ``S_out`` (processed); the speech actually present is
``S_in - N`` (``N`` the room tone). The restoring curve is
``10*log10((S_in - N) / S_out)`` dB where speech dominates (``S_in > N * speech_snr``), 0
elsewhere (so noise is never boosted back), boost only, smoothed over ``smoothing_octaves``
and bounded by ``max_boost_db``. It is stored in ``context.extras["eq_curve"]`` as
``{"frequencies_hz": [...], "gain_db": [...]}``.

Processing: the stage applies the curve as a static gain (``FrameBlock.apply_gain``, blended by
the stage's ``mix``), boosting only where the passes over-suppressed.

Units: powers in the engine's spectra units; gains in dB (curve) and linear (applied).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import scipy.fft

from dsp.chain import BuildContext, ChainSettings, StageKind, build_chain, register
from dsp.errors import ParameterError
from dsp.render import render_blocks
from dsp.schema import check_settings, setting
from dsp.stft import FrameBlock, SpectralStage, StftGeometry, frame_signal, stft_windows


@dataclass(frozen=True)
class EqMatchSettings:
    """EQ match (each field's range and meaning in its schema)."""

    max_boost_db: float = setting(6.0, lo=0.0, hi=12.0, unit="dB", doc="Largest boost of the restoring curve.")
    smoothing_octaves: float = setting(1.0 / 3.0, lo=0.0, hi=2.0, unit="octaves",
                                       doc="Smoothing of the curve (fractional octaves).")
    speech_margin_db: float = setting(10.0, lo=0.0, hi=60.0, unit="dB",
                                      doc="A frame is speech when its power is this far above the room tone's.")
    speech_snr: float = setting(2.0, lo=0.01, hi=1000.0,
                                doc="A bin is restored only where speech power is at least this times the room tone's.")
    analysis_seconds: float = setting(180.0, lo=0.1, hi=36000.0, unit="s",
                                      doc="At most this much of the file (from the start) is analysed.")
    low_hz: float = setting(60.0, lo=0.0, hi=96000.0, unit="Hz", doc="Lowest frequency the curve may act on.")
    high_hz: float = setting(0.0, lo=0.0, hi=96000.0, unit="Hz",
                             doc="Highest frequency the curve may act on (0 = Nyquist).")

    def __post_init__(self) -> None:
        self.validate()  # every settings object is valid from birth (issue 20)

    def validate(self) -> None:
        check_settings(self, "eqmatch")


def _long_term_speech_spectra(x: np.ndarray, y: np.ndarray, n_fft: int, hop: int, noise: np.ndarray,
                              settings: EqMatchSettings, speech_frames: Any) -> tuple[np.ndarray, np.ndarray, int]:
    w, _ = stft_windows(n_fft, hop)
    px = np.abs(scipy.fft.rfft(frame_signal(x, n_fft, hop, w), axis=-1)) ** 2  # (c, k, b)
    py = np.abs(scipy.fft.rfft(frame_signal(y, n_fft, hop, w), axis=-1)) ** 2
    px = px.mean(axis=0)
    py = py.mean(axis=0)
    if speech_frames is not None:
        sel = np.asarray(speech_frames(px), bool)
    else:
        sel = px.sum(axis=1) > noise.sum() * 10.0 ** (settings.speech_margin_db / 10.0)
    if not sel.any():
        return np.zeros(px.shape[1]), np.zeros(px.shape[1]), 0
    return px[sel].mean(axis=0), py[sel].mean(axis=0), int(sel.sum())


def eq_match_curve(source: Any, chain: ChainSettings, context: BuildContext,
                   settings: EqMatchSettings = EqMatchSettings()) -> dict:
    """Measure the restoring curve of ``chain`` on ``source`` (see the module header).

    Parameters
    ----------
    source : BlockSource
    chain : ChainSettings
        The whole chain; its ``eqmatch`` stages are left out of the measurement.
    context : BuildContext
        Whole-file knowledge (the room-tone profile is used for the noise floor).

    Returns
    -------
    dict with ``frequencies_hz``, ``gain_db`` (lists), ``speech_frames`` (int) and ``warnings``.
    """
    from dsp.refill import profile_power, smooth_octaves

    settings.validate()
    sr = int(source.sample_rate)
    n_fft, hop = chain.stft.resolve(sr)
    bins = n_fft // 2 + 1
    freqs = np.arange(bins) * (sr / n_fft)
    stages = tuple(s for s in chain.stages if s.kind != "eqmatch")
    dry_chain = replace(chain, stages=stages, mix=1.0, listen="processed")
    stop = int(min(source.frames, round(settings.analysis_seconds * sr)))
    warnings: list[str] = []
    flat = {"frequencies_hz": freqs.tolist(), "gain_db": [0.0] * bins, "speech_frames": 0, "warnings": warnings}
    if stop < n_fft * 4:
        warnings.append("EQ match: the file is too short to analyse; no EQ applied")
        return flat
    proc = build_chain(dry_chain, context)
    y = np.concatenate(list(render_blocks(source, proc, start=0, stop=stop)), axis=1)
    x = np.ascontiguousarray(source.read(0, stop), dtype=np.float32)
    if context.profile is not None:
        noise = profile_power(context.profile, n_fft, hop)
    else:
        w, _ = stft_windows(n_fft, hop)
        p = (np.abs(scipy.fft.rfft(frame_signal(x, n_fft, hop, w), axis=-1)) ** 2).mean(axis=0)
        q = np.percentile(p.sum(axis=1), 10)
        noise = p[p.sum(axis=1) <= q].mean(axis=0)
    s_in, s_out, n_speech = _long_term_speech_spectra(x, y, n_fft, hop, noise, settings,
                                                      context.extras.get("speech_frames"))
    flat["speech_frames"] = n_speech
    if n_speech < 10:
        warnings.append(f"EQ match: only {n_speech} speech frames found; no EQ applied")
        return flat
    speech = s_in - noise
    ok = (speech > settings.speech_snr * noise) & (s_out > 0)
    high = settings.high_hz or sr / 2.0
    ok &= (freqs >= settings.low_hz) & (freqs <= high)
    ratio = np.ones(bins)
    ratio[ok] = np.maximum(speech[ok] / s_out[ok], 1.0)
    # smooth in power (boost only), then bound
    gain_db = 10.0 * np.log10(smooth_octaves(ratio, settings.smoothing_octaves))
    gain_db = np.clip(gain_db, 0.0, settings.max_boost_db)
    gain_db[~((freqs >= settings.low_hz) & (freqs <= high))] = 0.0
    return {"frequencies_hz": freqs.tolist(), "gain_db": gain_db.tolist(), "speech_frames": n_speech,
            "warnings": warnings}


def _analyse(source: Any, settings: EqMatchSettings, context: BuildContext) -> BuildContext:
    chain = context.extras.get("chain_settings")
    if chain is None:
        raise ParameterError(
            "EQ match needs the chain's settings for its analysis (context.extras['chain_settings']); "
            "run it through dsp.chain.analyse_source with a chain that includes it"
        )
    curve = eq_match_curve(source, chain, context, settings)
    return replace(context, extras={**context.extras, "eq_curve": curve})


class EqMatcher(SpectralStage):
    """Applies the measured EQ-match curve as a static boost (see the module header)."""

    mix = 1.0

    def __init__(self, settings: EqMatchSettings, curve: dict) -> None:
        settings.validate()
        self.settings = settings
        self.curve = curve
        f = np.asarray(curve.get("frequencies_hz", []), np.float64)
        g = np.asarray(curve.get("gain_db", []), np.float64)
        if f.ndim != 1 or f.shape != g.shape or f.size < 2 or not np.all(np.isfinite(g)):
            raise ParameterError("the EQ-match curve is damaged (frequencies_hz / gain_db); analyse the file again")
        self._f, self._g = f, np.clip(g, 0.0, settings.max_boost_db)

    def prepare(self, geometry: StftGeometry) -> None:
        gain_db = np.interp(geometry.bin_frequencies(), self._f, self._g)
        self.gain = (10.0 ** (gain_db / 20.0)).astype(np.float32)
        super().prepare(geometry)

    def process_frames(self, frames: FrameBlock) -> None:
        if np.all(self.gain == 1.0):
            return
        g = np.empty(frames.spectra.shape, np.float32)
        g[...] = self.gain
        frames.apply_gain(g, self.mix)


def _factory(settings: EqMatchSettings, context: BuildContext) -> EqMatcher:
    curve = context.extras.get("eq_curve")
    if curve is None:
        raise ParameterError(
            "the EQ-match stage has no curve yet: analyse the file first (dsp.chain.analyse_source), "
            "or bypass EQ match"
        )
    return EqMatcher(settings, curve)


EQMATCH = register(
    StageKind(
        name="eqmatch",
        label="EQ match",
        settings_cls=EqMatchSettings,
        domain="spectral",
        factory=_factory,
        description="Gently restores bands the passes over-suppressed in speech (bounded, smooth boost).",
        role="repair",
        analyse=_analyse,
        placement=50,
    )
)
