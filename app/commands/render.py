"""``roomtone render PROJECT -o OUT``: export a saved project from the command line.

The project's source goes through its chain, room tone and edit list (cuts, room-tone fills,
gains, spectral repairs, processed selections) exactly as the workstation's File > Export
renders it (:func:`app.session.session.render_project`, the one render path), so a script or a
batch job delivers what the editor heard. The output's name decides its container; the
project's loudness target applies unless ``--loudness`` says otherwise; a render record goes
beside the output unless ``--no-record``.

A project whose source audio is missing or has changed since it was saved is refused (exit 3)
with what to do: open it in the workstation (``roomtone gui PROJECT``) and relink it.
"""

from __future__ import annotations

import argparse
import sys

from app.commands.clean import ProgressBar
from app.pipeline import record_path, say_level_plan, say_room_decay
from app.session.project import PROJECT_SUFFIX, load_project
from app.session.session import render_project
from dsp.errors import InputError
from dsp.io import WRITE_FORMATS
from dsp.loudness import TARGET_CHOICES


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "render",
        help=f"export a saved {PROJECT_SUFFIX} project (chain, room tone and edits) to an audio file",
        description=(
            f"Render a saved {PROJECT_SUFFIX} project as the workstation's Export does: its source through its "
            "chain, room tone and edit list. The output's extension decides the container (.wav or .flac)."
        ),
        epilog=("examples:\n  roomtone render episode.roomtone -o episode_clean.flac\n"
                "  roomtone render episode.roomtone -o master.wav --format wav24 --loudness podcast"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("project", metavar="PROJECT", help=f"a {PROJECT_SUFFIX} project saved by the workstation")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="the audio file to write (.wav or .flac)")
    p.add_argument("--format", choices=WRITE_FORMATS, default=None,
                   help="sample format within the container (default: the source's depth)")
    p.add_argument("--loudness", choices=TARGET_CHOICES, default=None,
                   help="loudness target (default: the one saved in the project)")
    p.add_argument("--no-record", action="store_true", help="do not write the OUT.roomtone.json render record")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress or summary on stderr")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    project, problems = load_project(args.project)
    if problems:
        raise InputError(f"{args.project}: {problems[0].message} (roomtone gui {args.project} offers to relink it)")
    if project.source is None:
        raise InputError(f"{args.project}: the project has no source audio; open a file in it first")
    bar = ProgressBar(enabled=None if not args.quiet else False)
    try:
        rec = render_project(project, args.output, args.format, loudness=args.loudness, progress=bar,
                             record=not args.no_record)
    finally:
        bar.finish()
    if not args.quiet:
        def say(text: str) -> None:
            sys.stderr.write(f"roomtone: {text}\n")

        say_level_plan(rec.settings, say)
        say_room_decay(rec.settings, say)
        edits = len(project.edits)
        sys.stderr.write(
            f"roomtone: wrote {rec.output} ({rec.format}, {rec.frames / rec.sample_rate:.1f} s"
            + (f", {edits} edit{'s' if edits != 1 else ''}" if edits else "")
            + f", at {rec.realtime_factor:.0f}x real time)\n"
        )
        if not args.no_record:
            sys.stderr.write(f"roomtone: render record: {record_path(rec.output)}\n")
    return 0
