"""Batch's loudness vocabulary: targets, the programme meter, true peak and the limiter.

The implementations live in the DSP core, where every export uses them too (issue 21):
:mod:`dsp.loudness` (BS.1770-4 meter, targets, the loudness gain stage) and :mod:`dsp.truepeak`
(oversampled true peak, the look-ahead true-peak limiter and its engine stage). This module
keeps the names batch, its report and its dialog have always imported.
"""

from __future__ import annotations

from dsp.loudness import (
    ABSOLUTE_GATE_LUFS,
    CLIP_LEVEL,
    LRA_RELATIVE_GATE_LU,
    RELATIVE_GATE_LU,
    SILENCE_DBFS,
    TARGET_CHOICES,
    TARGETS,
    LoudnessGain,
    LoudnessStats,
    ProgramMeter,
    integrated_loudness,
    resolve_target,
)
from dsp.truepeak import (
    OVERSAMPLE,
    OVERSAMPLED_RATE,
    REFERENCE_RATE,
    Oversampler,
    TruePeakLimiter,
    TruePeakLimiterProcessor,
    oversampling_factor,
    true_peak,
)

__all__ = [
    "ABSOLUTE_GATE_LUFS", "CLIP_LEVEL", "LRA_RELATIVE_GATE_LU", "OVERSAMPLE", "OVERSAMPLED_RATE",
    "REFERENCE_RATE", "RELATIVE_GATE_LU", "SILENCE_DBFS", "TARGETS", "TARGET_CHOICES", "LoudnessGain",
    "LoudnessStats", "Oversampler", "ProgramMeter", "TruePeakLimiter", "TruePeakLimiterProcessor",
    "integrated_loudness", "oversampling_factor", "resolve_target", "true_peak",
]
