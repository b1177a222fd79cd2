"""``roomtone info FILE...``: what a file holds and its levels, measured block-wise.

Levels are dBFS of the samples as read (float, full scale 1.0). Clipped samples are those with
``|x| >= 0.999``; a clip run is a stretch of consecutive clipped samples in one channel (a run
crossing a block boundary counts once). Damaged float samples (NaN, Inf, beyond +-1000) are
counted and measured as 0.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict, dataclass, field

import numpy as np

from app.timecode import format_time
from dsp.errors import RoomtoneError
from dsp.io import AudioReader

CLIP_LEVEL = 0.999
BLOCK = 1 << 18


@dataclass
class FileLevels:
    """Format and level measurements of one file (per channel lists, then overall values)."""

    path: str
    format: str
    subtype: str
    sample_rate: int
    channels: int
    frames: int
    duration_s: float
    peak_dbfs: float
    rms_dbfs: float
    clipped_samples: int
    clip_runs: int
    dc_offset: float
    nonfinite_samples: int
    channel_peak_dbfs: list[float] = field(default_factory=list)
    channel_rms_dbfs: list[float] = field(default_factory=list)
    channel_dc_offset: list[float] = field(default_factory=list)
    channel_clipped_samples: list[int] = field(default_factory=list)
    #: What the reader had to work around (a FLAC header contradicting its frames, ...).
    notes: list[str] = field(default_factory=list)


def _db(x: float) -> float:
    return 20.0 * math.log10(x) if x > 0 else -math.inf


def measure_file(path: str) -> FileLevels:
    """Read ``path`` block by block and measure it (bounded memory for any length).

    Raises
    ------
    InputError
        If the file cannot be read.
    """
    with AudioReader(path) as reader:
        ch = reader.channels
        peak = np.zeros(ch)
        sumsq = np.zeros(ch)
        total = np.zeros(ch)
        clipped = np.zeros(ch, np.int64)
        runs = np.zeros(ch, np.int64)
        prev_clipped = np.zeros(ch, bool)
        for block in reader.blocks(BLOCK):
            a = np.abs(block)
            peak = np.maximum(peak, a.max(axis=1))
            b64 = block.astype(np.float64)
            sumsq += np.einsum("ij,ij->i", b64, b64)
            total += b64.sum(axis=1)
            c = a >= CLIP_LEVEL
            clipped += c.sum(axis=1)
            # run starts: clipped here and not clipped just before (previous block's last sample)
            before = np.concatenate([prev_clipped[:, None], c[:, :-1]], axis=1)
            runs += (c & ~before).sum(axis=1)
            prev_clipped = c[:, -1]
        n = reader.frames
        info = reader.info
        rms_ch = np.sqrt(sumsq / n)
        dc_ch = total / n
        return FileLevels(
            path=str(path), format=info.format, subtype=info.subtype, sample_rate=info.sample_rate,
            channels=ch, frames=n, duration_s=n / info.sample_rate,
            peak_dbfs=_db(float(peak.max())), rms_dbfs=_db(float(np.sqrt(sumsq.sum() / (n * ch)))),
            clipped_samples=int(clipped.sum()), clip_runs=int(runs.sum()),
            dc_offset=float(total.sum() / (n * ch)), nonfinite_samples=reader.nonfinite_count,
            channel_peak_dbfs=[_db(float(p)) for p in peak], channel_rms_dbfs=[_db(float(r)) for r in rms_ch],
            channel_dc_offset=[float(d) for d in dc_ch], channel_clipped_samples=[int(c) for c in clipped],
            notes=list(reader.warnings),
        )


def _json_safe(d: dict) -> dict:
    def fix(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None  # -inf dBFS (digital silence) -> null
        if isinstance(v, list):
            return [fix(x) for x in v]
        return v

    return {k: fix(v) for k, v in d.items()}


def _fmt_db(v: float) -> str:
    return "-inf dBFS (silence)" if not math.isfinite(v) else f"{v:.2f} dBFS"


def format_levels(m: FileLevels) -> str:
    lines = [
        m.path,
        f"  format       {m.format} ({m.subtype})",
        f"  sample rate  {m.sample_rate} Hz",
        f"  channels     {m.channels}",
        f"  duration     {format_time(m.duration_s)} ({m.frames} samples)",
        f"  peak         {_fmt_db(m.peak_dbfs)}",
        f"  RMS          {_fmt_db(m.rms_dbfs)}",
        f"  clipped      {m.clipped_samples} samples in {m.clip_runs} run{'s' if m.clip_runs != 1 else ''} (|x| >= {CLIP_LEVEL})",
        f"  DC offset    {m.dc_offset:+.6f} ({_fmt_db(_db(abs(m.dc_offset)))})",
        f"  non-finite   {m.nonfinite_samples} samples (NaN/Inf or beyond +-1000, read as 0)",
    ]
    if m.channels > 1:
        for i in range(m.channels):
            lines.append(
                f"  channel {i + 1:<3}  peak {_fmt_db(m.channel_peak_dbfs[i])}, RMS {_fmt_db(m.channel_rms_dbfs[i])}, "
                f"DC {m.channel_dc_offset[i]:+.6f}, clipped {m.channel_clipped_samples[i]}"
            )
    lines += [f"  note         {n}" for n in m.notes]
    return "\n".join(lines)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "info",
        help="show format, duration and levels of audio files",
        description="Show format, rate, channels, duration, peak and RMS level, clipped samples, DC offset "
        "and non-finite samples of each FILE (measured block-wise: any length works).",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="audio file(s)")
    p.add_argument("--json", action="store_true", help="print a JSON list with one object per file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    results = []
    code = 0
    for i, path in enumerate(args.files):
        try:
            m = measure_file(path)
        except RoomtoneError as exc:
            if len(args.files) == 1:
                raise
            sys.stderr.write(f"roomtone: error: {' '.join(str(exc).split())}\n")
            code = code or exc.exit_code
            continue
        if args.json:
            results.append(_json_safe(asdict(m)))
        else:
            if i:
                print()
            print(format_levels(m), flush=True)
    if args.json:
        print(json.dumps(results, indent=1))
    return code
