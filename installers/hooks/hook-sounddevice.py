"""PyInstaller hook: sounddevice and its PortAudio library (replaces the contrib hook).

* macOS / Windows: the pip wheel carries PortAudio in ``_sounddevice_data/portaudio-binaries``;
  collect it at the same place (sounddevice's fallback looks there).
* Linux: the wheel has no PortAudio; collect the system's ``libportaudio.so.2`` (Debian:
  ``libportaudio2``) into the top folder. The runtime hook ``rth_roomtone.py`` makes
  ``find_library("portaudio")`` answer with it. If it is missing at build time the build still
  works, audio output then needs the target's own ``libportaudio2`` (a warning says so).
"""

import ctypes.util
import os
import sys
from pathlib import Path

from PyInstaller.utils.hooks import get_module_file_attribute, logger

hiddenimports = ["_sounddevice", "_cffi_backend"]
binaries = []
datas = []

_module_dir = Path(get_module_file_attribute("sounddevice")).parent
_data_dir = _module_dir / "_sounddevice_data" / "portaudio-binaries"

if sys.platform in ("darwin", "win32"):
    if _data_dir.is_dir():
        for lib in _data_dir.glob("libportaudio*.*"):
            binaries.append((str(lib), "_sounddevice_data/portaudio-binaries"))
        for doc in ("README.md", "LICENSE.txt"):
            if (_data_dir / doc).is_file():
                datas.append((str(_data_dir / doc), "_sounddevice_data/portaudio-binaries"))
else:
    _name = ctypes.util.find_library("portaudio")  # e.g. "libportaudio.so.2"
    _found = None
    if _name:
        for folder in (
            "/lib/x86_64-linux-gnu",
            "/usr/lib/x86_64-linux-gnu",
            "/lib/aarch64-linux-gnu",
            "/usr/lib/aarch64-linux-gnu",
            "/usr/lib64",
            "/usr/lib",
            "/usr/local/lib",
        ):
            candidate = os.path.join(folder, _name)
            if os.path.isfile(candidate):
                _found = candidate
                break
    if _found:
        binaries.append((_found, "."))

if not binaries:
    logger.warning(
        "hook-sounddevice: no PortAudio library found; the frozen app will need the "
        "system's PortAudio (Debian: apt-get install libportaudio2)"
    )
