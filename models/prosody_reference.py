"""Cross-checks for the F0 tracker: a plain YIN reference and harmonic evidence for octave disputes.

Two independent tools, used by ``bench/prosody_notes.py`` and the dev-clip tests to decide,
frame by frame, whether a pitch statistic that disagrees with another tracker's comes from
octave (or sub-harmonic) errors, and whose:

- **Plain YIN** (de Cheveigne & Kawahara 2002), exactly as the dev data's ``prosody/NOTES.md``
  measured it (the settings were recovered by fitting; ``bench/results/prosody_notes.md``):
  audio resampled to 16 kHz, 10 ms hop, frames centred on ``i x hop``, the classic difference
  function ``d(tau) = sum_{j<W} (x[t+j] - x[t+j+tau])^2`` over a 40 ms window ``W`` (the
  signal is zero-padded by ``W/2`` in front), the cumulative-mean-normalised difference, the
  absolute threshold 0.15 (the first local minimum below it, at an **integer lag**: no
  parabolic interpolation), search range 60-450 Hz; a frame is voiced when such a dip exists
  and its RMS is within 40 dB of the clip's loudest frame. F0 in Hz, NaN when unvoiced.
- **Harmonic evidence** of a candidate F0 ``f`` at a time ``t``: in a narrow-band spectrum
  (Hann window of ``max(40 ms, 5 / f_low)`` capped at 100 ms, dB of power), the mean over the
  harmonics ``k f`` below 3 kHz (at most 15) of ``L(k f) - L((k - 1/2) f)``, where ``L(v)`` is
  the largest dB value within ``+-0.2 f`` of ``v``. At the true F0 every term compares a
  harmonic with the trough before it (large, typically 15-30 dB); at half the true F0 every
  other term compares trough with trough (about half as large); at twice the true F0 every term
  compares a harmonic with a harmonic (near 0 dB). The F0 is the spacing of the harmonics, and
  this score measures how well ``f`` explains that spacing. Units: dB.

A tracker's frame is judged an **octave error** when a candidate among ``f/2, 2f, f/3, 3f``
scores at least ``margin_db`` (default 4 dB) above ``f`` itself, in a run of at least two
consecutive frames. The margin is justified by the false-alarm rate on frames where both
trackers agree within 1 semitone (reported by the bench): there no frame is "corrected".
Where two trackers disagree, :func:`resolve_disputes` compares the two values directly on the
same spectrum, run by run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dsp.errors import ParameterError
from models.prosody import PitchTrack, pitch_stats

YIN_RATE = 16000


@dataclass(frozen=True)
class YinSettings:
    """Plain YIN settings; the defaults reproduce ``prosody/NOTES.md``."""

    window_s: float = 0.04
    hop_s: float = 0.01
    fmin_hz: float = 60.0
    fmax_hz: float = 450.0
    threshold: float = 0.15
    energy_gate_db: float | None = -40.0
    interpolate: bool = False

    def __post_init__(self) -> None:
        if not 20.0 <= self.fmin_hz < self.fmax_hz <= 4000.0:
            raise ParameterError(f"YIN range {self.fmin_hz}-{self.fmax_hz} Hz is invalid")
        if not 0.0 < self.threshold < 1.0:
            raise ParameterError(f"YIN threshold must be in (0, 1), got {self.threshold}")


def _to_rate(x: np.ndarray, sample_rate: int, rate: int) -> np.ndarray:
    if sample_rate == rate:
        return x
    from dsp.resample import resample_poly

    return resample_poly(x, rate, int(sample_rate))  # reduces the ratio


def _mono64(audio: np.ndarray) -> np.ndarray:
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim == 2:
        x = x.mean(axis=0)
    if x.ndim != 1:
        raise ParameterError(f"expected audio of shape (samples,) or (channels, samples), got {x.shape}")
    return np.nan_to_num(x)


def plain_yin(audio: np.ndarray, sample_rate: int, *, settings: YinSettings | None = None) -> PitchTrack:
    """F0 track with plain YIN (see the module docstring); NaN where unvoiced.

    Parameters
    ----------
    audio : ndarray, shape (samples,) or (channels, samples)
    sample_rate : int
        Hz; the audio is resampled to 16 kHz first.
    settings : YinSettings, optional

    Returns
    -------
    PitchTrack
        Frame centres ``i x hop`` (s) and F0 (Hz).
    """
    s = settings or YinSettings()
    x = _to_rate(_mono64(audio), sample_rate, YIN_RATE)
    sr = YIN_RATE
    w = int(round(s.window_s * sr))
    hop = int(round(s.hop_s * sr))
    min_p = int(math.floor(sr / s.fmax_hz))
    max_p = int(math.ceil(sr / s.fmin_hz))
    n = 1 + len(x) // hop
    y = np.pad(x, (w // 2, w // 2 + max_p + 1))
    idx = np.arange(n)[:, None] * hop + np.arange(w + max_p + 1)[None, :]
    frames = y[idx]  # (n, w + max_p + 1)
    head = frames[:, :w]
    d = np.empty((n, max_p + 1))
    d[:, 0] = 0.0
    for tau in range(1, max_p + 1):
        diff = head - frames[:, tau:tau + w]
        d[:, tau] = np.einsum("ij,ij->i", diff, diff)
    cm = np.cumsum(d[:, 1:], axis=1) / np.arange(1, max_p + 1)[None, :]
    cmnd = d[:, 1:] / (cm + 1e-20)  # column j is lag j + 1
    c = cmnd[:, min_p - 1:max_p]  # lags min_p .. max_p
    trough = np.zeros_like(c, dtype=bool)
    trough[:, 1:-1] = (c[:, 1:-1] < c[:, :-2]) & (c[:, 1:-1] <= c[:, 2:])
    trough[:, 0] = c[:, 0] < c[:, 1]
    below = trough & (c < s.threshold)
    has = below.any(axis=1)
    j = np.argmax(below, axis=1)
    lag = (min_p + j).astype(np.float64)
    if s.interpolate:
        jj = np.clip(j, 1, c.shape[1] - 2)
        r = np.arange(n)
        a, b, cc = c[r, jj - 1], c[r, jj], c[r, jj + 1]
        den = a - 2 * b + cc
        shift = np.where(np.abs(den) > 1e-12, 0.5 * (a - cc) / np.where(den == 0, 1, den), 0.0)
        lag = lag + np.where((j == jj) & (np.abs(shift) <= 1), shift, 0.0)
    f0 = sr / lag
    f0[~has] = np.nan
    if s.energy_gate_db is not None:
        rms = np.sqrt(np.mean(head * head, axis=1))
        level = 20 * np.log10(rms + 1e-12)
        f0[level < level.max() + s.energy_gate_db] = np.nan
    return PitchTrack(times_s=np.arange(n) * s.hop_s, f0_hz=f0, floor_hz=s.fmin_hz, ceiling_hz=s.fmax_hz)


# ---------------------------------------------------------------------------------------------
# Harmonic evidence

HARMONIC_MAX_HZ = 3000.0
HARMONIC_MAX_K = 15
CANDIDATE_RATIOS = (0.5, 2.0, 1.0 / 3.0, 3.0)


class HarmonicEvidence:
    """Scores candidate F0s against the narrow-band spectrum of one clip (see module docstring)."""

    def __init__(self, audio: np.ndarray, sample_rate: int, *, n_fft: int = 16384) -> None:
        self.x = _to_rate(_mono64(audio), sample_rate, YIN_RATE)
        self.sr = YIN_RATE
        self.n_fft = n_fft
        self._cache: dict[tuple[int, int], np.ndarray] = {}

    def _spectrum_db(self, t: float, f_low: float) -> np.ndarray:
        win_s = min(max(0.04, 5.0 / max(f_low, 1.0)), 0.1)
        n = int(round(win_s * self.sr)) | 1
        key = (int(round(t * self.sr)), n)
        if key not in self._cache:
            c = key[0]
            seg = np.zeros(n)
            a, b = c - n // 2, c - n // 2 + n
            lo, hi = max(a, 0), min(b, len(self.x))
            if hi > lo:
                seg[lo - a:hi - a] = self.x[lo:hi]
            p = np.abs(np.fft.rfft(seg * np.hanning(n), self.n_fft)) ** 2
            self._cache[key] = 10 * np.log10(p + 1e-12 * (p.max() + 1e-30))
        return self._cache[key]

    def score(self, t: float, f0_hz: float, *, f_low: float | None = None) -> float:
        """Harmonic evidence (dB) for ``f0_hz`` at time ``t``; ``f_low`` sets the window."""
        f = float(f0_hz)
        if not math.isfinite(f) or f <= 0:
            return math.nan
        spec = self._spectrum_db(t, f_low if f_low is not None else f)
        bin_hz = self.sr / self.n_fft
        tol = max(1, int(0.2 * f / bin_hz))
        top = min(HARMONIC_MAX_HZ, 0.45 * self.sr)
        ks = np.arange(1, HARMONIC_MAX_K + 1)
        ks = ks[ks * f <= top]
        if len(ks) < 2:
            return math.nan

        def peak(v: float) -> float:
            i = int(round(v / bin_hz))
            return float(spec[max(i - tol, 0):i + tol + 1].max())

        return float(np.mean([peak(k * f) - peak((k - 0.5) * f) for k in ks]))

    def best(self, t: float, f0_hz: float, *, margin_db: float = 4.0,
             f_range: tuple[float, float] = (40.0, 1500.0)) -> tuple[float, float, float]:
        """``(best_f0, score_of_best, score_of_f0)``: the candidate among ``f0`` and its
        octave / twelfth relatives (within ``f_range``) that explains the spectrum best; ``f0``
        itself unless another beats it by ``margin_db``."""
        f = float(f0_hz)
        cands = [f] + [f * r for r in CANDIDATE_RATIOS if f_range[0] <= f * r <= f_range[1]]
        f_low = min(cands)
        scores = [self.score(t, c, f_low=f_low) for c in cands]
        s0 = scores[0]
        if not math.isfinite(s0):
            return f, s0, s0
        i = int(np.nanargmax(np.where(np.isfinite(scores), scores, -np.inf)))
        if i != 0 and scores[i] >= s0 + margin_db:
            return cands[i], scores[i], s0
        return f, s0, s0


@dataclass
class OctaveAudit:
    """One tracker's voiced frames checked against the harmonic evidence.

    ``corrected_hz`` is the track with every frame judged an octave error replaced by the
    candidate the spectrum prefers; ``error_times_s`` are those frames' times.
    """

    times_s: np.ndarray
    f0_hz: np.ndarray
    corrected_hz: np.ndarray
    error: np.ndarray  # bool per frame

    @property
    def voiced_frames(self) -> int:
        return int(np.isfinite(self.f0_hz).sum())

    @property
    def error_fraction(self) -> float:
        n = self.voiced_frames
        return float(self.error.sum()) / n if n else 0.0

    @property
    def error_times_s(self) -> np.ndarray:
        return self.times_s[self.error]


def audit_track(track: PitchTrack, evidence: HarmonicEvidence, *, margin_db: float = 4.0,
                frames: np.ndarray | None = None, min_run: int = 2) -> OctaveAudit:
    """Check each voiced frame of ``track`` (or only those in the boolean mask ``frames``).

    A correction stands only in runs of at least ``min_run`` consecutive flagged frames: a lone
    frame whose spectrum is smeared (a glottal irregularity, a formant transition) is not
    evidence of an octave error when both neighbours support the tracker.
    """
    f = np.asarray(track.f0_hz, dtype=np.float64)
    out = f.copy()
    err = np.zeros(len(f), bool)
    sel = np.isfinite(f) if frames is None else (np.isfinite(f) & frames)
    for i in np.flatnonzero(sel):
        best, _sb, _s0 = evidence.best(float(track.times_s[i]), f[i], margin_db=margin_db)
        if best != f[i]:
            out[i] = best
            err[i] = True
    if min_run > 1 and err.any():
        m = np.concatenate(([False], err, [False])).astype(np.int8)
        for r0, r1 in np.flatnonzero(np.diff(m)).reshape(-1, 2):
            if r1 - r0 < min_run:
                err[r0:r1] = False
                out[r0:r1] = f[r0:r1]
    return OctaveAudit(times_s=np.asarray(track.times_s), f0_hz=f, corrected_hz=out, error=err)


@dataclass
class FrameComparison:
    """Two tracks on a common 10 ms grid: where both are voiced, how far apart (semitones)."""

    times_s: np.ndarray
    a_hz: np.ndarray
    b_hz: np.ndarray

    @property
    def both(self) -> np.ndarray:
        return np.isfinite(self.a_hz) & np.isfinite(self.b_hz)

    @property
    def diff_st(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return 12 * np.log2(self.a_hz / self.b_hz)

    def disputed(self, min_st: float = 3.0) -> np.ndarray:
        return self.both & (np.abs(np.nan_to_num(self.diff_st)) > min_st)

    def octave(self, tol_st: float = 2.0) -> np.ndarray:
        """Frames where the two differ by 12, 19 or 24 semitones (x2, x3, x4) within ``tol_st``."""
        d = np.abs(np.nan_to_num(self.diff_st))
        return self.both & np.any([np.abs(d - k) < tol_st for k in (12.0, 19.02, 24.0)], axis=0)


def compare_tracks(a: PitchTrack, b: PitchTrack) -> FrameComparison:
    """Put ``b`` on ``a``'s frame times (nearest frame within half a hop, else unvoiced)."""
    ta, tb = np.asarray(a.times_s), np.asarray(b.times_s)
    hop = float(np.median(np.diff(ta))) if len(ta) > 1 else 0.01
    j = np.clip(np.searchsorted(tb, ta), 1, max(len(tb) - 1, 1))
    j = np.where(np.abs(tb[j - 1] - ta) <= np.abs(tb[np.minimum(j, len(tb) - 1)] - ta), j - 1, j)
    j = np.clip(j, 0, len(tb) - 1)
    fb = np.asarray(b.f0_hz)[j].astype(np.float64)
    fb[np.abs(tb[j] - ta) > hop / 2 + 1e-9] = np.nan
    return FrameComparison(times_s=ta, a_hz=np.asarray(a.f0_hz, dtype=np.float64), b_hz=fb)


