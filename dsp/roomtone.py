"""Room tone: the room's natural background, learned as per-bin statistics.

Algorithm
---------
The audio is cut into frames on the engine's grid (``n_fft`` and ``hop_length`` from
``settings.stft.resolve(sample_rate)``), each frame windowed with the engine's analysis window
(:func:`dsp.stft.stft_windows`) and transformed with ``rfft``. Per bin we accumulate the mean
and the spread (standard deviation) of ``|X|**2`` over the chosen frames, averaged over
channels. The source is read in blocks, so a one-hour file is never held in memory.

Which frames:

* **explicit regions** (seconds): every frame that lies inside a region (``method="learn"``);
* **automatic** (``method="auto"``): a first pass measures each frame's broadband energy (in the
  time domain, Parseval), digital silence is ignored, the quietest ``auto_fraction`` of frames
  fixes a reference level (their median) and every frame within ``auto_margin_db`` of it is
  used, which removes most of the downward bias of "quietest frames only" for steady noise;
* **voice activity** (``method="vad"``, the models layer): the same automatic selection, but
  frames overlapping the given ``speech_regions`` are never used.

A region whose frame levels swing by more than ``speech_modulation_db`` (10th to 90th
percentile) is probably speech or events, not room tone: the profile keeps a warning.

Units
-----
Power is in the units of the STFT engine's spectra: ``|rfft(window * frame)|**2`` with the
engine's analysis window (:func:`dsp.stft.stft_windows`) at this profile's ``n_fft`` and hop,
so stages compare ``abs(spectra)**2`` with ``mean_power`` directly. ``level_dbfs`` is the
broadband RMS level, ``20*log10(rms)`` with full scale = 1.0. Regions are in seconds.
For noise of power spectral density ``S(f)``, ``E|X_k|**2 = S(f_k) * sample_rate * sum(w**2)``:
:meth:`NoiseProfile.adapted` uses this to move a profile to another FFT size or sample rate.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import scipy.fft

from dsp.errors import GIVE_NOISE_REGION, LEARN_PROFILE_AGAIN, InputError, ParameterError
from dsp.jsonfields import as_fields
from dsp.stft import StftSettings, frame_signal, stft_windows

PROFILE_FORMAT = "roomtone-noise-profile"
PROFILE_VERSION = 1

#: Frames processed per FFT batch while learning (bounded memory).
_BATCH_FRAMES = 256
#: What a loaded profile may hold: the engine's frame sizes and overlaps, peaks up to 100x full scale.
_MIN_PROFILE_NFFT, _MAX_PROFILE_NFFT = 16, 65536
_OVERLAPS = (2, 4, 8)
_MAX_PEAK = 100.0
#: A region ending this little past the file's end (a rounded end time) is cut without a note.
_REGION_SLACK_S = 1e-3
#: Frames below this broadband level (dBFS) are digital silence and never room tone.
_SILENCE_DBFS = -100.0


def _format_time(seconds: float) -> str:
    m, s = divmod(max(0.0, seconds), 60.0)
    return f"{int(m)}:{s:05.2f}"


@dataclass
class NoiseProfile:
    """Per-bin room-tone statistics (whole-file knowledge: data, not processor state)."""

    sample_rate: int
    n_fft: int
    hop_length: int
    mean_power: np.ndarray  # (bins,) float64, mean |X|^2 per bin
    power_std: np.ndarray  # (bins,) float64, standard deviation of |X|^2 per bin
    level_dbfs: float  # broadband RMS level of the learned stretch, dBFS
    regions: list[tuple[float, float]] = field(default_factory=list)  # seconds
    duration_s: float = 0.0
    method: str = "learn"  # "learn" (explicit regions), "auto" (quietest frames), "vad"
    source: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def bins(self) -> int:
        return self.n_fft // 2 + 1

    def frequencies(self) -> np.ndarray:
        return np.arange(self.bins) * (self.sample_rate / self.n_fft)

    def shape_db(self) -> np.ndarray:
        """Spectral shape: mean power in dB relative to its own average (0 dB mean)."""
        db = 10.0 * np.log10(np.maximum(self.mean_power, 1e-30))
        return db - db.mean()

    # -- geometry -----------------------------------------------------------------------------
    def window_energy(self) -> float:
        """``sum(w**2)`` of the analysis window this profile's power was measured with."""
        analysis, _ = stft_windows(self.n_fft, self.hop_length)
        return float(np.sum(analysis.astype(np.float64) ** 2))

    def adapted(self, sample_rate: int, n_fft: int, hop_length: int) -> NoiseProfile:
        """This profile expressed for another STFT geometry or sample rate.

        Parameters
        ----------
        sample_rate : int
            Rate (Hz) of the audio the profile will be used on.
        n_fft, hop_length : int
            Frame size and hop (samples) of the engine that will use it.

        Returns
        -------
        NoiseProfile
            ``self`` when nothing differs; otherwise a new profile whose per-bin statistics are
            interpolated onto the new bin frequencies and rescaled for the new window energy and
            rate (``E|X|^2 = S(f) * sample_rate * sum(w**2)``).

        Raises
        ------
        ParameterError
            When ``sample_rate`` is higher than the profile's: the new band holds frequencies
            the profile never measured.
        """
        sample_rate, n_fft, hop_length = int(sample_rate), int(n_fft), int(hop_length)
        if (sample_rate, n_fft, hop_length) == (self.sample_rate, self.n_fft, self.hop_length):
            return self
        if n_fft < 16 or n_fft & (n_fft - 1) or hop_length < 1 or n_fft % hop_length:
            raise ParameterError(f"cannot adapt a profile to n_fft={n_fft}, hop={hop_length}")
        if sample_rate > self.sample_rate:
            raise ParameterError(
                f"this room-tone profile was learned at {self.sample_rate} Hz and only knows frequencies up to "
                f"{self.sample_rate / 2:.0f} Hz; the audio is at {sample_rate} Hz (up to {sample_rate / 2:.0f} Hz). "
                f"Learn the profile again from this recording, or resample the audio to {self.sample_rate} Hz",
                remedy=LEARN_PROFILE_AGAIN,
            )
        new_analysis, _ = stft_windows(n_fft, hop_length)
        w_new = float(np.sum(new_analysis.astype(np.float64) ** 2))
        scale = (sample_rate * w_new) / (self.sample_rate * self.window_energy())
        f_old = self.frequencies()
        f_new = np.arange(n_fft // 2 + 1) * (sample_rate / n_fft)
        old_df = self.sample_rate / self.n_fft
        new_df = sample_rate / n_fft
        mean, std = self.mean_power, self.power_std
        if new_df > old_df * 1.5:
            # Coarser bins: average the old bins that fall inside each new bin (keeps the energy
            # of narrow peaks instead of sampling between them).
            lo = np.searchsorted(f_old, f_new - new_df / 2, side="left")
            hi = np.searchsorted(f_old, f_new + new_df / 2, side="left")
            hi = np.clip(np.maximum(hi, lo + 1), 1, len(f_old))
            lo = np.minimum(lo, hi - 1)
            csum = np.concatenate([[0.0], np.cumsum(mean)])
            csum2 = np.concatenate([[0.0], np.cumsum(std**2)])
            new_mean = (csum[hi] - csum[lo]) / (hi - lo)
            new_std = np.sqrt((csum2[hi] - csum2[lo]) / (hi - lo))
        else:
            new_mean = np.interp(f_new, f_old, mean)
            new_std = np.interp(f_new, f_old, std)
        new_mean = np.maximum(new_mean * scale, 0.0)
        new_std = np.maximum(new_std * scale, 0.0)
        level = self.level_dbfs
        if sample_rate != self.sample_rate:
            level = _level_from_power(new_mean, n_fft, w_new)
        notes = list(self.warnings)
        return replace(
            self, sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length,
            mean_power=new_mean, power_std=new_std, level_dbfs=level, warnings=notes,
        )

    def band_levels_db(self, edges_hz: np.ndarray) -> np.ndarray:
        """Mean power (dB) in each band ``[edges[i], edges[i+1])`` (for reports and tests)."""
        f = self.frequencies()
        out = np.full(len(edges_hz) - 1, np.nan)
        for i in range(len(edges_hz) - 1):
            sel = (f >= edges_hz[i]) & (f < edges_hz[i + 1])
            if np.any(sel):
                out[i] = 10.0 * np.log10(max(float(np.mean(self.mean_power[sel])), 1e-30))
        return out

    def summary(self) -> str:
        """A few human-readable lines: level, duration, regions, warnings."""
        lines = [
            f"room tone: {self.level_dbfs:.1f} dBFS RMS, learned from {self.duration_s:.2f} s "
            f"({self.method}), {self.sample_rate} Hz, n_fft {self.n_fft}, hop {self.hop_length}",
        ]
        if self.regions:
            shown = ", ".join(f"{_format_time(a)}-{_format_time(b)}" for a, b in self.regions[:8])
            more = f" (+{len(self.regions) - 8} more)" if len(self.regions) > 8 else ""
            lines.append(f"regions: {shown}{more}")
        for w in self.warnings:
            lines.append(f"warning: {w}")
        return "\n".join(lines)

    # -- JSON -------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "format": PROFILE_FORMAT,
            "version": PROFILE_VERSION,
            "sample_rate": self.sample_rate,
            "n_fft": self.n_fft,
            "hop_length": self.hop_length,
            "level_dbfs": self.level_dbfs,
            "regions": [list(r) for r in self.regions],
            "duration_s": self.duration_s,
            "method": self.method,
            "source": self.source,
            "warnings": list(self.warnings),
            "mean_power": [float(v) for v in self.mean_power],
            "power_std": [float(v) for v in self.power_std],
        }

    @classmethod
    def from_dict(cls, d: Any, *, where: str = "profile") -> NoiseProfile:
        """Inverse of :meth:`to_dict`, checking every field's type and range.

        Raises
        ------
        InputError
            For anything but a Roomtone profile this version understands, naming the first
            damaged field (``hop_length`` 0, ``version`` "2.0", power above what audio holds, ...).
        """
        from dsp.io import MAX_RATE, MIN_RATE

        fix = "learn the profile again from the recording and save it"
        f = as_fields(d, where, fix, "Roomtone room-tone profile")
        if f.raw("format") != PROFILE_FORMAT:
            raise InputError(f"{where}: not a Roomtone room-tone profile (format {f.raw('format')!r})")
        version = f.integer("version", lo=1)
        if version > PROFILE_VERSION:
            raise InputError(
                f"{where}: profile version {version} is newer than this Roomtone understands "
                f"({PROFILE_VERSION}); update Roomtone"
            )
        sample_rate = f.integer("sample_rate", lo=MIN_RATE, hi=MAX_RATE)
        n_fft = f.integer("n_fft", lo=_MIN_PROFILE_NFFT, hi=_MAX_PROFILE_NFFT)
        if n_fft & (n_fft - 1):
            raise f.error("n_fft", "a power of two", n_fft)
        hop = f.integer("hop_length", lo=1, hi=n_fft)
        if n_fft % hop or n_fft // hop not in _OVERLAPS:
            raise f.error("hop_length", f"n_fft/2, n_fft/4 or n_fft/8 ({n_fft // 2}, {n_fft // 4} or {n_fft // 8})", hop)
        # |X_k| of a frame is at most sum(w) * peak <= n_fft * peak; allow peaks 100x full scale
        # (float files), far below float32's range, so no stage overflows when it casts.
        most = float(n_fft) ** 2 * _MAX_PEAK**2
        mean = np.asarray(f.numbers("mean_power", lo=0.0, hi=most), np.float64)
        std = np.asarray(f.numbers("power_std", lo=0.0, hi=most), np.float64)
        bins = n_fft // 2 + 1
        for key, arr in (("mean_power", mean), ("power_std", std)):
            if arr.shape != (bins,):
                raise f.error(key, f"{bins} values for n_fft {n_fft}", f"{arr.size} values")
        return cls(
            sample_rate=sample_rate, n_fft=n_fft, hop_length=hop, mean_power=mean, power_std=std,
            level_dbfs=f.number("level_dbfs", lo=-400.0, hi=100.0), regions=f.pairs("regions", lo=0.0, default=[]),
            duration_s=f.number("duration_s", lo=0.0, default=0.0), method=f.text("method", default="learn"),
            source=f.text("source", default=""), warnings=f.texts("warnings", default=[]),
        )

    def save(self, path: str | os.PathLike) -> None:
        """Write the profile as JSON at ``path`` atomically (:func:`dsp.io.write_text_atomic`).

        Raises
        ------
        OutputError
            If the folder is missing or not writable, or the disk is full (nothing is left).
        """
        from dsp.io import write_text_atomic

        write_text_atomic(path, json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path: str | os.PathLike) -> NoiseProfile:
        path = Path(path)
        if not path.exists():
            raise InputError(f"{path}: no such profile file")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"{path}: not a readable profile ({exc})") from None
        if not isinstance(data, dict):
            raise InputError(f"{path}: not a Roomtone room-tone profile")
        return cls.from_dict(data, where=str(path))


