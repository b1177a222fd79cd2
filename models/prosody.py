"""Prosody analyses of one clip: pitch, intensity, pauses, breaths, rate, level. Numpy in, data out.

Algorithms and units (all times in seconds, all levels in dB):

- **F0**: Praat's autocorrelation pitch (Boersma 1993) through praat-parselmouth, 10 ms step,
  two passes on the audio resampled to 16 kHz when it is faster: a first pass at 75-1000 Hz (at
  8 kHz: it only has to find the quartiles; its ceiling is above Praat's 600 Hz default so that
  excited speech rising past 600 Hz raises Q3 instead of being cut off), then a speaker-adapted
  range with floor
  ``0.75 x Q1`` and ceiling ``1.5 x Q3`` of the first pass's voiced F0 (Hirst's two-pass
  recipe; DOMAIN.md). Unvoiced frames are NaN.
- **Pitch spread** over voiced frames, in semitones **relative to the clip's median F0**
  (``12 log2(f0 / median)``): the standard deviation and the 5-95th percentile span, plus the
  same in Hz. Semitones make men and women comparable (Traunmueller & Eriksson).
- **Voiced fraction**: voiced time over speech (phonation) time.
- **Intensity**: Praat's intensity contour (dB re 2e-5, i.e. relative; minimum pitch 100 Hz,
  10 ms step); its spread (std and p5-p95 span) over voiced frames.
- **Pauses**: silences of at least ``min_pause_s`` (0.25 s) between speech regions from the
  speech detector (:mod:`models.speech_activity`, energy-based with de Jong & Wempe's -25 dB
  threshold re the 99th percentile until a learned VAD registers). Leading and trailing
  silence are reported separately, not as pauses. Pauses per minute use the span from the
  first to the last speech.
- **Breaths**: inside pauses and edge silences, runs of 80-900 ms that do not continue the
  preceding speech's decay, rise at least
  ``breath_rise_db`` over the noise floor, stay ``breath_below_speech_db`` under the speech
  level, are unvoiced and broadband (spectral flatness of the run above
  ``breath_min_flatness`` between 300 Hz and 6 kHz).
- **Syllable nuclei** (de Jong & Wempe 2009): peaks of the intensity contour (minimum pitch
  50 Hz) inside speech, above ``reference - 25 dB`` (99th percentile), with a dip of at least
  2 dB on *both* sides (topographic prominence: the dip to the higher of the two bases between
  this peak and the nearest higher peaks), discarding unvoiced peaks. Speaking rate = nuclei / (first-to-last speech span); articulation rate = nuclei /
  speech time. Both in syllables per second.
- **Level**: clipping (runs of >= 3 consecutive samples at or above 0.999 of full scale, or at
  the file's own peak when it is flat-topped), peak dBFS, active speech level (mean power over
  speech regions, dBFS), noise floor (10th percentile of 50 ms frame power over non-speech,
  or over everything when there are no pauses, dBFS), SNR estimate (speech level - noise
  floor, dB), integrated loudness (ITU-R BS.1770 via pyloudnorm, LUFS).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
from scipy.signal import find_peaks

from dsp.errors import InputError, ParameterError
from models.speech_activity import frame_power_db, get_detector, true_runs

SEMITONE_REFERENCE = "clip median F0"


@dataclass(frozen=True)
class ProsodySettings:
    """Parameters of :func:`analyse_clip`; defaults follow Praat and de Jong & Wempe."""

    pitch_floor_hz: float = 75.0
    pitch_ceiling_hz: float = 600.0
    first_pass_ceiling_hz: float = 1000.0
    time_step_s: float = 0.01
    two_pass: bool = True
    floor_factor: float = 0.75
    ceiling_factor: float = 1.5
    silence_threshold_db: float = -25.0
    min_pause_s: float = 0.25
    min_dip_db: float = 2.0
    speech_detector: str = "auto"
    breath_min_s: float = 0.08
    breath_max_s: float = 0.9
    breath_rise_db: float = 8.0
    breath_below_speech_db: float = 10.0
    breath_min_flatness: float = 0.12
    clip_level: float = 0.999
    keep_contours: bool = True

    def __post_init__(self) -> None:
        if not 20.0 <= self.pitch_floor_hz < self.pitch_ceiling_hz <= 2000.0:
            raise ParameterError(
                f"pitch range {self.pitch_floor_hz}-{self.pitch_ceiling_hz} Hz is invalid; "
                "use a floor of at least 20 Hz below a ceiling of at most 2000 Hz"
            )
        if not self.pitch_floor_hz < self.first_pass_ceiling_hz <= 2000.0:
            raise ParameterError(
                f"first_pass_ceiling_hz {self.first_pass_ceiling_hz} must be above the floor and at most 2000 Hz"
            )
        if not 0.001 <= self.time_step_s <= 0.05:
            raise ParameterError(f"time_step_s {self.time_step_s} is outside 0.001-0.05 s")
        if self.min_pause_s <= 0:
            raise ParameterError(f"min_pause_s must be positive, got {self.min_pause_s}")


@dataclass
class PitchTrack:
    """F0 per frame: ``times_s`` (frame centres) and ``f0_hz`` (NaN where unvoiced)."""

    times_s: np.ndarray
    f0_hz: np.ndarray
    floor_hz: float
    ceiling_hz: float

    @property
    def voiced(self) -> np.ndarray:
        return np.isfinite(self.f0_hz)


@dataclass
class PitchStats:
    """Spread of voiced F0; semitones are relative to the clip's median F0."""

    median_hz: float = math.nan
    mean_hz: float = math.nan
    std_hz: float = math.nan
    p5_hz: float = math.nan
    p95_hz: float = math.nan
    std_st: float = math.nan
    span_st: float = math.nan
    voiced_frames: int = 0
    reference: str = SEMITONE_REFERENCE


