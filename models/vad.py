"""Voice activity: where speech is, with silero-vad's bundled model (nothing is downloaded).

Algorithm
---------
The audio (an array or a :class:`dsp.render.BlockSource`, read in blocks of ``block_s``) is mixed
to mono (channel mean) and resampled to 16 kHz with :func:`dsp.resample.resample_poly` (bit for
bit ``scipy.signal.resample_poly``); blocks are read with enough overlap that the result equals a
whole-file ``resample_poly`` to float precision. The 16 kHz stream is cut into 512-sample frames
(32 ms); the model gives each frame a speech probability, carrying its LSTM state and 64 samples
of context from frame to frame, so a one-hour file needs only its probabilities (112,500 floats)
in memory.

Model and backend: silero-vad's batched ONNX export (``silero_vad_16k_sequence.onnx``) through
onnxruntime, one call per 512 frames. It gives the probabilities of the stock TorchScript model
(``silero_vad.jit``) to 3e-6, and on this project's 2-core machine it ran at about 300x real time
against 1.8x for the TorchScript model called frame by frame (the 2-minute podcast file:
0.39 s against 69 s, under load). The TorchScript model through torch is the fallback when
onnxruntime is missing. CPU by default; ``device="auto"`` uses CUDA when the backend has it.
The model file is checked against ``assets/models.sha256`` before loading.

Segments: silero's own hysteresis (as ``get_speech_timestamps``): speech starts at the first
frame with probability ``>= threshold`` and ends once it stays below ``threshold - 0.15`` for
``min_silence_ms``; segments shorter than ``min_speech_ms`` are dropped; each is padded by
``speech_pad_ms`` on both sides (gaps shorter than twice the pad are split in the middle).
Each :class:`SpeechSegment` carries the mean probability of its frames. Times are seconds.

Importing this module registers the detector ``"silero"`` with
:mod:`models.speech_activity` (priority 10) when silero-vad and a backend are installed.
"""

from __future__ import annotations

import importlib.util
import math
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from dsp.errors import ParameterError
from models.versions import VAD_JIT, VAD_ONNX, ModelUnavailable, verified_model_path

#: The model's rate and frame (samples at 16 kHz).
VAD_RATE = 16000
FRAME = 512
CONTEXT = 64
FRAME_S = FRAME / VAD_RATE
#: Frames per onnxruntime call.
_BATCH_FRAMES = 512

_WHAT = "voice activity detection (silero-vad)"


