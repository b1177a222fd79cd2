"""Loudness on export: ``roomtone clean --loudness podcast`` measured by independent meters.

    .venv/bin/python bench/bench_export_loudness.py [--markdown bench/results/export_loudness.md]

Dev speech with bright bursts 11 dB over its peaks (``tests/app/batch/independent.py``'s
``hot_speech``: after normalisation they need about 10 dB of true-peak limiting, and the ones
near Nyquist put their peaks between samples) at 16, 44.1 and 48 kHz, mono and stereo, goes
through :func:`app.pipeline.clean_file` with the ``podcast`` preset and loudness ``podcast``
(-19 LUFS mono, -16 LUFS stereo, -1 dBTP), written as 24-bit WAV and as 16-bit FLAC. Every
output is measured by meters that are not Roomtone's: pyloudnorm (BS.1770-4 integrated
loudness), scipy ``resample_poly`` 4x true peak, and ffmpeg ``ebur128=peak=true`` where
ffmpeg is installed; next to them, what the render record says. Pass: loudness within
+-0.5 LU of the target and true peak at most -1.0 dBTP by every independent meter.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

RATES = (16000, 44100, 48000)
FORMATS = (("wav24", ".wav"), ("flac16", ".flac"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.environ.get("ROOMTONE_DEV_DATA", str(REPO.parent / "shared" / "data")))
    ap.add_argument("--markdown", metavar="OUT.md", default=str(REPO / "bench" / "results" / "export_loudness.md"))
    args = ap.parse_args(argv)

    import soundfile as sf

    from app.pipeline import clean_file
    from app.presets import load_preset
    from dsp.jit import configure_cache
    from tests.app.batch.independent import (
        ffmpeg_available,
        ffmpeg_ebur128,
        hot_speech,
        pyloudnorm_lufs,
        scipy_true_peak,
    )

    configure_cache()
    settings = load_preset("podcast")
    ffmpeg = ffmpeg_available()
    rows, ok = [], True
    with tempfile.TemporaryDirectory(prefix="roomtone-export-loudness-") as tmp:
        tmp = Path(tmp)
        for sr in RATES:
            for ch in (1, 2):
                src = tmp / f"hot_{sr}_{ch}.wav"
                sf.write(str(src), hot_speech(Path(args.data), sr, ch), sr, subtype="PCM_24")
                for fmt, ext in FORMATS:
                    out = tmp / f"out_{sr}_{ch}_{fmt}{ext}"
                    t = time.perf_counter()
                    rec = clean_file(src, out, settings, fmt=fmt, loudness="podcast")
                    seconds = time.perf_counter() - t
                    loud = rec.settings["loudness"]
                    target = loud["target_lufs"]
                    pyln, sc_tp = pyloudnorm_lufs(out), scipy_true_peak(out, 4)
                    ff = ffmpeg_ebur128(out) if ffmpeg else (None, None)
                    lufs_ok = abs(pyln - target) <= 0.5 and (ff[0] is None or abs(ff[0] - target) <= 0.5)
                    tp_ok = sc_tp <= -1.0 and (ff[1] is None or ff[1] <= -1.0)
                    ok &= lufs_ok and tp_ok
                    rows.append({
                        "rate": sr, "channels": ch, "format": fmt, "target": loud["target"], "target_lufs": target,
                        "pyloudnorm_lufs": round(pyln, 2), "scipy4x_dbtp": round(sc_tp, 2),
                        "ffmpeg_lufs": ff[0], "ffmpeg_dbtp": ff[1],
                        "record_lufs": loud["integrated_lufs"], "record_dbtp": loud["true_peak_dbtp"],
                        "gain_db": loud["gain_db"], "limiter_db": loud["limiter_max_reduction_db"],
                        "passes": len(loud["passes"]), "seconds": round(seconds, 2),
                        "pass": bool(lufs_ok and tp_ok),
                    })
                    r = rows[-1]
                    print(f"{sr:>6} Hz {ch} ch {fmt:<6} {r['target']:<15} pyloudnorm {r['pyloudnorm_lufs']:7.2f} LUFS  "
                          f"scipy 4x {r['scipy4x_dbtp']:6.2f} dBTP  ffmpeg {ff[0]} / {ff[1]}  "
                          f"{'ok' if r['pass'] else 'FAIL'}", flush=True)
    write_markdown(Path(args.markdown), rows, ffmpeg)
    Path(args.markdown).with_suffix(".json").write_text(json.dumps(rows, indent=1) + "\n")
    print(f"wrote {args.markdown}")
    return 0 if ok else 1


def write_markdown(path: Path, rows: list[dict], ffmpeg: bool) -> None:
    def f(v, spec="6.2f"):
        return "n/a" if v is None else format(v, spec)

    lines = [
        "# Loudness on export: independent meters",
        "",
        "`python bench/bench_export_loudness.py` — `clean_file(..., loudness=\"podcast\")` with the `podcast`",
        "preset on dev speech with bright bursts 11 dB over its peaks (`tests/app/batch/independent.py`,",
        "`hot_speech`), mono (-19 LUFS) and stereo (-16 LUFS), ceiling -1 dBTP. Meters: pyloudnorm",
        "(BS.1770-4), scipy `resample_poly` 4x true peak" + (", ffmpeg `ebur128=peak=true`." if ffmpeg else
                                                             "; ffmpeg was not installed."),
        "Pass: every independent meter within +-0.5 LU of the target and at most -1.0 dBTP.",
        "",
        "| rate | ch | format | target | pyloudnorm LUFS | scipy 4x dBTP | ffmpeg LUFS | ffmpeg dBTP | "
        "record LUFS | record dBTP | gain dB | limiter dB | passes | s | pass |",
        "|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['rate']} | {r['channels']} | {r['format']} | {r['target']} ({r['target_lufs']:g}) | "
            f"{f(r['pyloudnorm_lufs'])} | {f(r['scipy4x_dbtp'])} | {f(r['ffmpeg_lufs'], '.1f')} | "
            f"{f(r['ffmpeg_dbtp'], '.1f')} | {f(r['record_lufs'])} | {f(r['record_dbtp'])} | {f(r['gain_db'], '+.2f')} | "
            f"{f(r['limiter_db'], '.1f')} | {r['passes']} | {r['seconds']:.1f} | {'yes' if r['pass'] else '**no**'} |"
        )
    worst_lu = max(abs(r["pyloudnorm_lufs"] - r["target_lufs"]) for r in rows)
    worst_tp = max(r["scipy4x_dbtp"] for r in rows)
    lines += ["", f"Worst: {worst_lu:.2f} LU from the target (pyloudnorm), {worst_tp:.2f} dBTP (scipy 4x); "
              f"{sum(r['pass'] for r in rows)}/{len(rows)} pass.", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
