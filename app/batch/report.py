"""Batch reports: per-file spectrogram PNGs and JSON, and one self-contained ``index.html``.

The HTML is written for the client, not the engineer: an overview (what was delivered, does it
meet the loudness spec), one table for the whole batch, then a section per file with the
measurements before and after, the before/after spectrograms and, folded away, the settings and
software versions. One HTML file with inline CSS plus the PNGs next to it; no server, no
scripts, prints cleanly.

:class:`SpectrogramAccumulator` keeps a decimated spectrogram of a stream (bounded memory: at
most ``columns`` columns however long the file) for the pictures.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import scipy.fft

from app.loudness_png import write_loudness_png
from app.loudness_timeline import LEVEL_SCALE
from app.pipeline import room_decay_note
from app.spectrogram_png import write_spectrogram_png
from dsp.io import write_text_atomic
from dsp.loudness_timeline import build_timeline

#: Loudness compliance tolerance shown in the report, LU.
LOUDNESS_TOLERANCE_LU = 0.5


# -- spectrograms ------------------------------------------------------------------------------------
#: Frames analysed per picture column at most (a long file's column spans many more).
FRAMES_PER_COLUMN = 12


class SpectrogramAccumulator:
    """A streaming, decimated power spectrogram (channels mixed) for report pictures.

    Parameters
    ----------
    sample_rate, channels, frames : int
        The stream (``frames`` fixes the decimation so the picture has at most ``columns`` columns).
    columns : int
        Most columns kept.

    Notes
    -----
    Frames of ``n_fft`` (2048 above 32 kHz, else 1024) with a Hann window every ``n_fft / 2``
    samples; each column is the mean power of the ``decimation`` consecutive frames it spans, in
    dB relative to a full-scale sine (so roughly dBFS per band). Where a column spans more than
    :data:`FRAMES_PER_COLUMN` frames only every ``stride``-th frame is analysed (an hour at 48 kHz:
    14 of 169 per column), which keeps the picture and costs a twelfth.
    """

    def __init__(self, sample_rate: int, channels: int, frames: int, *, columns: int = 1000) -> None:
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self.n_fft = 2048 if sample_rate > 32000 else 1024
        self.hop = self.n_fft // 2
        n_frames = max(1, (int(frames) - self.n_fft) // self.hop + 1)
        self.decimation = max(1, -(-n_frames // columns))
        self.stride = max(1, self.decimation // FRAMES_PER_COLUMN)
        self.n_cols = -(-n_frames // self.decimation)
        self.bins = self.n_fft // 2 + 1
        self.sum = np.zeros((self.n_cols, self.bins), np.float64)
        self.count = np.zeros(self.n_cols, np.int64)
        self.window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(self.n_fft) / self.n_fft)).astype(np.float32)
        self.norm = (self.window.sum() / 2.0) ** 2
        self._buf = np.zeros(0, np.float32)
        self._frame = 0
        self.duration_s = frames / sample_rate

    def add(self, block: np.ndarray) -> None:
        mono = np.asarray(block, np.float32)
        if mono.ndim == 2:
            mono = mono.mean(axis=0) if mono.shape[0] > 1 else mono[0]
        buf = np.concatenate([self._buf, mono])
        n = (buf.shape[0] - self.n_fft) // self.hop + 1 if buf.shape[0] >= self.n_fft else 0
        if n > 0:
            frames = self._frame + np.arange(n)
            # a column averages `decimation` frames; :data:`FRAMES_PER_COLUMN` evenly spread ones
            # give the same picture at a fraction of the cost on long files
            use = frames % self.stride == 0
            cols = frames[use] // self.decimation
            ok = cols < self.n_cols
            starts = frames[use][ok] - self._frame
            if starts.size:
                idx = np.arange(self.n_fft)[None, :] + self.hop * starts[:, None]
                spec = scipy.fft.rfft(buf[idx] * self.window, axis=1)
                power = spec.real**2 + spec.imag**2
                cols = cols[ok]
                first = np.flatnonzero(np.r_[True, cols[1:] != cols[:-1]])
                self.sum[cols[first]] += np.add.reduceat(power, first, axis=0)
                self.count[cols[first]] += np.diff(np.r_[first, cols.size])
            self._frame += n
            buf = buf[n * self.hop :]
        self._buf = buf

    def level_db(self) -> np.ndarray:
        """``(columns, bins)`` level in dB re a full-scale sine."""
        mean = self.sum / np.maximum(self.count, 1)[:, None]
        return 10.0 * np.log10(np.maximum(mean / self.norm, 1e-14))

    def frequencies(self) -> np.ndarray:
        return np.arange(self.bins) * (self.sample_rate / self.n_fft)

    def column_times(self) -> np.ndarray:
        return np.arange(self.n_cols) * self.decimation * self.hop / self.sample_rate


def _mask_on_grid(hole_map: Any, spec: SpectrogramAccumulator) -> np.ndarray | None:
    """The hole map's decimated mask resampled (nearest) onto ``spec``'s columns and bins."""
    if hole_map is None or hole_map.mask.size == 0:
        return None
    ht = hole_map.column_times()
    hf = hole_map.frequencies()
    ci = np.clip(np.searchsorted(ht, spec.column_times(), side="right") - 1, 0, len(ht) - 1)
    bi = np.clip(np.round(spec.frequencies() / (hf[1] - hf[0])).astype(int), 0, len(hf) - 1)
    mask = hole_map.mask[np.ix_(ci, bi)].astype(np.float32)
    return mask


def speaker_levels(before_meter: Any, after_meter: Any, sample_rate: int) -> tuple[dict, tuple[Any, Any]]:
    """The speaker-level figures of one file and its two loudness timelines, from two
    :class:`~app.batch.loudness.ProgramMeter` s (the source's and the written file's).

    The phrases are found in the source by level over its noise floor (the batch does not run the
    voice activity model: it would cost about 12 s an hour) and the output is measured over the
    same spans. Returns ``({"before": summary, "after": summary, "detector": ...}, (before, after))``
    with :meth:`dsp.loudness_timeline.LoudnessTimeline.summary` figures.
    """
    before = build_timeline(before_meter.sub_block_energies(), sample_rate)
    after = build_timeline(after_meter.sub_block_energies(), sample_rate, phrases=before.phrases)
    figures = {"before": before.summary(), "after": after.summary(), "detector": before.detector,
               "note": "phrases found by level over the source's noise floor; the output measured over the same spans"}
    return figures, (before, after)


def write_file_report(report_dir: Path, slug: str, report: dict, before: SpectrogramAccumulator,
                      after: SpectrogramAccumulator, *, hole_map: Any = None, hole_strength: float = 1.0,
                      timelines: tuple[Any, Any] | None = None) -> dict:
    """Write the before/after spectrogram PNGs of one file; returns their paths relative to ``report_dir``.

    The after picture is level-matched: drawn at the source's loudness (the loudness gain taken
    off, :func:`loudness_change_db`), so what changed is the clean-up, not the level.
    ``hole_map`` (a :class:`dsp.holes.HoleMap`, the holes left in the output) is drawn over the
    after picture in cyan, its opacity scaled by ``hole_strength``. With ``timelines`` (the
    source's and the output's :class:`~dsp.loudness_timeline.LoudnessTimeline`) the loudness
    picture is written too (``"loudness"``), its after curve level-matched the same way.
    """
    img_dir = Path(report_dir) / "img"
    img_dir.mkdir(parents=True, exist_ok=True)
    lb, la = before.level_db(), after.level_db() - loudness_change_db(report)  # after at the source's loudness
    top = float(max(np.max(lb, initial=-120.0), np.max(la, initial=-120.0)))
    kw = dict(width=1000, height=230, db_range=80.0, top_db=top, log_frequency=True, min_hz=40.0)
    names = {"before": f"img/{slug}-before.png", "after": f"img/{slug}-after.png"}
    write_spectrogram_png(Path(report_dir) / names["before"], lb, before.sample_rate, before.duration_s, **kw)
    mask = _mask_on_grid(hole_map, after)
    if mask is not None:
        mask = mask * np.float32(hole_strength)
    write_spectrogram_png(Path(report_dir) / names["after"], la, after.sample_rate, after.duration_s, mask=mask, **kw)
    if timelines is not None:
        names["loudness"] = f"img/{slug}-loudness.png"
        write_loudness_png(Path(report_dir) / names["loudness"], timelines[0], timelines[1], before.duration_s,
                           width=1000, height=200, after_offset_db=-loudness_change_db(report))
    return names


def loudness_change_db(rep: dict) -> float:
    """How much louder the output is than the source (integrated loudness, dB; 0 when unmeasurable)."""
    b, a = (rep.get("before") or {}).get("integrated_lufs"), (rep.get("after") or {}).get("integrated_lufs")
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and math.isfinite(a) and math.isfinite(b):
        return float(a - b)
    return 0.0


def matched_floor(rep: dict) -> float | None:
    """The output's noise floor at the source's loudness (dBFS): comparable with the source's floor."""
    floor = (rep.get("after") or {}).get("noise_floor_dbfs")
    return floor - loudness_change_db(rep) if isinstance(floor, (int, float)) else None


