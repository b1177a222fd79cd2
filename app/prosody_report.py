"""A self-contained HTML prosody report: findings, per-clip table, dataset plots as inline SVG.

No server, no scripts, no external files, no matplotlib: one HTML file that opens anywhere.
Plots are drawn here as plain SVG (scatter of pitch spread vs energy spread, histograms of the
main measures, reference-vs-synthetic strips).
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import numpy as np

from dsp.io import write_text_atomic
from models.prosody_checks import Finding, problems
from models.prosody_dataset import MEASURES, DatasetAnalysis, MeasureComparison

_COLOURS = {"pass": "#3fb950", "warn": "#f0a030", "fail": "#ff5a4e"}
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;background:#17181b;color:#d9dce1;margin:24px;max-width:1200px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin-top:28px;border-bottom:1px solid #3a3d44;padding-bottom:4px}
.dim{color:#8b9099} table{border-collapse:collapse;font-size:13px;width:100%}
th,td{padding:4px 8px;border-bottom:1px solid #2f3238;text-align:right} th{color:#8b9099;font-weight:600}
td:first-child,th:first-child{text-align:left}
.badge{display:inline-block;border-radius:3px;padding:1px 6px;font-size:12px;font-weight:700;color:#17181b}
.finding{background:#202226;border-left:4px solid;padding:8px 12px;margin:6px 0;border-radius:3px}
.finding .adv{color:#a6e6f0;margin-top:3px}
.plots{display:flex;flex-wrap:wrap;gap:16px} svg{background:#202226;border-radius:4px}
"""


def _e(text: object) -> str:
    return html.escape(str(text))


def _fmt(v: float, digits: int = 2) -> str:
    return "-" if v is None or not math.isfinite(v) else f"{v:.{digits}f}"


def _badge(verdict: str) -> str:
    return f'<span class="badge" style="background:{_COLOURS[verdict]}">{verdict.upper()}</span>'


def _finding_html(f: Finding) -> str:
    where = ""
    if f.times_s:
        spans = ", ".join(f"{a:.2f}-{b:.2f} s" for a, b in f.times_s[:6])
        where = f' <span class="dim">at {spans}{" ..." if len(f.times_s) > 6 else ""}</span>'
    clip = f"<b>{_e(f.clip)}</b>: " if f.clip else "<b>Dataset</b>: "
    thr = (f' <span class="dim">(measured {_fmt(f.measured)} {_e(f.unit)}, threshold {_fmt(f.threshold)} '
           f"{_e(f.unit)})</span>")
    adv = f'<div class="adv">What to do: {_e(f.advice)}</div>' if f.advice else ""
    return (f'<div class="finding" style="border-color:{_COLOURS[f.verdict]}">{_badge(f.verdict)} '
            f"{clip}{_e(f.title)}: {_e(f.message)}{thr}{where}{adv}</div>")


# --- SVG plots ---------------------------------------------------------------------------------

def _nice_range(v: np.ndarray) -> tuple[float, float]:
    lo, hi = float(np.min(v)), float(np.max(v))
    if hi - lo < 1e-9:
        lo, hi = lo - 1.0, hi + 1.0
    pad = 0.06 * (hi - lo)
    return lo - pad, hi + pad


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    step = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(step))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= step), default=step)
    start = math.ceil(lo / step) * step
    return [start + i * step for i in range(int((hi - start) / step) + 1)]


