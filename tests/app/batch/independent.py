"""Independent meters for delivered files: scipy 4x ``resample_poly`` true peak, ffmpeg's ebur128, pyloudnorm.

Shared by the batch tests and ``bench/bench_batch.py --ceiling-grid``; none of them uses Roomtone's
own meter, so a delivered file is checked the way a client (or a podcast platform) would check it.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import scipy.signal
import soundfile as sf


def scipy_true_peak(path: str | Path, factor: int = 4) -> float:
    """True peak (dBTP) of the file as written: ``resample_poly`` by ``factor`` (and the samples themselves)."""
    x, _ = sf.read(str(path), dtype="float64", always_2d=True)
    y = scipy.signal.resample_poly(x, factor, 1, axis=0)
    peak = max(float(np.abs(y).max()), float(np.abs(x).max()))
    return 20.0 * math.log10(peak) if peak > 0 else -math.inf


def pyloudnorm_lufs(path: str | Path) -> float:
    import pyloudnorm

    x, sr = sf.read(str(path), dtype="float64")
    return float(pyloudnorm.Meter(sr).integrated_loudness(x))


def ffmpeg_available() -> bool:
    return shutil.which("ffmpeg") is not None


def ffmpeg_ebur128(path: str | Path) -> tuple[float, float]:
    """(integrated LUFS, true peak dBTP) by ffmpeg's ``ebur128=peak=true`` filter."""
    proc = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostats", "-i", str(path), "-filter_complex", "ebur128=peak=true", "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    )
    summary = proc.stderr[proc.stderr.rfind("Summary:"):]
    lufs = float(re.search(r"I:\s+(-?[\d.]+|-inf) LUFS", summary).group(1))
    peak = float(re.search(r"True peak:\s+Peak:\s+(-?[\d.]+|-inf) dBFS", summary).group(1))
    return lufs, peak


def hot_speech(dev_data: Path, sample_rate: int, channels: int) -> np.ndarray:
    """Dev speech at ``sample_rate`` with short bright bursts (up to 0.45 of the rate, 0.9 of Nyquist) 11 dB over its peaks.

    ``(samples, channels)`` float64 peaking at 0.9: after loudness normalisation the bursts need
    about 10 dB of true-peak limiting, and the ones near Nyquist put their peaks between samples.
    """
    from fractions import Fraction

    x, sr0 = sf.read(str(Path(dev_data) / "clean" / "s01_vctk_p286.flac"), dtype="float64")
    ratio = Fraction(sample_rate, sr0).limit_denominator(1000)
    x = scipy.signal.resample_poly(x, ratio.numerator, ratio.denominator)
    x = x / np.abs(x).max() * 0.25
    n = np.arange(max(8, int(0.004 * sample_rate)))
    for at_s, freq in ((1.5, 0.25), (2.2, 0.12), (3.3, 0.43), (4.1, 0.45), (5.0, 0.31)):
        k = int(at_s * sample_rate)
        x[k : k + n.size] += 0.9 * np.sin(2 * np.pi * freq * n + np.pi / 4) * np.hanning(n.size)
    x = x / np.abs(x).max() * 0.9
    if channels == 2:
        x = np.stack([x, np.roll(x, 37) * 0.8], axis=1)
    return x.reshape(x.shape[0], -1)
