"""``make run`` / ``python -m app.launch``: open the workstation on the bundled demo episode.

Also the ``roomtone-gui`` console script (:func:`gui_main`): ``roomtone gui`` with the same
arguments (this module sits above the CLI, so it can name both).

If the GUI is installed and a display is available, it opens the workstation (``app.qt.app.run``)
on the demo. Otherwise (or with ``--no-gui``) it cleans the demo with the podcast preset into
``~/Roomtone/demo_episode_clean.flac`` and says where the result and its render record went.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from app.cli import main as cli_main
from app.commands.gui import gui_available
from app.pipeline import record_path
from dsp.jit import configure_cache

REPO = Path(__file__).resolve().parents[1]


def demo_path() -> Path:
    """The bundled demo episode (inside a frozen app: beside its data)."""
    base = Path(getattr(sys, "_MEIPASS", REPO))
    return base / "assets" / "demo" / "demo_episode.flac"


def output_dir() -> Path:
    return Path(os.environ.get("ROOMTONE_HOME", Path.home() / "Roomtone"))


def run_headless(reason: str = "") -> int:
    """Clean the demo with the podcast preset into ~/Roomtone; print where it went."""
    src = demo_path()
    if not src.exists():
        sys.stderr.write(f"roomtone: the demo episode is missing ({src}); run: python scripts/make_demo.py\n")
        return 3
    folder = output_dir()
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "demo_episode_clean.flac"
    if reason:
        print(f"roomtone: not opening the workstation: {reason}; cleaning the demo episode instead.")
    code = cli_main(["clean", str(src), "-o", str(out), "--quiet"])
    if code == 0:
        print(f"roomtone: cleaned demo episode: {out}")
        print(f"roomtone: render record:        {record_path(out)}")
        print(f"roomtone: compare with the original: {src}")
    return code


def main(argv: list[str] | None = None) -> int:
    configure_cache()
    ap = argparse.ArgumentParser(prog="python -m app.launch", description=__doc__.split("\n\n")[0])
    ap.add_argument("--no-gui", action="store_true", help="do not open the workstation; clean the demo instead")
    args = ap.parse_args(argv)
    if not args.no_gui:
        ok, reason = gui_available()
        if ok:
            from app.qt.app import run as run_gui  # lazy: optional GUI (PySide6 may be missing)

            return int(run_gui(["--demo"]) or 0)
        return run_headless(reason)
    return run_headless()


def gui_main() -> None:
    """``roomtone-gui [FILE|PROJECT]``: the same as ``roomtone gui [FILE|PROJECT]``."""
    sys.exit(cli_main(["gui", *sys.argv[1:]]))


if __name__ == "__main__":
    sys.exit(main())
