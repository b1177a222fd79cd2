"""The reverberation test set of bench/reverb.py: dev clean speech in simulated rooms.

Rooms: pyroomacoustics image-source shoeboxes (7 x 5.5 x 3.2 m) with uniform absorption set by
Sabine's formula (``pra.inverse_sabine``) for target RT60 0.3, 0.5, 0.8 and 1.2 s; the source at
1.0 m and 2.5 m from the microphone. The *simulated* RT60 is measured on each impulse response
(Schroeder backward integration, T20 extrapolated, ``pra.experimental.measure_rt60``), since the
image-source response's decay differs from Sabine's target.

Each clean file (its first :data:`EXCERPT_S` seconds) is convolved with the response scaled to a
direct path of gain 1 and cut so the direct path lands at sample 0: the dry speech is then the
time-aligned reference (its direct sound). With noise: the dev cafe noise (n01) at 15 dB SNR
against the reverberant speech's power. Everything is cached in bench/out/reverb/.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
if not DATA.is_dir():
    DATA = Path("/work/shared/data")
OUT = REPO / "bench" / "out" / "reverb"
RT60S = (0.3, 0.5, 0.8, 1.2)
DISTANCES_M = (1.0, 2.5)
ROOM_M = (7.0, 5.5, 3.2)
MIC_M = (4.6, 2.9, 1.5)
EXCERPT_S = 6.0
SNR_DB = 15.0
NOISE_FILE = "n01_cafe_coffeeshop.flac"
TUNING = ("s01", "s02", "s03")


def half(name: str) -> str:
    return "tuning" if name[:3] in TUNING else "held-out"


@dataclass(frozen=True)
class Case:
    name: str  # s01__rt0.5__d1.0__clean
    speech: str  # s01
    half: str
    rt60_target_s: float
    rt60_measured_s: float
    distance_m: float
    noisy: bool
    sample_rate: int
    dry: np.ndarray  # float32 (samples,), aligned to the direct path
    reverberant: np.ndarray  # float32 (samples,), the input


def clean_files() -> list[Path]:
    return sorted((DATA / "clean").glob("s0*.flac"))


def rir(rt60_s: float, distance_m: float, sample_rate: int) -> tuple[np.ndarray, float]:
    """Impulse response (direct path gain 1 at sample 0) and its measured RT60, cached."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"rir_rt{rt60_s}_d{distance_m}_{sample_rate}.npz"
    if path.exists():
        d = np.load(path)
        return d["h"], float(d["rt60"])
    import pyroomacoustics as pra

    absorption, max_order = pra.inverse_sabine(rt60_s, ROOM_M)
    room = pra.ShoeBox(ROOM_M, fs=sample_rate, materials=pra.Material(absorption), max_order=max_order,
                       air_absorption=False)
    src = (MIC_M[0] - distance_m, MIC_M[1], MIC_M[2])
    room.add_source(src)
    room.add_microphone(MIC_M)
    room.compute_rir()
    h = np.asarray(room.rir[0][0], np.float64)
    measured = float(pra.experimental.measure_rt60(h, fs=sample_rate, decay_db=20))
    peak = int(np.argmax(np.abs(h)))
    h = h[peak:] / h[peak]
    np.savez(path, h=h.astype(np.float32), rt60=measured)
    return h.astype(np.float32), measured


def _noise(n: int, sample_rate: int, seed: int) -> np.ndarray:
    from bench.metrics import to_rate

    x, sr = sf.read(DATA / "noise" / NOISE_FILE, dtype="float32", always_2d=True)
    x = to_rate(x.mean(axis=1), sr, sample_rate).astype(np.float32)
    start = np.random.default_rng(seed).integers(0, max(1, len(x) - n))
    reps = int(math.ceil((start + n) / len(x)))
    return np.tile(x, reps)[start : start + n]


def build_cases(files: list[Path] | None = None, *, rt60s=RT60S, distances=DISTANCES_M, noise=(False, True),
                excerpt_s: float = EXCERPT_S) -> list[Case]:
    from scipy.signal import fftconvolve

    out = []
    for f in files or clean_files():
        x, sr = sf.read(f, dtype="float32", always_2d=True)
        x = x.mean(axis=1)[: int(excerpt_s * sr)]
        speech = f.stem[:3]
        for rt in rt60s:
            for d in distances:
                h, measured = rir(rt, d, sr)
                wet = fftconvolve(x, h)[: len(x)].astype(np.float32)
                for noisy in noise:
                    y = wet.copy()
                    if noisy:
                        nz = _noise(len(y), sr, seed=int(speech[1:]) * 100 + int(rt * 10) + int(d * 10))
                        p_s, p_n = float(np.mean(wet.astype(np.float64) ** 2)), float(np.mean(nz.astype(np.float64) ** 2))
                        y = y + nz * np.float32(math.sqrt(p_s / p_n / 10 ** (SNR_DB / 10)))
                    g = np.float32(0.5 / max(1e-9, float(np.max(np.abs(y)))))
                    out.append(Case(f"{speech}__rt{rt}__d{d}__{'noisy' if noisy else 'clean'}", speech, half(speech),
                                    rt, measured, d, noisy, sr, x * g, y * g))
    return out
