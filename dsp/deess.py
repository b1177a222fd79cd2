"""De-esser: lower the sibilance band only on frames where it exceeds the voice's typical level (kind ``deess``).

What and why
------------
Harsh "s" and "sh" sounds put a lot of energy at 4-10 kHz. A broadband or always-on high cut
dulls the voice ("under water", cathar #26); a split-band de-esser reduces only the sibilance
band, and only on the frames where it stands out (DOMAIN.md, "Mouth noises"). Here "stands out"
is measured against the voice's own typical level, learned over the whole file.

Algorithm
---------
The stage runs inside the chain's STFT (:class:`~dsp.stft.StftProcessor`, a spectral stage), so
the band gain is a per-frame, per-bin gain with no phase change; with no reduction the output is
the STFT's identity (input delayed, to float32 rounding).

*Analysis* (:func:`analyse_sibilance`, the ``analyse`` hook; data, like the leveler's plan). The
source is streamed once through the same frame grid as the chain's STFT (``n_fft``, ``hop`` of
``ChainSettings.stft``; frame ``f`` covers samples ``[f*hop - (n_fft - hop), f*hop + hop)``,
the same periodic window), channels summed in power. Per frame:

* ``E_band``: power in the sibilance band ``band_low_hz``-``band_high_hz`` (the top clipped to
  0.47 x the sample rate: 4-7.5 kHz at 16 kHz), weighted by :func:`band_weights` (flat inside,
  raised-cosine shoulders of a third of an octave outside);
* ``E_full``: power from 80 Hz up.

The voice's *speech level* ``L`` is the energy mean of ``E_full`` over the speech frames (within
:data:`SPEECH_SPAN_DB` of the loudest 5 % and, where the chain has the voice activity track, the
frames it calls the voice, :data:`VOICE_PROBABILITY` widened by :data:`VOICE_HANGOVER_FRAMES`: only
the voice is de-essed, never an ambience as loud as it, such as crickets in a pause). Each frame's *sibilance* is ``m = 10 log10(E_band) -
L`` (dB re the voice's speech level; unlike the band's share of the frame it does not saturate on
strong "s" sounds). The voice's *typical* sibilance level ``T`` is the ``typical_percentile``-th
percentile of ``m`` over its speech frames. A frame is *sibilant* when its band holds at least
``min_share_percent`` of its power and ``m > T + threshold_over_typical_db``; its reduction is
``m - T - threshold_over_typical_db``, at most ``max_reduction_db`` (a hard knee: the excess over the voice's typical
level is taken away). Reductions are dilated by one frame each way and smoothed with a
[1/4, 1/2, 1/4] kernel (the STFT's overlap-add smooths further), giving a reduction in dB per
absolute frame: memory one float32 per hop (1.3 MB an hour at 48 kHz).

*Processing* (:class:`DeEsser`): frame ``f`` gets the gain ``10^(-r[f] w(k) / 20)`` on bin
``k`` (``w`` the band weights), one gain for all channels (linked), through
:meth:`~dsp.stft.FrameBlock.apply_gain` (within the chain's total reduction cap). Frames outside
the analysed span get none. Events (:class:`SibilanceEvent`, runs of frames reduced by more than
0.5 dB) go to ``ctx.extras["deess_events"]``.

Why the typical level is a percentile of all speech frames: the voice's sibilants are its
loudest band frames; a percentile under them (default the 75th) is a level the voice reaches
often without a harsh "s", and whatever a sibilant frame puts over it is the excess to take
away. The voice's own statistics move with the voice: a whole recording made brighter (a high
shelf on every frame) moves ``T`` with it, so the reduction it gets is what the same voice
would get without the shelf (bench/README.md, "Mouth noises: breath and de-ess", says what that
means for the shelf test).

References: ffmpeg ``deesser`` (a split-band compressor on the high-passed signal); RX De-ess
(spectral mode); DOMAIN.md.

Units: frequencies in Hz, levels and reductions in dB, shares in percent.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import scipy.fft
from scipy.ndimage import maximum_filter1d

from dsp.chain import BuildContext, StageKind, register
from dsp.errors import ParameterError
from dsp.events import Event, events_key
from dsp.presence import frame_presence
from dsp.schema import check_settings, setting
from dsp.stft import FrameBlock, SpectralStage, StftGeometry, StftSettings, stft_windows

#: Speech frames: full-band power within this many dB under the 95th percentile frame.
SPEECH_SPAN_DB = 30.0
#: With a voice activity track: a frame is the voice's only where the detector's probability is
#: at least this, or next to such a frame (sibilance belongs to the voice; an ambience as loud as
#: the voice, such as crickets, is not the voice's to de-ess).
VOICE_PROBABILITY = 0.5
#: Track frames either side of a voice frame that still count as the voice: the detector's own
#: resolution (32 ms), for a word-final "s" it decides late. A longer hangover de-esses the pause
#: after each phrase: crickets there came out peakier (kurtosis ratio 2.94 -> 3.46 at 150 ms).
VOICE_HANGOVER_FRAMES = 1
#: The band's top is clipped to this share of the sample rate.
NYQUIST_SHARE = 0.47
#: Lowest frequency counted in the full band (Hz).
FULL_LO_HZ = 80.0
#: Shoulder width of the band weights (octaves).
SHOULDER_OCT = 1.0 / 3.0
#: A frame reduced by more than this (dB) is part of a sibilance event.
EVENT_DB = 0.5
_TINY = 1e-20
_BLOCK_FRAMES = 1024


@dataclass(frozen=True)
class DeessSettings:
    """Where the sibilance band is and how much of its excess is taken away.

    Attributes
    ----------
    max_reduction_db : float
        The most the band is lowered on any frame (dB). Default 6 dB (tuned on the tuning half of
        the dev speech's +8 dB shelf test, bench/README.md; a sibilant frame of a voice that needs
        nothing is also lowered by up to this much).
    threshold_over_typical_db : float
        How far over the voice's typical sibilance level a frame may go before it is reduced
        (dB). Default 0 dB: the excess over the typical level is taken away.
    typical_percentile : float
        The voice's typical sibilance level: this percentile of its speech frames' sibilance band
        level (percent). Default 75.
    band_low_hz, band_high_hz : float
        The sibilance band (Hz); the top is clipped to 0.47 x the sample rate. Default 4-10 kHz.
    min_share_percent : float
        A frame is sibilant only if the band holds at least this share of its power (percent):
        vowels are never touched. Default 30 %.
    """

    max_reduction_db: float = setting(6.0, lo=0.0, hi=30.0, unit="dB",
                                     doc="The most the sibilance band is lowered on any frame.")
    threshold_over_typical_db: float = setting(0.0, lo=-20.0, hi=40.0, unit="dB",
                                              doc="How far over the voice's typical sibilance a frame may go before it is reduced.")
    typical_percentile: float = setting(75.0, lo=1.0, hi=99.0, unit="%",
                                       doc="The voice's typical sibilance level: this percentile of its speech frames.")
    band_low_hz: float = setting(4000.0, lo=1000.0, hi=16000.0, unit="Hz",
                                doc="Bottom of the sibilance band.")
    band_high_hz: float = setting(10000.0, lo=2000.0, hi=24000.0, unit="Hz",
                                 doc="Top of the sibilance band (clipped to 0.47 x the sample rate).")
    min_share_percent: float = setting(30.0, lo=0.0, hi=100.0, unit="%",
                                      doc="A frame is sibilant only if the band holds at least this share of its power.")

    def __post_init__(self) -> None:
        check_settings(self, "deess")
        if self.band_high_hz <= self.band_low_hz:
            raise ParameterError(
                f"deess.band_high_hz ({self.band_high_hz:g} Hz) must be above deess.band_low_hz "
                f"({self.band_low_hz:g} Hz)"
            )


@dataclass(frozen=True)
class SibilanceEvent(Event):
    """A run of reduced frames (kind ``"sibilance"``): where (s), how far the loudest frame stood
    over the voice's typical level (``strength_db``) and the largest reduction (dB)."""

    reduction_db: float