def _level_from_power(mean_power: np.ndarray, n_fft: int, window_energy: float) -> float:
    """Broadband RMS level (dBFS) of noise with this one-sided mean power (Parseval)."""
    p = np.asarray(mean_power, np.float64)
    full = p[0] + p[-1] + 2.0 * np.sum(p[1:-1]) if n_fft % 2 == 0 else p[0] + 2.0 * np.sum(p[1:])
    ms = full / (n_fft * window_energy)
    return float(10.0 * np.log10(max(ms, 1e-30)))


# -- learning -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RoomToneSettings:
    """How a room-tone profile is learned.

    Attributes
    ----------
    stft : StftSettings
        Frame size and hop; must match the chain that will use the profile (else it is adapted).
    min_samples : int
        Refuse to learn from fewer samples (Audacity's limit is 2048).
    auto_fraction : float
        Automatic mode: fraction of the (non-silent) frames, the quietest, that fixes the
        reference level.
    auto_margin_db : float
        Automatic mode: frames within this many dB above the reference (the median of the
        quietest fraction) are used too.
    speech_modulation_db : float
        Warn when a region's frame levels spread (10th to 90th percentile) more than this.
    short_warning_s : float
        Warn when the profile was learned from less than this many seconds.
    louder_than_floor_db : float
        Regions given: warn when they are this many dB louder than the file's quiet parts
        (:func:`quiet_floor_dbfs`), which steady speech can be without swinging in level.
    block_frames : int
        Frames analysed per batch (memory bound while streaming).
    """

    stft: StftSettings = StftSettings()
    min_samples: int = 2048
    auto_fraction: float = 0.1
    auto_margin_db: float = 2.0
    speech_modulation_db: float = 10.0
    short_warning_s: float = 0.5
    louder_than_floor_db: float = 10.0
    block_frames: int = _BATCH_FRAMES

    def __post_init__(self) -> None:
        if not 0.0 < self.auto_fraction <= 1.0:
            raise ParameterError(f"auto_fraction must be in (0, 1], got {self.auto_fraction}")
        if self.min_samples < 1:
            raise ParameterError(f"min_samples must be >= 1, got {self.min_samples}")
        if self.auto_margin_db < 0:
            raise ParameterError(f"auto_margin_db must be >= 0 dB, got {self.auto_margin_db}")
        if self.block_frames < 1:
            raise ParameterError(f"block_frames must be >= 1, got {self.block_frames}")


