"""How the workstation draws its spectrograms: FFT size, dB range, frequency scale, colours.

No Qt here: the settings are a small frozen dataclass the window keeps in the user's
preferences (QSettings, ``spectrogram/...``), not in the project, and applies to every
spectrogram view at once (BEFORE, AFTER and removed energy share FFT size and frequency scale,
and BEFORE/AFTER share the dB range, so a comparison stays honest).

Units
-----
Levels are those of :func:`app.overview.spectrogram_tile`: dB relative to a full-scale sine
(a 0 dBFS sine reads 0 dB in its bin). The removed-energy view shows dB removed (>= 0).

Automatic dB range
------------------
A fixed range (-110 to -20 dB) suits a quiet 48 kHz studio file; a hot, noisy recording pins
its speech against the ceiling and paints its noise bed in the middle colours. The automatic
range is whole-file knowledge, the same for every tile (never re-levelled per screenful, which
would make scrolling flicker and comparisons lie):

* ceiling: the file's peak spectrogram level (the loudest cell of :data:`SAMPLE_COLUMNS`
  frames spread evenly through the file), rounded up to 5 dB;
* floor, with a room-tone profile: the room tone's median level per bin, in the same units,
  less :data:`ROOM_TONE_MARGIN_DB` (so the room tone is dark but visible and whatever the
  chain pushes under it turns black), but never above the :data:`MAX_BLACK_PERCENTILE`
  percentile of the sampled cells: a room tone learned from a poor stretch (a short clip, a
  louder patch of noise) must not paint a quarter of the file black; rounded down to 5 dB;
* floor, without one: the :data:`FLOOR_PERCENTILE` percentile of the sampled cells (digital
  silence left out), rounded down to 5 dB.

The span is kept between :data:`MIN_SPAN_DB` and :data:`MAX_SPAN_DB`.

Frequency scales
----------------
``linear`` (Hz), ``log`` (log10 Hz from :data:`LOG_MIN_HZ`) and ``mel`` (HTK:
``2595 log10(1 + f / 700)``). A view's vertical coordinate is the scale's *display unit*;
:class:`FrequencyScale` converts both ways, so selections and overlays stay in Hz everywhere
else. :func:`warp_rows` resamples a tile's FFT bins onto rows evenly spaced in display units:
a row interpolates between the two bins nearest its centre, and a row that holds one bin
centre or several shows the loudest of them (as Audacity's spectrogram does), so a narrow hum
line never vanishes between rows.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.overview import spectrogram_tile
from dsp.errors import ParameterError
from dsp.stft import default_n_fft

FFT_SIZES = (256, 512, 1024, 2048, 4096, 8192)
SCALES = ("linear", "log", "mel")
SCALE_LABELS = {"linear": "Linear", "log": "Logarithmic", "mel": "Mel"}
#: Perceptual colour maps that pyqtgraph ships ("grey" is its CET-L1 linear greyscale).
COLORMAPS = ("inferno", "magma", "viridis", "plasma", "cividis", "grey")
DEFAULT_COLORMAP = "inferno"
DEFAULT_REMOVED_COLORMAP = "viridis"
DEFAULT_FLOOR_DB = -110.0
DEFAULT_CEILING_DB = -20.0
DEFAULT_REMOVED_CEILING_DB = 24.0
#: The range a level may take (dB re full-scale sine) and the smallest span shown.
LEVEL_LIMITS_DB = (-160.0, 20.0)
MIN_SPAN_DB = 20.0
MAX_SPAN_DB = 140.0
REMOVED_LIMITS_DB = (3.0, 80.0)

ROOM_TONE_MARGIN_DB = 15.0
FLOOR_PERCENTILE = 2.0
MAX_BLACK_PERCENTILE = 5.0
SAMPLE_COLUMNS = 1200
SILENCE_DB = -135.0  # cells at or under this are digital silence (the tile floor is -140 dB)
LOG_MIN_HZ = 20.0
WARPED_ROWS = 768


@dataclass(frozen=True)
class SpectrogramSettings:
    """The spectrogram views' settings (user preferences, not part of a project).

    Parameters
    ----------
    fft_size : int
        Analysis frame in samples, a power of two from 256 to 8192; 0 (the default) picks about
        43 ms for the file's rate (:func:`dsp.stft.default_n_fft`: 2048 at 48 kHz, 512 at 16 kHz).
    auto_range : bool
        Take the dB range from the file and its room tone (see the module docstring); the
        manual ``floor_db``/``ceiling_db`` are kept for when it is switched off.
    floor_db, ceiling_db : float
        The manual dB range (dB re full-scale sine), at least 20 dB apart.
    scale : str
        Frequency scale: ``"linear"``, ``"log"`` or ``"mel"``.
    colormap : str
        Colour map of the magnitude views, one of :data:`COLORMAPS`.
    removed_ceiling_db : float
        The removed-energy view runs from 0 to this many dB removed.
    removed_colormap : str
        Colour map of the removed-energy view.
    """

    fft_size: int = 0
    auto_range: bool = True
    floor_db: float = DEFAULT_FLOOR_DB
    ceiling_db: float = DEFAULT_CEILING_DB
    scale: str = "linear"
    colormap: str = DEFAULT_COLORMAP
    removed_ceiling_db: float = DEFAULT_REMOVED_CEILING_DB
    removed_colormap: str = DEFAULT_REMOVED_COLORMAP

    def __post_init__(self) -> None:
        if self.fft_size != 0 and self.fft_size not in FFT_SIZES:
            raise ParameterError(
                f"spectrogram FFT size must be 0 (automatic) or a power of two from 256 to 8192, got {self.fft_size!r}")
        for name in ("floor_db", "ceiling_db", "removed_ceiling_db"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ParameterError(f"spectrogram {name} must be a finite number of dB, got {value!r}")
        lo, hi = LEVEL_LIMITS_DB
        if not (lo <= self.floor_db and self.ceiling_db <= hi):
            raise ParameterError(
                f"spectrogram dB range must lie within {lo:g} to {hi:g} dB, got {self.floor_db:g} to {self.ceiling_db:g} dB")
        if self.ceiling_db - self.floor_db < MIN_SPAN_DB:
            raise ParameterError(
                f"spectrogram dB range must span at least {MIN_SPAN_DB:g} dB (floor below ceiling), got "
                f"{self.floor_db:g} to {self.ceiling_db:g} dB; lower the floor or raise the ceiling")
        rlo, rhi = REMOVED_LIMITS_DB
        if not rlo <= self.removed_ceiling_db <= rhi:
            raise ParameterError(
                f"removed-energy range must end between {rlo:g} and {rhi:g} dB removed, got {self.removed_ceiling_db:g}")
        if self.scale not in SCALES:
            raise ParameterError(f"spectrogram frequency scale must be one of {', '.join(SCALES)}; got {self.scale!r}")
        for name in ("colormap", "removed_colormap"):
            if getattr(self, name) not in COLORMAPS:
                raise ParameterError(
                    f"spectrogram {name} must be one of {', '.join(COLORMAPS)}; got {getattr(self, name)!r}")

    def n_fft(self, sample_rate: int) -> int:
        """The FFT size used for a file at ``sample_rate`` (``fft_size``, or the rate's default)."""
        return self.fft_size or default_n_fft(sample_rate)

    def replace(self, **changes: Any) -> SpectrogramSettings:
        """A copy with ``changes`` (validated like a new instance)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SpectrogramSettings:
        """Settings from stored values (strings from an INI file are fine). A value that cannot
        be read, or that the others make invalid, falls back to its default: a damaged
        preferences file must never stop the window from opening."""
        out = cls()
        for field in dataclasses.fields(cls):
            if field.name not in data or data[field.name] is None:
                continue
            try:
                out = out.replace(**{field.name: _coerce(field.default, data[field.name])})
            except (ParameterError, TypeError, ValueError):
                continue
        return out


def _coerce(default: Any, value: Any) -> Any:
    if isinstance(default, bool):
        if isinstance(value, str):
            if value.lower() not in ("true", "false", "1", "0"):
                raise ValueError(value)
            return value.lower() in ("true", "1")
        return bool(value)
    if isinstance(default, int):
        return int(value)
    if isinstance(default, float):
        return float(value)
    return str(value)


# -- frequency scales -----------------------------------------------------------------------------
@dataclass(frozen=True)
class FrequencyScale:
    """A frequency axis ``kind`` over ``[0, nyquist]`` Hz, in display units and back."""

    kind: str = "linear"
    nyquist: float = 24000.0
    min_hz: float = LOG_MIN_HZ

    def __post_init__(self) -> None:
        if self.kind not in SCALES:
            raise ParameterError(f"frequency scale must be one of {', '.join(SCALES)}; got {self.kind!r}")
        if not self.nyquist > self.min_hz > 0:
            raise ParameterError(f"a frequency scale needs nyquist > min_hz > 0, got {self.nyquist} and {self.min_hz}")

    @property
    def linear(self) -> bool:
        return self.kind == "linear"

    def to_display(self, hz):
        """Display units of ``hz`` (scalar or array): Hz, log10 Hz (clamped at ``min_hz``) or mel."""
        f = np.asarray(hz, np.float64)
        if self.kind == "log":
            out = np.log10(np.maximum(f, self.min_hz))
        elif self.kind == "mel":
            out = 2595.0 * np.log10(1.0 + np.maximum(f, 0.0) / 700.0)
        else:
            out = f
        return float(out) if out.ndim == 0 else out

    def to_hz(self, u):
        """Hz of display units ``u`` (scalar or array); the inverse of :meth:`to_display`."""
        x = np.asarray(u, np.float64)
        if self.kind == "log":
            out = 10.0**x
        elif self.kind == "mel":
            out = 700.0 * (10.0 ** (x / 2595.0) - 1.0)
        else:
            out = x
        return float(out) if out.ndim == 0 else out

    @property
    def display_range(self) -> tuple[float, float]:
        lo = self.min_hz if self.kind == "log" else 0.0
        return float(self.to_display(lo)), float(self.to_display(self.nyquist))

    def ticks(self, u0: float, u1: float, count: int) -> tuple[list[float], list[float]]:
        """Major and minor tick frequencies (Hz) for the display span ``[u0, u1]``, at most
        ``count`` majors, on round values (1-2-5 steps, and 0 where the scale has it)."""
        f0, f1 = self.to_hz(min(u0, u1)), self.to_hz(max(u0, u1))
        candidates = [0.0] + [m * 10.0**e for e in range(0, 6) for m in (1, 2, 3, 5, 7)]
        minor_c = [m * 10.0**e for e in range(0, 6) for m in range(1, 10)]
        inside = [f for f in candidates if f0 <= f <= f1 and (f > 0 or self.kind != "log")]
        gap = abs(u1 - u0) / max(count, 1)
        major: list[float] = []
        for f in sorted(inside, key=_roundness):
            u = self.to_display(f)
            if all(abs(u - self.to_display(g)) >= gap for g in major):
                major.append(f)
        minor: list[float] = []
        taken = [self.to_display(f) for f in major]
        for f in sorted((f for f in minor_c if f0 <= f <= f1 and f not in major), key=_roundness):
            u = self.to_display(f)
            if all(abs(u - t) >= gap / 4 for t in taken):
                minor.append(f)
                taken.append(u)
        return sorted(major), sorted(minor)


def _roundness(f: float) -> tuple[int, float]:
    """Rounder values first: powers of ten, then 5s, 2s, 3s, 7s."""
    if f == 0:
        return (0, 0.0)
    mantissa = round(f / 10 ** math.floor(math.log10(f)))
    return ({1: 0, 5: 1, 2: 2, 3: 3, 7: 4}.get(mantissa, 5), f)


def format_hz(hz: float) -> str:
    """``"250"``, ``"1.5k"``, ``"20k"``: an axis label."""
    hz = float(round(hz, 6))
    if hz >= 1000:
        return f"{float(f'{hz / 1000:.3g}'):g}k"
    return f"{float(f'{hz:.3g}'):g}"


def row_frequencies(scale: FrequencyScale, rows: int) -> np.ndarray:
    """Centre frequency (Hz) of each of ``rows`` rows evenly spaced over the scale's display range."""
    u0, u1 = scale.display_range
    return np.asarray(scale.to_hz(u0 + (np.arange(rows) + 0.5) * (u1 - u0) / rows))


def warp_rows(db: np.ndarray, sample_rate: int, scale: FrequencyScale, rows: int = WARPED_ROWS) -> np.ndarray:
    """A tile ``(columns, bins)`` (bin ``k`` at ``k * sample_rate / n_fft`` Hz) resampled onto
    ``rows`` rows evenly spaced in ``scale``'s display units: ``(columns, rows)`` float32.

    A linear scale returns ``db`` unchanged (one row per bin). See the module docstring.
    """
    if scale.linear:
        return db
    db = np.asarray(db, np.float32)
    columns, bins = db.shape
    df = (sample_rate / 2.0) / max(bins - 1, 1)
    u0, u1 = scale.display_range
    edges = np.asarray(scale.to_hz(u0 + np.arange(rows + 1) * (u1 - u0) / rows)) / df
    pos = np.clip(row_frequencies(scale, rows) / df, 0.0, bins - 1.0)
    i0 = np.minimum(pos.astype(np.int64), bins - 2) if bins > 1 else np.zeros(rows, np.int64)
    w = (pos - i0).astype(np.float32)
    i1 = np.minimum(i0 + 1, bins - 1)
    out = db[:, i0] * (1.0 - w) + db[:, i1] * w
    k_lo = np.clip(np.ceil(edges[:-1]), 0, bins - 1).astype(np.int64)
    k_hi = np.clip(np.floor(edges[1:]), 0, bins - 1).astype(np.int64)
    wide = np.flatnonzero(k_hi >= k_lo)  # rows that hold a bin centre or more: their loudest bin
    if len(wide):
        bounds = np.stack([k_lo[wide], k_hi[wide] + 1], axis=1).ravel()
        padded = np.concatenate([db, db[:, -1:]], axis=1)
        peaks = np.maximum.reduceat(padded, bounds, axis=1)[:, ::2]
        out[:, wide] = np.maximum(out[:, wide], peaks)
    return out.astype(np.float32)


# -- the automatic dB range -----------------------------------------------------------------------
def room_tone_level_db(profile, sample_rate: int, n_fft: int) -> np.ndarray:
    """The room tone's mean level per tile bin ``(n_fft // 2 + 1,)``, in tile dB.

    ``profile`` is a :class:`dsp.roomtone.NoiseProfile` (any frame size, the file's rate or
    higher): its power spectral density ``mean_power / (rate * sum(w**2))`` is taken to the
    tile's periodic Hann window of ``n_fft`` and referenced to a full-scale sine like the tile.
    """
    psd = np.asarray(profile.mean_power, np.float64) / (profile.sample_rate * profile.window_energy())
    freqs = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
    psd = np.interp(freqs, profile.frequencies(), psd)
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft)
    power = psd * sample_rate * float(np.sum(window**2))
    ref = 20.0 * math.log10(float(window.sum()) / 2.0)
    return np.asarray(10.0 * np.log10(np.maximum(power, 1e-30)) - ref)


