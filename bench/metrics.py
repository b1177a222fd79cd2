"""Objective measures for the quality benchmark (definitions: bench/README.md, DOMAIN.md).

Reference-based: PESQ wideband (ITU-T P.862.2 via ``pesq``, at 16 kHz), STOI and ESTOI
(``pystoi``, which resamples to 10 kHz itself), SI-SDR (dB). Reference-free: DNSMOS P.835
SIG/BAK/OVRL (``speechmos``'s ONNX models, 16 kHz, run with one ONNX thread).

Noise-only measures work on a fixed analysis grid (:func:`analysis_grid`: periodic Hann,
about 32 ms frames, 50 % overlap; power ``P = |rfft(w * frame)|**2``) over the *noise-only
frames* N found by :func:`noise_only_frames` from the clean reference, and over the *valid
bins* F found by :func:`valid_bins` from the input's noise floor:

- noise floor of bin f: ``floor[f] = mean_{t in N} P_in[t, f]`` (the input's mean noise power
  in that bin over the noise-only frames);
- valid bins: not DC, and ``floor[f] >= percentile_90(floor) * 10**(-50/10)`` (bins where the
  input holds real noise, not a dead band above a lossy source's cut-off);
- spectral-hole rate: fraction of (t in N, f in F) where ``P_out[t, f] < floor[f] * 10**(-20/10)``.
  For stationary Gaussian noise passed through unchanged, ``P/floor`` is exponential with mean 1,
  so the expected rate is ``1 - exp(-0.01) = 0.995 %``;
- musical-noise kurtosis ratio: kurtosis of the power values over (N, F), output over input.
  Kurtosis is ``E[Q**4] / E[Q**2]**2`` of ``Q[t, f] = P[t, f] / mean_{t in N} P[t, f]`` (raw
  moments of the power, as in Miyazaki et al. 2012; the per-bin normalisation removes the
  noise colour so that only the fluctuation counts). Gaussian noise gives 6; ~1 = no musical noise;
- noise attenuation: ``10 log10(sum P_in / sum P_out)`` over (N, F), dB.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from scipy.ndimage import binary_erosion
from scipy.signal import correlate, resample_poly

METRIC_RATE = 16000
HOLE_THRESHOLD_DB = 20.0
VALID_BIN_RANGE_DB = 50.0
NOISE_ONLY_SNR_DB = -20.0  # a frame is noise-only if the clean speech is this far below the noise
SILENCE_BELOW_ACTIVE_DB = 40.0  # ... or this far below the clean speech's active level
MIN_NOISE_FRAMES = 4
DNSMOS_WINDOW_S = 9.01  # the DNSMOS P.835 model's input length
DNSMOS_LONG_FILE_S = 30.0  # longer files are scored on non-overlapping windows (see Dnsmos)


# -- resampling -----------------------------------------------------------------------------
def to_rate(x: np.ndarray, sr_from: int, sr_to: int) -> np.ndarray:
    if sr_from == sr_to:
        return np.asarray(x, np.float64)
    fr = Fraction(int(sr_to), int(sr_from))
    return resample_poly(np.asarray(x, np.float64), fr.numerator, fr.denominator)


# -- reference-based measures ------------------------------------------------------------------
def pesq_wb(reference: np.ndarray, degraded: np.ndarray, sample_rate: int) -> float:
    """PESQ wideband MOS-LQO (P.862.2) at 16 kHz; NaN when PESQ finds no utterance."""
    from pesq import pesq

    ref = to_rate(reference, sample_rate, METRIC_RATE)
    deg = to_rate(degraded, sample_rate, METRIC_RATE)
    n = min(len(ref), len(deg))
    try:
        return float(pesq(METRIC_RATE, ref[:n], deg[:n], "wb"))
    except Exception:  # noqa: BLE001 - pesq raises its own error types for silent input
        return math.nan


def stoi(reference: np.ndarray, degraded: np.ndarray, sample_rate: int, *, extended: bool = False) -> float:
    """STOI (or ESTOI with ``extended=True``), 0..1."""
    from pystoi import stoi as _stoi

    n = min(len(reference), len(degraded))
    return float(_stoi(np.asarray(reference[:n], np.float64), np.asarray(degraded[:n], np.float64), sample_rate, extended=extended))


def si_sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Scale-invariant signal-to-distortion ratio in dB (zero-mean signals; Le Roux et al. 2019)."""
    n = min(len(reference), len(estimate))
    s = np.asarray(reference[:n], np.float64)
    y = np.asarray(estimate[:n], np.float64)
    s = s - s.mean()
    y = y - y.mean()
    ss = float(np.dot(s, s))
    if ss <= 0.0:
        return math.nan
    target = (np.dot(y, s) / ss) * s
    err = y - target
    num, den = float(np.dot(target, target)), float(np.dot(err, err))
    if den <= 1e-20 * max(num, 1e-30):
        return math.inf
    return 10.0 * math.log10(max(num, 1e-30) / den)