@dataclass(frozen=True)
class SibilancePlan:
    """The de-esser's whole-file data: a reduction (dB) per absolute STFT frame."""

    sample_rate: int
    n_fft: int
    hop_length: int
    band_hz: tuple[float, float]
    reduction_db: np.ndarray  # float32 (frames,)
    speech_db: float
    typical_db: float
    events: tuple[SibilanceEvent, ...]

    def summary(self) -> dict:
        r = self.reduction_db
        return {
            "band_hz": [round(self.band_hz[0], 1), round(self.band_hz[1], 1)],
            "typical_db_re_speech": _r(self.typical_db),
            "speech_db": _r(self.speech_db),
            "sibilant_frames_percent": _r(100.0 * float(np.mean(r > EVENT_DB))) if r.size else 0.0,
            "reduction_db_max": _r(float(r.max())) if r.size else 0.0,
            "events": len(self.events),
        }


def _r(v: float) -> float | str:
    return round(float(v), 2) if math.isfinite(v) else str(v)


def band_edges(settings: DeessSettings, sample_rate: int) -> tuple[float, float]:
    hi = min(settings.band_high_hz, NYQUIST_SHARE * sample_rate)
    lo = min(settings.band_low_hz, 0.5 * hi)
    return float(lo), float(hi)


def band_weights(freqs: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """1 inside ``[lo, hi]`` Hz, raised-cosine shoulders a third of an octave wide outside, 0 beyond."""
    f = np.maximum(np.asarray(freqs, np.float64), 1e-9)
    w = np.zeros(f.shape)
    w[(f >= lo) & (f <= hi)] = 1.0
    below = (f < lo) & (f > lo * 2 ** -SHOULDER_OCT)
    t = np.log2(lo / f[below]) / SHOULDER_OCT
    w[below] = 0.5 + 0.5 * np.cos(np.pi * t)
    above = (f > hi) & (f < hi * 2**SHOULDER_OCT)
    t = np.log2(f[above] / hi) / SHOULDER_OCT
    w[above] = 0.5 + 0.5 * np.cos(np.pi * t)
    return w


def frame_band_powers(source: Any, n_fft: int, hop: int, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    """Band and full-band power per absolute STFT frame of ``source`` (streamed), float32.

    Frame ``f`` covers samples ``[f*hop - (n_fft - hop), f*hop + hop)`` (zeros outside the file),
    the chain STFT's grid; frames run until the last one touching the file."""
    sr, total = int(source.sample_rate), int(source.frames)
    window, _ = stft_windows(n_fft, hop)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    wb = band_weights(freqs, lo, hi)
    wf = (freqs >= FULL_LO_HZ).astype(np.float64)
    n_frames = total // hop + 1 if total else 0
    band = np.empty(n_frames, np.float32)
    full = np.empty(n_frames, np.float32)
    f = 0
    while f < n_frames:
        m = min(_BLOCK_FRAMES, n_frames - f)
        a = f * hop - (n_fft - hop)
        b = (f + m - 1) * hop - (n_fft - hop) + n_fft
        lo_s, hi_s = max(a, 0), min(b, total)
        x = np.zeros((max(1, int(source.channels)), b - a), np.float32)
        if hi_s > lo_s:
            x[:, lo_s - a : hi_s - a] = np.asarray(source.read(lo_s, hi_s - lo_s), np.float32)
        frames = np.lib.stride_tricks.sliding_window_view(x, n_fft, axis=1)[:, ::hop][:, :m]
        spec = scipy.fft.rfft(frames * window, axis=-1)
        p = (spec.real**2 + spec.imag**2).sum(axis=0, dtype=np.float64)  # channels summed
        band[f : f + m] = p @ wb
        full[f : f + m] = p @ wf
        f += m
    return band, full


def analyse_sibilance(source: Any, settings: DeessSettings = DeessSettings(), *, n_fft: int, hop_length: int,
                      track: Any = None) -> SibilancePlan:
    """The de-esser's plan over ``source`` on the STFT grid ``n_fft`` / ``hop_length`` (module docstring).

    ``track``: the voice activity track (:class:`~dsp.presence.SpeechTrack`), when the chain has
    one; only frames it calls the voice are de-essed (all frames without it).

    Returns
    -------
    SibilancePlan
        The reduction per frame and the sibilance events.
    """
    sr = int(source.sample_rate)
    lo, hi = band_edges(settings, sr)
    band, full = frame_band_powers(source, n_fft, hop_length, lo, hi)
    n = band.size
    empty = SibilancePlan(sr, n_fft, hop_length, (lo, hi), np.zeros(n, np.float32), float("nan"),
                          float("nan"), ())
    if n == 0:
        return empty
    full_db = 10.0 * np.log10(full.astype(np.float64) + _TINY)
    top = float(np.percentile(full_db, 95.0))
    speech = (full_db >= top - SPEECH_SPAN_DB) & _voice_frames(track, n, hop_length, n_fft, sr)
    if not np.any(speech) or top < -150.0:
        return empty
    level = float(10.0 * np.log10(np.mean(full[speech].astype(np.float64)) + _TINY))
    m = 10.0 * np.log10(band.astype(np.float64) + _TINY) - level
    typical = float(np.percentile(m[speech], settings.typical_percentile))
    share = band.astype(np.float64) / np.maximum(full.astype(np.float64), _TINY)
    excess = m - typical - settings.threshold_over_typical_db
    sib = speech & (share >= settings.min_share_percent / 100.0) & (excess > 0.0)
    red = np.where(sib, np.minimum(excess, settings.max_reduction_db), 0.0)
    red = maximum_filter1d(red, size=3, mode="constant")
    red = np.convolve(red, [0.25, 0.5, 0.25], mode="same")
    red = red.astype(np.float32)
    return replace(empty, reduction_db=red, speech_db=level, typical_db=typical,
                   events=_events(red, np.where(sib, excess, 0.0), hop_length, n_fft, sr))


def _voice_frames(track: Any, n: int, hop: int, n_fft: int, sr: int) -> np.ndarray:
    """Frames the voice activity ``track`` calls the voice (:data:`VOICE_PROBABILITY`, widened by
    :data:`VOICE_HANGOVER_FRAMES`); all frames without a track."""
    p = np.asarray(getattr(track, "probability", ()), np.float32)
    if track is None or p.size == 0:
        return np.ones(n, bool)
    p = maximum_filter1d(p, size=2 * VOICE_HANGOVER_FRAMES + 1, mode="nearest")
    return frame_presence(p, float(track.frame_s), 0, n, hop, n_fft, sr) >= VOICE_PROBABILITY


def _events(red: np.ndarray, excess: np.ndarray, hop: int, n_fft: int, sr: int) -> tuple[SibilanceEvent, ...]:
    on = np.concatenate([[False], red > EVENT_DB, [False]]).astype(np.int8)
    d = np.diff(on)
    out = []
    for s, e in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1), strict=False):
        # frame f is centred at f*hop - (n_fft - hop) + n_fft/2
        centre = lambda f: (f * hop - (n_fft - hop) + n_fft / 2) / sr  # noqa: E731
        out.append(SibilanceEvent(max(0.0, centre(s) - hop / (2 * sr)), centre(e - 1) + hop / (2 * sr),
                                  "sibilance", float(excess[s:e].max()), reduction_db=float(red[s:e].max())))
    return tuple(out)


