"""True peak (oversampled) and the look-ahead true-peak limiter, streaming, in blocks.

Algorithms
----------
*True peak* (BS.1770-4 Annex 2, on a grid that holds every independent meter's): the signal is
oversampled by :func:`oversampling_factor` (48 kHz: 4x, 16 kHz: 12x, 8 kHz: 24x, 44.1 kHz: 10x)
with a polyphase Kaiser-windowed sinc of 49 taps per phase (history carried across blocks), and
the largest absolute value of the oversampled signal is taken, in dBTP. BS.1770's 48-tap filter
(passband to 0.8 of Nyquist) and a 4x grid at every rate under-read content near Nyquist (4 dB
at 0.9 of Nyquist) and peaks between grid points that ffmpeg's 192 kHz grid sees, so 8-44.1 kHz
files passed our limiter and failed ffmpeg's meter. Stretches that cannot reach the level of
interest (the running peak, the limiter's ceiling) are skipped.

*Limiter* (:class:`TruePeakLimiter`): a look-ahead, channel-linked limiter on the oversampled
peak. For every sample the required gain ``r = min(1, ceiling / peak)`` is computed from the
oversampled peaks around it; ``m`` is the minimum of ``r`` over the next ``L`` samples (the
look-ahead), ``h`` follows ``m`` down at once and recovers towards 1 with the release time
constant, and the applied gain is the ``L``-sample moving average of ``h``. Every averaged ``h``
window contains the sample itself, so the applied gain never exceeds that sample's required
gain (peaks are caught, not clipped), and the gain changes smoothly over ``L`` samples
(the attack). The internal ceiling sits ``margin_db`` under the requested one to cover
interpolation between samples whose gains differ slightly. Memory is bounded by one block plus
the look-ahead; the result does not depend on the block size.

:class:`TruePeakLimiterProcessor` is the same limiter on the engine contract
(:class:`dsp.engine.Processor`): same-length blocks, its delay reported as ``latency`` so that
:func:`dsp.render.render_blocks` trims it like any other stage's.

Units: peaks in dBTP / dBFS, times in ms.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import NamedTuple

import numpy as np
import scipy.signal

from dsp.engine import AudioSpec, Processor, check_block
from dsp.errors import ParameterError
from dsp.jit import realtime_kernel

# -- oversampling --------------------------------------------------------------------------------------
#: The lowest oversampling factor (BS.1770-4's).
OVERSAMPLE = 4
#: ffmpeg's ebur128 meters true peak at this rate (its resampler's grid).
REFERENCE_RATE = 192000
#: Rates that do not divide :data:`REFERENCE_RATE` are oversampled to at least this.
OVERSAMPLED_RATE = 384000
#: Interpolator half-length in input samples (each phase has ``2 * _TP_HALF + 1`` taps).
_TP_HALF = 24
_TP_BETA = 5.0


def oversampling_factor(sample_rate: int) -> int:
    """Oversampling factor of the true-peak detector at ``sample_rate`` (at least 4).

    Between two points of the oversampled grid a peak can hide (at 4x, content at 0.9 of Nyquist
    reads up to 0.55 dB low), so the grid must hold every point an independent meter looks at:
    where the rate divides 192 kHz (ffmpeg's grid; scipy's 4x is then a subset too) the factor is
    the smallest multiple of ``192000 / rate`` that is at least 4 (48 kHz: 4, 16 kHz: 12, 8 kHz:
    24); other rates (44.1 kHz families), whose grids do not line up, get an even factor reaching
    384 kHz (44.1 kHz: 10, 22.05 kHz: 18), which bounds the grid error under 0.1 dB. Chunks of the
    signal that cannot reach the level of interest are skipped (:func:`_group_peaks`).
    """
    sample_rate = int(sample_rate)
    if REFERENCE_RATE % sample_rate == 0:
        base = REFERENCE_RATE // sample_rate
        return base * int(math.ceil(OVERSAMPLE / base))
    factor = max(OVERSAMPLE, int(math.ceil(OVERSAMPLED_RATE / float(sample_rate))))
    return factor + (factor % 2)


#: Taps either side of the centre that the quick first look at a chunk uses (:func:`_group_peaks`).
_TP_NEAR = 5


class _Interpolator(NamedTuple):
    """The true-peak interpolator for one factor (see :func:`_interpolator`)."""

    filter: np.ndarray  # the full filter
    phases: np.ndarray  # (factor, taps) polyphase matrix
    l1: float  # largest per-phase L1 norm
    near: tuple[int, int]  # [lo, hi): the taps of each phase the first look uses
    far_l1: float  # largest per-phase L1 norm of the other taps


@lru_cache(maxsize=16)
def _interpolator(factor: int) -> _Interpolator:
    """The polyphase interpolator of ``factor``, with its bounds (:class:`_Interpolator`).

    A Kaiser-windowed sinc (beta 5) with its cutoff at the input's Nyquist frequency and ``2 *
    factor * _TP_HALF + 1`` taps: phase 0 reproduces the samples exactly (an L-th band filter), and
    the passband reaches about 0.94 of Nyquist (the old 48-tap design stopped at 0.8 and read a
    burst at 0.9 of Nyquist 4 dB low).
    """
    taps = 2 * factor * _TP_HALF + 1
    h = scipy.signal.firwin(taps, 1.0 / factor, window=("kaiser", _TP_BETA)) * factor
    per_phase = 2 * _TP_HALF + 1
    phases = np.zeros((factor, per_phase), np.float64)
    for p in range(factor):
        sub = h[p::factor]
        phases[p, : sub.size] = sub
    lo, hi = _TP_HALF - _TP_NEAR, _TP_HALF + _TP_NEAR + 1
    far = np.abs(phases).sum(axis=1) - np.abs(phases[:, lo:hi]).sum(axis=1)
    return _Interpolator(h.astype(np.float64), np.ascontiguousarray(phases), float(np.abs(phases).sum(axis=1).max()),
                         (lo, hi), float(far.max()))


#: Oversampled values are computed in chunks of this many input positions.
_CHUNK = 16


@realtime_kernel
def _group_peaks(x_ext, phases, floor, bound_gain, near_lo, near_hi, far_gain, acc, seg, out):  # pragma: no cover
    # out[o] = max over channels and phases of |oversampled value| for input position o, in chunks
    # of _CHUNK; a chunk whose values cannot exceed `floor` gets 0 instead (the caller only needs
    # the values above `floor`). Two looks decide that before the full filter runs:
    #  1. the largest |input| the chunk reads times the filter's L1 norm (`bound_gain`), from the
    #     per-segment maxima `seg` (each input sample is looked at once, not once per chunk);
    #  2. the chunk filtered by the taps near the centre only (`near_lo:near_hi`), plus what the
    #     others can add at most (that largest |input| times their L1 norm, `far_gain`), with a
    #     relative margin far above the rounding of either sum.
    # Chunks that pass both are filtered in full, as always: the values kept are exact, and the
    # result is what the full filter alone gives. The loops are ordered so the innermost one
    # (over o) is independent and vectorises.
    n_ch = x_ext.shape[0]
    taps = phases.shape[1]
    n = out.shape[0]
    chunk = _CHUNK
    m = x_ext.shape[1]
    # seg[k]: largest |x_ext| over all channels at positions 1 + chunk*k ... chunk*(k+1) (clipped)
    for k in range(seg.shape[0]):
        a = 1 + chunk * k
        b = min(m, a + chunk)
        big = 0.0
        for c in range(n_ch):
            for i in range(a, b):
                v = abs(x_ext[c, i])
                if v > big:
                    big = v
        seg[k] = big
    span = (chunk + taps - 2) // chunk + 1  # segments the window [o0 + 1, o1 + taps) of a chunk touches
    for o0 in range(0, n, chunk):
        o1 = min(n, o0 + chunk)
        for o in range(o0, o1):
            out[o] = 0.0
        q = o0 // chunk
        big = 0.0
        for k in range(q, min(seg.shape[0], q + span)):
            if seg[k] > big:
                big = seg[k]
        if big * bound_gain <= floor:
            continue
        near = 0.0
        for c in range(n_ch):
            for p in range(phases.shape[0]):
                for o in range(o0, o1):
                    acc[o] = 0.0
                for j in range(near_lo, near_hi):
                    h = phases[p, j]
                    base = taps - j
                    for o in range(o0, o1):
                        acc[o] += h * x_ext[c, base + o]
                for o in range(o0, o1):
                    v = abs(acc[o])
                    if v > near:
                        near = v
        if (near + big * far_gain) * (1.0 + 1e-9) <= floor:
            continue
        for c in range(n_ch):
            for p in range(phases.shape[0]):
                for o in range(o0, o1):
                    acc[o] = 0.0
                for j in range(taps):
                    h = phases[p, j]
                    if h == 0.0:
                        continue
                    base = taps - j
                    for o in range(o0, o1):
                        acc[o] += h * x_ext[c, base + o]
                for o in range(o0, o1):
                    v = abs(acc[o])
                    if v > out[o]:
                        out[o] = v


class Oversampler:
    """Streaming oversampled peak detection of ``(channels, n)`` blocks (history carried over).

    The factor is :func:`oversampling_factor` of the rate (at least 4). :meth:`peaks` returns, for
    each input position ``j`` of the block, the largest absolute value over all channels of the
    oversampled values ``factor * j + p``; in the whole stream those sit at input times
    ``j + p / factor - delay`` with :attr:`delay` = ``_TP_HALF`` samples (the interpolator's group
    delay, a whole number of samples), so position ``j`` spans times ``[j - delay, j - delay + 1)``.

    Parameters
    ----------
    channels, sample_rate : int
        The stream's format.
    """

    def __init__(self, channels: int, sample_rate: int = 48000) -> None:
        self.factor = oversampling_factor(sample_rate)
        self._ip = _interpolator(self.factor)
        self._taps = self._ip.phases.shape[1]
        self.hist = np.zeros((channels, self._taps), np.float64)
        self.delay = _TP_HALF

    def peaks(self, block: np.ndarray, floor: float = 0.0) -> np.ndarray:
        """Peaks per input position; positions that cannot exceed ``floor`` may read 0."""
        x = np.ascontiguousarray(np.concatenate([self.hist, np.asarray(block, np.float64)], axis=1))
        out = np.empty(x.shape[1] - self._taps, np.float64)
        ip = self._ip
        segments = np.empty(-(-(x.shape[1] - 1) // _CHUNK), np.float64)
        _group_peaks(x, ip.phases, float(floor), ip.l1, ip.near[0], ip.near[1], ip.far_l1, np.empty_like(out), segments, out)
        self.hist = x[:, -self._taps :].copy()
        return out

    def tail(self) -> np.ndarray:
        """The peaks of the interpolator's tail after the last block (as if zeros followed)."""
        return self.peaks(np.zeros((self.hist.shape[0], self._taps), np.float64))

    def reference(self, block: np.ndarray) -> np.ndarray:
        """The oversampled block itself (``(channels, factor * n)``; numpy reference for tests)."""
        n = block.shape[1]
        x = np.concatenate([self.hist, np.asarray(block, np.float64)], axis=1)
        y = scipy.signal.upfirdn(self._ip.filter, x, up=self.factor, axis=1)
        self.hist = x[:, -self._taps :].copy()
        s = self.factor * self._taps
        return y[:, s : s + self.factor * n]


