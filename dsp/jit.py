"""The one place that defines numba's JIT flags and its on-disk cache.

Kernels elsewhere are private (``_name``), take preallocated outputs, and are wrapped by a
numpy function that validates input. Every kernel has a slow numpy reference in the tests, and
the test suite can run with ``NUMBA_DISABLE_JIT=1`` for coverage.

``cache=True`` needs a writable folder: unless the caller set ``NUMBA_CACHE_DIR``, we point it
to a per-version user cache folder *before* numba is imported, so an installed (read-only)
package still works. The cache index ignores ``parallel=``/``fastmath=``: never wrap one
Python function twice with different flags (ENVIRONMENT.md).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def default_cache_dir() -> Path:
    """Per-user, per-version numba cache folder (XDG on Linux, the usual places elsewhere)."""
    from dsp import __version__

    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "roomtone" / f"numba-{__version__}-py{sys.version_info[0]}{sys.version_info[1]}"


def configure_cache() -> None:
    """Set ``NUMBA_CACHE_DIR`` unless the environment already did (entry points call this)."""
    if "NUMBA_CACHE_DIR" not in os.environ:
        os.environ["NUMBA_CACHE_DIR"] = str(default_cache_dir())


configure_cache()

import numba  # noqa: E402  (the cache folder must be set before numba reads its config)

#: Flags for kernels that may run in the monitoring feeder thread: no GIL, cached, exact math
#: (fastmath would make results depend on vectorisation and break block-size invariance).
REALTIME_FLAGS = dict(cache=True, nogil=True, fastmath=False, error_model="numpy")


def realtime_kernel(fn):
    """Compile ``fn`` with :data:`REALTIME_FLAGS`."""
    return numba.njit(**REALTIME_FLAGS)(fn)
