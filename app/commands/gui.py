"""``roomtone gui [FILE|PROJECT]``: open the workstation, on an audio file or a project.

The path is checked here, before any window opens, so a missing or damaged file is one line on
the terminal and the exit code of every other command (3), not a dialog. Without a path the
workstation opens empty (it still offers to recover autosaved work); ``--demo`` opens the
bundled demo episode, as ``make run`` does. ``roomtone-gui`` is the same command.

The workstation (``app.qt.app``) is imported only when it is started: the CLI never loads Qt
otherwise (pyproject's import contracts name this one edge).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import sys
from pathlib import Path

from app.session.project import PROJECT_SUFFIX, load_project
from dsp.errors import InputError, RoomtoneError
from dsp.io import audio_info

#: extensions opened as a project (the rest are read as audio)
PROJECT_SUFFIXES = (PROJECT_SUFFIX, ".json")


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "gui",
        help="open the workstation, on an audio file or a .roomtone project",
        description=(
            "Open the Roomtone workstation. FILE is an audio file (a new project on it); PROJECT is a "
            f"saved {PROJECT_SUFFIX} project. Without either the window opens empty. The same as "
            "'roomtone-gui'."
        ),
        epilog="examples:\n  roomtone gui episode.wav\n  roomtone gui episode.roomtone\n  roomtone gui --demo",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("path", nargs="?", metavar="FILE|PROJECT", help="an audio file or a .roomtone project to open")
    p.add_argument("--demo", action="store_true", help="open the bundled demo episode with its project pre-built")
    p.set_defaults(func=run)
    return p


def gui_available() -> tuple[bool, str]:
    """Whether the workstation can open here, and why not."""
    try:
        if importlib.util.find_spec("app.qt.main_window") is None or importlib.util.find_spec("app.qt.app") is None:
            return False, "the workstation GUI is not part of this build"
        if importlib.util.find_spec("PySide6") is None:
            return False, "PySide6 is not installed (pip install 'roomtone[gui]')"
    except (ImportError, ValueError):
        return False, "the workstation GUI is not part of this build"
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ) and os.environ.get("QT_QPA_PLATFORM") not in ("offscreen", "minimal"):
        return False, "no display (DISPLAY/WAYLAND_DISPLAY not set)"
    return True, ""


def check_openable(path: str | os.PathLike) -> Path:
    """The absolute path of an audio file or project the workstation can open.

    Raises
    ------
    InputError
        The path is missing or a folder, the project file is damaged, or the audio cannot be read.
    """
    p = Path(path).expanduser().absolute()
    if not p.exists():
        raise InputError(f"{path}: no such file; check the path")
    if p.is_dir():
        raise InputError(f"{path}: is a folder; give an audio file or a {PROJECT_SUFFIX} project "
                         "(for a whole folder use 'roomtone batch')")
    if p.suffix.lower() in PROJECT_SUFFIXES:
        load_project(p, verify=False)  # a damaged project is refused here, naming the field
    else:
        audio_info(p)
    return p


def restore_default_sigterm() -> None:
    """SIGTERM ends the process (where a handler can be set at all: the main thread)."""
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    except (ValueError, OSError, AttributeError):
        pass


def run(args: argparse.Namespace) -> int:
    path = check_openable(args.path) if args.path else None
    ok, reason = gui_available()
    if not ok:
        raise RoomtoneError(f"cannot open the workstation: {reason}")
    from app.qt.app import run as run_workstation  # lazy: Qt loads only when the window opens

    # The CLI turns SIGTERM into an exception (to clean up a render); raised inside Qt's event
    # loop it would be swallowed and the window would ignore the signal: terminate as usual.
    restore_default_sigterm()

    argv = ["--demo"] if args.demo else []
    return int(run_workstation([*argv, *([str(path)] if path is not None else [])]) or 0)

