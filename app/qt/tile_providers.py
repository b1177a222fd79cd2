"""Spectrogram tile providers for the BEFORE and AFTER views.

A provider is ``provider(t0_s, t1_s, columns, cancel) -> dB array``; ``SpectrogramView`` runs it
as a job on the window's tile poller. Each call opens its own reader: tiles run off the GUI
thread and must not share the window's reader.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app.overview import difference_db, spectrogram_tile
from dsp.io import AudioReader


def tile_provider(path: str | Path, n_fft: int):
    """Magnitude tiles (dB) of the file at ``path``."""
    def provider(a, b, columns, cancel):
        with AudioReader(path) as reader:
            return spectrogram_tile(reader, a, b, columns=columns, n_fft=n_fft, cancel=cancel).db
    return provider


def difference_provider(before: str | Path, after: str | Path, n_fft: int):
    """Tiles of how many dB ``after`` removed from ``before`` at each time and frequency."""
    def provider(a, b, columns, cancel):
        with AudioReader(before) as r0, AudioReader(after) as r1:
            t0 = spectrogram_tile(r0, a, b, columns=columns, n_fft=n_fft, cancel=cancel)
            t1 = spectrogram_tile(r1, a, b, columns=columns, n_fft=n_fft, cancel=cancel)
        return difference_db(t0, t1)
    return provider


def hole_regions(holes) -> np.ndarray | None:
    """A HoleMap's regions as rows of (start_s, end_s, low_hz, high_hz), for the AFTER view."""
    if holes is None:
        return None
    return np.array([(r.start_s, r.end_s, r.low_hz, r.high_hz) for r in holes.regions], float).reshape(-1, 4)