def auto_range(levels_db: np.ndarray, room_tone_db: np.ndarray | None = None) -> tuple[float, float]:
    """The automatic (floor, ceiling) in dB from sampled tile levels and, if known, the room
    tone's level per bin (see the module docstring)."""
    cells = np.asarray(levels_db, np.float64).ravel()
    cells = cells[np.isfinite(cells) & (cells > SILENCE_DB)]
    if not len(cells):
        return DEFAULT_FLOOR_DB, DEFAULT_CEILING_DB
    ceiling = 5.0 * math.ceil(float(cells.max()) / 5.0)
    if room_tone_db is not None and np.any(np.asarray(room_tone_db) > SILENCE_DB):
        tone = np.asarray(room_tone_db, np.float64)
        floor = min(float(np.median(tone[tone > SILENCE_DB])) - ROOM_TONE_MARGIN_DB,
                    float(np.percentile(cells, MAX_BLACK_PERCENTILE)))
    else:
        floor = float(np.percentile(cells, FLOOR_PERCENTILE))
    floor = 5.0 * math.floor(floor / 5.0)
    lo, hi = LEVEL_LIMITS_DB
    ceiling = min(max(ceiling, lo + MIN_SPAN_DB), hi)
    floor = min(max(floor, ceiling - MAX_SPAN_DB, lo), ceiling - MIN_SPAN_DB)
    return float(floor), float(ceiling)


