"""What the Loudness view and the report's loudness picture show, computed without Qt.

* :func:`analyse_source`: the source's :class:`dsp.loudness_timeline.LoudnessTimeline`, its phrases
  from the voice activity model (:func:`app.pipeline.speech_track`) or, where the model cannot
  run (or ``use_vad=False``), from the energy detector; the timeline's ``note`` says which and why.
* :func:`analyse_render`: a render's timeline measured over the source's phrases (the same spans
  before and after, so their levels compare phrase by phrase).
* :func:`level_colour`: the colour scale of phrase levels, relative to the file's typical phrase
  level (the duration-weighted median): quiet (-6 LU and under) blue, -3 LU cyan, typical green,
  +3 LU orange, loud (+6 LU and over) red. The view and the PNG share it.
* :func:`spread_text`: "speaker-level spread" before -> after, for the view and the report.

Both analyses read the file block by block (:func:`dsp.loudness_timeline.loudness_timeline`):
memory is one float per 100 ms plus one block, whatever the file's length.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from app.pipeline import speech_track
from dsp.io import AudioReader
from dsp.loudness_timeline import LoudnessTimeline, Phrase, loudness_timeline

#: Colour scale anchors: (level relative to the typical phrase level, LU; RGB).
LEVEL_SCALE: tuple[tuple[float, tuple[int, int, int]], ...] = (
    (-6.0, (61, 123, 255)),   # quiet: blue
    (-3.0, (63, 193, 214)),   # a little quiet: cyan
    (0.0, (63, 185, 80)),     # typical: green
    (3.0, (240, 160, 48)),    # a little loud: orange
    (6.0, (255, 90, 78)),     # loud: red
)
#: Levels within this of the typical one count as "typical" in words (LU).
TYPICAL_LU = 1.5


def level_colour(relative_lu: float) -> tuple[int, int, int]:
    """RGB of a phrase ``relative_lu`` from the typical level (clamped to +/-6 LU; grey if unknown)."""
    if relative_lu is None or not math.isfinite(relative_lu):
        return (128, 128, 128)
    xs = [a for a, _ in LEVEL_SCALE]
    v = min(max(float(relative_lu), xs[0]), xs[-1])
    return tuple(int(round(np.interp(v, xs, [c[i] for _, c in LEVEL_SCALE]))) for i in range(3))  # type: ignore[return-value]


def phrase_colours(timeline: LoudnessTimeline) -> list[tuple[int, int, int]]:
    """:func:`level_colour` of each phrase of ``timeline`` relative to its typical level."""
    ref = timeline.typical_lufs
    return [level_colour(p.loudness_lufs - ref if math.isfinite(ref) else math.nan) for p in timeline.phrases]


def _speech(reader: AudioReader, use_vad: bool) -> tuple[Any, str]:
    if not use_vad:
        return None, "phrases found by level over the noise floor (voice activity model not used)"

    found = speech_track(reader)
    if "speech" in found:
        return found["speech"], ""
    why = str(found.get("speech_detector", "voice activity model unavailable")).split(";")[0]
    return None, f"phrases found by level over the noise floor: {why}"


def analyse_source(path: str | Path, *, use_vad: bool = True, cancel: Callable[[], bool] | None = None,
                   progress: Callable[[float], None] | None = None) -> LoudnessTimeline:
    """The source file's loudness timeline with its phrases (VAD, or energy with a note)."""
    with AudioReader(path) as reader:
        speech, note = _speech(reader, use_vad)
        prog = (lambda d, t: progress(d / t if t else 1.0)) if progress is not None else None
        return loudness_timeline(reader, reader.sample_rate, speech, note=note, cancel=cancel, progress=prog)


def analyse_render(path: str | Path, phrases: tuple[Phrase, ...] | list[Phrase], *,
                   cancel: Callable[[], bool] | None = None,
                   progress: Callable[[float], None] | None = None) -> LoudnessTimeline:
    """A render's loudness timeline measured over ``phrases`` (the source's)."""
    with AudioReader(path) as reader:
        prog = (lambda d, t: progress(d / t if t else 1.0)) if progress is not None else None
        return loudness_timeline(reader, reader.sample_rate, phrases=tuple(phrases), cancel=cancel, progress=prog)


def _lu(v: float | None) -> str:
    if v is None or not math.isfinite(v):
        return "n/a"
    return f"{v:.1f} LU"


def spread_text(before: LoudnessTimeline | None, after: LoudnessTimeline | None = None) -> str:
    """``"Speaker-level spread 12.3 LU → 2.1 LU"`` (or only the before figure)."""
    if before is None:
        return ""
    text = f"Speaker-level spread {_lu(before.spread_lu)}"
    if after is not None:
        text += f" \u2192 {_lu(after.spread_lu)}"
    return text
