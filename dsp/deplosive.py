"""De-plosive: find low-frequency pops at plosive onsets and take them out with a dynamic high-pass
(stage kind ``deplosive``).

What and why
------------
A "p" or "b" spoken close to the microphone blows a puff of air onto the capsule: a thump of
10-80 ms whose energy sits below about 200 Hz, at the start of a word. A static high-pass at
200 Hz would remove it, and the voice's fundamental and warmth with it (a male voice's F0 is
85-180 Hz). A de-plosive (RX De-plose, a dynamic high-pass in a broadcast chain) cuts the low band
only while the pop lasts.

Algorithm
---------
Detection (:func:`detect_pops`, the stage's ``analyse`` hook; whole-file knowledge, data) streams
the source once (the mean of the channels, stereo linked) through low-passes at ``cutoff_hz`` and
half of it and a high-pass at twice it (4th-order Butterworth, state carried across blocks) and
keeps their energy per 5 ms hop (three floats per hop: 0.9 MB an hour). Per 10 ms frame (two hops) it compares:

* the frame's *low-band level* with the voice's own: the median low-band level of the active
  frames (those within :data:`ACTIVE_DB` of the loud end of the high band). A pop stands at
  least ``pop_level_db`` over it;
* the frame's *low-to-high ratio* (the band under half the cutoff against the band over twice
  it) with the voice's typical ratio (the 90th percentile over active frames, so a deep voice's
  strong fundamental is its normal): a pop's low band jumps and the high band does not follow,
  so the ratio stands ``pop_ratio_db`` over the typical one. The ratio uses the lower half of
  the band, where an air blast puts its energy and a voice's fundamental rarely is (with the
  whole band under 200 Hz a male voice's F0 sets the typical ratio so high that pops at its
  level were missed: 19 of 63 on the held-out half; on the tuning half the lower half found 39
  of 40 pops against 37, with 3 false ones on the clean speech against 3);
* an *onset*: the low band at the run's loudest frame is at least ``pop_jump_db`` over the quietest
  frame of the :data:`ONSET_MS` before it (a pop starts abruptly; a voice's low band rises with
  the vowel).

* a *low* thump: the run's energy under half the cutoff is at least :data:`SUB_SHARE_DB` against
  its energy between half the cutoff and the cutoff (a voice's fundamental dipping under the
  cutoff is concentrated at its top; an air blast on the capsule is mostly under 100 Hz).

Runs of such frames of :data:`MIN_POP_MS` to ``max_pop_ms`` are pops; their span is widened by
:data:`PAD_BEFORE_MS` and :data:`PAD_AFTER_MS` (the burst's tail).

Removal (:class:`PopSuppressor`, a time-domain processor) splits the signal into a linear-phase
low band (a windowed-sinc FIR low-pass at ``cutoff_hz``, :func:`lowpass_fir`) and its exact
complement (the delayed input minus the low band): ``y = x - w(n) * low(x)``, with ``w`` 0
outside the pops (the output is the delayed input, bit for bit, and the voice's fundamental is
untouched) and ``1 - 10^(-max_reduction_db/20)`` inside, with raised-cosine ramps of
:data:`RAMP_MS` at the edges: a high-pass that only acts on the pop. The low band is computed only
where ``w > 0`` (pops are rare), so the stage costs next to nothing elsewhere. Latency is half the
FIR's length; the render from any playhead equals the full render (the FIR has finite memory).

Units: levels and thresholds in dB; frequencies in Hz; times in ms; events in seconds.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any, ClassVar

import numpy as np
import scipy.signal

from dsp.chain import BuildContext, StageKind, register
from dsp.engine import AudioSpec, Processor, check_block
from dsp.errors import ParameterError
from dsp.events import SpanMap, events_key
from dsp.jit import realtime_kernel
from dsp.schema import check_settings, setting

#: Detection hop (ms); frames are two hops.
HOP_MS = 5.0
#: Active frames: the high band within this many dB of its 95th percentile.
ACTIVE_DB = 35.0
#: Shortest pop (ms).
MIN_POP_MS = 10.0
#: The onset test looks this far (ms) back from the pop's loudest frame.
ONSET_MS = 60.0
#: Event spans start this much (ms) before the first pop frame and end this much after the last.
PAD_BEFORE_MS = 5.0
PAD_AFTER_MS = 10.0
#: A pop's energy below half the cutoff must be at least this (dB) against its energy between half
#: the cutoff and the cutoff (a pop is a thump under ~100 Hz; a voice's fundamental at 150-200 Hz
#: dipping into the band is not a pop). -10 dB: the voice under a pop counts too (tuning half: 37 of 40
#: pops kept, false pops on the clean speech 6 -> 3).
SUB_SHARE_DB = -10.0
#: A pop's span goes on while its low band stays within this many dB of its peak (and over the voice's).
EXTEND_DB = 20.0
#: Raised-cosine ramps at the span's edges (ms), outside the span.
RAMP_MS = 5.0
#: FIR length in periods of the cutoff frequency (sets the transition band: about cutoff / 2).
FIR_PERIODS = 8.0


@dataclass(frozen=True)
class DeplosiveSettings:
    """Plosive-pop detection and removal.

    Attributes
    ----------
    pop_ratio_db : float
        How far (dB) a pop frame's low-to-high band ratio (under half the cutoff against over
        twice it) must stand over the voice's typical ratio. Lower finds more (and softer) pops.
    pop_level_db : float
        How far (dB) a pop frame's low band must stand over the voice's median low-band level.
    pop_jump_db : float
        How far (dB) the low band must jump at the pop over the quietest frame shortly before it.
    cutoff_hz : float
        The dynamic high-pass's cutoff: the band below it is the pop's.
    max_reduction_db : float
        How much the low band is lowered during a pop.
    max_pop_ms : float
        Longest low-frequency burst taken for a pop.
    """

    pop_ratio_db: float = setting(10.0, lo=0.0, hi=40.0, unit="dB",
                                 doc="A pop's low band stands this far over the voice's own low-band level.")
    pop_level_db: float = setting(0.0, lo=-20.0, hi=30.0, unit="dB",
                                 doc="A pop's low band is at least this loud relative to the voice's speech level.")
    pop_jump_db: float = setting(10.0, lo=0.0, hi=40.0, unit="dB",
                                doc="A pop starts with a low-band jump of at least this much (an onset).")
    cutoff_hz: float = setting(200.0, lo=60.0, hi=400.0, unit="Hz",
                              doc="The dynamic high-pass takes out the band below this during a pop.")
    max_reduction_db: float = setting(24.0, lo=0.0, hi=60.0, unit="dB",
                                     doc="The most the low band is lowered during a pop.")
    max_pop_ms: float = setting(100.0, lo=MIN_POP_MS, hi=300.0, unit="ms",
                               doc="Longest low-band burst taken for a pop.")

    def __post_init__(self) -> None:
        check_settings(self, "deplosive")


@dataclass(frozen=True)
class PopMap(SpanMap):
    """The pops found in a recording (whole-file knowledge: data): the treated spans,
    ``strength_db`` each pop's low-band level over the voice's median (:class:`~dsp.events.SpanMap`;
    events of kind ``"pop"``), and the voice's own low band."""

    voice_lf_db: float = float("nan")  # the voice's median low-band level (dBFS)
    voice_ratio_db: float = float("nan")  # its typical low-to-high band ratio (dB)

    event_kind: ClassVar[str] = "pop"

    def summary(self) -> dict:
        return {"pops": len(self), "sample_rate": self.sample_rate,
                "voice_lf_db": _r(self.voice_lf_db), "voice_ratio_db": _r(self.voice_ratio_db),
                "first": self.first_spans(5, 3)}

    def to_dict(self) -> dict:
        return {**self.spans_dict(), "voice_lf_db": _r(self.voice_lf_db), "voice_ratio_db": _r(self.voice_ratio_db)}

    @classmethod
    def from_dict(cls, d: dict) -> PopMap:
        return cls(*SpanMap.spans_from_dict(d), float(d.get("voice_lf_db", "nan")), float(d.get("voice_ratio_db", "nan")))