def sample_levels(source, n_fft: int, *, columns: int = SAMPLE_COLUMNS,
                  cancel: Callable[[], bool] | None = None) -> np.ndarray:
    """Tile levels ``(columns, bins)`` of frames spread evenly over the whole of ``source``."""
    duration = source.frames / source.sample_rate
    columns = int(max(1, min(columns, source.frames // max(n_fft // 2, 1))))
    return spectrogram_tile(source, 0.0, max(duration, 1e-6), columns=columns, n_fft=n_fft, cancel=cancel).db


def level_quantiles(levels_db: np.ndarray) -> np.ndarray:
    """The cells' quantile function in 0.1 % steps (1,001 values; digital silence left out).

    All :func:`auto_range` reads from the cells (the maximum and the 2nd and 5th percentiles),
    exactly, in 8 kB whatever the file's length and the FFT size: the tile job reduces its
    sampled levels to this, so the GUI thread never sorts millions of cells.
    """
    cells = np.asarray(levels_db, np.float64).ravel()
    cells = cells[np.isfinite(cells) & (cells > SILENCE_DB)]
    if not len(cells):
        return np.zeros(0)
    return np.asarray(np.percentile(cells, np.linspace(0.0, 100.0, 1001)))


def saturated_fraction(levels_db: np.ndarray, floor_db: float, ceiling_db: float) -> tuple[float, float]:
    """The fractions of cells (digital silence left out) at or above the ceiling and at or under
    the floor: drawn in the top or bottom colour, their differences lost."""
    cells = np.asarray(levels_db, np.float64).ravel()
    cells = cells[cells > SILENCE_DB]
    if not len(cells):
        return 0.0, 0.0
    return float(np.mean(cells >= ceiling_db)), float(np.mean(cells <= floor_db))