def lag_samples(reference: np.ndarray, estimate: np.ndarray, max_lag: int) -> int:
    """Lag (samples) that best aligns ``estimate`` with ``reference``; positive = estimate late."""
    n = min(len(reference), len(estimate), 20 * max_lag + 480000)  # the first ~10-20 s suffice
    c = correlate(np.asarray(estimate[:n], np.float64), np.asarray(reference[:n], np.float64), mode="full", method="fft")
    mid = n - 1
    lo, hi = max(0, mid - max_lag), min(len(c), mid + max_lag + 1)
    return int(np.argmax(c[lo:hi]) + lo - mid)


class Dnsmos:
    """DNSMOS P.835 (SIG, BAK, OVRL) with the model inside the ``speechmos`` wheel, one thread.

    Only the P.835 model runs (the P.808 MOS that speechmos also computes is not reported).
    """

    def __init__(self) -> None:
        import os

        import onnxruntime as ort
        from speechmos import dnsmos as dm

        base = os.path.dirname(os.path.abspath(dm.__file__))
        primary = os.path.join(base, "dnsmos_models", "sig_bak_ovr.onnx")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        model = dm.DNSMOS.__new__(dm.DNSMOS)
        model.primary_model_path = primary
        model.onnx_sess = ort.InferenceSession(primary, opts, providers=["CPUExecutionProvider"])
        self._model = model

    def __call__(self, audio: np.ndarray, sample_rate: int, *, hop_s: float = 1.0) -> dict[str, float]:
        """Mean SIG/BAK/OVRL over 9.01 s windows every ``hop_s`` seconds.

        ``hop_s`` 1.0 is the reference script's (speechmos's) windowing; a clip shorter than a
        window is repeated to fill it, as there. The benchmark uses a 9 s hop (windows that do
        not overlap) on files longer than :data:`DNSMOS_LONG_FILE_S` to keep the run short.
        """
        x = np.clip(to_rate(audio, sample_rate, METRIC_RATE), -1.0, 1.0).astype(np.float32)
        m = self._model
        win = int(DNSMOS_WINDOW_S * METRIC_RATE)
        while len(x) < win:
            x = np.append(x, x)
        hop = int(hop_s * METRIC_RATE)
        # the reference script's window count: int(floor(seconds) - 9.01) + 1 windows at 1 s
        count = int((np.floor(len(x) / METRIC_RATE) - DNSMOS_WINDOW_S) / hop_s) + 1
        starts = [i * hop for i in range(max(count, 1)) if i * hop + win <= len(x)]
        sig, bak, ovr = [], [], []
        for s0 in starts:
            seg = x[s0 : s0 + win]
            raw = m.onnx_sess.run(None, {"input_1": seg[None, :]})[0][0]
            s, b, o = m.get_polyfit_val(raw[0], raw[1], raw[2], False)
            sig.append(s)
            bak.append(b)
            ovr.append(o)
        return {"sig": float(np.mean(sig)), "bak": float(np.mean(bak)), "ovrl": float(np.mean(ovr))}


# -- analysis grid and noise-only frames ---------------------------------------------------------
def analysis_grid(sample_rate: int) -> tuple[int, int]:
    """``(n_fft, hop_length)``: about 32 ms frames (512 at 16 kHz, 2048 at 48 kHz), 50 % overlap."""
    n_fft = int(2 ** round(math.log2(0.032 * sample_rate)))
    return n_fft, n_fft // 2