def svg_scatter(points: Sequence[tuple[float, float, str, str]], *, xlabel: str, ylabel: str,
                width: int = 460, height: int = 320, title: str = "") -> str:
    """Scatter plot; ``points`` are ``(x, y, label, colour)``. Non-finite points are skipped."""
    pts = [p for p in points if math.isfinite(p[0]) and math.isfinite(p[1])]
    ml, mr, mt, mb = 52, 14, 26, 40
    out = [f'<svg width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg" font-size="11" fill="#d9dce1">']
    out.append(f'<text x="{width / 2}" y="16" text-anchor="middle" font-size="13">{_e(title)}</text>')
    if not pts:
        out.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" fill="#8b9099">no data</text></svg>')
        return "".join(out)
    xs = np.array([p[0] for p in pts])
    ys = np.array([p[1] for p in pts])
    x0, x1 = _nice_range(xs)
    y0, y1 = _nice_range(ys)
    pw, ph = width - ml - mr, height - mt - mb

    def sx(v):
        return ml + (v - x0) / (x1 - x0) * pw

    def sy(v):
        return mt + ph - (v - y0) / (y1 - y0) * ph

    out.append(f'<rect x="{ml}" y="{mt}" width="{pw}" height="{ph}" fill="none" stroke="#3a3d44"/>')
    for t in _ticks(x0, x1):
        out.append(f'<line x1="{sx(t):.1f}" x2="{sx(t):.1f}" y1="{mt}" y2="{mt + ph}" stroke="#2f3238"/>'
                   f'<text x="{sx(t):.1f}" y="{mt + ph + 14}" text-anchor="middle">{t:g}</text>')
    for t in _ticks(y0, y1):
        out.append(f'<line x1="{ml}" x2="{ml + pw}" y1="{sy(t):.1f}" y2="{sy(t):.1f}" stroke="#2f3238"/>'
                   f'<text x="{ml - 4}" y="{sy(t) + 4:.1f}" text-anchor="end">{t:g}</text>')
    out.append(f'<text x="{ml + pw / 2}" y="{height - 6}" text-anchor="middle" fill="#8b9099">{_e(xlabel)}</text>')
    out.append(f'<text transform="translate(13,{mt + ph / 2}) rotate(-90)" text-anchor="middle" fill="#8b9099">{_e(ylabel)}</text>')
    for x, y, label, colour in pts:
        out.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="4.5" fill="{colour}" fill-opacity="0.85">'
                   f"<title>{_e(label)}: {x:.2f}, {y:.2f}</title></circle>")
    out.append("</svg>")
    return "".join(out)


def svg_histogram(series: Sequence[tuple[str, Sequence[float], str]], *, label: str, width: int = 300,
                  height: int = 200, bins: int = 12, marks: Sequence[tuple[float, str]] = ()) -> str:
    """Histogram of one or more value sets ``(name, values, colour)`` on shared bins."""
    allv = np.concatenate([np.asarray(v, float) for _, v, _ in series]) if series else np.zeros(0)
    allv = allv[np.isfinite(allv)]
    ml, mr, mt, mb = 34, 10, 22, 34
    out = [f'<svg width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg" font-size="10" fill="#d9dce1">']
    out.append(f'<text x="{width / 2}" y="14" text-anchor="middle" font-size="12">{_e(label)}</text>')
    if len(allv) == 0:
        out.append("</svg>")
        return "".join(out)
    lo, hi = _nice_range(np.concatenate([allv, [m for m, _ in marks]]) if marks else allv)
    edges = np.linspace(lo, hi, bins + 1)
    counts = [np.histogram(np.asarray(v, float)[np.isfinite(v)], edges)[0] for _, v, _ in series]
    top = max(1, max(int(c.max()) for c in counts))
    pw, ph = width - ml - mr, height - mt - mb
    bw = pw / bins / max(1, len(series))
    out.append(f'<line x1="{ml}" x2="{ml + pw}" y1="{mt + ph}" y2="{mt + ph}" stroke="#3a3d44"/>')
    for k, ((name, _, colour), c) in enumerate(zip(series, counts, strict=True)):
        for i, n in enumerate(c):
            if n == 0:
                continue
            h = n / top * ph
            x = ml + i * pw / bins + k * bw
            out.append(f'<rect x="{x:.1f}" y="{mt + ph - h:.1f}" width="{max(bw - 1, 1):.1f}" height="{h:.1f}" '
                       f'fill="{colour}" fill-opacity="0.85"><title>{_e(name)}: {n}</title></rect>')
    for value, colour in marks:
        x = ml + (value - lo) / (hi - lo) * pw
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{mt}" y2="{mt + ph}" stroke="{colour}" stroke-dasharray="4 3"/>')
    for t in _ticks(lo, hi, 4):
        x = ml + (t - lo) / (hi - lo) * pw
        out.append(f'<text x="{x:.1f}" y="{mt + ph + 13}" text-anchor="middle">{t:g}</text>')
    out.append(f'<text x="{ml - 4}" y="{mt + 8}" text-anchor="end">{top}</text>')
    legend = " ".join(f'<tspan fill="{c}">&#9632; {_e(n)}</tspan>' for n, _, c in series if len(series) > 1)
    if legend:
        out.append(f'<text x="{ml}" y="{height - 4}">{legend}</text>')
    out.append("</svg>")
    return "".join(out)