@dataclass
class ClipAnalysis:
    """Everything measured on one clip. Times in seconds, levels in dB.

    ``*_times_s`` / contour arrays are kept when ``ProsodySettings.keep_contours`` is set (for
    the panel); :meth:`to_dict` can leave them out for compact JSON.
    """

    name: str
    sample_rate: int
    duration_s: float
    pitch: PitchStats
    voiced_fraction: float
    intensity_std_db: float
    intensity_span_db: float
    speech_regions: np.ndarray  # (n, 2)
    speech_time_s: float
    leading_silence_s: float
    trailing_silence_s: float
    pauses: np.ndarray  # (n, 2) internal pauses >= min_pause_s
    breaths: np.ndarray  # (n, 2)
    syllable_times_s: np.ndarray
    speaking_rate_syll_s: float
    articulation_rate_syll_s: float
    peak_dbfs: float
    speech_level_dbfs: float
    noise_floor_dbfs: float
    snr_db: float
    loudness_lufs: float
    clipped_samples: int
    clip_regions: np.ndarray  # (n, 2)
    path: str = ""
    pitch_track: PitchTrack | None = None
    intensity_times_s: np.ndarray | None = None
    intensity_db: np.ndarray | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    # -- derived --------------------------------------------------------------------------
    @property
    def pause_count(self) -> int:
        return int(len(self.pauses))

    @property
    def pause_lengths_s(self) -> np.ndarray:
        return self.pauses[:, 1] - self.pauses[:, 0] if len(self.pauses) else np.zeros(0)

    @property
    def speech_span_s(self) -> float:
        if len(self.speech_regions) == 0:
            return 0.0
        return float(self.speech_regions[-1, 1] - self.speech_regions[0, 0])

    @property
    def pauses_per_minute(self) -> float:
        span = self.speech_span_s
        return 60.0 * self.pause_count / span if span > 0 else math.nan

    @property
    def max_pause_s(self) -> float:
        return float(self.pause_lengths_s.max()) if self.pause_count else 0.0

    @property
    def mean_pause_s(self) -> float:
        return float(self.pause_lengths_s.mean()) if self.pause_count else 0.0

    @property
    def breath_count(self) -> int:
        return int(len(self.breaths))

    @property
    def syllable_count(self) -> int:
        return int(len(self.syllable_times_s))

    def measures(self) -> dict[str, float]:
        """The scalar measures by name (the keys used by checks, dataset views and reports)."""
        return {
            "duration_s": self.duration_s,
            "speech_time_s": self.speech_time_s,
            "f0_median_hz": self.pitch.median_hz,
            "f0_std_hz": self.pitch.std_hz,
            "f0_p5_hz": self.pitch.p5_hz,
            "f0_p95_hz": self.pitch.p95_hz,
            "f0_std_st": self.pitch.std_st,
            "f0_span_st": self.pitch.span_st,
            "voiced_fraction": self.voiced_fraction,
            "intensity_std_db": self.intensity_std_db,
            "intensity_span_db": self.intensity_span_db,
            "pause_count": float(self.pause_count),
            "pauses_per_min": self.pauses_per_minute,
            "mean_pause_s": self.mean_pause_s,
            "max_pause_s": self.max_pause_s,
            "leading_silence_s": self.leading_silence_s,
            "trailing_silence_s": self.trailing_silence_s,
            "breath_count": float(self.breath_count),
            "speaking_rate_syll_s": self.speaking_rate_syll_s,
            "articulation_rate_syll_s": self.articulation_rate_syll_s,
            "peak_dbfs": self.peak_dbfs,
            "speech_level_dbfs": self.speech_level_dbfs,
            "noise_floor_dbfs": self.noise_floor_dbfs,
            "snr_db": self.snr_db,
            "loudness_lufs": self.loudness_lufs,
            "clipped_samples": float(self.clipped_samples),
        }

    def to_dict(self, *, contours: bool = False) -> dict[str, Any]:
        """JSON-ready dict: measures, events (lists of [start_s, end_s]) and optionally contours."""
        out: dict[str, Any] = {"name": self.name, "path": self.path, "sample_rate": self.sample_rate}
        out["measures"] = {k: _json_float(v) for k, v in self.measures().items()}
        out["pitch"] = {k: (_json_float(v) if isinstance(v, float) else v)
                        for k, v in asdict(self.pitch).items()}
        out["events"] = {
            "speech_regions": _pairs(self.speech_regions),
            "pauses": _pairs(self.pauses),
            "breaths": _pairs(self.breaths),
            "clipping": _pairs(self.clip_regions),
            "syllable_times_s": [round(float(t), 3) for t in self.syllable_times_s],
        }
        out["settings"] = self.settings
        if contours and self.pitch_track is not None:
            out["contours"] = {
                "pitch_times_s": [round(float(t), 4) for t in self.pitch_track.times_s],
                "f0_hz": [_json_float(float(v)) for v in self.pitch_track.f0_hz],
                "intensity_times_s": [round(float(t), 4) for t in (self.intensity_times_s if self.intensity_times_s is not None else [])],
                "intensity_db": [_json_float(float(v)) for v in (self.intensity_db if self.intensity_db is not None else [])],
            }
        return out