def true_peak(audio: np.ndarray, sample_rate: int = 48000) -> float:
    """True peak (dBTP) of a whole ``(channels, samples)`` array at ``sample_rate``."""
    audio = np.asarray(audio, np.float64)
    if audio.ndim == 1:
        audio = audio[None]
    os_ = Oversampler(audio.shape[0], sample_rate)
    y = np.concatenate([os_.peaks(audio), os_.tail()])
    peak = max(float(y.max(initial=0.0)), float(np.abs(audio).max(initial=0.0)))
    return 20.0 * math.log10(peak) if peak > 0 else -math.inf



# -- limiter --------------------------------------------------------------------------------------
@realtime_kernel
def _required_gains(groups, prev, ceiling, r):  # pragma: no cover - compiled
    # r[j] = min(1, ceiling / max(groups[j - 1], groups[j], 1e-30)), groups[-1] being `prev`
    for j in range(groups.shape[0]):
        g = groups[j]
        both = g if g > prev else prev
        prev = g
        q = ceiling / (both if both > 1e-30 else 1e-30)
        r[j] = q if q < 1.0 else 1.0


@realtime_kernel
def _limiter_gains(r, out, dq_idx, dq_val, state_i, state_f, ring, lookahead, release_coef):  # pragma: no cover
    # state_i: [r_count, dq_head, dq_tail, h_count, next ring slot (k % lookahead), how many h in a
    # row equalled the one before]; state_f: [h_prev, ring_sum]. The deque's capacity is a power
    # of two (positions wrap by a mask). The state lives in locals while the block runs.
    wrap = dq_idx.shape[0] - 1
    t, head, tail, h_count, slot, still = state_i[0], state_i[1], state_i[2], state_i[3], state_i[4], state_i[5]
    hp, ring_sum = state_f[0], state_f[1]
    n_out = 0
    j = 0
    n = r.shape[0]
    while j < n:
        v = r[j]
        if (v == 1.0 and still >= lookahead and tail - head == 1 and dq_val[head & wrap] == 1.0
                and t >= lookahead - 1 and hp + (1.0 - hp) * release_coef == hp):
            # At rest: every r in the window is 1.0 (the deque holds one 1.0), h has stopped moving
            # (1.0, or where the release's next step rounds back to it) and the ring holds that h
            # throughout. Each further 1.0 only replaces the deque's entry and leaves h and the
            # ring as they are, which is all the general step below would do, in the same
            # arithmetic (the ring sum gains h - h = 0 a step; its re-sum is the same sum each
            # time): the same gains, without the deque's searches.
            resum = -1.0
            while j < n and r[j] == 1.0:
                if slot == lookahead - 1:
                    if resum < 0.0:
                        resum = 0.0
                        for q in range(lookahead):
                            resum += ring[q]
                    ring_sum = resum
                    slot = 0
                else:
                    slot += 1
                out[n_out] = ring_sum / lookahead
                n_out += 1
                t += 1
                j += 1
            dq_idx[head & wrap] = t - 1
            continue
        j += 1
        # push (t, v) onto the monotonic deque (values increasing from head to tail)
        while tail > head and dq_val[(tail - 1) & wrap] >= v:
            tail -= 1
        dq_idx[tail & wrap] = t
        dq_val[tail & wrap] = v
        tail += 1
        t += 1
        k = t - lookahead
        if k < 0:
            continue
        while dq_idx[head & wrap] < k:
            head += 1
        m = dq_val[head & wrap]
        h = hp + (1.0 - hp) * release_coef
        if m < h:
            h = m
        still = still + 1 if h == hp else 0
        hp = h
        ring_sum += h - ring[slot]
        ring[slot] = h
        if slot == lookahead - 1:  # re-sum now and then: no drift over hours
            ring_sum = 0.0
            for q in range(lookahead):
                ring_sum += ring[q]
            slot = 0
        else:
            slot += 1
        out[n_out] = ring_sum / lookahead
        n_out += 1
    state_i[0], state_i[1], state_i[2], state_i[4], state_i[5] = t, head, tail, slot, still
    state_i[3] = h_count + n_out
    state_f[0], state_f[1] = hp, ring_sum
    return n_out


