"""``roomtone batch IN_DIR OUT_DIR``: clean a folder of episodes to a loudness target, with a report.

Every audio file under IN_DIR (recursively; the folder structure is kept in OUT_DIR) goes
through the preset chain, then loudness normalisation with a true-peak limiter; the batch runs
on local worker processes or a Dask cluster (``--scheduler``), is resumable (a SQLite ledger in
OUT_DIR), and writes ``OUT_DIR/report/index.html``. See :mod:`app.batch.runner`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from app.batch.ledger import LEDGER_NAME, Ledger
from app.batch.loudness import TARGET_CHOICES
from app.batch.runner import STATE_DIR, BatchRunner
from app.batch.worker import BatchOptions
from app.commands.clean import (
    add_breath_deess_options,
    add_dereverb_option,
    add_mouth_options,
    breath_deess_enable,
    dereverb_enable,
    load_settings,
    mouth_enable,
)
from app.pipeline import adjust_settings
from app.timecode import format_duration
from dsp.errors import Cancelled, ParameterError
from dsp.io import WRITE_FORMATS

EPILOG = """\
loudness targets:
  podcast         -16 LUFS for stereo, -19 LUFS for mono files (default)
  podcast-stereo  -16 LUFS        podcast-mono  -19 LUFS
  ebu-r128        -23 LUFS        atsc          -24 LKFS
  off             no loudness normalisation (the chain output as it is)
  every target has a true-peak limiter at -1 dBTP (peaks found on a grid as fine as ffmpeg's
  192 kHz one, 4x-24x); the report's output figures are those of the file as written

