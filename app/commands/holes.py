"""``roomtone holes ORIGINAL PROCESSED --profile room.json``: report the spectral holes processing made."""

from __future__ import annotations

import argparse
import sys

from app.spectrogram_png import write_hole_map_png
from dsp.errors import ParameterError
from dsp.holes import HoleSettings, detect_holes
from dsp.io import AudioReader
from dsp.roomtone import NoiseProfile


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "holes",
        help="find spectral holes (regions pushed far below the room tone) in a processed file",
        description=(
            "Compare a processed file with its original against a room-tone profile and report the "
            "time-frequency regions the processing pushed more than --threshold-db below the floor "
            "(profile mean minus the chain's total reduction)."
        ),
    )
    p.add_argument("original", help="the original (unprocessed) audio file")
    p.add_argument("processed", help="the processed file, same rate, channels and alignment")
    p.add_argument("--profile", required=True, help="room-tone profile (.json) learned from the original")
    p.add_argument("--json", dest="json_out", metavar="OUT.json", help="write the hole map (regions, summary) as JSON")
    p.add_argument("--png", dest="png_out", metavar="MAP.png", help="write the processed spectrogram with holes in cyan")
    p.add_argument("--max-total-reduction-db", type=float, default=15.0,
                   help="the chain's total reduction cap; the floor is the room tone minus this (default 15)")
    p.add_argument("--threshold-db", type=float, default=6.0, help="dB below the floor that counts as a hole (default 6)")
    p.add_argument("--min-hole-ms", type=float, default=30.0, help="shortest reported hole, ms (default 30)")
    p.add_argument("--min-bandwidth-octaves", type=float, default=1.0 / 3.0, help="narrowest hole, octaves (default 1/3)")
    p.add_argument("--top", type=int, default=10, help="how many of the largest holes to list (default 10)")
    p.add_argument("--log-frequency", action="store_true", help="log frequency axis in the PNG")
    p.set_defaults(func=run)
    return p


def _fmt_time(s: float) -> str:
    m, sec = divmod(s, 60.0)
    return f"{int(m)}:{sec:06.3f}"


def run(args: argparse.Namespace) -> int:
    settings = HoleSettings(threshold_db=args.threshold_db, min_hole_ms=args.min_hole_ms,
                            min_bandwidth_octaves=args.min_bandwidth_octaves)
    profile = NoiseProfile.load(args.profile)
    with AudioReader(args.original) as orig, AudioReader(args.processed) as proc:
        if orig.sample_rate != proc.sample_rate:
            raise ParameterError(
                f"{args.processed}: {proc.sample_rate} Hz but the original is {orig.sample_rate} Hz; "
                "compare a file with its own processed version"
            )
        if orig.frames != proc.frames:
            print(f"note: lengths differ ({orig.frames} vs {proc.frames} samples); comparing the common part",
                  file=sys.stderr)
        hm = detect_holes(orig, proc, profile, orig.sample_rate, settings=settings,
                          max_total_reduction_db=args.max_total_reduction_db)
    out = sys.stdout
    s = hm.summary()
    out.write(f"holes: {len(hm.regions)}   hole rate: {100 * hm.hole_rate:.3f} % of time-frequency bins   "
              f"hole time: {hm.total_hole_time_s:.2f} s of {hm.duration_s:.2f} s\n")
    if s["worst_bands"]:
        out.write("worst bands: " + ", ".join(
            f"{b['centre_hz']:g} Hz ({100 * b['hole_rate']:.2f} %)" for b in s["worst_bands"]) + "\n")
    if hm.regions:
        out.write(f"\n{'#':>3}  {'ch':>2}  {'start':>10}  {'end':>10}  {'low Hz':>8}  {'high Hz':>8}  "
                  f"{'depth dB':>8}  {'area s*Hz':>9}\n")
        for i, r in enumerate(hm.worst_regions(args.top), 1):
            out.write(f"{i:>3}  {r.channel:>2}  {_fmt_time(r.start_s):>10}  {_fmt_time(r.end_s):>10}  "
                      f"{r.low_hz:>8.0f}  {r.high_hz:>8.0f}  {r.depth_db:>8.1f}  {r.area_s_hz:>9.1f}\n")
    else:
        out.write("no spectral holes found\n")
    if args.json_out:
        hm.save_json(args.json_out)
        out.write(f"hole map: {args.json_out}\n")
    if args.png_out:
        write_hole_map_png(args.png_out, hm, log_frequency=args.log_frequency)
        out.write(f"picture: {args.png_out}\n")
    return 0