def resolve_disputes(cmp_: FrameComparison, evidence: HarmonicEvidence, *, min_st: float = 3.0,
                     margin_db: float = 2.0) -> np.ndarray:
    """Who is right where two tracks disagree by more than ``min_st``: per frame ``+1`` (track a),
    ``-1`` (track b) or ``0`` (undecided / no dispute).

    Disputed frames are grouped in runs of consecutive frames; for each run the mean over its
    frames of ``score(a) - score(b)`` (both scored on the same spectrum) decides when it is at
    least ``margin_db`` in size. Single frames at a voicing edge carry little evidence, so a run
    is judged as a whole.
    """
    out = np.zeros(len(cmp_.times_s), np.int8)
    bad = cmp_.disputed(min_st)
    m = np.concatenate(([False], bad, [False])).astype(np.int8)
    for r0, r1 in np.flatnonzero(np.diff(m)).reshape(-1, 2):
        diffs = []
        for i in range(r0, r1):
            t, fa, fb = float(cmp_.times_s[i]), float(cmp_.a_hz[i]), float(cmp_.b_hz[i])
            lo = min(fa, fb)
            diffs.append(evidence.score(t, fa, f_low=lo) - evidence.score(t, fb, f_low=lo))
        d = float(np.nanmean(diffs)) if np.isfinite(diffs).any() else 0.0
        if abs(d) >= margin_db:
            out[r0:r1] = 1 if d > 0 else -1
    return out


def std_span(f0_hz: np.ndarray) -> tuple[float, float, float]:
    """``(median_hz, std_st, span_st)`` of the voiced values, semitones re the median."""
    s = pitch_stats(f0_hz)
    return s.median_hz, s.std_st, s.span_st
