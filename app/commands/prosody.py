"""``roomtone prosody PATH... [--reference DIR] [--json out.json] [--html report.html]``.

Checks voice-clone training audio (or synthesised output) for monotone pitch, flat energy,
missing pauses and breaths, odd rate, clipping, noise, too little audio and inconsistent level.
With ``--reference`` the PATHs are treated as synthetic speech and compared with the reference
recordings of the same voice: their findings speak of the synthesis (its settings, the
reference range it falls outside), and the amount-of-audio check (training data only) is skipped. Prints a per-clip table and the findings; exit code 0 unless
``--fail-on`` says otherwise (1 when a finding at that level is present).
"""

from __future__ import annotations

import argparse
import json
import math
import sys

from dsp.errors import ParameterError
from dsp.io import write_text_atomic
from models.speech_activity import get_detector


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "prosody",
        help="check voice-clone training audio or synthetic speech for monotone pitch, missing pauses/breaths ...",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="audio files and/or folders (searched recursively)")
    p.add_argument("--reference", metavar="DIR", help="reference recordings of the same voice to compare with")
    p.add_argument("--json", metavar="OUT.json", help="write all measures and findings as JSON")
    p.add_argument("--html", metavar="REPORT.html", help="write a self-contained HTML report")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE",
                   help="override a check threshold, e.g. --set monotone_std_st=1.8 (repeatable)")
    p.add_argument("--detector", default="auto", help="speech/pause detector: auto (default), energy, or a registered VAD")
    p.add_argument("--jobs", type=int, default=1, metavar="N", help="analyse N files in parallel processes")
    p.add_argument("--fail-on", choices=("never", "warn", "fail"), default="never",
                   help="exit with 1 when a finding at this level or worse is present (for scripts/CI)")
    p.add_argument("--contours", action="store_true", help="include pitch and intensity contours in --json")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the findings")
    p.set_defaults(func=run)


def _fmt(v: float, d: int = 2) -> str:
    return "-" if v is None or not math.isfinite(v) else f"{v:.{d}f}"


def _write_json(path: str, data: dict) -> None:
    """Write ``data`` as JSON at ``path`` atomically, with the umask's mode."""
    write_text_atomic(path, json.dumps(data, indent=1, allow_nan=False))


def run(args: argparse.Namespace) -> int:
    from models.prosody import ProsodySettings  # lazy: CLI start-up
    from models.prosody_checks import problems, thresholds_with_overrides  # lazy: CLI start-up
    from models.prosody_dataset import analyse_dataset, judge_synthetic  # lazy: CLI start-up

    if args.jobs < 1:
        raise ParameterError(f"--jobs must be at least 1, got {args.jobs}")
    thresholds = thresholds_with_overrides(args.overrides)
    get_detector(args.detector)  # an unknown name is a usage mistake (exit 2), not a file problem
    settings = ProsodySettings(speech_detector=args.detector)
    out = sys.stdout

    def progress(done: int, total: int, name: str) -> None:
        if not args.quiet and sys.stderr.isatty():
            sys.stderr.write(f"\r  analysing {done}/{total} {name[:40]:40s}")
            if done == total:
                sys.stderr.write("\r" + " " * 60 + "\r")

    ds = analyse_dataset(args.paths, settings=settings, thresholds=thresholds, workers=args.jobs,
                         progress=progress)
    ref = comparison = None
    if args.reference:
        ref = analyse_dataset([args.reference], settings=settings, thresholds=thresholds, workers=args.jobs,
                              label=f"reference {args.reference}")
        # the clips under test are synthetic: findings about the synthesis, not recording advice
        ds, comparison = judge_synthetic(ds, ref, thresholds)

    if not args.quiet:
        _print_clips(out, ds)
    for _path, msg in ds.failures:
        out.write(f"  not analysed: {msg}\n")
    _print_findings(out, problems(ds.findings))
    if comparison:
        _print_comparison(out, ref, comparison)
    _write_outputs(args, out, ds, ref, comparison, thresholds)
    return _exit_code(args.fail_on, ds, comparison)


