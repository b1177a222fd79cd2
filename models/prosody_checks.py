"""Prosody checks: turn measurements into findings with a verdict, the number, the threshold and advice.

Each check produces one :class:`Finding` per clip (or per dataset) with ``verdict`` ``"pass"``,
``"warn"`` or ``"fail"``; :func:`problems` keeps the non-passing ones. A finding carries what
was measured (``measured`` + ``unit``), the threshold it was compared with, a one-line
message, what to do about it (``advice``) and where it applies (``times_s``: ``[start, end]``
pairs in seconds) when that is meaningful, so a view can seek there.

Thresholds (:class:`CheckThresholds`) come from DOMAIN.md ("Prosody checks"); where DOMAIN.md
is silent the value is ours, chosen on the dev clips, and marked so below. All are
configurable (``CheckThresholds(**overrides)`` or :func:`thresholds_with_overrides`).
Per-clip checks use level-independent measures only (semitones, dB differences, rates), so a
clip's findings do not change when it is made louder or quieter (clipping aside).

The clips are either **training audio** for a voice clone (:func:`check_clip`,
:func:`check_dataset`: advice on how to record) or **synthetic speech** made by a clone
(:func:`check_synthetic`: the same measures, but the findings speak of the synthesis, its
settings and the reference recordings' range it falls outside; no "too little audio", which is
a rule for training data).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np

from dsp.errors import ParameterError
from models.prosody import ClipAnalysis


@dataclass(frozen=True)
class CheckThresholds:
    """Thresholds of every check. Units are in the names."""

    # DOMAIN.md: "monotone" below 2.0 st std (or span below 6 st), "very monotone" below 1.5 st.
    monotone_std_st: float = 2.0
    monotone_span_st: float = 6.0
    very_monotone_std_st: float = 1.5
    # ours (dev clips: intensity std over voiced frames 3.8-6.7 dB in natural and espeak speech)
    flat_energy_std_db: float = 3.0
    # pauses: DOMAIN.md counts silences >= 0.25 s; "no pauses" needs this much speech to judge
    min_span_for_pause_check_s: float = 10.0
    min_pauses_per_min: float = 2.0
    long_pause_s: float = 2.0  # ours: cloning services ask for no long pauses
    long_edge_silence_s: float = 1.5  # ours
    # breaths: judged on clips with at least this much speech span and one pause
    min_span_for_breath_check_s: float = 10.0
    # rate (articulation rate, syllables per second; ours, after de Jong & Wempe's read-speech norms)
    too_fast_syll_s: float = 6.5
    too_slow_syll_s: float = 2.0
    min_speech_for_rate_s: float = 1.0
    # level and noise (ours)
    clipping_fail_fraction: float = 1e-4
    noisy_warn_snr_db: float = 25.0
    noisy_fail_snr_db: float = 15.0
    # dataset (ours, after what cloning services ask for: minutes of clean speech)
    min_total_speech_s: float = 60.0
    recommended_total_speech_s: float = 180.0
    level_spread_warn_db: float = 6.0
    level_outlier_db: float = 3.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ParameterError(f"threshold {f.name} must be a finite number, got {value!r}")
        if self.very_monotone_std_st > self.monotone_std_st:
            raise ParameterError(
                f"very_monotone_std_st ({self.very_monotone_std_st}) must not exceed monotone_std_st "
                f"({self.monotone_std_st})"
            )
        if self.too_slow_syll_s >= self.too_fast_syll_s:
            raise ParameterError(
                f"too_slow_syll_s ({self.too_slow_syll_s}) must be below too_fast_syll_s ({self.too_fast_syll_s})"
            )


def thresholds_with_overrides(overrides: Iterable[str], base: CheckThresholds | None = None) -> CheckThresholds:
    """Apply ``["name=value", ...]`` to ``base`` (defaults); raises ParameterError on a bad item."""
    base = base or CheckThresholds()
    names = {f.name for f in fields(CheckThresholds)}
    values: dict[str, float] = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in names:
            raise ParameterError(
                f"threshold override '{item}' is not NAME=VALUE with a known name; known: {', '.join(sorted(names))}"
            )
        try:
            values[key] = float(value)
        except ValueError:
            raise ParameterError(f"threshold override '{item}': '{value}' is not a number") from None
    return replace(base, **values)


@dataclass
class Finding:
    """One check's verdict on one clip (``clip``) or on the dataset (``clip`` is None)."""

    code: str
    title: str
    verdict: str
    measured: float
    unit: str
    threshold: float
    message: str
    advice: str = ""
    clip: str | None = None
    times_s: list[list[float]] = field(default_factory=list)

    @property
    def first_time_s(self) -> float | None:
        return float(self.times_s[0][0]) if self.times_s else None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("measured", "threshold"):
            v = d[k]
            d[k] = None if v is None or not math.isfinite(v) else round(float(v), 4)
        return d