def inline_png(path: Path) -> str:
    """A ``data:`` URI of a PNG, so the report is one self-contained file that can be mailed."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


# -- formatting ----------------------------------------------------------------------------------------
MINUS = "\u2212"


def name_html(name: str) -> str:
    """A file name, escaped, that may wrap only after a separator (/ _ - . space), never mid-word."""
    return "".join(_e(part) + ("<wbr>" if re.fullmatch(r"[/_\-. ]+", part) else "")
                   for part in re.split(r"([/_\-. ]+)", str(name)) if part)


def _e(text: Any) -> str:
    return html.escape(str(text))


def num(v: Any, digits: int = 1, unit: str = "", *, signed: bool = False) -> str:
    """A number for the report: typographic minus, fixed decimals, thin space before the unit."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return '<span class="na">n/a</span>'
    s = f"{v:+.{digits}f}" if signed else f"{v:.{digits}f}"
    s = s.replace("-", MINUS)
    return f"{s}\u2009{unit}" if unit else s


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    seconds = float(seconds)
    h, rem = divmod(int(round(seconds)), 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _compliance(rep: dict) -> tuple[bool | None, str]:
    """(meets the spec?, reason) for one finished file; None when loudness was off."""
    loud = rep.get("loudness", {})
    if loud.get("target_lufs") is None:
        return None, "loudness normalisation off"
    after = rep.get("after", {})
    i, tp = after.get("integrated_lufs"), after.get("true_peak_dbtp")
    if i is None or tp is None:
        return False, "not measurable"
    ok_i = abs(i - loud["target_lufs"]) <= LOUDNESS_TOLERANCE_LU
    ok_tp = tp <= loud["ceiling_dbtp"] + 1e-6
    if ok_i and ok_tp:
        return True, "meets spec"
    why = []
    if not ok_i:
        why.append(f"loudness {num(i, 1)} LUFS")
    if not ok_tp:
        why.append(f"true peak {num(tp, 1)} dBTP")
    return False, ", ".join(why)


_CSS = """
:root{--ink:#1d2430;--soft:#5b6574;--faint:#8a93a1;--line:#e3e7ec;--bg:#f6f7f9;--card:#fff;--accent:#2f6fdf;
--ok:#1f8a4c;--okbg:#e7f5ec;--bad:#c2372b;--badbg:#fbeae8;--warn:#b7791f;--warnbg:#fdf4e3}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.5 "Inter","Segoe UI",system-ui,-apple-system,Roboto,Helvetica,Arial,sans-serif;
-webkit-font-smoothing:antialiased}
.page{max-width:1120px;margin:0 auto;padding:40px 40px 64px}
header{display:flex;justify-content:space-between;align-items:flex-end;border-bottom:2px solid var(--ink);padding-bottom:18px;margin-bottom:28px}
.brand{font-size:12px;letter-spacing:.14em;text-transform:uppercase;color:var(--soft);font-weight:600}
h1{font-size:28px;line-height:1.2;margin:6px 0 4px;font-weight:700;letter-spacing:-.01em}
.sub{color:var(--soft)} .meta{text-align:right;color:var(--soft);font-size:13px}
h2{font-size:18px;margin:36px 0 12px;font-weight:650}
h3{font-size:17px;margin:0;font-weight:650;overflow-wrap:normal;word-break:normal}
.cards{display:grid;grid-template-columns:repeat(4,1fr);gap:14px;margin:8px 0 8px}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:14px 16px}
.card .k{font-size:12px;color:var(--soft);text-transform:uppercase;letter-spacing:.06em}
.card .v{font-size:24px;font-weight:650;margin-top:2px;font-variant-numeric:tabular-nums}
.card .n{font-size:12px;color:var(--faint)}
table{width:100%;border-collapse:collapse;background:var(--card);border:1px solid var(--line);border-radius:10px;overflow:hidden;
font-variant-numeric:tabular-nums}
th{font-size:11px;text-transform:uppercase;letter-spacing:.05em;color:var(--soft);font-weight:600;background:#fafbfc;text-align:right;
padding:9px 10px;border-bottom:1px solid var(--line);vertical-align:bottom;line-height:1.3}
td{padding:9px 10px;border-bottom:1px solid var(--line);text-align:right;white-space:nowrap}
tr:last-child td{border-bottom:none}
th:first-child,td:first-child{text-align:left}
td.file{white-space:normal;overflow-wrap:normal;word-break:normal;min-width:180px;max-width:300px;line-height:1.35}
td.err{white-space:normal;text-align:left;color:var(--bad)}
.file-head .out a{color:var(--accent);text-decoration:none} td.file a{color:var(--ink);text-decoration:none;font-weight:600}
td.file a:hover{color:var(--accent)}
.arrow{color:var(--faint);padding:0 3px}
.badge{display:inline-block;font-size:11.5px;font-weight:650;border-radius:999px;padding:2px 9px;white-space:nowrap}
.b-ok{background:var(--okbg);color:var(--ok)} .b-bad{background:var(--badbg);color:var(--bad)} .b-warn{background:var(--warnbg);color:var(--warn)}
.b-off{background:#eef0f3;color:var(--soft)}
.failures{background:var(--badbg);border:1px solid #f1c9c4;border-radius:10px;padding:14px 18px;margin:18px 0}
.failures h2{margin:0 0 6px;color:var(--bad);font-size:15px}
.failures li{margin:4px 0} .failures code{font-size:12.5px}
.file-sec{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:22px 24px;margin:22px 0;page-break-inside:avoid}
.file-head{display:flex;justify-content:space-between;align-items:flex-start;gap:16px;margin-bottom:14px}
.file-head .out{color:var(--soft);font-size:13px;overflow-wrap:normal;word-break:normal}
.grid{display:grid;grid-template-columns:minmax(0,1.6fr) minmax(0,1fr);gap:26px;align-items:start}
.grid table{border-radius:8px}
.grid td,.grid th{padding:7px 10px}
.target{color:var(--soft);font-size:12.5px}
.proc{background:#fafbfc;border:1px solid var(--line);border-radius:8px;padding:12px 14px}
.proc .warn{color:var(--bad)}
.proc .k{font-size:11.5px;text-transform:uppercase;letter-spacing:.05em;color:var(--soft);font-weight:600;margin-bottom:8px}
.delta{color:var(--soft)}
dl{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:7px 14px;margin:0;font-size:13.5px}
dt{color:var(--soft)} dd{margin:0}
.spec{margin-top:18px} .spec .lbl{font-size:12px;color:var(--soft);text-transform:uppercase;letter-spacing:.06em;margin:12px 0 4px}
.spec img{width:100%;display:block;border-radius:6px;border:1px solid var(--line)}
.legend{font-size:12px;color:var(--faint);margin-top:4px}
.swatch{display:inline-block;width:10px;height:10px;background:#00e6ff;border-radius:2px;vertical-align:-1px;margin-right:4px}
.line{display:inline-block;width:14px;height:3px;border-radius:1px;vertical-align:3px;margin:0 4px 0 2px}
details{margin-top:16px;font-size:13px} summary{cursor:pointer;color:var(--accent);font-weight:600}
pre{background:#f3f5f8;border:1px solid var(--line);border-radius:8px;padding:10px 12px;font-size:12px;overflow:auto;max-height:360px}
.na{color:var(--faint)}
footer{margin-top:40px;padding-top:14px;border-top:1px solid var(--line);color:var(--faint);font-size:12px}
footer p{margin:4px 0}
@media print{body{background:#fff}.page{padding:0}.file-sec,.card,table{border-color:#ccc}details{display:none}}
"""


def _status_badge(rep: dict | None, failed: dict | None) -> str:
    if failed is not None:
        return '<span class="badge b-bad">Failed</span>'
    ok, why = _compliance(rep)
    if ok is None:
        return '<span class="badge b-off">Delivered</span>'
    return '<span class="badge b-ok">Meets spec</span>' if ok else f'<span class="badge b-warn" title="{_e(why)}">Check</span>'


def _arrow(a: Any, b: Any, digits: int = 1) -> str:
    return f'{num(a, digits)}<span class="arrow">\u2192</span>{num(b, digits)}'


def _holes_cell(rep: dict) -> str:
    h = rep.get("holes") or {}
    if "remaining" not in h:
        return '<span class="na">n/a</span>'
    left = h["remaining"]["count"]
    if h.get("audited"):
        return f'{h["found"]["count"]}<span class="arrow">\u2192</span>{left}'
    return str(left)


def spread(rep: dict, which: str) -> float | None:
    """The speaker-level spread (LU) of the source (``"before"``) or output (``"after"``); None if unknown."""
    v = ((rep.get("speaker_levels") or {}).get(which) or {}).get("speaker_spread_lu")
    return float(v) if isinstance(v, (int, float)) else None


def _row(slug: str, rep: dict) -> str:
    b, a = rep["before"], rep["after"]
    return (
        f'<tr><td class="file"><a href="#{_e(slug)}">{name_html(rep["file"])}</a></td>'
        f'<td>{duration(rep["duration_s"])}</td>'
        f'<td>{_arrow(b["integrated_lufs"], a["integrated_lufs"])}</td>'
        f'<td>{num(a["true_peak_dbtp"], 1)}</td>'
        f'<td>{num(a["lra_lu"], 1)}</td>'
        f'<td>{_arrow(b["noise_floor_dbfs"], matched_floor(rep))}</td>'
        f'<td>{_arrow(b["snr_db"], a["snr_db"])}</td>'
        f'<td>{_arrow(spread(rep, "before"), spread(rep, "after"))}</td>'
        f'<td>{_holes_cell(rep)}</td>'
        f'<td>{_status_badge(rep, None)}</td></tr>'
    )


def _measure_rows(rep: dict) -> str:
    b, a = rep["before"], rep["after"]
    loud = rep["loudness"]
    rows = [
        ("Integrated loudness", "integrated_lufs", "LUFS", 1),
        ("Loudness range (LRA)", "lra_lu", "LU", 1),
        ("True peak", "true_peak_dbtp", "dBTP", 1),
        ("Max. short-term loudness", "max_short_term_lufs", "LUFS", 1),
        ("Noise floor, level-matched", "matched_floor", "dBFS", 1),
        ("Noise floor, delivered", "noise_floor_dbfs", "dBFS", 1),
        ("Speech level", "speech_level_dbfs", "dBFS", 1),
        ("Estimated SNR", "snr_db", "dB", 1),
    ]
    out = []
    for label, key, unit, d in rows:
        bv, av = b.get(key), a.get(key)
        if key == "matched_floor":
            bv, av = b.get("noise_floor_dbfs"), matched_floor(rep)
        delta = (av - bv) if isinstance(av, (int, float)) and isinstance(bv, (int, float)) else None
        target = ""
        if key == "integrated_lufs" and loud.get("target_lufs") is not None:
            target = f'{num(loud["target_lufs"], 1)} \u00b1{LOUDNESS_TOLERANCE_LU:g}'
        if key == "true_peak_dbtp" and loud.get("ceiling_dbtp") is not None:
            target = f'\u2264 {num(loud["ceiling_dbtp"], 1)}'
        out.append(f"<tr><td>{label}</td><td>{num(bv, d, unit)}</td><td><b>{num(av, d, unit)}</b></td>"
                   f'<td class="delta">{num(delta, d, signed=True) if delta is not None else ""}</td>'
                   f'<td class="target">{target}</td></tr>')
    if rep.get("speaker_levels"):
        sb, sa = spread(rep, "before"), spread(rep, "after")
        delta = sa - sb if sa is not None and sb is not None else None
        out.append(f"<tr><td>Speaker-level spread</td><td>{num(sb, 1, 'LU')}</td><td><b>{num(sa, 1, 'LU')}</b></td>"
                   f'<td class="delta">{num(delta, 1, signed=True) if delta is not None else ""}</td><td></td></tr>')
    clip_b, clip_a = rep["clipping"]["before_samples"], rep["clipping"]["after_samples"]
    out.append(f"<tr><td>Clipped samples</td><td>{clip_b:,}</td><td><b>{clip_a:,}</b></td><td></td><td></td></tr>")
    return "".join(out)


_TARGET_LABELS = {"podcast-stereo": "Podcast, stereo", "podcast-mono": "Podcast, mono", "ebu-r128": "EBU R128",
                  "atsc": "ATSC A/85"}


def _processing_dl(rep: dict) -> str:
    loud, holes, prof = rep["loudness"], rep.get("holes") or {}, rep.get("profile")
    items = []
    if loud.get("target_lufs") is not None:
        name = _TARGET_LABELS.get(loud["target"], loud["target"])
        items.append(("Loudness", f'{_e(name)} ({num(loud["target_lufs"], 0, "LUFS")}): '
                                  f'{num(loud["gain_db"], 1, "dB", signed=True)} gain'))
        lim = loud.get("limiter_max_reduction_db") or 0.0
        items.append(("Peak limiter", "not needed" if lim < 0.05 else f"up to {num(lim, 1, 'dB')} on the loudest peaks"))
    else:
        items.append(("Loudness", "not normalised (off)"))
    if prof:
        lvl = prof.get("level_dbfs")
        how = {"given": "from the supplied profile", "automatic": "found automatically"}.get(rep.get("profile_origin"), "")
        items.append(("Room tone", f"{num(lvl, 1, 'dBFS') if isinstance(lvl, (int, float)) else 'learned'} {how}"))
    decay = room_decay_note((rep.get("settings") or {}).get("chain_render") or {})
    if decay is not None:
        items.append(("De-reverb", f'<span class="warn">{_e(decay[0])}</span>' if decay[1] else _e(decay[0])))
    if "remaining" in holes:
        rem = holes["remaining"]
        if holes.get("audited"):
            f = holes["found"]
            txt = (f'{f["count"]} found after noise reduction ({num(100 * f["hole_rate"], 2)} % of the spectrum, '
                   f'{num(f["hole_time_s"], 1, "s")}); {rem["count"]} left after refill')
        else:
            txt = f'{rem["count"]} left in the output ({num(100 * rem["hole_rate"], 2)} % of the spectrum)'
        if holes.get("hum_bins_excluded"):
            txt += "; the bands of the mains hum that was removed are not counted"
        items.append(("Spectral holes", txt))
    fmt = rep["format"]
    items.append(("Output", f'{_e(fmt["output"])}, {rep["sample_rate"]:,} Hz, '
                            f'{"mono" if rep["channels"] == 1 else str(rep["channels"]) + " channels"}'))
    items.append(("Duration", duration(rep["duration_s"])))
    return ('<div class="proc"><div class="k">Processing</div><dl>' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in items)
            + "</dl></div>")


