#!/usr/bin/env python3
"""Leveling benchmark (issue 21): builds the leveling test set, runs the leveler, scores it.

The set (deterministic, seeded; built into ``bench/out/leveling/``, gitignored; the speech and
noise are read from ``../shared/data`` and never copied into the repository):

* two- and three-voice dialogues at 16 kHz from the dev clean speech (LibriSpeech and ARCTIC
  readers): turns of 2-20 s (contiguous stretches of a reader's clip, looped, cut at its own
  pauses), pauses of 0.3-2 s between turns, one voice 6, 12 or 18 dB below the other (three
  voices: 0, -X/2 and -X dB), over a steady room-tone bed (stationary noise with the dev coffee
  shop's long-term spectrum plus the dev 50 Hz hum, 38 dB under the speech's active level), with breaths (broadband bursts shaped
  like a breath, 0.2-0.6 s, 22 dB under the next speaker's level) before some turns;
* the dev podcast file with one "speaker" lowered by 10 dB: the file is a concatenation of dev
  clips separated by exact digital silence in its clean reference (``podcast_dev_2min_clean``)
  over a bed (``..._noisebed``), so it is rebuilt as clean clips + bed with every second clip
  10 dB down. The clips come from several dev readers; the two "speakers" here are the odd and
  the even clips (the file carries no speaker labels).

Every file is rendered through the product's own path (``app.pipeline.prepare_processor``: the
voice activity track is the product's) with a chain of the leveler alone, and the podcast file
also with the ``podcast`` preset + leveler. Scores (ground truth from the construction):

* spread: the speakers' median phrase loudness (BS.1770 integrated, 400 ms blocks, gated), max
  minus min over speakers, before and after; phrases are each speaker's clean track split at
  pauses >= 300 ms;
* room tone: the level of every pause >= 300 ms (no phrase, no breath, no speech tail within
  10 dB of the room tone, from the construction): its K-weighted level (LUFS, energy mean) from
  50 ms after the speech to 50 ms before the next, max minus min across the file, before and after;
* breaths: each breath's gain (output over input energy on the breath) against the larger gain
  of the phrases before and after it;
* phrase dynamics: each phrase's momentary loudness range (400 ms windows every 100 ms,
  95th minus 10th percentile, over the windows where the phrase's clean speech is within 20 LU
  of its loudest: the speech, not the room tone between words), output minus input (phrases >= 2 s).

Writes ``bench/results/leveling.md``. Usage::

    .venv/bin/python bench/leveling.py            # build, render, score (about 40 s)
    .venv/bin/python bench/leveling.py --speed-preset   # the podcast + leveler preset for bench_speed.py
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
os.environ.setdefault("NUMBA_CACHE_DIR", str(REPO / ".cache" / "numba"))

import scipy.signal  # noqa: E402
import soundfile as sf  # noqa: E402

from app.pipeline import prepare_processor  # noqa: E402
from app.presets import load_preset, preset_to_toml  # noqa: E402
from bench.metrics import active_level  # noqa: E402
from dsp.chain import ChainSettings, StageSpec  # noqa: E402
from dsp.leveler import PLAN_KEY, LevelerSettings  # noqa: E402
from dsp.loudness import k_weighting_sos  # noqa: E402
from dsp.render import ArraySource, render_blocks  # noqa: E402

DATA = Path(os.environ.get("ROOMTONE_DEV_DATA", REPO.parent / "shared" / "data"))
OUT = BENCH / "out" / "leveling"
RESULTS = BENCH / "results" / "leveling.md"
SPEED_PRESET = OUT / "podcast-leveler.toml"
SR = 16000
SEED = 21
READERS = ["s03_libri_198", "s04_libri_3436", "s05_libri_5703", "s06_arctic_aew", "s07_arctic_axb"]
BED_UNDER_DB = 38.0
BREATH_UNDER_DB = 22.0
ACTIVE_DBFS = -26.0  # the dev clean clips' active level
PAUSE_GUARD_S = 0.05  # a pause's level is measured inside it, this far from the speech on each side


# -- building ---------------------------------------------------------------------------------------
def _read(path: Path) -> tuple[np.ndarray, int]:
    x, sr = sf.read(path, dtype="float32", always_2d=False)
    return (x.mean(axis=1) if x.ndim == 2 else x).astype(np.float32), int(sr)


def _pieces(x: np.ndarray, sr: int, gap_s: float = 0.15) -> list[tuple[int, int]]:
    """Stretches of ``x`` between its own pauses (10 ms levels 45 dB under the peak, >= gap_s)."""
    hop = sr // 100
    n = x.size // hop
    lev = 10 * np.log10(np.mean(x[: n * hop].reshape(n, hop) ** 2, axis=1) + 1e-12)
    act = lev > lev.max() - 45.0
    runs = _runs(act)
    merged: list[list[int]] = []
    for s, e in runs:
        if merged and s - merged[-1][1] < gap_s * 100:
            merged[-1][1] = e
        else:
            merged.append([s, e])
    return [(s * hop, e * hop) for s, e in merged]


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    m = np.concatenate([[0], mask.astype(np.int8), [0]])
    d = np.diff(m)
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist(), strict=True))


def _bed(n: int, sr: int, rng: np.random.Generator, under_db: float = BED_UNDER_DB) -> np.ndarray:
    """Steady room tone: stationary noise with the long-term spectrum of the dev coffee-shop
    recording (its average room sound, without its clinks and voices), plus the dev 50 Hz hum
    10 dB under it; ``BED_UNDER_DB`` under the speech's active level."""
    cafe, csr = _read(DATA / "noise" / "n01_cafe_coffeeshop.flac")
    cafe = scipy.signal.resample_poly(cafe, sr, csr)
    f, psd = scipy.signal.welch(cafe, sr, nperseg=1024)
    fir = np.fft.fftshift(np.fft.irfft(np.sqrt(psd)))  # zero-phase shaping filter, 1024 taps
    fir *= np.hanning(fir.size)
    white = rng.standard_normal(n + fir.size)
    out = scipy.signal.fftconvolve(white, fir, mode="valid")[:n]
    out /= np.sqrt(np.mean(out**2))
    hum, hsr = _read(DATA / "noise" / "n03_hum_50hz.flac")
    hum = np.resize(scipy.signal.resample_poly(hum, sr, hsr), n)
    out = out + hum / np.sqrt(np.mean(hum**2)) * 10 ** (-10 / 20)
    level = 10 ** ((ACTIVE_DBFS - under_db) / 20)
    return (out / np.sqrt(np.mean(out**2)) * level).astype(np.float32)