def _f(code, title, verdict, measured, unit, threshold, message, advice="", clip=None, times=None) -> Finding:
    return Finding(code=code, title=title, verdict=verdict, measured=float(measured), unit=unit,
                   threshold=float(threshold), message=message, advice=advice if verdict != "pass" else "",
                   clip=clip, times_s=[[round(float(a), 3), round(float(b), 3)] for a, b in (times or [])])


def _voiced_times(a: ClipAnalysis) -> list[list[float]]:
    return [[float(s), float(e)] for s, e in a.speech_regions]


# ---------------------------------------------------------------------------------------------
# per clip

def check_pitch(a: ClipAnalysis, th: CheckThresholds) -> Finding:
    std, span = a.pitch.std_st, a.pitch.span_st
    where = _voiced_times(a)
    if not math.isfinite(std):
        return _f("pitch_unmeasured", "Pitch not measurable", "warn", math.nan, "st", th.monotone_std_st,
                  f"too few voiced frames ({a.pitch.voiced_frames}) to measure pitch spread",
                  "check the clip holds speech (not music, noise or whisper)", a.name)
    said = f"F0 spread {std:.2f} st std, {span:.1f} st p5-p95 span (re the clip median {a.pitch.median_hz:.0f} Hz)"
    advice = ("record some lines excited, some serious; vary intonation: ask questions, stress key words, "
              "let sentences rise and fall")
    if std < th.very_monotone_std_st:
        return _f("very_monotone", "Very monotone", "fail", std, "st", th.very_monotone_std_st,
                  f"{said}: below {th.very_monotone_std_st} st, {_ROBOTIC_CLONE}",
                  advice, a.name, where)
    if std < th.monotone_std_st or span < th.monotone_span_st:
        which = (f"std below {th.monotone_std_st} st" if std < th.monotone_std_st
                 else f"span below {th.monotone_span_st} st")
        return _f("monotone", "Monotone", "warn", std, "st", th.monotone_std_st,
                  f"{said}: {which}", advice, a.name, where)
    return _f("pitch_ok", "Pitch varies", "pass", std, "st", th.monotone_std_st, said, clip=a.name)


def check_energy(a: ClipAnalysis, th: CheckThresholds) -> Finding:
    v = a.intensity_std_db
    if not math.isfinite(v):
        return _f("energy_ok", "Energy", "pass", math.nan, "dB", th.flat_energy_std_db,
                  "intensity spread not measurable (no voiced frames)", clip=a.name)
    said = f"intensity spread over voiced frames {v:.1f} dB std ({a.intensity_span_db:.1f} dB p5-p95)"
    if v < th.flat_energy_std_db:
        return _f("flat_energy", "Flat energy", "warn", v, "dB", th.flat_energy_std_db,
                  f"{said}: below {th.flat_energy_std_db} dB, every syllable equally loud",
                  "stress words and let phrase ends fall; check no compressor/limiter flattened the take",
                  a.name, _voiced_times(a))
    return _f("energy_ok", "Energy varies", "pass", v, "dB", th.flat_energy_std_db, said, clip=a.name)


