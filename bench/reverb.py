"""De-reverb benchmark (issue 22): simulated rooms from the dev clean speech, scored against the dry speech.

Run: ``python bench/reverb.py`` (about 15 minutes on one core; ``--quick`` for a smoke run).
Writes bench/results/reverb.md (and .json) and the "De-reverb" section of bench/README.md.

Test set (bench/reverb_set.py): the first 8 s of each dev clean file in pyroomacoustics shoebox
rooms, RT60 0.3 / 0.5 / 0.8 / 1.2 s (Sabine targets; the measured T20 of each response is the
truth for the decay-time estimate), source 1.0 m and 2.5 m away, with and without the dev cafe
noise at 15 dB SNR; the dry speech aligned to the direct path is the reference. Tuning half
s01-s03 (the only files the estimator's calibration and the stage's constants were tuned on),
held-out half s04-s07, reported separately.

Systems: the reverberant input; ``dereverb`` (the stage alone at its default settings, the
decay time estimated from the file, the product's set-up via app.pipeline.prepare_processor);
nara-wpe (single channel, its defaults: taps 10, delay 3, 3 iterations, 512/128 STFT at 16 kHz,
run at 16 kHz and resampled back); DeepFilterNet3 (bench/peers.py, full strength); the
``podcast-room`` preset (noise passes + de-reverb, automatic room tone).

Measures: PESQ (wb), ESTOI, SI-SDR against the dry reference; DNSMOS P.835 SIG/OVRL (no
reference); late-reverb energy (energy 50 ms or more after each word's end until the next word,
relative to the dry speech's total energy, dB) for the amount sweep 0/25/50/75/100 %; the RT60
estimate's error; and, on the dev pairs without reverb (mixtures + pairs_real), PESQ of
``podcast-room`` against ``podcast``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench import reverb_set  # noqa: E402
from bench.metrics import Dnsmos, pesq_wb, si_sdr, stoi, to_rate  # noqa: E402

RESULTS = REPO / "bench" / "results"
AMOUNTS = (0.0, 25.0, 50.0, 75.0, 100.0)
SYSTEMS = ("input", "dereverb", "nara-wpe", "DeepFilterNet3", "podcast-room")
EXCERPT_S = 8.0


# -- systems -----------------------------------------------------------------------------------------
def run_dereverb(x: np.ndarray, sr: int, **settings) -> tuple[np.ndarray, dict]:
    from app.pipeline import prepare_processor
    from dsp.chain import ChainSettings, StageSpec
    from dsp.dereverb import ESTIMATE_KEY, DereverbSettings
    from dsp.render import ArraySource, render_array

    chain = ChainSettings(stages=(StageSpec("dereverb", DereverbSettings(**settings)),), name="dereverb")
    proc, ctx = prepare_processor(ArraySource(x[None].astype(np.float32), sr), chain)
    y = render_array(x[None].astype(np.float32), sr, proc)[0]
    est = ctx.extras.get(ESTIMATE_KEY)
    return y, (est.summary() if hasattr(est, "summary") else dict(est or {}))


def run_wpe(x: np.ndarray, sr: int) -> np.ndarray:
    from nara_wpe.utils import istft, stft
    from nara_wpe.wpe import wpe

    x16 = to_rate(x, sr, 16000)
    y = stft(x16[None], size=512, shift=128)  # (1, T, F)
    z = wpe(y.transpose(2, 0, 1))  # (F, 1, T), defaults
    out = istft(z.transpose(1, 2, 0), size=512, shift=128)[0][: len(x16)]
    out = np.pad(out, (0, max(0, len(x16) - len(out))))
    return to_rate(out, 16000, sr)[: len(x)].astype(np.float32)


def run_dfn(x: np.ndarray, sr: int) -> np.ndarray:
    from bench.peers import run_deepfilter

    return run_deepfilter(x.astype(np.float32), sr, np.zeros(0, np.float32))


def run_preset(x: np.ndarray, sr: int, preset: str) -> np.ndarray:
    from bench.systems import build_roomtone, roomtone_settings
    from dsp.render import render_array

    proc = build_roomtone(x.astype(np.float32), sr, None, roomtone_settings(preset))
    return render_array(x[None].astype(np.float32), sr, proc)[0]


# -- measures ----------------------------------------------------------------------------------------
def word_ends(dry: np.ndarray, sr: int) -> list[tuple[int, int]]:
    """``(end, next start)`` sample pairs of the pauses of at least 100 ms in the dry speech."""
    hop = int(0.01 * sr)
    n = len(dry) // hop
    e = np.array([np.sum(dry[i * hop : (i + 1) * hop].astype(np.float64) ** 2) for i in range(n)]) + 1e-20
    active = 10 * np.log10(e) > 10 * np.log10(e.max()) - 30.0
    out, i = [], 0
    while i < n:
        if active[i] and (i + 1 < n and not active[i + 1]):
            j = i + 1
            while j < n and not active[j]:
                j += 1
            if (j - i - 1) * hop >= 0.1 * sr:
                out.append(((i + 1) * hop, j * hop))
            i = j
        else:
            i += 1
    return out


def late_energy_db(y: np.ndarray, dry: np.ndarray, sr: int, pauses) -> float:
    e = sum(float(np.sum(y[a + int(0.05 * sr) : b].astype(np.float64) ** 2)) for a, b in pauses if b > a + int(0.05 * sr))
    return 10 * math.log10(max(e, 1e-20) / float(np.sum(dry.astype(np.float64) ** 2)))


def score(dry: np.ndarray, y: np.ndarray, sr: int, dnsmos: Dnsmos | None) -> dict:
    out = {"pesq": pesq_wb(dry, y, sr), "estoi": stoi(dry, y, sr, extended=True), "si_sdr": si_sdr(dry, y)}
    if dnsmos is not None:
        d = dnsmos(y, sr)
        out.update(sig=d["sig"], ovrl=d["ovrl"])
    return out


# -- the dev pairs without reverb --------------------------------------------------------------------
def dev_pairs() -> list[tuple[str, str, Path, Path]]:
    data = reverb_set.DATA
    out = []
    for noisy in sorted((data / "mixtures").glob("*_noisy.flac")):
        out.append((noisy.stem, reverb_set.half(noisy.stem), noisy, noisy.with_name(noisy.name.replace("_noisy", "_clean"))))
    for noisy in sorted((data / "pairs_real").glob("*noisy.flac")):
        clean = noisy.with_name("pesq_speech_clean.flac") if noisy.stem.startswith("pesq_") else \
            noisy.with_name(noisy.name.replace("_noisy", "_clean"))
        out.append((noisy.stem, "pairs_real", noisy, clean))
    return out


def no_harm(quick: bool) -> list[dict]:
    rows = []
    pairs = dev_pairs()
    if quick:
        pairs = pairs[::8]
    for name, part, noisy_p, clean_p in pairs:
        x, sr = sf.read(noisy_p, dtype="float32", always_2d=True)
        c, _ = sf.read(clean_p, dtype="float32", always_2d=True)
        x, c = x.mean(axis=1), c.mean(axis=1)
        from bench.metrics import noise_only_frames, noise_scores, power_spectrogram

        row = {"file": name, "half": part}
        n = min(len(x), len(c))
        mask = noise_only_frames(c[:n], x[:n], sr).mask
        p_in = power_spectrogram(x[:n], sr)
        for preset in ("podcast", "podcast-room"):
            y = run_preset(x, sr, preset)
            row[preset] = pesq_wb(c, y, sr)
            ns = noise_scores(p_in, power_spectrogram(y[:n], sr), mask)
            row[f"{preset} holes"] = ns.hole_rate
            row[f"{preset} kurtosis"] = ns.kurtosis_ratio
        rows.append(row)
        print(f"no-harm {name}: podcast {row['podcast']:.3f} podcast-room {row['podcast-room']:.3f}", file=sys.stderr)
    return rows


# -- main --------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="two files, RT60 0.5 only (smoke run)")
    ap.add_argument("--no-dnsmos", action="store_true")
    ap.add_argument("--skip-no-harm", action="store_true")
    ap.add_argument("--report-only", action="store_true", help="rewrite the report from bench/results/reverb.json")
    ap.add_argument("--only-no-harm", action="store_true",
                    help="redo only the dev-pairs comparison, keeping the rest of bench/results/reverb.json")
    args = ap.parse_args(argv)
    if args.only_no_harm:
        res = json.loads((RESULTS / "reverb.json").read_text())
        res["no_harm"] = no_harm(args.quick)
        (RESULTS / "reverb.json").write_text(json.dumps(res, indent=1, default=float))
        args.report_only = True
    if args.report_only:
        res = json.loads((RESULTS / "reverb.json").read_text())
        report = write_report(res)
        (RESULTS / "reverb.md").write_text(report)
        update_readme(report)
        print(report)
        return 0
    started = time.time()
    files = reverb_set.clean_files()
    if args.quick:
        files = [files[0], files[4]]
    cases = reverb_set.build_cases(files, rt60s=(0.5,) if args.quick else reverb_set.RT60S, excerpt_s=EXCERPT_S)
    dnsmos = None if args.no_dnsmos else Dnsmos()
    rows, sweep, rt_rows = [], [], []
    for c in cases:
        t0 = time.time()
        x, sr = c.reverberant, c.sample_rate
        outs = {"input": x}
        outs["dereverb"], est = run_dereverb(x, sr)
        rt_rows.append({"case": c.name, "half": c.half, "rt60_target_s": c.rt60_target_s,
                        "rt60_measured_s": c.rt60_measured_s, "noisy": c.noisy, "estimate_s": est.get("rt60_s")})
        for name, fn in (("nara-wpe", run_wpe), ("DeepFilterNet3", run_dfn),
                         ("podcast-room", lambda x, sr: run_preset(x, sr, "podcast-room"))):
            try:
                outs[name] = fn(x, sr)
            except Exception as exc:  # noqa: BLE001 - a peer that cannot run is reported, not skipped
                print(f"{name} failed on {c.name}: {exc}", file=sys.stderr)
        for name, y in outs.items():
            rows.append({"case": c.name, "half": c.half, "rt60": c.rt60_target_s, "noisy": c.noisy, "system": name,
                         **score(c.dry, y, sr, dnsmos)})
        if not c.noisy:
            pauses = word_ends(c.dry, sr)
            for amount in AMOUNTS:
                y = run_dereverb(x, sr, amount_percent=amount)[0]
                if amount == 0.0:
                    assert np.array_equal(y, x), "amount 0 is not a bit-exact bypass"
                sweep.append({"case": c.name, "half": c.half, "rt60": c.rt60_target_s, "amount": amount,
                              "late_db": late_energy_db(y, c.dry, sr, pauses)})
        print(f"{c.name}: {time.time() - t0:.1f} s (RT60 est {est.get('rt60_s')}, measured {c.rt60_measured_s:.2f})",
              file=sys.stderr)
    robust = robustness(dnsmos)
    harm = [] if args.skip_no_harm else no_harm(args.quick)
    res = {"rows": rows, "sweep": sweep, "rt60": rt_rows, "robust": robust, "no_harm": harm,
           "elapsed_s": time.time() - started, "quick": args.quick, "date": time.strftime("%Y-%m-%d")}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "reverb.json").write_text(json.dumps(res, indent=1, default=float))
    report = write_report(res)
    (RESULTS / "reverb.md").write_text(report)
    update_readme(report)
    print(report)
    return 0


def robustness(dnsmos) -> list[dict]:
    """Cases unlike the tuning material: a held-out voice at 44.1 kHz in stereo, and quiet (-35 dBFS)."""
    from bench.metrics import to_rate as rs

    out = []
    f = reverb_set.clean_files()[3]  # s04 (held-out), 16 kHz source
    x, sr = sf.read(f, dtype="float32", always_2d=True)
    x = rs(x.mean(axis=1)[: int(EXCERPT_S * sr)], sr, 44100).astype(np.float32)
    for rt in (0.5, 0.8):
        h, measured = reverb_set.rir(rt, 1.0, 44100)
        from scipy.signal import fftconvolve

        wet = fftconvolve(x, h)[: len(x)].astype(np.float32)
        for label, gain in (("44.1 kHz stereo", 0.5 / np.max(np.abs(wet))), ("44.1 kHz, -35 dBFS", None)):
            if gain is None:
                rms = math.sqrt(float(np.mean(wet.astype(np.float64) ** 2)))
                gain = 10 ** (-35 / 20) / rms
            w, d = wet * np.float32(gain), x * np.float32(gain)
            stereo = label.endswith("stereo")
            from app.pipeline import prepare_processor
            from dsp.chain import ChainSettings, StageSpec
            from dsp.dereverb import ESTIMATE_KEY, DereverbSettings
            from dsp.render import ArraySource, render_array

            audio = np.stack([w, w]) if stereo else w[None]
            chain = ChainSettings(stages=(StageSpec("dereverb", DereverbSettings()),), name="dereverb")
            proc, ctx = prepare_processor(ArraySource(audio, 44100), chain)
            y = render_array(audio, 44100, proc)
            est = ctx.extras.get(ESTIMATE_KEY)
            s_in, s_out = score(d, w, 44100, None), score(d, y[0], 44100, None)
            out.append({"case": f"s04 rt{rt} {label}", "rt60_measured_s": measured,
                        "estimate_s": est.rt60_s if est else None, "pesq_in": s_in["pesq"], "pesq_out": s_out["pesq"],
                        "si_sdr_in": s_in["si_sdr"], "si_sdr_out": s_out["si_sdr"],
                        "channels_equal": bool(not stereo or np.array_equal(y[0], y[1]))})
    return out


# -- report ------------------------------------------------------------------------------------------
def _mean(v) -> float:
    v = [x for x in v if x is not None and np.isfinite(x)]
    return float(np.mean(v)) if v else math.nan


def _f(v, fmt=".2f") -> str:
    return "n/a" if v is None or not np.isfinite(v) else format(v, fmt)


def write_report(res: dict) -> str:
    rows, sweep, rt_rows = res["rows"], res["sweep"], res["rt60"]
    rts = sorted({r["rt60"] for r in rows})
    halves = ("tuning", "held-out")
    metrics = ("pesq", "estoi", "si_sdr", "sig", "ovrl")
    table = defaultdict(list)
    for r in rows:
        for m in metrics:
            if m in r:
                table[(r["half"], r["rt60"], r["system"], m)].append(r[m])
    lines = ["# De-reverb benchmark (issue 22)", "",
             f"Generated by `python bench/reverb.py{' --quick' if res['quick'] else ''}` on {res['date']} "
             f"({res['elapsed_s'] / 60:.1f} min). Test set and systems: see the docstring of bench/reverb.py: "
             f"the first {EXCERPT_S:g} s of each dev clean file in pyroomacoustics rooms (7 x 5.5 x 3.2 m), "
             "RT60 0.3/0.5/0.8/1.2 s, source at 1.0 and 2.5 m, with and without the dev cafe noise at 15 dB SNR; "
             "reference: the dry speech aligned to the direct path. Means over files x distances x noise.",
             "", "Tuning half: s01-s03 (the only files anything was tuned on); held-out half: s04-s07.", ""]
    claims = []
    for half in halves:
        lines += [f"## Scores, {half} half", "",
                  "| RT60 | system | PESQ | ESTOI | SI-SDR dB | DNSMOS SIG | DNSMOS OVRL |", "|---|---|---|---|---|---|---|"]
        for rt in rts:
            for s in SYSTEMS:
                vals = [_mean(table[(half, rt, s, m)]) for m in metrics]
                if all(not np.isfinite(v) for v in vals):
                    continue
                lines.append(f"| {rt:g} s | {s} | " + " | ".join(_f(v, ".3f" if m == "estoi" else ".2f")
                                                              for v, m in zip(vals, metrics, strict=True)) + " |")
        lines.append("")
        for rt in rts:
            g = {s: {m: _mean(table[(half, rt, s, m)]) for m in metrics} for s in SYSTEMS}
            d, i = g["dereverb"], g["input"]
            better_in = all(d[m] > i[m] for m in ("pesq", "estoi", "si_sdr"))
            beats = all(d[m] > g[p][m] for m in ("pesq", "estoi", "si_sdr") for p in ("nara-wpe", "DeepFilterNet3")
                        if np.isfinite(g[p][m]))
            dns = all(d[m] > i[m] for m in ("sig", "ovrl") if np.isfinite(d[m]))
            claims.append((f"{half}, RT60 {rt:g} s: dereverb's PESQ/ESTOI/SI-SDR over the input "
                           f"({_f(d['pesq'])}/{_f(d['estoi'], '.3f')}/{_f(d['si_sdr'])} vs "
                           f"{_f(i['pesq'])}/{_f(i['estoi'], '.3f')}/{_f(i['si_sdr'])})", better_in))
            claims.append((f"{half}, RT60 {rt:g} s: dereverb beats nara-wpe "
                           f"({_f(g['nara-wpe']['pesq'])}/{_f(g['nara-wpe']['estoi'], '.3f')}/{_f(g['nara-wpe']['si_sdr'])}) "
                           f"and DeepFilterNet3 ({_f(g['DeepFilterNet3']['pesq'])}/{_f(g['DeepFilterNet3']['estoi'], '.3f')}/"
                           f"{_f(g['DeepFilterNet3']['si_sdr'])}) on PESQ, ESTOI and SI-SDR", beats))
            if np.isfinite(d["sig"]):
                claims.append((f"{half}, RT60 {rt:g} s: DNSMOS SIG/OVRL over the input "
                               f"({_f(d['sig'])}/{_f(d['ovrl'])} vs {_f(i['sig'])}/{_f(i['ovrl'])})", dns))
    # amount sweep
    lines += ["## Amount knob: late-reverb energy (dB re the dry speech's energy; noiseless rooms)", "",
              "| half | RT60 | " + " | ".join(f"{a:g} %" for a in AMOUNTS) + " |", "|---|---|" + "---|" * len(AMOUNTS)]
    mono_all = True
    for half in halves:
        for rt in rts:
            v = [_mean([s["late_db"] for s in sweep if s["half"] == half and s["rt60"] == rt and s["amount"] == a])
                 for a in AMOUNTS]
            lines.append(f"| {half} | {rt:g} s | " + " | ".join(_f(x, ".1f") for x in v) + " |")
            mono_all &= all(b < a for a, b in zip(v, v[1:], strict=False))
    per_file = all(
        all(b["late_db"] < a["late_db"] for a, b in zip(grp, grp[1:], strict=False))
        for grp in (sorted([s for s in sweep if s["case"] == c], key=lambda s: s["amount"]) for c in {s["case"] for s in sweep}))
    claims.append(("amount knob monotone: mean late-reverb energy falls at every step 0/25/50/75/100 % (each half, each RT60)", mono_all))
    flat = sorted({s["case"] for s in sweep if s["amount"] == 100.0} & {
        c for c in {s["case"] for s in sweep}
        if len({round(s["late_db"], 6) for s in sweep if s["case"] == c}) == 1})
    claims.append(("... and on every file at every step" + (
        f" (flat on {len(flat)} of {len({s['case'] for s in sweep})} files, where no decay time was found and the stage "
        f"passed the audio through: {', '.join(flat)})" if flat else ""), per_file))
    claims.append(("amount 0 is a bit-exact bypass (checked with np.array_equal on every noiseless case)", True))
    lines.append("")
    # RT60
    lines += ["## Decay-time estimate (s; truth: the measured T20 of each simulated response)", "",
              "| half | target RT60 | measured | mean estimate | max abs error (found) | no estimate | cases within 0.15 s |",
              "|---|---|---|---|---|---|---|"]
    for half in halves:
        for rt in rts:
            rr = [r for r in rt_rows if r["half"] == half and r["rt60_target_s"] == rt]
            errs = [abs(r["estimate_s"] - r["rt60_measured_s"]) for r in rr if r["estimate_s"] is not None]
            missing = sum(r["estimate_s"] is None for r in rr)
            ok = sum(e <= 0.15 for e in errs)
            worst = max(errs) if errs else math.nan
            lines.append(f"| {half} | {rt:g} | {_mean([r['rt60_measured_s'] for r in rr]):.2f} | "
                         f"{_f(_mean([r['estimate_s'] for r in rr]))} | {_f(worst)} | {missing} | {ok}/{len(rr)} |")
            if rt <= 0.8:
                claims.append((f"{half}, RT60 {rt:g} s: every estimate within 0.15 s of the measured RT60 ({ok}/{len(rr)}; "
                               f"max error {_f(worst)} s where found; {missing} without an estimate)", ok == len(rr)))
    lines.append("")
    if res["robust"]:
        lines += ["## Robustness (unlike the tuning material)", "",
                  "| case | measured RT60 | estimate | PESQ in -> out | SI-SDR in -> out | channels identical |", "|---|---|---|---|---|---|"]
        for r in res["robust"]:
            lines.append(f"| {r['case']} | {r['rt60_measured_s']:.2f} | {_f(r['estimate_s'])} | {_f(r['pesq_in'])} -> "
                         f"{_f(r['pesq_out'])} | {_f(r['si_sdr_in'])} -> {_f(r['si_sdr_out'])} | {r['channels_equal']} |")
        lines.append("")
    if res["no_harm"]:
        lines += ["## No harm without reverb: podcast-room vs podcast on the dev pairs", "",
                  "PESQ; and over the noise-only frames (bench/metrics.py): spectral-hole rate (%) and musical-noise "
                  "kurtosis ratio (output over input; lower = less musical noise), means over the files.", "",
                  "| set | files | PESQ podcast | PESQ podcast-room | difference | worst file difference | "
                  "holes % podcast / podcast-room | kurtosis ratio podcast / podcast-room |",
                  "|---|---|---|---|---|---|---|---|"]
        for part in ("tuning", "held-out", "pairs_real"):
            rr = [r for r in res["no_harm"] if r["half"] == part]
            if not rr:
                continue
            a, b = _mean([r["podcast"] for r in rr]), _mean([r["podcast-room"] for r in rr])
            worst = min(r["podcast-room"] - r["podcast"] for r in rr)
            hp, hr = (_mean([r.get(f"{p} holes") for r in rr]) * 100 for p in ("podcast", "podcast-room"))
            kp, kr = (_mean([r.get(f"{p} kurtosis") for r in rr]) for p in ("podcast", "podcast-room"))
            lines.append(f"| {part} | {len(rr)} | {a:.3f} | {b:.3f} | {b - a:+.3f} | {worst:+.3f} | "
                         f"{_f(hp)} / {_f(hr)} | {_f(kp)} / {_f(kr)} |")
            claims.append((f"no harm, {part}: podcast-room within 0.02 PESQ of podcast ({b - a:+.3f})", abs(b - a) <= 0.02))
        lines.append("")
    speed = speed_figures()
    if speed:
        lines += ["## Speed: podcast-room, 1 hour", "",
                  f"From `bench/results/speed_podcast-room.md` (`python bench/bench_speed.py --minutes 60 --chain "
                  f"preset:podcast-room --source podcast`, shared 2-core machine, load {speed['load']}): render "
                  f"{speed['render_s']} s ({speed['render_rtf']}), end to end (analyses + render, as `roomtone clean` "
                  f"runs it) {speed['e2e_s']} s ({speed['e2e_rtf']}).", ""]
        e2e = float(speed["e2e_rtf"].rstrip("x"))
        claims.append((f"speed: podcast-room renders 1 hour end to end at {speed['e2e_rtf']} real time (>= 100x)", e2e >= 100.0))
    lines += ["## Must-show lines", ""] + [f"- {'PASS' if ok else 'FAIL'}: {text}" for text, ok in claims] + [""]
    return "\n".join(lines)


def speed_figures() -> dict | None:
    """The 60-minute row of bench/results/speed_podcast-room.md (bench_speed.py), if it is there."""
    path = RESULTS / "speed_podcast-room.md"
    if not path.exists():
        return None
    for line in path.read_text().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells and cells[0] == "60 min" and len(cells) >= 11:
            return {"render_s": cells[1], "render_rtf": cells[2], "e2e_s": cells[6], "e2e_rtf": cells[7], "load": cells[10]}
    return None


def update_readme(report: str) -> None:
    path = REPO / "bench" / "README.md"
    text = path.read_text()
    start, end = "<!-- reverb:start -->", "<!-- reverb:end -->"
    body = report.split("\n", 1)[1]
    section = (f"{start}\n## De-reverb (issue 22)\n\nRun `python bench/reverb.py` (about 15 min, one core; "
               "needs pyroomacoustics and nara-wpe from the bench extra). Full report: `bench/results/reverb.md`."
               f"\n{body}\n{end}")
    if start in text:
        text = text[: text.index(start)] + section + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    path.write_text(text)


if __name__ == "__main__":
    raise SystemExit(main())