class _Accumulator:
    """Running per-bin sums of channel-mean power over frames (float64)."""

    def __init__(self, bins: int) -> None:
        self.sum = np.zeros(bins, np.float64)
        self.sumsq = np.zeros(bins, np.float64)
        self.count = 0

    def add(self, power: np.ndarray) -> None:  # (frames, bins)
        if power.shape[0]:
            self.sum += power.sum(axis=0)
            self.sumsq += (power * power).sum(axis=0)
            self.count += power.shape[0]


def _as_source(audio: Any, sample_rate: int):
    from dsp.render import as_source

    return as_source(audio, sample_rate)


def _analysis_grid(audio: Any, sample_rate: int, settings: RoomToneSettings):
    """``(source, rate, n_fft, hop, analysis window, window energy)`` for learning at ``settings``' grid."""
    src = _as_source(audio, sample_rate)
    n_fft, hop = settings.stft.resolve(int(sample_rate))
    analysis, _ = stft_windows(n_fft, hop)
    return src, int(sample_rate), n_fft, hop, analysis, float(np.sum(analysis.astype(np.float64) ** 2))


def _iter_frames(source, start: int, stop: int, n_fft: int, hop: int, window: np.ndarray, batch: int):
    """Yield ``(first_frame_start_sample, windowed frames (channels, k, n_fft))`` over ``[start, stop)``."""
    pos = start
    span = n_fft + hop * (batch - 1)
    while pos + n_fft <= stop:
        n = min(span, stop - pos)
        x = np.asarray(source.read(pos, n), np.float32)
        frames = frame_signal(x, n_fft, hop, window)
        k = frames.shape[1]
        if k == 0:
            break
        yield pos, frames
        pos += k * hop