def check_pauses(a: ClipAnalysis, th: CheckThresholds) -> list[Finding]:
    out = []
    long = [p for p in a.pauses if p[1] - p[0] > th.long_pause_s]
    edges = []
    if a.leading_silence_s > th.long_edge_silence_s:
        edges.append([0.0, a.leading_silence_s])
    if a.trailing_silence_s > th.long_edge_silence_s:
        edges.append([a.duration_s - a.trailing_silence_s, a.duration_s])
    if long or edges:
        worst = max([p[1] - p[0] for p in long] + [e[1] - e[0] for e in edges])
        parts = []
        if long:
            parts.append(f"{len(long)} pause(s) over {th.long_pause_s} s (longest {worst:.2f} s)")
        if edges:
            parts.append(f"{len(edges)} silence(s) at start/end over {th.long_edge_silence_s} s")
        out.append(_f("long_pauses", "Long pauses", "warn", worst, "s", th.long_pause_s,
                      "; ".join(parts),
                      "trim silences to under a second; a clone learns long gaps and reproduces them",
                      a.name, [list(p) for p in long] + edges))
    span = a.speech_span_s
    ppm = a.pauses_per_minute
    if span >= th.min_span_for_pause_check_s and (not math.isfinite(ppm) or ppm < th.min_pauses_per_min):
        out.append(_f("no_pauses", "No pauses", "warn", ppm if math.isfinite(ppm) else 0.0, "/min",
                      th.min_pauses_per_min,
                      f"{a.pause_count} pause(s) of at least 0.25 s in {span:.1f} s of speech "
                      f"({ppm:.1f} per minute)",
                      "leave natural breathing pauses between phrases; do not edit them out", a.name,
                      _voiced_times(a)))
    if not out:
        out.append(_f("pauses_ok", "Pauses", "pass", a.max_pause_s, "s", th.long_pause_s,
                      f"{a.pause_count} pause(s), longest {a.max_pause_s:.2f} s, {ppm:.1f} per minute"
                      if math.isfinite(ppm) else "no speech span to judge pauses", clip=a.name))
    return out


def check_breaths(a: ClipAnalysis, th: CheckThresholds) -> Finding:
    span = a.speech_span_s
    if span >= th.min_span_for_breath_check_s and a.pause_count >= 1 and a.breath_count == 0:
        return _f("no_breaths", "No breaths", "warn", 0.0, "breaths", 1.0,
                  f"no breath heard in {a.pause_count} pause(s) over {span:.1f} s of speech",
                  "natural recordings have audible breaths between phrases; if they were gated or "
                  "edited out, keep them (a clone without breaths sounds synthetic)", a.name,
                  [list(p) for p in a.pauses])
    return _f("breaths_ok", "Breaths", "pass", float(a.breath_count), "breaths", 1.0,
              f"{a.breath_count} breath(s) found", clip=a.name, times=[list(b) for b in a.breaths])


def check_rate(a: ClipAnalysis, th: CheckThresholds) -> Finding:
    r = a.articulation_rate_syll_s
    if a.speech_time_s < th.min_speech_for_rate_s or not math.isfinite(r):
        return _f("rate_ok", "Rate", "pass", math.nan, "syll/s", th.too_fast_syll_s,
                  "too little speech to judge the rate", clip=a.name)
    said = (f"articulation rate {r:.2f} syllables/s (speaking rate {a.speaking_rate_syll_s:.2f} incl. pauses; "
            f"{a.syllable_count} syllable nuclei)")
    if r > th.too_fast_syll_s:
        return _f("too_fast", "Too fast", "warn", r, "syll/s", th.too_fast_syll_s,
                  f"{said}: above {th.too_fast_syll_s}", "read more slowly; a rushed clone slurs",
                  a.name, _voiced_times(a))
    if r < th.too_slow_syll_s:
        return _f("too_slow", "Too slow", "warn", r, "syll/s", th.too_slow_syll_s,
                  f"{said}: below {th.too_slow_syll_s}",
                  "read at a natural pace; drawn-out delivery carries into the clone", a.name,
                  _voiced_times(a))
    return _f("rate_ok", "Rate", "pass", r, "syll/s", th.too_fast_syll_s, said, clip=a.name)


def check_clipping(a: ClipAnalysis, th: CheckThresholds) -> Finding:
    n = a.clipped_samples
    frac = n / max(1.0, a.duration_s * a.sample_rate)
    if n == 0:
        return _f("clipping_ok", "No clipping", "pass", 0.0, "samples", 0.0, "no clipped samples", clip=a.name)
    verdict = "fail" if frac > th.clipping_fail_fraction else "warn"
    return _f("clipping", "Clipping", verdict, float(n), "samples", 0.0,
              f"{n} clipped sample(s) in {len(a.clip_regions)} place(s) ({100 * frac:.3f} % of samples)",
              "re-record with more headroom (peaks around -6 dBFS); clipping cannot be undone cleanly",
              a.name, [list(r) for r in a.clip_regions])


