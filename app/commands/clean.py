"""``roomtone clean IN -o OUT``: render a file through a chain (preset + options), atomically.

The output's name decides its container (``.wav`` or ``.flac``); it keeps the source's rate,
channels and (by default) sample depth; a render record ``OUT.roomtone.json`` goes beside it
unless ``--no-record`` (the audio and the record land together or not at all).
"""

from __future__ import annotations

import argparse
import sys
import time

from app.pipeline import (
    adjust_settings,
    clean_file,
    record_path,
    say_learned_profile_warnings,
    say_level_plan,
    say_room_decay,
)
from app.presets import DEFAULT_PRESET, list_presets, load_preset
from app.timecode import format_time, parse_ranges
from dsp.chain import ChainSettings
from dsp.errors import ParameterError
from dsp.io import WRITE_FORMATS
from dsp.loudness import TARGET_CHOICES
from dsp.roomtone import NoiseProfile

LISTEN_MODES = ("processed", "original", "removed")


class ProgressBar:
    """A one-line progress bar with ETA on a terminal stream (a no-op elsewhere)."""

    def __init__(self, stream=None, *, label: str = "rendering", width: int = 30, enabled: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.label = label
        self.width = width
        self.t0 = time.perf_counter()
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total <= 0:
            return
        now = time.perf_counter()
        if done < total and now - self._last < 0.1:
            return
        self._last = now

        frac = min(1.0, done / total)
        elapsed = now - self.t0
        eta = elapsed * (1 - frac) / frac if frac > 0 else 0.0
        filled = int(round(frac * self.width))
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(
            f"\r{self.label} [{bar}] {frac * 100:5.1f}%  {format_time(elapsed, decimals=0)} elapsed, "
            f"ETA {format_time(eta, decimals=0)} "
        )
        self.stream.flush()

    def finish(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "clean",
        help="clean a file through a preset chain",
        description="Render IN through a chain (a preset, adjusted by the options below) into OUT. "
        "OUT's extension decides the container: .wav or .flac (other names are refused before any work). "
        "The output keeps the source's sample rate and channels; it is written atomically "
        "(never a half file), and never over the source.",
        epilog="Time ranges: 1.5-3, 0:01.5-0:03 or 1:02:03.5-1:02:05; several: --learn 1-3,10-12 or "
        "--learn 1-3 --learn 10-12.\nSettings: --set gate.max_reduction_db=4, --set stages.1.mix=0.5, "
        "--set max_total_reduction_db=12, --set stft.n_fft=1024.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", metavar="IN", help="source audio file")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output audio file: OUT.wav or OUT.flac")
    p.add_argument("--preset", default=None, metavar="NAME", help="preset name or .toml path (default: podcast)")
    p.add_argument("--format", choices=list(WRITE_FORMATS), default=None,
                   help="encoding inside OUT's container; must match its extension (wav16/wav24/wav32/float32/"
                   "float64 for .wav, flac16/flac24 for .flac). Default: the source's own sample depth; FLAC "
                   "holds at most 24-bit integers, so 32-bit and float sources become 24-bit FLAC (the "
                   "render record says so); lossy sources become 24-bit")
    prof = p.add_mutually_exclusive_group()
    prof.add_argument("--profile", metavar="room.json", help="use this saved room-tone profile")
    prof.add_argument("--learn", action="append", metavar="A-B", help="learn room tone from these time ranges")
    prof.add_argument("--auto-profile", action="store_true", help="find room tone automatically")
    p.add_argument("--passes", metavar="KIND,...", help="noise-reduction passes to keep (others are bypassed), e.g. gate,mmse; none bypasses them all")
    p.add_argument("--max-reduction-db", type=float, metavar="DB", help="maximum reduction of every active pass, dB")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="override any setting (repeatable)")
    p.add_argument("--refill", choices=("roomtone", "pink", "off"), help="spectral-hole refill source, or off")
    p.add_argument("--mix", type=float, metavar="0..1", help="whole-chain dry/wet mix (0 = untouched)")
    p.add_argument("--listen", choices=LISTEN_MODES, help="render the processed signal, the original, or what was removed")
    p.add_argument("--eq-match", action="store_true", help="enable EQ matching")
    p.add_argument("--level", action="store_true",
                   help="even out the speech level of phrases and speakers: adds the leveler stage at the end of "
                   "the chain (after the noise passes and refill)")
    add_dereverb_option(p)
    add_breath_deess_options(p)
    add_mouth_options(p)
    p.add_argument("--loudness", choices=TARGET_CHOICES, default="off", metavar="NAME",
                   help="normalise the output to a loudness target with a true-peak limiter: podcast (-16 LUFS "
                   "stereo / -19 mono), podcast-stereo, podcast-mono, ebu-r128 (-23), atsc (-24), or off "
                   "(default); every target limits true peaks to -1 dBTP. The chain renders once to a temporary "
                   "FLAC beside OUT, is measured, then gain and limiter write OUT; the record states the figures")
    p.add_argument("--no-record", action="store_true", help="do not write OUT.roomtone.json")
    p.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    p.set_defaults(func=run)