def _power(frames: np.ndarray) -> np.ndarray:
    """Channel-mean power spectra ``(k, bins)`` float64 of windowed frames ``(channels, k, n_fft)``."""
    spec = scipy.fft.rfft(frames, axis=-1, workers=2)
    p = spec.real.astype(np.float64) ** 2 + spec.imag.astype(np.float64) ** 2
    return p.mean(axis=0)


def _need_message(got: int, need: int, sample_rate: int) -> str:
    return (
        f"{got} samples ({got / sample_rate:.3f} s); a room-tone profile needs at least {need} samples "
        f"({need / sample_rate:.3f} s) of noise without speech, 1-2 s is better"
    )


def clip_regions(
    regions: list[tuple[float, float]], duration_s: float
) -> tuple[list[tuple[float, float]], list[str]]:
    """The one rule for room-tone regions (``roomtone profile --learn``, ``clean --learn``, the GUI).

    A region that runs past the end of the file is cut at the end, with a note; one that starts
    at or after the end, starts before 0, is empty, reversed or not finite is refused.

    Parameters
    ----------
    regions : list of (start_s, end_s)
        Seconds.
    duration_s : float
        Length of the file, seconds.

    Returns
    -------
    inside : list of (start_s, end_s)
        The regions, each ending at the file's end at the latest.
    notes : list of str
        One line per region that was cut.

    Raises
    ------
    ParameterError
        For a region that cannot be used, quoting it and the file's length.
    """
    inside, notes = [], []
    lasts = f"the file, which lasts {_format_time(duration_s)} ({duration_s:.3f} s)"
    for a, b in regions:
        a, b = float(a), float(b)
        shown = f"{_format_time(a)}-{_format_time(b)} ({a:.3f}-{b:.3f} s)"
        if not (math.isfinite(a) and math.isfinite(b)) or b <= a:
            raise ParameterError(f"region {a}-{b} s is empty or reversed; give start-stop with start < stop")
        if a < 0:
            raise ParameterError(f"region {shown} starts before the beginning of {lasts}")
        if a >= duration_s:
            raise ParameterError(f"region {shown} starts after the end of {lasts}; give a region inside it")
        if b > duration_s:
            if b > duration_s + _REGION_SLACK_S:  # not a rounding of the end: say so
                notes.append(f"region {shown} runs past the end of {lasts}; used up to the end")
            b = duration_s
        inside.append((a, b))
    return inside, notes


