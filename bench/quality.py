"""Quality benchmark: scores every system on every dev pair and the podcast file, in one run.

Usage (from the repository root)::

    .venv/bin/python bench/quality.py                 # everything (about 15-25 min on 2 cores)
    .venv/bin/python bench/quality.py --quick         # a subset: 6 mixtures, 3 real pairs, 30 s podcast
    .venv/bin/python bench/quality.py --systems podcast,"ffmpeg afftdn" --pairs 4 --jobs 2

Writes ``bench/results/quality.md`` (a table per data set, the claims of issues 3/4/9 computed
pass/fail, the podcast speed comparison), ``bench/results/quality.csv`` (per file per system)
and ``bench/results/holes_podcast.png``, and refreshes the table quoted in bench/README.md.
Outputs and scores are cached under ``bench/out/`` (gitignored) by (system, file, code hash).
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import hashlib
import json
import math
import os
import re
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from functools import cache, lru_cache
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
os.environ.setdefault("NUMBA_CACHE_DIR", str(REPO / ".cache" / "numba"))

import models  # noqa: E402,F401 - turns onnxruntime's usage telemetry off before DNSMOS loads onnxruntime
from bench import metrics  # noqa: E402
from bench.systems import Case, all_systems  # noqa: E402

try:  # the ML pass registers its stage kind ("deepfilter") at import, as the app does
    import models.ml_denoise  # noqa: E402,F401
except Exception as _exc:  # noqa: BLE001 - podcast-ml then reports "failed: unknown stage kind"
    print(f"note: models.ml_denoise not importable ({type(_exc).__name__}: {_exc})", file=sys.stderr)

DATA = Path(os.environ.get("ROOMTONE_DEV_DATA", REPO.parent / "shared" / "data"))
OUT = BENCH / "out"
RESULTS = BENCH / "results"
DATASETS = ("mixtures", "pairs_real", "podcast", "robustness")
DEV = "dev pairs"  # mixtures + pairs_real: where the issues' claims are judged
TUNE, HELD_OUT = "tuning half", "held-out half"
#: The dev pairs split in two halves by speaker (noise types balanced: every noise type is in both).
#: Presets are tuned on the first half only (``bench/variants.py`` scores it by default); the
#: second is held out and reported beside it. Mixtures by their speaker; real pairs: VoiceBank
#: p232 tunes, p257, DeepFilterNet's and python-pesq's pairs are held out.
TUNE_SPEAKERS = ("s01_", "s03_", "s05_", "s07_", "vbdemand_p232")
QUICK_PODCAST_S = 30.0
DSP_PEERS = ("noisereduce", "noisereduce (stationary)", "ffmpeg afftdn", "ffmpeg afftdn (profile)", "sox noisered")
METRIC_KEYS = ("pesq", "stoi", "estoi", "si_sdr", "dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl",
               "kurtosis_ratio", "hole_rate", "attenuation_db")
CSV_FIELDS = ("dataset", "half", "group", "file", "system", "family", "status", "sample_rate", "duration_s", "seconds", "rtf",
              "lag_samples", *METRIC_KEYS, "noise_frames", "region_s", "region_fallback", "regions")


# -- data ------------------------------------------------------------------------------------------
def half(file: str) -> str:
    """Which half of the dev pairs ``file`` belongs to (:data:`TUNE` or :data:`HELD_OUT`)."""
    return TUNE if Path(file).name.startswith(TUNE_SPEAKERS) else HELD_OUT


def list_cases(*, quick: bool = False, pairs: int | None = None,
               sets: tuple[str, ...] = ("mixtures", "pairs_real", "podcast")) -> list[tuple[str, str]]:
    """``(dataset, case name)`` for every noisy/clean pair of ``sets``: the data folder's manifest,
    and the robustness suite's (``bench/robustness.py``, built on demand)."""
    out: list[tuple[str, str]] = []
    per = {ds: [] for ds in DATASETS}
    for r in _manifest().values():
        if r["kind"] in ("noisy_mix", "noisy_real_pair", "podcast_noisy", "noisy_robust") and r["clean_ref"]:
            per[_dataset(r["file"])].append(r["file"])
    limit = {"mixtures": 6, "pairs_real": 3, "podcast": 1, "robustness": 8} if quick else {}
    for ds in DATASETS:
        if ds not in sets:
            continue
        files = sorted(per[ds]) if ds != "robustness" else per[ds]
        if quick and ds != "podcast":
            files = files[:: max(1, len(files) // limit[ds])][: limit[ds]]
        if pairs is not None and ds in ("mixtures", "pairs_real"):
            files = files[:pairs]
        out += [(ds, f) for f in files]
    return out


def _dataset(file: str) -> str:
    return "robustness" if Path(file).is_absolute() else file.split("/")[0]


@cache
def _manifest() -> dict[str, dict]:
    """The dev data's manifest rows and the robustness suite's (absolute paths), by file."""
    from bench import robustness

    rows = {r["file"]: r for r in csv.DictReader((DATA / "manifest.csv").open(encoding="utf-8"))}
    rows.update({r["file"]: r for r in robustness.manifest()})
    return rows


def _read_mono(path: Path) -> tuple[np.ndarray, int]:
    import soundfile as sf

    x, sr = sf.read(path, dtype="float32", always_2d=True)
    return np.ascontiguousarray(x.mean(axis=1) if x.shape[1] > 1 else x[:, 0]), int(sr)


@lru_cache(maxsize=8)
def load_case(file: str, quick: bool = False) -> Case:
    row = _manifest()[file]
    noisy, sr = _read_mono(DATA / file)
    clean, sr2 = _read_mono(DATA / row["clean_ref"])
    if sr2 != sr:
        raise RuntimeError(f"{file}: clean reference at {sr2} Hz, noisy at {sr} Hz")
    n = min(len(noisy), len(clean))
    if quick and file.startswith("podcast/"):
        n = min(n, int(QUICK_PODCAST_S * sr))
    noisy, clean = noisy[:n], clean[:n]
    nf = metrics.noise_only_frames(clean, noisy, sr)
    # The robustness suite comes with a separate noise-only clip of the same noise (as the unseen
    # set gives its peers); the dev pairs' peers get the noise regions' samples.
    noise = _read_mono(DATA / row["noise_ref"])[0] if row.get("kind") == "noisy_robust" else \
        metrics.region_audio(noisy, sr, nf.regions)
    return Case(
        name=Path(file).stem.removesuffix("_noisy"), dataset=_dataset(file), sample_rate=sr,
        noisy=noisy, clean=clean, regions=tuple(nf.regions), region_fallback=nf.fallback, noise=noise,
    )


@lru_cache(maxsize=8)
def _case_analysis(file: str, quick: bool):
    case = load_case(file, quick)
    nf = metrics.noise_only_frames(case.clean, case.noisy, case.sample_rate)
    return nf.mask, metrics.power_spectrogram(case.noisy, case.sample_rate)


def _case_key(case: Case) -> str:
    h = hashlib.sha1()
    h.update(case.noisy.tobytes())
    h.update(repr(case.regions).encode())
    return h.hexdigest()[:12]


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_")


@lru_cache(maxsize=1)
def _metrics_hash() -> str:
    return hashlib.sha1((BENCH / "metrics.py").read_bytes()).hexdigest()[:12]


# -- one (system, file) evaluation, in a worker ------------------------------------------------------
_WARM: set[str] = set()
_DNSMOS = None


def _warm_up(system, sr: int) -> None:
    """Run once on 1 s of noise so JIT compiles / imports / model loads are not timed."""
    if (system.name, sr) in _WARM:
        return
    rng = np.random.default_rng(0)
    x = (0.01 * rng.standard_normal(sr)).astype(np.float32)
    warm = Case("warm-up", "warm-up", sr, x, x, ((0.0, 0.5),), False, x[: sr // 2])
    try:
        system.run(warm)
    except Exception:  # noqa: BLE001 - the real run reports the failure
        pass
    _WARM.add((system.name, sr))


def _run_system(system, case: Case, use_cache: bool) -> tuple[np.ndarray, float]:
    key = hashlib.sha1(f"{system.code_hash}|{_case_key(case)}".encode()).hexdigest()[:16]
    path = OUT / "outputs" / _slug(system.name) / f"{_slug(case.name)}-{key}.npz"
    if use_cache and path.is_file():
        with np.load(path) as z:
            return z["audio"], float(z["seconds"])
    _warm_up(system, case.sample_rate)
    t0 = time.perf_counter()
    y = system.run(case)
    seconds = time.perf_counter() - t0
    y = np.asarray(y, np.float32).reshape(-1)
    if len(y) != len(case.noisy):
        raise RuntimeError(f"returned {len(y)} samples for {len(case.noisy)} in")
    if not np.all(np.isfinite(y)):
        raise RuntimeError("returned non-finite samples")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, audio=y, seconds=seconds)
    os.replace(tmp, path)
    return y, seconds


def _score(case: Case, file: str, quick: bool, y: np.ndarray) -> dict:
    global _DNSMOS
    sr = case.sample_rate
    mask, p_in = _case_analysis(file, quick)
    p_out = metrics.power_spectrogram(y, sr)
    ns = metrics.noise_scores(p_in, p_out, mask)
    if _DNSMOS is None:
        _DNSMOS = metrics.Dnsmos()
    long_file = len(y) / sr > metrics.DNSMOS_LONG_FILE_S
    d = _DNSMOS(y, sr, hop_s=9.0 if long_file else 1.0)
    return {
        "pesq": metrics.pesq_wb(case.clean, y, sr),
        "stoi": metrics.stoi(case.clean, y, sr),
        "estoi": metrics.stoi(case.clean, y, sr, extended=True),
        "si_sdr": metrics.si_sdr(case.clean, y),
        "dnsmos_sig": d["sig"], "dnsmos_bak": d["bak"], "dnsmos_ovrl": d["ovrl"],
        "kurtosis_ratio": ns.kurtosis_ratio, "hole_rate": ns.hole_rate, "attenuation_db": ns.attenuation_db,
        "noise_frames": ns.noise_frames,
        "lag_samples": metrics.lag_samples(case.clean, y, int(0.05 * sr)),
    }


def evaluate(system_name: str, file: str, quick: bool, use_cache: bool) -> dict:
    """Run (or load) one system on one file and score it. Never raises: failures are rows."""
    case = load_case(file, quick)
    system = all_systems()[system_name]
    dur = len(case.noisy) / case.sample_rate
    row = {"dataset": case.dataset, "file": case.name, "system": system.name, "family": system.family,
           "half": half(file) if case.dataset in ("mixtures", "pairs_real") else "",
           "group": _manifest()[file].get("group", ""),
           "sample_rate": case.sample_rate, "duration_s": round(dur, 3), "region_s": round(sum(b - a for a, b in case.regions), 3),
           "region_fallback": case.region_fallback, "regions": ";".join(f"{a:.3f}-{b:.3f}" for a, b in case.regions)}
    try:
        y, seconds = _run_system(system, case, use_cache)
    except Exception as exc:  # noqa: BLE001
        reason = f"{type(exc).__name__}: {exc}" if not exc.__class__.__name__ == "PeerFailed" else str(exc)
        row["status"] = "failed: " + reason.splitlines()[0][:200] if reason else "failed"
        if os.environ.get("ROOMTONE_BENCH_TRACE"):
            traceback.print_exc()
        return row
    row["seconds"] = seconds
    row["rtf"] = seconds / dur
    key = hashlib.sha1(y.tobytes()).hexdigest()[:16]
    mpath = OUT / "scores" / _slug(system.name) / f"{_slug(case.name)}-{key}-{_metrics_hash()}.json"
    if use_cache and mpath.is_file():
        scores = json.loads(mpath.read_text())
    else:
        scores = _score(case, file, quick, y)
        mpath.parent.mkdir(parents=True, exist_ok=True)
        mpath.write_text(json.dumps(scores))
    row.update(scores)
    row["status"] = "ok"
    return row


def _worker_init(single_thread: bool) -> None:
    if single_thread:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = "1"


# -- aggregation -------------------------------------------------------------------------------------
def _mean(values) -> float:
    vals = [float(v) for v in values if v is not None and v != "" and math.isfinite(float(v))]
    return float(np.mean(vals)) if vals else math.nan


def aggregate(rows: list[dict], systems: list[str]) -> dict[str, dict[str, dict]]:
    """``{dataset: {system: {metric: mean, 'n': files ok, 'status': ...}}}`` (+ the ``dev pairs`` set)."""
    groups = {ds: [r for r in rows if r["dataset"] == ds] for ds in DATASETS}
    groups[DEV] = groups["mixtures"] + groups["pairs_real"]
    groups[TUNE] = [r for r in groups[DEV] if r.get("half") == TUNE]
    groups[HELD_OUT] = [r for r in groups[DEV] if r.get("half") == HELD_OUT]
    for g in sorted({r.get("group", "") for r in groups["robustness"]} - {""}):
        groups[f"robustness: {g}"] = [r for r in groups["robustness"] if r.get("group") == g]
    out: dict[str, dict[str, dict]] = {}
    for ds, rs in groups.items():
        if not rs:
            continue
        table = {}
        for name in systems:
            mine = [r for r in rs if r["system"] == name]
            if not mine:
                continue
            ok = [r for r in mine if r.get("status") == "ok"]
            failed = [r for r in mine if r.get("status") != "ok"]
            entry = {k: _mean(r.get(k) for r in ok) for k in METRIC_KEYS}
            entry["refused"] = sum(1 for r in failed)
            wall = sum(float(r["seconds"]) for r in ok)
            audio = sum(float(r["duration_s"]) for r in ok)
            entry["rtf"] = wall / audio if audio else math.nan
            entry["n"] = len(ok)
            entry["n_noise"] = sum(1 for r in ok if math.isfinite(float(r.get("hole_rate", math.nan))))
            entry["family"] = mine[0]["family"]
            if failed:
                reasons = sorted({r["status"] for r in failed})
                entry["status"] = f"{reasons[0]} ({len(failed)}/{len(mine)} files)" if len(reasons) == 1 else \
                    f"{reasons[0]} (+{len(reasons) - 1} other reasons; {len(failed)}/{len(mine)} files)"
            else:
                entry["status"] = "ok"
            table[name] = entry
        out[ds] = table
    return out


# -- claims ------------------------------------------------------------------------------------------
def _ok(entry: dict | None, *keys: str) -> bool:
    return entry is not None and entry["n"] > 0 and all(math.isfinite(entry.get(k, math.nan)) for k in keys)


def compute_claims(agg: dict, speed: dict) -> list[dict]:
    """The 'Must show' quality claims of issue 18, each computed from the numbers.

    ``speed`` is accepted for the report's sake; the speed claims are judged by
    ``bench/bench_speed.py --source podcast`` on an hour (see ``results/speed_podcast.md``).
    """
    claims: list[dict] = []

    def add(text: str, ok: bool | None, evidence: str) -> None:
        claims.append({"issue": "18", "claim": text, "result": "n/a" if ok is None else ("PASS" if ok else "FAIL"),
                       "evidence": evidence})

    def entry(group: str, name: str, *keys: str) -> dict | None:
        e = agg.get(group, {}).get(name)
        return e if _ok(e, *keys) else None

    roomtone = sorted({n for g in agg.values() for n, e in g.items() if e["family"] == "roomtone"})
    for name in roomtone:
        refused = sum(e.get("refused", 0) for g, t in agg.items() if g in DATASETS for n, e in t.items() if n == name)
        total = sum(e.get("n", 0) + e.get("refused", 0) for g, t in agg.items() if g in DATASETS for n, e in t.items()
                    if n == name)
        add(f"{name}: no refusal in automatic mode (every file of every set run)", refused == 0,
            f"{refused} of {total} files refused or failed")
    for group in (DEV, HELD_OUT):
        pod = entry(group, "podcast", "pesq", "estoi", "dnsmos_ovrl")
        peers = {n: agg[group][n] for n in DSP_PEERS if entry(group, n, "pesq")}
        for key, label in (("pesq", "PESQ"), ("estoi", "ESTOI"), ("dnsmos_ovrl", "DNSMOS OVRL")):
            if pod is None or not peers:
                add(f"{group}: podcast mean {label} above every DSP peer", None, "podcast or the peers not run")
                continue
            best = max(peers, key=lambda n: peers[n][key])
            add(f"{group}: podcast mean {label} above every DSP peer", pod[key] > peers[best][key],
                f"podcast {pod[key]:.3f} vs best DSP peer {best} {peers[best][key]:.3f}")
        pt = entry(group, "passthrough", "hole_rate")
        dfn, dfn12 = entry(group, "DeepFilterNet3", "dnsmos_sig"), entry(group, "DeepFilterNet3 (12 dB)", "pesq")
        ml = entry(group, "podcast-ml", "pesq")
        for key, label in (("pesq", "PESQ"), ("estoi", "ESTOI"), ("dnsmos_ovrl", "DNSMOS OVRL")):
            ok = None if ml is None or dfn12 is None else ml[key] >= dfn12[key]
            add(f"{group}: podcast-ml mean {label} at least DeepFilterNet3 (12 dB)'s", ok,
                "not run" if ok is None else f"podcast-ml {ml[key]:.3f} vs {dfn12[key]:.3f}")
        ok = None if ml is None or dfn is None else ml["dnsmos_sig"] >= dfn["dnsmos_sig"]
        add(f"{group}: podcast-ml SIG at least full DeepFilterNet3's", ok,
            "not run" if ok is None else f"podcast-ml {ml['dnsmos_sig']:.3f} vs {dfn['dnsmos_sig']:.3f}")
        for name in ("podcast", "podcast-ml"):
            e = entry(group, name, "kurtosis_ratio", "hole_rate")
            add(f"{group}: {name} kurtosis ratio <= 1.1", None if e is None else e["kurtosis_ratio"] <= 1.1,
                "not run" if e is None else f"{e['kurtosis_ratio']:.3f}")
            ok = None if e is None or pt is None else e["hole_rate"] <= 1.5 * pt["hole_rate"]
            add(f"{group}: {name} hole rate <= 1.5x passthrough's", ok,
                "not run" if ok is None else f"{e['hole_rate']:.4f} vs passthrough {pt['hole_rate']:.4f} "
                f"({e['hole_rate'] / max(pt['hole_rate'], 1e-12):.2f}x)")
    for name in ("podcast", "podcast-ml"):
        e = entry("podcast", name, "kurtosis_ratio")
        add(f"podcast file: {name} kurtosis ratio <= 1.1", None if e is None else e["kurtosis_ratio"] <= 1.1,
            "not run" if e is None else f"{e['kurtosis_ratio']:.3f}")
    pt = entry(DEV, "passthrough", "pesq", "si_sdr")
    for name in roomtone:
        e = entry(DEV, name, "pesq", "si_sdr")
        ok = None if e is None or pt is None else e["pesq"] > pt["pesq"] and e["si_sdr"] > pt["si_sdr"]
        add(f"{name}: does no harm (dev pairs: PESQ and SI-SDR above passthrough)", ok,
            "not run" if ok is None else f"PESQ {e['pesq']:.3f} vs {pt['pesq']:.3f}, SI-SDR {e['si_sdr']:.2f} vs "
            f"{pt['si_sdr']:.2f} dB")
    return claims


def worst_files(rows: list[dict], dataset: str, systems: tuple[str, ...] = ("podcast", "podcast-ml")) -> str:
    """For each Roomtone system: its worst file per metric on ``dataset``, against passthrough's."""
    base = {r["file"]: r for r in rows if r["dataset"] == dataset and r["system"] == "passthrough" and r.get("status") == "ok"}
    lines = ["| system | metric | worst file | value | passthrough on it |", "|---|---|---|---|---|"]
    for name in systems:
        mine = [r for r in rows if r["dataset"] == dataset and r["system"] == name and r.get("status") == "ok"]
        for key, label, higher_better in (("pesq", "PESQ", True), ("estoi", "ESTOI", True), ("si_sdr", "SI-SDR", True),
                                          ("dnsmos_ovrl", "OVRL", True), ("kurtosis_ratio", "kurtosis", False),
                                          ("hole_rate", "hole rate", False)):
            vals = [r for r in mine if math.isfinite(float(r.get(key, math.nan)))]
            if not vals:
                continue
            w = (min if higher_better else max)(vals, key=lambda r: float(r[key]))
            b = base.get(w["file"], {}).get(key)
            lines.append(f"| {name} | {label} | {w['file']} | {_f(w[key], '.3f')} | {_f(b, '.3f')} |")
    return "\n".join(lines)


# -- speed comparison ------------------------------------------------------------------------------
def speed_comparison(names: list[str], file: str, quick: bool, repeats: int = 3) -> dict[str, dict]:
    """Best-of-``repeats`` wall time on the podcast file, sequentially in this process."""
    out: dict[str, dict] = {}
    case = load_case(file, quick)
    dur = len(case.noisy) / case.sample_rate
    systems = all_systems()
    for name in names:
        if name not in systems:
            out[name] = {"status": "not available"}
            continue
        sysm = systems[name]
        try:
            _warm_up(sysm, case.sample_rate)
            best = math.inf
            for _ in range(repeats):
                t0 = time.perf_counter()
                sysm.run(case)
                best = min(best, time.perf_counter() - t0)
            out[name] = {"seconds": best, "rtf": best / dur, "x_realtime": dur / best, "audio_s": dur}
        except Exception as exc:  # noqa: BLE001
            out[name] = {"status": f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"}
    return out


# -- figures ------------------------------------------------------------------------------------------
def hole_png(file: str, quick: bool, systems: list[str], path: Path, use_cache: bool = True) -> str:
    """Spectrograms of the podcast file with the benchmark's hole map (red) for a few systems."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    case = load_case(file, quick)
    sr = case.sample_rate
    mask, p_in = _case_analysis(file, quick)
    n_fft, hop = metrics.analysis_grid(sr)
    allsys = all_systems()
    panels = [("input (noisy)", None)]
    for name in systems:
        if name in allsys:
            try:
                y, _ = _run_system(allsys[name], case, use_cache)
                panels.append((name, y))
            except Exception as exc:  # noqa: BLE001
                panels.append((f"{name}: failed ({str(exc)[:80]})", False))
    fig, axes = plt.subplots(len(panels), 1, figsize=(14, 2.6 * len(panels)), sharex=True, squeeze=False)
    extent = (0, p_in.shape[0] * hop / sr, 0, sr / 2000)
    vmax = float(np.percentile(10 * np.log10(p_in + 1e-12), 99.5))
    vmin = vmax - 80.0
    for ax, (title, y) in zip(axes[:, 0], panels, strict=True):
        if y is False:
            ax.set_title(title, loc="left", fontsize=9)
            continue
        p = p_in if y is None else metrics.power_spectrogram(y, sr)
        ax.imshow(10 * np.log10(p.T + 1e-12), origin="lower", aspect="auto", extent=extent, cmap="magma", vmin=vmin, vmax=vmax)
        if y is not None:
            holes = metrics.hole_mask(p_in, p, mask)
            ns = metrics.noise_scores(p_in, p, mask)
            overlay = np.zeros((*holes.T.shape, 4))
            overlay[holes.T] = (0.2, 1.0, 0.3, 0.85)
            ax.imshow(overlay, origin="lower", aspect="auto", extent=extent)
            title += f"  (hole rate in noise-only frames {ns.hole_rate:.3f}, attenuation {ns.attenuation_db:.1f} dB)"
        ax.set_title(title, loc="left", fontsize=9)
        ax.set_ylabel("kHz")
        ax.set_ylim(0, min(sr / 2000, 12))
    axes[-1, 0].set_xlabel("seconds")
    fig.suptitle("Podcast file: spectrogram (dB) with spectral holes in green "
                 "(output > 20 dB below the input's noise floor in that bin)", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path.name


def roomtone_hole_png(file: str, quick: bool, path: Path, use_cache: bool = True) -> str:
    """The hole map from Roomtone's own detector (dsp.holes) drawn by app/spectrogram_png.py."""
    try:
        import app.spectrogram_png as spng
        from dsp import holes  # noqa: F401
    except ImportError as exc:
        return f"TODO: Roomtone's own hole-map PNG needs dsp.holes.detect_holes and app/spectrogram_png.py ({exc})"
    from bench.systems import learn_profile, roomtone_settings

    try:
        case = load_case(file, quick)
        y, _ = _run_system(all_systems()["podcast"], case, use_cache)
        settings = roomtone_settings("podcast")
        profile = learn_profile(case.noisy, case.sample_rate, case.regions, settings)
        hmap = holes.detect_holes(case.noisy[None, :], y[None, :], profile, case.sample_rate,
                                  max_total_reduction_db=settings.max_total_reduction_db)
        spng.write_hole_map_png(path, hmap)
        return path.name
    except Exception as exc:  # noqa: BLE001
        return f"TODO: Roomtone's hole-map PNG failed ({type(exc).__name__}: {str(exc)[:160]})"


# -- report -------------------------------------------------------------------------------------------
def _f(v, fmt: str) -> str:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return "-"
    if math.isnan(v):
        return "-"
    if math.isinf(v):
        return "inf"
    return format(v, fmt)


TABLE_HEAD = ("| system | files | PESQ | STOI | ESTOI | SI-SDR dB | SIG | BAK | OVRL | kurtosis ratio | hole rate "
              "| noise atten. dB | RTF |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|")


def table_md(entries: dict[str, dict]) -> str:
    lines = [TABLE_HEAD]
    for name, e in entries.items():
        if e["n"] == 0:
            lines.append(f"| {name} | 0 | {e['status']} |" + " |" * 11)
            continue
        flag = "" if e["status"] == "ok" else f" ({e['status']})"
        lines.append(
            f"| {name}{flag} | {e['n']} | {_f(e['pesq'], '.3f')} | {_f(e['stoi'], '.3f')} | {_f(e['estoi'], '.3f')} | "
            f"{_f(e['si_sdr'], '.2f')} | {_f(e['dnsmos_sig'], '.3f')} | {_f(e['dnsmos_bak'], '.3f')} | "
            f"{_f(e['dnsmos_ovrl'], '.3f')} | {_f(e['kurtosis_ratio'], '.3f')} | {_f(e['hole_rate'], '.4f')} | "
            f"{_f(e['attenuation_db'], '.1f')} | {_f(e['rtf'], '.4f')} |")
    return "\n".join(lines)


def claims_md(claims: list[dict]) -> str:
    lines = ["| issue | claim | result | numbers |", "|---|---|---|---|"]
    lines += [f"| {c['issue']} | {c['claim']} | **{c['result']}** | {c['evidence']} |" for c in claims]
    return "\n".join(lines)


def speed_md(speed: dict) -> str:
    lines = ["| system | wall s (best of 3) | audio s | RTF | x real time |", "|---|---|---|---|---|"]
    for name, s in speed.items():
        if "rtf" in s:
            lines.append(f"| {name} | {s['seconds']:.3f} | {s['audio_s']:.1f} | {s['rtf']:.4f} | {s['x_realtime']:.0f}x |")
        else:
            lines.append(f"| {name} | {s.get('status', '-')} | | | |")
    return "\n".join(lines)


def write_report(rows, agg, claims, speed, figures: list[str], args, started: str, elapsed: float) -> str:
    from bench.peers import tool_versions

    n_files = {ds: len({r["file"] for r in rows if r["dataset"] == ds}) for ds in DATASETS}
    n_half = {h: len({r["file"] for r in rows if r.get("half") == h}) for h in (TUNE, HELD_OUT)}
    fallback = sorted({r["file"] for r in rows if str(r.get("region_fallback")) == "True"})
    titles = {DEV: f"Dev pairs: mixtures + real pairs ({n_files['mixtures'] + n_files['pairs_real']} files; the claims are judged here)",
              TUNE: f"Tuning half of the dev pairs ({n_half[TUNE]} files: speakers s01, s03, s05, s07, VoiceBank p232)",
              HELD_OUT: f"Held-out half of the dev pairs ({n_half[HELD_OUT]} files: speakers s02, s04, s06, VoiceBank "
                        "p257, DeepFilterNet's and python-pesq's pairs; never tuned on)",
              "robustness": f"Robustness suite ({n_files['robustness']} files, bench/robustness.py: unlike the dev mixtures)",
              "mixtures": f"Synthetic mixtures ({n_files['mixtures']} files, 0/5/10/15 dB SNR)",
              "pairs_real": f"Real pairs ({n_files['pairs_real']} files: VoiceBank+DEMAND, DeepFilterNet, python-pesq)",
              "podcast": "Podcast file (120 s, 48 kHz, cafe + 50 Hz hum bed at 12 dB SNR)" + (" - first 30 s (--quick)" if args.quick else "")}
    parts = [
        "# Quality benchmark results",
        "",
        f"Generated by `bench/quality.py{' --quick' if args.quick else ''}` on {started} in {elapsed / 60:.1f} min "
        f"({args.jobs} process{'es' if args.jobs > 1 else ''}). Means over files; metric definitions in "
        "[bench/README.md](../README.md). Higher is better for PESQ, STOI, ESTOI, SI-SDR and DNSMOS; "
        "kurtosis ratio ~1 means no musical noise; hole rate is the fraction of noise-only time-frequency bins "
        "more than 20 dB below the input's noise floor (passthrough gives the rate of the noise's own "
        "fluctuation); RTF = wall time / audio time (in this table measured with the other worker busy; "
        "see the speed comparison for clean timings).",
        "",
        "<!-- summary:start -->",
    ]
    summary = []
    for ds in (DEV, TUNE, HELD_OUT, "mixtures", "pairs_real", "podcast", "robustness"):
        if ds in agg:
            summary += [f"### {titles[ds]}", "", table_md(agg[ds]), ""]
    groups = [g for g in agg if g.startswith("robustness: ")]
    if groups:
        summary += ["### Robustness suite by group", ""]
        for g in groups:
            summary += [f"#### {g.removeprefix('robustness: ')}", "", table_md(agg[g]), ""]
        summary += ["### Robustness suite: worst file per metric", "", worst_files(rows, "robustness"), ""]
    summary += ["### Claims (issue 18 \"Must show\"), computed from the numbers above", "", claims_md(claims), ""]
    summary += ["### Podcast speed comparison (same run, sequential, best of 3)", "", speed_md(speed), ""]
    parts += summary + ["<!-- summary:end -->", ""]
    parts += ["### Figures", ""]
    for fig in figures:
        parts.append(f"- ![hole map]({fig})" if fig.endswith(".png") else f"- {fig}")
    parts += ["", "### Notes", ""]
    parts.append(f"- Noise-only frames too few for a profile region in {len(fallback)} files; their profile was learned from "
                 "the quietest 15 % of frames (lowest clean-to-noise ratio) instead: " + (", ".join(fallback) or "none") + ".")
    parts.append("- Noise-only measures (kurtosis, hole rate, attenuation) are averaged over files with at least "
                 f"{metrics.MIN_NOISE_FRAMES} noise-only frames; the CSV has per-file values and `noise_frames`.")
    parts.append("- Tool versions: " + ", ".join(f"{k} `{v}`" for k, v in tool_versions().items()))
    parts.append("")
    text = "\n".join(parts)
    return text


def update_readme(report: str, started: str) -> None:
    readme = BENCH / "README.md"
    if not readme.is_file():
        return
    m = re.search(r"<!-- summary:start -->\n(.*?)<!-- summary:end -->", report, re.S)
    if not m:
        return
    block = f"<!-- table:start -->\n_Current table ({started}; copied from results/quality.md by bench/quality.py)._\n\n" + \
        m.group(1).replace("### ", "#### ") + "<!-- table:end -->"
    text = readme.read_text(encoding="utf-8")
    if "<!-- table:start -->" in text:
        text = re.sub(r"<!-- table:start -->.*?<!-- table:end -->", lambda _: block, text, flags=re.S)
        readme.write_text(text, encoding="utf-8")


# -- main ---------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="6 mixtures, 3 real pairs, first 30 s of the podcast file")
    ap.add_argument("--sets", default="mixtures,pairs_real,podcast,robustness",
                    help="comma-separated data sets (mixtures, pairs_real, podcast, robustness)")
    ap.add_argument("--systems", help="comma-separated system names (default: all)")
    ap.add_argument("--pairs", type=int, help="at most N files per pair data set")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes (1 or 2)")
    ap.add_argument("--no-cache", action="store_true", help="recompute outputs and scores")
    ap.add_argument("--no-readme", action="store_true", help="do not refresh the table in bench/README.md")
    ap.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    args = ap.parse_args(argv)
    args.jobs = max(1, min(2, args.jobs))
    started = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    t_start = time.perf_counter()

    systems = all_systems()
    names = list(systems)
    if args.systems:
        wanted = [s.strip() for s in args.systems.split(",") if s.strip()]
        unknown = [w for w in wanted if w not in systems]
        if unknown:
            print(f"unknown systems {unknown}; known: {names}", file=sys.stderr)
            return 2
        names = [n for n in names if n in wanted]
    cases = list_cases(quick=args.quick, pairs=args.pairs, sets=tuple(x.strip() for x in args.sets.split(",")))
    tasks = [(n, f) for (_, f) in cases for n in names]
    # long files first so the two workers finish together
    tasks.sort(key=lambda t: (not t[1].startswith("podcast/"),))
    print(f"{len(names)} systems x {len(cases)} files = {len(tasks)} runs, {args.jobs} process(es)", flush=True)
    rows: list[dict] = []
    use_cache = not args.no_cache
    done = 0
    if args.jobs == 1:
        for n, f in tasks:
            rows.append(evaluate(n, f, args.quick, use_cache))
            done += 1
            _progress(done, len(tasks), rows[-1])
    else:
        import multiprocessing as mp

        with ProcessPoolExecutor(args.jobs, mp_context=mp.get_context("spawn"), initializer=_worker_init,
                                 initargs=(True,)) as pool:
            futs = [pool.submit(evaluate, n, f, args.quick, use_cache) for n, f in tasks]
            for fut in as_completed(futs):
                rows.append(fut.result())
                done += 1
                _progress(done, len(tasks), rows[-1])
    order = {n: i for i, n in enumerate(names)}
    rows.sort(key=lambda r: (DATASETS.index(r["dataset"]), r.get("group", ""), r["file"], order[r["system"]]))

    podcast_file = next((f for ds, f in cases if ds == "podcast"), None)
    speed: dict = {}
    figures: list[str] = []
    if podcast_file:
        print("speed comparison on the podcast file ...", flush=True)
        speed = speed_comparison([n for n in ("podcast", "ffmpeg afftdn", "podcast-ml") if n in systems], podcast_file, args.quick)
        print("hole-map figures ...", flush=True)
        shown = [n for n in ("podcast", "noisereduce", "DeepFilterNet3") if n in names]
        figures.append(hole_png(podcast_file, args.quick, shown, args.out / "holes_podcast.png", use_cache))
        if "podcast" in names:
            figures.append(roomtone_hole_png(podcast_file, args.quick, args.out / "holes_podcast_roomtone.png", use_cache))

    agg = aggregate(rows, names)
    claims = compute_claims(agg, speed)
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "quality.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=CSV_FIELDS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{r[k]:.6g}" if isinstance(r.get(k), float) else r.get(k, "")) for k in CSV_FIELDS})
    elapsed = time.perf_counter() - t_start
    report = write_report(rows, agg, claims, speed, figures, args, started, elapsed)
    (args.out / "quality.md").write_text(report, encoding="utf-8")
    if not args.no_readme and args.out == RESULTS:
        update_readme(report, started)
    print(report[report.find("<!-- summary:start -->"): report.find("<!-- summary:end -->")])
    print(f"wrote {args.out / 'quality.md'} and quality.csv in {elapsed / 60:.1f} min")
    return 0


def _progress(done: int, total: int, row: dict) -> None:
    status = row.get("status", "")
    extra = f" PESQ {row['pesq']:.2f} OVRL {row['dnsmos_ovrl']:.2f} RTF {row['rtf']:.3f}" if status == "ok" else f" {status}"
    print(f"[{done}/{total}] {row['system']} / {row['file']}:{extra}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