def _loudness_figure(rep: dict, srcs: dict) -> str:
    """The loudness-over-time picture with its colour legend and the spread before -> after."""
    if "loudness" not in srcs:
        return ""

    def sw(rgb, cls="swatch"):
        return f'<span class="{cls}" style="background:rgb{tuple(rgb)}"></span>'

    scale = "".join(f"{sw(c)}{num(v, 0, signed=True) if v else 'typical'} " for v, c in LEVEL_SCALE)
    levels = rep.get("speaker_levels") or {}
    n = (levels.get("before") or {}).get("phrases", 0)
    return (f'<div class="lbl">Loudness over time, level-matched · speaker-level spread '
            f'{_arrow(spread(rep, "before"), spread(rep, "after"))} LU</div>'
            f'<img src="{srcs["loudness"]}" alt="short-term loudness before and after, phrases coloured by level">'
            f'<div class="legend">{sw((88, 196, 214), "line")}short-term loudness before (LUFS, 3 s) '
            f'{sw((240, 179, 90), "line")}after · bars: the {n} phrases at their loudness (thin before, thick after), '
            f'coloured by level against the file’s typical phrase: {scale}LU</div>')


def _file_section(slug: str, rep: dict, report_dir: Path | None = None) -> str:
    imgs = rep.get("images") or {}
    holes = rep.get("holes") or {}
    legend = ""
    if "remaining" in holes:
        legend = ('<div class="legend"><span class="swatch"></span>spectral holes left in the output '
                  f'({holes["remaining"]["count"]}); the after picture is level-matched to the before one '
                  f'({num(-loudness_change_db(rep), 1, "dB", signed=True)}, the loudness gain taken off)</div>')
    settings = {"settings": rep.get("settings"), "room_tone_profile": rep.get("profile"),
                "timing_s": rep.get("timing"), "worker": rep.get("worker")}
    spec = ""
    if imgs:
        srcs = {k: _e(inline_png(report_dir / v)) if report_dir is not None and (report_dir / v).is_file() else _e(v)
                for k, v in imgs.items()}
        spec = (f'<div class="spec"><div class="lbl">Before</div><img src="{srcs["before"]}" alt="spectrogram before">'
                f'<div class="lbl">After, level-matched</div><img src="{srcs["after"]}" alt="spectrogram after">'
                f'{legend}{_loudness_figure(rep, srcs)}</div>')
    return f"""
<section class="file-sec" id="{_e(slug)}">
 <div class="file-head"><div><h3>{name_html(rep["file"])}</h3><div class="out">Delivered as <a href="../{_e(rep.get("output_rel", ""))}">{name_html(rep.get("output_rel", ""))}</a></div></div>
 <div>{_status_badge(rep, None)}</div></div>
 <div class="grid">
  <table><tr><th>Measurement</th><th>Before</th><th>After</th><th>Change</th><th>Spec</th></tr>{_measure_rows(rep)}</table>
  {_processing_dl(rep)}
 </div>
 {spec}
 <details><summary>Settings and software versions</summary>
 <pre>{_e(json.dumps(settings, indent=1, default=str))}</pre>
 <pre>{_e(json.dumps(rep.get("versions", {}), indent=1))}</pre></details>
</section>"""


