"""Breath control: find breaths between phrases and lower them, never below the room tone (kind ``breath``).

What and why
------------
Close-miked speech carries loud breaths between phrases. Editors lower them by hand; RX sells
Breath Control for it. Gating them to silence leaves an unnatural gap, worse than a soft breath
(DOMAIN.md, "Mouth noises"), so this stage only lowers each breath by a set amount
(``reduction_db``, default 10 dB) with smooth ramps, and never further than the room tone: a
breath 6 dB over the room tone is lowered by at most 6 dB. "Gate to room tone"
(``gate_to_room_tone``) lowers each breath to the room tone's level, not below; silence never.

Algorithm
---------
Detection (:func:`detect_breaths`, the stage's ``analyse`` hook) is a whole-file analysis: the
source is streamed once (channels averaged; low-passed and decimated to about 16 kHz, all the
features need), every :data:`GRID_S` (10 ms) a Hann frame of :data:`FRAME_S` (40 ms) gives

* its level (dBFS RMS);
* *periodicity*: the largest normalised autocorrelation at a lag of 2.5-13 ms (a 77-400 Hz
  voice); voiced speech is periodic (0.5-0.95), a breath is noise (about 0.1-0.35);
* *flatness*: spectral flatness (geometric over arithmetic mean of the power) between 300 Hz and
  6 kHz; a breath is broadband noise, vowels and nasals are peaky;
* *low share*: the share of the power under 300 Hz; a breath is high-pass-ish (the throat and
  mouth shape it to roughly 500-6000 Hz), voiced sounds carry their fundamental there.

Memory: one level and one flag per 10 ms frame (5 bytes; 18 MB for ten hours), plus one block.

A frame is *breath-like* when it is unvoiced (periodicity under ``max_periodicity``), flat
(flatness over ``min_flatness``), high-pass-ish (low share under :data:`MAX_LOW_SHARE`), stands
``min_rise_db`` over the room tone and stays ``below_speech_db`` under the voice's speech level
(the energy mean of the frames within 20 dB of the loudest 5 %). The room tone's level is the
profile's (``ctx.profile.level_dbfs``, the one the noise passes and the refill use) or, without
one, the 10th percentile of the frame levels. With the voice activity track
(:class:`~dsp.presence.SpeechTrack`, as the leveler gets it) a frame the detector is sure is
speech (probability over :data:`VAD_SURE`) is not a breath. Runs of breath-like frames (gaps up to
:data:`CLOSE_GAP_S` closed) lasting ``min_breath_ms`` to ``max_breath_ms`` are breaths: shorter
runs are fricatives (s, f, sh inside words are 50-200 ms), longer ones steady noise.

Each breath is an event (:class:`BreathEvent`: start, end, level, how far over the room tone,
the reduction given). The gain per 10 ms frame inside a breath is
``-min(reduction_db, level - room tone - 1 dB)`` (``-(level - room tone - 1 dB)`` with
``gate_to_room_tone``, at most :data:`GATE_MAX_DB`), never below the room tone (with
:data:`ROOM_MARGIN_DB` for the estimate's spread); the gains are smoothed with a
raised-cosine ramp of ``ramp_ms`` (half outside the breath on each side), then capped again frame
by frame (by the quietest frame within 30 ms) so the ramps never take a frame under the room tone either. The result is a gain
envelope on the 10 ms grid (data, like the leveler's), applied per sample by
:class:`BreathController` with linear interpolation, one gain for all channels: latency 0, no
preroll, a render from any playhead equals the full render.

References: Ruinskiy & Lavner, "An effective algorithm for automatic detection and exact
demarcation of breath sounds in speech and song signals", IEEE TASLP 15(3), 2007 (breaths are
unvoiced, broadband, low-level, 0.2-0.6 s; 98 % detection at 96 % specificity); de Jong &
Wempe 2009 (pauses); the prosody analysis's own breath finder (:mod:`models.prosody`).

Units: levels in dBFS (RMS), reductions in dB (positive = quieter), times in s or ms as named.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import scipy.signal
from scipy.ndimage import minimum_filter1d

from dsp.chain import BuildContext, StageKind, register
from dsp.errors import ParameterError
from dsp.events import Event, events_key
from dsp.leveler import PlannedGain
from dsp.schema import check_settings, setting

#: The analysis grid and the gain envelope's point spacing (s).
GRID_S = 0.01
#: Analysis frame (s): long enough for two periods of a 77 Hz voice.
FRAME_S = 0.04
#: Lags searched for periodicity (s): 400 Hz down to 77 Hz.
MIN_LAG_S, MAX_LAG_S = 0.0025, 0.013
#: Flatness band (Hz) and the band under which power counts as "low".
FLAT_LO_HZ, FLAT_HI_HZ, LOW_HZ = 300.0, 6000.0, 300.0
#: A breath-like frame has at most this share of its power under LOW_HZ.
MAX_LOW_SHARE = 0.35
#: Gaps of at most this long (s) inside a run of breath-like frames are closed.
CLOSE_GAP_S = 0.03
#: With a voice activity track: a frame the detector is this sure of is speech, not breath.
VAD_SURE = 0.9
#: "Gate to room tone" lowers a breath by at most this much (dB).
GATE_MAX_DB = 40.0
#: Loud-speech reference: frames within this many dB under the 95th percentile level.
SPEECH_SPAN_DB = 20.0
#: Breaths stop this far (dB) over the room tone's measured level (the estimate's own spread: an
#: automatic profile sits 0.5-1 dB under the true level, the quietest frames being picked).
ROOM_MARGIN_DB = 1.0
#: The room-tone cap looks this many grid frames each way (the quietest neighbour decides).
EDGE_FRAMES = 3
#: The features are measured at this rate or a little over (decimated by an integer factor).
FEATURE_RATE_MIN = 14000.0
#: Frames read per analysis block.
_BLOCK_FRAMES = 2048
_TINY = 1e-12


@dataclass(frozen=True)
class BreathSettings:
    """How breaths are found and how much they are lowered.

    Attributes
    ----------
    reduction_db : float
        How much a breath is lowered (dB), at most down to the room tone. Default 10 dB (a breath
        stays audible but no longer stands out; RX Breath Control's target is of that order).
    gate_to_room_tone : bool
        Lower each breath to the room tone's level instead (never below it). Default off.
    min_breath_ms, max_breath_ms : float
        Runs of breath-like frames this long are breaths (ms). Default 180-900 ms: breaths last
        0.2-0.6 s (Ruinskiy & Lavner 2007), with room for their soft edges; fricatives inside
        words are shorter.
    below_speech_db : float
        A breath stays at least this far under the voice's speech level (dB). Default 12 dB.
    min_rise_db : float
        ... and at least this far over the room tone (dB). Default 6 dB.
    max_periodicity : float
        Largest normalised autocorrelation (77-400 Hz lags) of an unvoiced frame, 0..1. Default 0.45.
    min_flatness : float
        Smallest spectral flatness (300 Hz-6 kHz) of a broadband frame, 0..1. Default 0.08.
    ramp_ms : float
        Length of the raised-cosine gain ramps at each breath's edges (ms). Default 40 ms.
    """

    reduction_db: float = setting(10.0, lo=0.0, hi=40.0, unit="dB",
                                 doc="How much a breath is lowered, at most down to the room tone.")
    gate_to_room_tone: bool = setting(False,
                                     doc="Lower each breath to the room tone's level instead (never below it).")
    min_breath_ms: float = setting(180.0, lo=50.0, hi=2000.0, unit="ms",
                                  doc="Shortest run of breath-like frames taken for a breath.")
    max_breath_ms: float = setting(900.0, lo=100.0, hi=5000.0, unit="ms",
                                  doc="Longest run of breath-like frames taken for a breath.")
    below_speech_db: float = setting(12.0, lo=0.0, hi=60.0, unit="dB",
                                    doc="A breath stays at least this far under the voice's speech level.")
    min_rise_db: float = setting(6.0, lo=0.0, hi=40.0, unit="dB",
                                doc="... and at least this far over the room tone.")
    max_periodicity: float = setting(0.45, lo=0.0, hi=1.0,
                                    doc="Largest normalised autocorrelation of an unvoiced frame.")
    min_flatness: float = setting(0.08, lo=0.0, hi=1.0,
                                 doc="Smallest spectral flatness of a broadband frame.")
    ramp_ms: float = setting(40.0, lo=0.0, hi=500.0, unit="ms",
                            doc="Length of the gain ramps at each breath's edges.")

    def __post_init__(self) -> None:
        check_settings(self, "breath")
        if self.max_breath_ms <= self.min_breath_ms:
            raise ParameterError(
                f"breath.max_breath_ms ({self.max_breath_ms:g}) must be larger than breath.min_breath_ms "
                f"({self.min_breath_ms:g})"
            )


@dataclass(frozen=True)
class BreathEvent(Event):
    """One breath found (kind ``"breath"``): where (s), how far over the room tone
    (``strength_db``), its level (dBFS RMS) and the largest reduction it gets (dB, positive =
    quieter)."""

    level_dbfs: float
    reduction_db: float


@dataclass(frozen=True)
class BreathPlan:
    """The whole-file result: the breaths and the gain envelope (dB at samples ``k * hop``)."""

    sample_rate: int
    hop: int
    gain_db: np.ndarray  # float32 (frames + 1,)
    events: tuple[BreathEvent, ...]
    floor_dbfs: float
    speech_dbfs: float
    floor_source: str = "estimate"
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def summary(self) -> dict:
        red = [e.reduction_db for e in self.events]
        return {
            "breaths": len(self.events),
            "floor_dbfs": _r(self.floor_dbfs),
            "floor_source": self.floor_source,
            "speech_dbfs": _r(self.speech_dbfs),
            "reduction_db_max": _r(max(red)) if red else 0.0,
            "warnings": list(self.warnings),
        }


def _r(v: float) -> float | str:
    return round(float(v), 2) if math.isfinite(v) else str(v)


# -- frame features --------------------------------------------------------------------------------
def grid_hop(sample_rate: int) -> int:
    return max(1, int(round(sample_rate * GRID_S)))


def frame_features(frames: np.ndarray, sample_rate: float) -> tuple[np.ndarray, ...]:
    """Level (dBFS RMS), periodicity, flatness and low share of ``frames`` ``(n, frame_len)``.

    The numpy reference the analysis streams through: each row is one analysis frame (mono).
    """
    n, length = frames.shape
    window = np.hanning(length + 2)[1:-1]
    w = frames * window
    hi = min(length - 1, int(MAX_LAG_S * sample_rate))
    n_fft = 1 << int(math.ceil(math.log2(length + hi + 1)))  # linear autocorrelation up to lag hi
    spec = np.fft.rfft(w, n_fft, axis=1)
    power = spec.real**2 + spec.imag**2
    energy = np.einsum("ij,ij->i", w, w)
    level = 10.0 * np.log10(np.maximum(energy / float(np.sum(window**2)), _TINY))
    # autocorrelation (no wrap-around up to lag hi: n_fft > length + hi), normalised by the window's own
    ac = np.fft.irfft(power, n_fft, axis=1)[:, : hi + 1]
    wac = np.correlate(window, window, mode="full")[length - 1 :]
    lo = max(1, int(MIN_LAG_S * sample_rate))
    norm = ac[:, lo : hi + 1] / np.maximum(ac[:, :1], _TINY) / (wac[lo : hi + 1] / wac[0])
    periodicity = norm.max(axis=1)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    band = (freqs >= FLAT_LO_HZ) & (freqs <= min(FLAT_HI_HZ, 0.45 * sample_rate))
    pb = power[:, band] + _TINY
    flatness = np.exp(np.mean(np.log(pb), axis=1)) / np.mean(pb, axis=1)
    low_share = power[:, freqs < LOW_HZ].sum(axis=1) / np.maximum(power.sum(axis=1), _TINY)
    return level, periodicity, flatness, low_share


def decimation(sample_rate: int) -> int:
    """The feature path's decimation factor: the largest ``q`` dividing the grid hop with
    ``sample_rate / q`` at least :data:`FEATURE_RATE_MIN` (48 kHz -> 3, 44.1 kHz -> 3, 16 kHz -> 1)."""
    hop = grid_hop(sample_rate)
    return max((q for q in range(1, 13) if hop % q == 0 and sample_rate / q >= FEATURE_RATE_MIN), default=1)


def _stream_features(source: Any, settings: BreathSettings) -> tuple[np.ndarray, np.ndarray]:
    """Per 10 ms grid frame of ``source``: level (dBFS, float32) and the unvoiced-broadband flag.

    Frame ``k`` is centred on sample ``k * hop + hop / 2`` (zero outside the file). The features
    need nothing over 6 kHz: they are measured on the signal low-passed (linear-phase FIR, 0.9 x
    the new Nyquist) and decimated by :func:`decimation` (a third of the work at 48 kHz)."""
    sr, total = int(source.sample_rate), int(source.frames)
    hop = grid_hop(sr)
    q = decimation(sr)
    length = max(hop, int(round(FRAME_S * sr)))
    length -= length % q
    n_frames = -(-total // hop)
    level = np.empty(n_frames, np.float32)
    flag = np.empty(n_frames, bool)
    first_offset = hop // 2 - length // 2  # frame k starts at k * hop + first_offset
    taps = scipy.signal.firwin(16 * q + 1, 0.9 * sr / q / 2.0, fs=sr) if q > 1 else np.ones(1)
    half = taps.size // 2
    k = 0
    while k < n_frames:
        m = min(_BLOCK_FRAMES, n_frames - k)
        a = k * hop + first_offset - half
        b = (k + m - 1) * hop + first_offset + length + half
        lo, hi = max(a, 0), min(b, total)
        x = np.zeros(b - a, np.float64)
        if hi > lo:
            x[lo - a : hi - a] = np.asarray(source.read(lo, hi - lo), np.float64).mean(axis=0)
        if q > 1:
            x = scipy.signal.oaconvolve(x, taps, mode="valid")[::q]
        frames = np.lib.stride_tricks.sliding_window_view(x, length // q)[:: hop // q][:m]
        lv, per, flat, low = frame_features(frames, sr / q)
        level[k : k + m] = lv
        flag[k : k + m] = (per <= settings.max_periodicity) & (flat >= settings.min_flatness) & (low <= MAX_LOW_SHARE)
        k += m
    return level, flag


def _runs(mask: np.ndarray) -> np.ndarray:
    m = np.concatenate([[False], mask, [False]]).astype(np.int8)
    d = np.diff(m)
    return np.stack([np.flatnonzero(d == 1), np.flatnonzero(d == -1)], axis=1).astype(np.int64)


def _close_gaps(mask: np.ndarray, gap: int) -> np.ndarray:
    out = mask.copy()
    runs = _runs(mask)
    for (_, e0), (s1, _) in zip(runs[:-1], runs[1:], strict=False):
        if s1 - e0 <= gap:
            out[e0:s1] = True
    return out


def speech_level_dbfs(level: np.ndarray) -> float:
    """The voice's speech level (dBFS): energy mean of the frames within 20 dB of the loudest 5 %."""
    if level.size == 0:
        return float("nan")
    top = float(np.percentile(level, 95.0))
    sel = level >= top - SPEECH_SPAN_DB
    return float(10.0 * np.log10(np.mean(10.0 ** (level[sel].astype(np.float64) / 10.0))))


def detect_breaths(source: Any, settings: BreathSettings = BreathSettings(), *, floor_dbfs: float | None = None,
                   track: Any = None) -> BreathPlan:
    """Find the breaths in ``source`` (a BlockSource, streamed once) and plan their gains.

    Parameters
    ----------
    source : BlockSource
        The audio, ``(channels, samples)`` blocks; channels are averaged.
    settings : BreathSettings
    floor_dbfs : float, optional
        The room tone's level (dBFS RMS), e.g. ``NoiseProfile.level_dbfs``; None estimates it
        (10th percentile of the 40 ms frame levels).
    track : SpeechTrack, optional
        Voice activity; frames it is sure are speech are never breaths.

    Returns
    -------
    BreathPlan
        The events (:class:`BreathEvent`) and the gain envelope.
    """
    sr = int(source.sample_rate)
    hop = grid_hop(sr)
    level, flag = _stream_features(source, settings)
    n = level.size
    warnings: list[str] = []
    if n == 0:
        return BreathPlan(sr, hop, np.zeros(1, np.float32), (), float("nan"), float("nan"))
    if floor_dbfs is not None and math.isfinite(floor_dbfs):
        floor, floor_source = float(floor_dbfs), "profile"
    else:
        floor, floor_source = float(np.percentile(level, 10.0)), "estimate"
    speech = speech_level_dbfs(level)
    cand = flag & (level >= floor + settings.min_rise_db) & (level <= speech - settings.below_speech_db)
    if track is not None:
        p = np.asarray(track.probability, np.float32)
        if p.size:
            centre_s = (np.arange(n, dtype=np.float64) * hop + hop / 2.0) / sr
            idx = np.minimum((centre_s / float(track.frame_s)).astype(np.int64), p.size - 1)
            cand &= p[idx] < VAD_SURE
    cand = _close_gaps(cand, int(round(CLOSE_GAP_S / GRID_S)))
    lo_len = int(round(settings.min_breath_ms * 1e-3 / GRID_S))
    hi_len = int(round(settings.max_breath_ms * 1e-3 / GRID_S))
    target = np.zeros(n, np.float64)
    events: list[BreathEvent] = []
    for s, e in _runs(cand):
        if not lo_len <= e - s <= hi_len:
            continue
        lv = level[s:e].astype(np.float64)
        ev_level = float(10.0 * np.log10(np.mean(10.0 ** (lv / 10.0))))
        room = np.maximum(lv - floor - ROOM_MARGIN_DB, 0.0)  # how far each frame may go down
        want = np.minimum(room, GATE_MAX_DB) if settings.gate_to_room_tone else np.minimum(room, settings.reduction_db)
        target[s:e] = -want
        events.append(BreathEvent(s * hop / sr, min(e * hop, source.frames) / sr, "breath", ev_level - floor,
                                  level_dbfs=ev_level, reduction_db=float(want.max()) if want.size else 0.0))
    ramp = int(round(settings.ramp_ms * 1e-3 / GRID_S))
    # the ramps must not take a frame next to a breath (room tone, a soft onset) under the room tone
    # either: after smoothing, no frame goes down by more than it stands over the room tone
    # (a frame goes down at most as far as the quietest of its neighbours within EDGE_FRAMES stands over it:
    # the gain is interpolated between grid points, the levels are 40 ms frames)
    over = minimum_filter1d(level.astype(np.float64) - floor - ROOM_MARGIN_DB, size=2 * EDGE_FRAMES + 1, mode="nearest")
    gain = np.maximum(_smooth(target, ramp), -np.maximum(over, 0.0)).astype(np.float32)
    env = np.empty(n + 1, np.float32)
    env[:n] = gain
    env[n] = gain[-1]
    return BreathPlan(sr, hop, env, tuple(events), floor, speech, floor_source, tuple(warnings))


def _smooth(target: np.ndarray, ramp: int) -> np.ndarray:
    """``target`` (dB per grid frame) convolved with a unit-sum raised-cosine of ``ramp`` frames:
    each step becomes a smooth ramp centred on it."""
    if ramp < 2 or not np.any(target):
        return target.astype(np.float32)
    k = np.hanning(ramp + 2)[1:-1]
    k /= k.sum()
    return np.convolve(target, k, mode="same").astype(np.float32)


# -- the processor ------------------------------------------------------------------------------------
class BreathController(PlannedGain):
    """Applies a :class:`BreathPlan`'s gain envelope (stage kind ``breath``), one gain for all channels.

    ``plan`` None (no analysis) or no breaths makes it an exact passthrough.
    """

    plan_name = "breath plan"

    def __init__(self, settings: BreathSettings = BreathSettings(), *, plan: BreathPlan | None = None) -> None:
        super().__init__(settings, plan=plan)

    def _passes_through(self) -> bool:
        return self.plan is None or not self.plan.events

    def describe(self) -> dict:
        return {"type": "BreathController", "settings": asdict(self.settings),
                "plan": None if self.plan is None else self.plan.summary()}


#: Where the analysis puts its results in ``BuildContext.extras``.
PLAN_KEY = "breath_plan"
EVENTS_KEY = events_key("breath")


def _analyse(source: Any, settings: BreathSettings, context: BuildContext) -> BuildContext:
    profile = context.profile
    floor = float(profile.level_dbfs) if profile is not None else None
    plan = detect_breaths(source, settings, floor_dbfs=floor, track=context.extras.get("speech"))
    return replace(context, extras={**context.extras, PLAN_KEY: plan,
                                    EVENTS_KEY: plan.events})


def _factory(settings: BreathSettings, context: BuildContext) -> BreathController:
    return BreathController(settings, plan=context.extras.get(PLAN_KEY))


BREATH = register(StageKind(
    name="breath", label="Breath control", settings_cls=BreathSettings, domain="time", factory=_factory,
    description="Finds breaths between phrases and lowers them by a set amount, never below the room tone",
    needs_profile=False, role="repair", analyse=_analyse, placement=60, reads_speech_track=True,
))
