"""``roomtone profile``: learn a room-tone profile from a recording and save it as JSON.

    roomtone profile IN --learn 0:01.5-0:03 -o room.json
    roomtone profile IN --auto -o room.json

Prints the level, the duration and regions it was learned from, and any warnings.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.pipeline import find_room_tone
from app.timecode import parse_ranges
from dsp.errors import OutputError
from dsp.io import AudioReader
from dsp.roomtone import RoomToneSettings, estimate_room_tone
from dsp.stft import StftSettings


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "profile",
        help="learn a room-tone profile (noise-only stretch or automatic) and save it as JSON",
        description="Learn the room tone of a recording from noise-only regions (--learn) or automatically "
        "(--auto: the same search as `clean` without a profile: the longest stretches without speech, "
        "else the quietest frames, else each band's noise floor over time), and save it as a reusable "
        "JSON profile.",
    )
    p.add_argument("input", help="audio file to learn from")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--learn", action="append", metavar="A-B",
                     help="noise-only region, e.g. 0:01.5-0:03 (repeat, or separate with commas, for several)")
    how.add_argument("--auto", action="store_true", help="find the room tone automatically (where nobody speaks; never refuses a recording)")
    p.add_argument("-o", "--output", required=True, help="profile file to write (.json)")
    p.add_argument("--n-fft", type=int, default=0, help="frame size; 0 picks the engine default for the rate")
    p.add_argument("--overlap", type=int, default=4, choices=(2, 4, 8), help="frames overlap (hop = n_fft / overlap)")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    src = Path(args.input)
    out = Path(args.output)
    if out.resolve() == src.resolve():
        raise OutputError(f"{out}: would overwrite the input audio; choose another output file")
    if out.parent and not out.parent.exists():
        raise OutputError(f"{out.parent}: folder does not exist; create it or choose another output path")
    settings = RoomToneSettings(stft=StftSettings(n_fft=args.n_fft, overlap=args.overlap))
    regions = parse_ranges(args.learn) if args.learn else None
    with AudioReader(src) as reader:
        if regions is None:  # the one automatic method, as in `clean` and the workstation
            profile = find_room_tone(reader, settings.stft, source_name=str(src))
        else:
            profile = estimate_room_tone(reader, reader.sample_rate, regions=regions, settings=settings,
                                         source_name=str(src))
    profile.save(out)  # atomic; an OutputError says what went wrong
    print(profile.summary())
    print(f"saved {out}")
    sys.stdout.flush()
    return 0
