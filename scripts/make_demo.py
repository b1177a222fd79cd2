#!/usr/bin/env python3
"""Generate the bundled demo episode: espeak-ng speech over a synthetic room.

Writes ``assets/demo/demo_episode.flac`` (mono, 48 kHz, 16-bit FLAC) and
``assets/demo/demo_episode.json`` (how it was made, where the room-tone-only stretch is, where
the speech is). Deterministic: the noise is seeded and espeak-ng's output is fixed for a given
espeak-ng version (the JSON records it). The first seconds are room tone only.

The room: 50 Hz mains hum with harmonics, broadband hiss, and a fan (low-passed noise whose
level drifts slowly). Two voices read a few sentences with pauses of 0.5-2 s between them.

Usage::

    python scripts/make_demo.py                   # regenerate assets/demo/
    python scripts/make_demo.py --out DIR --stems # also write clean speech and noise stems to DIR
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import scipy.signal
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SAMPLE_RATE = 48000
SEED = 20240611
ROOM_TONE_S = 2.0
TAIL_S = 1.2
SPEECH_RMS_DBFS = -22.0
NAME = "demo_episode"

#: (voice, words per minute, pitch 0-99, text, pause after it in seconds)
SCRIPT = (
    ("en-us", 150, 45, "Welcome back to the show. Today we talk about the sound of empty rooms.", 1.2),
    ("en-gb+f3", 145, 60, "Every room has a voice of its own, even when nobody is speaking.", 0.6),
    ("en-us", 150, 45, "The fan, the fridge, the hum of the mains. We call it room tone.", 1.8),
    ("en-gb+f3", 145, 60, "And a good edit keeps it, gently, instead of cutting it away.", 0.9),
)


def espeak_version() -> str:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise SystemExit("make_demo: espeak-ng is not installed (apt-get install espeak-ng)")
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True).stdout
    return " ".join(out.split()[:4])


def speak(text: str, voice: str, wpm: int, pitch: int, folder: Path) -> np.ndarray:
    """espeak-ng speech as float64 mono at SAMPLE_RATE, leading/trailing silence trimmed."""
    wav = folder / "utt.wav"
    subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(wpm), "-p", str(pitch), "-w", str(wav), text],
        check=True, capture_output=True,
    )
    x, sr = sf.read(str(wav), dtype="float64")
    if x.ndim > 1:
        x = x.mean(axis=1)
    from math import gcd

    g = gcd(SAMPLE_RATE, sr)
    x = scipy.signal.resample_poly(x, SAMPLE_RATE // g, sr // g)
    thresh = 1e-3 * np.max(np.abs(x))
    idx = np.nonzero(np.abs(x) > thresh)[0]
    x = x[idx[0] : idx[-1] + 1]
    fade = int(0.005 * SAMPLE_RATE)
    ramp = np.linspace(0.0, 1.0, fade)
    x[:fade] *= ramp
    x[-fade:] *= ramp[::-1]
    return x


def room_noise(n: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """The room: hum + hiss + fan, float64 mono, and a description of each part."""
    t = np.arange(n) / SAMPLE_RATE
    # mains hum: 50 Hz and harmonics, odd ones stronger (a transformer's buzz), slight phase offsets
    hum = np.zeros(n)
    harmonics = {1: -50.0, 2: -60.0, 3: -54.0, 4: -66.0, 5: -60.0, 7: -66.0}
    for k, level_db in harmonics.items():
        hum += np.sqrt(2) * 10 ** (level_db / 20) * np.sin(2 * np.pi * 50.0 * k * t + 0.7 * k)
    # hiss: white noise (preamp)
    hiss_db = -62.0
    hiss = 10 ** (hiss_db / 20) * rng.standard_normal(n)
    # fan: noise through a 2nd-order low-pass at 400 Hz plus a broad resonance near 120 Hz (blade
    # rate), level drifting +-1.5 dB at 0.23 Hz
    white = rng.standard_normal(n)
    b, a = scipy.signal.butter(2, 400.0, fs=SAMPLE_RATE)
    fan = scipy.signal.lfilter(b, a, white)
    b2, a2 = scipy.signal.iirpeak(120.0, 4.0, fs=SAMPLE_RATE)
    fan = fan + 0.5 * scipy.signal.lfilter(b2, a2, white)
    fan_db = -50.0
    fan *= 10 ** (fan_db / 20) / np.sqrt(np.mean(fan**2))
    drift = 10 ** (1.5 * np.sin(2 * np.pi * 0.23 * t + 1.0) / 20)
    fan *= drift
    desc = {
        "hum": {"fundamental_hz": 50.0, "harmonic_levels_dbfs_rms": {str(k): v for k, v in harmonics.items()}},
        "hiss": {"type": "white", "level_dbfs_rms": hiss_db},
        "fan": {"type": "low-passed noise (2nd order, 400 Hz) + 120 Hz resonance", "level_dbfs_rms": fan_db,
                "drift": "+-1.5 dB at 0.23 Hz"},
    }
    return hum + hiss + fan, desc


def make_demo(out_dir: Path, *, stems_dir: Path | None = None) -> dict:
    """Build the demo into ``out_dir``; optionally write ``speech.wav``/``noise.wav`` to ``stems_dir``."""
    rng = np.random.default_rng(SEED)
    parts: list[np.ndarray] = []
    regions: list[dict] = []
    pos = int(ROOM_TONE_S * SAMPLE_RATE)
    with tempfile.TemporaryDirectory() as tmp:
        for voice, wpm, pitch, text, pause in SCRIPT:
            x = speak(text, voice, wpm, pitch, Path(tmp))
            parts.append((pos, x))
            regions.append({"start_s": round(pos / SAMPLE_RATE, 4), "end_s": round((pos + len(x)) / SAMPLE_RATE, 4),
                            "voice": voice, "text": text})
            pos += len(x) + int(pause * SAMPLE_RATE)
    n = pos - int(SCRIPT[-1][4] * SAMPLE_RATE) + int(TAIL_S * SAMPLE_RATE)
    speech = np.zeros(n)
    for start, x in parts:
        speech[start : start + len(x)] += x
    active = np.concatenate([x for _, x in parts])
    speech *= 10 ** (SPEECH_RMS_DBFS / 20) / np.sqrt(np.mean(active**2))
    noise, noise_desc = room_noise(n, rng)
    mix = speech + noise
    peak = np.max(np.abs(mix))
    if peak > 0.89:
        raise RuntimeError(f"demo peak {peak:.3f} too close to full scale; lower SPEECH_RMS_DBFS")
    # 16-bit with TPDF dither from the same seeded generator (deterministic)
    dither = (rng.random(n) - rng.random(n)) / 32768.0
    out = (mix + dither).astype(np.float32)

    out_dir.mkdir(parents=True, exist_ok=True)
    from dsp.io import write_audio

    flac = out_dir / f"{NAME}.flac"
    write_audio(flac, out[None, :], SAMPLE_RATE, "flac16")
    meta = {
        "file": flac.name,
        "generator": "scripts/make_demo.py",
        "regenerate": "python scripts/make_demo.py",
        "espeak_ng": espeak_version(),
        "seed": SEED,
        "sample_rate": SAMPLE_RATE,
        "channels": 1,
        "format": "FLAC PCM_16 (TPDF dither)",
        "duration_s": round(n / SAMPLE_RATE, 4),
        "room_tone_only": [[0.0, ROOM_TONE_S]],
        "speech_rms_dbfs": SPEECH_RMS_DBFS,
        "speech_regions": regions,
        "noise": noise_desc,
        "noise_rms_dbfs": round(20 * np.log10(np.sqrt(np.mean(noise**2))), 2),
        "peak_dbfs": round(20 * np.log10(peak), 2),
    }
    (out_dir / f"{NAME}.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    if stems_dir is not None:
        stems_dir.mkdir(parents=True, exist_ok=True)
        write_audio(stems_dir / "speech.wav", speech[None, :].astype(np.float32), SAMPLE_RATE, "float32")
        write_audio(stems_dir / "noise.wav", noise[None, :].astype(np.float32), SAMPLE_RATE, "float32")
    return meta


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "assets" / "demo", help="output folder (default assets/demo)")
    ap.add_argument("--stems", action="store_true", help="also write speech.wav and noise.wav into --out")
    args = ap.parse_args(argv)
    if args.stems and args.out.resolve() == (REPO / "assets" / "demo").resolve():
        ap.error("--stems only into another folder (--out DIR): assets/ holds the episode only")
    meta = make_demo(args.out, stems_dir=args.out if args.stems else None)
    size = (args.out / meta["file"]).stat().st_size
    print(f"wrote {args.out / meta['file']} ({meta['duration_s']:.1f} s, {size / 1e6:.2f} MB) and {NAME}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