def check_noise(a: ClipAnalysis, th: CheckThresholds) -> Finding:
    snr = a.snr_db
    said = (f"estimated SNR {snr:.1f} dB (speech {a.speech_level_dbfs:.1f} dBFS, noise floor "
            f"{a.noise_floor_dbfs:.1f} dBFS)")
    if snr < th.noisy_fail_snr_db:
        verdict = "fail"
    elif snr < th.noisy_warn_snr_db:
        verdict = "warn"
    else:
        return _f("noise_ok", "Noise", "pass", snr, "dB", th.noisy_warn_snr_db, said, clip=a.name)
    pauses = [list(p) for p in a.pauses] or [[0.0, a.duration_s]]
    return _f("noisy", "Noisy", verdict, snr, "dB", th.noisy_warn_snr_db if verdict == "warn" else th.noisy_fail_snr_db,
              f"{said}: {_CLONE_LEARNS_NOISE}",
              "record in a quieter, deader room (or denoise lightly first: Roomtone's clean); "
              "aim for a noise floor below -60 dBFS", a.name, pauses)


#: What a finding means for training audio, and what it means for synthetic speech instead.
_ROBOTIC_CLONE = "a clone trained on this will sound robotic"
_CLONE_LEARNS_NOISE = "the clone will learn the noise"
_SYNTHETIC_CONSEQUENCE = {
    _ROBOTIC_CLONE: "the synthesis sounds robotic",
    _CLONE_LEARNS_NOISE: "the synthesis carries noise",
}

#: Advice for a finding on synthetic speech, by finding code: about the synthesis and its settings.
SYNTHETIC_ADVICE = {
    "pitch_unmeasured": "check the synthesis produced speech (not silence, noise or a cut-off clip)",
    "very_monotone": "the synthesis is flatter than the voice: raise the model's expressiveness settings (style or "
                     "emotion strength, sampling temperature), give it a livelier reference or prompt, or fine-tune "
                     "on more varied recordings",
    "monotone": "raise the model's expressiveness settings (style or emotion strength, sampling temperature) or "
                "give it a livelier reference or prompt; punctuation (questions, exclamations) lets the pitch move",
    "flat_energy": "raise the model's emphasis/expressiveness settings or use a more dynamic reference; check no "
                   "compressor or limiter was applied after synthesis",
    "long_pauses": "trim the synthesis's leading and trailing silence; check the text's punctuation and the "
                   "model's pause or duration settings",
    "no_pauses": "the synthesis runs phrases together: add punctuation to the text (commas, full stops) or raise "
                 "the model's pause or duration settings",
    "no_breaths": "the synthesis has no breaths: enable breath rendering if the model has it; many models never "
                  "breathe, which listeners notice in long passages",
    "too_fast": "lower the synthesis speaking rate (its speed or duration setting)",
    "too_slow": "raise the synthesis speaking rate (its speed or duration setting)",
    "clipping": "lower the synthesis output gain or normalise its peaks to about -1 dBFS after synthesis",
    "noisy": "the model reproduces noise it learned: clean its training audio (Roomtone's clean) and train again, "
             "or denoise the synthesis lightly",
    "inconsistent_level": "normalise the synthesised clips to one loudness (e.g. -20 LUFS)",
}

#: Which reference measure (``models.prosody_dataset.MEASURES`` key) a finding code is about.
_FINDING_MEASURE = {
    "very_monotone": "f0_std_st", "monotone": "f0_std_st", "flat_energy": "intensity_std_db",
    "no_pauses": "pauses_per_min", "no_breaths": "breath_count",
    "too_fast": "articulation_rate_syll_s", "too_slow": "articulation_rate_syll_s", "noisy": "snr_db",
}
#: Codes of dataset checks that apply to training audio only.
_TRAINING_ONLY = ("too_little_audio", "little_audio", "audio_amount_ok")


def check_clip(a: ClipAnalysis, thresholds: CheckThresholds | None = None) -> list[Finding]:
    """Every per-clip check on one analysis (passes included)."""
    th = thresholds or CheckThresholds()
    out = [check_pitch(a, th), check_energy(a, th)]
    out += check_pauses(a, th)
    out += [check_breaths(a, th), check_rate(a, th), check_clipping(a, th), check_noise(a, th)]
    return out


# ---------------------------------------------------------------------------------------------
# dataset