def build_index(path: str | os.PathLike, *, title: str, reports: list[tuple[str, dict]],
                failures: list[dict], meta: dict) -> Path:
    """Write the batch's ``index.html`` (atomically).

    Parameters
    ----------
    path : path
        The HTML file (its PNGs are referenced relative to its folder).
    title : str
        The batch's name (usually the input folder's).
    reports : list of (slug, report dict)
        Finished files, in display order.
    failures : list of dict
        ``file`` and ``error`` of each file that failed.
    meta : dict
        ``preset``, ``loudness`` (label), ``created`` (datetime), ``versions``, ``elapsed_s`` (optional).
    """
    n_ok, n_bad = len(reports), len(failures)
    created = meta.get("created") or datetime.now()
    versions = meta.get("versions") or {}
    cards_html = _cards_html(reports, n_bad, meta)
    fail_html = _failures_html(failures)
    table = _overview_table(reports, failures)
    sections = "".join(_file_section(slug, rep, Path(path).parent) for slug, rep in reports)
    doc = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)} \u2014 Roomtone batch report</title><style>{_CSS}</style></head>
<body><div class="page">
<header><div><div class="brand">Roomtone \u00b7 Audio clean-up report</div><h1>{_e(title)}</h1>
<div class="sub">Source folder <b>{_e(meta.get("source", ""))}</b> \u00b7 preset <b>{_e(meta.get("preset", ""))}</b> \u00b7 {_e(meta.get("loudness", "loudness off"))}</div></div>
<div class="meta">{created:%d %B %Y, %H:%M}<br>{n_ok + n_bad} file{"s" if n_ok + n_bad != 1 else ""}</div></header>
<div class="cards">{cards_html}</div>
{fail_html}
<h2>Overview</h2>
{table}
<div class="legend" style="margin-top:6px">Arrows read before \u2192 after. The noise floor after is given at the source's loudness
(the loudness gain taken off), so a lower number means less noise. Holes: spectral holes made by noise reduction \u2192 left after
room-tone refill.</div>
<h2>Files</h2>
{sections}
{_footer_html(versions, created, meta.get("elapsed_s"))}
</div></body></html>
"""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, doc)
    return path


def _cards_html(reports: list[tuple[str, dict]], n_bad: int, meta: dict) -> str:
    """The summary cards: files delivered, programme time, the loudness target, spec compliance."""
    n_ok = len(reports)
    total_s = sum(r["duration_s"] for _, r in reports)
    verdicts = [_compliance(r)[0] for _, r in reports]
    judged = [v for v in verdicts if v is not None]
    compliant = sum(1 for v in judged if v)
    cards = [
        ("Delivered", f"{n_ok} of {n_ok + n_bad}", "files processed" if not n_bad else f"{n_bad} could not be processed"),
        ("Programme time", duration(total_s), "of audio cleaned"),
        ("Loudness target", _e(meta.get("loudness_short", "off")), _e(meta.get("loudness", ""))),
        ("Spec compliance", f"{compliant} of {len(judged)}" if judged else "n/a",
         f"within \u00b1{LOUDNESS_TOLERANCE_LU:g} LU and under the peak ceiling" if judged else "loudness off"),
    ]
    cards_html = "".join(f'<div class="card"><div class="k">{k}</div><div class="v">{v}</div><div class="n">{n}</div></div>'
                         for k, v, n in cards)
    return cards_html


def _failures_html(failures: list[dict]) -> str:
    """The files that could not be processed, and what to do about them ("" without any)."""
    n_bad = len(failures)
    fail_html = ""
    if failures:
        items = "".join(f'<li><b>{_e(f["file"])}</b>: {_e(f["error"])}</li>' for f in failures)
        fail_html = (f'<div class="failures"><h2>{n_bad} file{"s" if n_bad != 1 else ""} could not be processed</h2>'
                     f'<ul>{items}</ul><div class="n">Nothing was written for these files; fix or re-export them and run '
                     'the batch again: finished files are not processed twice.</div></div>')
    return fail_html


def _overview_table(reports: list[tuple[str, dict]], failures: list[dict]) -> str:
    """One row per file: its figures before and after, its status; failed files last."""
    rows = "".join(_row(slug, rep) for slug, rep in reports)
    rows += "".join(
        f'<tr><td class="file">{name_html(f["file"])}</td><td colspan="8" class="err">'
        f'{_e(_short_error(f["error"]))}</td><td>{_status_badge(None, f)}</td></tr>' for f in failures)
    table = (
        '<table><tr><th>File</th><th>Duration</th><th>Loudness (LUFS)</th><th>True peak (dBTP)</th><th>LRA (LU)</th>'
        '<th>Noise floor at source loudness (dBFS)</th><th>Est. SNR (dB)</th><th>Speaker spread (LU)</th><th>Holes</th>'
        '<th>Status</th></tr>'
        f"{rows}</table>"
    )
    return table


def _footer_html(versions: dict, created: datetime, elapsed: float | None) -> str:
    """How the figures were measured, and which software made the report."""
    return f"""<footer>
