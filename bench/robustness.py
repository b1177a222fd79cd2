"""The robustness suite: recordings unlike the dev mixtures, built from the dev material.

Issue 18 asks that no claim rest on the 40 dev pairs alone. This script builds, deterministically
(fixed seeds), about thirty noisy/clean cases that the dev mixtures do not cover, mixed differently
from them (other offsets, other SNRs, synthetic beds and events, other rates and channel counts):

===============  ===========================================================================
group            what
===============  ===========================================================================
``cut``          speech-only cuts of 0.5-4 s with no pause (the clip starts and ends inside
                 speech), over dev noise at 0-10 dB SNR: no room tone can be learned
``ambience``     continuous ambiences with no steady stretch under speech with pauses:
                 crickets (chirping tones), fire crackle (pops over a rumble), babble (four
                 other dev readers), rain (dense drops over hiss); 10-15 dB SNR
``events``       a steady bed (exercise bike, hiss, pink noise) with loud events on top
                 (the dev kitchen's clinks, synthetic knocks and 30 ms clicks, 6-12 dB over the bed)
``sweep``        one voice over one noise at -6 to +17 dB SNR (two voice/noise pairs)
``lombard``      loud, bright speech (pre-emphasised, active level -14 dBFS) in loud noise
``rate``         44.1 kHz and 48 kHz mixtures (the dev pairs are 16 and 48 kHz only)
``stereo``       two-microphone recordings: the same voice (0.3 ms apart) over independent noise
===============  ===========================================================================

Each case is a noisy file, its clean reference (the exact speech inside the mix, per channel)
and a separate 2 s noise-only clip of the same noise (never overlapping the part in the mix),
which the profile-based peers are given, as on the unseen set. Files are float WAV under
``bench/out/robustness/`` (gitignored, rebuilt on demand) with a ``manifest.csv``.

Usage::

    .venv/bin/python bench/robustness.py              # build the suite (a few seconds)
    .venv/bin/python bench/robustness.py --refusals   # every factory preset, automatic mode, on
                                                      # every dev file and the suite: exit codes
    .venv/bin/python bench/quality.py --sets robustness   # score it against the peers

``--refusals`` writes ``bench/results/refusals.md``.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import lfilter, resample_poly

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
os.environ.setdefault("NUMBA_CACHE_DIR", str(REPO / ".cache" / "numba"))

DATA = Path(os.environ.get("ROOMTONE_DEV_DATA", REPO.parent / "shared" / "data"))
SUITE = BENCH / "out" / "robustness"
RESULTS = BENCH / "results"
FIELDS = ("file", "kind", "group", "rate", "channels", "snr_db", "clean_ref", "noise_ref", "notes")

CLEAN = {
    "s01": "clean/s01_vctk_p286.flac", "s02": "clean/s02_freesound33711.flac", "s03": "clean/s03_libri_198.flac",
    "s04": "clean/s04_libri_3436.flac", "s05": "clean/s05_libri_5703.flac", "s06": "clean/s06_arctic_aew.flac",
    "s07": "clean/s07_arctic_axb.flac",
}
NOISE = {
    "cafe": "noise/n01_cafe_coffeeshop.flac", "street": "noise/n02_street_city.flac", "hum": "noise/n03_hum_50hz.flac",
    "kitchen": "noise/n04_kitchen_dishes.flac", "bike": "noise/n05_machine_exercise_bike.flac",
    "hiss": "noise/n06_broadband_freesound573577.flac",
}


# -- material -------------------------------------------------------------------------------------
def load(rel: str, sr: int) -> np.ndarray:
    """A dev file as float64 mono at ``sr`` (polyphase resampling)."""
    x, rate = sf.read(str(DATA / rel), dtype="float64", always_2d=True)
    x = x.mean(axis=1)
    if rate != sr:
        g = gcd(int(rate), int(sr))
        x = resample_poly(x, sr // g, rate // g)
    return x


def active_power(x: np.ndarray, sr: int) -> float:
    """Active speech power (32 ms frames within 30 dB of the 95th-percentile frame)."""
    n = int(0.032 * sr)
    f = x[: len(x) // n * n].reshape(-1, n)
    p = np.mean(f * f, axis=1)
    db = 10 * np.log10(p + 1e-30)
    return float(np.mean(p[db > np.percentile(db, 95) - 30]))


def noise_pieces(noise: np.ndarray, n: int, rng: np.random.Generator, clip_s: float, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` samples of ``noise`` from a random offset (looped when too short), and the noise-only
    clip of ``clip_s`` seconds that follows them (apart from the mixed part unless the noise is
    shorter than both together)."""
    k = int(clip_s * sr)
    long = np.tile(noise, int(np.ceil((n + k) / len(noise))) + 2)
    start = int(rng.integers(0, len(noise)))
    return long[start : start + n], long[start + n : start + n + k]


