"""Speech / pause segmentation: an energy detector and the seam where learned detectors plug in.

A *speech detector* is any callable ``detector(audio, sample_rate) -> regions`` taking mono
float audio (1-D) and returning a ``(n, 2)`` float64 array of speech regions ``[start_s, end_s)``
in seconds, sorted and non-overlapping. Detectors live in a small registry:

- ``"energy"`` (always present, :func:`detect_speech_energy`): short-time power in 20 ms windows
  every 5 ms; a frame is speech when it lies above ``reference + silence_threshold_db`` where the
  reference is the 99th percentile of frame power (de Jong & Wempe 2009 use -25 dB re the
  99 % quantile of intensity) and at least ``min_snr_db`` above the noise floor (5th percentile),
  so a noisy recording does not count its noise as speech. Gaps shorter than ``min_pause_s`` are
  closed, speech islands shorter than ``min_speech_s`` dropped. Boundaries are accurate to about
  half a window (10 ms) on abrupt onsets; the result does not depend on level or sample rate.
- A learned detector (silero VAD, ``models/vad.py``) registers itself with
  :func:`register_detector` when its module is imported; :func:`get_detector` with ``"auto"``
  prefers it, lazily importing ``models.vad`` if it exists, and falls back to ``"energy"``.

All times are seconds.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dsp.errors import ParameterError

SpeechDetector = Callable[[np.ndarray, int], np.ndarray]

_REGISTRY: dict[str, tuple[int, SpeechDetector]] = {}
_LEARNED_MODULES = ("models.vad",)


@dataclass(frozen=True)
class EnergyDetectorSettings:
    """Parameters of the energy detector (see the module docstring)."""

    window_ms: float = 20.0
    hop_ms: float = 5.0
    silence_threshold_db: float = -25.0
    reference_percentile: float = 99.0
    floor_percentile: float = 5.0
    min_snr_db: float = 8.0
    min_pause_s: float = 0.1
    min_speech_s: float = 0.04


def frame_power_db(audio: np.ndarray, sample_rate: int, *, window_ms: float = 20.0,
                   hop_ms: float = 5.0) -> tuple[np.ndarray, np.ndarray]:
    """Short-time mean power in dB (re full scale 1.0) of a rectangular window, centred frames.

    Parameters
    ----------
    audio : ndarray, shape (samples,)
        Mono audio.
    sample_rate : int
        Hz.
    window_ms, hop_ms : float
        Window length and hop in milliseconds.

    Returns
    -------
    times_s : ndarray, shape (frames,)
        Frame centres in seconds.
    power_db : ndarray, shape (frames,)
        ``10 log10(mean(x^2) + 1e-12)`` per frame.
    """
    x = np.asarray(audio, dtype=np.float64)
    win = max(1, int(round(window_ms * 1e-3 * sample_rate)))
    hop = max(1, int(round(hop_ms * 1e-3 * sample_rate)))
    n_frames = max(1, int(np.ceil(len(x) / hop)))
    centres = np.arange(n_frames) * hop + hop // 2
    c = np.concatenate(([0.0], np.cumsum(x * x)))
    lo = np.clip(centres - win // 2, 0, len(x))
    hi = np.clip(centres - win // 2 + win, 0, len(x))
    count = np.maximum(hi - lo, 1)
    power = (c[hi] - c[lo]) / count
    return centres / float(sample_rate), 10.0 * np.log10(power + 1e-12)


def true_runs(mask: np.ndarray) -> np.ndarray:
    """Index runs ``[start, stop)`` of True values, shape (n, 2)."""
    m = np.concatenate(([False], np.asarray(mask, bool), [False]))
    d = np.flatnonzero(np.diff(m.astype(np.int8)))
    return d.reshape(-1, 2)


def detect_speech_energy(audio: np.ndarray, sample_rate: int, *,
                         settings: EnergyDetectorSettings | None = None) -> np.ndarray:
    """Speech regions by short-time energy against a level-relative threshold.

    Parameters
    ----------
    audio : ndarray, shape (samples,)
        Mono audio, float.
    sample_rate : int
        Hz.
    settings : EnergyDetectorSettings, optional

    Returns
    -------
    ndarray, shape (n, 2)
        Speech regions ``[start_s, end_s)`` in seconds.
    """
    s = settings or EnergyDetectorSettings()
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim != 1:
        raise ParameterError(f"speech detection expects mono audio (1-D), got shape {x.shape}")
    if len(x) == 0:
        return np.zeros((0, 2))
    times, db = frame_power_db(x, sample_rate, window_ms=s.window_ms, hop_ms=s.hop_ms)
    hop_s = s.hop_ms * 1e-3
    ref = float(np.percentile(db, s.reference_percentile))
    floor = float(np.percentile(db, s.floor_percentile))
    threshold = max(ref + s.silence_threshold_db, floor + s.min_snr_db)
    if ref - floor < s.min_snr_db or ref < -100.0:
        # No dynamics at all: digital silence, or a steady sound. All speech or all silence.
        return np.zeros((0, 2)) if ref < -100.0 else np.array([[0.0, len(x) / sample_rate]])
    runs = true_runs(db > threshold)
    if len(runs) == 0:
        return np.zeros((0, 2))
    # close short gaps
    merged = [list(runs[0])]
    for a, b in runs[1:]:
        if (a - merged[-1][1]) * hop_s < s.min_pause_s:
            merged[-1][1] = b
        else:
            merged.append([a, b])
    out = []
    dur = len(x) / sample_rate
    for a, b in merged:
        if (b - a) * hop_s < s.min_speech_s:
            continue
        start = max(0.0, times[a] - hop_s / 2)
        end = min(dur, times[b - 1] + hop_s / 2)
        out.append((start, end))
    return np.array(out, dtype=np.float64).reshape(-1, 2)


def register_detector(name: str, detector: SpeechDetector, *, priority: int = 10) -> None:
    """Make ``detector`` available under ``name``; ``"auto"`` picks the highest priority.

    The energy detector has priority 0; a learned VAD should register with a higher one.
    """
    _REGISTRY[name] = (priority, detector)


def _load_learned() -> None:
    for modname in _LEARNED_MODULES:
        try:
            importlib.import_module(modname)
        except ImportError:
            continue


def available_detectors() -> list[str]:
    """Names of the registered detectors, best first (learned ones register when importable)."""
    _load_learned()
    return [k for k, _ in sorted(_REGISTRY.items(), key=lambda kv: -kv[1][0])]


def get_detector(name: str = "auto") -> SpeechDetector:
    """The detector called ``name``; ``"auto"`` is the best registered one (energy as fallback).

    Raises
    ------
    ParameterError
        If no detector of that name is registered.
    """
    names = available_detectors()
    if name == "auto":
        return _REGISTRY[names[0]][1]
    if name not in _REGISTRY:
        raise ParameterError(
            f"unknown speech detector '{name}'; available: auto, {', '.join(names)}"
        )
    return _REGISTRY[name][1]


register_detector("energy", lambda audio, sample_rate: detect_speech_energy(audio, sample_rate),
                  priority=0)
