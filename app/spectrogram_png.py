"""A Qt-free, matplotlib-free PNG of a spectrogram (dB, magma-like colours) with a hole-map overlay.

Everything is numpy plus ``zlib``/``struct``: colour mapping, resampling to the image size, a
tiny 3x5 bitmap font for tick labels, and the PNG encoder. Batch reports reuse it. Like the
workstation's views, the picture carries a colour legend (the dB range as a bar, labelled at
both ends) unless ``legend=False``.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np

from dsp.io import check_target, write_text_atomic

#: Anchor colours of a magma-like perceptual map (dark purple -> orange -> pale yellow).
_MAGMA = np.array([
    (0.000, 0, 0, 4), (0.125, 28, 16, 68), (0.250, 79, 18, 123), (0.375, 129, 37, 129),
    (0.500, 181, 54, 122), (0.625, 229, 80, 100), (0.750, 251, 135, 97), (0.875, 254, 194, 135),
    (1.000, 252, 253, 191),
], np.float64)
HOLE_COLOUR = np.array([0, 230, 255], np.float64)  # cyan: absent from magma, so holes stand out

_FONT = {  # 3x5 glyphs, rows top to bottom, 3 bits each
    "0": (7, 5, 5, 5, 7), "1": (2, 6, 2, 2, 7), "2": (7, 1, 7, 4, 7), "3": (7, 1, 7, 1, 7),
    "4": (5, 5, 7, 1, 1), "5": (7, 4, 7, 1, 7), "6": (7, 4, 7, 5, 7), "7": (7, 1, 1, 1, 1),
    "8": (7, 5, 7, 5, 7), "9": (7, 5, 7, 1, 7), ".": (0, 0, 0, 0, 2), "k": (4, 5, 6, 5, 5),
    "s": (0, 7, 4, 1, 7), "H": (5, 5, 7, 5, 5), "z": (0, 7, 1, 4, 7), " ": (0, 0, 0, 0, 0),
    ":": (0, 2, 0, 2, 0), "m": (0, 5, 7, 5, 5), "-": (0, 0, 7, 0, 0), "d": (1, 1, 7, 5, 7),
    "B": (6, 5, 6, 5, 6),
}
LEGEND_WIDTH = 60  # pixels right of the picture: an 8 px bar and its labels


def colour_map(values: np.ndarray) -> np.ndarray:
    """Map values in [0, 1] to RGB uint8 (..., 3) with the magma-like map."""
    v = np.clip(np.asarray(values, np.float64), 0.0, 1.0)
    out = np.empty(v.shape + (3,), np.float64)
    for ch in range(3):
        out[..., ch] = np.interp(v, _MAGMA[:, 0], _MAGMA[:, ch + 1])
    return out.round().astype(np.uint8)


def encode_png(rgb: np.ndarray) -> bytes:
    """PNG bytes of an ``(height, width, 3)`` uint8 image."""
    rgb = np.ascontiguousarray(rgb, np.uint8)
    h, w, _ = rgb.shape
    raw = np.zeros((h, 1 + 3 * w), np.uint8)
    raw[:, 1:] = rgb.reshape(h, 3 * w)

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw.tobytes(), 6)) + chunk(b"IEND", b""))


def decode_png(data: bytes) -> np.ndarray:
    """The ``(height, width, 3)`` uint8 image of PNG bytes written by :func:`encode_png` (8-bit RGB,
    filter 0; for tests and checks of what the product wrote). Raises ValueError otherwise."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG file")
    pos, idat, size = 8, b"", None
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        tag, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        if zlib.crc32(tag + body) & 0xFFFFFFFF != struct.unpack(">I", data[pos + 8 + n : pos + 12 + n])[0]:
            raise ValueError(f"damaged PNG chunk {tag!r}")
        if tag == b"IHDR":
            if body[8:13] != bytes([8, 2, 0, 0, 0]):
                raise ValueError("not an 8-bit RGB PNG as encode_png writes")
            size = struct.unpack(">II", body[:8])
        elif tag == b"IDAT":
            idat += body
        pos += 12 + n
    if size is None:
        raise ValueError("PNG without a header")
    w, h = size
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, 1 + 3 * w)
    if np.any(raw[:, 0] != 0):
        raise ValueError("PNG rows use filters encode_png does not write")
    return raw[:, 1:].reshape(h, w, 3)


def _text(img: np.ndarray, x: int, y: int, s: str, colour=(220, 220, 220), scale: int = 2) -> None:
    for ch in s:
        glyph = _FONT.get(ch, _FONT[" "])
        for r, bits in enumerate(glyph):
            for c in range(3):
                if bits & (4 >> c):
                    y0, x0 = y + r * scale, x + c * scale
                    if 0 <= y0 and y0 + scale <= img.shape[0] and 0 <= x0 and x0 + scale <= img.shape[1]:
                        img[y0 : y0 + scale, x0 : x0 + scale] = colour
        x += 4 * scale


