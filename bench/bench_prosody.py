"""Speed of the prosody analysis on a 10-minute dataset (goal: under 10 s on a dev machine).

Builds the dataset from the dev clips (prosody + clean speech, repeated in a temporary folder as
WAV files until it holds 10 minutes), then times ``analyse_dataset`` end to end: reading,
two-pass pitch, intensity, pauses, breaths, syllables, level, loudness and all checks.

    .venv/bin/python bench/bench_prosody.py [--minutes 10] [--jobs 1]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    args = ap.parse_args()

    from dsp.io import read_audio, write_audio
    from models.prosody_dataset import analyse_dataset

    data = Path(args.data)
    sources = sorted((data / "prosody").glob("*.flac")) + sorted((data / "clean").glob("*.flac"))
    clips = [read_audio(p) + (p.stem,) for p in sources]
    with tempfile.TemporaryDirectory() as tmp:
        total, i = 0.0, 0
        while total < args.minutes * 60:
            audio, rate, stem = clips[i % len(clips)]
            write_audio(Path(tmp) / f"{i:04d}_{stem}.wav", audio, rate, "wav16")
            total += audio.shape[1] / rate
            i += 1
        # warm-up (imports, first Praat call) outside the timing
        analyse_dataset([Path(tmp) / f"0000_{clips[0][2]}.wav"])
        t0 = time.perf_counter()
        ds = analyse_dataset([tmp], workers=args.jobs)
        dt = time.perf_counter() - t0
    print(f"{len(ds.clips)} clips, {total / 60:.1f} min of audio analysed in {dt:.2f} s "
          f"({total / dt:.0f}x real time, jobs={args.jobs}); goal < 10 s for 10 min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
