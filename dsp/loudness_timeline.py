"""Loudness over time and per phrase: what the Loudness view and the batch report draw.

Algorithm
---------
*Energies* (:class:`TimelineMeter`, streaming): each channel goes through the BS.1770-4
K-weighting filter (:func:`dsp.loudness.k_weighting_sos`, float64, state carried across blocks)
and its mean square is taken per 100 ms *sub-block* (``round(0.1 * sample_rate)`` samples),
summed over channels with BS.1770's channel weights (1.0; 1.41 for the surround channels of
5.0/5.1, LFE excluded). These are exactly the sub-blocks :class:`app.batch.loudness.ProgramMeter`
keeps, so a batch hands its meters' sub-blocks to :func:`build_timeline` instead of filtering
again. Memory: one float per 100 ms (36,000 for an hour), whatever the file's length.

*Curves*: short-term loudness (3 s, 30 sub-blocks) and momentary loudness (400 ms, 4 sub-blocks)
every 100 ms, ``-0.691 + 10 log10(mean energy)`` in LUFS. Each value is drawn at the *centre* of
its window (a meter shows it at the window's end; centred, a loud phrase lines up with its
waveform), and near the file's edges the window shrinks to what exists.

*Phrases* (the speech segments):

- with a :class:`dsp.presence.SpeechTrack` (the voice activity model, 32 ms frames): hysteresis on
  the probability: a phrase starts at a frame ``>= enter`` (0.5) and continues while frames stay
  ``>= leave`` (0.35, silero's own ``threshold - 0.15``);
- without one (``detector = "energy"``): the same hysteresis on the level of each 100 ms
  sub-block against the file's noise floor (the 10th percentile of the sub-block levels above
  -70 LUFS): a phrase starts ``ENERGY_ENTER_DB`` (10 dB) over the floor and continues while the
  level stays ``ENERGY_LEAVE_DB`` (6 dB) over it; the enter level is never more than
  ``ENERGY_SPAN_DB`` (30 dB) under the loud speech (95th percentile), so a very clean file's
  breaths stay out. Noise events (a cough, a door) count as speech here: the VAD tells them apart.

Then gaps shorter than ``merge_gap_ms`` (300 ms) are closed and phrases shorter than
``min_phrase_ms`` (200 ms) dropped. Each phrase's loudness is its *integrated* loudness (BS.1770
gating over the phrase: 400 ms blocks every 100 ms, absolute gate -70 LUFS, relative gate -10 LU;
a phrase shorter than one block takes the mean of its sub-blocks). The phrases of a render are
the source's (:func:`build_timeline` with ``phrases=``): the same spans measured before and after.

*Speaker-level spread* (:func:`speaker_spread`): with no speaker labels, the phrases are split into a
quiet and a loud group by the duration-weighted two-class split of their loudness that minimises
the within-group variance (Otsu's threshold in one dimension); the spread is the loud group's
duration-weighted median minus the quiet group's, in LU. Why it tracks the distance between
voices: phrases of one voice scatter by a few LU around that voice's level, so two voices ``X``
LU apart (X larger than that scatter) give two clusters, the split falls in the gap between them
whatever share of the time each voice takes, and the group medians are the two voices' levels:
the spread reads about ``X``. A single even voice reads its own phrase-to-phrase variation
(typically 2-4 LU: the halves of one cluster). A percentile span (90th minus 10th) would add that
scatter on top of ``X`` and depend on the speakers' shares.

Units: loudness in LUFS, spreads in LU, times in seconds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dsp.errors import ParameterError
from dsp.loudness import ProgramMeter
from dsp.presence import SpeechTrack

#: Spacing of the curves' values (a BS.1770 sub-block), seconds.
STEP_S = 0.1
SHORT_TERM_S = 3.0
MOMENTARY_S = 0.4
ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0
#: Speech probability that starts a phrase / keeps it going (VAD detector).
VAD_ENTER = 0.5
VAD_LEAVE = 0.35
#: Energy detector: levels over the noise floor that start / keep a phrase, dB; the start level
#: is at most ENERGY_SPAN_DB under the loud speech.
ENERGY_ENTER_DB = 10.0
ENERGY_LEAVE_DB = 6.0
ENERGY_SPAN_DB = 30.0
MERGE_GAP_MS = 300.0
MIN_PHRASE_MS = 200.0
#: Samples read per block by :func:`loudness_timeline`.
READ_BLOCK = 1 << 16


def lufs(energy: Any) -> np.ndarray:
    """BS.1770 loudness of mean-square energies: ``-0.691 + 10 log10(e)`` (-inf for 0)."""
    e = np.asarray(energy, np.float64)
    with np.errstate(divide="ignore"):
        return -0.691 + 10.0 * np.log10(e)


class TimelineMeter:
    """Streaming K-weighted energy per 100 ms sub-block of ``(channels, n)`` blocks.

    Parameters
    ----------
    sample_rate, channels : int
        The stream's format.

    Notes
    -----
    :meth:`energies` may be called at any time; a trailing partial sub-block is not included
    (as BS.1770 meters do). It is :class:`dsp.loudness.ProgramMeter`'s own sub-block series (one
    K-weighting for both: the batch reads it from the meters it already runs).
    """

    def __init__(self, sample_rate: int, channels: int) -> None:
        if sample_rate <= 0 or channels <= 0:
            raise ParameterError(f"the loudness timeline needs a positive rate and channel count, got {sample_rate} Hz, "
                                 f"{channels} channels")
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self._meter = ProgramMeter(self.sample_rate, self.channels, true_peak=False)
        self.sub = max(1, int(round(STEP_S * self.sample_rate)))

    def add(self, block: np.ndarray) -> None:
        """Meter the next ``(channels, n)`` block."""
        self._meter.add(block)

    def energies(self) -> np.ndarray:
        """Weighted K-weighted mean square per complete 100 ms sub-block, float64."""
        return self._meter.sub_block_energies().copy()


@dataclass(frozen=True)
class Phrase:
    """A speech segment: start and end (s) and its integrated (gated) loudness, LUFS (-inf if silent)."""

    start_s: float
    end_s: float
    loudness_lufs: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class LoudnessTimeline:
    """Short-term and momentary loudness every 100 ms, the phrases and their spread.

    Attributes
    ----------
    sample_rate : int
    energy : ndarray
        ``(n,)`` float64 K-weighted mean square per 100 ms sub-block (the data everything else
        is derived from).
    short_term_lufs, momentary_lufs : ndarray
        ``(n,)`` float64, loudness of the 3 s / 400 ms window centred on each sub-block's centre.
    phrases : tuple of Phrase
    detector : str
        ``"vad"``, ``"energy"`` or ``"given"`` (the phrases of another timeline, e.g. the source's).
    spread_lu : float
        :func:`speaker_spread` of the phrases (nan with fewer than two measurable phrases).
    typical_lufs : float
        Duration-weighted median phrase loudness (the colour scale's centre; nan without phrases).
    note : str
        Why the fallback detector was used, when it was.
    """

    sample_rate: int
    energy: np.ndarray
    short_term_lufs: np.ndarray
    momentary_lufs: np.ndarray
    phrases: tuple[Phrase, ...] = ()
    detector: str = "energy"
    spread_lu: float = math.nan
    typical_lufs: float = math.nan
    note: str = ""
    step_s: float = field(default=STEP_S)

    @property
    def times_s(self) -> np.ndarray:
        """Centre time of each value."""
        return (np.arange(self.energy.size) + 0.5) * self.step_s

    @property
    def speech_s(self) -> float:
        return float(sum(p.duration_s for p in self.phrases))

    def summary(self) -> dict:
        """JSON-able figures (no curves): spread, typical phrase level, phrase count, detector."""
        def clean(v: float, digits: int = 2) -> float | None:
            return round(float(v), digits) if math.isfinite(v) else None

        return {"speaker_spread_lu": clean(self.spread_lu), "typical_phrase_lufs": clean(self.typical_lufs),
                "phrases": len(self.phrases), "speech_s": round(self.speech_s, 2), "detector": self.detector,
                **({"note": self.note} if self.note else {})}


def window_loudness(energy: np.ndarray, window: int) -> np.ndarray:
    """Loudness of the ``window``-sub-block mean energy centred on each sub-block (edges shrink)."""
    e = np.asarray(energy, np.float64)
    n = e.size
    if n == 0:
        return np.zeros(0, np.float64)
    c = np.concatenate([[0.0], np.cumsum(e)])
    lo = np.arange(n) - window // 2
    hi = lo + window
    lo, hi = np.clip(lo, 0, n), np.clip(hi, 0, n)
    return lufs((c[hi] - c[lo]) / np.maximum(hi - lo, 1))


def gated_loudness(energy: np.ndarray) -> float:
    """BS.1770 integrated loudness of consecutive sub-block energies (400 ms blocks, 75 % overlap,
    gates -70 LUFS and -10 LU); fewer than four sub-blocks: the loudness of their mean."""
    e = np.asarray(energy, np.float64)
    if e.size == 0:
        return -math.inf
    if e.size < 4:
        return float(lufs(e.mean()))
    blocks = (e[:-3] + e[1:-2] + e[2:-1] + e[3:]) / 4.0
    kept = blocks[lufs(blocks) > ABSOLUTE_GATE_LUFS]
    if not kept.size:
        return -math.inf
    gate = float(lufs(kept.mean())) + RELATIVE_GATE_LU
    kept = kept[lufs(kept) > gate]
    return float(lufs(kept.mean())) if kept.size else -math.inf


def _runs(active: np.ndarray, keep: np.ndarray) -> list[tuple[int, int]]:
    """Hysteresis: runs that start where ``active`` and continue while ``keep``; [start, end) indices."""
    out: list[tuple[int, int]] = []
    i, n = 0, active.size
    starts = np.flatnonzero(active)
    for s in (int(v) for v in starts):
        if s < i:
            continue
        j = s
        while j < n and keep[j]:
            j += 1
        j = max(j, s + 1)
        out.append((int(s), int(j)))
        i = j
    return out


def _tidy(spans: list[tuple[float, float]], *, merge_gap_ms: float, min_phrase_ms: float) -> list[tuple[float, float]]:
    merged: list[list[float]] = []
    for a, b in spans:
        if merged and a - merged[-1][1] < merge_gap_ms * 1e-3:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [(a, b) for a, b in merged if b - a >= min_phrase_ms * 1e-3 - 1e-9]


def vad_spans(track: SpeechTrack, *, enter: float = VAD_ENTER, leave: float = VAD_LEAVE) -> list[tuple[float, float]]:
    """Speech spans (s) from a speech track by hysteresis (before merging and the minimum length)."""
    p = np.asarray(track.probability, np.float64)
    return [(a * track.frame_s, b * track.frame_s) for a, b in _runs(p >= enter, p >= leave)]


def energy_spans(energy: np.ndarray, step_s: float = STEP_S) -> tuple[list[tuple[float, float]], float]:
    """Speech spans (s) from sub-block momentary levels over the noise floor; and the floor (LUFS)."""
    level = lufs(energy)
    audible = level[level > ABSOLUTE_GATE_LUFS]
    if audible.size == 0:
        return [], -math.inf
    floor = float(np.percentile(audible, 10.0))
    loud = float(np.percentile(audible, 95.0))
    enter = max(floor + ENERGY_ENTER_DB, loud - ENERGY_SPAN_DB, ABSOLUTE_GATE_LUFS)
    leave = min(enter, max(floor + ENERGY_LEAVE_DB, ABSOLUTE_GATE_LUFS))
    runs = _runs(level >= enter, level >= leave)
    return [(a * step_s, b * step_s) for a, b in runs], floor


def speaker_spread(loudness_lufs: Sequence[float], durations_s: Sequence[float]) -> float:
    """Loud group's minus quiet group's duration-weighted median phrase loudness, LU (see module doc).

    Returns nan with fewer than two phrases of finite loudness.
    """
    v = np.asarray(loudness_lufs, np.float64)
    w = np.asarray(durations_s, np.float64)
    ok = np.isfinite(v) & (w > 0)
    v, w = v[ok], w[ok]
    if v.size < 2:
        return math.nan
    order = np.argsort(v, kind="stable")
    v, w = v[order], w[order]
    cw = np.cumsum(w)
    cwv = np.cumsum(w * v)
    total_w, total_wv = cw[-1], cwv[-1]
    # between-class variance for a split after each index (Otsu): maximise w0 w1 (m0 - m1)^2
    w0 = cw[:-1]
    w1 = total_w - w0
    m0 = cwv[:-1] / w0
    m1 = (total_wv - cwv[:-1]) / w1
    k = int(np.argmax(w0 * w1 * (m1 - m0) ** 2))
    return float(_weighted_median(v[k + 1 :], w[k + 1 :]) - _weighted_median(v[: k + 1], w[: k + 1]))


def _weighted_median(v: np.ndarray, w: np.ndarray) -> float:
    """Duration-weighted median of sorted values ``v``."""
    if v.size == 0:
        return math.nan
    c = np.cumsum(w)
    return float(v[int(np.searchsorted(c, 0.5 * c[-1]))])


def typical_level(phrases: Sequence[Phrase]) -> float:
    """Duration-weighted median loudness of the phrases (nan without measurable ones)."""
    v = np.array([p.loudness_lufs for p in phrases], np.float64)
    w = np.array([p.duration_s for p in phrases], np.float64)
    ok = np.isfinite(v)
    if not ok.any():
        return math.nan
    order = np.argsort(v[ok], kind="stable")
    return _weighted_median(v[ok][order], w[ok][order])


def build_timeline(energy: np.ndarray, sample_rate: int, *, speech: SpeechTrack | None = None,
                   phrases: Sequence[Phrase] | None = None, note: str = "",
                   merge_gap_ms: float = MERGE_GAP_MS, min_phrase_ms: float = MIN_PHRASE_MS) -> LoudnessTimeline:
    """A :class:`LoudnessTimeline` from 100 ms sub-block energies (:class:`TimelineMeter`'s).

    Parameters
    ----------
    energy : ndarray
        ``(n,)`` K-weighted mean square per 100 ms sub-block.
    sample_rate : int
        The audio's rate (recorded; the energies are already per 100 ms).
    speech : SpeechTrack, optional
        The voice activity model's probabilities; None uses the energy detector.
    phrases : sequence of Phrase, optional
        Measure these spans instead of finding phrases (a render measured over its source's phrases).
    note : str
        Recorded in the timeline (e.g. why the VAD did not run).
    """
    e = np.asarray(energy, np.float64).reshape(-1)
    st = window_loudness(e, int(round(SHORT_TERM_S / STEP_S)))
    mom = window_loudness(e, int(round(MOMENTARY_S / STEP_S)))
    if phrases is not None:
        spans = [(p.start_s, p.end_s) for p in phrases]
        detector = "given"
    elif speech is not None:
        spans = _tidy(vad_spans(speech), merge_gap_ms=merge_gap_ms, min_phrase_ms=min_phrase_ms)
        detector = speech.detector or "vad"
    else:
        raw, _floor = energy_spans(e)
        spans = _tidy(raw, merge_gap_ms=merge_gap_ms, min_phrase_ms=min_phrase_ms)
        detector = "energy"
    out = []
    for a, b in spans:
        i0 = max(0, int(math.floor(a / STEP_S + 1e-9)))
        i1 = min(e.size, max(i0 + 1, int(math.ceil(b / STEP_S - 1e-9))))
        if i0 >= e.size:
            continue
        out.append(Phrase(float(a), float(min(b, e.size * STEP_S)), gated_loudness(e[i0:i1])))
    ph = tuple(out)
    spread = speaker_spread([p.loudness_lufs for p in ph], [p.duration_s for p in ph])
    return LoudnessTimeline(int(sample_rate), e, st, mom, ph, detector, spread, typical_level(ph), note)


def _as_source(source: Any, sample_rate: int) -> Any:
    if hasattr(source, "read") and hasattr(source, "frames"):
        return source
    from dsp.render import ArraySource

    return ArraySource(np.asarray(source, np.float32), sample_rate)


def timeline_energies(source: Any, sample_rate: int, *, cancel: Callable[[], bool] | None = None,
                      progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """:class:`TimelineMeter` energies of a whole source (an array or a BlockSource), read in blocks."""
    src = _as_source(source, sample_rate)
    meter = TimelineMeter(src.sample_rate, src.channels)
    for start in range(0, src.frames, READ_BLOCK):
        if cancel is not None and cancel():
            from dsp.errors import Cancelled

            raise Cancelled("loudness timeline cancelled")
        meter.add(src.read(start, min(READ_BLOCK, src.frames - start)))
        if progress is not None:
            progress(min(src.frames, start + READ_BLOCK), src.frames)
    return meter.energies()


def loudness_timeline(source: Any, sample_rate: int, speech: SpeechTrack | None = None, *,
                      phrases: Sequence[Phrase] | None = None, note: str = "",
                      cancel: Callable[[], bool] | None = None,
                      progress: Callable[[int, int], None] | None = None) -> LoudnessTimeline:
    """Short-term/momentary loudness every 100 ms and the phrases of ``source``, streamed.

    Parameters
    ----------
    source : ndarray or BlockSource
        ``(channels, samples)`` audio, or a reader (read block by block: an hour never sits in memory).
    sample_rate : int
        Its rate (a BlockSource's own rate is used).
    speech : SpeechTrack, optional
        Speech probabilities for the phrases; None finds them by energy over the noise floor.
    phrases : sequence of Phrase, optional
        Measure these spans instead (e.g. the source's phrases, for a render).

    Returns
    -------
    LoudnessTimeline
    """
    energy = timeline_energies(source, sample_rate, cancel=cancel, progress=progress)
    src_rate = getattr(source, "sample_rate", sample_rate)
    return build_timeline(energy, src_rate, speech=speech, phrases=phrases, note=note)