def _breath(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """A breath-like burst: pink-ish noise band-passed 300-6000 Hz with a rise-fall envelope."""
    w = rng.standard_normal(n + 2048)
    b, a = scipy.signal.butter(2, [300 / (sr / 2), 6000 / (sr / 2)], "band")
    y = scipy.signal.lfilter(b, a, np.cumsum(w) * 0.02 + w)[2048:]
    t = np.linspace(0, 1, n)
    env = np.sin(np.pi * t) ** 1.5 * (1 - 0.4 * t)
    y = y * env
    return (y / np.sqrt(np.mean(y**2))).astype(np.float32)


@dataclasses.dataclass
class TestFile:
    name: str
    sample_rate: int
    mix: np.ndarray  # the input
    speakers: list[np.ndarray]  # each speaker's clean track, as mixed (gain applied)
    breaths: list[tuple[int, int, int]]  # (start, end, speaker) samples
    gains_db: list[float]
    bed: np.ndarray | None = None  # the room tone alone (None: the pauses are found from the speech)
    note: str = ""


def _voice(name: str) -> np.ndarray:
    """A reader's speech at :data:`SR`: a dev clean clip (``s03_libri_198``), or, for the held-out
    set, a VoiceBank speaker's five clean test sentences joined by 0.35 s gaps (``vbdemand_p232``)
    or a 48 kHz clean clip resampled (``s01_vctk_p286``); every voice brought to ``ACTIVE_DBFS``."""
    if name.startswith("vbdemand_"):
        parts = [_read(p)[0] for p in sorted((DATA / "pairs_real").glob(f"{name}_*_clean.flac"))]
        assert parts, name
        gap = np.zeros(int(0.35 * SR), np.float32)
        x = np.concatenate([v for part in parts for v in (part, gap)][:-1])
    else:
        x, sr = _read(DATA / "clean" / f"{name}.flac")
        if sr != SR:
            x = scipy.signal.resample_poly(x, SR, sr).astype(np.float32)
    hop = SR // 100
    frames = x[: x.size // hop * hop].astype(np.float64).reshape(-1, hop)
    level_db = 10 * np.log10(active_level(np.mean(frames**2, axis=1)))
    return (x * 10 ** ((ACTIVE_DBFS - level_db) / 20)).astype(np.float32)


def build_dialogue(name: str, readers: list[str], gains_db: list[float], seed: int, turns: int = 9,
                   bed_under_db: float = BED_UNDER_DB) -> TestFile:
    rng = np.random.default_rng(seed)
    clips = []
    for r in readers:
        # the tuning set's readers as they were tuned on (already 16 kHz at -26 dBFS); others via _voice
        x = _read(DATA / "clean" / f"{r}.flac")[0] if r in READERS else _voice(r)
        gap = np.zeros(int(0.35 * SR), np.float32)
        looped = np.concatenate([x, gap, x, gap, x])
        clips.append((looped, _pieces(looped, SR)))
    order = [i % len(readers) for i in range(turns)]
    segments = []  # (speaker, audio, breath-before)
    for spk in order:
        looped, pieces = clips[spk]
        target = rng.uniform(2.0, 20.0)
        i = int(rng.integers(0, max(1, len(pieces) // 3)))
        j = i
        while j + 1 < len(pieces) and pieces[j][1] - pieces[i][0] < target * SR:
            j += 1
        segments.append((spk, looped[pieces[i][0] : pieces[j][1]]))
    pauses = rng.uniform(0.3, 2.0, size=len(segments) + 1)
    pauses[0] = pauses[-1] = 1.0
    total = int(sum(s[1].size for s in segments) + pauses.sum() * SR) + SR
    speakers = [np.zeros(total, np.float32) for _ in readers]
    breath_track = np.zeros(total, np.float32)
    breaths = []
    pos = int(pauses[0] * SR)
    for k, (spk, audio) in enumerate(segments):
        g = 10 ** (gains_db[spk] / 20)
        speakers[spk][pos : pos + audio.size] += audio * g
        pos += audio.size
        pause = int(pauses[k + 1] * SR)
        if k + 1 < len(segments) and pauses[k + 1] >= 0.8 and rng.random() < 0.7:
            nxt = segments[k + 1][0]
            dur = int(rng.uniform(0.2, min(0.6, pauses[k + 1] - 0.5)) * SR)
            b0 = pos + pause - dur - int(0.15 * SR)
            level = 10 ** ((ACTIVE_DBFS - BREATH_UNDER_DB + gains_db[nxt]) / 20)
            breath_track[b0 : b0 + dur] += _breath(dur, SR, rng) * level
            breaths.append((b0, b0 + dur, nxt))
        pos += pause
    bed = _bed(total, SR, rng, under_db=bed_under_db)
    mix = sum(speakers) + breath_track + bed
    return TestFile(name, SR, mix.astype(np.float32), speakers, breaths, list(gains_db), bed)


def build_podcast(lower_db: float = 10.0, lowered: int = 1) -> TestFile:
    clean, sr = _read(DATA / "podcast" / "podcast_dev_2min_clean.flac")
    bed, _ = _read(DATA / "podcast" / "podcast_dev_2min_noisebed.flac")
    zero = _runs(clean == 0)
    gaps = [(s, e) for s, e in zero if e - s >= int(0.2 * sr)]
    bounds = [0] + [int((s + e) // 2) for s, e in gaps] + [clean.size]
    a, b = np.zeros_like(clean), np.zeros_like(clean)
    g = 10 ** (-lower_db / 20)
    k = 0
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        seg = clean[lo:hi]
        if not np.any(seg):
            continue
        if k % 2 == lowered:
            b[lo:hi] = seg * g
        else:
            a[lo:hi] = seg
        k += 1
    name = f"podcast_lowered{lower_db:g}" + ("" if lowered == 1 else "_even")
    return TestFile(name, sr, (a + b + bed).astype(np.float32), [a, b], [], [0.0, -lower_db], bed,
                    note=f"{k} clips; every second clip is the lowered 'speaker'")


def build_set() -> list[TestFile]:
    files = []
    rng_pairs = [("s03_libri_198", "s04_libri_3436"), ("s05_libri_5703", "s06_arctic_aew"),
                 ("s07_arctic_axb", "s03_libri_198")]
    for k, x in enumerate((6.0, 12.0, 18.0)):
        pair = list(rng_pairs[k])
        files.append(build_dialogue(f"dialogue2_{int(x):02d}dB", pair, [0.0, -x], SEED + k))
    triples = [["s04_libri_3436", "s06_arctic_aew", "s05_libri_5703"], ["s07_arctic_axb", "s05_libri_5703", "s03_libri_198"],
               ["s06_arctic_aew", "s03_libri_198", "s04_libri_3436"]]
    for k, x in enumerate((6.0, 12.0, 18.0)):
        files.append(build_dialogue(f"dialogue3_{int(x):02d}dB", triples[k], [0.0, 0.0, -x], SEED + 10 + k, turns=10))
    files.append(build_podcast())
    return _written(files)


def build_heldout() -> list[TestFile]:
    """The held-out half (nothing in the leveler was chosen on it): other readers (the VoiceBank
    test speakers p232 and p257, the 48 kHz dev readers s01 and s02 resampled), other seeds, a
    louder room-tone bed (30 dB under the speech), and the podcast with the *even* clips lowered
    by 6 and 14 dB."""
    files = []
    pairs = [("vbdemand_p232", "vbdemand_p257"), ("s01_vctk_p286", "vbdemand_p232"), ("vbdemand_p257", "s02_freesound33711")]
    for k, x in enumerate((6.0, 12.0, 18.0)):
        files.append(build_dialogue(f"heldout2_{int(x):02d}dB", list(pairs[k]), [0.0, -x], SEED + 100 + k,
                                    bed_under_db=30.0))
    triples = [["vbdemand_p257", "s01_vctk_p286", "vbdemand_p232"], ["s02_freesound33711", "vbdemand_p232", "vbdemand_p257"],
               ["vbdemand_p232", "s02_freesound33711", "s01_vctk_p286"]]
    for k, x in enumerate((6.0, 12.0, 18.0)):
        files.append(build_dialogue(f"heldout3_{int(x):02d}dB", triples[k], [0.0, 0.0, -x], SEED + 110 + k, turns=10,
                                    bed_under_db=30.0))
    files.append(build_podcast(6.0, lowered=0))
    files.append(build_podcast(14.0, lowered=0))
    return _written(files)


def _written(files: list[TestFile]) -> list[TestFile]:
    OUT.mkdir(parents=True, exist_ok=True)
    for f in files:
        sf.write(OUT / f"{f.name}.flac", f.mix, f.sample_rate, subtype="PCM_24")
    return files


# -- measuring --------------------------------------------------------------------------------------
class KPower:
    """K-weighted power of a mono signal with prefix sums for fast span means."""

    def __init__(self, x: np.ndarray, sr: int) -> None:
        y = scipy.signal.sosfilt(k_weighting_sos(sr), x.astype(np.float64))
        self.p = y * y
        self.c = np.concatenate([[0.0], np.cumsum(self.p)])
        self.sr = sr

    def mean(self, s: int, e: int) -> float:
        return (self.c[e] - self.c[s]) / max(e - s, 1)

    def lufs(self, s: int, e: int) -> float:
        return -0.691 + 10 * math.log10(max(self.mean(s, e), 1e-15))

    def integrated(self, s: int, e: int) -> float:
        """BS.1770 integrated loudness of [s, e): 400 ms blocks, 75 % overlap, gated."""
        blk, hop = int(0.4 * self.sr), int(0.1 * self.sr)
        if e - s <= blk:
            return self.lufs(s, e)
        starts = np.arange(s, e - blk + 1, hop)
        m = (self.c[starts + blk] - self.c[starts]) / blk
        lk = -0.691 + 10 * np.log10(np.maximum(m, 1e-15))
        keep = lk > -70
        if not keep.any():
            return -70.0
        rel = -0.691 + 10 * math.log10(m[keep].mean()) - 10
        keep &= lk > rel
        return -0.691 + 10 * math.log10(m[keep].mean())

    def frame_levels(self, s: int, e: int) -> np.ndarray:
        hop = self.sr // 100
        n = (e - s) // hop
        return -0.691 + 10 * np.log10(np.maximum(self.p[s : s + n * hop].reshape(n, hop).mean(axis=1), 1e-15))

    def momentary(self, s: int, e: int) -> np.ndarray:
        """Momentary loudness (400 ms windows every 100 ms) inside [s, e)."""
        blk, hop = int(0.4 * self.sr), int(0.1 * self.sr)
        starts = np.arange(s, e - blk + 1, hop)
        m = (self.c[starts + blk] - self.c[starts]) / blk
        return -0.691 + 10 * np.log10(np.maximum(m, 1e-15))


def speech_windows(clean: KPower, s: int, e: int) -> np.ndarray | None:
    """The momentary windows of a phrase >= 2 s where its clean speech is within 20 LU of the
    phrase's loudest window (speech, not the pauses between words)."""
    if e - s < 2 * clean.sr:
        return None
    lk = clean.momentary(s, e)
    keep = lk > lk.max() - 20.0
    return keep if np.count_nonzero(keep) >= 5 else None


def loudness_range(lk: np.ndarray) -> float:
    return float(np.percentile(lk, 95) - np.percentile(lk, 10))


def phrases_of(track: np.ndarray, sr: int) -> list[tuple[int, int]]:
    """A speaker's phrases: 10 ms frames within 40 dB of the loudest, gaps < 300 ms merged, >= 200 ms."""
    hop = sr // 100
    n = track.size // hop
    lev = 10 * np.log10(np.mean(track[: n * hop].reshape(n, hop) ** 2, axis=1) + 1e-15)
    act = lev > np.percentile(lev[lev > -100], 99) - 40.0 if np.any(lev > -100) else lev > 0
    out: list[list[int]] = []
    for s, e in _runs(act):
        if out and s - out[-1][1] < 30:
            out[-1][1] = e
        else:
            out.append([s, e])
    return [(s * hop, e * hop) for s, e in out if e - s >= 20]


def score(f: TestFile, y: np.ndarray) -> dict:
    sr = f.sample_rate
    kin, kout = KPower(f.mix, sr), KPower(y, sr)
    phrases = [phrases_of(t, sr) for t in f.speakers]
    med_in = [float(np.median([kin.integrated(s, e) for s, e in ph])) for ph in phrases if ph]
    med_out = [float(np.median([kout.integrated(s, e) for s, e in ph])) for ph in phrases if ph]
    # pauses: no phrase, no breath, no speech within 10 dB of the room tone (a tail), >= 300 ms
    busy = np.zeros(f.mix.size, bool)
    for ph in phrases:
        for s, e in ph:
            busy[s:e] = True
    for s, e, _ in f.breaths:
        busy[s:e] = True
    if f.bed is not None:
        hop = sr // 100
        n = f.mix.size // hop
        sp = sum(t[: n * hop].astype(np.float64) ** 2 for t in f.speakers).reshape(n, hop).mean(axis=1)
        bp = (f.bed[: n * hop].astype(np.float64) ** 2).reshape(n, hop).mean(axis=1)
        busy[: n * hop] |= np.repeat(sp > 0.1 * bp, hop)
    guard = int(PAUSE_GUARD_S * sr)
    pauses = [(s + guard, e - guard) for s, e in _runs(~busy) if e - s >= int(0.3 * sr)]
    lv_in = np.array([kin.lufs(s, e) for s, e in pauses])
    lv_out = np.array([kout.lufs(s, e) for s, e in pauses])
    # breaths vs the phrases around them
    all_ph = sorted((s, e) for ph in phrases for s, e in ph)
    breath_rows = []
    for s, e, _ in f.breaths:
        g_b = 10 * math.log10(kout.mean(s, e) / kin.mean(s, e))
        before = [p for p in all_ph if p[1] <= s][-1:]
        after = [p for p in all_ph if p[0] >= e][:1]
        g_s = [10 * math.log10(kout.mean(a, b) / kin.mean(a, b)) for a, b in before + after]
        breath_rows.append((g_b, max(g_s)))
    # phrase dynamics
    dlra = []
    for k, ph in enumerate(phrases):
        kclean = KPower(f.speakers[k], sr)
        for s, e in ph:
            keep = speech_windows(kclean, s, e)
            if keep is not None:
                dlra.append(loudness_range(kout.momentary(s, e)[keep]) - loudness_range(kin.momentary(s, e)[keep]))
    dl = np.abs(np.array(dlra)) if dlra else np.zeros(1)
    return {
        "spread_in": max(med_in) - min(med_in), "spread_out": max(med_out) - min(med_out),
        "medians_out": med_out, "pauses": len(pauses),
        "floor_var_in": float(np.ptp(lv_in)) if lv_in.size else float("nan"),
        "floor_var_out": float(np.ptp(lv_out)) if lv_out.size else float("nan"),
        "breaths": len(breath_rows),
        "breath_excess_db": max((b - s for b, s in breath_rows), default=float("nan")),
        "breath_rows": breath_rows,
        "lra_phrases": len(dlra), "lra_max": float(dl.max()), "lra_p95": float(np.percentile(dl, 95)),
        "lra_median": float(np.median(dl)),
        "integrated_in": kin.integrated(0, f.mix.size), "integrated_out": kout.integrated(0, y.size),
    }


def render(f: TestFile, settings: ChainSettings) -> tuple[np.ndarray, dict, float]:
    src = ArraySource(f.mix[None], f.sample_rate)
    t0 = time.perf_counter()
    proc, ctx = prepare_processor(src, settings)
    y = np.concatenate(list(render_blocks(src, proc)), axis=1)[0]
    plan = ctx.extras.get(PLAN_KEY)
    return y, (plan.to_dict() if plan is not None else {}), time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--no-preset", action="store_true", help="skip the podcast preset + leveler render")
    ap.add_argument("--set", choices=["tuning", "heldout", "both"], default="both",
                    help="the tuning half (the leveler's constants were chosen on it), the held-out half, or both")
    ap.add_argument("--speed-preset", action="store_true",
                    help=f"only write {SPEED_PRESET.relative_to(REPO)} (podcast + leveler) for bench/bench_speed.py")
    args = ap.parse_args(argv)
    if args.speed_preset:
        preset = load_preset("podcast")
        chain = dataclasses.replace(preset, stages=(*preset.stages, StageSpec("leveler", LevelerSettings())),
                                    name="podcast-leveler", description="podcast + leveler (bench, issue 21)")
        SPEED_PRESET.parent.mkdir(parents=True, exist_ok=True)
        SPEED_PRESET.write_text(preset_to_toml(chain), encoding="utf-8")
        print(f"wrote {SPEED_PRESET}; time it with: python bench/bench_speed.py --minutes 60 --source podcast "
              f"--chain preset:{SPEED_PRESET.relative_to(REPO)} --results bench/results/speed_podcast-leveler.md")
        return 0
    files = ([] if args.set == "heldout" else build_set()) + ([] if args.set == "tuning" else build_heldout())
    alone = ChainSettings(stages=(StageSpec("leveler", LevelerSettings()),), name="leveler")
    preset = load_preset("podcast")
    with_preset = dataclasses.replace(preset, stages=(*preset.stages, StageSpec("leveler", LevelerSettings())),
                                      name="podcast+leveler")
    rows = []
    for f in files:
        chains = [alone] + ([with_preset] if f.name.startswith("podcast") and not args.no_preset else [])
        for chain in chains:
            y, plan, secs = render(f, chain)
            sf.write(OUT / f"{f.name}__{chain.name}.flac", y, f.sample_rate, subtype="PCM_24")
            s = score(f, y)
            rows.append((f, chain.name, s, plan, secs))
            print(f"{f.name:22s} {chain.name:16s} spread {s['spread_in']:5.1f} -> {s['spread_out']:4.2f} LU  "
                  f"floor var {s['floor_var_in']:4.2f} -> {s['floor_var_out']:4.2f} dB  breath excess "
                  f"{s['breath_excess_db']:5.2f} dB  dLRA max {s['lra_max']:4.2f} LU  ({secs:.1f} s)", flush=True)
    write_results(rows)
    return 0


def _fmt(v: float, nd: int = 2) -> str:
    return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.{nd}f}"


def write_results(rows) -> None:
    lines = [
        "# Leveling (issue 21)", "",
        f"Generated by `python bench/leveling.py` on {_dt.date.today().isoformat()}. Test set built into "
        "`bench/out/leveling/` from `../shared/data` (see the module docstring); each file rendered through "
        "`app.pipeline.prepare_processor` (the product's voice activity track) with the leveler's default settings.",
        "", "Measures: spread = max - min of the speakers' median phrase loudness (BS.1770 integrated per phrase, "
        "ground-truth phrases); floor variation = max - min over pauses >= 300 ms of the pause's K-weighted "
        "level (energy mean, 50 ms from the speech on each side); breath excess = max over breaths of (breath gain - the larger gain of the phrases around "
        "it); dLRA = |output - input| momentary loudness range (p95 - p10 of 400 ms loudness over the phrase's speech windows: clean speech within 20 LU of its loudest) per phrase >= 2 s.", "",
        "| file | chain | input spread LU | output spread LU | pauses | floor var in dB | floor var out dB | "
        "breaths | breath excess dB | phrases (dLRA) | dLRA max LU | dLRA p95 LU | plan phrases | plan ref LUFS | "
        "plan gains dB | seconds |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for f, chain, s, plan, secs in rows:
        lines.append(
            f"| {f.name} | {chain} | {_fmt(s['spread_in'])} | {_fmt(s['spread_out'])} | {s['pauses']} | "
            f"{_fmt(s['floor_var_in'])} | {_fmt(s['floor_var_out'])} | {s['breaths']} | {_fmt(s['breath_excess_db'])} | "
            f"{s['lra_phrases']} | {_fmt(s['lra_max'])} | {_fmt(s['lra_p95'])} | {plan.get('phrases')} | "
            f"{plan.get('reference_lufs')} | {plan.get('phrase_gain_db_min')} .. {plan.get('phrase_gain_db_max')} | "
            f"{secs:.1f} |")
    for half, pick in (("tuning half", lambda r: not _held_out(r[0])), ("held-out half", lambda r: _held_out(r[0]))):
        alone = [r for r in rows if r[1] == "leveler" and pick(r)]
        if alone:
            lines += _claims(alone, half)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS}")


def _held_out(f: TestFile) -> bool:
    return f.name.startswith("heldout") or f.name.endswith("_even")


def _claims(alone: list, half: str) -> list[str]:
    def verdict(ok: bool) -> str:
        return "**PASS**" if ok else "**FAIL**"

    spread_ok = all(r[2]["spread_out"] <= 1.0 for r in alone)
    floor_ok = all(r[2]["floor_var_out"] <= 2.0 for r in alone)
    added = [r[2]["floor_var_out"] - r[2]["floor_var_in"] for r in alone]
    breath_rows = [r for r in alone if r[2]["breaths"]]
    breath_ok = all(r[2]["breath_excess_db"] <= 0.1 for r in breath_rows)  # 0.1 dB: measurement rounding
    lra_ok = all(r[2]["lra_max"] <= 1.0 for r in alone)
    worst = lambda key: max(r[2][key] for r in alone)  # noqa: E731
    lines = [
        "", f"## Claims (leveler alone, every file of the {half})", "",
        "| claim | verdict | worst file |", "|---|---|---|",
        f"| speakers' median phrase loudness spread <= 1 LU after leveling (input 6-18 LU) | {verdict(spread_ok)} | "
        f"{_fmt(worst('spread_out'))} LU |",
        f"| room-tone level in pauses >= 300 ms varies <= 2 dB across the file | {verdict(floor_ok)} | "
        f"{_fmt(worst('floor_var_out'))} dB (input: {_fmt(max(r[2]['floor_var_in'] for r in alone))} dB) |",
        f"| (same, what the leveler adds: output minus input variation <= 0.5 dB) | {verdict(max(added) <= 0.5)} | "
        f"{_fmt(max(added))} dB |",
        f"| breaths not raised by more than the gain of the speech around them (within 0.1 dB) | {verdict(breath_ok)} | "
        f"{_fmt(max(r[2]['breath_excess_db'] for r in breath_rows)) if breath_rows else 'n/a'} dB "
        f"({sum(r[2]['breaths'] for r in breath_rows)} breaths) |",
        f"| inside a phrase the loudness range changes <= 1 LU | {verdict(lra_ok)} | {_fmt(worst('lra_max'))} LU |",
    ]
    failing = [f"{r[0].name} ({_fmt(r[2]['spread_out'])} LU)" for r in alone if r[2]["spread_out"] > 1.0]
    lines += ["", f"Spread over 1 LU: {', '.join(failing) or 'none'}. Floor variation over 2 dB already in the input: "
              f"{', '.join(r[0].name for r in alone if r[2]['floor_var_in'] > 2.0) or 'none'}. Phrase loudness range "
              f"changed by over 1 LU: {', '.join(r[0].name for r in alone if r[2]['lra_max'] > 1.0) or 'none'}. "
              "The podcast + leveler row compares a denoised output with the noisy input: its floor and dLRA "
              "columns include the denoiser's work and are not claims about the leveler."]
    return lines


if __name__ == "__main__":
    raise SystemExit(main())
