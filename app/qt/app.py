"""Entry point of the workstation: ``run(argv) -> exit code``.

``--demo`` opens the bundled demo episode with its project pre-built (room tone learned from its
room-tone-only stretch, podcast preset, applied). ``--self-test`` starts offscreen, opens the
demo, renders it, checks the AFTER view, and exits 0 (the installer's smoke test). Any other
argument is a file to open (audio or project). At start the window offers to recover work
autosaved by a run that did not exit cleanly.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import traceback
from pathlib import Path

import numpy as np

from app.audio.project_monitor import make_monitor
from app.pipeline import preload_models_in_background
from app.qt import theme
from app.qt.main_window import MainWindow
from app.session import Autosave
from dsp.jit import configure_cache


def _parse(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="roomtone-gui", description="The Roomtone workstation.")
    ap.add_argument("path", nargs="?", help="an audio file or a .roomtone project to open")
    ap.add_argument("--demo", action="store_true", help="open the demo episode with its project pre-built")
    ap.add_argument("--self-test", action="store_true", help="offscreen: open the demo, render it, exit 0 if all worked")
    return ap.parse_args(argv)


def run(argv: list[str] | None = None) -> int:
    args = _parse(list(sys.argv[1:] if argv is None else argv))
    if args.self_test:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"

    configure_cache()
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(["roomtone"])
    app.setApplicationName("Roomtone")
    app.setOrganizationName("Roomtone")
    app.setDesktopFileName("roomtone")  # links the window to the .desktop entry (Wayland)
    _set_icon(app)
    theme.apply_theme(app)

    if args.self_test:
        return _self_test(app)

    window = MainWindow(autosave=Autosave(), monitor=make_monitor())
    window.show()
    preload_models_in_background()
    recovered = window.offer_recovery()
    if not recovered:
        if args.demo:
            window.open_demo()
        elif args.path:
            window.open_path(args.path)
    # a slot raising inside exec() must not leave the window hanging: report it
    sys.excepthook = lambda t, v, tb: window.report_error(v, "".join(traceback.format_exception(t, v, tb)))
    try:
        return int(app.exec())
    finally:
        sys.excepthook = sys.__excepthook__


def _set_icon(app) -> None:
    from PySide6.QtGui import QIcon

    base = Path(getattr(sys, "_MEIPASS", Path(__file__).resolve().parents[2])) / "assets" / "icons"
    icon = QIcon()
    for size in (16, 32, 48, 64, 128, 256):
        png = base / f"roomtone-{size}.png"
        if png.exists():
            icon.addFile(str(png))
    if not icon.isNull():
        app.setWindowIcon(icon)


def _self_test(app) -> int:
    """Open the demo offscreen, Apply, wait, check the AFTER spectrogram differs; exit code."""
    from PySide6.QtCore import QSettings

    tmp = tempfile.mkdtemp(prefix="roomtone-selftest-")
    settings = QSettings(str(Path(tmp) / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings)
    window.show_dialogs = False
    window.ask_before_closing = False
    window.show()
    try:
        if not window.open_demo():
            print(f"self-test: cannot open the demo: {window.errors}", file=sys.stderr)
            return 1
        if not window.wait_for_jobs(300):
            print("self-test: jobs did not finish in 300 s", file=sys.stderr)
            return 1
        if window.errors or not window.render_is_current():
            print(f"self-test: render failed: {window.errors}", file=sys.stderr)
            return 1
        app.processEvents()
        window.wait_for_jobs(60)
        before, after = window.before_view.current_image(), window.after_view.current_image()
        if before is None or after is None or before.shape != after.shape or np.array_equal(before, after):
            print("self-test: the AFTER spectrogram is missing or unchanged", file=sys.stderr)
            return 1
        print(f"self-test: ok (render {window._after.seconds:.2f} s, "
              f"{len(window._after.holes.regions) if window._after.holes is not None else 0} holes)")
        return 0
    finally:
        window.close()
        app.processEvents()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    sys.exit(run())


if __name__ == "__main__":
    main()