@dataclass(frozen=True)
class SpeechSegment:
    """A stretch of speech: start and end in seconds, mean speech probability (0..1)."""

    start_s: float
    end_s: float
    probability: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class VadSettings:
    """How probabilities become segments (silero's defaults).

    Attributes
    ----------
    threshold : float
        A frame at or above this probability starts (or continues) speech.
    neg_threshold : float or None
        Below this (default ``threshold - 0.15``) a frame counts as silence inside speech.
    min_speech_ms : float
        Shorter speech segments are dropped.
    min_silence_ms : float
        Silence must last this long to end a segment.
    speech_pad_ms : float
        Padding added on both sides of each segment.
    """

    threshold: float = 0.5
    neg_threshold: float | None = None
    min_speech_ms: float = 250.0
    min_silence_ms: float = 100.0
    speech_pad_ms: float = 30.0

    def __post_init__(self) -> None:
        self.validate()  # every settings object is valid from birth (issue 20)

    def validate(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise ParameterError(f"VAD threshold must be between 0 and 1, got {self.threshold}")
        if self.neg_threshold is not None and not 0.0 < self.neg_threshold <= self.threshold:
            raise ParameterError(
                f"VAD neg_threshold must be in (0, threshold={self.threshold}], got {self.neg_threshold}"
            )
        for name in ("min_speech_ms", "min_silence_ms", "speech_pad_ms"):
            if getattr(self, name) < 0:
                raise ParameterError(f"VAD {name} must be >= 0, got {getattr(self, name)}")


# -- backends -------------------------------------------------------------------------------------
def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def available_backends() -> list[str]:
    """Backends that can run here, best first: ``"onnx"`` (onnxruntime), ``"torch"`` (TorchScript)."""
    out = []
    if _has("silero_vad"):
        if _has("onnxruntime"):
            out.append("onnx")
        if _has("torch"):
            out.append("torch")
    return out


class _OnnxModel:
    """The batched ONNX model: many frames per call, state passed explicitly."""

    def __init__(self, device: str) -> None:
        import onnxruntime as ort

        path = verified_model_path(*VAD_ONNX, what=_WHAT)
        opts = ort.SessionOptions()
        opts.inter_op_num_threads = 1
        opts.intra_op_num_threads = 1
        providers = ["CPUExecutionProvider"]
        if device in ("auto", "cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        elif device == "cuda":
            raise ModelUnavailable(f"{_WHAT}: device 'cuda' asked for, but onnxruntime has no CUDA provider here")
        self.session = ort.InferenceSession(str(path), sess_options=opts, providers=providers)
        self.device = "cuda" if providers[0].startswith("CUDA") else "cpu"
        self.lock = threading.Lock()

    def stream(self) -> Callable[[np.ndarray], np.ndarray]:
        h = np.zeros((1, 1, 128), np.float32)
        c = np.zeros((1, 1, 128), np.float32)
        ctx = np.zeros(CONTEXT, np.float32)

        def run(frames: np.ndarray) -> np.ndarray:  # (k, FRAME) -> (k,)
            nonlocal h, c, ctx
            k = frames.shape[0]
            probs = np.empty(k, np.float32)
            for i in range(0, k, _BATCH_FRAMES):
                f = frames[i : i + _BATCH_FRAMES]
                contexts = np.empty((f.shape[0], CONTEXT), np.float32)
                contexts[0] = ctx
                contexts[1:] = f[:-1, -CONTEXT:]
                with self.lock:
                    p, h, c = self.session.run(
                        ["speech_probs", "hn", "cn"], {"input": np.concatenate([contexts, f], axis=1), "h": h, "c": c}
                    )
                probs[i : i + f.shape[0]] = np.asarray(p).reshape(-1)
                ctx = f[-1, -CONTEXT:].copy()
            return probs

        return run


class _TorchModel:
    """silero's TorchScript model, frame by frame (its state lives inside the model)."""

    def __init__(self, device: str) -> None:
        import torch

        path = verified_model_path(*VAD_JIT, what=_WHAT)
        use_cuda = device in ("auto", "cuda") and torch.cuda.is_available()
        if device == "cuda" and not use_cuda:
            raise ModelUnavailable(f"{_WHAT}: device 'cuda' asked for, but torch sees no CUDA device")
        self.torch = torch
        self.dev = torch.device("cuda" if use_cuda else "cpu")
        self.device = self.dev.type
        with warnings.catch_warnings():  # torch 2.13 deprecates jit.load; the file is TorchScript
            warnings.simplefilter("ignore", DeprecationWarning)
            self.model = torch.jit.load(str(path), map_location=self.dev)
        self.model.eval()
        self.lock = threading.Lock()

    def stream(self) -> Callable[[np.ndarray], np.ndarray]:
        torch = self.torch
        first = [True]

        def run(frames: np.ndarray) -> np.ndarray:
            out = np.empty(frames.shape[0], np.float32)
            with self.lock, torch.no_grad():
                if first[0]:
                    self.model.reset_states()
                    first[0] = False
                for i in range(frames.shape[0]):
                    x = torch.from_numpy(np.ascontiguousarray(frames[i])).to(self.dev)
                    out[i] = float(self.model(x, VAD_RATE).item())
            return out

        return run


_MODELS: dict[tuple[str, str], Any] = {}
_MODELS_LOCK = threading.Lock()


def load_model(backend: str = "auto", device: str = "cpu"):
    """The silero-vad model for ``backend`` (``"auto"``, ``"onnx"``, ``"torch"``), cached per process.

    Raises
    ------
    ModelUnavailable
        silero-vad or the backend missing, or the model file not the expected one.
    """
    if device not in ("cpu", "cuda", "auto"):
        raise ParameterError(f"VAD device must be 'cpu', 'cuda' or 'auto', got {device!r}")
    backends = available_backends()
    if backend == "auto":
        if not backends:
            raise ModelUnavailable(
                f"{_WHAT} needs the packages silero-vad and onnxruntime (or torch), which are not installed; "
                "install them (pip install 'roomtone[models]'), or learn the room tone from a region "
                "(--learn A-B) or the energy-based automatic profile instead"
            )
        backend = backends[0]
    if backend not in ("onnx", "torch"):
        raise ParameterError(f"VAD backend must be 'auto', 'onnx' or 'torch', got {backend!r}")
    if backend not in backends:
        need = "onnxruntime" if backend == "onnx" else "torch"
        raise ModelUnavailable(f"{_WHAT}: backend {backend!r} needs silero-vad and {need}, not installed here")
    key = (backend, device)
    with _MODELS_LOCK:
        if key not in _MODELS:
            _MODELS[key] = _OnnxModel(device) if backend == "onnx" else _TorchModel(device)
        return _MODELS[key]


# -- reading and resampling ------------------------------------------------------------------------
def _as_source(audio: Any, sample_rate: int):
    from dsp.render import as_source

    return as_source(audio, sample_rate)


def _mono_16k_blocks(source, block_s: float):
    """Yield the source as mono 16 kHz float32 pieces (consecutive, gapless)."""
    from dsp.resample import resample_poly

    sr = int(source.sample_rate)
    total = int(source.frames)
    r = Fraction(VAD_RATE, sr)
    up, down = r.numerator, r.denominator
    if sr < 8000:
        raise ParameterError(f"voice activity detection needs at least 8 kHz audio, got {sr} Hz")
    step = max(down, int(block_s * sr) // down * down)
    # resample_poly's filter reaches 10*max(up, down)/up input samples either side.
    pad = (int(math.ceil(10 * max(up, down) / up)) + 2 + down - 1) // down * down if up != down else 0
    out_total = -(-total * up // down)
    emitted = 0
    for a in range(0, total, step):
        b = min(total, a + step)
        r0, r1 = max(0, a - pad), min(total, b + pad)
        x = np.asarray(source.read(r0, r1 - r0), np.float32)
        x = (x[0] if x.shape[0] == 1 else x.mean(axis=0)) if x.ndim == 2 else x  # one channel: its mean is itself
        if up == down:
            y = x
        else:
            y = resample_poly(x, up, down)  # float64, as scipy.signal.resample_poly of x in float64
            off = (a - r0) * up // down
            want = (-(-b * up // down)) - (a * up // down)
            y = y[off : off + want]
        y = np.asarray(y, np.float32)
        y = y[: out_total - emitted]
        emitted += y.size
        yield y


#: Seconds of audio a BlockSource is read in (``block_s``); batch sizes its stream to it.
READ_BLOCK_S = 60.0


class _prefetched:
    """Iterate ``items`` (a generator) one item ahead on a thread of its own.

    The voice activity model waits for nothing while the next block is read and resampled (about
    a third of its time an hour). The items are the same, in the same order. :meth:`close` stops
    the thread early; an exception in the generator is raised where the item would have been.
    """

    _END = object()

    def __init__(self, items: Any, depth: int = 1) -> None:
        import queue

        self._queue: Any = queue.Queue(maxsize=depth)
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(items,), name="roomtone-vad-read", daemon=True)
        self._thread.start()

    def _put(self, item: Any) -> bool:
        import queue

        while not self._closed.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, items: Any) -> None:
        try:
            for item in items:
                if not self._put((item, None)):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the reader
            self._put((self._END, exc))
            return
        self._put((self._END, None))

    def __iter__(self) -> _prefetched:
        return self

    def __next__(self) -> Any:
        item, error = self._queue.get()
        if item is self._END:
            self._thread.join()
            if error is not None:
                raise error
            raise StopIteration
        return item

    def close(self) -> None:
        self._closed.set()
        self._thread.join()


def speech_probabilities(
    audio: np.ndarray | Any,
    sample_rate: int,
    *,
    backend: str = "auto",
    device: str = "cpu",
    block_s: float = READ_BLOCK_S,
    progress: Callable[[int, int], None] | None = None,
    sink: Callable[[np.ndarray], None] | None = None,
    stop: Callable[[], bool] | None = None,
) -> np.ndarray:
    """Per-frame speech probabilities (frame ``i`` covers ``[i*0.032, (i+1)*0.032)`` s).

    Parameters
    ----------
    audio : ndarray ``(channels, samples)`` or ``(samples,)``, or BlockSource
        The recording (a BlockSource is streamed in blocks of ``block_s`` seconds).
    sample_rate : int
        Its rate, Hz (8 kHz or more).
    backend, device : str
        See :func:`load_model`.
    block_s : float
        Seconds read per block.
    progress : callable(done_samples, total_samples), optional
    sink : callable(probabilities), optional
        Receives each block's probabilities as soon as they are computed (consecutive); the
        return value is then empty (a :class:`dsp.presence.LiveSpeechTrack` holds them).
    stop : callable() -> bool, optional
        Polled between blocks; true stops early (what was computed so far is returned).

    Returns
    -------
    ndarray, float32, shape (ceil(duration / 0.032),)
    """
    src = _as_source(audio, sample_rate)
    model = load_model(backend, device)
    run = model.stream()
    probs: list[np.ndarray] = []
    carry = np.zeros(0, np.float32)
    done = 0
    keep = probs.append if sink is None else sink
    pieces = _prefetched(_mono_16k_blocks(src, block_s))  # reading and resampling beside the model
    for piece in pieces:
        if stop is not None and stop():
            pieces.close()
            break
        buf = np.concatenate([carry, piece]) if carry.size else piece
        k = buf.size // FRAME
        if k:
            keep(run(buf[: k * FRAME].reshape(k, FRAME)))
        carry = buf[k * FRAME :]
        done += piece.size
        if progress is not None:
            progress(min(src.frames, int(round(done * src.sample_rate / VAD_RATE))), src.frames)
    if carry.size and not (stop is not None and stop()):
        last = np.zeros((1, FRAME), np.float32)
        last[0, : carry.size] = carry
        keep(run(last))
    return np.concatenate(probs) if probs else np.zeros(0, np.float32)


def segments_from_probabilities(probs: np.ndarray, duration_s: float, settings: VadSettings = VadSettings()) -> list[SpeechSegment]:
    """silero's hysteresis (see the module notes) on per-frame probabilities; seconds out."""
    settings.validate()
    probs = np.asarray(probs, np.float64)
    thr = settings.threshold
    neg = settings.neg_threshold if settings.neg_threshold is not None else max(thr - 0.15, 0.01)
    min_speech = settings.min_speech_ms * 1e-3
    min_silence = settings.min_silence_ms * 1e-3
    pad = settings.speech_pad_ms * 1e-3
    raw: list[list[float]] = []
    triggered = False
    start = temp_end = 0.0
    have_temp = False
    for i, p in enumerate(probs):
        t = i * FRAME_S
        if p >= thr and have_temp:
            have_temp = False
        if p >= thr and not triggered:
            triggered, start = True, t
            continue
        if p < neg and triggered:
            if not have_temp:
                temp_end, have_temp = t, True
            if t - temp_end < min_silence:
                continue
            if temp_end - start > min_speech:
                raw.append([start, temp_end])
            triggered, have_temp = False, False
    if triggered and duration_s - start > min_speech:
        raw.append([start, duration_s])
    # padding, splitting short gaps in the middle (as silero does)
    for j, seg in enumerate(raw):
        if j == 0:
            seg[0] = max(0.0, seg[0] - pad)
        if j + 1 < len(raw):
            gap = raw[j + 1][0] - seg[1]
            if gap < 2 * pad:
                seg[1] += gap / 2
                raw[j + 1][0] = max(0.0, raw[j + 1][0] - gap / 2)
            else:
                seg[1] = min(duration_s, seg[1] + pad)
                raw[j + 1][0] = max(0.0, raw[j + 1][0] - pad)
        else:
            seg[1] = min(duration_s, seg[1] + pad)
    out = []
    for a, b in raw:
        i0, i1 = int(a / FRAME_S), max(int(a / FRAME_S) + 1, int(math.ceil(b / FRAME_S)))
        p = float(np.mean(probs[i0:i1])) if i1 > i0 and i0 < probs.size else 0.0
        out.append(SpeechSegment(round(a, 4), round(b, 4), round(p, 4)))
    return out


def detect_speech(
    audio: np.ndarray | Any,
    sample_rate: int,
    *,
    threshold: float = 0.5,
    min_speech_ms: float = 250.0,
    min_silence_ms: float = 100.0,
    speech_pad_ms: float = 30.0,
    backend: str = "auto",
    device: str = "cpu",
    block_s: float = READ_BLOCK_S,
    progress: Callable[[int, int], None] | None = None,
) -> list[SpeechSegment]:
    """Speech segments of ``audio`` with silero-vad.

    Parameters
    ----------
    audio : ndarray ``(channels, samples)`` or ``(samples,)``, or BlockSource
        The recording; a :class:`dsp.render.BlockSource` (e.g. :class:`dsp.io.AudioReader`) is
        read in blocks, so long files use bounded memory.
    sample_rate : int
        Its rate, Hz (any rate of 8 kHz or more; resampled to 16 kHz inside).
    threshold, min_speech_ms, min_silence_ms, speech_pad_ms
        See :class:`VadSettings`.
    backend : {"auto", "onnx", "torch"}
        ``"auto"``: onnxruntime if installed, else torch.
    device : {"cpu", "auto", "cuda"}
        ``"auto"`` uses CUDA when the backend has it.
    block_s : float
        Seconds read per block.
    progress : callable(done_samples, total_samples), optional

    Returns
    -------
    list of SpeechSegment
        Sorted, non-overlapping, in seconds.

    Raises
    ------
    ModelUnavailable
        The model or its backend is missing (the message says how to do without).
    ParameterError
        Bad settings or input.
    """
    settings = VadSettings(threshold=threshold, min_speech_ms=min_speech_ms, min_silence_ms=min_silence_ms,
                           speech_pad_ms=speech_pad_ms)
    settings.validate()
    src = _as_source(audio, sample_rate)
    probs = speech_probabilities(src, sample_rate, backend=backend, device=device, block_s=block_s, progress=progress)
    return segments_from_probabilities(probs, src.frames / src.sample_rate, settings)


def speech_regions(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """The :mod:`models.speech_activity` detector interface: ``(n, 2)`` float64 regions in seconds."""
    segs = detect_speech(audio, sample_rate)
    return np.array([(s.start_s, s.end_s) for s in segs], np.float64).reshape(-1, 2)


def non_speech_regions(segments: list[SpeechSegment], duration_s: float, *, guard_s: float = 0.0,
                       min_length_s: float = 0.0) -> list[tuple[float, float]]:
    """The complement of ``segments`` in ``[0, duration_s]``, each side shrunk by ``guard_s``.

    Stretches shorter than ``min_length_s`` (after shrinking) are left out.
    """
    out = []
    t = 0.0
    bounds = [(s.start_s, s.end_s) for s in sorted(segments, key=lambda s: s.start_s)] + [(duration_s, duration_s)]
    for a, b in bounds:
        lo = t + (guard_s if t > 0 else 0.0)
        hi = a - (guard_s if a < duration_s else 0.0)
        if hi - lo >= max(min_length_s, 1e-9):
            out.append((round(lo, 4), round(hi, 4)))
        t = max(t, b)
    return out


def _register() -> None:
    if not available_backends():
        return
    from models.speech_activity import register_detector

    register_detector("silero", speech_regions, priority=10)


_register()
