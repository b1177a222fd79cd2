"""A two-voice dev file for the speaker-level tests: two readers take turns, one of them quieter.

Built from ``clean/`` of the dev data (never copied into the repo): two LibriSpeech readers
(16 kHz) are first matched in integrated loudness, then cut into ``pieces`` turns each that
alternate with 0.8 s pauses, the second voice ``drop_db`` lower, over a -65 dBFS noise bed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

VOICE_A = "clean/s03_libri_198.flac"
VOICE_B = "clean/s04_libri_3436.flac"


def two_voices(data: Path, drop_db: float = 12.0, *, pieces: int = 4, a: str = VOICE_A, b: str = VOICE_B,
               seed: int = 1) -> tuple[np.ndarray, int]:
    """``(mono float32 samples, sample_rate)`` of alternating turns, voice B ``drop_db`` under voice A."""
    from dsp.loudness_timeline import gated_loudness, timeline_energies

    xa, sr = sf.read(str(Path(data) / a), dtype="float32")
    xb, sr_b = sf.read(str(Path(data) / b), dtype="float32")
    assert sr == sr_b, (sr, sr_b)
    la = gated_loudness(timeline_energies(xa[None], sr))
    lb = gated_loudness(timeline_energies(xb[None], sr))
    xb = xb * np.float32(10.0 ** ((la - lb - drop_db) / 20.0))
    gap = np.zeros(int(0.8 * sr), np.float32)
    parts: list[np.ndarray] = []
    for pa, pb in zip(np.array_split(xa, pieces), np.array_split(xb, pieces), strict=True):
        parts += [pa, gap, pb, gap]
    x = np.concatenate(parts)
    rng = np.random.default_rng(seed)
    return (x + rng.standard_normal(x.size).astype(np.float32) * np.float32(10 ** (-65 / 20))).astype(np.float32), sr