def quiet_floor_dbfs(source: Any, n_fft: int, hop: int, *, fraction: float = 0.1,
                     max_windows: int = 2000) -> float | None:
    """Broadband level (dBFS) of the quiet parts of a file: the ``fraction`` quantile of its frames.

    Frames are measured like :func:`estimate_room_tone`'s automatic pass (window-weighted mean
    square, channels averaged, digital silence ignored). Files longer than ``max_windows``
    windows of 8 frames are screened at ``max_windows`` evenly spaced windows, so the cost is
    bounded (about 2 s of reading for an hour).

    Returns
    -------
    float or None
        ``None`` when the file has no non-silent frame.
    """
    analysis, _ = stft_windows(n_fft, hop)
    w_energy = float(np.sum(analysis.astype(np.float64) ** 2))
    total = int(source.frames)
    span = n_fft + 7 * hop
    if total < n_fft:
        return None
    if total // span <= max_windows:
        starts = np.arange(0, total - n_fft + 1, span)
    else:
        starts = np.unique(np.linspace(0, total - span, max_windows).astype(np.int64))
    levels = []
    for start in starts:
        x = np.asarray(source.read(int(start), int(min(span, total - int(start)))), np.float32)
        frames = frame_signal(x, n_fft, hop, analysis)
        if frames.shape[1]:
            levels.append(np.mean(np.sum(frames.astype(np.float64) ** 2, axis=-1), axis=0) / w_energy)
    ms = np.concatenate(levels) if levels else np.zeros(0)
    ms = ms[ms > 10.0 ** (_SILENCE_DBFS / 10.0)]
    if ms.size == 0:
        return None
    return float(10.0 * np.log10(np.quantile(ms, fraction)))