def _json_float(v: float) -> float | None:
    v = float(v)
    return round(v, 4) if math.isfinite(v) else None


def _pairs(a: np.ndarray) -> list[list[float]]:
    return [[round(float(s), 4), round(float(e), 4)] for s, e in np.asarray(a).reshape(-1, 2)]


# ---------------------------------------------------------------------------------------------
# Pitch

def _sound(x: np.ndarray, sample_rate: int):
    import parselmouth

    return parselmouth.Sound(np.ascontiguousarray(x, dtype=np.float64), sampling_frequency=float(sample_rate))


def _praat_pitch(sound, floor: float, ceiling: float, step: float) -> tuple[np.ndarray, np.ndarray]:
    p = sound.to_pitch_ac(time_step=step, pitch_floor=floor, pitch_ceiling=ceiling)
    f = np.array(p.selected_array["frequency"], dtype=np.float64)
    f[f <= 0] = np.nan
    return np.asarray(p.xs(), dtype=np.float64), f


def track_pitch(audio: np.ndarray, sample_rate: int, *, settings: ProsodySettings | None = None,
                _sound_obj=None) -> PitchTrack:
    """F0 track with Praat's autocorrelation method, two-pass speaker-adapted range.

    Parameters
    ----------
    audio : ndarray, shape (samples,)
        Mono audio.
    sample_rate : int
        Hz.
    settings : ProsodySettings, optional

    Returns
    -------
    PitchTrack
        Frame times (s) and F0 (Hz, NaN when unvoiced), with the range used in the last pass.
    """
    s = settings or ProsodySettings()
    x = _mono(audio)
    min_len = 3.0 / s.pitch_floor_hz  # Praat needs a few periods of the floor
    if len(x) / sample_rate < min_len:
        raise InputError(f"clip is {len(x) / sample_rate:.3f} s long; pitch analysis needs at least {min_len:.2f} s")
    snd = _sound_obj if _sound_obj is not None else _sound(*_analysis_rate(x, sample_rate))
    floor, ceiling = s.pitch_floor_hz, s.pitch_ceiling_hz
    if s.two_pass:
        # the first pass only has to find the speaker's quartiles: 8 kHz is plenty and faster
        rate = int(round(snd.sampling_frequency))
        first = snd
        if rate > 8000:
            from math import gcd

            from scipy.signal import resample_poly

            g = gcd(rate, 8000)
            first = _sound(resample_poly(snd.values[0], 8000 // g, rate // g), 8000)
        # the first pass looks higher than Praat's 600 Hz default: excited speech that rises above
        # it (emo_happy_15 reaches ~800 Hz) must raise Q3, or the second pass's 1.5 x Q3 ceiling
        # cuts the excursion off and Praat reports it an octave low
        first_ceiling = max(ceiling, s.first_pass_ceiling_hz)
        t, f = _praat_pitch(first, floor, first_ceiling, s.time_step_s)
        v = f[np.isfinite(f)]
        if len(v) >= 10:
            q1, q3 = np.percentile(v, [25, 75])
            floor = max(s.floor_factor * q1, 30.0)
            ceiling = max(min(s.ceiling_factor * q3, 2000.0), floor * 2.0)
        t, f = _praat_pitch(snd, floor, ceiling, s.time_step_s)
    else:
        t, f = _praat_pitch(snd, floor, ceiling, s.time_step_s)
    return PitchTrack(times_s=t, f0_hz=f, floor_hz=float(floor), ceiling_hz=float(ceiling))


def pitch_stats(f0_hz: np.ndarray) -> PitchStats:
    """Spread of the voiced values of ``f0_hz`` (NaN = unvoiced), semitones re the median."""
    v = np.asarray(f0_hz, dtype=np.float64)
    v = v[np.isfinite(v) & (v > 0)]
    if len(v) < 3:
        return PitchStats(voiced_frames=int(len(v)))
    med = float(np.median(v))
    st = 12.0 * np.log2(v / med)
    p5, p95 = np.percentile(st, [5, 95])
    h5, h95 = np.percentile(v, [5, 95])
    return PitchStats(
        median_hz=med, mean_hz=float(v.mean()), std_hz=float(v.std()), p5_hz=float(h5),
        p95_hz=float(h95), std_st=float(st.std()), span_st=float(p95 - p5), voiced_frames=int(len(v)),
    )


# ---------------------------------------------------------------------------------------------
# Helpers

ANALYSIS_RATE = 16000


def _analysis_rate(x: np.ndarray, sample_rate: int) -> tuple[np.ndarray, int]:
    """Pitch and intensity run at 16 kHz (speech F0 and its harmonics live well below 8 kHz):
    faster on 44.1/48 kHz material and the same numbers whatever the file's rate."""
    if sample_rate <= ANALYSIS_RATE:
        return x, sample_rate
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(int(sample_rate), ANALYSIS_RATE)
    return resample_poly(x, ANALYSIS_RATE // g, int(sample_rate) // g), ANALYSIS_RATE


def _mono(audio: np.ndarray) -> np.ndarray:
    x = np.asarray(audio)
    if x.ndim == 2:
        x = x.mean(axis=0)
    elif x.ndim != 1:
        raise ParameterError(f"expected audio of shape (samples,) or (channels, samples), got {x.shape}")
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
    return x


def _in_regions(times: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """Boolean mask: which ``times`` fall inside any ``[start, end)`` of ``regions``."""
    if len(regions) == 0:
        return np.zeros(len(times), bool)
    idx = np.searchsorted(regions[:, 0], times, side="right") - 1
    ok = idx >= 0
    out = np.zeros(len(times), bool)
    out[ok] = times[ok] < regions[idx[ok], 1]
    return out


def _gaps(regions: np.ndarray, duration: float) -> tuple[np.ndarray, float, float]:
    """Internal gaps between regions, plus leading and trailing silence."""
    if len(regions) == 0:
        return np.zeros((0, 2)), duration, 0.0
    gaps = np.stack([regions[:-1, 1], regions[1:, 0]], axis=1) if len(regions) > 1 else np.zeros((0, 2))
    return gaps, float(regions[0, 0]), float(duration - regions[-1, 1])


# ---------------------------------------------------------------------------------------------
# Level

def find_clipping(audio: np.ndarray, sample_rate: int, *, clip_level: float = 0.999,
                  min_run: int = 3) -> tuple[int, np.ndarray]:
    """Clipped samples and their regions (s): runs of >= ``min_run`` samples at full scale.

    A file whose peak is flat-topped below full scale (clipped, then normalised down) is caught
    too: runs at its own peak value count when the peak is at least -12 dBFS.
    """
    x = np.abs(_mono(audio))
    if len(x) == 0:
        return 0, np.zeros((0, 2))
    peak = float(x.max())
    level = clip_level
    if peak < clip_level and peak >= 0.25:
        level = peak * (1.0 - 1e-4)
    runs = true_runs(x >= level)
    if len(runs):
        runs = runs[(runs[:, 1] - runs[:, 0]) >= min_run]
    n = int((runs[:, 1] - runs[:, 0]).sum()) if len(runs) else 0
    # merge regions closer than 50 ms for reporting
    regions: list[list[float]] = []
    for a, b in runs:
        t0, t1 = a / sample_rate, b / sample_rate
        if regions and t0 - regions[-1][1] < 0.05:
            regions[-1][1] = t1
        else:
            regions.append([t0, t1])
    return n, np.array(regions, dtype=np.float64).reshape(-1, 2)


def integrated_loudness(audio: np.ndarray, sample_rate: int) -> float:
    """ITU-R BS.1770-4 integrated loudness (LUFS) via pyloudnorm; NaN if unavailable or too short."""
    x = _mono(audio)
    if len(x) < int(0.5 * sample_rate):
        return math.nan
    try:
        import pyloudnorm
    except ImportError:
        return math.nan
    try:
        value = float(pyloudnorm.Meter(sample_rate).integrated_loudness(x))
    except ValueError:
        return math.nan
    return value if math.isfinite(value) else math.nan


# ---------------------------------------------------------------------------------------------
# Events

def find_breaths(audio: np.ndarray, sample_rate: int, silences: np.ndarray, *, speech_level_db: float,
                 noise_floor_db: float, pitch: PitchTrack | None,
                 settings: ProsodySettings | None = None) -> np.ndarray:
    """Breath events inside ``silences`` (pauses and leading silence), shape (n, 2) seconds.

    See the module docstring for the criteria; thresholds come from ``settings``.
    """
    s = settings or ProsodySettings()
    x = _mono(audio)
    times, db = frame_power_db(x, sample_rate, window_ms=20.0, hop_ms=5.0)
    hop_s = 0.005
    duration = len(x) / float(sample_rate)
    events = []
    upper = speech_level_db - s.breath_below_speech_db
    for a, b in np.asarray(silences).reshape(-1, 2):
        sel = (times >= a) & (times < b)
        if sel.sum() < 4:
            continue
        idx = np.flatnonzero(sel)
        local_floor = min(float(np.percentile(db[idx], 10)), noise_floor_db + 3.0)
        loud = (db[idx] > local_floor + s.breath_rise_db) & (db[idx] < upper)
        for r0, r1 in true_runs(loud):
            dur = (r1 - r0) * hop_s
            if not s.breath_min_s <= dur <= s.breath_max_s:
                continue
            if r0 == 0 and a > 0.0:
                continue  # the decaying tail of the preceding speech, not a breath
            if r1 == len(idx) and b < duration and dur < 0.15:
                continue  # a short rise into the next onset: the onset itself
            t0 = float(times[idx[r0]] - hop_s / 2)
            t1 = float(times[idx[r1 - 1]] + hop_s / 2)
            if pitch is not None:
                sel_p = (pitch.times_s >= t0) & (pitch.times_s <= t1)
                if sel_p.any() and pitch.voiced[sel_p].mean() > 0.25:
                    continue
            seg = x[int(t0 * sample_rate):int(t1 * sample_rate)]
            if len(seg) < 64 or _flatness(seg, sample_rate) < s.breath_min_flatness:
                continue
            events.append((t0, t1))
    return np.array(events, dtype=np.float64).reshape(-1, 2)


def _flatness(seg: np.ndarray, sample_rate: int) -> float:
    """Spectral flatness (geometric / arithmetic mean of power) between 300 Hz and 6 kHz."""
    n = 1 << int(np.ceil(np.log2(max(len(seg), 256))))
    n = min(n, 4096)
    hop = n // 2
    frames = [seg[i:i + n] for i in range(0, max(1, len(seg) - n + 1), hop)] or [seg]
    w = np.hanning(n)
    spec = np.zeros(n // 2 + 1)
    for f in frames:
        f = np.pad(f, (0, n - len(f)))
        spec += np.abs(np.fft.rfft(f * w)) ** 2
    freqs = np.fft.rfftfreq(n, 1.0 / sample_rate)
    band = (freqs >= 300) & (freqs <= min(6000.0, 0.45 * sample_rate))
    p = spec[band] + 1e-20
    return float(np.exp(np.mean(np.log(p))) / np.mean(p))


def find_syllable_nuclei(intensity_times: np.ndarray, intensity_db: np.ndarray, speech: np.ndarray,
                         pitch: PitchTrack, *, silence_threshold_db: float = -25.0,
                         min_dip_db: float = 2.0) -> np.ndarray:
    """Syllable nuclei times (s), de Jong & Wempe 2009 (see the module docstring)."""
    t = np.asarray(intensity_times)
    y = np.asarray(intensity_db)
    if len(y) < 3:
        return np.zeros(0)
    finite = np.isfinite(y)
    if not finite.any():
        return np.zeros(0)
    ref = float(np.percentile(y[finite], 99))
    threshold = max(ref + silence_threshold_db, float(np.min(y[finite])))
    # the contour is only compared inside speech; outside it a floor keeps the dips measurable
    yy = np.where(finite, y, float(np.min(y[finite])))
    # prominence = dip to the higher of the two bases, so both dips are at least min_dip_db
    peaks, _ = find_peaks(yy, prominence=min_dip_db)
    peaks = peaks[yy[peaks] > threshold]
    peaks = peaks[_in_regions(t[peaks], speech)]
    keep_arr = peaks
    if len(keep_arr) == 0:
        return np.zeros(0)
    # discard unvoiced peaks (pitch undefined at the nearest pitch frame)
    pt = pitch.times_s
    j = np.clip(np.searchsorted(pt, t[keep_arr]), 0, len(pt) - 1)
    j_prev = np.clip(j - 1, 0, len(pt) - 1)
    nearest = np.where(np.abs(pt[j_prev] - t[keep_arr]) < np.abs(pt[j] - t[keep_arr]), j_prev, j)
    voiced = pitch.voiced[nearest]
    return t[keep_arr][voiced]


# ---------------------------------------------------------------------------------------------
# The clip

def analyse_clip(audio: np.ndarray, sample_rate: int, *, settings: ProsodySettings | None = None,
                 name: str = "", path: str = "") -> ClipAnalysis:
    """Measure one clip: pitch, intensity, pauses, breaths, rate and level.

    Parameters
    ----------
    audio : ndarray, shape (samples,) or (channels, samples)
        Float audio, full scale 1.0; channels are averaged.
    sample_rate : int
        Hz.
    settings : ProsodySettings, optional
    name, path : str
        Labels carried into the result.

    Returns
    -------
    ClipAnalysis

    Raises
    ------
    InputError
        If the clip is too short to analyse (under 0.1 s).
    """
    s = settings or ProsodySettings()
    x = _mono(audio)
    duration = len(x) / float(sample_rate)
    if duration < 0.1:
        raise InputError(f"{name or 'clip'}: {duration:.3f} s of audio; prosody analysis needs at least 0.1 s")
    snd = _sound(*_analysis_rate(x, sample_rate))
    pitch = track_pitch(x, sample_rate, settings=s, _sound_obj=snd)
    pstats = pitch_stats(pitch.f0_hz)

    detector = get_detector(s.speech_detector)
    speech = np.asarray(detector(x.astype(np.float32), sample_rate), dtype=np.float64).reshape(-1, 2)
    gaps, lead, trail = _gaps(speech, duration)
    lengths = gaps[:, 1] - gaps[:, 0] if len(gaps) else np.zeros(0)
    pauses = gaps[lengths >= s.min_pause_s] if len(gaps) else gaps
    speech_time = float((speech[:, 1] - speech[:, 0]).sum()) if len(speech) else 0.0

    # voiced fraction over speech time
    in_speech = _in_regions(pitch.times_s, speech)
    voiced_fraction = float(pitch.voiced[in_speech].mean()) if in_speech.any() else 0.0

    # intensity (relative dB) for spread; syllable contour at 50 Hz minimum pitch
    inten = snd.to_intensity(minimum_pitch=100.0, time_step=s.time_step_s)
    it = np.asarray(inten.xs(), dtype=np.float64)
    iv = np.asarray(inten.values[0], dtype=np.float64)
    iv[~np.isfinite(iv)] = np.nan
    iv[iv < -200] = np.nan
    j = np.clip(np.searchsorted(pitch.times_s, it), 0, len(pitch.times_s) - 1)
    voiced_i = pitch.voiced[j] & np.isfinite(iv) & (np.abs(pitch.times_s[j] - it) <= s.time_step_s)
    if voiced_i.sum() >= 3:
        vi = iv[voiced_i]
        i_std = float(vi.std())
        q5, q95 = np.percentile(vi, [5, 95])
        i_span = float(q95 - q5)
    else:
        i_std = i_span = math.nan
    syl_int = snd.to_intensity(minimum_pitch=50.0, time_step=s.time_step_s)
    st_ = np.asarray(syl_int.xs(), dtype=np.float64)
    sv = np.asarray(syl_int.values[0], dtype=np.float64)
    nuclei = find_syllable_nuclei(st_, sv, speech, pitch, silence_threshold_db=s.silence_threshold_db,
                                  min_dip_db=s.min_dip_db) if len(speech) else np.zeros(0)
    span = float(speech[-1, 1] - speech[0, 0]) if len(speech) else 0.0
    speaking_rate = len(nuclei) / span if span > 0 else math.nan
    articulation_rate = len(nuclei) / speech_time if speech_time > 0 else math.nan

    # level
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    peak_dbfs = 20 * math.log10(peak) if peak > 0 else -math.inf
    ft, fdb = frame_power_db(x, sample_rate, window_ms=50.0, hop_ms=25.0)
    fin_speech = _in_regions(ft, speech)
    if fin_speech.any():
        speech_level = 10 * math.log10(float(np.mean(10 ** (fdb[fin_speech] / 10))))
    else:
        speech_level = 10 * math.log10(float(np.mean(x * x)) + 1e-12)
    nonspeech = ~fin_speech
    # frames touching speech edges are excluded from the floor estimate
    pool = fdb[nonspeech] if nonspeech.sum() >= 4 else fdb
    noise_floor = float(np.percentile(pool, 10))
    snr = speech_level - noise_floor
    clipped, clip_regions = find_clipping(x, sample_rate, clip_level=s.clip_level)
    loud = integrated_loudness(x, sample_rate)

    silences = np.concatenate([np.array([[0.0, lead]]) if lead > 0 else np.zeros((0, 2)), pauses,
                               np.array([[duration - trail, duration]]) if trail > 0 else np.zeros((0, 2))])
    breaths = find_breaths(x, sample_rate, silences, speech_level_db=speech_level,
                           noise_floor_db=noise_floor, pitch=pitch, settings=s)

    return ClipAnalysis(
        name=name or (Path(path).name if path else "clip"), path=str(path), sample_rate=int(sample_rate),
        duration_s=duration, pitch=pstats, voiced_fraction=voiced_fraction,
        intensity_std_db=i_std, intensity_span_db=i_span, speech_regions=speech, speech_time_s=speech_time,
        leading_silence_s=lead, trailing_silence_s=trail, pauses=pauses, breaths=breaths,
        syllable_times_s=nuclei, speaking_rate_syll_s=speaking_rate,
        articulation_rate_syll_s=articulation_rate, peak_dbfs=peak_dbfs, speech_level_dbfs=speech_level,
        noise_floor_dbfs=noise_floor, snr_db=snr, loudness_lufs=loud, clipped_samples=clipped,
        clip_regions=clip_regions,
        pitch_track=pitch if s.keep_contours else None,
        intensity_times_s=it if s.keep_contours else None,
        intensity_db=iv if s.keep_contours else None,
        settings={f.name: getattr(s, f.name) for f in fields(s)} | {
            "pitch_floor_used_hz": round(pitch.floor_hz, 2), "pitch_ceiling_used_hz": round(pitch.ceiling_hz, 2),
            "semitone_reference": SEMITONE_REFERENCE,
        },
    )


def analyse_file(path: str | Path, *, settings: ProsodySettings | None = None) -> ClipAnalysis:
    """Read ``path`` (any format :mod:`dsp.io` reads) and :func:`analyse_clip` it.

    Raises
    ------
    InputError
        If the file cannot be read or is too short.
    """
    from dsp.io import read_audio

    audio, rate = read_audio(path)
    p = Path(path)
    return analyse_clip(audio, rate, settings=settings, name=p.name, path=str(p))