class TruePeakLimiter:
    """Look-ahead, channel-linked true-peak limiter (see the module docstring).

    :meth:`process` takes ``(channels, n)`` blocks and returns the limited samples that are
    ready (the limiter delays internally); :meth:`flush` returns the rest, so the output has
    exactly as many samples as the input, time-aligned with it.

    Parameters
    ----------
    sample_rate, channels : int
        Stream format.
    ceiling_dbtp : float
        Highest true peak of the output, dBTP.
    lookahead_ms : float
        Look-ahead (and attack) time.
    release_ms : float
        Release time constant.
    margin_db : float
        Internal safety margin under the ceiling.
    trim : bool
        Drop the limiter's delay from the output (:meth:`flush` then returns the tail). Without
        it, every block comes back at its own length, delayed by :attr:`delay` samples (the
        engine contract, :class:`TruePeakLimiterProcessor`).
    """

    def __init__(self, sample_rate: int, channels: int, *, ceiling_dbtp: float = -1.0, lookahead_ms: float = 5.0,
                 release_ms: float = 80.0, margin_db: float = 0.3, trim: bool = True) -> None:
        if lookahead_ms <= 0 or release_ms <= 0:
            raise ParameterError(f"limiter times must be > 0 ms, got look-ahead {lookahead_ms}, release {release_ms}")
        self.channels = int(channels)
        self.ceiling = 10.0 ** ((ceiling_dbtp - margin_db) / 20.0)
        self.lookahead = max(2, int(round(lookahead_ms * 1e-3 * sample_rate)))
        self.release_coef = 1.0 - math.exp(-1.0 / (release_ms * 1e-3 * sample_rate))
        self._os = Oversampler(channels, sample_rate)
        # oversampled group j spans input times [j - d, j - d + 1) with d the interpolator's delay;
        # groups j-1 and j together cover sample j - d and everything up to a sample either side
        self._d = int(self._os.delay)
        cap = 1 << int(self.lookahead + 1).bit_length()  # a power of two over the look-ahead + 1
        self._dq_idx = np.zeros(cap, np.int64)
        self._dq_val = np.zeros(cap, np.float64)
        self._state_i = np.zeros(6, np.int64)
        self._state_f = np.array([1.0, float(self.lookahead)])
        self._ring = np.ones(self.lookahead, np.float64)
        self._prev_group = 0.0
        # FIFO of input samples awaiting their gain; starts with `lookahead` zeros of pre-roll
        self._fifo = np.zeros((channels, self.lookahead + self._d), np.float64)
        self._drop = self.lookahead + self._d  # outputs still to discard (pre-roll + detector delay)
        #: Output sample ``n`` is input sample ``n - delay`` when not trimming (the pre-roll's
        #: first gain is emitted below, before any input).
        self.delay = self.lookahead + self._d - 1
        self._in = 0
        self._out = 0
        self.max_reduction_db = 0.0
        # the pre-roll's required gains (silence: 1.0) go in first
        self._emit(self._feed_r(np.ones(self.lookahead)))
        if not trim:
            self._drop = 0

    def _feed_r(self, r: np.ndarray) -> np.ndarray:
        out = np.empty(r.shape[0], np.float64)
        n = _limiter_gains(np.ascontiguousarray(r, np.float64), out, self._dq_idx, self._dq_val, self._state_i,
                           self._state_f, self._ring, self.lookahead, self.release_coef)
        return out[:n]

    def _required(self, x: np.ndarray) -> np.ndarray:
        groups = self._os.peaks(x, floor=self.ceiling)  # 0 where nothing can reach the ceiling
        r = np.empty(groups.shape[0], np.float64)
        _required_gains(groups, self._prev_group, self.ceiling, r)
        self._prev_group = float(groups[-1]) if groups.size else self._prev_group
        return r

    def _emit(self, gains: np.ndarray) -> np.ndarray:
        n = gains.shape[0]
        x = self._fifo[:, :n]
        self._fifo = self._fifo[:, n:]
        y = x * gains[None, :]
        if n:
            self.max_reduction_db = max(self.max_reduction_db, -20.0 * math.log10(max(float(gains.min()), 1e-12)))
        if self._drop:
            d = min(self._drop, n)
            y = y[:, d:]
            self._drop -= d
        self._out += y.shape[1]
        return y

    def process(self, block: np.ndarray) -> np.ndarray:
        """Limit the next block; returns the (fewer or more) samples that are ready, float32."""
        x = np.asarray(block, np.float64)
        if x.ndim != 2 or x.shape[0] != self.channels:
            raise ParameterError(f"expected ({self.channels}, n) blocks, got shape {x.shape}")
        self._in += x.shape[1]
        self._fifo = np.concatenate([self._fifo, x], axis=1)
        gains = self._feed_r(self._required(x))
        return self._emit(gains).astype(np.float32)

    def flush(self) -> np.ndarray:
        """The remaining output samples (the input's tail)."""
        parts = []
        while self._out < self._in:
            need = self._in - self._out
            z = np.zeros((self.channels, need + self.lookahead + self._d), np.float64)
            self._fifo = np.concatenate([self._fifo, z], axis=1)
            parts.append(self._emit(self._feed_r(self._required(z))))
        y = np.concatenate(parts, axis=1) if parts else np.zeros((self.channels, 0))
        over = self._out - self._in
        if over > 0:
            y = y[:, : y.shape[1] - over]
            self._out = self._in
        return y.astype(np.float32)


