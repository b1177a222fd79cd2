"""Can a voicing detector tell loud noise events from speech? Groundwork for issue 3's kurtosis.

The ``podcast`` preset's kurtosis ratio (1.28, target 1.1) comes from loud noise events in the
speech pauses: dish clinks, exercise-bike squeaks. Every SNR-based speech presence reads them as
speech, so they keep their level while the background between them goes down 7-12 dB. This
script measures, on the 40 dev pairs, how often each frame detector flags those events as
speech, and how much of the speech it still catches. Each frame is labelled from the clean
reference.

Frames: the metric grid (``bench.metrics.analysis_grid``: 32 ms, 16 ms hop) on the noisy input.

* *speech*: not noise-only, and the clean frame within 30 dB of its loudest frame;
* *event*: a noise-only frame (``metrics.noise_only_frames``) whose mean ``q**4`` (the metric's
  per-bin normalised power, to the fourth) is over 10 times the median noise-only frame's: the
  frames that carry the kurtosis, broadband or in a few bins (a clink);
* ``snr``: frame power more than 7 dB over the median noise-only power (the refill's
  ``speech_snr_db``; a best case, since the room tone is taken from the reference's own
  noise-only frames);
* ``band snr``: any of four bands (edges 300, 1000, 3000 Hz) more than 7 dB over its median
  noise-only power: like the refill's frame presence, which follows the most speech-like band;
* ``voiced``: ``snr`` and a normalised autocorrelation peak above 0.45 at lags of 2.5-12.5 ms
  (f0 80-400 Hz) of the input low-passed at 1 kHz (autocorrelation divided by the window's,
  as in Boersma 1993);
* ``voiced + 200 ms after``: a causal hangover, usable in today's streaming chain;
* ``voiced +-200 ms``: the same hangover both ways. That needs 200 ms of look-ahead, which the
  STFT chain does not have today;
* ``band snr, voiced ...``: the refill's band presence, kept only near voiced frames (the
  candidate for an event-proof presence);
* ``band snr, broadband (X dB, Y %)``: the band presence, kept only when at least Y % of the
  valid bins stand X dB over their noise-only mean (a clink or a squeak is a few lines; voiced
  speech is a comb across kilohertz, a fricative a wide band).

    .venv/bin/python bench/event_analysis.py        # writes bench/results/event_detection.md

Not part of the test run.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from scipy.ndimage import maximum_filter1d
from scipy.signal import butter, sosfiltfilt

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

from bench import metrics, quality  # noqa: E402

HANGOVER_S = 0.2
VOICING_THRESHOLD = 0.45
SNR_DB = 7.0
EVENT_FACTOR = 10.0
#: (dB over the bin's noise-only mean, share of valid bins) for the broadband detectors
BROADBAND = ((3.0, 0.08), (6.0, 0.05), (6.0, 0.12), (10.0, 0.05))


def voicing(x: np.ndarray, sr: int, n_fft: int, hop: int) -> np.ndarray:
    """Per frame: the highest normalised autocorrelation at lags of 2.5-12.5 ms (1 kHz low-pass)."""
    low = sosfiltfilt(butter(6, 1000.0, fs=sr, output="sos"), np.asarray(x, np.float64))
    fr = metrics._frames(low, n_fft, hop)
    w = np.hanning(n_fft)
    size = 2 * n_fft
    r = np.fft.irfft(np.abs(np.fft.rfft(fr * w, size, axis=1)) ** 2, size, axis=1)[:, :n_fft]
    rw = np.fft.irfft(np.abs(np.fft.rfft(w, size)) ** 2, size)[:n_fft]
    lo, hi = int(0.0025 * sr), int(0.0125 * sr)
    norm = r[:, lo:hi] / np.maximum(r[:, :1], 1e-20) / (rw[lo:hi] / rw[0])
    return norm.max(axis=1)


def analyse(case) -> dict[str, np.ndarray]:
    sr = case.sample_rate
    n_fft, hop = metrics.analysis_grid(sr)
    spec_in = metrics.power_spectrogram(case.noisy, sr)
    p_clean = metrics.power_spectrogram(case.clean, sr).sum(axis=1)
    t = min(len(spec_in), len(p_clean))
    mask = metrics.noise_only_frames(case.clean, case.noisy, sr).mask[:t]
    spec_in, p_clean = spec_in[:t], p_clean[:t]
    p_in = spec_in.sum(axis=1)
    if mask.sum() < metrics.MIN_NOISE_FRAMES:
        return {}
    floor = np.median(p_in[mask])
    speech = ~mask & (p_clean > p_clean.max() * 10 ** (-30 / 10))
    # the metric's per-bin normalised power; a frame's mean q**4 is its share of the kurtosis
    bin_floor = spec_in[mask].mean(axis=0)
    ok = metrics.valid_bins(bin_floor)
    q4 = ((spec_in[:, ok] / bin_floor[ok]) ** 4).mean(axis=1)
    event = mask & (q4 > EVENT_FACTOR * np.median(q4[mask]))
    snr = p_in > floor * 10 ** (SNR_DB / 10)
    # the refill's frame presence: the most speech-like of four bands (edges 300/1000/3000 Hz)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    edges = np.searchsorted(freqs, [0.0, 300.0, 1000.0, 3000.0, sr / 2 + 1])
    band = np.stack([spec_in[:, a:b].sum(axis=1) for a, b in zip(edges[:-1], edges[1:], strict=True)], axis=1)
    band_floor = np.median(band[mask], axis=0)
    band_snr = (band > band_floor * 10 ** (SNR_DB / 10)).any(axis=1)
    voiced = snr & (voicing(case.noisy, sr, n_fft, hop)[:t] > VOICING_THRESHOLD)
    k = int(round(HANGOVER_S * sr / hop))
    after = np.zeros_like(voiced)
    run = -10**9
    for i, v in enumerate(voiced):  # causal: held for k frames after the last voiced frame
        run = i if v else run
        after[i] = i - run <= k
    both = maximum_filter1d(voiced.astype(np.uint8), size=2 * k + 1).astype(bool)
    out = {"speech": speech, "event": event, "snr": snr, "band snr": band_snr, "voiced": voiced,
           "voiced + 200 ms after": after & snr, "voiced +-200 ms": both & snr,
           "band snr, voiced in the last 200 ms": band_snr & after, "band snr, voiced within +-200 ms": band_snr & both}
    for db, share in BROADBAND:
        wide = (spec_in[:, ok] > bin_floor[ok] * 10 ** (db / 10)).mean(axis=1) >= share
        out[f"band snr, broadband ({db:g} dB, {100 * share:g} %)"] = band_snr & wide
    return out


def main() -> int:
    cases = [f for ds, f in quality.list_cases() if ds != "podcast"]
    detectors = ("snr", "band snr", "voiced", "voiced + 200 ms after", "voiced +-200 ms",
                 "band snr, voiced in the last 200 ms", "band snr, voiced within +-200 ms",
                 *(f"band snr, broadband ({db:g} dB, {100 * share:g} %)" for db, share in BROADBAND))
    hits = {d: [0, 0] for d in detectors}  # [speech frames flagged, event frames flagged]
    totals = [0, 0]
    files_with_events = 0
    by_noise: dict[str, list[int]] = {}  # noise kind -> [event frames, flagged by "voiced"]
    for f in cases:
        r = analyse(quality.load_case(f))
        if not r:
            continue
        totals[0] += int(r["speech"].sum())
        totals[1] += int(r["event"].sum())
        files_with_events += bool(r["event"].any())
        for d in detectors:
            hits[d][0] += int((r[d] & r["speech"]).sum())
            hits[d][1] += int((r[d] & r["event"]).sum())
        kind = f.split("__")[1] if "__" in f else Path(f).stem.rsplit("_", 1)[0].split("_")[0] + " (real pair)"
        b = by_noise.setdefault(kind, [0, 0])
        b[0] += int(r["event"].sum())
        b[1] += int((r["voiced"] & r["event"]).sum())
    lines = [
        "# Telling noise events from speech, frame by frame (groundwork for issue 3)",
        "",
        f"`python bench/event_analysis.py` on the dev pairs ({len(cases)} files; {files_with_events} have "
        f"event frames). Frames on the metric grid (32 ms, 16 ms hop); labels from the clean reference. "
        f"{totals[0]} speech frames and {totals[1]} event frames. An event is a noise-only frame whose mean "
        f"q**4 (the kurtosis metric's per-bin normalised power) is over {EVENT_FACTOR:g}x the median "
        f"noise-only frame's. See the script's docstring for the detectors.",
        "",
        "| detector | speech frames caught | events flagged as speech |",
        "|---|---|---|",
    ]
    for d in detectors:
        s, e = hits[d]
        lines.append(f"| {d} | {100 * s / max(totals[0], 1):.1f} % | {100 * e / max(totals[1], 1):.1f} % |")
    lines += ["", "Event frames by noise, and how many of them `voiced` flags as speech:", "",
              "| noise | event frames | flagged by voiced |", "|---|---|---|"]
    for kind, (n, v) in sorted(by_noise.items(), key=lambda kv: -kv[1][0]):
        if n:
            lines.append(f"| {kind} | {n} | {v} ({100 * v / n:.0f} %) |")
    out = BENCH / "results" / "event_detection.md"
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
