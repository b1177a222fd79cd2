"""Prosody over a dataset (a folder of clips): per-clip analyses, coverage, outliers, reference comparison.

- :func:`collect_audio_files` expands files and folders (recursively) into the audio files we read.
- :func:`analyse_dataset` analyses each clip (optionally in a process pool), keeps going past a
  clip that cannot be read (it is listed in ``failures``), and runs the per-clip and dataset
  checks.
- **Coverage** (:meth:`DatasetAnalysis.coverage`): how varied the clips are in pitch (spread of
  clip median F0 in semitones re the dataset median, and the range of clip F0 spreads), energy
  (clip loudness range) and rate.
- **Outliers** (:meth:`DatasetAnalysis.outliers`): clips whose measure lies more than
  ``z_limit`` robust z-scores (median / 1.4826 MAD, the standard deviation when the MAD is 0)
  from the dataset's median; needs 5 clips.
- **Reference vs synthetic** (:func:`compare_to_reference`): for each measure, the reference
  recordings' p5-p95 range (min-max with fewer than 10 clips) and which synthetic clips fall
  outside it, with the two distributions for side-by-side plots.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from dsp.errors import InputError, RoomtoneError
from models.prosody import ClipAnalysis, ProsodySettings, analyse_file
from models.prosody_checks import (
    CheckThresholds,
    Finding,
    check_clip,
    check_dataset,
    check_synthetic,
)

AUDIO_EXTENSIONS = (".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".aifc")

#: Measures shown in dataset plots and compared against a reference: key -> (label, unit).
MEASURES: dict[str, tuple[str, str]] = {
    "f0_median_hz": ("F0 median", "Hz"),
    "f0_std_st": ("F0 std", "st"),
    "f0_span_st": ("F0 p5-p95 span", "st"),
    "intensity_std_db": ("Intensity std", "dB"),
    "voiced_fraction": ("Voiced fraction", ""),
    "articulation_rate_syll_s": ("Articulation rate", "syll/s"),
    "speaking_rate_syll_s": ("Speaking rate", "syll/s"),
    "pauses_per_min": ("Pauses", "/min"),
    "mean_pause_s": ("Mean pause", "s"),
    "breath_count": ("Breaths", ""),
    "loudness_lufs": ("Loudness", "LUFS"),
    "snr_db": ("SNR", "dB"),
}


def collect_audio_files(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Audio files named by ``paths`` (files as given, folders searched recursively, sorted).

    Raises
    ------
    InputError
        If a path does not exist, or nothing readable was found.
    """
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in AUDIO_EXTENSIONS))
        elif p.exists():
            out.append(p)
        else:
            raise InputError(f"{p}: no such file or folder; check the path")
    if not out:
        raise InputError(
            f"no audio files found in {', '.join(map(str, paths))}; expected {', '.join(AUDIO_EXTENSIONS)} files"
        )
    return out