#: ``--dereverb`` given without an amount: the preset's stage as it is, else the stage's default.
DEREVERB_PRESET_AMOUNT = -1.0


def add_dereverb_option(p: argparse.ArgumentParser) -> None:
    """``--dereverb [AMOUNT]`` (shared by clean and batch)."""
    p.add_argument("--dereverb", nargs="?", type=float, const=DEREVERB_PRESET_AMOUNT, default=None, metavar="AMOUNT",
                   help="take the room's echo down: adds (or switches on) the de-reverb stage before the noise passes; "
                   "AMOUNT 0-100 %% (default: the preset's, else 70); 0 is an exact bypass. The room's decay time "
                   "is estimated from the file (set it with --set dereverb.rt60_s=0.6)")


def dereverb_enable(value: float | None) -> dict:
    """The ``enable=`` entry of :func:`app.pipeline.adjust_settings` for ``--dereverb`` (empty: not given)."""
    if value is None:
        return {}
    if value == DEREVERB_PRESET_AMOUNT:
        return {"dereverb": {}}
    if not 0.0 <= value <= 100.0:
        raise ParameterError(f"--dereverb: AMOUNT must be between 0 and 100 %, got {value:g}")
    return {"dereverb": {"amount_percent": float(value)}}


def add_breath_deess_options(p: argparse.ArgumentParser) -> None:
    """``--breath [REDUCTION_DB|gate]`` and ``--deess [MAX_DB]`` (clean and batch)."""
    p.add_argument("--breath", nargs="?", const="", default=None, metavar="REDUCTION_DB",
                   help="breath control: lower the breaths between phrases by REDUCTION_DB (default 10 dB), never "
                   "below the room tone; 'gate' lowers them to the room tone's level (never to silence)")
    p.add_argument("--deess", nargs="?", const="", default=None, metavar="MAX_DB",
                   help="de-esser: lower the 4-10 kHz sibilance band on frames where it exceeds the voice's typical "
                   "level, by at most MAX_DB (default 6 dB); the rest of the spectrum is untouched")


def breath_deess_enable(args: argparse.Namespace) -> dict[str, dict]:
    """``adjust_settings(enable=...)`` for ``--breath`` / ``--deess`` (raises ParameterError on a bad value)."""
    def number(option: str, value: str) -> float:
        try:
            return float(value)
        except ValueError:
            raise ParameterError(f"{option} expects a number of dB, got {value!r}") from None

    out: dict[str, dict] = {}
    breath = getattr(args, "breath", None)
    if breath is not None:
        if breath.strip().lower() == "gate":
            out["breath"] = {"gate_to_room_tone": True}
        else:
            out["breath"] = {"reduction_db": number("--breath", breath)} if breath else {}
    deess = getattr(args, "deess", None)
    if deess is not None:
        out["deess"] = {"max_reduction_db": number("--deess", deess)} if deess else {}
    return out


def add_mouth_options(p: argparse.ArgumentParser) -> None:
    """``--declick [DB]`` and ``--deplosive [DB]`` (issue 23), shared by ``clean`` and ``batch``."""
    p.add_argument("--declick", nargs="?", type=float, const=-1.0, default=None, metavar="THRESHOLD_DB",
                   help="repair mouth clicks (adds the de-click stage before the noise passes); optional: how far "
                   "(dB) a click's prediction error must stand over its running level, 6-60, lower finds more "
                   "(default 16)")
    p.add_argument("--deplosive", nargs="?", type=float, const=-1.0, default=None, metavar="REDUCTION_DB",
                   help="lower plosive pops (adds the de-plosive stage: a high-pass at 200 Hz only while a pop "
                   "lasts); optional: how far the band under 200 Hz is lowered during a pop, 0-60 dB (default 24)")


