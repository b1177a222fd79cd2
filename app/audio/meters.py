"""Output meters computed on the feeder side, read by the GUI by polling.

Algorithm: the feeder hands every chunk of monitored audio (``(channels, n)`` at the file's
rate, ``n`` = the feeder's chunk size) to :meth:`MeterHistory.push`, which stores per chunk
and per channel the peak ``max|x|``, the sum of squares, and the sum of squares of the
K-weighted signal (ITU-R BS.1770: a high-shelf then a high-pass biquad; coefficients designed
for the file's rate by the bilinear formulas libebur128 uses, which give the standard's 48 kHz
coefficients exactly). Chunks are indexed absolutely, so the monitor can rewind the meters
together with the audio when it replaces unplayed audio (the filter state at every chunk start
is kept for that).

Reading (GUI thread) asks for the chunk being heard: peak over the last ``peak_window_s``,
RMS over the last ``rms_window_s``, short-term loudness (BS.1770, ungated, 3 s window):
``-0.691 + 10 log10(sum_ch G_ch * mean(z_ch^2))`` with channel weights 1 (L, R, C; mono), and
a sticky clip indicator (any sample with ``|x| >= clip_level``). Units: dBFS, LUFS.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.signal import sosfilt

from dsp.loudness import k_weighting_sos

SILENCE_DB = -120.0


def to_db(power_or_amp: np.ndarray | float, *, power: bool = False) -> np.ndarray:
    v = np.asarray(power_or_amp, np.float64)
    with np.errstate(divide="ignore"):
        db = (10.0 if power else 20.0) * np.log10(np.maximum(v, 1e-30))
    return np.maximum(db, SILENCE_DB)


@dataclass(frozen=True)
class MeterReading:
    """What the meters show now (per channel lists; dBFS / LUFS, floors at -120)."""

    peak_dbfs: tuple[float, ...]
    rms_dbfs: tuple[float, ...]
    short_term_lufs: float
    clipped: bool  # sticky until :meth:`MeterHistory.clear_clip`
    clip_count: int  # chunks that clipped since the last clear

    @classmethod
    def silent(cls, channels: int) -> MeterReading:
        return cls((SILENCE_DB,) * channels, (SILENCE_DB,) * channels, SILENCE_DB, False, 0)


class MeterHistory:
    """Per-chunk meter values over the last ``seconds`` of monitored audio."""

    def __init__(
        self,
        sample_rate: int,
        channels: int,
        chunk: int,
        *,
        seconds: float = 8.0,
        clip_level: float = 1.0,
    ) -> None:
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self.chunk = int(chunk)
        self.size = max(8, int(math.ceil(seconds * sample_rate / chunk)))
        self.clip_level = float(clip_level)
        self.sos = k_weighting_sos(sample_rate)
        self.peak = np.zeros((self.size, channels), np.float32)
        self.sumsq = np.zeros((self.size, channels), np.float64)
        self.ksumsq = np.zeros((self.size, channels), np.float64)
        self.clip = np.zeros(self.size, np.bool_)
        # Filter state at the start of each chunk (to rewind): (sections, channels, 2).
        self.state = np.zeros((self.size, 2, channels, 2), np.float64)
        self._zi = np.zeros((2, channels, 2), np.float64)
        self.next_chunk = 0  # absolute index of the next chunk pushed
        self.first_valid = 0
        self.clip_count = 0

    def reset(self, chunk_index: int = 0) -> None:
        self._zi[:] = 0.0
        self.next_chunk = chunk_index
        self.first_valid = chunk_index

    def rewind(self, chunk_index: int) -> None:
        """Forget chunks from ``chunk_index`` on and restore the filter state there."""
        if not self.first_valid <= chunk_index <= self.next_chunk or chunk_index < self.next_chunk - self.size + 1:
            self.reset(chunk_index)
            return
        if chunk_index < self.next_chunk:
            self._zi[:] = self.state[chunk_index % self.size]
        self.next_chunk = chunk_index

    def push(self, audio: np.ndarray) -> None:
        """Meter one chunk ``(channels, chunk)`` (feeder thread)."""
        k = self.next_chunk % self.size
        self.state[k] = self._zi
        x = np.asarray(audio, np.float64)
        z, self._zi = sosfilt(self.sos, x, axis=1, zi=self._zi)
        peak = np.max(np.abs(x), axis=1) if x.shape[1] else np.zeros(self.channels)
        self.peak[k] = peak
        self.sumsq[k] = np.einsum("ij,ij->i", x, x)
        self.ksumsq[k] = np.einsum("ij,ij->i", z, z)
        clipped = bool(np.any(peak >= self.clip_level))
        self.clip[k] = clipped
        if clipped:
            self.clip_count += 1
        self.next_chunk += 1
        if self.next_chunk - self.first_valid > self.size:
            self.first_valid = self.next_chunk - self.size

    def clear_clip(self) -> None:
        self.clip_count = 0

    def _window(self, end_chunk: int, seconds: float) -> np.ndarray:
        n = max(1, int(round(seconds * self.sample_rate / self.chunk)))
        end = min(end_chunk, self.next_chunk)
        start = max(end - n, self.first_valid)
        if end <= start:
            return np.zeros(0, np.int64)
        return np.arange(start, end) % self.size

    def read(
        self,
        end_chunk: int,
        *,
        peak_window_s: float = 0.05,
        rms_window_s: float = 0.3,
        loudness_window_s: float = 3.0,
    ) -> MeterReading:
        """Meters for the audio up to (not including) chunk ``end_chunk`` (GUI thread)."""
        pw = self._window(end_chunk, peak_window_s)
        if pw.size == 0:
            silent = (SILENCE_DB,) * self.channels
            return MeterReading(silent, silent, SILENCE_DB, self.clip_count > 0, self.clip_count)
        peak = self.peak[pw].max(axis=0)
        rw = self._window(end_chunk, rms_window_s)
        rms = np.sqrt(self.sumsq[rw].sum(axis=0) / (rw.size * self.chunk))
        lw = self._window(end_chunk, loudness_window_s)
        ms = self.ksumsq[lw].sum(axis=0) / (lw.size * self.chunk)
        total = float(ms.sum())
        lufs = -0.691 + 10.0 * math.log10(total) if total > 1e-30 else SILENCE_DB
        return MeterReading(
            tuple(float(v) for v in to_db(peak)),
            tuple(float(v) for v in to_db(rms)),
            max(lufs, SILENCE_DB),
            self.clip_count > 0,
            self.clip_count,
        )

