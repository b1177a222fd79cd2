"""Batch throughput: N copies of the 2-minute dev podcast file with 1 and 2 local workers; or one long file.

    .venv/bin/python bench/bench_batch.py [--copies 20] [--workers 1 2] [--no-hole-audit] [--json OUT.json]
    .venv/bin/python bench/bench_batch.py --long 60 [--hole-audit] [--repeat 5] [--json OUT.json]
    .venv/bin/python bench/bench_batch.py --ceiling-grid [--markdown OUT.md]

``--ceiling-grid``: dev speech with bright bursts (tests/app/batch/independent.py) at 8, 16, 22.05,
44.1, 48, 96 and 192 kHz, mono and stereo, through a batch with loudness ``podcast``; every output is
measured by independent meters (scipy ``resample_poly`` 4x, ffmpeg ``ebur128=peak=true``,
pyloudnorm) against the -1 dBTP ceiling and the target +-0.5 LU, next to what the report says.

``--long MINUTES``: the dev podcast repeated into one MINUTES-long file, one worker, loudness
``podcast`` and the report (hole audit off unless ``--hole-audit``): wall time, real-time factor
(target >= 150x for an hour), the phases from the file's report, and the largest temporary file
seen in the output folder during the run against the output's size (target: never larger).
``--repeat N`` runs the same file N times (``--pause`` seconds apart) and prints the median: this
machine's speed drifts by 10-20 % within minutes, so one run decides nothing.

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
    ap.add_argument("--long", type=float, metavar="MINUTES", help="one long file of MINUTES instead of copies")
    ap.add_argument("--hole-audit", action="store_true", help="with --long: also run the hole audit")
    ap.add_argument("--repeat", type=int, default=1, help="with --long: this many runs of the same file, and their median")
    ap.add_argument("--pause", type=float, default=12.0, help="with --repeat: seconds between runs")
    ap.add_argument("--ceiling-grid", action="store_true", help="independent meters over a rate x channel grid")
    ap.add_argument("--markdown", metavar="OUT.md", help="with --ceiling-grid: write the table here")
    args = ap.parse_args(argv)
    if args.long:
        return long_file(args)
    if args.ceiling_grid:
        return ceiling_grid(args)

    from dsp.jit import configure_cache

    configure_cache()
    from app.batch.runner import BatchRunner
    from app.batch.worker import BatchOptions
    from app.presets import load_preset
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


def ceiling_grid(args) -> int:
    import soundfile as sf

    from dsp.jit import configure_cache

    configure_cache()
    from app.batch.runner import BatchRunner, slug_for
    from app.batch.worker import BatchOptions
    from app.presets import load_preset
    from tests.app.batch.independent import (
        ffmpeg_ebur128,
        hot_speech,
        pyloudnorm_lufs,
        scipy_true_peak,
    )

    rates, rows, worst = (8000, 16000, 22050, 44100, 48000, 96000, 192000), [], True
    with tempfile.TemporaryDirectory(prefix="roomtone-bench-ceiling-") as tmp:
        src = Path(tmp) / "in"
        src.mkdir()
        for sr in rates:
            for ch in (1, 2):
                sf.write(src / f"hot_{sr}_{ch}ch.wav", hot_speech(Path(args.data), sr, ch), sr, subtype="PCM_16")
        opts = BatchOptions(chain=load_preset("podcast").to_dict(), loudness="podcast", hole_audit=False)
        summary = BatchRunner(src, Path(tmp) / "out", opts, workers=os.cpu_count() or 1).run()
        if summary.failed:
            print(f"failed: {summary.failures}", file=sys.stderr)
            return 1
        for sr in rates:
            for ch in (1, 2):
                out = Path(tmp) / "out" / f"hot_{sr}_{ch}ch.wav"
                rep = json.loads((Path(tmp) / "out" / "report" / "files" / f"{slug_for(Path(out.name))}.json").read_text())
                target = -19.0 if ch == 1 else -16.0
                ff_i, ff_tp = ffmpeg_ebur128(out)
                row = {"rate": sr, "channels": ch, "scipy_4x_dbtp": round(scipy_true_peak(out), 2), "ffmpeg_dbtp": ff_tp,
                       "report_dbtp": rep["after"]["true_peak_dbtp"], "pyloudnorm_lufs": round(pyloudnorm_lufs(out), 2),
                       "ffmpeg_lufs": ff_i, "target_lufs": target,
                       "limiter_db": rep["loudness"]["limiter_max_reduction_db"]}
                row["ok"] = (row["scipy_4x_dbtp"] <= -1.0 and ff_tp <= -1.0 and abs(row["pyloudnorm_lufs"] - target) <= 0.5
                             and abs(ff_i - target) <= 0.5)
                worst &= row["ok"]
                rows.append(row)
    head = ("| rate Hz | ch | scipy 4x dBTP | ffmpeg dBTP | report dBTP | pyloudnorm LUFS | ffmpeg LUFS | target | "
            "limiter dB | ok |\n|---|---|---|---|---|---|---|---|---|---|\n")
    table = head + "".join(
        f"| {r['rate']} | {r['channels']} | {r['scipy_4x_dbtp']:.2f} | {r['ffmpeg_dbtp']:.1f} | {r['report_dbtp']:.2f} | "
        f"{r['pyloudnorm_lufs']:.2f} | {r['ffmpeg_lufs']:.1f} | {r['target_lufs']:.0f} | {r['limiter_db']:.1f} | "
        f"{'yes' if r['ok'] else 'NO'} |\n" for r in rows)
    print(table)
    print("every output meets -1 dBTP and its target +-0.5 LU by independent meters" if worst else "SOME OUTPUTS FAIL")
    if args.markdown:
        Path(args.markdown).write_text(table)
    return 0 if worst else 1


class _TempWatch:
    """Polls a folder every 50 ms for the largest file other than ``final`` (temporary files)."""

    def __init__(self, folder: Path, final: Path) -> None:
        import threading

        self.folder, self.final, self.largest, self.name = folder, final, 0, ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            if not self.folder.is_dir():
                continue
            for p in self.folder.rglob("*"):
                try:
                    if p.name.startswith(f".{self.final.name}."):
                        continue  # the output's own atomic write (it becomes the output)
                    if p.is_file() and p != self.final and p.suffix not in (".json", ".png", ".html", ".sqlite",
                                                                             ".sqlite-wal", ".sqlite-shm"):
                        size = p.stat().st_size
                        if size > self.largest:
                            self.largest, self.name = size, p.name
                except OSError:
                    pass

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def long_file(args) -> int:
    import soundfile as sf

    from dsp.jit import configure_cache

    configure_cache()
    from app.batch.worker import BatchOptions
    from app.presets import load_preset

    source = Path(args.data) / "podcast" / "podcast_dev_2min_noisy.flac"
    x, sr = sf.read(str(source), dtype="int16")
    with tempfile.TemporaryDirectory(prefix="roomtone-bench-batch-") as tmp:
        src = Path(tmp) / "in"
        src.mkdir()
        path = src / "episode.flac"
        n_total = int(args.long * 60 * sr)
        with sf.SoundFile(str(path), "w", samplerate=sr, channels=1, format="FLAC", subtype="PCM_16") as fh:
            done = 0
            while done < n_total:
                part = x[: n_total - done]
                fh.write(part)
                done += part.shape[0]
        audio_s = n_total / sr
        opts = BatchOptions(chain=load_preset("podcast").to_dict(), hole_audit=args.hole_audit)
        runs = []
        for i in range(max(1, args.repeat)):
            if i:
                time.sleep(args.pause)  # let the load average settle between runs
            res = _long_run(Path(tmp) / f"out-{i + 1}", src, opts, audio_s, args)
            if res is None:
                return 1
            runs.append(res)
            out_size = res["output_bytes"]
            verdict = "meets" if res["x_realtime"] >= 150 else "misses"
            print(f"{args.long:g} min in {res['wall_s']:.1f} s = {res['x_realtime']}x real time ({verdict} 150x); largest "
                  f"temporary file {res['largest_temp_bytes'] / 1e6:.1f} MB vs output {out_size / 1e6:.1f} MB; worker CPU "
                  f"{res['worker_cpu_s']:.1f} s ({res['cores_busy']:.2f} cores busy); load avg "
                  f"{res['load_before']:.1f} -> {res['load_after']:.1f}", flush=True)
        walls = sorted(r["wall_s"] for r in runs)
        median = walls[len(walls) // 2] if len(walls) % 2 else (walls[len(walls) // 2 - 1] + walls[len(walls) // 2]) / 2
        summary = {"runs": runs, "median_wall_s": round(median, 2), "median_x_realtime": round(audio_s / median, 1),
                   "runs_meeting_150x": sum(r["x_realtime"] >= 150 for r in runs)}
        if len(runs) > 1:
            print(f"median of {len(runs)} runs: {median:.1f} s = {summary['median_x_realtime']}x; "
                  f"{summary['runs_meeting_150x']} of {len(runs)} runs at 150x or faster")
        else:
            print(json.dumps(runs[0], indent=1))
        if args.json:
            Path(args.json).write_text(json.dumps(summary if len(runs) > 1 else runs[0], indent=1) + "\n")
    return 0


def _long_run(out: Path, src: Path, opts, audio_s: float, args) -> dict | None:
    """One batch of the long file into ``out``: the figures of the run, or None if it failed."""
    from app.batch.runner import BatchRunner, slug_for

    load = os.getloadavg()[0]
    watch = _TempWatch(out, out / "episode.flac")  # the output folder only (the input is no temporary)
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    summary = BatchRunner(src, out, opts, workers=1).run()
    wall = time.perf_counter() - t0
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)  # the worker has exited: its CPU is counted
    worker_cpu = (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime)
    watch.stop()
    load_after = os.getloadavg()[0]
    if summary.failed:
        print(f"failed: {summary.failures}", file=sys.stderr)
        return None
    rep = json.loads((out / "report" / "files" / f"{slug_for(Path('episode.flac'))}.json").read_text())
    return {"minutes": args.long, "wall_s": round(wall, 1), "x_realtime": round(audio_s / wall, 1),
            "load_before": round(load, 2), "load_after": round(load_after, 2), "cores": os.cpu_count(),
            "worker_cpu_s": round(worker_cpu, 1), "cores_busy": round(worker_cpu / wall, 2),
            "hole_audit": args.hole_audit, "phases_s": rep["timing"], "output_bytes": (out / "episode.flac").stat().st_size,
            "largest_temp_bytes": watch.largest, "largest_temp": watch.name,
            "after_lufs": rep["after"]["integrated_lufs"], "after_dbtp": rep["after"]["true_peak_dbtp"],
            "gain_passes": rep["loudness"]["gain_iterations"]}


if __name__ == "__main__":
    sys.exit(main())