def _frames(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    x = np.asarray(x, np.float64)
    count = 1 + max(0, (len(x) - n_fft) // hop) if len(x) >= n_fft else 0
    if count == 0:
        return np.zeros((0, n_fft))
    return np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop][:count]


def _window(n_fft: int) -> np.ndarray:
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft)


def power_spectrogram(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """``(frames, bins)`` power ``|rfft(w * frame)|**2`` on :func:`analysis_grid`."""
    n_fft, hop = analysis_grid(sample_rate)
    fr = _frames(x, n_fft, hop) * _window(n_fft)
    return np.abs(np.fft.rfft(fr, axis=1)) ** 2


def frame_energy(x: np.ndarray, sample_rate: int) -> np.ndarray:
    n_fft, hop = analysis_grid(sample_rate)
    fr = _frames(x, n_fft, hop) * _window(n_fft)
    return np.sum(fr * fr, axis=1)


def active_level(frame_power: np.ndarray) -> float:
    """Active speech power: mean frame power over frames within 30 dB of the 95th-percentile frame."""
    p = np.asarray(frame_power, np.float64)
    if p.size == 0 or not np.any(p > 0):
        return 0.0
    db = 10.0 * np.log10(p + 1e-30)
    active = db > np.percentile(db, 95) - 30.0
    return float(np.mean(p[active]))


@dataclass
class NoiseFrames:
    """The noise-only frames of a file and the profile regions built from them."""

    mask: np.ndarray  # (frames,) bool on analysis_grid
    regions: list[tuple[float, float]]  # seconds, for the profile-based systems
    fallback: bool  # True when too little noise-only time: quietest frames used for the profile
    seconds: float  # total noise-only time in ``regions``


def noise_only_frames(
    clean: np.ndarray, noisy: np.ndarray, sample_rate: int, *, min_region_s: float = 0.25, max_region_s: float = 10.0
) -> NoiseFrames:
    """Noise-only frames from the clean reference, and noise regions for learning profiles.

    Rule: the noise is ``noisy - a * clean`` with ``a`` the least-squares scale (1 for exact
    mixtures). A frame is noise-only when the clean speech in it is at least 20 dB below the
    noise in it, or at least 40 dB below the clean speech's active level; the mask is then
    eroded by one frame on each side (neighbours of speech frames are not noise-only).

    Profile regions: runs of at least 3 noise-only frames, longest first, up to 10 s, returned
    in time order. When they total less than ``min_region_s`` (or 2048 samples), the frames
    with the lowest clean-to-noise ratio (the quietest 15 %, at least ``min_region_s``) are used
    instead and ``fallback`` is set.
    """
    n = min(len(clean), len(noisy))
    c = np.asarray(clean[:n], np.float64)
    y = np.asarray(noisy[:n], np.float64)
    cc = float(np.dot(c, c))
    a = float(np.dot(y, c) / cc) if cc > 0 else 0.0
    noise = y - a * c
    ec = frame_energy(a * c, sample_rate)
    en = frame_energy(noise, sample_rate)
    act = active_level(ec)
    mask = (ec <= en * 10.0 ** (NOISE_ONLY_SNR_DB / 10.0)) | (ec <= act * 10.0 ** (-SILENCE_BELOW_ACTIVE_DB / 10.0))
    mask = binary_erosion(mask, iterations=1, border_value=0) if mask.size >= 3 else np.zeros_like(mask)
    n_fft, hop = analysis_grid(sample_rate)
    need = max(min_region_s, 2048 / sample_rate)

    runs = _runs(mask)
    runs = [r for r in runs if r[1] - r[0] >= 3]
    runs.sort(key=lambda r: r[0] - r[1])  # longest first
    chosen, total = [], 0.0
    for t0, t1 in runs:
        if total >= max_region_s:
            break
        chosen.append((t0, t1))
        total += _span_s(t0, t1, n_fft, hop, sample_rate)
    fallback = total < need
    if fallback:
        ratio = ec / np.maximum(en, 1e-30)
        k = max(int(math.ceil(0.15 * len(ratio))), int(math.ceil(need * sample_rate / hop)))
        quiet = np.zeros(len(ratio), bool)
        quiet[np.argsort(ratio, kind="stable")[:k]] = True
        chosen = _runs(quiet)
        total = sum(_span_s(t0, t1, n_fft, hop, sample_rate) for t0, t1 in chosen)
    regions = sorted((t0 * hop / sample_rate, min(n, (t1 - 1) * hop + n_fft) / sample_rate) for t0, t1 in chosen)
    return NoiseFrames(mask=mask, regions=_merge(regions), fallback=fallback, seconds=float(total))


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Half-open runs ``[t0, t1)`` of True."""
    m = np.concatenate([[False], np.asarray(mask, bool), [False]])
    d = np.diff(m.astype(np.int8))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist(), strict=True))


def _span_s(t0: int, t1: int, n_fft: int, hop: int, sr: int) -> float:
    return ((t1 - 1 - t0) * hop + n_fft) / sr


def _merge(regions: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for a, b in regions:
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return [(round(a, 6), round(b, 6)) for a, b in out]


def region_audio(x: np.ndarray, sample_rate: int, regions: list[tuple[float, float]]) -> np.ndarray:
    """The samples of ``regions`` concatenated (the noise excerpt handed to profile peers)."""
    parts = [x[int(round(a * sample_rate)) : int(round(b * sample_rate))] for a, b in regions]
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)


# -- noise-only measures ---------------------------------------------------------------------------
def noise_floor(p_in: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The input's noise floor per bin: mean power over the noise-only frames."""
    return np.mean(p_in[mask], axis=0)


def valid_bins(floor: np.ndarray) -> np.ndarray:
    """Bins that hold noise: not DC, floor within 50 dB of the 90th-percentile bin floor."""
    floor = np.asarray(floor, np.float64)
    ok = floor >= np.percentile(floor, 90) * 10.0 ** (-VALID_BIN_RANGE_DB / 10.0)
    ok[0] = False
    ok &= floor > 0
    return ok


def _kurtosis(p: np.ndarray) -> float:
    q = p / np.maximum(np.mean(p, axis=0, keepdims=True), 1e-30)
    m2 = float(np.mean(q**2))
    return float(np.mean(q**4)) / (m2 * m2) if m2 > 0 else math.nan


@dataclass
class NoiseScores:
    kurtosis_ratio: float
    hole_rate: float
    attenuation_db: float
    noise_frames: int


def noise_scores(p_in: np.ndarray, p_out: np.ndarray, mask: np.ndarray) -> NoiseScores:
    """Kurtosis ratio, hole rate and attenuation over the noise-only frames (module docstring)."""
    t = min(len(p_in), len(p_out), len(mask))
    mask = np.asarray(mask[:t], bool)
    nf = int(mask.sum())
    if nf < MIN_NOISE_FRAMES:
        return NoiseScores(math.nan, math.nan, math.nan, nf)
    pin = p_in[:t][mask]
    pout = p_out[:t][mask]
    floor = np.mean(pin, axis=0)
    ok = valid_bins(floor)
    pin, pout, floor = pin[:, ok], pout[:, ok], floor[ok]
    holes = pout < floor[None, :] * 10.0 ** (-HOLE_THRESHOLD_DB / 10.0)
    k_in = _kurtosis(pin)
    k_out = _kurtosis(pout)
    s_out = float(np.sum(pout))
    att = 10.0 * math.log10(float(np.sum(pin)) / s_out) if s_out > 0 else math.inf
    return NoiseScores(k_out / k_in if k_in > 0 else math.nan, float(np.mean(holes)), att, nf)


def hole_mask(p_in: np.ndarray, p_out: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``(frames, bins)`` bool: output more than 20 dB below the input's noise floor (all frames)."""
    t = min(len(p_in), len(p_out), len(mask))
    floor = noise_floor(p_in[:t], np.asarray(mask[:t], bool))
    ok = valid_bins(floor)
    return (p_out[:t] < floor[None, :] * 10.0 ** (-HOLE_THRESHOLD_DB / 10.0)) & ok[None, :]