def check_dataset(clips: Sequence[ClipAnalysis], thresholds: CheckThresholds | None = None) -> list[Finding]:
    """Dataset-level checks: total amount of speech and level consistency across clips."""
    th = thresholds or CheckThresholds()
    out = []
    total = float(sum(c.speech_time_s for c in clips))
    n = len(clips)
    said = f"{total:.1f} s of speech in {n} clip(s)"
    if total < th.min_total_speech_s:
        out.append(_f("too_little_audio", "Too little audio for a clone", "fail", total, "s", th.min_total_speech_s,
                      f"{said}: below {th.min_total_speech_s:.0f} s",
                      f"record at least {th.recommended_total_speech_s / 60:.0f} minutes of clean speech "
                      "(professional clones use 30 minutes or more)"))
    elif total < th.recommended_total_speech_s:
        out.append(_f("little_audio", "Little audio for a clone", "warn", total, "s", th.recommended_total_speech_s,
                      f"{said}: enough for an instant clone, thin for a good one",
                      "add more varied recordings; professional clones use 30 minutes or more"))
    else:
        out.append(_f("audio_amount_ok", "Amount of audio", "pass", total, "s", th.min_total_speech_s, said))
    loud = np.array([c.loudness_lufs for c in clips], dtype=float)
    ok = np.isfinite(loud)
    if ok.sum() >= 2:
        med = float(np.median(loud[ok]))
        spread = float(loud[ok].max() - loud[ok].min())
        outliers = [c.name for c, v in zip(clips, loud, strict=True) if np.isfinite(v) and abs(v - med) > th.level_outlier_db]
        said = f"clip loudness {loud[ok].min():.1f} to {loud[ok].max():.1f} LUFS (spread {spread:.1f} dB, median {med:.1f})"
        if spread > th.level_spread_warn_db:
            out.append(_f("inconsistent_level", "Inconsistent level across clips", "warn", spread, "dB",
                          th.level_spread_warn_db,
                          f"{said}; off the median by more than {th.level_outlier_db} dB: "
                          + (", ".join(outliers[:8]) + (" ..." if len(outliers) > 8 else "") if outliers else "none"),
                          "normalise every clip to the same loudness (e.g. -20 LUFS) and record with the same "
                          "gain and mic distance"))
        else:
            out.append(_f("level_ok", "Level consistent", "pass", spread, "dB", th.level_spread_warn_db, said))
    return out


def check_synthetic(
    clips: Sequence[ClipAnalysis],
    thresholds: CheckThresholds | None = None,
    reference_ranges: Mapping[str, tuple[float, float]] | None = None,
) -> list[Finding]:
    """Every check on clips of *synthetic* speech, with findings that speak of the synthesis.

    The same measures and verdicts as :func:`check_clip` and :func:`check_dataset`, but the
    advice is about the synthesis (its settings, its text, its output level), a message that
    said what a clone would learn says what the synthesis does, a finding on a measure the
    reference recordings cover quotes their range, and the amount-of-audio check (a rule for
    training data) is left out.

    Parameters
    ----------
    clips : sequence of ClipAnalysis
        The synthetic clips.
    thresholds : CheckThresholds, optional
    reference_ranges : mapping, optional
        Measure key (``"f0_std_st"``, ...) -> ``(low, high)`` of the reference recordings of
        the same voice (e.g. from :func:`models.prosody_dataset.compare_to_reference`).
    """
    th = thresholds or CheckThresholds()
    ranges = dict(reference_ranges or {})
    out = [_as_synthetic(f, ranges) for c in clips for f in check_clip(c, th)]
    out += [_as_synthetic(f, ranges) for f in check_dataset(clips, th) if f.code not in _TRAINING_ONLY]
    return out


def _as_synthetic(f: Finding, ranges: Mapping[str, tuple[float, float]]) -> Finding:
    """``f`` reworded for a synthetic clip (see :func:`check_synthetic`)."""
    if f.verdict == "pass":
        return f
    message = f.message
    for training, synthetic in _SYNTHETIC_CONSEQUENCE.items():
        message = message.replace(training, synthetic)
    lo_hi = ranges.get(_FINDING_MEASURE.get(f.code, ""))
    if lo_hi is not None and all(math.isfinite(v) for v in lo_hi):
        message += f"; the reference recordings of this voice span {lo_hi[0]:.2f}-{lo_hi[1]:.2f} {f.unit}"
    return replace(f, message=message, advice=SYNTHETIC_ADVICE.get(f.code, f.advice))


def problems(findings: Iterable[Finding]) -> list[Finding]:
    """The findings that did not pass, failures first."""
    order = {"fail": 0, "warn": 1}
    return sorted((f for f in findings if f.verdict != "pass"), key=lambda f: order[f.verdict])


def worst_verdict(findings: Iterable[Finding]) -> str:
    """``"fail"`` if any failed, else ``"warn"`` if any warned, else ``"pass"``."""
    vs = {f.verdict for f in findings}
    return "fail" if "fail" in vs else "warn" if "warn" in vs else "pass"