class DeEsser(SpectralStage):
    """Applies a :class:`SibilancePlan` inside the chain's STFT (stage kind ``deess``).

    Without a plan, or on frames it does not cover, it leaves the spectra as they are.
    """

    def __init__(self, settings: DeessSettings = DeessSettings(), *, plan: SibilancePlan | None = None) -> None:
        self.settings = settings
        self.plan = plan
        self.mix = 1.0
        self._weights = np.zeros(1, np.float32)

    def prepare(self, geometry: StftGeometry) -> None:
        p = self.plan
        if p is not None and (p.sample_rate, p.n_fft, p.hop_length) != (
                geometry.sample_rate, geometry.n_fft, geometry.hop_length):
            raise ParameterError(
                f"the de-esser's analysis used {p.sample_rate} Hz, n_fft {p.n_fft}, hop {p.hop_length} but the "
                f"chain runs {geometry.sample_rate} Hz, n_fft {geometry.n_fft}, hop {geometry.hop_length}; "
                "analyse the file again"
            )
        lo, hi = band_edges(self.settings, geometry.sample_rate) if p is None else p.band_hz
        self._weights = band_weights(geometry.bin_frequencies(), lo, hi).astype(np.float64)
        super().prepare(geometry)

    def process_frames(self, frames: FrameBlock) -> None:
        p = self.plan
        if p is None or self.mix == 0.0:
            return
        k = frames.frames
        idx = np.arange(frames.first_frame, frames.first_frame + k)
        inside = (idx >= 0) & (idx < p.reduction_db.size)
        r = np.zeros(k, np.float64)
        r[inside] = p.reduction_db[idx[inside]]
        if not np.any(r > 0.0):
            return
        gain = (10.0 ** (-np.outer(r, self._weights) / 20.0)).astype(np.float32)
        frames.apply_gain(np.ascontiguousarray(np.broadcast_to(gain, frames.spectra.shape)), self.mix)

    def describe(self) -> dict:
        return {"type": "DeEsser", "settings": asdict(self.settings),
                "plan": None if self.plan is None else self.plan.summary()}


PLAN_KEY = "deess_plan"
EVENTS_KEY = events_key("deess")


def _analyse(source: Any, settings: DeessSettings, context: BuildContext) -> BuildContext:
    chain = context.extras.get("chain_settings")
    stft = getattr(chain, "stft", None) or StftSettings()
    n_fft, hop = stft.resolve(int(source.sample_rate))
    plan = analyse_sibilance(source, settings, n_fft=n_fft, hop_length=hop, track=context.extras.get("speech"))
    return replace(context, extras={**context.extras, PLAN_KEY: plan,
                                    EVENTS_KEY: plan.events})


def _factory(settings: DeessSettings, context: BuildContext) -> DeEsser:
    return DeEsser(settings, plan=context.extras.get(PLAN_KEY))


DEESS = register(StageKind(
    name="deess", label="De-esser", settings_cls=DeessSettings, domain="spectral", factory=_factory,
    description="Lowers the sibilance band (4-10 kHz) only on frames where it exceeds the voice's typical level",
    needs_profile=False, role="repair", analyse=_analyse, placement=52, reads_speech_track=True,
))