def estimate_room_tone(
    audio: np.ndarray | Any,
    sample_rate: int,
    *,
    regions: list[tuple[float, float]] | None = None,
    settings: RoomToneSettings = RoomToneSettings(),
    speech_regions: list[tuple[float, float]] | None = None,
    method: str | None = None,
    source_name: str = "",
) -> NoiseProfile:
    """Learn the room tone of ``audio``.

    Parameters
    ----------
    audio : ndarray ``(channels, samples)`` or ``(samples,)``, or BlockSource
        The recording. A :class:`dsp.render.BlockSource` is read in blocks (bounded memory).
    sample_rate : int
        Its rate, Hz.
    regions : list of (start_s, stop_s), optional
        Noise-only stretches in seconds. ``None`` finds the room tone automatically.
    settings : RoomToneSettings
        FFT geometry and selection parameters.
    speech_regions : list of (start_s, stop_s), optional
        Automatic mode only: stretches known to hold speech (from voice activity detection);
        frames overlapping them are never used. Sets ``method`` to ``"vad"`` by default.
    method : str, optional
        Label stored in the profile (``"learn"``, ``"auto"``, ``"vad"``); inferred if omitted.
    source_name : str
        Stored in the profile (the file it was learned from).

    Returns
    -------
    NoiseProfile

    Raises
    ------
    ParameterError
        Too little audio, regions outside the file or reversed, or no usable frame.
    """
    src, sample_rate, n_fft, hop, analysis, w_energy = _analysis_grid(audio, sample_rate, settings)
    total = int(src.frames)
    duration = total / sample_rate
    need = max(settings.min_samples, n_fft)
    warnings: list[str] = []
    acc = _Accumulator(n_fft // 2 + 1)

    if regions is not None:
        if len(regions) == 0:
            raise ParameterError("no region given; give at least one noise-only stretch (start-stop in seconds)")
        inside, notes = clip_regions(regions, duration)
        warnings += notes
        spans = [(int(round(a * sample_rate)), min(total, int(round(b * sample_rate)))) for a, b in inside]
        got = sum(s1 - s0 for s0, s1 in spans)
        if got < need:
            raise ParameterError(f"the region{'s' if len(spans) > 1 else ''} hold{'' if len(spans) > 1 else 's'} only "
                                 + _need_message(got, need, sample_rate))
        used_regions = []
        for s0, s1 in spans:
            levels = []
            k_before = acc.count
            for _, frames in _iter_frames(src, s0, s1, n_fft, hop, analysis, settings.block_frames):
                p = _power(frames)
                acc.add(p)
                levels.append(np.sum(p, axis=1))
            if acc.count == k_before:
                warnings.append(
                    f"region {_format_time(s0 / sample_rate)}-{_format_time(s1 / sample_rate)} is shorter than one "
                    f"frame ({n_fft} samples) and was not used"
                )
                continue
            used_regions.append((s0 / sample_rate, s1 / sample_rate))
            lv = 10.0 * np.log10(np.maximum(np.concatenate(levels), 1e-30))
            spread = float(np.percentile(lv, 90) - np.percentile(lv, 10)) if lv.size >= 3 else 0.0
            if spread > settings.speech_modulation_db:
                warnings.append(
                    f"region {_format_time(s0 / sample_rate)}-{_format_time(s1 / sample_rate)} looks like speech or "
                    f"events, not room tone: its level swings by {spread:.0f} dB (steady room tone swings less than "
                    f"{settings.speech_modulation_db:.0f} dB); pick a stretch where nobody speaks"
                )
        if acc.count == 0:
            raise ParameterError(
                f"no region is as long as one analysis frame ({n_fft} samples, {n_fft / sample_rate:.3f} s); "
                "give longer noise-only stretches"
            )
        used_samples = sum(int(round((b - a) * sample_rate)) for a, b in used_regions)
        method = method or "learn"
    else:
        if total < need:
            raise ParameterError("the file holds only " + _need_message(total, need, sample_rate))
        # Pass 1: broadband energy of every frame (time domain, Parseval), bounded memory.
        energies = []
        for _, frames in _iter_frames(src, 0, total, n_fft, hop, analysis, settings.block_frames * 4):
            energies.append(np.mean(np.sum(frames.astype(np.float64) ** 2, axis=-1), axis=0))
        e = np.concatenate(energies) if energies else np.zeros(0)
        ms = e / w_energy  # mean square of the frame (window-weighted)
        valid = ms > 10.0 ** (_SILENCE_DBFS / 10.0)
        if speech_regions:
            starts = np.arange(e.size) * hop
            for a, b in speech_regions:
                s0, s1 = int(a * sample_rate), int(b * sample_rate)
                valid &= ~((starts < s1) & (starts + n_fft > s0))
            method = method or "vad"
        method = method or "auto"
        if not np.any(valid):
            raise ParameterError(
                "found no frame to learn the room tone from: the file is digital silence"
                + (" or all speech" if speech_regions else "")
                + "; give a noise-only region or load a profile",
                remedy=GIVE_NOISE_REGION,
            )
        ev = e[valid]
        ref = float(np.median(np.sort(ev)[: max(1, int(math.ceil(settings.auto_fraction * ev.size)))]))
        selected = valid & (e <= ref * 10.0 ** (settings.auto_margin_db / 10.0))
        idx = np.flatnonzero(selected)
        if idx.size * hop + n_fft - hop < need:
            raise ParameterError(
                "the quiet parts of the file hold only "
                + _need_message(int(idx.size * hop + n_fft - hop), need, sample_rate)
                + "; give a noise-only region",
                remedy=GIVE_NOISE_REGION,
            )
        # Pass 2: accumulate the spectra of the selected frames, batch by batch.
        for pos, frames in _iter_frames(src, 0, total, n_fft, hop, analysis, settings.block_frames):
            f0 = pos // hop
            sel = selected[f0 : f0 + frames.shape[1]]
            if np.any(sel):
                acc.add(_power(frames[:, sel]))
        # Regions: runs of selected frames, gaps under 0.25 s bridged.
        runs: list[tuple[int, int]] = []
        gap = max(1, int(0.25 * sample_rate / hop))
        run_start = prev = -1
        for f in (int(i) for i in idx):
            if run_start < 0:
                run_start = prev = f
            elif f - prev > gap:
                runs.append((run_start, prev))
                run_start = f
            prev = f
        if run_start >= 0:
            runs.append((run_start, prev))
        used_regions = [(a * hop / sample_rate, min(total, b * hop + n_fft) / sample_rate) for a, b in runs]
        used_samples = int(idx.size * hop)

    mean = acc.sum / acc.count
    var = np.maximum(acc.sumsq / acc.count - mean * mean, 0.0)
    level = _level_from_power(mean, n_fft, w_energy)
    if method == "learn":  # regions the user chose (the automatic selections pick quiet ones)
        floor = quiet_floor_dbfs(src, n_fft, hop)
        if floor is not None and level - floor > settings.louder_than_floor_db:
            warnings.append(
                f"the region{'s' if len(used_regions) > 1 else ''} ({level:.1f} dBFS) "
                f"{'are' if len(used_regions) > 1 else 'is'} {level - floor:.0f} dB louder than the quiet parts "
                f"of the file ({floor:.1f} dBFS): probably speech or events, not room tone; pick a stretch "
                "where nobody speaks (or let Roomtone find one automatically)"
            )
    duration_s = used_samples / sample_rate
    if duration_s < settings.short_warning_s:
        warnings.append(
            f"learned from only {duration_s:.2f} s; 1-2 s of room tone gives a steadier profile"
        )
    return NoiseProfile(
        sample_rate=sample_rate, n_fft=n_fft, hop_length=hop, mean_power=mean, power_std=np.sqrt(var),
        level_dbfs=level, regions=[(round(a, 4), round(b, 4)) for a, b in used_regions],
        duration_s=round(duration_s, 4), method=method, source=source_name, warnings=warnings,
    )


# -- the noise floor without a pause (minimum statistics) ------------------------------------------
#: Histogram of per-bin frame power in dB used by :func:`estimate_noise_floor`: range and step.
_FLOOR_DB_MIN, _FLOOR_DB_MAX, _FLOOR_DB_STEP = -250.0, 100.0, 0.25


def floor_bias_db(low_db: np.ndarray, high_db: np.ndarray, low: float, high: float) -> np.ndarray:
    """dB to add to the ``low``-th percentile of a bin's frame powers to get their mean.

    The power ``|X|**2`` of a bin of Gaussian noise is exponential with mean ``m``, whose ``q``
    quantile is ``-ln(1 - q) * m``: the mean is the ``low`` quantile plus
    ``-10 log10(-ln(1 - low/100))`` dB (9.8 dB for the 10th percentile). A steady tone (hum, a
    whine) has nearly constant power, its quantiles are its mean, and it needs no correction. The
    spread between the ``high`` and ``low`` quantiles says which a bin is: the exponential's
    spread (5.3 dB from the 10th to the 30th percentile) gets the full correction, a spread of
    0 dB none, and the correction is interpolated linearly in dB between them.
    """
    ql, qh = float(low) / 100.0, float(high) / 100.0
    if not 0.0 < ql < qh < 1.0:
        raise ParameterError(f"noise floor percentiles must satisfy 0 < low < high < 100, got {low} and {high}")
    full = -10.0 * math.log10(-math.log1p(-ql))
    spread = 10.0 * math.log10(math.log1p(-qh) / math.log1p(-ql))
    frac = np.clip((np.asarray(high_db) - np.asarray(low_db)) / spread, 0.0, 1.0)
    return full * frac


def estimate_noise_floor(
    audio: np.ndarray | Any,
    sample_rate: int,
    *,
    settings: RoomToneSettings | None = None,
    percentile: float = 10.0,
    spread_percentile: float = 30.0,
    source_name: str = "",
    reason: str = "",
) -> NoiseProfile:
    """A room-tone profile for a recording with no pause: each bin's low percentile over time.

    Minimum statistics in its simplest form (Martin 2001 without the tracking): speech and events
    occupy a bin only part of the time, so the low percentile of the bin's frame powers over the
    whole file is set by the background. :func:`floor_bias_db` turns the percentile into the mean
    (noise-like bins get the exponential distribution's correction, steady tones none, judged by
    the spread up to the ``spread_percentile``). Every frame that is not digital silence counts;
    the powers are gathered in a per-bin histogram (``_FLOOR_DB_STEP`` dB wide), so memory does
    not grow with the file's length. A file shorter than one frame is zero-padded to one.

    Parameters
    ----------
    audio : ndarray ``(channels, samples)`` or ``(samples,)``, or BlockSource
        The recording.
    sample_rate : int
        Its rate, Hz.
    settings : RoomToneSettings, optional
        FFT geometry (the chain's) and batch size.
    percentile : float
        Which percentile of each bin's frame powers sets the floor (0-100, exclusive).
    spread_percentile : float
        A higher percentile; its distance from ``percentile`` sets the correction to the mean.
    source_name : str
        Stored in the profile.
    reason : str
        Why no room tone could be learned; the profile's warning starts with it.

    Returns
    -------
    NoiseProfile
        ``method == "minimum"``, no regions, a warning saying how it was estimated.
    """
    settings = settings or RoomToneSettings()
    floor_bias_db(np.zeros(1), np.zeros(1), percentile, spread_percentile)  # validates the percentiles
    src, sample_rate, n_fft, hop, analysis, w_energy = _analysis_grid(audio, sample_rate, settings)
    total = int(src.frames)
    bins = n_fft // 2 + 1
    n_hist = int(round((_FLOOR_DB_MAX - _FLOOR_DB_MIN) / _FLOOR_DB_STEP))
    hist = np.zeros(bins * n_hist, np.int64)
    offsets = (np.arange(bins) * n_hist)[None, :]
    silence = 10.0 ** (_SILENCE_DBFS / 10.0)
    count = 0

    def add(power: np.ndarray) -> int:  # (k, bins) float64
        keep = 2.0 * power.sum(axis=1) / (n_fft * w_energy) > silence  # Parseval: the frame's mean square
        power = power[keep]
        if power.shape[0]:
            db = 10.0 * np.log10(np.maximum(power, 1e-30))
            idx = np.clip(((db - _FLOOR_DB_MIN) / _FLOOR_DB_STEP).astype(np.int64), 0, n_hist - 1)
            hist[:] += np.bincount((idx + offsets).ravel(), minlength=hist.size)
        return int(power.shape[0])

    if total >= n_fft:
        for _, frames in _iter_frames(src, 0, total, n_fft, hop, analysis, settings.block_frames):
            count += add(_power(frames))
    elif total > 0:
        x = np.zeros((src.channels, n_fft), np.float32)
        x[:, :total] = np.asarray(src.read(0, total), np.float32).reshape(src.channels, total)
        count += add(_power(frame_signal(x, n_fft, hop, analysis)[:, :1]))
    why = f"{reason}; " if reason else ""
    if count == 0:  # nothing but digital silence: no background, and nothing for a stage to take away
        return NoiseProfile(
            sample_rate=sample_rate, n_fft=n_fft, hop_length=hop, mean_power=np.zeros(bins), power_std=np.zeros(bins),
            level_dbfs=_level_from_power(np.zeros(bins), n_fft, w_energy), regions=[], duration_s=0.0,
            method="minimum", source=source_name,
            warnings=[f"{why}the file is digital silence: the room tone is silence too, and nothing is taken away"],
        )
    cum = np.cumsum(hist.reshape(bins, n_hist), axis=1)

    def quantile(pct: float) -> tuple[np.ndarray, np.ndarray]:
        i = np.argmax(cum >= max(1, int(math.ceil(pct / 100.0 * count))), axis=1)
        return _FLOOR_DB_MIN + (i + 0.5) * _FLOOR_DB_STEP, i

    low_db, low_idx = quantile(percentile)
    high_db, _ = quantile(spread_percentile)
    mean = 10.0 ** ((low_db + floor_bias_db(low_db, high_db, percentile, spread_percentile)) / 10.0)
    mean[low_idx == 0] = 0.0  # below the histogram: digital zero in that bin
    warning = (
        f"{why}the room tone was estimated from the lowest {percentile:g} % of each band's levels over "
        f"the whole file ({count * hop / sample_rate:.2f} s; minimum statistics), not learned from a pause"
    )
    return NoiseProfile(
        sample_rate=sample_rate, n_fft=n_fft, hop_length=hop, mean_power=mean, power_std=mean.copy(),
        level_dbfs=_level_from_power(mean, n_fft, w_energy), regions=[],
        duration_s=round(count * hop / sample_rate, 4), method="minimum", source=source_name, warnings=[warning],
    )
