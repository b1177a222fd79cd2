"""Screenshots of the workstation on the demo episode, for the README (``make screenshots``).

Starts its own X server (``Xvfb :99 -screen 0 1600x1000x24 -nolisten tcp``), opens the demo
with its project pre-built (room tone learned, podcast preset, applied), and grabs the window:

* ``docs/screenshots/main_window.png``: before/after spectrograms with the hole overlay.
* ``docs/screenshots/removed_energy.png``: zoomed in on speech with the removed-energy view
  and a time-frequency selection.
* ``docs/screenshots/room_tone.png``: the room-tone panel (profile against the file's spectrum).

Run under ``timeout``: a GUI script that hangs must not hang the build.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "docs" / "screenshots"
DISPLAY = ":99"


def start_xvfb() -> subprocess.Popen | None:
    if os.environ.get("ROOMTONE_SCREENSHOT_DISPLAY"):
        os.environ["DISPLAY"] = os.environ["ROOMTONE_SCREENSHOT_DISPLAY"]
        return None
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        sys.exit("screenshots: Xvfb is not installed (apt-get install xvfb)")
    proc = subprocess.Popen([xvfb, DISPLAY, "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.environ["DISPLAY"] = DISPLAY
    os.environ.pop("QT_QPA_PLATFORM", None)
    sock = Path(f"/tmp/.X11-unix/X{DISPLAY[1:]}")
    for _ in range(100):
        if sock.exists() or proc.poll() is not None:
            break
        time.sleep(0.05)
    if proc.poll() is not None:
        sys.exit(f"screenshots: Xvfb {DISPLAY} did not start (is another server using {DISPLAY}?)")
    return proc


def settle(app, window, seconds: float = 0.6) -> None:
    window.wait_for_jobs(300)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)
    window.wait_for_jobs(300)
    app.processEvents()


def main() -> int:
    xvfb = start_xvfb()
    window = None
    try:
        os.environ.setdefault("NUMBA_CACHE_DIR", str(REPO / ".cache" / "numba"))
        from PySide6.QtCore import QSettings
        from PySide6.QtWidgets import QApplication

        from app.qt import theme

        app = QApplication(["roomtone"])
        theme.apply_theme(app)
        from app.qt.main_window import MainWindow
        from app.session import Selection

        tmp = tempfile.mkdtemp(prefix="roomtone-shots-")
        settings = QSettings(str(Path(tmp) / "settings.ini"), QSettings.Format.IniFormat)
        window = MainWindow(settings=settings)
        window.show_dialogs = False
        window.ask_before_closing = False
        window.resize(1600, 1000)
        window.show()
        app.processEvents()
        if not window.open_demo():
            print(f"screenshots: cannot open the demo: {window.errors}", file=sys.stderr)
            return 1
        settle(app, window)
        if window.errors:
            print(f"screenshots: errors while opening the demo: {window.errors}", file=sys.stderr)
            return 1
        OUT.mkdir(parents=True, exist_ok=True)
        # 1: the whole episode, before/after with holes, a selection on the room-tone stretch.
        # The podcast preset's refill fills the holes its passes make; to show the overlay, this
        # shot uses the "strong" preset with refill switched off (what the passes alone do).
        window.session.load_preset("strong")
        refill = [i for i, s in enumerate(window.session.project.chain.stages) if s.kind == "refill"]
        for i in refill:
            window.session.set_stage_bypass(i, True)
        window.session.set_selection(Selection(0.0, 2.0))
        gate = [i for i, s in enumerate(window.session.project.chain.stages) if s.kind == "gate"]
        window.chain_panel.stage_list.setCurrentRow(gate[0] if gate else 0)
        window.apply_chain()
        settle(app, window)
        window.grab().save(str(OUT / "main_window.png"))
        # 2: zoomed on speech, removed energy, a time-frequency selection
        window.waveform.setXRange(1.2, 7.4, padding=0)
        window.before_view.setYRange(0.0, 8000.0, padding=0)  # the speech band (linked to AFTER)
        window.session.load_preset("podcast")
        window.apply_chain()
        window.set_difference_mode(True)
        window.session.set_selection(Selection(4.1, 5.0, 2500.0, 9000.0))
        window.side_tabs.setCurrentWidget(window.chain_panel)
        settle(app, window, 1.0)
        window.grab().save(str(OUT / "removed_energy.png"))
        # 3: the room-tone panel
        window.set_difference_mode(False)
        window.before_view.setYRange(0.0, window.before_view.nyquist, padding=0)
        window.zoom_fit()
        window.session.set_selection(Selection(0.0, 2.0))
        window.side_tabs.setCurrentWidget(window.roomtone_panel)
        settle(app, window, 1.0)
        window.grab().save(str(OUT / "room_tone.png"))
        print(f"screenshots: wrote {', '.join(p.name for p in sorted(OUT.glob('*.png')))} in {OUT}")
        return 0
    finally:
        if window is not None:
            window.close()
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait(5)


if __name__ == "__main__":
    sys.exit(main())