def mouth_enable(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """The ``enable`` mapping for :func:`app.pipeline.adjust_settings` from ``--declick``/``--deplosive``."""
    out: dict[str, dict[str, float]] = {}
    for option, setting in (("declick", "click_threshold_db"), ("deplosive", "max_reduction_db")):
        value = getattr(args, option, None)
        if value is not None:
            out[option] = {} if value == -1.0 else {setting: value}
    return out


def load_settings(preset: str | None):
    """The named preset; with no name, ``podcast`` (or an empty chain while no preset exists)."""
    if preset is not None:
        return load_preset(preset), None
    if DEFAULT_PRESET in list_presets():
        return load_preset(DEFAULT_PRESET), None
    note = f"no '{DEFAULT_PRESET}' preset is installed; using an empty chain (output equals input)"
    return ChainSettings(name="empty"), note


def run(args: argparse.Namespace) -> int:
    def say(text: str) -> None:
        if not args.quiet:
            sys.stderr.write(f"roomtone: {text}\n")

    settings, note = load_settings(args.preset)
    if note:
        say(f"note: {note}")
    if args.mix is not None and not 0.0 <= args.mix <= 1.0:
        raise ParameterError(f"--mix must be between 0 and 1, got {args.mix:g}")
    settings = adjust_settings(
        settings,
        passes=args.passes.split(",") if args.passes is not None else None,
        max_reduction_db=args.max_reduction_db,
        refill=args.refill,
        eq_match=args.eq_match,
        level=args.level,
        enable={**dereverb_enable(args.dereverb), **breath_deess_enable(args), **mouth_enable(args)},
        mix=args.mix,
        listen=args.listen,
        overrides=args.overrides,
    )
    learn = parse_ranges(args.learn) if args.learn else None
    profile = None
    if args.profile:
        profile = NoiseProfile.load(args.profile)
    bar = ProgressBar(enabled=None if not args.quiet else False)
    try:
        rec = clean_file(
            args.input, args.output, settings, profile=profile, learn=learn, auto_profile=args.auto_profile,
            fmt=args.format, loudness=args.loudness, progress=bar, record=not args.no_record,
        )
    finally:
        bar.finish()
    if rec.nonfinite_samples:
        sys.stderr.write(
            f"roomtone: warning: {args.input}: {rec.nonfinite_samples} NaN/Inf samples in the source were "
            "replaced by silence\n"
        )
    fmt_note = (rec.settings.get("output_format") or {}).get("note")
    if fmt_note:
        say(f"note: {fmt_note}")
    say_learned_profile_warnings(rec.settings, say)
    prof = rec.settings.get("profile")
    if prof and rec.settings.get("profile_origin") == "automatic":
        say(f"room tone found automatically ({prof.get('method')}); check it, or give --learn A-B")
        if prof.get("method") == "minimum":  # no pause was found: say how it was estimated instead
            for note in prof.get("warnings", []):
                say(f"note: {note}")
    say_level_plan(rec.settings, say)
    say_room_decay(rec.settings, say)
    loud = rec.settings.get("loudness")
    if loud:
        if loud["measurable"]:
            say(f"loudness: {_num(loud['integrated_lufs'])} LUFS, true peak {_num(loud['true_peak_dbtp'])} dBTP "
                f"(target {loud['target']}: {loud['target_lufs']:g} LUFS, at most {loud['ceiling_dbtp']:g} dBTP); "
                f"gain {loud['gain_db']:+.1f} dB, limiter up to {loud['limiter_max_reduction_db']:.1f} dB")
        else:
            say(f"note: {loud['note']}")
    where = f"{rec.output} ({rec.format}, {rec.frames / rec.sample_rate:.1f} s at {rec.realtime_factor:.0f}x real time)"
    say(f"wrote {where}")
    if not args.no_record:
        say(f"render record: {record_path(rec.output)}")
    return 0


def _num(v) -> str:
    return "-inf" if v is None else f"{v:.1f}"