class TruePeakLimiterProcessor(Processor):
    """The true-peak limiter as an engine stage: channel-linked, same-length blocks.

    ``latency`` is the look-ahead plus the peak detector's delay (:attr:`TruePeakLimiter.delay`);
    :func:`dsp.render.render_blocks` trims it and flushes the tail with zeros. The result does
    not depend on the block size. The limiter's gain recovers with the release time constant,
    so its ``preroll`` (state convergence) is ten release times.

    Parameters
    ----------
    ceiling_dbtp : float
        Highest true peak of the output, dBTP.
    lookahead_ms, release_ms, margin_db
        See :class:`TruePeakLimiter`.
    """

    def __init__(self, *, ceiling_dbtp: float = -1.0, lookahead_ms: float = 5.0, release_ms: float = 80.0,
                 margin_db: float = 0.3) -> None:
        if not -60.0 <= ceiling_dbtp <= 0.0:
            raise ParameterError(f"true-peak ceiling must be between -60 and 0 dBTP, got {ceiling_dbtp:g}")
        if lookahead_ms <= 0 or release_ms <= 0:
            raise ParameterError(f"limiter times must be > 0 ms, got look-ahead {lookahead_ms}, release {release_ms}")
        self.ceiling_dbtp = float(ceiling_dbtp)
        self.lookahead_ms = float(lookahead_ms)
        self.release_ms = float(release_ms)
        self.margin_db = float(margin_db)
        self._lim: TruePeakLimiter | None = None
        self._peak_reduction_db = 0.0

    def _make(self, spec: AudioSpec) -> TruePeakLimiter:
        return TruePeakLimiter(spec.sample_rate, spec.channels, ceiling_dbtp=self.ceiling_dbtp,
                               lookahead_ms=self.lookahead_ms, release_ms=self.release_ms,
                               margin_db=self.margin_db, trim=False)

    @property
    def latency(self) -> int:
        spec = self._require_spec()
        return self._lim.delay if self._lim is not None else self._make(spec).delay

    @property
    def preroll(self) -> int:
        spec = self._require_spec()
        return int(math.ceil(10.0 * self.release_ms * 1e-3 * spec.sample_rate))

    @property
    def max_reduction_db(self) -> float:
        """The largest gain reduction applied since :meth:`prepare` (across resets), dB."""
        now = self._lim.max_reduction_db if self._lim is not None else 0.0
        return max(self._peak_reduction_db, now)

    def prepare(self, spec: AudioSpec) -> None:
        self.spec = spec
        self._peak_reduction_db = 0.0
        self._lim = None
        self.reset()

    def reset(self, *, position: int = 0) -> None:
        if self.spec is None:
            return
        if self._lim is not None:
            self._peak_reduction_db = max(self._peak_reduction_db, self._lim.max_reduction_db)
        self._lim = self._make(self.spec)

    def process(self, block: np.ndarray) -> np.ndarray:
        spec = self._require_spec()
        block = check_block(block, spec.channels)
        assert self._lim is not None
        return self._lim.process(block)

    def describe(self) -> dict:
        return {"type": "TruePeakLimiter", "ceiling_dbtp": self.ceiling_dbtp, "lookahead_ms": self.lookahead_ms,
                "release_ms": self.release_ms, "margin_db": self.margin_db}