<p><b>How these figures were measured.</b> Integrated loudness per ITU-R BS.1770-4 (K-weighted, gated); loudness
range per EBU Tech 3342; true peak of the file as written, oversampled 4\u201324\u00d7 (a grid as fine as ffmpeg\u2019s 192 kHz one). Noise floor and speech level are the 10th and 95th
percentiles of 50 ms RMS levels; the estimated SNR is their difference. Speaker-level spread: the phrases
(speech found by level over the source's noise floor, gaps under 300 ms merged) are split into a quiet and a loud group
by their loudness; the spread is the difference of the groups' typical loudness, so two voices 12 dB apart read about
12 LU and one even voice 2–4 LU. Spectral holes are time-frequency regions
pushed more than 6 dB under the room tone's floor by processing.</p>
<p>Generated by Roomtone {_e(versions.get("roomtone", ""))} on {created:%Y-%m-%d %H:%M}{f" in {duration(elapsed)}" if elapsed else ""}
\u00b7 Python {_e(versions.get("python", ""))} \u00b7 numpy {_e(versions.get("numpy", ""))} \u00b7 scipy {_e(versions.get("scipy", ""))}
\u00b7 libsndfile {_e(versions.get("libsndfile", ""))}</p>
</footer>"""


def _short_error(text: str) -> str:
    """The error without the leading path (the table already names the file)."""
    text = str(text)
    head, sep, rest = text.partition(": ")
    return rest if sep and ("/" in head or "\\" in head) else text
