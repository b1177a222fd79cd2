"""Rasterise ``assets/icons/roomtone.svg`` into the icon set the installers ship.

Writes ``assets/icons/roomtone-<size>.png`` for every size in :data:`SIZES` (the hicolor sizes a
Linux desktop looks for) and ``assets/icons/roomtone.ico`` (Windows; all sizes up to 256 in
one file). The PNGs are committed: run this only after editing the SVG::

    .venv/bin/python installers/make_icons.py

Uses Qt's own SVG renderer (PySide6, already in the venv), offscreen; no other tools.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ICONS = ROOT / "assets" / "icons"
SOURCE = ICONS / "roomtone.svg"
#: PNG sizes written (pixels); the hicolor theme folders of the same names get them on Linux.
SIZES = (16, 32, 48, 64, 128, 256)


def png_path(size: int) -> Path:
    return ICONS / f"roomtone-{size}.png"


def render(renderer, size: int):
    """One square ARGB image of the SVG at ``size`` pixels, transparent outside the mark."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPainter

    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
    renderer.render(painter)
    painter.end()
    return image


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtSvg import QSvgRenderer

    app = QGuiApplication.instance() or QGuiApplication(["make_icons"])  # noqa: F841 - QPainter needs one
    renderer = QSvgRenderer(str(SOURCE))
    if not renderer.isValid():
        print(f"make_icons: {SOURCE} is not a valid SVG", file=sys.stderr)
        return 1
    for size in SIZES:
        image = render(renderer, size)
        if not image.save(str(png_path(size)), "PNG"):
            print(f"make_icons: cannot write {png_path(size)}", file=sys.stderr)
            return 1
        print(f"wrote {png_path(size).relative_to(ROOT)}")
    # Windows icon: Qt's "ico" writer stores one image; write the largest (Windows scales it).
    ico = ICONS / "roomtone.ico"
    if render(renderer, 256).save(str(ico), "ICO"):
        print(f"wrote {ico.relative_to(ROOT)}")
    else:
        print("make_icons: Qt has no ICO writer here; roomtone.ico not written", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
