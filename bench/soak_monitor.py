"""Soak test of headphone monitoring (issue 6): minutes of playback with settings changed every second.

Runs a preset's chain (``--preset``, default ``podcast``) on the dev podcast file, looping, through
the monitor on a real, real-time-paced device (JACK's dummy driver, started and stopped here),
changes a slider-like setting every second (``--vary``; default the first pass's cap, stepped
through 50/75/100/85 % of its preset value) and the listen mode every 5 s, and reports underruns (target 0), host
xruns, feeder CPU per block (target < 25 % of the block's duration) and latency. With
``--gui`` (and PySide6 available) the changes come from a QSlider driven by a QTimer and a 30 Hz
timer polls position and meters, as the workstation window does.

    .venv/bin/python bench/soak_monitor.py --minutes 10 [--gui] [--block 256] [--json out.json]

Not part of the test run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def start_jackd(name: str, rate: int, period: int) -> tuple[subprocess.Popen, bool]:
    env = dict(os.environ, JACK_DEFAULT_SERVER=name)
    for mode in (["-R"], ["--no-realtime"]):
        cmd = ["jackd", "-n", name, *mode, "-d", "dummy", "-r", str(rate), "-p", str(period), "-C", "2", "-P", "2"]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        for _ in range(80):
            if proc.poll() is not None:
                break
            out = subprocess.run(["jack_wait", "-c"], env=env, capture_output=True, text=True).stdout
            if "running" in out and "not" not in out:
                return proc, mode == ["-R"]
            time.sleep(0.1)
        if proc.poll() is None:
            proc.terminate()
            proc.wait(5)
    raise SystemExit("jackd's dummy driver did not start")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--block", type=int, default=256, help="device buffer (frames)")
    ap.add_argument("--gui", action="store_true", help="drive changes from a Qt slider (offscreen)")
    ap.add_argument("--source", default=str(REPO.parent / "shared" / "data" / "podcast" / "podcast_dev_2min_noisy.flac"))
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--preset", default="podcast", help="factory preset whose chain is monitored")
    ap.add_argument("--vary", help="setting changed every second (default: the first pass's max_reduction_db)")
    ap.add_argument("--every", type=float, default=1.0, help="seconds between setting changes (default 1)")
    args = ap.parse_args(argv)
    if shutil.which("jackd") is None:
        raise SystemExit("jackd is not installed (apt-get install jackd2)")

    name = f"roomtone-soak-{os.getpid()}"
    os.environ["JACK_DEFAULT_SERVER"] = name  # before sounddevice is imported
    os.environ.setdefault("NUMBA_CACHE_DIR", str(REPO / ".cache" / "numba"))
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    jackd, realtime = start_jackd(name, 48000, args.block)
    import sounddevice as sd

    try:
        figures = soak(args, realtime)
    finally:
        sd._terminate()  # before stopping jackd
        jackd.terminate()
        try:
            jackd.wait(10)
        except subprocess.TimeoutExpired:
            jackd.kill()
            jackd.wait(5)
    print(json.dumps(figures, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))
    return 0 if figures["underruns"] == 0 else 1


def soak(args: argparse.Namespace, realtime: bool) -> dict:
    import numpy as np

    from app.audio import Monitor, OutputSettings
    from app.pipeline import prepare_processor
    from app.presets import apply_overrides, load_preset
    from dsp.chain import build_chain
    from dsp.io import AudioReader

    reader = AudioReader(args.source)
    settings = load_preset(args.preset)
    _, context = prepare_processor(reader, settings)
    vary = args.vary
    if vary is None:
        first = next(st for st in settings.stages if hasattr(st.settings, "max_reduction_db") and not st.bypass)
        vary = f"{first.kind}.max_reduction_db"
    kind, field = vary.split(".", 1)
    base = float(getattr(next(st for st in settings.stages if st.kind == kind).settings, field))
    values = [round(base * f, 2) for f in (0.5, 0.75, 1.0, 0.85)]
    modes = ["processed", "original", "processed", "removed"]
    monitor = Monitor(output=OutputSettings(block_size=args.block))
    monitor.set_source(reader, lambda: build_chain(settings, context))
    monitor.open()
    monitor.set_loop(0.0, reader.frames / reader.sample_rate)
    monitor.play()
    monitor.reset_stats()
    t0 = time.monotonic()
    duration = args.minutes * 60.0
    changes = polls = 0
    build_s: list[float] = []
    lufs: list[float] = []

    def change(i: int) -> None:
        nonlocal changes
        s = apply_overrides(settings, [f"{vary}={values[i % len(values)]}"])
        t = time.perf_counter()
        monitor.set_chain(lambda s=s: build_chain(s, context))
        build_s.append(time.perf_counter() - t)
        if i % 5 == 4:
            monitor.set_listen(modes[(i // 5) % len(modes)])
        changes += 1

    def poll() -> None:
        nonlocal polls
        _ = monitor.position_s
        r = monitor.meters()
        lufs.append(r.short_term_lufs)
        polls += 1

    callbacks0 = monitor.stats().callbacks
    if args.gui:
        try:
            from PySide6.QtCore import QTimer
            from PySide6.QtWidgets import QApplication, QLabel, QSlider, QVBoxLayout, QWidget
        except ImportError:
            args.gui = False
    if args.gui:
        app = QApplication.instance() or QApplication([])
        w = QWidget()
        lay = QVBoxLayout(w)
        slider = QSlider()
        slider.setRange(0, len(values) - 1)
        label = QLabel()
        lay.addWidget(slider)
        lay.addWidget(label)
        w.show()
        slider.valueChanged.connect(lambda v: change(v + changes))
        tick = QTimer()
        tick.timeout.connect(lambda: slider.setValue((slider.value() + 1) % len(values)))
        tick.start(int(args.every * 1000))
        view = QTimer()

        def on_view() -> None:
            poll()
            label.setText(f"{monitor.position_s:7.2f} s  {lufs[-1]:6.1f} LUFS")

        view.timeout.connect(on_view)
        view.start(33)
        QTimer.singleShot(int(duration * 1000), app.quit)
        app.exec()
    else:
        i = 0
        next_change = t0 + args.every
        while time.monotonic() - t0 < duration:
            time.sleep(1 / 30)
            poll()
            if time.monotonic() >= next_change:
                change(i)
                i += 1
                next_change += args.every
    elapsed = time.monotonic() - t0
    st = monitor.stats()
    monitor.shutdown()
    expected = elapsed * 48000 / args.block
    return {
        "preset": args.preset,
        "varied": f"{vary} in {values}, every {args.every:g} s",
        "minutes": round(elapsed / 60.0, 2),
        "gui": bool(args.gui),
        "jack_realtime": realtime,
        "block_frames": args.block,
        "settings_changes": changes,
        "listen_switches": changes // 5,
        "gui_polls": polls,
        "underruns": st.underruns,
        "host_xruns": st.xruns,
        "callbacks": st.callbacks - callbacks0,
        "callbacks_expected": round(expected),
        "feeder_cpu_per_block_mean_pct": round(100 * st.feeder_cpu_mean, 1),
        "feeder_cpu_per_block_p99_pct": round(100 * st.feeder_cpu_p99, 1),
        "feeder_cpu_per_block_max_pct": round(100 * st.feeder_cpu_max, 1),
        "output_latency_ms": round(st.output_latency_s * 1000, 2),
        "switch_lead_ms": round(st.last_switch_lead_ms, 1),
        "change_to_ear_ms_bound": round(st.last_switch_lead_ms + st.output_latency_s * 1000 + 5.0, 1),
        "ring_buffer_ms": round(monitor.output.buffer_ms, 1),
        "set_chain_call_ms_max": round(1000 * max(build_s, default=0.0), 2),
        "exact_upgrades": st.upgrades,
        "short_term_lufs_median": round(float(np.median([v for v in lufs if v > -100] or [-120])), 1),
    }


if __name__ == "__main__":
    raise SystemExit(main())
