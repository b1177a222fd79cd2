"""Apply's render: the chain over the whole source, for the AFTER view (no Qt here).

:func:`render_preview` builds the processor the CLI builds (:func:`app.session.build_processor`,
i.e. :func:`app.pipeline.prepare_processor`), renders the source through
:func:`dsp.render.render_blocks` (and the project's edits that keep source time, through the
same :class:`dsp.edits.EditRenderer` an export uses) into a float32 WAV (atomically), and gathers what the views draw
from it on the way or after: the waveform pyramid, the spectral holes that remain (against the
project's room tone) and the 100 ms K-weighted energies of the Loudness view's "after" curve.
The workstation runs it as a job; it reports ``progress(fraction)`` and stops when
``cancelled()`` turns true (nothing is left under ``out``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app.overview import WaveformPyramid
from app.pipeline import edit_setup
from app.session.session import build_processor
from dsp.edits import Cut
from dsp.events import found_events
from dsp.holes import detect_holes
from dsp.io import AtomicWriter, AudioReader
from dsp.loudness_timeline import TimelineMeter
from dsp.render import render_blocks


@dataclass
class RenderResult:
    """What Apply produced: the project it rendered, the output file, its pyramid and holes."""

    project: Any
    path: Path
    pyramid: WaveformPyramid
    holes: Any = None  # dsp.holes.HoleMap | None
    seconds: float = 0.0
    loudness_energy: np.ndarray | None = None  # 100 ms K-weighted energies (dsp.loudness_timeline)
    #: what the stages' detectors found: kind -> (n, 2) float array of (start_s, end_s)
    events: dict[str, np.ndarray] = field(default_factory=dict)


def detect_holes_left(project, original_path, processed_path):
    """The spectral holes a render still has against the project's room tone (None without a
    profile or for a render that is not the processed signal)."""
    if project.profile is None or project.chain.listen != "processed":
        return None

    with AudioReader(original_path) as a, AudioReader(processed_path) as b:
        return detect_holes(a, b, project.profile, a.sample_rate,
                            max_total_reduction_db=project.chain.max_total_reduction_db, keep_level=False)


def in_place_edits(project) -> tuple:
    """The edits Apply's render shows: all but the cuts (the views stay in source time)."""
    return tuple(e for e in project.edits if not isinstance(e, Cut))


def render_preview(project, out: str | Path, progress: Callable[[float], None],
                   cancelled: Callable[[], bool]) -> RenderResult:
    """Render ``project`` (its source through its chain and its edits) into ``out`` for the AFTER
    view. The views are in source time, so the edits that keep it (process selection, room tone,
    gain, spectral repair) are rendered and the cuts are not: the views shade those instead."""
    t0 = time.perf_counter()
    out = Path(out)
    src = project.source
    processor, context = build_processor(project, with_context=True)
    in_place = in_place_edits(project)
    with AudioReader(src.path) as reader:
        loudness = TimelineMeter(reader.sample_rate, reader.channels)  # the Loudness view's after curve
        setup = edit_setup(reader, project.chain, in_place, context)
        report = lambda d, t: progress(0.85 * d / t)  # noqa: E731
        blocks = (render_blocks(reader, processor, progress=report, cancel=cancelled) if setup is None
                  else setup.renderer(reader, processor).blocks(progress=report, cancel=cancelled))
        with AtomicWriter(out, reader.sample_rate, reader.channels, "float32") as w:
            for block in blocks:
                w.write(block)
                loudness.add(block)
            w.commit()
    with AudioReader(out) as r:
        pyr = WaveformPyramid.build(r, cancel=cancelled)
    progress(0.9)
    holes = detect_holes_left(project, src.path, out)
    return RenderResult(project, out, pyr, holes, time.perf_counter() - t0, loudness.energies(),
                        found_events(context.extras))
