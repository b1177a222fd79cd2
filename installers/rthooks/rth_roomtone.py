"""PyInstaller runtime hook: runs inside the frozen app before any of its own code.

* ``NUMBA_CACHE_DIR``: numba's ``cache=True`` needs a writable folder and the app folder may be
  read-only (installed under /opt, Program Files, a signed .app). Point it to the per-user,
  per-version folder :func:`dsp.jit.default_cache_dir` uses, unless the user set it, with one
  subfolder per executable: in a frozen app numba stamps its cache entries with the running
  executable (``sys.executable``), so ``roomtone`` and ``roomtone-gui`` sharing one folder would
  keep invalidating each other's kernels. (The entry points call
  :func:`dsp.jit.configure_cache` too, which keeps what this hook set; ``tests/installers``
  checks the folders agree.)
* PortAudio on Linux: sounddevice asks ``ctypes.util.find_library("portaudio")``, which only
  looks at the system. When the app carries its own copy, answer with that path so a desktop
  without ``libportaudio2`` can still play audio; the system copy stays the fallback.
* ``QT_QPA_PLATFORM`` is left alone (the GUI's ``--self-test`` sets offscreen itself).

Keep this file free of imports from the app (nothing here may load numba or Qt).
"""

import os
import sys


def _numba_cache_dir(version):
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or os.path.join(
            os.path.expanduser("~"), "AppData", "Local"
        )
    elif sys.platform == "darwin":
        base = os.path.join(os.path.expanduser("~"), "Library", "Caches")
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(
        base, "roomtone", f"numba-{version}-py{sys.version_info[0]}{sys.version_info[1]}"
    )


def _roomtone_version():
    # dsp/__init__.py only defines __version__ (no numpy, no numba): cheap and safe to import.
    try:
        from dsp import __version__

        return __version__
    except Exception:  # noqa: BLE001 - never stop the app from starting over a cache folder name
        return "unknown"


def _install_portaudio_lookup():
    import ctypes.util

    meipass = getattr(sys, "_MEIPASS", None)
    if not (meipass and sys.platform.startswith("linux")):
        return
    bundled = os.path.join(meipass, "libportaudio.so.2")
    if not os.path.isfile(bundled):
        return  # built without it: the system's PortAudio (libportaudio2) is used
    system_find = ctypes.util.find_library

    def find_library(name):
        if name == "portaudio":
            return bundled
        return system_find(name)

    ctypes.util.find_library = find_library


if "NUMBA_CACHE_DIR" not in os.environ:
    _folder = _numba_cache_dir(_roomtone_version())
    if getattr(sys, "frozen", False):
        _folder = os.path.join(_folder, os.path.splitext(os.path.basename(sys.executable))[0])
    os.environ["NUMBA_CACHE_DIR"] = _folder
_install_portaudio_lookup()
