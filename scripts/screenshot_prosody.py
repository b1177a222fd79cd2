"""Screenshot of the prosody panel on the dev prosody clips: docs/screenshots/prosody_panel.png.

Run under a display (Xvfb), e.g.::

    Xvfb :98 -screen 0 1400x900x24 -nolisten tcp & DISPLAY=:98 timeout 120 .venv/bin/python scripts/screenshot_prosody.py

Options: ``--data DIR`` (default ../shared/data/prosody), ``--clip NAME`` (the clip to show),
``--tab clip|dataset``, ``--out PATH``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "prosody"))
    ap.add_argument("--reference", default=None)
    ap.add_argument("--clip", default="emo_happy_16.flac")
    ap.add_argument("--tab", default="clip", choices=("clip", "dataset"))
    ap.add_argument("--finding", type=int, default=-1, help="click this finding row after loading")
    ap.add_argument("--out", default=str(REPO / "docs" / "screenshots" / "prosody_panel.png"))
    args = ap.parse_args()

    from PySide6.QtWidgets import QApplication, QMainWindow

    from app.qt.prosody_panel import ProsodyPanel
    from app.qt.theme import apply_theme

    app = QApplication.instance() or QApplication(sys.argv)
    apply_theme(app)
    win = QMainWindow()
    panel = ProsodyPanel()
    win.setCentralWidget(panel)
    win.setWindowTitle("Roomtone: prosody checks")
    win.resize(1400, 900)
    win.show()
    try:
        if args.reference:
            panel.load_paths([args.reference], role="reference")
            panel.wait_idle(120)
        panel.load_paths([args.data])
        panel.wait_idle(120)
        panel.select_clip(args.clip)
        if args.finding >= 0:
            item = panel.findings.topLevelItem(args.finding)
            panel._on_finding(item)
        panel.tabs.setCurrentIndex(0 if args.tab == "clip" else 1)
        for _ in range(20):
            app.processEvents()
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        ok = win.grab().save(args.out)
        print(f"wrote {args.out}" if ok else f"could not write {args.out}")
        return 0 if ok else 1
    finally:
        panel.shutdown()
        win.close()
        app.quit()


if __name__ == "__main__":
    raise SystemExit(main())