def _r(v: float) -> float | str:
    return round(float(v), 2) if math.isfinite(v) else str(v)


# -- detection ------------------------------------------------------------------------------------
def band_energies(source: Any, cutoff_hz: float, *, block: int = 1 << 16) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Per-hop mean power of the low band (below ``cutoff_hz``), its lower half (below half of
    it) and the high band (above twice it) of the channel mean: ``(low, sub, high, hop)``;
    streams the source once."""
    sr = int(source.sample_rate)
    hop = max(1, int(round(HOP_MS * sr / 1000.0)))
    bands = [scipy.signal.butter(4, cutoff_hz, "lowpass", fs=sr, output="sos"),
             scipy.signal.butter(4, 0.5 * cutoff_hz, "lowpass", fs=sr, output="sos"),
             scipy.signal.butter(4, min(2.0 * cutoff_hz, 0.45 * sr), "highpass", fs=sr, output="sos")]
    states = [np.zeros((sos.shape[0], 2)) for sos in bands]
    total = int(source.frames)
    n_hops = total // hop
    out = [np.zeros(n_hops, np.float32) for _ in bands]
    block = max(hop, block // hop * hop)
    for s in range(0, n_hops * hop, block):
        n = min(block, n_hops * hop - s)
        x = np.mean(np.asarray(source.read(s, n), np.float64), axis=0)
        k = s // hop
        for i, sos in enumerate(bands):
            y, states[i] = scipy.signal.sosfilt(sos, x, zi=states[i])
            out[i][k : k + n // hop] = np.mean((y * y).reshape(-1, hop), axis=1)
    return out[0], out[1], out[2], hop


def detect_pops(source: Any, settings: DeplosiveSettings = DeplosiveSettings()) -> PopMap:
    """Find plosive pops in ``source`` (a BlockSource, read once in blocks). See the module docstring."""
    sr = int(source.sample_rate)
    low, sub, high, hop = band_energies(source, settings.cutoff_hz)
    empty = PopMap(sr, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32))
    if low.size < 4:
        return empty
    # 10 ms frames (two hops), frame j covers hops j and j+1
    lf = 10.0 * np.log10(np.maximum(low[:-1] + low[1:], 1e-20) / 2.0)
    hf = 10.0 * np.log10(np.maximum(high[:-1] + high[1:], 1e-20) / 2.0)
    active = hf > np.percentile(hf, 95) - ACTIVE_DB
    if active.sum() < 10:
        return empty
    voice_lf = float(np.median(lf[active]))
    sf = 10.0 * np.log10(np.maximum(sub[:-1] + sub[1:], 1e-20) / 2.0)
    ratio = sf - hf  # the pop's own band (a male voice's fundamental fills the band under the cutoff)
    voice_ratio = float(np.percentile(ratio[active], 90))
    cand = (lf > voice_lf + settings.pop_level_db) & (ratio > voice_ratio + settings.pop_ratio_db)
    hop_ms = 1000.0 * hop / sr
    back = max(1, int(round(ONSET_MS / hop_ms)))
    min_frames = max(1, int(round(MIN_POP_MS / hop_ms)) - 1)  # a frame spans two hops
    max_frames = max(min_frames, int(round(settings.max_pop_ms / hop_ms)) - 1)
    idx = np.flatnonzero(cand)
    starts, ends, strength = [], [], []
    if idx.size:
        breaks = np.flatnonzero(np.diff(idx) > 2)  # one-frame gaps are bridged
        firsts = np.concatenate([idx[:1], idx[breaks + 1]])
        lasts = np.concatenate([idx[breaks], idx[-1:]])
        for f, la in zip(firsts, lasts, strict=True):
            n = la - f + 1
            if not min_frames <= n <= max_frames:
                continue
            # a thump of air sits low in the band; a voice's fundamental dipping under the cutoff
            # sits high in it (a run whose lower half holds much less than its upper half is the voice)
            lower = float(np.sum(sub[f : la + 2]))
            upper = max(float(np.sum(low[f : la + 2])) - lower, 1e-30)
            if 10.0 * math.log10(max(lower, 1e-30) / upper) < SUB_SHARE_DB:
                continue
            peak = f + int(np.argmax(lf[f : la + 1]))
            before = lf[max(0, f - back) : f]
            if before.size and lf[peak] - float(np.min(before)) < settings.pop_jump_db:
                continue
            # the pop goes on while its low band stays up and the high band still does not follow
            # (the ratio over the voice's typical one: a vowel's own low band is not the pop)
            floor = max(voice_lf + settings.pop_level_db, float(lf[peak]) - EXTEND_DB)
            while (la + 1 < lf.size and la - f + 1 < max_frames and lf[la + 1] > floor
                   and ratio[la + 1] > voice_ratio):
                la += 1
            starts.append(f * hop - int(round(PAD_BEFORE_MS * sr / 1000.0)))
            ends.append((la + 2) * hop + int(round(PAD_AFTER_MS * sr / 1000.0)))
            strength.append(float(lf[peak]) - voice_lf)
    a = np.clip(np.array(starts, np.int64), 0, int(source.frames))
    b = np.clip(np.array(ends, np.int64), 0, int(source.frames))
    s = np.array(strength, np.float32)
    if a.size > 1:  # join overlapping spans
        keep_a, keep_b, keep_s = [int(a[0])], [int(b[0])], [float(s[0])]
        for x0, x1, st in zip(a[1:], b[1:], s[1:], strict=True):
            if x0 <= keep_b[-1]:
                keep_b[-1], keep_s[-1] = max(keep_b[-1], int(x1)), max(keep_s[-1], float(st))
            else:
                keep_a.append(int(x0))
                keep_b.append(int(x1))
                keep_s.append(float(st))
        a, b, s = np.array(keep_a, np.int64), np.array(keep_b, np.int64), np.array(keep_s, np.float32)
    return PopMap(sr, a, b, s, voice_lf, voice_ratio)


# -- removal --------------------------------------------------------------------------------------
def lowpass_fir(cutoff_hz: float, sample_rate: int) -> np.ndarray:
    """The low band's linear-phase FIR (odd length, float64): a Kaiser windowed sinc of about
    :data:`FIR_PERIODS` periods of the cutoff."""
    n = int(round(FIR_PERIODS * sample_rate / cutoff_hz)) | 1
    return scipy.signal.firwin(n, cutoff_hz, window=("kaiser", 8.0), fs=sample_rate).astype(np.float64)


@realtime_kernel
def _duck_low_band(buf, h, w, out):  # pragma: no cover - compiled
    """``out[c, i] = buf[c, i + D] - w[i] * sum_k h[k] buf[c, i + k]`` with ``D = (len(h) - 1) // 2``;
    where ``w[i] == 0`` the delayed input passes bit for bit. ``buf`` ``(channels, m + len(h) - 1)``."""
    c_n = buf.shape[0]
    m = w.shape[0]
    taps = h.shape[0]
    d = (taps - 1) // 2
    for c in range(c_n):
        for i in range(m):
            x = buf[c, i + d]
            if w[i] == 0.0:
                out[c, i] = x
            else:
                acc = 0.0
                for k in range(taps):
                    acc += h[k] * buf[c, i + k]
                out[c, i] = np.float32(np.float64(x) - w[i] * acc)


def duck_low_band(buf: np.ndarray, h: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Validate and run :func:`_duck_low_band`: ``buf`` float32 ``(channels, len(w) + len(h) - 1)``."""
    if buf.ndim != 2 or buf.dtype != np.float32:
        raise ParameterError(f"expected float32 (channels, samples), got {buf.dtype} {buf.shape}")
    h = np.ascontiguousarray(h, np.float64)
    w = np.ascontiguousarray(w, np.float64)
    if h.ndim != 1 or h.size % 2 == 0 or w.ndim != 1 or buf.shape[1] != w.size + h.size - 1:
        raise ParameterError(f"duck_low_band: need an odd FIR and {w.size} + {h.size} - 1 samples, got {buf.shape[1]}")
    out = np.empty((buf.shape[0], w.size), np.float32)
    _duck_low_band(np.ascontiguousarray(buf), h, w, out)
    return out


