"""Batch throughput: N copies of the 2-minute dev podcast file with 1 and 2 local workers.

    .venv/bin/python bench/bench_batch.py [--copies 20] [--workers 1 2] [--no-hole-audit] [--json OUT.json]

Each run is a fresh output folder (no skipping), the full batch (measure, chain, hole audit,
loudness with limiter, report). Throughput is audio seconds per wall-clock second; the target
is >= 1.8x the single-worker throughput with 2 workers (on a machine with 2 free cores: the
script prints the load average before each run, since other processes skew the ratio).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--copies", type=int, default=20)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--no-hole-audit", action="store_true")
    ap.add_argument("--data", default=os.environ.get("ROOMTONE_DEV_DATA", str(REPO.parent / "shared" / "data")))
    ap.add_argument("--json", metavar="OUT.json", help="also write the figures here")
    args = ap.parse_args(argv)

    from dsp.jit import configure_cache

    configure_cache()
    from app.batch.runner import BatchRunner
    from app.batch.worker import BatchOptions
    from dsp.chain import load_preset
    from dsp.io import audio_info

    source = Path(args.data) / "podcast" / "podcast_dev_2min_noisy.flac"
    if not source.is_file():
        print(f"dev podcast file not found: {source}", file=sys.stderr)
        return 2
    opts = BatchOptions(chain=load_preset("podcast").to_dict(), hole_audit=not args.no_hole_audit)
    results = []
    with tempfile.TemporaryDirectory(prefix="roomtone-bench-batch-") as tmp:
        src = Path(tmp) / "in"
        src.mkdir()
        for i in range(args.copies):
            shutil.copy(source, src / f"episode_{i + 1:02d}.flac")
        audio_s = audio_info(source).duration_s * args.copies
        print(f"{args.copies} x {source.name} = {audio_s / 60:.0f} min of audio; cores: {os.cpu_count()}; "
              f"hole audit: {not args.no_hole_audit}")
        for n in args.workers:
            out = Path(tmp) / f"out-{n}"
            load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
            c0, m0 = resource.getrusage(resource.RUSAGE_CHILDREN), resource.getrusage(resource.RUSAGE_SELF)
            t0 = time.perf_counter()
            summary = BatchRunner(src, out, opts, workers=n).run()
            wall = time.perf_counter() - t0
            c1, m1 = resource.getrusage(resource.RUSAGE_CHILDREN), resource.getrusage(resource.RUSAGE_SELF)
            worker_cpu = (c1.ru_utime + c1.ru_stime) - (c0.ru_utime + c0.ru_stime)
            main_cpu = (m1.ru_utime + m1.ru_stime) - (m0.ru_utime + m0.ru_stime)
            if summary.failed:
                print(f"workers={n}: {summary.failed} files failed: {summary.failures[:2]}", file=sys.stderr)
                return 1
            thr = audio_s / wall
            results.append({"workers": n, "wall_s": round(wall, 2), "throughput_x_realtime": round(thr, 2),
                            "load_before": round(load, 2), "files": summary.done,
                            "worker_cpu_s": round(worker_cpu, 1), "main_cpu_s": round(main_cpu, 1)})
            print(f"workers={n}: {wall:7.1f} s wall, {thr:6.1f}x real time ({summary.done} files; load avg before {load:.1f}); "
                  f"CPU: workers {worker_cpu:.1f} s ({worker_cpu / max(1, summary.done):.1f} s/file), main process {main_cpu:.1f} s "
                  f"-> {worker_cpu / wall:.2f} cores busy on average")
            shutil.rmtree(out, ignore_errors=True)
    base = next((r for r in results if r["workers"] == 1), None)
    if base:
        for r in results:
            r["speedup"] = round(r["throughput_x_realtime"] / base["throughput_x_realtime"], 3)
        two = next((r for r in results if r["workers"] == 2), None)
        if two:
            verdict = "meets" if two["speedup"] >= 1.8 else "misses"
            print(f"2 workers: {two['speedup']:.2f}x the single-worker throughput ({verdict} the 1.8x target)")
    if args.json:
        Path(args.json).write_text(json.dumps({"copies": args.copies, "results": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