a rerun (or --resume after a crash or kill) skips every file already done with the same
input and settings, and redoes anything unfinished; --force redoes everything.
exit status: 0 all files done; 3 some files could not be read (corrupt, empty); 1 other failures;
130 cancelled (Ctrl+C): running files stop at once and are not written, finished ones are kept.
"""


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "batch",
        help="clean a folder of episodes to a loudness target, in parallel, with a report",
        description="Process every audio file under IN_DIR into OUT_DIR (same folder structure): the preset "
        "chain, loudness normalisation and a true-peak limiter; outputs are written atomically, inputs are "
        "never modified; OUT_DIR/report/index.html shows before/after figures and spectrograms per file.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("in_dir", metavar="IN_DIR", help="folder of source audio files (searched recursively)")
    p.add_argument("out_dir", metavar="OUT_DIR", help="output folder (created if missing)")
    p.add_argument("--preset", default=None, metavar="NAME", help="preset name or .toml path (default: podcast)")
    prof = p.add_mutually_exclusive_group()
    prof.add_argument("--profile", metavar="room.json", help="use this room-tone profile for every file")
    prof.add_argument("--auto-profile", action="store_true", help="find each file's room tone automatically (default when the chain needs one)")
    p.add_argument("--loudness", choices=TARGET_CHOICES, default="podcast", help="loudness target (default: podcast)")
    p.add_argument("--format", choices=list(WRITE_FORMATS), default=None,
                   help="output format (default: each source's own; lossy sources become flac24)")
    p.add_argument("--workers", type=int, default=None, metavar="N", help="local worker processes (default: CPU cores)")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="run on this Dask scheduler (workers must see the same paths)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted batch (the default behaviour; says so explicitly)")
    p.add_argument("--force", action="store_true", help="redo every file, even those already done")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides", help="override a chain setting (repeatable)")
    add_breath_deess_options(p)
    p.add_argument("--level", action="store_true",
                   help="even out the speech level of phrases and speakers: adds the leveler stage at the end of the "
                   "chain (before loudness); changes the settings hash, so a rerun redoes every file")
    add_mouth_options(p)
    add_dereverb_option(p)
    p.add_argument("--no-hole-audit", action="store_true", help="skip the extra render that counts the holes refill filled (faster)")
    p.add_argument("-q", "--quiet", action="store_true", help="print only errors and the summary")
    p.set_defaults(func=run)
    return p


class BatchDisplay:
    """Progress on stderr: a live multi-line view on a terminal, one line per event elsewhere."""

    def __init__(self, stream=None, *, quiet: bool = False, interval_s: float = 10.0) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty()
        self.quiet = quiet
        self.interval_s = interval_s
        self._lines = 0
        self._last_status: dict[str, str] = {}
        self._last_line = 0.0
        self._last_draw = 0.0


    def overall(self, p) -> str:
        done, failed, skipped = p.count("done"), p.count("failed"), p.count("skipped")
        finished = done + failed + skipped
        width = 28
        filled = int(round(p.fraction * width))
        eta = p.eta_s()
        return (f"[{'#' * filled}{'-' * (width - filled)}] {100 * p.fraction:5.1f}%  {finished}/{p.total} files"
                f"  {failed} failed  elapsed {format_duration(time.time() - p.started)}  ETA {format_duration(eta)}")

    def __call__(self, p) -> None:
        if self.quiet:
            return
        if self.tty:
            now = time.monotonic()
            if now - self._last_draw < 0.1 and not p.finished:
                return
            self._last_draw = now
            lines = [self.overall(p)]
            for f in p.files:
                if f.status == "running":
                    bar = int(round(f.fraction * 20))
                    lines.append(f"  {f.rel[-48:]:<48} [{'=' * bar}{' ' * (20 - bar)}] {100 * f.fraction:5.1f}% {f.phase}")
            self._events(p, lines)
            out = ("\x1b[F\x1b[2K" * self._lines) + "\n".join(lines) + "\n"
            self._lines = len(lines)
            self.stream.write(out)
            self.stream.flush()
        else:
            self._events(p, None)
            now = time.monotonic()
            if p.files and now - self._last_line > self.interval_s and not p.finished:
                self._last_line = now
                running = ", ".join(f"{f.rel} {100 * f.fraction:.0f}%" for f in p.files if f.status == "running")
                self.stream.write(f"roomtone: {self.overall(p)}{'  | ' + running if running else ''}\n")
                self.stream.flush()

    def _events(self, p, lines: list[str] | None) -> None:
        msgs = []
        for f in p.files:
            prev = self._last_status.get(f.rel)
            if prev == f.status:
                continue
            self._last_status[f.rel] = f.status
            if f.status == "done":
                msgs.append(f"done    {f.rel} ({f.seconds or 0:.1f} s)")
            elif f.status == "failed":
                msgs.append(f"FAILED  {f.rel}: {f.error}")
            elif f.status == "skipped" and prev is None:
                msgs.append(f"skip    {f.rel} (already done)")
            elif f.status == "running" and lines is None:
                msgs.append(f"start   {f.rel}")
        if not msgs:
            return
        if lines is not None:  # terminal: print events above the live view
            self.stream.write("\x1b[F\x1b[2K" * self._lines)
            self._lines = 0
        for m in msgs:
            self.stream.write(f"roomtone: {m}\n")
        self.stream.flush()


def build_options(args: argparse.Namespace):
    settings, _ = load_settings(args.preset)
    settings = adjust_settings(settings, level=bool(getattr(args, "level", False)),
                               enable={**dereverb_enable(getattr(args, "dereverb", None)), **breath_deess_enable(args),
                                       **mouth_enable(args)},
                               overrides=list(args.overrides))
    return BatchOptions(
        chain=settings.to_dict(), preset=args.preset or settings.name,
        profile_path=os.path.abspath(args.profile) if args.profile else None,
        auto_profile=bool(args.auto_profile), loudness=args.loudness, fmt=args.format,
        hole_audit=not args.no_hole_audit,
    )


def run(args: argparse.Namespace) -> int:
    if args.workers is not None and args.workers < 1:
        raise ParameterError(f"--workers must be at least 1, got {args.workers}")
    if args.resume and args.force:
        raise ParameterError("--resume and --force contradict each other; give one")
    options = build_options(args)
    display = BatchDisplay(quiet=args.quiet)
    if args.resume and not (os.path.isdir(os.path.join(args.out_dir, STATE_DIR))) and not args.quiet:
        sys.stderr.write(f"roomtone: note: no earlier batch in {args.out_dir}; starting a new one\n")
    runner = BatchRunner(args.in_dir, args.out_dir, options, workers=args.workers, scheduler=args.scheduler,
                         force=args.force, on_update=display)
    try:
        summary = runner.run()
    except Cancelled as exc:  # Ctrl+C: the runner stopped its workers and kept the ledger true
        sys.stderr.write(f"\nroomtone: {exc}\n")
        return Cancelled.exit_code
    err = sys.stderr
    if summary.ignored and not args.quiet:
        err.write(f"roomtone: note: {summary.ignored} non-audio file(s) in {args.in_dir} were ignored\n")
    for f in summary.failures:
        err.write(f"roomtone: failed: {f['file']}: {f['error']}\n")
    err.write(f"roomtone: {summary.line()}\n")
    if summary.report is not None:
        err.write(f"roomtone: report: {summary.report}\n")
    if summary.failed:
        kinds = {r.error_kind for r in _failed_rows(runner)}
        return 3 if kinds and kinds <= {"InputError"} else 1
    return 0


def _failed_rows(runner):
    with Ledger(runner.out_dir / STATE_DIR / LEDGER_NAME) as ledger:
        wanted = {f["file"] for f in runner.summary.failures}
        return [r for r in ledger.rows() if r.rel in wanted]