@dataclass
class DatasetAnalysis:
    """Analyses of several clips with their findings (per clip and for the dataset)."""

    clips: list[ClipAnalysis]
    findings: list[Finding]
    failures: list[tuple[str, str]] = field(default_factory=list)  # (path, message)
    label: str = ""

    def values(self, key: str) -> np.ndarray:
        """One measure across clips (NaN where undefined)."""
        return np.array([c.measures().get(key, math.nan) for c in self.clips], dtype=float)

    @property
    def total_duration_s(self) -> float:
        return float(sum(c.duration_s for c in self.clips))

    @property
    def total_speech_s(self) -> float:
        return float(sum(c.speech_time_s for c in self.clips))

    def clip_findings(self, name: str) -> list[Finding]:
        return [f for f in self.findings if f.clip == name]

    def dataset_findings(self) -> list[Finding]:
        return [f for f in self.findings if f.clip is None]

    def coverage(self) -> dict[str, Any]:
        """How varied the clips are in pitch, energy and rate (see the module docstring)."""
        med = self.values("f0_median_hz")
        ok = np.isfinite(med) & (med > 0)
        cov: dict[str, Any] = {"clips": len(self.clips)}
        if ok.any():
            st = 12 * np.log2(med[ok] / np.median(med[ok]))
            cov["f0_median_range_st"] = float(st.max() - st.min())
        for key in ("f0_std_st", "intensity_std_db", "articulation_rate_syll_s", "loudness_lufs"):
            v = self.values(key)
            v = v[np.isfinite(v)]
            if len(v):
                cov[f"{key}_min"] = float(v.min())
                cov[f"{key}_median"] = float(np.median(v))
                cov[f"{key}_max"] = float(v.max())
        std = self.values("f0_std_st")
        std = std[np.isfinite(std)]
        if len(std):
            cov["expressive_fraction"] = float(np.mean(std >= 4.0))
            cov["monotone_fraction"] = float(np.mean(std < 2.0))
        return cov

    def outliers(self, *, z_limit: float = 3.0, keys: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Clips far from the rest on a measure: ``{clip, measure, value, median, z}``, worst first."""
        out: list[dict[str, Any]] = []
        if len(self.clips) < 5:
            return out
        for key in keys or MEASURES:
            v = self.values(key)
            ok = np.isfinite(v)
            if ok.sum() < 5:
                continue
            med = float(np.median(v[ok]))
            mad = 1.4826 * float(np.median(np.abs(v[ok] - med)))
            if mad <= 1e-9:  # most clips identical: fall back to the standard deviation
                mad = float(np.std(v[ok]))
                if mad <= 1e-9:
                    continue
            for c, x in zip(self.clips, v, strict=True):
                if np.isfinite(x) and abs(x - med) / mad > z_limit:
                    out.append({"clip": c.name, "measure": key, "value": float(x), "median": med,
                                "z": float((x - med) / mad)})
        return sorted(out, key=lambda d: -abs(d["z"]))

    def to_dict(self, *, contours: bool = False) -> dict[str, Any]:
        return {
            "label": self.label,
            "clips": [c.to_dict(contours=contours) for c in self.clips],
            "findings": [f.to_dict() for f in self.findings],
            "failures": [{"path": p, "error": m} for p, m in self.failures],
            "coverage": self.coverage(),
            "outliers": self.outliers(),
            "total_duration_s": round(self.total_duration_s, 3),
            "total_speech_s": round(self.total_speech_s, 3),
        }


def _analyse_one(path: str, settings: ProsodySettings) -> tuple[str, ClipAnalysis | None, str]:
    try:
        return path, analyse_file(path, settings=settings), ""
    except RoomtoneError as exc:
        return path, None, str(exc)


def analyse_dataset(paths: Iterable[str | os.PathLike], *, settings: ProsodySettings | None = None,
                    thresholds: CheckThresholds | None = None, workers: int = 1, label: str = "",
                    progress: Callable[[int, int, str], None] | None = None) -> DatasetAnalysis:
    """Analyse every audio file under ``paths`` and check each clip and the whole set.

    Parameters
    ----------
    paths : iterable of path
        Files and/or folders.
    settings : ProsodySettings, optional
    thresholds : CheckThresholds, optional
    workers : int
        Processes to use (1 = in this process).
    label : str
        A name for the set (reports show it).
    progress : callable, optional
        ``progress(done, total, name)`` after each clip.

    Raises
    ------
    InputError
        If no file could be analysed at all.
    """
    s = settings or ProsodySettings()
    files = [str(p) for p in collect_audio_files(paths)]
    results: list[tuple[str, ClipAnalysis | None, str]] = []
    if workers > 1 and len(files) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futs = [pool.submit(_analyse_one, f, s) for f in files]
            for i, fut in enumerate(futs):
                results.append(fut.result())
                if progress:
                    progress(i + 1, len(files), Path(files[i]).name)
    else:
        for i, f in enumerate(files):
            results.append(_analyse_one(f, s))
            if progress:
                progress(i + 1, len(files), Path(f).name)
    clips = [a for _, a, _ in results if a is not None]
    failures = [(p, m) for p, a, m in results if a is None]
    if not clips:
        raise InputError("no clip could be analysed: " + "; ".join(m for _, m in failures[:3]))
    _unique_names(clips)
    return dataset_from_clips(clips, thresholds=thresholds, failures=failures,
                              label=label or ", ".join(Path(str(p)).name for p in paths))


def _unique_names(clips: list[ClipAnalysis]) -> None:
    seen: dict[str, int] = {}
    for c in clips:
        if c.name in seen:
            seen[c.name] += 1
            c.name = f"{Path(c.path).parent.name}/{c.name}" if c.path else f"{c.name}#{seen[c.name]}"
        else:
            seen[c.name] = 1


def dataset_from_clips(clips: Sequence[ClipAnalysis], *, thresholds: CheckThresholds | None = None,
                       failures: Sequence[tuple[str, str]] = (), label: str = "") -> DatasetAnalysis:
    """Run the per-clip and dataset checks over already analysed clips."""
    th = thresholds or CheckThresholds()
    findings: list[Finding] = []
    for c in clips:
        findings.extend(check_clip(c, th))
    findings.extend(check_dataset(clips, th))
    return DatasetAnalysis(clips=list(clips), findings=findings, failures=list(failures), label=label)


@dataclass
class MeasureComparison:
    """One measure: the reference range, the synthetic values and who falls outside."""

    measure: str
    label: str
    unit: str
    reference_low: float
    reference_high: float
    reference_median: float
    synthetic_median: float
    reference_values: list[float]
    synthetic_values: list[float]
    outside: list[str]  # synthetic clip names outside [low, high]
    fraction_outside: float

    @property
    def verdict(self) -> str:
        if not self.synthetic_values:
            return "pass"
        return "fail" if self.fraction_outside > 0.5 else "warn" if self.outside else "pass"

    def to_dict(self) -> dict[str, Any]:
        def r(v):
            return None if not math.isfinite(v) else round(float(v), 4)
        return {
            "measure": self.measure, "label": self.label, "unit": self.unit,
            "reference_low": r(self.reference_low), "reference_high": r(self.reference_high),
            "reference_median": r(self.reference_median), "synthetic_median": r(self.synthetic_median),
            "reference_values": [r(v) for v in self.reference_values],
            "synthetic_values": [r(v) for v in self.synthetic_values],
            "outside": self.outside, "fraction_outside": round(self.fraction_outside, 4),
            "verdict": self.verdict,
        }


def compare_to_reference(synthetic: DatasetAnalysis, reference: DatasetAnalysis, *,
                         keys: Sequence[str] | None = None) -> list[MeasureComparison]:
    """Which measures of the synthetic clips fall outside the reference recordings' range.

    The range is the reference's p5-p95 (min-max with fewer than 10 reference clips). F0 median
    is compared in Hz; everything else in its own unit.
    """
    out = []
    for key in keys or MEASURES:
        label, unit = MEASURES.get(key, (key, ""))
        rv = reference.values(key)
        rv = rv[np.isfinite(rv)]
        sv_all = synthetic.values(key)
        if len(rv) == 0:
            continue
        if len(rv) >= 10:
            lo, hi = (float(v) for v in np.percentile(rv, [5, 95]))
        else:
            lo, hi = float(rv.min()), float(rv.max())
        names = [c.name for c, v in zip(synthetic.clips, sv_all, strict=True) if np.isfinite(v)]
        sv = sv_all[np.isfinite(sv_all)]
        outside = [n for n, v in zip(names, sv, strict=True) if v < lo - 1e-9 or v > hi + 1e-9]
        out.append(MeasureComparison(
            measure=key, label=label, unit=unit, reference_low=lo, reference_high=hi,
            reference_median=float(np.median(rv)),
            synthetic_median=float(np.median(sv)) if len(sv) else math.nan,
            reference_values=[float(v) for v in rv], synthetic_values=[float(v) for v in sv],
            outside=outside, fraction_outside=len(outside) / len(sv) if len(sv) else 0.0,
        ))
    return out


def judge_synthetic(synthetic: DatasetAnalysis, reference: DatasetAnalysis,
                    thresholds: CheckThresholds | None = None) -> tuple[DatasetAnalysis, list[MeasureComparison]]:
    """Clips under test that are synthetic output, judged against reference recordings of the voice.

    Returns the synthetic dataset with its findings replaced by
    :func:`models.prosody_checks.check_synthetic`'s (advice about the synthesis, the reference
    range quoted, no too-little-audio check, which is for training data) and the comparison of
    each measure with the reference range. The CLI's ``--reference`` and the workstation's
    Reference button both use this.
    """
    comparison = compare_to_reference(synthetic, reference)
    ranges = {c.measure: (c.reference_low, c.reference_high) for c in comparison}
    judged = replace(synthetic, findings=check_synthetic(synthetic.clips, thresholds, ranges))
    return judged, comparison