def snr_gain(speech: np.ndarray, noise: np.ndarray, snr_db: float, sr: int) -> float:
    """Gain for ``noise`` so that active speech power over noise power is ``snr_db``."""
    return float(np.sqrt(active_power(speech, sr) / (np.mean(noise**2) + 1e-30) * 10 ** (-snr_db / 10)))


def speech_with_pauses(keys: list[str], sr: int, pause_s: float = 0.8, each_s: float = 4.5) -> np.ndarray:
    """The first ``each_s`` seconds of each voice, ``pause_s`` apart (a turn-taking exchange)."""
    parts = []
    for k in keys:
        parts += [load(CLEAN[k], sr)[: int(each_s * sr)], np.zeros(int(pause_s * sr))]
    return np.concatenate(parts[:-1])


def pink(n: int, rng: np.random.Generator) -> np.ndarray:
    b = [0.049922035, -0.095993537, 0.050612699, -0.004408786]
    a = [1, -2.494956002, 2.017265875, -0.522189400]
    return lfilter(b, a, rng.standard_normal(n + 2000))[2000:]


# -- synthetic beds and events --------------------------------------------------------------------
def crickets(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Several crickets: 4-5 kHz tones in chirps of 3-4 pulses, continuously, over faint hiss."""
    t = np.arange(n) / sr
    out = 0.02 * rng.standard_normal(n)
    for _ in range(4):
        f = rng.uniform(3800, 5200) if sr > 11000 else rng.uniform(2500, 3500)
        rate = rng.uniform(1.5, 3.0)  # chirps per second
        phase = rng.uniform(0, 1)
        pulses = (np.sin(2 * np.pi * 30 * t + phase) > 0.3).astype(float)  # 30 pulses/s
        chirp = ((t * rate + phase) % 1.0) < 0.12
        env = lfilter([0.05], [1, -0.95], pulses * chirp)
        out += rng.uniform(0.3, 1.0) * env * np.sin(2 * np.pi * f * t + rng.uniform(0, 6.28))
    return out


def crackle(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Fire crackle: a low rumble with dense pops of 1-8 ms, some loud."""
    out = lfilter([1], [1, -0.995], rng.standard_normal(n)) * 0.01
    for i in rng.integers(0, n - sr // 50, int(n / sr * 40)):
        k = int(rng.uniform(0.001, 0.008) * sr)
        out[i : i + k] += rng.standard_normal(k) * np.exp(-np.arange(k) / (k / 4)) * rng.lognormal(-1.0, 1.0)
    return out


def rain(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Rain: band-passed hiss with dense drops (short decaying noise bursts)."""
    out = lfilter([1, -0.9], [1], rng.standard_normal(n)) * 0.3
    for i in rng.integers(0, n - sr // 20, int(n / sr * 150)):
        k = int(rng.uniform(0.002, 0.015) * sr)
        out[i : i + k] += rng.standard_normal(k) * np.exp(-np.arange(k) / (k / 5)) * rng.uniform(0.5, 3.0)
    return out


def babble(n: int, sr: int, exclude: str) -> np.ndarray:
    others = [k for k in ("s03", "s04", "s05", "s06", "s07") if k != exclude][:4]
    out = np.zeros(n)
    for i, k in enumerate(others):
        x = np.roll(np.resize(load(CLEAN[k], sr), n), i * sr // 3)
        out += x / np.sqrt(active_power(x, sr))
    return out


def knocks(n: int, sr: int, rng: np.random.Generator, per_s: float) -> np.ndarray:
    """Clinks and knocks: decaying 0.8-5 kHz resonances and 30 ms clicks, unit peak."""
    out = np.zeros(n)
    for i in rng.integers(0, n - sr // 10, max(1, int(n / sr * per_s))):
        if rng.random() < 0.5:
            k = int(0.03 * sr)
            burst = rng.standard_normal(k) * np.hanning(k)
        else:
            k = int(rng.uniform(0.04, 0.12) * sr)
            f = rng.uniform(800, min(5000, 0.4 * sr))
            burst = np.sin(2 * np.pi * f * np.arange(k) / sr) * np.exp(-np.arange(k) / (k / 5))
        out[i : i + len(burst)] += burst / (np.max(np.abs(burst)) + 1e-12)
    return out


# -- the cases ------------------------------------------------------------------------------------
def _cases():
    """Yield ``(name, group, sr, speech (ch, n), noise (ch, n), clip (n,), snr_db, notes)``."""
    rng = np.random.default_rng(18)

    def over(noise_key: str, s: np.ndarray, snr: float, sr: int, channels: int = 1):
        pieces = [noise_pieces(load(NOISE[noise_key], sr), s.shape[-1], rng, 2.0, sr) for _ in range(channels)]
        k = snr_gain(s if s.ndim == 1 else s[0], pieces[0][0], snr, sr)
        return np.stack([p[0] for p in pieces]) * k, pieces[0][1] * k

    def padded(s: np.ndarray, sr: int, before: float, after: float) -> np.ndarray:
        return np.concatenate([np.zeros(int(before * sr)), s, np.zeros(int(after * sr))])

    # 1. speech-only cuts: start 0.1 s after the first loud frame, so the clip holds no pause
    cuts = [(0.5, "s03", "cafe", 5), (1.0, "s04", "street", 0), (1.5, "s05", "bike", 10), (2.0, "s06", "kitchen", 5),
            (2.5, "s07", "hiss", 0), (3.0, "s01", "cafe", 10), (4.0, "s02", "street", 5), (3.5, "s03", "hum", 0)]
    for dur, spk, nz, snr in cuts:
        sr = 48000 if spk in ("s01", "s02") else 16000
        s = load(CLEAN[spk], sr)
        w = int(0.03 * sr)
        lv = np.convolve(s**2, np.ones(w) / w, "same")
        start = int(np.argmax(lv > 0.1 * lv.max())) + int(0.1 * sr)
        s = s[start : start + int(dur * sr)]
        noise, clip = over(nz, s, snr, sr)
        yield f"cut{dur:g}s_{spk}_{nz}_snr{snr:+d}", "cut", sr, s[None], noise, clip, snr, "all speech, no pause"
    # 2. continuous ambiences under speech with pauses
    for i, (name, spk, snr, make) in enumerate((("crickets", "s04", 15, crickets), ("crackle", "s05", 10, crackle),
                                                ("babble", "s07", 10, None), ("rain", "s06", 10, rain))):
        sr = 16000
        s = padded(speech_with_pauses([spk, "s03" if spk != "s03" else "s04"], sr), sr, 0.5, 1.0)
        n = len(s)
        bed = babble(n + 2 * sr, sr, spk) if make is None else make(n + 2 * sr, sr, np.random.default_rng(100 + i))
        k = snr_gain(s, bed[:n], snr, sr)
        yield f"amb_{name}_{spk}_snr{snr:+d}", "ambience", sr, s[None], bed[None, :n] * k, bed[n:] * k, snr, "no steady pause"
    # 3. steady beds with loud events (the bed at 15 dB SNR, events on top)
    for i, (bedname, spk, loud) in enumerate((("bike", "s03", 12), ("hiss", "s01", 9), ("pink", "s06", 6))):
        sr = 48000 if spk == "s01" else 16000
        s = padded(speech_with_pauses([spk, "s05"], sr), sr, 0.5, 0.5)
        n = len(s) + 2 * sr
        r = np.random.default_rng(200 + i)
        bed = pink(n, r) if bedname == "pink" else np.resize(load(NOISE[bedname], sr), n)
        bed = bed / np.std(bed)
        ev = knocks(n, sr, r, 2.0)
        if sr == 16000:
            ev = ev + np.resize(load(NOISE["kitchen"], sr), n) / np.std(load(NOISE["kitchen"], sr)) * 0.3
        ev = ev / (np.std(ev) + 1e-30) * 10 ** (loud / 20) * 0.5
        k = snr_gain(s, bed[: len(s)], 15, sr)
        mix = (bed + ev) * k
        yield (f"events_{bedname}_{spk}", "events", sr, s[None], mix[None, : len(s)], mix[len(s):], 15,
               f"events {loud} dB over the bed")
    # 4. level sweep
    for i, snr in enumerate((-6, -3, 0, 3, 6, 9, 12, 17)):
        spk, nz, sr = ("s05", "cafe", 16000) if i % 2 == 0 else ("s02", "street", 48000)
        s = padded(load(CLEAN[spk], sr)[: 8 * sr], sr, 0.6, 0.6)
        noise, clip = over(nz, s, snr, sr)
        yield f"sweep_{spk}_{nz}_snr{snr:+d}", "sweep", sr, s[None], noise, clip, snr, ""
    # 5. Lombard-like: loud, bright speech in loud noise
    for spk, nz, snr in (("s03", "street", 0), ("s06", "cafe", 5)):
        sr = 16000
        s = lfilter([1, -0.7], [1], load(CLEAN[spk], sr)[: 8 * sr])
        s = np.clip(s * np.sqrt(10 ** (-14 / 10) / active_power(s, sr)), -0.95, 0.95)
        s = padded(s, sr, 0.5, 0.5)
        noise, clip = over(nz, s, snr, sr)
        yield f"lombard_{spk}_{nz}_snr{snr:+d}", "lombard", sr, s[None], noise, clip, snr, "-14 dBFS active, pre-emphasised"
    # 6. other rates
    for spk, nz, snr, sr in (("s01", "cafe", 5, 44100), ("s04", "hiss", 3, 44100), ("s02", "hum", 8, 48000)):
        s = padded(load(CLEAN[spk], sr)[: 8 * sr], sr, 0.7, 0.4)
        noise, clip = over(nz, s, snr, sr)
        yield f"rate{sr}_{spk}_{nz}_snr{snr:+d}", "rate", sr, s[None], noise, clip, snr, ""
    # 7. stereo: the same voice 0.3 ms apart, independent noise per microphone
    for spk, nz, snr, sr in (("s04", "bike", 5, 16000), ("s02", "cafe", 8, 48000)):
        s = padded(load(CLEAN[spk], sr)[: 8 * sr], sr, 0.6, 0.6)
        d = max(1, int(round(0.0003 * sr)))
        sp = np.stack([s, np.concatenate([np.zeros(d), s[:-d]])])
        noise, clip = over(nz, sp, snr, sr, channels=2)
        yield f"stereo_{spk}_{nz}_snr{snr:+d}", "stereo", sr, sp, noise, clip, snr, "2 channels"


def build(folder: Path = SUITE) -> list[dict]:
    """Write the suite's files and ``manifest.csv`` into ``folder``; return the manifest rows."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, group, sr, speech, noise, clip, snr, notes in _cases():
        noisy = speech + noise
        peak = float(np.max(np.abs(noisy)))
        if peak > 0.99:  # keep the file unclipped: scale speech and noise alike
            speech, noise, clip, noisy = (a * (0.99 / peak) for a in (speech, noise, clip, noisy))
        paths = {k: folder / f"{name}_{k}.wav" for k in ("noisy", "clean", "noise")}
        sf.write(str(paths["noisy"]), noisy.T.astype(np.float32), sr, subtype="FLOAT")
        sf.write(str(paths["clean"]), speech.T.astype(np.float32), sr, subtype="FLOAT")
        sf.write(str(paths["noise"]), clip.astype(np.float32), sr, subtype="FLOAT")
        rows.append({"file": str(paths["noisy"]), "kind": "noisy_robust", "group": group, "rate": sr,
                     "channels": speech.shape[0], "snr_db": snr, "clean_ref": str(paths["clean"]),
                     "noise_ref": str(paths["noise"]), "notes": notes})
    with (folder / "manifest.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=FIELDS)
        w.writeheader()
        w.writerows(rows)
    return rows


def manifest(folder: Path = SUITE) -> list[dict]:
    """The suite's manifest rows, building the suite first when it is missing."""
    path = folder / "manifest.csv"
    if not path.is_file():
        return build(folder)
    return list(csv.DictReader(path.open(encoding="utf-8")))


# -- refusals ---------------------------------------------------------------------------------------
def refusals(presets: list[str] | None = None) -> str:
    """Every factory preset in automatic mode (no profile given) on every dev noisy file and every
    suite file, through :func:`app.pipeline.clean_file` (the CLI's path); a markdown report."""
    import tempfile

    import models.ml_denoise  # noqa: F401 - registers the deepfilter stage, as the app does
    from app.pipeline import clean_file
    from app.presets import load_preset
    from dsp.errors import RoomtoneError

    sys.path.insert(0, str(BENCH))
    import quality

    names = presets or sorted(p.stem for p in (REPO / "assets" / "presets").glob("*.toml"))
    files = [DATA / f for _, f in quality.list_cases(sets=("mixtures", "pairs_real", "podcast"))]
    files += [Path(r["file"]) for r in manifest()]
    lines = ["| preset | files | refused | failed otherwise | profile methods | seconds |", "|---|---|---|---|---|---|"]
    detail = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            settings = load_preset(name)
            refused, failed, methods = [], [], {}
            t0 = time.perf_counter()
            for f in files:
                try:
                    rec = clean_file(f, Path(tmp) / "out.wav", settings, record=True)
                    m = (rec.settings.get("profile") or {}).get("method", "none")
                    methods[m] = methods.get(m, 0) + 1
                except RoomtoneError as exc:
                    refused.append(f"{f.name}: {exc}")
                except Exception as exc:  # noqa: BLE001 - a bug, counted apart
                    failed.append(f"{f.name}: {type(exc).__name__}: {exc}")
            secs = time.perf_counter() - t0
            meth = ", ".join(f"{k} {v}" for k, v in sorted(methods.items()))
            lines.append(f"| {name} | {len(files)} | {len(refused)} | {len(failed)} | {meth} | {secs:.0f} |")
            detail += [f"- {name}: refused {r}" for r in refused] + [f"- {name}: FAILED {r}" for r in failed]
    head = (f"# Refusals in automatic mode\n\nGenerated by `bench/robustness.py --refusals` on "
            f"{time.strftime('%Y-%m-%d %H:%M')}: every factory preset, no profile given, on the "
            f"{len(files) - len(manifest())} dev noisy files (mixtures, real pairs, podcast) and the "
            f"{len(manifest())} robustness-suite files (mono and stereo; 16, 44.1 and 48 kHz), through "
            "`app.pipeline.clean_file` (the CLI's render path). A refusal is a Roomtone error that stops "
            "the render (the CLI's exit 2-4); 'failed otherwise' is any other exception.\n\n")
    return head + "\n".join(lines) + "\n\n" + ("\n".join(detail) if detail else "No file was refused.") + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--refusals", action="store_true", help="run every preset on every file, count refusals")
    ap.add_argument("--presets", help="comma-separated presets for --refusals (default: all factory presets)")
    args = ap.parse_args(argv)
    rows = build()
    groups: dict[str, int] = {}
    for r in rows:
        groups[r["group"]] = groups.get(r["group"], 0) + 1
    print(f"built {len(rows)} cases in {SUITE}: " + ", ".join(f"{g} {n}" for g, n in groups.items()))
    if args.refusals:
        report = refusals(args.presets.split(",") if args.presets else None)
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "refusals.md").write_text(report, encoding="utf-8")
        print(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
