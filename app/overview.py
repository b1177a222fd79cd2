"""What the views draw, computed without Qt: waveform pyramids and spectrogram tiles.

Waveform pyramid
----------------
Audacity-style summaries (``SqliteSampleBlock::CalcSummary``): for every run of 256 samples the
minimum, maximum and sum of squares per channel, then coarser levels at 1024, 4096, 16384 and
65536 samples per summary, each reduced from the one below (min of mins, max of maxes, sum of
sums). The pyramid is built block-wise from an :class:`~dsp.io.AudioReader` (bounded memory,
about 0.3 % of the file's size) and may be read while it is still being built: ``frames_done``
says how far it got, so the overview can be drawn as the file streams in. A view that shows
``N`` samples on ``W`` pixels reads the coarsest level with at most ``N / W`` samples per
summary (never more than about ``2 W`` values), or the raw samples when it is zoomed in closer
than 256 samples per pixel (then at most a screenful is read).

Spectrogram tiles
-----------------
A tile is the magnitude spectrogram of a time span at the resolution shown: one analysis frame
(periodic Hann, ``n_fft`` samples) centred on each display column, so its cost is ``columns``
FFTs whatever the span (a screenful), and zoomed in far enough the columns are simply a dense
STFT. Values are dB relative to a full-scale sine (0 dBFS sine -> 0 dB), averaged over
channels. The difference of two tiles taken at the same columns (before minus after) is the
energy a render removed, in dB.

Long-term spectrum
------------------
Mean power per bin over frames spread evenly through the file, in the same units as
:class:`~dsp.roomtone.NoiseProfile` (``|rfft(hann * frame)|**2``), so a profile curve and the
file's spectrum can be drawn on one axis.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.fft

from dsp.errors import Cancelled, ParameterError

#: Samples per summary of the finest level (Audacity's 256) and the factor between levels.
BASE_SAMPLES = 256
LEVEL_FACTOR = 4
#: 256, 1024, 4096, 16384, 65536 samples per summary (Audacity keeps 256 and 65536).
LEVEL_SAMPLES = tuple(BASE_SAMPLES * LEVEL_FACTOR**i for i in range(5))
#: Block read while building: a multiple of the coarsest level, so each block fills whole summaries.
BUILD_BLOCK = LEVEL_SAMPLES[-1] * 16

DB_FLOOR = -140.0


@dataclass
class PyramidLevel:
    """One level: per-channel ``(channels, n)`` float32 min, max and sum of squares."""

    samples_per_summary: int
    minimum: np.ndarray
    maximum: np.ndarray
    sumsq: np.ndarray

    @property
    def size(self) -> int:
        return self.minimum.shape[1]


@dataclass(frozen=True)
class Envelope:
    """What a waveform view draws for a span: one column per summary (or per sample).

    ``times_s`` are the column start times; ``minimum``/``maximum``/``rms`` are float32,
    combined over channels (min of mins, max of maxes, RMS of all channels).
    ``samples_per_column`` is 1 when raw samples were read.
    """

    times_s: np.ndarray
    minimum: np.ndarray
    maximum: np.ndarray
    rms: np.ndarray
    samples_per_column: int


class WaveformPyramid:
    """Min/max/RMS summaries of a whole file at 256 ... 65536 samples per summary.

    Build it with :meth:`build` (or feed :meth:`add_block` in order). Reading methods are safe
    while another thread is building: they only look at ``frames_done`` samples.
    """

    def __init__(self, sample_rate: int, channels: int, frames: int) -> None:
        if frames < 0 or channels < 1 or sample_rate <= 0:
            raise ParameterError(
                f"a waveform pyramid needs a positive rate and channel count, got {sample_rate} Hz, {channels} ch"
            )
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self.frames = int(frames)
        self.levels: list[PyramidLevel] = []
        for spp in LEVEL_SAMPLES:
            n = max(1, math.ceil(frames / spp))
            self.levels.append(
                PyramidLevel(
                    spp,
                    np.zeros((channels, n), np.float32),
                    np.zeros((channels, n), np.float32),
                    np.zeros((channels, n), np.float32),
                )
            )
        self.frames_done = 0
        self._lock = threading.Lock()

    @property
    def complete(self) -> bool:
        return self.frames_done >= self.frames

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate

    # -- building ------------------------------------------------------------------------------
    def add_block(self, block: np.ndarray) -> None:
        """Append the next ``(channels, n)`` block (every block but the last a multiple of 65536)."""
        start = self.frames_done
        n = block.shape[1]
        if block.shape[0] != self.channels:
            raise ParameterError(f"expected {self.channels} channels, got a block of shape {block.shape}")
        if start % LEVEL_SAMPLES[-1] or start + n > self.frames:
            raise ParameterError(
                f"pyramid blocks must start on a multiple of {LEVEL_SAMPLES[-1]} samples and stay within the "
                f"file's {self.frames} frames; got [{start}, {start + n})"
            )
        # finest level straight from the samples
        base = self.levels[0]
        full = n // BASE_SAMPLES
        i0 = start // BASE_SAMPLES
        if full:
            r = block[:, : full * BASE_SAMPLES].reshape(self.channels, full, BASE_SAMPLES)
            base.minimum[:, i0 : i0 + full] = r.min(axis=-1)
            base.maximum[:, i0 : i0 + full] = r.max(axis=-1)
            base.sumsq[:, i0 : i0 + full] = np.einsum("cij,cij->ci", r, r)
        if n % BASE_SAMPLES:
            tail = block[:, full * BASE_SAMPLES :]
            base.minimum[:, i0 + full] = tail.min(axis=-1)
            base.maximum[:, i0 + full] = tail.max(axis=-1)
            base.sumsq[:, i0 + full] = np.einsum("ci,ci->c", tail, tail)
        # coarser levels reduced from the level below
        for lo, hi in zip(self.levels[:-1], self.levels[1:], strict=True):
            a = start // lo.samples_per_summary
            b = math.ceil((start + n) / lo.samples_per_summary)
            j0 = start // hi.samples_per_summary
            j1 = math.ceil((start + n) / hi.samples_per_summary)
            count = b - a
            whole = count // LEVEL_FACTOR
            if whole:
                sl = slice(a, a + whole * LEVEL_FACTOR)
                shape = (self.channels, whole, LEVEL_FACTOR)
                hi.minimum[:, j0 : j0 + whole] = lo.minimum[:, sl].reshape(shape).min(axis=-1)
                hi.maximum[:, j0 : j0 + whole] = lo.maximum[:, sl].reshape(shape).max(axis=-1)
                hi.sumsq[:, j0 : j0 + whole] = lo.sumsq[:, sl].reshape(shape).sum(axis=-1)
            if j0 + whole < j1:
                sl = slice(a + whole * LEVEL_FACTOR, b)
                hi.minimum[:, j1 - 1] = lo.minimum[:, sl].min(axis=-1)
                hi.maximum[:, j1 - 1] = lo.maximum[:, sl].max(axis=-1)
                hi.sumsq[:, j1 - 1] = lo.sumsq[:, sl].sum(axis=-1)
        with self._lock:
            self.frames_done = start + n

    @classmethod
    def build(
        cls,
        reader,
        *,
        progress: Callable[[float], None] | None = None,
        cancel: Callable[[], bool] | None = None,
        into: WaveformPyramid | None = None,
    ) -> WaveformPyramid:
        """Stream ``reader`` (a :class:`~dsp.render.BlockSource`) into a pyramid.

        ``into`` lets a caller create the (empty) pyramid first and draw it while it fills.
        ``cancel()`` returning true raises :class:`~dsp.errors.Cancelled` between blocks.
        """
        pyr = into or cls(reader.sample_rate, reader.channels, reader.frames)
        total = reader.frames
        pos = pyr.frames_done
        while pos < total:
            if cancel is not None and cancel():
                raise Cancelled("waveform overview cancelled")
            n = min(BUILD_BLOCK, total - pos)
            pyr.add_block(np.asarray(reader.read(pos, n), np.float32))
            pos += n
            if progress is not None:
                progress(pos / total)
        return pyr

    # -- reading -------------------------------------------------------------------------------
    def level_for(self, samples_per_pixel: float) -> PyramidLevel | None:
        """The coarsest level with at most ``samples_per_pixel`` samples per summary (None: raw)."""
        best = None
        for level in self.levels:
            if level.samples_per_summary <= samples_per_pixel:
                best = level
        return best

    def envelope(self, start_s: float, end_s: float, width_px: int, reader=None) -> Envelope:
        """Min/max/RMS columns covering ``[start_s, end_s)`` for a view ``width_px`` wide.

        When the view asks for finer than 256 samples per pixel, ``reader`` (if given) supplies
        the raw samples of the span (a screenful); without one the finest level is used.
        """
        sr = self.sample_rate
        a = int(np.clip(math.floor(start_s * sr), 0, self.frames))
        b = int(np.clip(math.ceil(end_s * sr), a, self.frames))
        spp = (b - a) / max(1, width_px)
        level = self.level_for(spp)
        if level is None and reader is not None and b - a <= 1 << 22:
            b = min(b, self.frames_done)
            if b <= a:
                return _empty_envelope()
            x = np.asarray(reader.read(a, b - a), np.float32)
            mono_min = x.min(axis=0)
            mono_max = x.max(axis=0)
            rms = np.sqrt((x * x).mean(axis=0)).astype(np.float32)
            return Envelope((a + np.arange(b - a)) / sr, mono_min, mono_max, rms, 1)
        if level is None:
            level = self.levels[0]
        s = level.samples_per_summary
        done = math.ceil(self.frames_done / s) if not self.complete else level.size
        i0 = min(a // s, done)
        i1 = min(math.ceil(b / s), done)
        if i1 <= i0:
            return _empty_envelope()
        mn = level.minimum[:, i0:i1].min(axis=0)
        mx = level.maximum[:, i0:i1].max(axis=0)
        counts = np.full(i1 - i0, float(s))
        last_len = self.frames - (level.size - 1) * s
        if i1 == level.size:
            counts[-1] = last_len
        rms = np.sqrt(level.sumsq[:, i0:i1].sum(axis=0) / (counts * self.channels)).astype(np.float32)
        return Envelope(np.arange(i0, i1) * s / sr, mn, mx, rms, s)

    def levels_db(self, start_s: float, end_s: float) -> tuple[float, float]:
        """(peak dBFS, RMS dBFS) of a span, from the summaries (for the status bar)."""
        sr = self.sample_rate
        a = int(np.clip(start_s * sr, 0, self.frames))
        b = int(np.clip(end_s * sr, a, self.frames))
        if b <= a:
            return DB_FLOOR, DB_FLOOR
        # the finest level that keeps the read under ~1M values
        level = self.levels[0]
        for lv in self.levels:
            level = lv
            if (b - a) / lv.samples_per_summary <= 1 << 20:
                break
        s = level.samples_per_summary
        i0, i1 = a // s, max(a // s + 1, math.ceil(b / s))
        i1 = min(i1, math.ceil(self.frames_done / s))
        if i1 <= i0:
            return DB_FLOOR, DB_FLOOR
        peak = float(max(np.abs(level.minimum[:, i0:i1]).max(), np.abs(level.maximum[:, i0:i1]).max()))
        n = min(b, self.frames_done) - i0 * s
        ms = float(level.sumsq[:, i0:i1].sum()) / max(1, n * self.channels)
        return _db(peak * peak), _db(ms)


def _empty_envelope() -> Envelope:
    z = np.zeros(0, np.float32)
    return Envelope(np.zeros(0), z, z, z, 1)


def _db(power: float) -> float:
    return float(10.0 * math.log10(power)) if power > 0 else DB_FLOOR


# -- spectrogram tiles -----------------------------------------------------------------------
@dataclass(frozen=True)
class SpectrogramTile:
    """dB magnitudes ``(columns, bins)`` float32 for ``[start_s, end_s)``, one column per frame.

    Column ``i`` is centred at ``start_s + (i + 0.5) * (end_s - start_s) / columns``; bin ``k``
    is at ``k * sample_rate / n_fft`` Hz. dB are relative to a full-scale sine.
    """

    start_s: float
    end_s: float
    sample_rate: int
    n_fft: int
    db: np.ndarray

    @property
    def columns(self) -> int:
        return self.db.shape[0]

    @property
    def max_hz(self) -> float:
        return self.sample_rate / 2


def _hann(n_fft: int) -> np.ndarray:
    n = np.arange(n_fft)
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * n / n_fft)).astype(np.float32)


def _read_frames(source, starts: np.ndarray, n_fft: int) -> np.ndarray:
    """``(len(starts), n_fft)`` mono frames; samples outside the file are zeros."""
    frames = source.frames
    out = np.zeros((len(starts), n_fft), np.float32)
    if not len(starts):
        return out
    span = int(starts[-1] + n_fft - starts[0])
    if span <= max(64 * n_fft * len(starts), 1 << 16) and span <= 1 << 23:
        # dense enough: one read of the span (at most 8M samples), frames gathered from it
        a, b = int(starts[0]), int(starts[-1]) + n_fft
        lo, hi = max(a, 0), min(b, frames)
        buf = np.zeros(b - a, np.float32)
        if hi > lo:
            buf[lo - a : hi - a] = np.asarray(source.read(lo, hi - lo), np.float32).mean(axis=0)
        idx = (np.asarray(starts, np.int64) - a)[:, None] + np.arange(n_fft)
        return buf[idx]
    for i, s in enumerate(starts):  # sparse (zoomed out): one short read per column
        s = int(s)
        lo, hi = max(s, 0), min(s + n_fft, frames)
        if hi > lo:
            out[i, lo - s : hi - s] = np.asarray(source.read(lo, hi - lo), np.float32).mean(axis=0)
    return out


def spectrogram_tile(
    source,
    start_s: float,
    end_s: float,
    *,
    columns: int,
    n_fft: int = 2048,
    cancel: Callable[[], bool] | None = None,
) -> SpectrogramTile:
    """The spectrogram of ``[start_s, end_s)`` of ``source`` at ``columns`` columns.

    ``source`` is a :class:`~dsp.render.BlockSource` (an ``AudioReader`` is one). Cost:
    ``columns`` FFTs of ``n_fft`` samples, whatever the span.
    """
    if columns < 1:
        raise ParameterError(f"a spectrogram tile needs at least one column, got {columns}")
    if not end_s > start_s:
        raise ParameterError(f"empty spectrogram span [{start_s}, {end_s})")
    sr = source.sample_rate
    step = (end_s - start_s) / columns
    centres = start_s + (np.arange(columns) + 0.5) * step
    starts = np.round(centres * sr).astype(np.int64) - n_fft // 2
    window = _hann(n_fft)
    db = np.empty((columns, n_fft // 2 + 1), np.float32)
    ref = 20.0 * math.log10(float(window.sum()) / 2.0)
    chunk = 256
    for c0 in range(0, columns, chunk):
        if cancel is not None and cancel():
            raise Cancelled("spectrogram tile cancelled")
        fr = _read_frames(source, starts[c0 : c0 + chunk], n_fft)
        spec = scipy.fft.rfft(fr * window, axis=-1, workers=1)
        power = spec.real * spec.real + spec.imag * spec.imag
        db[c0 : c0 + chunk] = 10.0 * np.log10(np.maximum(power, 1e-14)) - ref
    return SpectrogramTile(float(start_s), float(end_s), int(sr), int(n_fft), db)


def difference_db(before: SpectrogramTile, after: SpectrogramTile) -> np.ndarray:
    """Energy removed, dB (before minus after, >= 0), for two tiles taken at the same columns."""
    if before.db.shape != after.db.shape or before.start_s != after.start_s or before.end_s != after.end_s:
        raise ParameterError(
            f"difference needs tiles of the same span and shape; got {before.db.shape} over "
            f"[{before.start_s}, {before.end_s}) and {after.db.shape} over [{after.start_s}, {after.end_s})"
        )
    return np.maximum(before.db - after.db, 0.0).astype(np.float32)


def long_term_spectrum(
    source,
    *,
    n_fft: int,
    max_frames: int = 2000,
    cancel: Callable[[], bool] | None = None,
) -> np.ndarray:
    """Mean power per bin ``(n_fft // 2 + 1,)`` float64 over up to ``max_frames`` evenly spread frames.

    Units match :class:`~dsp.roomtone.NoiseProfile` ``mean_power`` (``|rfft(hann * frame)|**2``).
    """
    frames = source.frames
    count = int(max(1, min(max_frames, frames // n_fft)))
    starts = np.linspace(0, max(0, frames - n_fft), count).astype(np.int64)
    window = _hann(n_fft)
    acc = np.zeros(n_fft // 2 + 1, np.float64)
    for c0 in range(0, count, 256):
        if cancel is not None and cancel():
            raise Cancelled("spectrum cancelled")
        fr = _read_frames(source, starts[c0 : c0 + 256], n_fft)
        spec = scipy.fft.rfft(fr * window, axis=-1, workers=1)
        acc += (spec.real**2 + spec.imag**2).sum(axis=0)
    return acc / count
