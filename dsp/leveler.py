"""Speaker leveling: even out the speech loudness of phrases and turns (stage kind ``leveler``).

What and why
------------
Voices at different distances from the microphone differ by 6-18 dB. The leveler brings every
phrase (a stretch of speech between pauses) to about the same loudness, the way Auphonic's
Adaptive Leveler and The Levelator (2007-2012) do, without being a compressor: the gain of a
phrase is one number (or, inside a long phrase, a slow curve), so speech keeps its own dynamics
inside the phrase; the gain moves in the pauses between phrases. The pauses themselves are not
pumped up with the quiet voice: their gain follows the speech around them only as far as the
room tone allows, so the noise floor stays even across the file, and breaths and other short
non-speech events in a pause get the pause's gain, never more than the speech around them.

Algorithm
---------
The plan is a whole-file analysis (:func:`plan_levels`, the stage's ``analyse`` hook): data, not
processor state, like the room tone, so a render from any playhead equals the full render.

1. *Levels.* The source is streamed once in blocks; K-weighted (ITU-R BS.1770-4,
   :func:`dsp.loudness.k_weighting_sos`, filter state carried across blocks) power summed over
   channels, averaged per 10 ms grid frame (:data:`GRID_S`). Memory: one float32 per grid frame
   (1.4 MB an hour) plus one block.
2. *Phrases.* The voice activity track (:class:`~dsp.presence.SpeechTrack`, 32 ms frames, filled
   by the app layer) is read at each grid frame with silero's hysteresis (speech from
   probability 0.5, kept down to 0.35) where it is sure (:data:`VAD_SURE`) or the 30 ms level
   also stands :data:`EDGE_DB` over the median level of the detector's non-speech frames (the
   detector's hangover and a real pause inside one of its segments become pause; each stretch
   starts and ends where the level says, at most :data:`HANGOVER_S` in from the detector's ends),
   padded by :data:`PAD_S` each way; gaps shorter than ``min_pause_ms`` are merged into the
   phrase, and detections shorter than ``min_phrase_ms`` (a breath, a click the detector took for
   speech) are left to the pause around them. Without a track (voice activity not installed) an
   energy detector against the file's own floor (10 dB over the 10th percentile of 100 ms levels)
   stands in, and the plan's warnings say so.
3. *Phrase loudness.* BS.1770-style gated loudness of each phrase's *speech*: the room tone's
   power (the median power of the frames the detector calls non-speech) is subtracted from every
   10 ms frame's first (:func:`speech_power`), so a voice close to the noise is not read louder
   by the noise under it and then raised too little (bench/README.md, "Leveling"); 100 ms
   levels, the absolute gate at -70 LUFS and the relative gate 10 LU under the phrase's ungated
   level; LUFS.
4. *Reference.* The *anchor* is the louder voice's level: the duration-weighted median of the
   phrases from :data:`CLUSTER_LU` under the duration-weighted 90th percentile up, the
   percentile lowered until they hold :data:`CLUSTER_SHARE` of the speech (one short loud phrase
   is not a voice). Both clusters are taken over the phrases of at least :data:`SHORT_PHRASE_S`
   when there are any: a shorter phrase is a word of a neighbouring phrase's voice (step 5), so
   it does not set a voice's level either (two stressed words could otherwise set the anchor, and
   the voice they belong to would be raised to them, i.e. the whole file). Leveling toward the
   louder voice raises the quiet voices and leaves the loud one where it was, so the file's
   overall loudness stays about where its main voice is (the loudness stage after it then sets
   the delivery level). When the quieter half of the quietest voice (the 25th
   percentile of the same cluster rule from the 10th percentile) needs more than ``max_gain_up_db``, the whole file moves down by the excess, up to
   ``max_gain_down_db`` (the *offset*): the reference is ``anchor + offset``.
5. *Phrase gains.* Each phrase's *voice level* is the duration-weighted mean loudness of it and
   its neighbours (two each way) within :data:`CONTEXT_LU` of it: a phrase's natural dip inside
   a turn is measured with the turn, a neighbouring voice further away in level is left out. A
   voice level ``d`` LU under the anchor is corrected by ``c(d)``: nothing within
   ``target_spread_lu / 2`` (a voice's natural phrase-to-phrase variation is kept: a single voice
   at one level comes out untouched), fully (``-d``) beyond ``target_spread_lu``, linearly in
   between; a phrase over the anchor (emphasis, a laugh, a shout) likewise with four times the
   widths (a voice's emphasis is kept; cuts in the loud voice would also lower the room tone in
   the pauses around them). Gain = ``offset + c(d)``, clamped to ``[-max_gain_down_db, max_gain_up_db]``. Phrases
   longer than ``long_phrase_s`` are measured in :data:`WINDOW_S` windows every 0.5 s; a window
   that strays from the phrase's own level by more than twice the spread (the same correction
   rule with twice the widths: a speaker turning away, a second voice with no pause before it)
   adds its correction, and the curve is limited to ``rate_db_per_s`` (never more gain than any window wants: a
   min-plus cone, so a loud passage is never boosted by the slow curve). A phrase shorter than
   :data:`SHORT_PHRASE_S` (a breath or click the detector took for speech, or a single word) that
   is at most :data:`CONTEXT_LU` quieter than a longer phrase on either side (a word of that voice;
   a stressed word may be louder; of two such sides the one closest in loudness) gets that
   phrase's gain, as it would inside it; much quieter than both, at most the smaller of the two
   gains (a breath or a noise is not raised with the quiet voice next to it).
6. *Pauses.* A pause's *floor* is the median of its 10 ms levels (a breath in it can only lower
   its gain); the file's floor is the median over pauses. In a pause the gain follows the line
   from the gain at the end of the phrase before to the start of the phrase after, but at most
   the file's offset plus ``pause_floor_margin_db`` plus how far the pause's floor lies more than
   :data:`FLOOR_NOISE_DB` under the file's: the room tone between phrases moves with the file's
   offset, never up with a quiet voice (a pause that is quieter than the rest is raised toward
   the file's floor, not above it). The gain falls from the phrase's over :data:`RELEASE_S` after
   it ends and rises to the next phrase's over :data:`ATTACK_S` before it starts (both inside
   the pause, which is at least ``min_pause_ms``). Breaths and clicks the detector does not call
   speech are part of the pause, so they get the pause's gain: never more than the speech around.
7. *Envelope.* The result is a gain in dB per grid frame (the value at sample ``k * hop``),
   interpolated linearly per sample (in linear gain) by :class:`Leveler`, one gain for all
   channels (stereo linked). Latency 0, no preroll: output sample ``n`` depends only on input
   sample ``n`` and its absolute position.

Units: levels in LUFS (K-weighted, channels summed), gains in dB, times in seconds or ms as named.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import scipy.signal
from scipy.ndimage import label, uniform_filter1d

from dsp.chain import BuildContext, StageKind, register
from dsp.engine import AudioSpec, Processor, check_block
from dsp.errors import ParameterError
from dsp.jit import realtime_kernel
from dsp.loudness import k_weighting_sos
from dsp.schema import check_settings, setting

#: The plan's grid (s): levels are measured and the gain envelope is set per 10 ms.
GRID_S = 0.01
#: Speech detections are padded by this much on each side (s) before merging.
PAD_S = 0.01
#: Speech starts at this voice activity probability and stays until it falls below the second
#: (silero's own hysteresis, as ``get_speech_timestamps``).
VAD_ON, VAD_OFF = 0.5, 0.35
#: Speech frames (voice activity) must also stand this far over the non-speech frames' median level (dB).
EDGE_DB = 6.0
#: ... unless the detector is this sure.
VAD_SURE = 0.97
#: The detector stays sure this long past the speech at most (s): silero decides on 32 ms frames
#: and its probability lags the speech by a few frames; a stretch's ends are trimmed to where the
#: level confirms speech by no more than this.
HANGOVER_S = 0.2
#: Energy fallback: speech starts this far over the floor (dB) and stays down to the second.
ENERGY_ON_DB, ENERGY_OFF_DB = 10.0, 6.0
#: A voice's phrases lie within this many LU of each other (finding the loud and quiet voices).
CLUSTER_LU = 5.0
#: ... and hold at least this share of the speech (one short loud phrase is not a voice); the
#: quietest voice, which may speak less (a guest's short answers), this share.
CLUSTER_SHARE, QUIET_SHARE = 0.25, 0.1
#: A phrase's voice level is measured with this many neighbours each way, those within CONTEXT_LU.
CONTEXT_PHRASES, CONTEXT_LU = 2, 4.0
#: Phrases shorter than this (s) get at most the gain of the longer phrases around them.
SHORT_PHRASE_S = 1.0
#: Loudness windows inside long phrases (s) and their spacing (s).
WINDOW_S, WINDOW_HOP_S = 3.0, 0.5
#: The gain leaves a phrase's value over this long after it ends, and reaches the next phrase's
#: this long before it starts (s); both lie inside the pause.
RELEASE_S, ATTACK_S = 0.04, 0.02
#: The shortest pause the leveler accepts (ms): its gain ramps out and in, plus 30 ms.
MIN_PAUSE_MS = 1000.0 * (RELEASE_S + ATTACK_S) + 30.0
#: Percentile of a pause's 10 ms levels taken as its floor (the median: a breath in the pause can
#: only lower the gain the pause may get).
FLOOR_PERCENTILE = 50.0
#: Pause floors within this much (dB) under the file's are taken as the file's (on a steady bed
#: the median level of a 0.3-2 s pause scatters by about +-1 dB): such pauses are not raised.
FLOOR_NOISE_DB = 1.5
#: A frame at or under the room tone keeps this share of its power as its speech power (-30 dB).
RESIDUAL_SHARE = 1e-3
#: Power floor (about -120 dB) so digital silence has a finite level.
_TINY = 1e-12
#: Samples per analysis block: a multiple of the grid hop times this many frames.
_BLOCK_FRAMES = 2048


@dataclass(frozen=True)
class LevelerSettings:
    """How the leveler evens out phrase loudness.

    Attributes
    ----------
    target_spread_lu : float
        Voice levels (a phrase measured with its neighbours, see the module docstring) within
        half this (LU) under the main voice's level are left alone, beyond the full spread they
        are brought to it, linearly in between (four times the widths over it). Default 3 LU: a
        single voice at one level is left as it is (its phrases' voice levels stay within
        +-1.5 LU; a dev reader's single phrases vary by up to +-3 LU), and a second voice 3 dB or
        more down is corrected fully. Smaller values also even out two voices 1-1.5 LU apart, but
        cut more of the loud voice's emphasis (and the room tone around it) and flatten more of a
        voice's own phrase-to-phrase dynamics (bench/README.md, "Leveling").
    max_gain_up_db, max_gain_down_db : float
        The largest boost and cut (dB). Default +15 / -10 dB: voices 6-18 dB apart (the span of
        mic distances in practice) are evened out, an 18 dB gap by lifting the quiet voice up to
        15 dB and lowering the whole file by the rest (the offset), without lifting a whisper or
        a far voice 20 dB and more into the noise.
    rate_db_per_s : float
        How fast the gain may move inside a long phrase (dB per second). Default 2 dB/s: slower
        than a syllable (5 per second), fast enough to follow a speaker who moves off the mic.
    long_phrase_s : float
        Phrases longer than this (s) get a slow gain curve from 3 s windows; shorter ones one gain.
    min_pause_ms : float
        Gaps in speech shorter than this (ms) are part of the phrase (gain changes only in real
        pauses). Default 300 ms (de Jong & Wempe's minimum pause).
    min_phrase_ms : float
        Speech detections shorter than this (ms) are treated as part of the pause around them.
    pause_floor_margin_db : float
        A pause is raised at most to this much over the file's median pause floor (dB), so the
        room tone stays even across the file. Default 0 dB: no pause ends above the median.
    """

    target_spread_lu: float = setting(3.0, lo=0.0, hi=20.0, unit="LU",
                                     doc="Voice levels within half this under the main voice are left alone.")
    max_gain_up_db: float = setting(15.0, lo=0.0, hi=30.0, unit="dB",
                                   doc="The largest boost.")
    max_gain_down_db: float = setting(10.0, lo=0.0, hi=30.0, unit="dB",
                                     doc="The largest cut.")
    rate_db_per_s: float = setting(2.0, lo=0.1, hi=20.0, unit="dB/s",
                                  doc="How fast the gain may move inside a long phrase.")
    long_phrase_s: float = setting(6.0, lo=3.0, hi=600.0, unit="s",
                                  doc="Phrases longer than this get a slow gain curve, shorter ones one gain.")
    min_pause_ms: float = setting(300.0, lo=MIN_PAUSE_MS, hi=5000.0, unit="ms",
                                 doc="Gaps in speech shorter than this are part of the phrase.")
    min_phrase_ms: float = setting(200.0, lo=0.0, hi=5000.0, unit="ms",
                                  doc="Speech detections shorter than this count as pause.")
    pause_floor_margin_db: float = setting(0.0, lo=0.0, hi=20.0, unit="dB",
                                          doc="A pause is raised at most this far over the file's median pause floor.")

    def __post_init__(self) -> None:
        check_settings(self, "leveler")


@dataclass(frozen=True)
class LevelPlan:
    """The leveler's whole-file plan: a gain envelope on a 10 ms grid, and how it was found.

    ``gain_db[k]`` is the gain at sample ``k * hop`` (linear interpolation between points; past
    the end the last value). Phrases are grid-frame spans ``[start, end)``.
    """

    sample_rate: int
    hop: int
    gain_db: np.ndarray  # float32 (frames + 1,)
    phrases: np.ndarray  # int64 (n, 2)
    phrase_lufs: np.ndarray  # float32 (n,), nan where a phrase had no level above the gates
    phrase_gain_db: np.ndarray  # float32 (n,)
    anchor_lufs: float = float("nan")
    offset_db: float = 0.0
    floor_lufs: float = float("nan")
    detector: str = "vad"
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def reference_lufs(self) -> float:
        return self.anchor_lufs + self.offset_db

    def spread_estimate(self) -> tuple[float, float]:
        """Spread (LU) between the loud and quiet phrase clusters' medians, before and after the gains."""
        ok = np.isfinite(self.phrase_lufs)
        if np.count_nonzero(ok) < 2:
            return 0.0, 0.0
        w = (self.phrases[ok, 1] - self.phrases[ok, 0]).astype(np.float64)
        voices = voice_phrases(w)
        before = self.phrase_lufs[ok].astype(np.float64)
        after = before + self.phrase_gain_db[ok]
        return _cluster_spread(before[voices], w[voices]), _cluster_spread(after[voices], w[voices])

    def to_dict(self) -> dict:
        """A small JSON-able summary (the render record's)."""
        before, after = self.spread_estimate()
        g = self.phrase_gain_db
        return {
            "detector": self.detector,
            "phrases": int(self.phrases.shape[0]),
            "reference_lufs": _r(self.reference_lufs),
            "anchor_lufs": _r(self.anchor_lufs),
            "offset_db": _r(self.offset_db),
            "floor_lufs": _r(self.floor_lufs),
            "phrase_gain_db_min": _r(float(g.min())) if g.size else 0.0,
            "phrase_gain_db_max": _r(float(g.max())) if g.size else 0.0,
            "gain_db_min": _r(float(self.gain_db.min())) if self.gain_db.size else 0.0,
            "gain_db_max": _r(float(self.gain_db.max())) if self.gain_db.size else 0.0,
            "spread_before_lu": _r(before),
            "spread_after_lu": _r(after),
            "warnings": list(self.warnings),
        }

    def summary(self) -> dict:
        return self.to_dict()


def _r(v: float) -> float | str:
    return round(float(v), 2) if math.isfinite(v) else str(v)


# -- analysis ---------------------------------------------------------------------------------------
def grid_hop(sample_rate: int) -> int:
    """Samples per grid frame (10 ms, rounded)."""
    return max(1, int(round(sample_rate * GRID_S)))


def k_weighted_frame_power(source: Any, hop: int) -> np.ndarray:
    """Mean K-weighted power (channels summed) per ``hop``-sample frame of ``source``, float32.

    Streams ``source`` once in blocks of :data:`_BLOCK_FRAMES` frames; the last frame may be partial.
    """
    sr, channels, total = int(source.sample_rate), int(source.channels), int(source.frames)
    sos = k_weighting_sos(sr)
    zi = np.zeros((sos.shape[0], channels, 2), np.float64)
    n_frames = -(-total // hop)
    out = np.empty(n_frames, np.float32)
    block = hop * _BLOCK_FRAMES
    pos, k = 0, 0
    while pos < total:
        n = min(block, total - pos)
        x = np.asarray(source.read(pos, n), np.float64)
        y, zi = scipy.signal.sosfilt(sos, x, axis=-1, zi=zi)
        p = np.einsum("cn,cn->n", y, y)
        full = n // hop
        if full:
            out[k : k + full] = p[: full * hop].reshape(full, hop).mean(axis=1)
        if n > full * hop:
            out[k + full] = p[full * hop :].mean()
        k += -(-n // hop)
        pos += n
    return out


def _hysteresis(values: np.ndarray, on: float, off: float) -> np.ndarray:
    """True where ``values`` stays ``>= off`` in a run that reaches ``>= on`` somewhere."""
    cand = values >= off
    labels, n = label(cand)
    if n == 0:
        return np.zeros(values.shape, bool)
    hit = np.zeros(n + 1, bool)
    hit[np.unique(labels[values >= on])] = True
    hit[0] = False
    return hit[labels]


def _runs(mask: np.ndarray) -> np.ndarray:
    """``(n, 2)`` start/end indices of the True runs of ``mask``."""
    m = np.concatenate([[False], mask, [False]]).astype(np.int8)
    d = np.diff(m)
    return np.stack([np.flatnonzero(d == 1), np.flatnonzero(d == -1)], axis=1).astype(np.int64)


def _speech_mask_from_track(track: Any, n_frames: int, hop: int, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Speech per grid frame (silero's hysteresis) and the probability there."""
    p = np.asarray(track.probability, np.float32)
    if p.size == 0:
        return np.zeros(n_frames, bool), np.zeros(n_frames, np.float32)
    on = _hysteresis(p, VAD_ON, VAD_OFF)
    centre_s = (np.arange(n_frames, dtype=np.float64) * hop + hop / 2.0) / sample_rate
    idx = np.minimum((centre_s / float(track.frame_s)).astype(np.int64), p.size - 1)
    return on[idx], p[idx]


def _level_db(power: np.ndarray) -> np.ndarray:
    return 10.0 * np.log10(np.maximum(power.astype(np.float64), _TINY))


def _speech_mask_from_energy(power: np.ndarray) -> tuple[np.ndarray, float]:
    smooth = _level_db(uniform_filter1d(power.astype(np.float64), size=10, mode="nearest"))
    floor = float(np.percentile(smooth, 10.0)) if smooth.size else -120.0
    return _hysteresis(smooth, floor + ENERGY_ON_DB, floor + ENERGY_OFF_DB), floor


def _refine_edges(mask: np.ndarray, prob: np.ndarray, level: np.ndarray) -> np.ndarray:
    """The detector's speech where it is sure (probability >= :data:`VAD_SURE`), or where the
    level (30 ms) also stands :data:`EDGE_DB` over the floor (the median level of the frames the
    detector calls non-speech): its hangover after speech becomes pause, and a real pause inside
    one of its segments splits it, while quiet speech it is sure of (a far voice in noise) stays.
    Each stretch starts and ends where the level stands over the floor (the detector stays sure a
    little past the speech), but no more than :data:`HANGOVER_S` in from its ends."""
    if not np.any(~mask) or not np.any(mask):
        return mask
    floor = float(np.median(level[~mask]))
    smooth = _level_db(uniform_filter1d(10.0 ** (level / 10.0), size=3, mode="nearest"))
    loud = smooth > floor + EDGE_DB
    out = mask & ((prob >= VAD_SURE) | loud)
    # the ends of each stretch are where the level says (the detector stays sure a little past the
    # speech), but only within its hangover: further in, speech it is sure of stays speech
    trim = int(round(HANGOVER_S / GRID_S))
    for s, e in _runs(out):
        idx = np.flatnonzero(loud[s:e])
        if idx.size:
            out[s : s + min(idx[0], trim)] = False
            out[max(s + idx[-1] + 1, e - trim) : e] = False
    return out


def speech_power(power: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The speech's own K-weighted power per grid frame: the room tone's (the median power of the
    frames ``mask`` calls non-speech) subtracted, speech and noise being uncorrelated; a frame at
    or under the room tone keeps :data:`RESIDUAL_SHARE` of its power (the loudness gates then
    leave it out). Without non-speech frames, ``power`` as it is."""
    if not np.any(~mask) or not np.any(mask):
        return power
    p = power.astype(np.float64)
    noise = float(np.median(p[~mask]))
    return np.maximum(p - noise, RESIDUAL_SHARE * p)


def segment_phrases(mask: np.ndarray, settings: LevelerSettings) -> np.ndarray:
    """Phrases ``(n, 2)`` (grid frames) from a per-frame speech mask: padded, gaps merged, short dropped."""
    runs = _runs(mask)
    if runs.size == 0:
        return runs.reshape(0, 2)
    pad = int(round(PAD_S / GRID_S))
    n = mask.size
    runs[:, 0] = np.maximum(runs[:, 0] - pad, 0)
    runs[:, 1] = np.minimum(runs[:, 1] + pad, n)
    min_gap = int(round(settings.min_pause_ms * 1e-3 / GRID_S))
    merged = [list(runs[0])]
    for s, e in runs[1:]:
        if s - merged[-1][1] < min_gap:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    out = np.array(merged, np.int64).reshape(-1, 2)
    min_len = int(round(settings.min_phrase_ms * 1e-3 / GRID_S))
    return out[(out[:, 1] - out[:, 0]) >= max(min_len, 1)]


def gated_loudness(power: np.ndarray) -> float:
    """BS.1770-style gated loudness (LUFS) of K-weighted 10 ms frame powers: 100 ms levels,
    absolute gate -70 LUFS, relative gate -10 LU; nan when nothing passes."""
    if power.size == 0:
        return float("nan")
    p = uniform_filter1d(power.astype(np.float64), size=min(10, power.size), mode="nearest")
    lk = -0.691 + _level_db(p)
    keep = lk > -70.0
    if not np.any(keep):
        return float("nan")
    rel = -0.691 + 10.0 * math.log10(max(float(np.mean(p[keep])), _TINY)) - 10.0
    keep &= lk > rel
    return -0.691 + 10.0 * math.log10(max(float(np.mean(p[keep])), _TINY))


def _weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    order = np.argsort(values, kind="stable")
    v, w = values[order], weights[order]
    c = np.cumsum(w) - 0.5 * w
    return float(np.interp(q * w.sum(), c, v))


def _cluster(values: np.ndarray, weights: np.ndarray, *, top: bool, at: float = 0.5) -> float:
    """Duration-weighted quantile ``at`` of the loudest (``top``) or quietest voice's phrases: those within
    CLUSTER_LU under the 90th percentile and above (over the 10th and below), the percentile
    moved inward in steps of 5 until they hold at least CLUSTER_SHARE (QUIET_SHARE) of the speech."""
    total = weights.sum()
    for q in np.arange(0.9, 0.49, -0.05):
        edge = _weighted_quantile(values, weights, q if top else 1.0 - q)
        sel = values >= edge - CLUSTER_LU if top else values <= edge + CLUSTER_LU
        if weights[sel].sum() >= (CLUSTER_SHARE if top else QUIET_SHARE) * total:
            break
    return _weighted_quantile(values[sel], weights[sel], at)


def _long(frames: np.ndarray) -> np.ndarray:
    """Which phrases (their lengths in grid frames) are not short ones (:data:`SHORT_PHRASE_S`)."""
    return np.asarray(frames) >= int(round(SHORT_PHRASE_S / GRID_S))


def voice_phrases(frames: np.ndarray) -> np.ndarray:
    """Which phrases (their lengths in grid frames) set the voices' levels: the long ones
    (:func:`_long`), where there are any (a shorter one is a word of a neighbouring phrase's voice
    and takes its gain: module notes, steps 4 and 5); else all of them."""
    long = _long(frames)
    return long if np.any(long) else np.ones(long.shape, bool)


def _cluster_spread(values: np.ndarray, weights: np.ndarray) -> float:
    return _cluster(values, weights, top=True) - _cluster(values, weights, top=False)


def correction_db(deviation_lu: np.ndarray | float, target_spread_lu: float) -> np.ndarray:
    """The correction (dB) for a phrase ``deviation_lu`` from the anchor (continuous).

    Under the anchor: 0 within half the spread, ``-deviation`` (brought to the anchor) beyond the
    full spread, linear in between. Over it (the anchor is already the louder voice: what stands
    out above it is emphasis or a shout) the same with four times the widths.
    """
    d = np.asarray(deviation_lu, np.float64)
    h = np.where(d < 0.0, target_spread_lu / 2.0, 2.0 * target_spread_lu)
    a = np.abs(d)
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = np.where(a <= h, 0.0, np.where(a >= 2.0 * h, a, (a - h) * 2.0))
    return -np.sign(d) * mag


def _local_levels(lufs: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Each phrase's *voice level*: the duration-weighted mean loudness of it and its neighbours
    (up to :data:`CONTEXT_PHRASES` each way) that lie within :data:`CONTEXT_LU` of it. A quiet
    phrase among its own voice's phrases is measured with them (its natural dip is kept), while a
    neighbouring voice further away in level is left out."""
    out = lufs.astype(np.float64).copy()
    n = lufs.size
    for i in range(n):
        if not math.isfinite(lufs[i]):
            continue
        lo, hi = max(0, i - CONTEXT_PHRASES), min(n, i + CONTEXT_PHRASES + 1)
        v, w = lufs[lo:hi].astype(np.float64), weights[lo:hi]
        sel = np.isfinite(v) & (np.abs(v - lufs[i]) <= CONTEXT_LU)
        out[i] = float(np.sum(v[sel] * w[sel]) / np.sum(w[sel]))
    return out


def _rate_limit(target: np.ndarray, step: float) -> np.ndarray:
    """The largest curve <= ``target`` that moves at most ``step`` per frame (min-plus cone)."""
    g = target.astype(np.float64).copy()
    for i in range(1, g.size):
        g[i] = min(g[i], g[i - 1] + step)
    for i in range(g.size - 2, -1, -1):
        g[i] = min(g[i], g[i + 1] + step)
    return g


def plan_levels(source: Any, sample_rate: int, track: Any, settings: LevelerSettings = LevelerSettings(),
                profile: Any = None, *, no_track_reason: str = "") -> LevelPlan:
    """Plan the leveler's gains over ``source`` (a BlockSource, streamed once).

    Parameters
    ----------
    source : BlockSource
        The audio, ``(channels, samples)`` blocks at ``sample_rate`` Hz.
    sample_rate : int
        Hz; must be the source's.
    track : SpeechTrack or None
        The voice activity track; None falls back to an energy detector (a warning says so).
    settings : LevelerSettings
    profile : NoiseProfile, optional
        Unused by the plan itself (the pause floor is measured from the file's own pauses); kept
        so the analysis signature matches the other whole-file analyses.
    no_track_reason : str
        Why there is no track (for the warning).

    Returns
    -------
    LevelPlan
    """
    if int(source.sample_rate) != int(sample_rate):
        raise ParameterError(f"the source is at {source.sample_rate} Hz but sample_rate={sample_rate} was given")
    hop = grid_hop(sample_rate)
    power = k_weighted_frame_power(source, hop)
    n = power.size
    warnings: list[str] = []
    level = _level_db(power)
    if track is not None:
        mask, prob = _speech_mask_from_track(track, n, hop, sample_rate)
        mask = _refine_edges(mask, prob, level)
        detector = str(getattr(track, "detector", "vad"))
    else:
        mask, _ = _speech_mask_from_energy(power)
        detector = "energy"
        why = f" ({no_track_reason})" if no_track_reason else ""
        warnings.append(f"phrases found from the signal's level over its floor, not from voice activity{why}")
    phrases = segment_phrases(mask, settings)
    speech = speech_power(power, mask)
    lufs = np.array([gated_loudness(speech[s:e]) for s, e in phrases], np.float64)
    gains = np.zeros(len(phrases), np.float64)
    ok = np.isfinite(lufs)
    anchor, offset = float("nan"), 0.0
    if not np.any(ok):
        warnings.append("no speech found: the leveler leaves the file as it is")
        env = np.zeros(n + 1, np.float32)
        return LevelPlan(int(sample_rate), hop, env, phrases, lufs.astype(np.float32), gains.astype(np.float32),
                         anchor, offset, float("nan"), detector, tuple(warnings))
    w = (phrases[ok, 1] - phrases[ok, 0]).astype(np.float64)
    voices = voice_phrases(w)
    anchor = _cluster(lufs[ok][voices], w[voices], top=True)
    quiet = _cluster(lufs[ok][voices], w[voices], top=False, at=0.25)
    need_up = float(correction_db(quiet - anchor, settings.target_spread_lu))
    offset = -min(max(need_up - settings.max_gain_up_db, 0.0), settings.max_gain_down_db)

    def gain_for(loudness: np.ndarray) -> np.ndarray:
        g = offset + correction_db(loudness - anchor, settings.target_spread_lu)
        return np.clip(g, -settings.max_gain_down_db, settings.max_gain_up_db)

    env = np.full(n + 1, np.nan, np.float64)
    step = settings.rate_db_per_s * GRID_S
    win, win_hop = int(round(WINDOW_S / GRID_S)), int(round(WINDOW_HOP_S / GRID_S))
    long_frames = int(round(settings.long_phrase_s / GRID_S))
    local = _local_levels(lufs, (phrases[:, 1] - phrases[:, 0]).astype(np.float64))
    for i, (s, e) in enumerate(phrases):
        if not ok[i]:
            continue
        gains[i] = float(gain_for(np.array(local[i])))
        if e - s <= long_frames:
            env[s:e] = gains[i]
            continue
        centres = np.arange(s + win // 2, e - win // 2 + 1, win_hop)
        wl = np.array([gated_loudness(speech[c - win // 2 : c + win // 2]) for c in centres])
        # a window that strays from the phrase's own level by more than twice the spread moves the
        # gain (slowly); the phrase's ordinary ups and downs do not
        extra = correction_db(np.nan_to_num(wl, nan=lufs[i]) - lufs[i], 2.0 * settings.target_spread_lu)
        wg = np.clip(gains[i] + extra, -settings.max_gain_down_db, settings.max_gain_up_db)
        curve = np.interp(np.arange(s, e), centres, wg)
        env[s:e] = _rate_limit(curve, step)
    # A short phrase (a breath or a click the detector took for speech, or a word) gets at most the
    # gain of the longer phrases around it (see the module docstring), so a breath is never raised
    # above the speech.
    long_ok = ok & _long(phrases[:, 1] - phrases[:, 0])
    long_idx = np.flatnonzero(long_ok)
    if long_idx.size:
        for i in (int(v) for v in np.flatnonzero(ok & ~long_ok)):
            pos = np.searchsorted(long_idx, i)
            near = [long_idx[k] for k in (pos - 1, pos) if 0 <= k < long_idx.size]
            # a word of the side whose speech it is not more than CONTEXT_LU quieter than (a
            # stressed word may be louder; of two, the one closest in loudness) gets that side's
            # gain, as it would inside the phrase; much quieter than both (a breath, a noise), at
            # most the smaller gain
            like = [k for k in near if lufs[i] >= lufs[k] - CONTEXT_LU]
            g = gains[min(like, key=lambda k: abs(lufs[i] - lufs[k]))] if like else min(gains[i], *(gains[k] for k in near))
            if g != gains[i]:
                gains[i] = g
                s, e = phrases[i]
                env[s:e] = gains[i]
    # phrases with no level above the gates are treated as pause (they lie inside the spans below)
    keep = phrases[ok]
    gains[~ok] = np.nan
    # pauses: floors, then gains
    rel, att = int(round(RELEASE_S / GRID_S)), int(round(ATTACK_S / GRID_S))
    bounds = [(0, int(keep[0, 0]))] + [(int(keep[j, 1]), int(keep[j + 1, 0])) for j in range(len(keep) - 1)]
    bounds.append((int(keep[-1, 1]), n))
    floors = []
    for a, b in bounds:
        core = level[min(a + rel, b) : max(b - att, a)] if b - a > rel + att else level[a:b]
        floors.append(float(np.percentile(core, FLOOR_PERCENTILE)) if core.size else float("nan"))
    floors_arr = np.array(floors)
    fin = np.isfinite(floors_arr)
    floor = float(np.median(floors_arr[fin])) if np.any(fin) else float("nan")
    for j, (a, b) in enumerate(bounds):
        if b <= a:
            continue
        ga = float(env[a - 1]) if a > 0 else math.nan
        gb = float(env[b]) if b < n else math.nan
        if not (math.isfinite(ga) or math.isfinite(gb)):
            env[a:b] = offset
            continue
        ga_v = ga if math.isfinite(ga) else gb
        gb_v = gb if math.isfinite(gb) else ga
        t = np.arange(b - a, dtype=np.float64)
        line = ga_v + (gb_v - ga_v) * (t + 0.5) / (b - a)
        below = floor - floors_arr[j] if np.isfinite(floors_arr[j]) else 0.0
        cap = settings.pause_floor_margin_db + max(0.0, below - FLOOR_NOISE_DB)
        core = np.minimum(line, offset + cap)
        out = core.copy()
        if ga is not None:
            w_rel = np.clip(1.0 - (t + 1.0) / (rel + 1.0), 0.0, 1.0)
            out += w_rel * (ga_v - core)
        if gb is not None:
            w_att = np.clip(1.0 - ((b - a) - t) / (att + 1.0), 0.0, 1.0)
            out += w_att * (gb_v - core)
        env[a:b] = out
    env[n] = env[n - 1] if n else 0.0
    env = np.nan_to_num(env, nan=offset)
    return LevelPlan(int(sample_rate), hop, env.astype(np.float32), phrases, lufs.astype(np.float32),
                     np.nan_to_num(gains, nan=offset).astype(np.float32), anchor, offset,
                     floor - 0.691 if math.isfinite(floor) else floor, detector, tuple(warnings))


# -- the processor ------------------------------------------------------------------------------------
@realtime_kernel
def _apply_envelope(x, env, hop, start, out):  # pragma: no cover - compiled
    """``out[c, n] = x[c, n] * g(start + n)``: ``env`` (linear gains at samples ``k * hop``)
    interpolated linearly; before sample 0 the first value, past the end the last."""
    c_n, n_n = x.shape
    last = env.shape[0] - 1
    for n in range(n_n):
        s = start + n
        if s <= 0:
            g = env[0]
        else:
            k = s // hop
            if k >= last:
                g = env[last]
            else:
                frac = (s - k * hop) / hop
                g = env[k] + (env[k + 1] - env[k]) * frac
        for c in range(c_n):
            out[c, n] = np.float32(np.float64(x[c, n]) * g)


def apply_envelope(x: np.ndarray, env_linear: np.ndarray, hop: int, start: int) -> np.ndarray:
    """Validate and apply a linear gain envelope (points every ``hop`` samples) to ``x``
    ``(channels, samples)`` float32 whose first sample is absolute sample ``start``."""
    if x.ndim != 2 or x.dtype != np.float32:
        raise ParameterError(f"expected float32 (channels, samples), got {x.dtype} {x.shape}")
    if env_linear.ndim != 1 or env_linear.size == 0 or env_linear.dtype != np.float64:
        raise ParameterError("the gain envelope must be a non-empty float64 vector")
    if hop < 1:
        raise ParameterError(f"the envelope's hop must be at least 1 sample, got {hop}")
    out = np.empty(x.shape, np.float32)
    _apply_envelope(np.ascontiguousarray(x), env_linear, np.int64(hop), np.int64(start), out)
    return out


class PlannedGain(Processor):
    """Applies a whole-file gain plan, one gain for all channels: ``plan.gain_db`` at samples
    ``k * plan.hop`` (linear in between, :func:`apply_envelope`), planned at ``plan.sample_rate``.

    The base of the stages whose analysis plans a gain curve (the leveler, breath control). No plan
    (no analysis run), or one :meth:`_passes_through` says changes nothing, makes it an exact
    passthrough. It knows its absolute sample position from :meth:`reset`, so any playhead gives
    the full render's samples.
    """

    #: How messages name the plan ("the leveling plan was made at ...").
    plan_name = "gain plan"

    def __init__(self, settings: Any, *, plan: Any = None) -> None:
        self.settings = settings
        self.plan = plan
        self._env = np.ones(1, np.float64)
        self._pos = 0

    def prepare(self, spec: AudioSpec) -> None:
        self.spec = spec
        if self.plan is not None:
            if int(self.plan.sample_rate) != int(spec.sample_rate):
                raise ParameterError(
                    f"the {self.plan_name} was made at {self.plan.sample_rate} Hz but the audio is at "
                    f"{spec.sample_rate} Hz; analyse the file again"
                )
            self._env = np.ascontiguousarray(10.0 ** (self.plan.gain_db.astype(np.float64) / 20.0))
        self.reset()

    def reset(self, *, position: int = 0) -> None:
        self._pos = int(position)

    def _passes_through(self) -> bool:
        return self.plan is None

    def process(self, block: np.ndarray) -> np.ndarray:
        spec = self._require_spec()
        n = block.shape[-1]
        if self._passes_through():
            self._pos += n
            return block
        block = check_block(block, spec.channels)
        out = apply_envelope(block, self._env, self.plan.hop, self._pos)
        self._pos += n
        return out


class Leveler(PlannedGain):
    """Applies a :class:`LevelPlan`'s gain envelope (stage kind ``leveler``), one gain for all channels;
    ``plan`` None (no analysis run) makes it an exact passthrough."""

    plan_name = "leveling plan"

    def __init__(self, settings: LevelerSettings = LevelerSettings(), *, plan: LevelPlan | None = None) -> None:
        super().__init__(settings, plan=plan)

    def describe(self) -> dict:
        from dataclasses import asdict

        return {"type": "Leveler", "settings": asdict(self.settings),
                "plan": None if self.plan is None else self.plan.to_dict()}


#: Where the analysis puts the plan in ``BuildContext.extras``.
PLAN_KEY = "level_plan"


def _analyse(source: Any, settings: LevelerSettings, context: BuildContext) -> BuildContext:
    track = context.extras.get("speech")
    reason = str(context.extras.get("speech_detector", "no voice activity track was given"))
    plan = plan_levels(source, source.sample_rate, track, settings, context.profile, no_track_reason=reason)
    return replace(context, extras={**context.extras, PLAN_KEY: plan})


def _factory(settings: LevelerSettings, context: BuildContext) -> Leveler:
    return Leveler(settings, plan=context.extras.get(PLAN_KEY))


LEVELER = register(StageKind(
    name="leveler", label="Speaker leveler", settings_cls=LevelerSettings, domain="time", factory=_factory,
    description="Evens out the speech loudness of phrases and speakers (gain moves in pauses, room tone and "
                "breaths are not raised)",
    needs_profile=False, role="utility", analyse=_analyse, placement=90, reads_speech_track=True,
))