# --- the report --------------------------------------------------------------------------------

_TABLE = [
    ("F0 med Hz", "f0_median_hz", 0), ("F0 std st", "f0_std_st", 2), ("span st", "f0_span_st", 1),
    ("int. std dB", "intensity_std_db", 1), ("voiced", "voiced_fraction", 2), ("pauses", "pause_count", 0),
    ("max pause s", "max_pause_s", 2), ("breaths", "breath_count", 0), ("artic. syl/s", "articulation_rate_syll_s", 2),
    ("LUFS", "loudness_lufs", 1), ("SNR dB", "snr_db", 1), ("dur s", "duration_s", 2),
]


def clip_colour(dataset: DatasetAnalysis, name: str) -> str:
    """Colour of a clip's worst verdict."""
    vs = {f.verdict for f in dataset.clip_findings(name)}
    return _COLOURS["fail" if "fail" in vs else "warn" if "warn" in vs else "pass"]


def render_report(dataset: DatasetAnalysis, *, reference: DatasetAnalysis | None = None,
                  comparison: Sequence[MeasureComparison] = (), title: str = "Prosody report") -> str:
    """The report as one HTML string."""
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{_e(title)}</title><style>{_CSS}</style></head><body>"]
    parts.append(f"<h1>{_e(title)}</h1>")
    parts.append(
        f'<div class="dim">{_e(dataset.label)} &middot; {len(dataset.clips)} clip(s), '
        f"{dataset.total_duration_s:.1f} s ({dataset.total_speech_s:.1f} s speech) &middot; generated "
        f"{datetime.now().strftime('%Y-%m-%d %H:%M')} by Roomtone. Pitch: Praat autocorrelation, two-pass "
        "speaker-adapted range; semitones are relative to each clip's median F0.</div>"
    )
    parts.extend(_findings_html(dataset))
    parts.extend(_dataset_html(dataset, reference))
    if comparison:
        parts.extend(_comparison_html(comparison))
    parts.extend(_clips_html(dataset))
    parts.append("</table></body></html>")
    return "\n".join(parts)


def _findings_html(dataset: DatasetAnalysis) -> list[str]:
    """The dataset's problems and the files that could not be analysed."""
    parts: list[str] = []
    probs = problems(dataset.findings)
    parts.append(f"<h2>Findings ({len(probs)})</h2>")
    parts.extend(_finding_html(f) for f in probs)
    if not probs:
        parts.append('<div class="finding" style="border-color:#3fb950">No problems found.</div>')
    if dataset.failures:
        parts.append("<h2>Files not analysed</h2><ul>" + "".join(
            f"<li>{_e(p)}: {_e(m)}</li>" for p, m in dataset.failures) + "</ul>")
    return parts


