"""Where Roomtone keeps its per-user files, one function per kind of folder, for every platform.

* :func:`state_dir`: what a session leaves behind for the next one (autosave and crash recovery):
  ``$XDG_STATE_HOME/roomtone`` (default ``~/.local/state/roomtone``) on Linux,
  ``~/Library/Application Support/roomtone`` on macOS, ``%LOCALAPPDATA%\\roomtone`` on Windows.
* :func:`config_dir`: settings the user made (their presets): ``$XDG_CONFIG_HOME/roomtone``
  (default ``~/.config/roomtone``) on Linux, ``~/Library/Application Support/roomtone`` on macOS,
  ``%APPDATA%\\roomtone`` on Windows.
* :func:`log_dir`: crash logs. The state folder, except on macOS, where logs belong in
  ``~/Library/Logs/roomtone`` (Console.app shows them).

The folders are not created here; callers create them when they write. An empty environment
variable counts as unset (as the XDG specification says).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP = "roomtone"


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value) if value else default


def state_dir() -> Path:
    """The per-user state folder (autosave, recovery); see the module docstring."""
    if sys.platform == "win32":
        base = _env_path("LOCALAPPDATA", Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = _env_path("XDG_STATE_HOME", Path.home() / ".local" / "state")
    return base / APP


def config_dir() -> Path:
    """The per-user configuration folder (user presets); see the module docstring."""
    if sys.platform == "win32":
        base = _env_path("APPDATA", Path.home() / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = _env_path("XDG_CONFIG_HOME", Path.home() / ".config")
    return base / APP


def log_dir() -> Path:
    """The per-user folder for crash logs; see the module docstring."""
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Logs" / APP
    return state_dir()
