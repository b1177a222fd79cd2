"""Mouth noises, part two (issue 23): breath control (``breath``) and the de-esser (``deess``).

Self-contained: builds its test sets from the dev clean speech (``/work/shared/data/clean``, read
in place, never copied) into ``bench/out/mouth_breath/`` and scores them, writing
``bench/results/mouth_breath_deess.md``. Run from the repository root::

    python -m bench.mouth_breath            # everything (about 3 minutes on 2 cores)
    python -m bench.mouth_breath --quick    # skip the PESQ and the 10-minute speed file

Test sets
---------
*Breaths.* Each clean file is cut into phrases at its own word gaps (the quietest 120 ms
stretches, at least 1.2 s apart); the phrases are joined with pauses of 0.55-1.1 s, and inside
each pause a breath is inserted at a known position: band-passed white noise (500-6000 Hz,
4th-order Butterworth, to 0.45 x the sample rate at 16 kHz) of 0.2-0.6 s under an asymmetric
breath envelope (a sine rise over 40 %, a cosine fall over 60 %), its RMS 15-30 dB under the
speech's active level. Everything sits over a light room tone (pink noise, 46 dB under the
speech's active level). Seeded: the same set every run.

*Sibilance.* The clean file through a +8 dB RBJ high shelf at 5 kHz (slope 1), the clean file as
the reference.

Scores (each must-show line PASS/FAIL from its number)
------------------------------------------------------
Breath, per file and per half: detection (an inserted breath is *found* when detected events
cover at least half of it); frame specificity (10 ms frames outside the inserted breaths,
50 ms guard each side: the share not inside a detected breath) over all such frames and over
speech frames only (clean speech within 40 dB of its loudest 5 %); false events per minute;
the reduction of each found breath (level of output over input across the breath's middle
60 %, dB) against ``reduction_db``; and the lowest 10 ms level inside the breaths against the
room tone's level (never below it, 0.5 dB of measuring slack).

De-ess: frames of 2048 (48 kHz) / 512 (16 kHz) samples, hop a quarter. *Sibilant frames*: frames
of the clean reference whose 4-10 kHz band (to 0.47 x the rate) holds over half their power and
lies within 30 dB of the loud speech. *Non-sibilant frames*: speech frames whose band holds under
10 % of their power, 3 frames (about 30 ms) away from any sibilant frame. Numbers: the band's
level (energy over the sibilant frames) of the output minus the reference's (dB; the input is
+5..+8 dB); the mean absolute full-band level change on non-sibilant frames against the input;
the integrated loudness change (BS.1770, :mod:`dsp.loudness`) against the input. On the clean
file itself: how much the de-esser takes from the sibilant frames (what it would do to a voice
that needs nothing). ffmpeg's ``deesser`` (defaults) on the same files, for comparison.

No harm: PESQ (wideband, 16 kHz) of ``podcast`` and of ``podcast`` + breath + deess on dev
mixtures, against their clean references. Speed: the ``podcast`` chain with both stages on a
10-minute 48 kHz file (the dev clean speech repeated over room tone), real-time factor.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.signal
import soundfile as sf

DATA = Path("/work/shared/data")
CLEAN = DATA / "clean"
BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out" / "mouth_breath"
RESULTS = BENCH / "results" / "mouth_breath_deess.md"
TUNING = ("s01", "s02", "s03")
HELDOUT = ("s04", "s05", "s06", "s07")
ROOM_TONE_BELOW_DB = 46.0
SEED = 23


def clean_files() -> dict[str, Path]:
    return {p.name[:3]: p for p in sorted(CLEAN.glob("s0*.flac"))}


def read_mono(path: Path) -> tuple[np.ndarray, int]:
    x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    return np.ascontiguousarray(x.mean(axis=1)), int(sr)


def frame_levels(x: np.ndarray, sr: int, win_s: float = 0.02, hop_s: float = 0.01) -> np.ndarray:
    hop, win = int(round(hop_s * sr)), int(round(win_s * sr))
    n = max(0, (len(x) - win) // hop + 1)
    if n == 0:
        return np.zeros(0)
    fr = np.lib.stride_tricks.sliding_window_view(x.astype(np.float64), win)[::hop][:n]
    return 10.0 * np.log10(np.mean(fr * fr, axis=1) + 1e-12)


def active_level_db(x: np.ndarray, sr: int) -> float:
    """Energy mean of 20 ms frames within 40 dB of the loudest 5 % (a simple active speech level)."""
    lv = frame_levels(x, sr)
    sel = lv >= np.percentile(lv, 95) - 40.0
    return float(10 * np.log10(np.mean(10 ** (lv[sel] / 10))))


def pink(n: int, rng: np.random.Generator) -> np.ndarray:
    w = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(w.size, dtype=np.float64)
    f[0] = 1.0
    y = np.fft.irfft(w / np.sqrt(f), n)
    return (y / np.sqrt(np.mean(y * y))).astype(np.float64)


def breath_sound(dur_s: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    n = int(round(dur_s * sr))
    hi = min(6000.0, 0.45 * sr)
    sos = scipy.signal.butter(4, [500.0, hi], btype="bandpass", fs=sr, output="sos")
    y = scipy.signal.sosfiltfilt(sos, rng.standard_normal(n + 2000))[1000:-1000]
    rise = int(0.4 * n)
    env = np.concatenate([np.sin(0.5 * np.pi * np.arange(rise) / rise),
                          np.cos(0.5 * np.pi * np.arange(n - rise) / (n - rise))])
    y = y * env
    return y / np.sqrt(np.mean(y * y))


def split_phrases(x: np.ndarray, sr: int) -> list[np.ndarray]:
    """Cut at the quietest 120 ms stretches, at least 1.2 s apart and 0.8 s from the ends."""
    lv = frame_levels(x, sr, 0.12, 0.01)
    hop = int(0.01 * sr)
    order = np.argsort(lv)
    cuts: list[int] = []
    for i in order:
        c = i * hop + int(0.06 * sr)
        if c < 0.8 * sr or c > len(x) - 0.8 * sr:
            continue
        if all(abs(c - d) >= 1.2 * sr for d in cuts):
            cuts.append(c)
        if len(cuts) >= 8 or lv[i] > np.percentile(lv, 40):
            break
    cuts = sorted(cuts)
    bounds = [0, *cuts, len(x)]
    return [x[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=False)]


@dataclass
class BreathCase:
    name: str
    sr: int
    x: np.ndarray  # the test input
    breaths: list[tuple[int, int]]  # inserted breaths, samples
    speech_mask: np.ndarray  # 10 ms frames of clean speech
    room_dbfs: float
    speech_dbfs: float


def build_breath_case(name: str, x: np.ndarray, sr: int, rng: np.random.Generator, *,
                      gain_db: float = 0.0) -> BreathCase:
    x = x.astype(np.float64) * 10 ** (gain_db / 20)
    speech = active_level_db(x, sr)
    phrases = split_phrases(x, sr)
    parts, breaths, speech_parts = [], [], []
    pos = 0
    lead = np.zeros(int(0.5 * sr))
    parts.append(lead)
    speech_parts.append(np.zeros(lead.size, bool))
    pos += lead.size
    lv_thr = speech - 40.0
    for i, ph in enumerate(phrases):
        parts.append(ph)
        lvl = frame_levels(np.concatenate([ph, np.zeros(int(0.02 * sr))]), sr, 0.02, 0.0025 if False else 0.01)
        m = np.repeat(lvl > lv_thr, int(0.01 * sr))[: ph.size]
        speech_parts.append(np.pad(m, (0, ph.size - m.size)))
        pos += ph.size
        if i == len(phrases) - 1:
            break
        dur = float(rng.uniform(0.2, 0.6))
        pre, post = float(rng.uniform(0.15, 0.3)), float(rng.uniform(0.1, 0.25))
        gap = np.zeros(int((pre + dur + post) * sr))
        b = breath_sound(dur, sr, rng) * 10 ** ((speech - float(rng.uniform(15.0, 30.0))) / 20)
        s0 = int(pre * sr)
        gap[s0 : s0 + b.size] += b
        breaths.append((pos + s0, pos + s0 + b.size))
        parts.append(gap)
        speech_parts.append(np.zeros(gap.size, bool))
        pos += gap.size
    parts.append(np.zeros(int(0.5 * sr)))
    speech_parts.append(np.zeros(int(0.5 * sr), bool))
    y = np.concatenate(parts)
    room_dbfs = speech - ROOM_TONE_BELOW_DB
    y = y + pink(y.size, rng) * 10 ** (room_dbfs / 20)
    sm = np.concatenate(speech_parts)
    hop = int(0.01 * sr)
    mask = sm[: (sm.size // hop) * hop].reshape(-1, hop).any(axis=1)
    return BreathCase(name, sr, y.astype(np.float32), breaths, mask, room_dbfs, speech)


def high_shelf(x: np.ndarray, sr: int, f0: float = 5000.0, gain_db: float = 8.0) -> np.ndarray:
    """RBJ cookbook high shelf (slope 1)."""
    a = 10 ** (gain_db / 40)
    w0 = 2 * math.pi * f0 / sr
    alpha = math.sin(w0) / 2 * math.sqrt(2)
    c = math.cos(w0)
    sa = 2 * math.sqrt(a) * alpha
    b = np.array([a * ((a + 1) + (a - 1) * c + sa), -2 * a * ((a - 1) + (a + 1) * c), a * ((a + 1) + (a - 1) * c - sa)])
    den = np.array([(a + 1) - (a - 1) * c + sa, 2 * ((a - 1) - (a + 1) * c), (a + 1) - (a - 1) * c - sa])
    return scipy.signal.lfilter(b / den[0], den / den[0], x).astype(np.float32)