def _print_clips(out, ds) -> None:
    """One line of measures and the verdict per clip, then the dataset's totals."""
    out.write(f"{'clip':32s} {'F0 Hz':>6s} {'std st':>6s} {'span':>5s} {'int dB':>6s} {'pauses':>6s} "
              f"{'breath':>6s} {'syl/s':>5s} {'LUFS':>6s} {'SNR':>5s}  verdict\n")
    for c in ds.clips:
        m = c.measures()
        fs = [f for f in ds.clip_findings(c.name) if f.verdict != "pass"]
        verdict = ", ".join(f.code for f in fs) or "ok"
        out.write(f"{c.name[:32]:32s} {_fmt(m['f0_median_hz'], 0):>6s} {_fmt(m['f0_std_st']):>6s} "
                  f"{_fmt(m['f0_span_st'], 1):>5s} {_fmt(m['intensity_std_db'], 1):>6s} {c.pause_count:>6d} "
                  f"{c.breath_count:>6d} {_fmt(m['articulation_rate_syll_s'], 1):>5s} "
                  f"{_fmt(m['loudness_lufs'], 1):>6s} {_fmt(m['snr_db'], 0):>5s}  {verdict}\n")
    out.write(f"\n{len(ds.clips)} clip(s), {ds.total_duration_s:.1f} s, {ds.total_speech_s:.1f} s of speech. "
              "Semitones are relative to each clip's median F0.\n")


def _print_findings(out, probs) -> None:
    out.write(f"\nFindings: {len(probs)}\n" if probs else "\nFindings: none\n")
    for f in probs:
        where = f"{f.clip}: " if f.clip else "dataset: "
        at = f" [at {f.times_s[0][0]:.2f} s]" if f.times_s and f.clip else ""
        out.write(f"  {f.verdict.upper():4s} {where}{f.title}: {f.message}{at}\n")
        if f.advice:
            out.write(f"       -> {f.advice}\n")


def _print_comparison(out, ref, comparison) -> None:
    """The measures of the synthetic clips that fall outside the reference recordings' range."""
    out.write(f"\nCompared with {len(ref.clips)} reference clip(s) (range p5-p95, or min-max under 10 clips):\n")
    for c in comparison:
        if c.verdict != "pass":
            out.write(f"  {c.verdict.upper():4s} {c.label}: synthetic median {_fmt(c.synthetic_median)} {c.unit}, "
                      f"reference {_fmt(c.reference_low)}-{_fmt(c.reference_high)}; "
                      f"{len(c.outside)}/{len(c.synthetic_values)} clip(s) outside\n")
    if all(c.verdict == "pass" for c in comparison):
        out.write("  every measure inside the reference range\n")


def _write_outputs(args: argparse.Namespace, out, ds, ref, comparison, thresholds) -> None:
    """``--json`` and ``--html``."""
    if args.json:
        data = {"dataset": ds.to_dict(contours=args.contours), "thresholds": vars(thresholds)}
        if ref is not None:
            data["reference"] = ref.to_dict(contours=False)
            data["comparison"] = [c.to_dict() for c in comparison]
        _write_json(args.json, data)
        if not args.quiet:
            out.write(f"\nwrote {args.json}\n")
    if args.html:
        from app.prosody_report import write_report  # lazy: pulls in models.prosody*

        write_report(args.html, ds, reference=ref, comparison=comparison or ())
        if not args.quiet:
            out.write(f"wrote {args.html}\n")


def _exit_code(fail_on: str, ds, comparison) -> int:
    """1 when a finding or comparison reaches ``--fail-on`` (warn / fail), else 0."""
    if fail_on == "never":
        return 0
    levels = {"warn": ("warn", "fail"), "fail": ("fail",)}[fail_on]
    bad = any(f.verdict in levels for f in ds.findings) or any(c.verdict in levels for c in comparison or ())
    return 1 if bad else 0