def weights(pops: PopMap, start: int, n: int, depth: float, ramp: int) -> np.ndarray:
    """``w`` at absolute samples ``[start, start + n)``: ``depth`` inside each pop's span, raised-cosine
    ramps of ``ramp`` samples outside its edges, 0 elsewhere (overlaps take the larger)."""
    w = np.zeros(n, np.float64)
    if pops.starts.size == 0 or depth == 0.0:
        return w
    i0 = int(np.searchsorted(pops.ends, start - ramp, side="right"))
    i1 = int(np.searchsorted(pops.starts, start + n + ramp, side="left"))
    t = np.arange(start, start + n)
    for i in range(i0, i1):
        a, b = int(pops.starts[i]), int(pops.ends[i])
        d = np.where(t < a, (a - t) / max(ramp, 1), np.where(t >= b, (t - b + 1) / max(ramp, 1), 0.0))
        shape = np.where(d >= 1.0, 0.0, 0.5 + 0.5 * np.cos(np.pi * np.minimum(d, 1.0)))
        w = np.maximum(w, depth * shape)
    return w


class PopSuppressor(Processor):
    """Lowers the band under ``cutoff_hz`` during the spans of a :class:`PopMap` (stage kind
    ``deplosive``); elsewhere a pure delay. ``pops`` None (no analysis) or empty: a pure delay."""

    def __init__(self, settings: DeplosiveSettings = DeplosiveSettings(), *, pops: PopMap | None = None) -> None:
        self.settings = settings
        self.pops = pops
        self._h = np.ones(1)
        self._pos = 0

    @property
    def latency(self) -> int:
        return (self._h.size - 1) // 2

    @property
    def preroll(self) -> int:
        return self._h.size

    def prepare(self, spec: AudioSpec) -> None:
        self.spec = spec
        if self.pops is not None and int(self.pops.sample_rate) != int(spec.sample_rate):
            raise ParameterError(f"the pops were found at {self.pops.sample_rate} Hz but the audio is at "
                                 f"{spec.sample_rate} Hz; analyse the file again")
        self._h = lowpass_fir(min(self.settings.cutoff_hz, 0.45 * spec.sample_rate), spec.sample_rate)
        self._depth = 1.0 - 10.0 ** (-self.settings.max_reduction_db / 20.0)
        self._ramp = max(1, int(round(RAMP_MS * spec.sample_rate / 1000.0)))
        self.reset()

    def reset(self, *, position: int = 0) -> None:
        channels = self.spec.channels if self.spec else 1
        self._pos = int(position)
        self._buf = np.zeros((channels, self._h.size - 1), np.float32)  # the last len(h) - 1 inputs

    def process(self, block: np.ndarray) -> np.ndarray:
        spec = self._require_spec()
        block = check_block(block, spec.channels)
        n = block.shape[1]
        buf = np.concatenate([self._buf, block], axis=1)
        # output sample i is input sample pos - latency + i, the centre of buf[:, i : i + len(h)]
        start = self._pos - self.latency
        w = weights(self.pops, start, n, self._depth, self._ramp) if self.pops is not None else np.zeros(n)
        if np.any(w):
            out = duck_low_band(buf, self._h, w)
        else:
            d = self.latency
            out = np.ascontiguousarray(buf[:, d : d + n])
        self._buf = buf[:, buf.shape[1] - (self._h.size - 1) :].copy()
        self._pos += n
        return out

    def describe(self) -> dict:
        return {"type": "PopSuppressor", "settings": asdict(self.settings),
                "pops": None if self.pops is None else self.pops.summary()}


#: Where the analysis puts the pops in ``BuildContext.extras`` (a :class:`PopMap`).
EVENTS_KEY = events_key("deplosive")


def _analyse(source: Any, settings: DeplosiveSettings, context: BuildContext) -> BuildContext:
    return replace(context, extras={**context.extras, EVENTS_KEY: detect_pops(source, settings)})


def _factory(settings: DeplosiveSettings, context: BuildContext) -> PopSuppressor:
    return PopSuppressor(settings, pops=context.extras.get(EVENTS_KEY))


DEPLOSIVE = register(StageKind(
    name="deplosive", label="De-plosive", settings_cls=DeplosiveSettings, domain="time", factory=_factory,
    description="Finds low-frequency pops at plosive onsets (below about 200 Hz, 10-80 ms) and lowers the low "
                "band only while they last (a dynamic high-pass); the voice's fundamental is left alone elsewhere",
    needs_profile=False, role="repair", analyse=_analyse, placement=14,
))