def _dataset_html(dataset: DatasetAnalysis, reference: DatasetAnalysis | None) -> list[str]:
    """Dataset coverage: scatter plots and histograms (against the reference), coverage, outliers."""
    parts: list[str] = []
    parts.append("<h2>Dataset coverage</h2><div class='plots'>")
    pts = [(c.pitch.std_st, c.intensity_std_db, c.name, clip_colour(dataset, c.name)) for c in dataset.clips]
    if reference is not None:
        pts = [(c.pitch.std_st, c.intensity_std_db, f"reference {c.name}", "#8b9099") for c in reference.clips] + pts
    parts.append(svg_scatter(pts, xlabel="F0 std (st, re clip median)", ylabel="intensity std (dB)",
                             title="Pitch spread vs energy spread"))
    med = dataset.values("f0_median_hz")
    pts2 = [(float(m), c.articulation_rate_syll_s, c.name, clip_colour(dataset, c.name))
            for c, m in zip(dataset.clips, med, strict=True)]
    parts.append(svg_scatter(pts2, xlabel="F0 median (Hz)", ylabel="articulation rate (syll/s)",
                             title="Pitch vs rate"))
    parts.append("</div><div class='plots'>")
    for key in ("f0_std_st", "f0_span_st", "intensity_std_db", "articulation_rate_syll_s", "loudness_lufs", "pauses_per_min"):
        lab, unit = MEASURES[key]
        series = [("clips", dataset.values(key), "#58c4d6")]
        if reference is not None:
            series = [("reference", reference.values(key), "#8b9099")] + series
        marks = []
        if key == "f0_std_st":
            marks = [(2.0, "#f0a030"), (1.5, "#ff5a4e")]
        parts.append(svg_histogram(series, label=f"{lab} ({unit})" if unit else lab, marks=marks))
    parts.append("</div>")
    cov = dataset.coverage()
    parts.append("<table><tr><th>coverage</th><th>value</th></tr>" + "".join(
        f"<tr><td>{_e(k)}</td><td>{_fmt(v) if isinstance(v, float) else _e(v)}</td></tr>" for k, v in cov.items()) + "</table>")
    outl = dataset.outliers()
    if outl:
        parts.append("<h2>Outlier clips</h2><table><tr><th>clip</th><th>measure</th><th>value</th><th>dataset median</th><th>robust z</th></tr>")
        parts.extend(f"<tr><td>{_e(o['clip'])}</td><td>{_e(MEASURES.get(o['measure'], (o['measure'],))[0])}</td>"
                     f"<td>{_fmt(o['value'])}</td><td>{_fmt(o['median'])}</td><td>{_fmt(o['z'], 1)}</td></tr>" for o in outl[:30])
        parts.append("</table>")
    return parts


def _comparison_html(comparison: Sequence[MeasureComparison]) -> list[str]:
    """Synthetic vs reference: one row per measure, a histogram for each one outside the range."""
    parts: list[str] = []
    parts.append("<h2>Synthetic vs reference</h2><table><tr><th>measure</th><th>reference range</th>"
                 "<th>ref. median</th><th>synthetic median</th><th>outside</th><th>verdict</th></tr>")
    for c in comparison:
        parts.append(
            f"<tr><td>{_e(c.label)} {('(' + _e(c.unit) + ')') if c.unit else ''}</td>"
            f"<td>{_fmt(c.reference_low)} - {_fmt(c.reference_high)}</td><td>{_fmt(c.reference_median)}</td>"
            f"<td>{_fmt(c.synthetic_median)}</td><td>{len(c.outside)}/{len(c.synthetic_values)}</td>"
            f"<td>{_badge(c.verdict)}</td></tr>")
    parts.append("</table><div class='plots'>")
    for c in comparison:
        if c.verdict != "pass":
            parts.append(svg_histogram([("reference", c.reference_values, "#8b9099"),
                                        ("synthetic", c.synthetic_values, "#f0a030")],
                                       label=f"{c.label} ({c.unit})" if c.unit else c.label))
    parts.append("</div>")
    return parts


def _clips_html(dataset: DatasetAnalysis) -> list[str]:
    """One table row per clip: its verdict, what it failed and its measures."""
    parts: list[str] = []
    parts.append("<h2>Clips</h2><table><tr><th>clip</th><th>verdict</th>"
                 + "".join(f"<th>{_e(h)}</th>" for h, _, _ in _TABLE) + "</tr>")
    for c in dataset.clips:
        m = c.measures()
        fs = dataset.clip_findings(c.name)
        vs = {f.verdict for f in fs}
        v = "fail" if "fail" in vs else "warn" if "warn" in vs else "pass"
        codes = ", ".join(f.title for f in fs if f.verdict != "pass")
        parts.append(f"<tr><td>{_e(c.name)}</td><td>{_badge(v)} <span class='dim'>{_e(codes)}</span></td>"
                     + "".join(f"<td>{_fmt(m[k], d)}</td>" for _, k, d in _TABLE) + "</tr>")
    return parts


def write_report(path: str | os.PathLike, dataset: DatasetAnalysis, **kwargs) -> Path:
    """Write :func:`render_report` to ``path`` atomically (temporary file, then rename).

    Raises
    ------
    OutputError
        If the folder is missing or not writable.
    """
    target = Path(path)
    text = render_report(dataset, **kwargs)
    write_text_atomic(target, text)
    return target
