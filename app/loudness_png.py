"""A Qt-free PNG of short-term loudness before/after with the phrases coloured by level.

The batch report's loudness picture (the workstation's Loudness view draws the same with
pyqtgraph). Numpy only, in the style of :mod:`app.spectrogram_png` (its PNG encoder and bitmap
font): the source's short-term loudness as a thin cyan line, the output's in amber; each phrase
as a bar at its loudness, thin for the source and thick for the output, coloured by
:func:`app.loudness_timeline.level_colour` relative to that file's typical phrase level. The
after curve can be drawn level-matched (``after_offset_db``: the loudness gain taken off) so
what changed between voices shows, not the overall level.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from app.loudness_timeline import phrase_colours
from app.spectrogram_png import _nice_step, _text, encode_png
from dsp.io import check_target, write_text_atomic
from dsp.loudness_timeline import LoudnessTimeline

BEFORE_COLOUR = (88, 196, 214)
AFTER_COLOUR = (240, 179, 90)
GRID_COLOUR = (44, 46, 52)
BACKGROUND = 16
LEFT, BOTTOM, PAD = 64, 24, 16


def _y_range(timelines: list[LoudnessTimeline], offsets: list[float]) -> tuple[float, float]:
    tops = []
    for tl, off in zip(timelines, offsets, strict=True):
        st = tl.short_term_lufs[np.isfinite(tl.short_term_lufs)] + off
        if st.size:
            tops.append(float(st.max()))
        tops += [p.loudness_lufs + off for p in tl.phrases if math.isfinite(p.loudness_lufs)]
    top = max(tops) if tops else -20.0
    top = min(0.0, math.ceil((top + 3.0) / 6.0) * 6.0)
    return top - 48.0, top


def _column_values(tl: LoudnessTimeline, duration_s: float, width: int, offset: float) -> np.ndarray:
    """The curve at each pixel column: the loudest value the column spans (nan where none)."""
    v = tl.short_term_lufs + offset
    t = tl.times_s
    out = np.full(width, np.nan)
    if not v.size or duration_s <= 0:
        return out
    col = np.clip((t / duration_s * width).astype(int), 0, width - 1)
    finite = np.isfinite(v)
    np.fmax.at(out, col[finite], v[finite])
    # columns between values (a short file on a wide picture): the nearest value
    idx = np.flatnonzero(np.isfinite(out))
    if idx.size:
        gaps = np.flatnonzero(~np.isfinite(out))
        near = idx[np.clip(np.searchsorted(idx, gaps), 0, idx.size - 1)]
        out[gaps] = out[near]
        out[: idx[0]] = np.nan
        out[idx[-1] + 1 :] = np.nan
    return out


def render_loudness(before: LoudnessTimeline, after: LoudnessTimeline | None, duration_s: float, *,
                    width: int = 1000, height: int = 200, after_offset_db: float = 0.0) -> np.ndarray:
    """An ``(H, W, 3)`` uint8 picture (see the module docstring)."""
    tls = [before] + ([after] if after is not None else [])
    offs = [0.0] + ([after_offset_db] if after is not None else [])
    lo, hi = _y_range(tls, offs)
    img = np.full((height + BOTTOM + PAD, width + LEFT + PAD, 3), BACKGROUND, np.uint8)
    y0 = PAD // 2  # room above the top label

    def row(lufs: float) -> int:
        f = (hi - lufs) / (hi - lo)
        return int(round(y0 + min(max(f, 0.0), 1.0) * (height - 1)))

    plot = img[y0 : y0 + height, LEFT : LEFT + width]
    plot[:] = 22
    # level grid and labels every 6 LU
    for level in np.arange(hi, lo - 1e-9, -6.0):
        r = row(level)
        img[r, LEFT : LEFT + width] = GRID_COLOUR
        img[r, LEFT - 4 : LEFT] = 200
        _text(img, 2, max(0, r - 5), f"{level:g}")
    # phrases: thin source bars, thick output bars
    for tl, off, thick in ((before, 0.0, 2), (after, after_offset_db, 6)):
        if tl is None:
            continue
        for p, colour in zip(tl.phrases, phrase_colours(tl), strict=True):
            if not math.isfinite(p.loudness_lufs) or duration_s <= 0:
                continue
            x0 = LEFT + int(p.start_s / duration_s * width)
            x1 = max(x0 + 1, LEFT + int(math.ceil(p.end_s / duration_s * width)))
            r = row(p.loudness_lufs + off)
            half = thick // 2
            img[max(y0, r - half) : min(y0 + height, r - half + thick), x0 : min(x1, LEFT + width)] = colour
    # curves: source thin, output on top
    for tl, off, colour, thick in ((before, 0.0, BEFORE_COLOUR, 1), (after, after_offset_db, AFTER_COLOUR, 2)):
        if tl is None:
            continue
        vals = _column_values(tl, duration_s, width, off)
        prev = None
        for x in range(width):
            if not np.isfinite(vals[x]):
                prev = None
                continue
            r = row(float(vals[x]))
            a, b = (r, r) if prev is None else (min(prev, r), max(prev, r))
            img[a : b + thick, LEFT + x : LEFT + x + 1] = colour
            prev = r
    # time ruler
    if duration_s > 0:
        step = _nice_step(duration_s, 8)
        for t in np.arange(0, duration_s + 1e-9, step):
            c = LEFT + int(round(t / duration_s * (width - 1)))
            img[y0 + height : y0 + height + 4, c] = 200
            _text(img, min(c, img.shape[1] - 40), y0 + height + 6, f"{t:g}s")
    return img


def write_loudness_png(path: str | os.PathLike, before: LoudnessTimeline, after: LoudnessTimeline | None,
                       duration_s: float, **kw) -> Path:
    """Write :func:`render_loudness` as a PNG (atomically). Returns the path."""
    path = Path(path)
    check_target(path)
    write_text_atomic(path, encode_png(render_loudness(before, after, duration_s, **kw)))
    return path
