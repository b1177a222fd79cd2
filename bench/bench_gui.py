"""GUI responsiveness on a long file: time to the waveform overview, zoom/scroll frame times.

Generates (once, outside the repo) a 1-hour 48 kHz 16-bit mono WAV of speech-like bursts over
room tone, opens it in the real window (offscreen by default) and measures:

* ``overview_first_s``: from ``open_path`` until the overview shows the first part of the file;
* ``overview_shown_s``: until the whole-file overview is drawn (pyramid complete);
* zoom and scroll frame times of the waveform (view change -> redraw -> synchronous repaint
  of the window), from the whole hour down to 50 ms and back, and scrolling at several zooms;
* spectrogram tile latency (view change -> tile on screen, background thread).

Usage: ``python bench/bench_gui.py [--minutes 60] [--file PATH] [--json OUT.json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def make_long_file(path: Path, minutes: float, sample_rate: int = 48000) -> Path:
    import soundfile as sf

    if path.exists() and sf.info(str(path)).frames == int(minutes * 60 * sample_rate):
        return path
    rng = np.random.default_rng(0)
    block = sample_rate * 10
    total = int(minutes * 60 * sample_rate)
    tmp = path.with_suffix(".tmp.wav")
    with sf.SoundFile(str(tmp), "w", samplerate=sample_rate, channels=1, subtype="PCM_16") as f:
        t = np.arange(block) / sample_rate
        for start in range(0, total, block):
            n = min(block, total - start)
            x = rng.standard_normal(n) * 0.004
            env = (np.sin(2 * np.pi * 0.3 * (t[:n] + start / sample_rate)) > 0.2).astype(float)
            x += env * 0.2 * np.sin(2 * np.pi * 160 * t[:n]) * (0.5 + 0.5 * rng.random())
            f.write(x.astype(np.float32))
    os.replace(tmp, path)
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--file", type=Path, default=Path(tempfile.gettempdir()) / "roomtone_bench_1h.wav")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("NUMBA_CACHE_DIR", str(REPO / ".cache" / "numba"))

    t = time.perf_counter()
    path = make_long_file(args.file, args.minutes)
    print(f"test file: {path} ({args.minutes:g} min, made/checked in {time.perf_counter() - t:.1f} s)")

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from app.qt import theme

    app = QApplication(["bench"])
    theme.apply_theme(app)
    from app.qt.main_window import MainWindow

    tmp = tempfile.mkdtemp(prefix="roomtone-bench-")
    window = MainWindow(settings=QSettings(str(Path(tmp) / "s.ini"), QSettings.Format.IniFormat))
    window.show_dialogs = False
    window.ask_before_closing = False
    window.resize(1600, 1000)
    window.show()
    app.processEvents()
    results: dict = {"file_minutes": args.minutes, "platform": os.environ.get("QT_QPA_PLATFORM", "")}
    try:
        t0 = time.perf_counter()
        window.open_path(path)
        first = None
        while True:
            app.processEvents()
            pyr = window._pyramid_cache[1] if window._pyramid_cache else None
            if first is None and pyr is not None and pyr.frames_done > 0 and window._pyramid is pyr:
                first = time.perf_counter() - t0
            if pyr is not None and pyr.complete and window._pyramid is pyr:
                window.overview.refresh()
                window.waveform.redraw()
                window.repaint()
                break
            if time.perf_counter() - t0 > 120:
                print("overview not complete after 120 s", file=sys.stderr)
                return 1
            time.sleep(0.002)
        shown = time.perf_counter() - t0
        results["overview_first_s"] = round(first or shown, 3)
        results["overview_shown_s"] = round(shown, 3)
        print(f"overview: first part drawn after {results['overview_first_s']:.2f} s, "
              f"whole hour drawn after {shown:.2f} s (goal < 3 s)")
        window.wait_for_jobs(120)

        def frame(fn) -> float:
            a = time.perf_counter()
            fn()
            app.processEvents()
            window.waveform.redraw()
            window.repaint()
            return (time.perf_counter() - a) * 1000.0

        dur = args.minutes * 60
        zoom_times, cols = [], []
        span = dur
        centre = dur * 0.37
        while span > 0.05:
            span /= 2
            zoom_times.append(frame(lambda s=span: window.waveform.setXRange(centre - s / 2, centre + s / 2, padding=0)))
            cols.append(window.waveform.columns_drawn)
        while span < dur:
            span *= 2
            zoom_times.append(frame(lambda s=span: window.waveform.setXRange(max(0, centre - s / 2), max(0, centre - s / 2) + s, padding=0)))
        scroll_times = {}
        for view_span in (3600.0, 60.0, 2.0):
            view_span = min(view_span, dur)
            times = []
            a = dur * 0.2
            for _ in range(30):
                a += view_span * 0.1
                times.append(frame(lambda a=a, s=view_span: window.waveform.setXRange(a, a + s, padding=0)))
            scroll_times[f"{view_span:g}s"] = times

        def summary(ms):
            ms = sorted(ms)
            return {"median_ms": round(statistics.median(ms), 2), "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 2),
                    "max_ms": round(ms[-1], 2), "n": len(ms)}

        results["zoom"] = summary(zoom_times)
        results["zoom_max_columns"] = int(max(cols))
        results["scroll"] = {k: summary(v) for k, v in scroll_times.items()}
        print(f"zoom frames (1 h -> 50 ms -> 1 h): {results['zoom']}")
        for k, v in results["scroll"].items():
            print(f"scroll frames at {k} visible: {v}")

        # spectrogram tile latency: view change -> new tile on screen
        lat = []
        for a in (600.0, 1800.0, 3000.0):
            a = min(a, dur - 30)
            done_before = window.before_view.tiles_done
            t1 = time.perf_counter()
            window.waveform.setXRange(a, a + 30, padding=0)
            while window.before_view.tiles_done == done_before and time.perf_counter() - t1 < 30:
                app.processEvents()
                time.sleep(0.001)
            lat.append((time.perf_counter() - t1) * 1000)
        window.waveform.setXRange(0, dur, padding=0)
        done_before = window.before_view.tiles_done
        t1 = time.perf_counter()
        while window.before_view.tiles_done == done_before and time.perf_counter() - t1 < 30:
            app.processEvents()
            time.sleep(0.001)
        lat.append((time.perf_counter() - t1) * 1000)
        results["tile_latency_ms"] = [round(x, 1) for x in lat]
        print(f"spectrogram tile latency (30 s views, then the whole hour): {results['tile_latency_ms']} ms")
        if args.json:
            args.json.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
        return 0 if shown < 3.0 else 2
    finally:
        window.close()
        app.processEvents()


if __name__ == "__main__":
    sys.exit(main())