def _nice_step(span: float, target: int) -> float:
    raw = span / max(target, 1)
    mag = 10 ** np.floor(np.log10(raw)) if raw > 0 else 1.0
    for m in (1, 2, 5, 10):
        if m * mag >= raw:
            return float(m * mag)
    return float(10 * mag)


def _draw_legend(img: np.ndarray, x: int, y: int, height: int, top_db: float, db_range: float) -> None:
    """The colour bar of ``[top_db - db_range, top_db]`` dB at ``(x, y)``, ``height`` tall, labelled."""
    if height < 24:
        return
    img[y : y + height, x : x + 8] = colour_map(np.linspace(1.0, 0.0, height))[:, None, :]
    for label, row in ((f"{top_db:.0f}", y), (f"{top_db - db_range:.0f}", y + height - 10)):
        img[row + 4, x + 8 : x + 11] = 200
        _text(img, x + 13, row, label)
    _text(img, x + 13, y + height // 2 - 5, "dB")


def render_spectrogram(level_db: np.ndarray, sample_rate: int, duration_s: float, *, mask: np.ndarray | None = None,
                       width: int = 1200, height: int = 400, db_range: float = 90.0, top_db: float | None = None,
                       log_frequency: bool = False, min_hz: float = 30.0, legend: bool = True) -> np.ndarray:
    """An ``(H, W, 3)`` uint8 image of ``level_db`` ``(columns, bins)`` with holes (``mask`` > 0) in cyan.

    Frequency runs bottom (0 Hz) to top (Nyquist); time left to right over ``duration_s``. The
    colours run from ``top_db - db_range`` (default top: the loudest cell) to ``top_db``; with
    ``legend`` a colour bar labelled in dB sits right of the picture (:data:`LEGEND_WIDTH` px).
    """
    level_db = np.asarray(level_db, np.float64)
    cols, bins = level_db.shape
    left, bottom, pad = 64, 24, 6
    right = LEGEND_WIDTH if legend else 0
    img = np.full((height + bottom + pad, width + left + pad + right, 3), 16, np.uint8)
    nyq = sample_rate / 2.0
    np.arange(bins) * nyq / max(bins - 1, 1)
    rows = np.arange(height)[::-1]  # image row 0 is the top
    if log_frequency:
        f_rows = min_hz * (nyq / min_hz) ** (rows / max(height - 1, 1))
    else:
        f_rows = rows / max(height - 1, 1) * nyq
    b_idx = np.clip(np.round(f_rows / nyq * (bins - 1)).astype(int), 0, bins - 1)
    c_idx = np.clip((np.arange(width) * cols) // max(width, 1), 0, max(cols - 1, 0))
    if cols == 0 or bins == 0:
        return img
    top = np.nanmax(level_db) if top_db is None else top_db
    if legend:
        _draw_legend(img, left + width + pad + 6, pad // 2, height, float(top), float(db_range))
    grid = level_db[np.ix_(c_idx, b_idx)].T  # (height, width)
    rgb = colour_map((grid - (top - db_range)) / db_range).astype(np.float64)
    if mask is not None and mask.size:
        m = np.asarray(mask, np.float64)[np.ix_(c_idx, b_idx)].T
        alpha = np.clip(m * 2.0, 0.0, 0.85)[..., None]
        rgb = rgb * (1 - alpha) + HOLE_COLOUR * alpha
    img[pad // 2 : pad // 2 + height, left : left + width] = rgb.round().astype(np.uint8)
    # frequency ticks
    if log_frequency:
        ticks = [f for f in (50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000) if min_hz <= f <= nyq]
    else:
        step = _nice_step(nyq, 6)
        ticks = list(np.arange(0, nyq + 1e-9, step))
    for f in ticks:
        r = int(np.argmin(np.abs(f_rows - f))) + pad // 2
        img[r, left - 4 : left] = 200
        label = f"{f / 1000:g}k" if f >= 1000 else f"{f:g}"
        _text(img, 2, max(0, r - 5), label)
    _text(img, 2, height + pad // 2 + 8, "Hz")
    # time ticks
    if duration_s > 0:
        step = _nice_step(duration_s, 8)
        for t in np.arange(0, duration_s + 1e-9, step):
            c = left + int(round(t / duration_s * (width - 1)))
            img[height + pad // 2 : height + pad // 2 + 4, c] = 200
            _text(img, min(c, img.shape[1] - 40), height + pad // 2 + 6, f"{t:g}s")
    return img


def write_spectrogram_png(path: str | os.PathLike, level_db: np.ndarray, sample_rate: int, duration_s: float, **kw) -> Path:
    """Write :func:`render_spectrogram` as a PNG (atomically). Returns the path."""
    path = Path(path)
    check_target(path)
    write_text_atomic(path, encode_png(render_spectrogram(level_db, sample_rate, duration_s, **kw)))
    return path


def write_hole_map_png(path: str | os.PathLike, hole_map, **kw) -> Path:
    """The processed spectrogram of a :class:`dsp.holes.HoleMap` with its holes, as a PNG."""
    return write_spectrogram_png(path, hole_map.level_db, hole_map.sample_rate, hole_map.duration_s,
                                 mask=hole_map.mask, **kw)
