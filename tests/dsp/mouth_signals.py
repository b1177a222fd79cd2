"""Small synthetic voices with known mouth noises, for the de-click and de-plosive tests."""

from __future__ import annotations

import numpy as np

SR = 48000


def voice(seconds: float = 2.0, *, f0: float = 140.0, seed: int = 0, sr: int = SR) -> np.ndarray:
    """A vowel-like voice (harmonics with a formant-ish tilt, slow vibrato) in syllables with
    pauses, over faint noise; float64, peak about -12 dBFS."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.02 * np.sin(2 * np.pi * 5 * t))) / sr
    v = sum(np.sin(k * phase + k) / k ** 1.2 for k in range(1, 25) if k * f0 < 0.45 * sr)
    env = np.clip(np.sin(2 * np.pi * 1.5 * t), 0, None) ** 0.5  # syllables with pauses between
    x = 0.12 * v * env + 1e-4 * rng.standard_normal(n)
    return x


def damped_click(sr: int = SR, *, ms: float = 1.5, freq: float = 3000.0, peak: float = 0.05) -> np.ndarray:
    n = int(ms * sr / 1000)
    t = np.arange(n) / sr
    c = np.exp(-t / (ms / 4000)) * np.sin(2 * np.pi * freq * t + 0.3)
    c[-1] = 0.0
    return peak * c / np.max(np.abs(c))


def pop(sr: int = SR, *, ms: float = 50.0, rms: float = 0.05) -> np.ndarray:
    """A low-frequency thump: a damped 60 Hz swing with a fast attack."""
    n = int(ms * sr / 1000)
    t = np.arange(n) / sr
    p = np.minimum(1.0, t / 0.003) * np.exp(-t / (ms / 3000)) * np.sin(2 * np.pi * 60 * t)
    p *= 0.5 + 0.5 * np.cos(np.pi * np.clip((t - 0.8 * t[-1]) / (0.2 * t[-1]), 0, 1))
    return rms * p / np.sqrt(np.mean(p ** 2))
