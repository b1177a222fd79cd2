"""Mouth de-click: find short clicks (0.2-5 ms) from an AR model's prediction error and repair them
by least-squares AR interpolation (stage kind ``declick``).

What and why
------------
Close-miked speech carries mouth clicks: tongue and saliva transients of a fraction of a
millisecond to a few milliseconds, in words and between them. Speech is well predicted from its
last few milliseconds by an autoregressive (linear-prediction) model; a click is not, so it stands
out in the model's prediction error. The samples it covers are then rebuilt from the signal on
both sides with the same kind of model. This is the method of Godsill & Rayner ("Digital Audio
Restoration", 1998, ch. 5: detection from the AR residual, least-squares AR interpolation, LSAR)
and of ffmpeg's ``adeclick`` filter. Editors' classic complaint about de-clickers is that they eat
p, t and k: a plosive release is a transient too. Here a plosive or fricative onset is told from a
click by what follows it: after a click the signal goes back to what it was; after a release the
burst and the vowel keep the prediction error high (the *onset guard*), and a transient longer
than ``max_click_ms`` is not a click either.

Algorithm
---------
Detection (:func:`detect_clicks`, the stage's ``analyse`` hook; whole-file knowledge, data) reads
the source in chunks (bounded memory; each chunk with a margin on either side, so the result does
not depend on the chunking), on the mean of the channels (stereo linked):

1. *AR fit.* Blocks of :data:`BLOCK_MS` on an absolute grid; block ``j``'s model (order
   ``ar_order``) comes from the autocorrelation of the Hann-windowed 3 blocks around it
   (autocorrelation method, Levinson-Durbin recursion).
2. *Prediction error.* ``e[n] = x[n] + sum_k a_k x[n-k]`` with the model of ``n``'s block.
3. *Running level.* Per block, the robust deviation of ``e`` (median of ``|e|`` / 0.6745, which is
   the RMS for Gaussian noise and ignores the few click samples); the level of block ``j`` is the
   median of that over blocks ``j-2 .. j+2`` (50 ms).
4. *Candidates.* Samples where ``|e|`` stands more than ``click_threshold_db`` over the level; runs
   closer than :data:`MERGE_MS` are merged. A run longer than ``max_click_ms`` is not a click.
5. *Onset guard.* The RMS of ``e`` over the :data:`ONSET_POST_MS` right after the run (past the
   model's own echo of the click, ``ar_order`` samples, and its ringing) against the
   :data:`GUARD_MS` before it: when the error stays ``onset_guard_db`` higher after than before, something started there (a plosive's
   burst, a fricative, a word) and it is not a click.
6. *Isolation.* The run's peak error must stand ``pitch_isolation_db`` over the error around it:
   in voiced speech (the error's autocorrelation at a pitch lag of 2.5-12.5 ms over
   :data:`VOICED_CORR`) over its peaks one and two pitch periods away, where the next glottal
   pulses are (the error of voiced speech is a pulse train, and one pulse is not a click);
   elsewhere over its peaks within :data:`GUARD_MS` on either side.
7. *Events.* Each click's repair span is the run widened by :data:`PAD_BEFORE_MS` before and
   :data:`PAD_AFTER_MS` after (a click's ringing tail falls below the threshold before it is
   gone), with its strength (peak error over the level, dB).

Repair (:class:`Declicker`, a time-domain processor) replaces the samples of each event span by
their LSAR estimate (:func:`repair_span`): an AR model of order ``REPAIR_ORDER_FACTOR *
ar_order`` is fitted to ``context_ms`` of signal on each side of the span (the two sides'
autocorrelations summed, the click itself left out), and the missing samples are those that
minimise the model's summed squared prediction error over every equation that involves them
(Godsill & Rayner eq. 5.14: ``x_u = -(A_u^T A_u)^-1 A_u^T A_k x_k``), solved by Cholesky. In
voiced context the signal one pitch period away is taken out before and put back after (a
long-term predictor): interpolating 2-4 ms of a vowel from its last millisecond alone is poor. Every other sample passes bit for bit. The repair is a pure function of the
input around the event, so a render from any playhead equals the full render. Latency: the
longest span plus the context plus the longest pitch period (the right-hand context must have
arrived): about 33 ms.

Units: thresholds in dB; times in ms; events in seconds (:class:`dsp.events.Event`) and samples.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any, ClassVar

import numpy as np

from dsp.chain import BuildContext, StageKind, register
from dsp.engine import AudioSpec, Processor, check_block
from dsp.errors import ParameterError
from dsp.events import SpanMap, events_key
from dsp.jit import realtime_kernel
from dsp.schema import check_settings, setting

#: AR fit block (ms); each block's model is fitted on the 3 blocks around it.
BLOCK_MS = 10.0
#: Over-threshold runs closer than this (ms) are one click.
MERGE_MS = 1.0
#: The onset guard compares the prediction error over this long (ms) after and before a run.
GUARD_MS = 10.0
#: ... and over this long (ms) right after the run: a burst or a fricative goes on at once, a
#: word that follows a click in a pause starts a few ms later.
ONSET_POST_MS = 3.0
#: Repair spans start this much (ms) before the first over-threshold sample ...
PAD_BEFORE_MS = 0.25
#: ... and end this much after the last (a click's ringing tail).
PAD_AFTER_MS = 1.0
#: The repair's AR model has this many times ``ar_order``: interpolating 1-5 ms of voiced speech
#: needs more poles than detecting a click does (2x: 4-11 dB less interpolation error on the dev
#: speech and a synthetic vowel).
REPAIR_ORDER_FACTOR = 2
#: Median |e| of Gaussian noise is this times its RMS.
_MAD_TO_RMS = 0.6745
#: Detection reads the source in chunks of about this many seconds.
CHUNK_S = 8.0


@dataclass(frozen=True)
class DeclickSettings:
    """Mouth-click detection and repair.

    Attributes
    ----------
    click_threshold_db : float
        A sample is a click candidate when the AR prediction error stands this far (dB) over its
        running robust level. Lower finds more, and quieter, clicks (and more false ones).
    max_click_ms : float
        Longest over-threshold run taken for a click; longer transients (plosive bursts,
        fricatives) are left alone.
    onset_guard_db : float
        Onset guard: a run after which the prediction error stays this much (dB) higher than
        before it is the start of a sound (p, t, k, a fricative), not a click.
    pitch_isolation_db : float
        A click's peak prediction error must stand this far (dB) over the largest error in the
        :data:`GUARD_MS` on either side of it: voiced speech's error has a peak at every glottal
        closure, a pulse train, and one of those pulses is not a click.
    ar_order : int
        Order of the AR model for detection; the repair's has :data:`REPAIR_ORDER_FACTOR` times it.
    context_ms : float
        Signal used on each side of a click to fit the repair's AR model (ms).
    """

    click_threshold_db: float = setting(16.0, lo=6.0, hi=60.0, unit="dB",
                                       doc="A sample is a click candidate when the prediction error stands this far over its level (lower finds more).")
    max_click_ms: float = setting(5.0, lo=0.2, hi=20.0, unit="ms",
                                 doc="Longest run taken for a click; plosive bursts and fricatives are longer.")
    onset_guard_db: float = setting(4.0, lo=0.0, hi=40.0, unit="dB",
                                   doc="A run after which the prediction error stays this much higher is the start of a sound, not a click.")
    pitch_isolation_db: float = setting(12.0, lo=0.0, hi=40.0, unit="dB",
                                       doc="A click must stand this far over the voice's own glottal pulses around it.")
    ar_order: int = setting(24, lo=4, hi=64,
                           doc="Order of the AR model for detection (the repair uses a multiple of it).")
    context_ms: float = setting(15.0, lo=2.0, hi=50.0, unit="ms",
                               doc="Signal used on each side of a click to fit the repair's AR model.")

    def __post_init__(self) -> None:
        check_settings(self, "declick")


@dataclass(frozen=True)
class ClickMap(SpanMap):
    """The clicks found in a recording (whole-file knowledge: data, not processor state): the
    repair spans, ``strength_db`` how far each click's prediction error stood over its level
    (:class:`~dsp.events.SpanMap`; events of kind ``"click"``), and what the detector turned down."""

    rejected_long: int = 0
    rejected_onset: int = 0

    event_kind: ClassVar[str] = "click"

    def summary(self) -> dict:
        return {"clicks": len(self), "rejected_long": self.rejected_long,
                "rejected_onset": self.rejected_onset, "sample_rate": self.sample_rate,
                "first": self.first_spans(5, 4)}

    def to_dict(self) -> dict:
        return {**self.spans_dict(), "rejected_long": self.rejected_long, "rejected_onset": self.rejected_onset}

    @classmethod
    def from_dict(cls, d: dict) -> ClickMap:
        return cls(*SpanMap.spans_from_dict(d), int(d.get("rejected_long", 0)), int(d.get("rejected_onset", 0)))


# -- kernels --------------------------------------------------------------------------------------
@realtime_kernel
def _levinson(r, a):  # pragma: no cover - compiled
    """Levinson-Durbin: rows of ``r`` ``(blocks, p+1)`` autocorrelations -> prediction-error filters
    ``a`` ``(blocks, p+1)`` with ``a[:, 0] = 1`` (``e[n] = sum_k a_k x[n-k]``). A block with
    ``r[0] <= 0`` gets ``a = (1, 0, ...)``."""
    nb, p1 = r.shape
    p = p1 - 1
    tmp = np.empty(p1, np.float64)
    for j in range(nb):
        for k in range(p1):
            a[j, k] = 0.0
        a[j, 0] = 1.0
        err = r[j, 0]
        if err <= 0.0:
            continue
        for i in range(1, p + 1):
            acc = r[j, i]
            for k in range(1, i):
                acc += a[j, k] * r[j, i - k]
            refl = -acc / err
            for k in range(i):
                tmp[k] = a[j, k]
            for k in range(1, i):
                a[j, k] = tmp[k] + refl * tmp[i - k]
            a[j, i] = refl
            err *= 1.0 - refl * refl
            if err <= 0.0:
                break


@realtime_kernel
def _ar_residual(x, a, block, first, e):  # pragma: no cover - compiled
    """``e[n] = sum_k a[j, k] x[n - k]`` for ``n >= first``, ``j = (n - first) // block``; ``x[n-k]``
    before index 0 counts as 0. ``e`` has ``x``'s length; samples before ``first`` are left."""
    n_n = x.shape[0]
    p1 = a.shape[1]
    for n in range(first, n_n):
        j = (n - first) // block
        acc = 0.0
        for k in range(p1):
            m = n - k
            if m >= 0:
                acc += a[j, k] * x[m]
        e[n] = acc


@realtime_kernel
def _lsar_fill(seg, lo, hi, a, out):  # pragma: no cover - compiled
    """Least-squares AR interpolation of ``seg[lo:hi]`` from the rest of ``seg``.

    ``a`` is the prediction-error filter ``(p+1,)``. Minimises ``sum_n e[n]^2`` over the
    equations ``n`` in ``[lo, hi + p)`` (those that hold a missing sample, all inside ``seg``) and
    writes the ``hi - lo`` estimates into ``out``. Normal equations by Cholesky (a tiny ridge keeps
    them positive definite)."""
    p = a.shape[0] - 1
    m = hi - lo
    # autocorrelation of the filter: (A_u^T A_u)[i, j] = ra[|i - j|] for |i - j| <= p
    ra = np.zeros(p + 1, np.float64)
    for d in range(p + 1):
        s = 0.0
        for k in range(p + 1 - d):
            s += a[k] * a[k + d]
        ra[d] = s
    g = np.zeros((m, m), np.float64)
    for i in range(m):
        for j in range(max(0, i - p), min(m, i + p + 1)):
            g[i, j] = ra[abs(i - j)]
        g[i, i] += 1e-9 * ra[0]
    # right-hand side: -A_u^T d, d[n] = the known samples' part of equation n
    rhs = np.zeros(m, np.float64)
    for n in range(lo, hi + p):
        d = 0.0
        for k in range(p + 1):
            idx = n - k
            if idx < lo or idx >= hi:
                d += a[k] * seg[idx]
        for k in range(p + 1):
            i = n - k - lo
            if 0 <= i < m:
                rhs[i] -= a[k] * d
    # Cholesky g = L L^T (banded fill is full below the band only within it; dense is fine: m is small)
    for j in range(m):
        s = g[j, j]
        for k in range(max(0, j - p), j):
            s -= g[j, k] * g[j, k]
        s = math.sqrt(s) if s > 0.0 else 1e-30
        g[j, j] = s
        for i in range(j + 1, min(m, j + p + 1)):
            t = g[i, j]
            for k in range(max(0, i - p), j):
                t -= g[i, k] * g[j, k]
            g[i, j] = t / s
    for i in range(m):  # forward: L y = rhs
        t = rhs[i]
        for k in range(max(0, i - p), i):
            t -= g[i, k] * rhs[k]
        rhs[i] = t / g[i, i]
    for i in range(m - 1, -1, -1):  # back: L^T u = y
        t = rhs[i]
        for k in range(i + 1, min(m, i + p + 1)):
            t -= g[k, i] * rhs[k]
        rhs[i] = t / g[i, i]
    for i in range(m):
        out[i] = rhs[i]


# -- numpy wrappers -------------------------------------------------------------------------------
def levinson(r: np.ndarray) -> np.ndarray:
    """Prediction-error filters ``(blocks, p+1)`` from autocorrelations ``r`` ``(blocks, p+1)``."""
    r = np.ascontiguousarray(np.atleast_2d(np.asarray(r, np.float64)))
    if r.shape[1] < 2:
        raise ParameterError(f"levinson needs at least lags 0 and 1, got shape {r.shape}")
    a = np.empty_like(r)
    _levinson(r, a)
    return a


def ar_residual(x: np.ndarray, a: np.ndarray, block: int, first: int = 0) -> np.ndarray:
    """Prediction error of ``x`` (1-D) from ``first`` on, block ``j`` (of ``block`` samples from
    ``first``) using filter ``a[j]``; zeros before ``first``."""
    x = np.ascontiguousarray(x, np.float64)
    a = np.ascontiguousarray(np.atleast_2d(a), np.float64)
    if x.ndim != 1 or block < 1 or not 0 <= first <= x.size:
        raise ParameterError(f"ar_residual: expected 1-D x, block >= 1, 0 <= first <= len(x); got {x.shape}, {block}, {first}")
    if a.shape[0] * block < x.size - first:
        raise ParameterError(f"ar_residual: {a.shape[0]} filters of {block} samples do not cover {x.size - first} samples")
    e = np.zeros(x.size, np.float64)
    _ar_residual(x, a, np.int64(block), np.int64(first), e)
    return e


def lsar_fill(seg: np.ndarray, lo: int, hi: int, a: np.ndarray) -> np.ndarray:
    """LSAR estimate of ``seg[lo:hi]`` (1-D float64) from the rest of ``seg`` with AR filter ``a``.

    ``seg`` must hold at least ``p = len(a) - 1`` samples on each side of the gap."""
    seg = np.ascontiguousarray(seg, np.float64)
    a = np.ascontiguousarray(a, np.float64)
    p = a.size - 1
    if seg.ndim != 1 or a.ndim != 1 or a[0] != 1.0:
        raise ParameterError("lsar_fill: expected a 1-D segment and a prediction-error filter with a[0] = 1")
    if not (p <= lo < hi and hi + p <= seg.size):
        raise ParameterError(f"lsar_fill: the gap [{lo}, {hi}) needs {p} samples of context on each side of a "
                             f"{seg.size}-sample segment")
    out = np.empty(hi - lo, np.float64)
    _lsar_fill(seg, np.int64(lo), np.int64(hi), a, out)
    return out


def autocorrelation(frames: np.ndarray, order: int) -> np.ndarray:
    """Lags ``0..order`` of each row of ``frames`` (already windowed), by FFT."""
    n = frames.shape[-1]
    nfft = 1 << int(math.ceil(math.log2(n + order + 1)))
    spec = np.fft.rfft(frames, nfft, axis=-1)
    return np.fft.irfft(spec.real ** 2 + spec.imag ** 2, nfft, axis=-1)[..., : order + 1]


def _regularise(r: np.ndarray, length: int) -> np.ndarray:
    """White-noise correction (1e-9 relative, and an absolute floor for digital silence)."""
    r = r.copy()
    r[..., 0] = r[..., 0] * (1.0 + 1e-9) + 1e-14 * length
    return r


def repair_filter(left: np.ndarray, right: np.ndarray, order: int) -> np.ndarray:
    """The repair's AR filter: Hann-windowed autocorrelations of the two context sides, summed."""
    r = np.zeros(order + 1)
    for side in (left, right):
        if side.size > order:
            r += autocorrelation(side * np.hanning(side.size), order)
    return levinson(_regularise(r[None], left.size + right.size))[0]


#: Pitch-assisted repair: lags searched (ms) and the normalised correlation above which the context
#: is voiced (see :func:`repair_span`).
REPAIR_PITCH_MS = (2.5, 12.5)
REPAIR_VOICED_CORR = 0.5


def context_period(ext: np.ndarray, lo: int, hi: int, c: int, t_lo: int, t_hi: int) -> tuple[int, float]:
    """The pitch period (samples, in ``[t_lo, t_hi]``: the shortest correlation peak within 5 % of the best,
    so not a multiple of the period) that best repeats the ``c`` samples on each side of the gap ``ext[lo:hi]`` (``ext`` holds ``c + t_hi`` samples on each side), and its
    normalised correlation (both sides together)."""
    left = ext[lo - c : lo]
    right = ext[hi : hi + c]
    lags = np.arange(t_lo, t_hi + 1)
    # left side: left . ext[lo - c - T : lo - T]; right side: right . ext[hi + T : hi + c + T]
    long_l = ext[lo - c - t_hi : lo - t_lo]
    long_r = ext[hi + t_lo : hi + c + t_hi]
    cl = np.correlate(long_l, left, mode="valid")[::-1]  # index k -> T = t_lo + k
    cr = np.correlate(long_r, right, mode="valid")
    el = np.concatenate([[0.0], np.cumsum(long_l * long_l)])
    er = np.concatenate([[0.0], np.cumsum(long_r * long_r)])
    k = np.arange(lags.size)
    nl = (el[long_l.size - k] - el[long_l.size - k - c])
    nr = (er[k + c] - er[k])
    num = cl + cr
    den = np.sqrt((np.dot(left, left) + np.dot(right, right)) * (nl + nr)) + 1e-30
    r = num / den
    # the shortest peak within 5 % of the best (a multiple of the period correlates as well)
    peak = np.ones(r.size, bool)
    peak[1:] &= r[1:] >= r[:-1]
    peak[:-1] &= r[:-1] >= r[1:]
    near = np.flatnonzero(peak & (r >= 0.95 * float(np.max(r))))
    best = int(near[0]) if np.max(r) > 0 and near.size else int(np.argmax(r))
    return int(lags[best]), float(r[best])


def repair_span(ext: np.ndarray, lo: int, hi: int, c: int, order: int, t_lo: int, t_hi: int) -> np.ndarray:
    """Estimate ``ext[lo:hi]`` (1-D float64) from ``c`` samples of context on each side (and, for the
    pitch, ``t_hi`` more).

    Plain LSAR where the context is not voiced. In voiced context, with the period ``T`` from
    :func:`context_period`, the signal one period away (``q[n]``: the mean of ``x[n - T]`` and
    ``x[n + T]``, those outside the gap) is taken out first, the difference is interpolated by
    LSAR and ``q`` added back (an AR model with a long-term predictor, Godsill & Rayner 5.2.3.2:
    a vowel's harmonics are far more predictable one period away than from the last millisecond;
    on the dev speech a 2-4 ms gap comes back 3-11 dB closer)."""
    t, r = context_period(ext, lo, hi, c, t_lo, t_hi)
    a0, b0 = lo - c, hi + c
    if r >= REPAIR_VOICED_CORR:
        n = np.arange(a0, b0)
        q = np.zeros(n.size)
        cnt = np.zeros(n.size)
        for m in (n - t, n + t):
            ok = (m < lo) | (m >= hi)
            q[ok] += ext[m[ok]]
            cnt[ok] += 1
        if np.all(cnt > 0):
            q /= cnt
            d = ext[a0:b0] - q
            filt = repair_filter(d[:c], d[c + hi - lo :], order)
            return lsar_fill(d, c, c + hi - lo, filt) + q[c : c + hi - lo]
    seg = ext[a0:b0]
    filt = repair_filter(seg[:c], seg[c + hi - lo :], order)
    return lsar_fill(seg, c, c + hi - lo, filt)


# -- detection ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Geometry:
    block: int
    order: int
    merge: int
    guard: int
    max_run: int
    pad_before: int
    pad_after: int
    context: int
    t_lo: int
    t_hi: int
    post: int

    @property
    def span_max(self) -> int:
        """The longest repair span."""
        return self.max_run + self.pad_before + self.pad_after

    @property
    def margin(self) -> int:
        """Chunk margin: covers a run, its guards and the fits around them."""
        return 2 * self.block + self.span_max + self.guard + self.order + self.merge + 2 * self.block


def geometry(settings: DeclickSettings, sample_rate: int) -> _Geometry:
    ms = sample_rate / 1000.0
    order = settings.ar_order
    return _Geometry(
        block=max(8, int(round(BLOCK_MS * ms))), order=order, merge=max(1, int(round(MERGE_MS * ms))),
        guard=max(order, int(round(GUARD_MS * ms))), max_run=max(1, int(round(settings.max_click_ms * ms))),
        pad_before=int(round(PAD_BEFORE_MS * ms)), pad_after=int(round(PAD_AFTER_MS * ms)),
        context=max(2 * REPAIR_ORDER_FACTOR * order + 1, int(round(settings.context_ms * ms))),
        t_lo=max(2, int(round(REPAIR_PITCH_MS[0] * ms))), t_hi=int(round(REPAIR_PITCH_MS[1] * ms)),
        post=max(4, int(round(ONSET_POST_MS * ms))),
    )


def _runs(mask: np.ndarray, merge: int) -> tuple[np.ndarray, np.ndarray]:
    """``[first, last]`` (inclusive) of the True runs of ``mask``, runs closer than ``merge`` joined."""
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return idx, idx
    breaks = np.flatnonzero(np.diff(idx) > merge)
    firsts = np.concatenate([idx[:1], idx[breaks + 1]])
    lasts = np.concatenate([idx[breaks], idx[-1:]])
    return firsts, lasts


def _detect_chunk(x: np.ndarray, g: _Geometry, settings: DeclickSettings):
    """Candidates in ``x`` (1-D float64) whose ``x[2 * g.block]`` is on the absolute block grid (the
    first two blocks are fit history only, and the last two are fit future only).

    Returns (firsts, lasts, strength_db, long_count, onset_count) in ``x``'s indices, over the
    blocks of ``x`` past its first two (the caller keeps those in its core)."""
    b = g.block
    n_blocks = x.size // b - 4
    if n_blocks < 1:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), 0, 0
    # 1. fits: block j (x[2b + j*b : 2b + (j+1)*b]) from the two blocks on each side of it, its own
    #    samples left out (a click must not teach the model to predict itself)
    # each two-block window is the left window of one block and the right window of another: once
    pairs = np.lib.stride_tricks.sliding_window_view(x[: (n_blocks + 4) * b], 2 * b)[: (n_blocks + 3) * b : b]
    pair_r = autocorrelation(pairs * np.hanning(2 * b), g.order)
    r = pair_r[:n_blocks] + pair_r[3 : n_blocks + 3]
    a = levinson(_regularise(r, 4 * b))
    # 2. prediction error of the blocks
    e = ar_residual(x[: (n_blocks + 2) * b], a, b, 2 * b)[2 * b :]
    # 3. running robust level per block (median over 5 blocks)
    dev = np.median(np.abs(e.reshape(n_blocks, b)), axis=1) / _MAD_TO_RMS
    dev = np.maximum(dev, 1e-9)
    padded_dev = np.concatenate([np.full(2, dev[0]), dev, np.full(2, dev[-1])])
    level = np.median(np.lib.stride_tricks.sliding_window_view(padded_dev, 5), axis=1)
    ae = np.abs(e)
    ratio = ae / np.repeat(level, b)
    mask = ratio > 10.0 ** (settings.click_threshold_db / 20.0)
    firsts, lasts = _runs(mask, g.merge)
    keep = np.ones(firsts.size, bool)
    long_count = onset_count = 0
    strength = np.zeros(firsts.size)
    e2 = np.concatenate([[0.0], np.cumsum(e * e)])
    iso = 10.0 ** (settings.pitch_isolation_db / 20.0)
    for i, (f, la) in enumerate(zip(firsts, lasts, strict=True)):
        peak = float(np.max(ae[f : la + 1]))
        strength[i] = 20.0 * math.log10(float(np.max(ratio[f : la + 1])))
        if la - f + 1 > g.max_run:
            keep[i] = False
            long_count += 1
            continue
        pre_lo, pre_hi = max(0, f - g.guard), f
        after = la + 1 + g.order + g.pad_after  # past the model's echo of the click and its ringing
        post_lo, post_hi = min(e.size, after), min(e.size, after + g.post)
        if pre_hi - pre_lo >= g.guard // 2 and post_hi - post_lo >= g.post // 2:
            pre = (e2[pre_hi] - e2[pre_lo]) / (pre_hi - pre_lo)
            post = (e2[post_hi] - e2[post_lo]) / (post_hi - post_lo)
            if post > pre * 10.0 ** (settings.onset_guard_db / 10.0):
                keep[i] = False
                onset_count += 1
                continue
        # isolation: a click stands over the error around it. Voiced speech's error has a peak at
        # every glottal closure (a pulse train): there it is compared with the error one and two
        # pitch periods away, where the next pulses are; elsewhere with the error's peaks within
        # GUARD_MS on either side.
        n_peak = f + int(np.argmax(ae[f : la + 1]))
        if peak < iso * _surroundings(e, ae, f, la, n_peak, g):
            keep[i] = False
            onset_count += 1
    return firsts[keep] + 2 * b, lasts[keep] + 2 * b, strength[keep], long_count, onset_count


#: Normalised autocorrelation of the prediction error at the pitch lag above which the error is a
#: glottal pulse train (voiced speech).
VOICED_CORR = 0.3
#: Pitch lags searched (ms): 80-400 Hz.
PITCH_MS = (2.5, 12.5)


def _surroundings(e: np.ndarray, ae: np.ndarray, f: int, la: int, n_peak: int, g: _Geometry) -> float:
    """The error level a click at ``[f, la]`` (peak at ``n_peak``) must stand over (see ``_detect_chunk``)."""
    ms = g.guard / GUARD_MS
    gap = g.order + g.merge
    lag_lo, lag_hi = int(PITCH_MS[0] * ms), int(PITCH_MS[1] * ms)
    w0, w1 = n_peak - 2 * lag_hi - gap, n_peak + 2 * lag_hi + gap
    if w0 >= 0 and w1 <= e.size:
        seg = e[w0:w1].copy()
        seg[max(0, f - gap - w0) : la + 1 + gap - w0] = 0.0  # the candidate itself out
        r = np.correlate(seg, seg[lag_hi : seg.size - lag_hi], mode="valid")  # lags -lag_hi .. +lag_hi
        r0 = float(np.dot(seg, seg))
        lags = np.arange(-lag_hi, lag_hi + 1)
        sel = lags >= lag_lo
        if r0 > 0.0 and sel.any():
            k = int(np.argmax(r[sel]))
            if r[sel][k] > VOICED_CORR * float(np.dot(seg[lag_hi : seg.size - lag_hi], seg[lag_hi : seg.size - lag_hi])):
                period = int(lags[sel][k])
                jit = max(2, int(0.5 * ms)) + (la - f)
                side = 0.0
                own_lo, own_hi = f - gap, max(la + 1, f + g.max_run)  # the click's own extent
                for m in (-2, -1, 1, 2):
                    c = n_peak + m * period
                    lo, hi = max(0, c - jit), min(e.size, c + jit + 1)
                    if hi > own_lo and lo < own_hi:
                        continue
                    side = max(side, float(np.max(ae[lo:hi])))
                return side
    side = 0.0
    lo, hi = max(0, f - gap - g.guard), max(0, f - gap)
    if hi > lo:
        side = max(side, float(np.max(ae[lo:hi])))
    after = max(la + 1, f + g.max_run) + gap  # past the longest click's own tail
    lo, hi = min(e.size, after), min(e.size, after + g.guard)
    if hi > lo:
        side = max(side, float(np.max(ae[lo:hi])))
    return side


def detect_clicks(source: Any, settings: DeclickSettings = DeclickSettings()) -> ClickMap:
    """Find mouth clicks in ``source`` (a BlockSource, or a ``(channels, samples)`` / 1-D array
    at ``settings``' rate given as ``(array, sample_rate)`` through :func:`dsp.render.as_source`).

    Reads the source once in chunks of about :data:`CHUNK_S` with margins (memory does not grow
    with the file); the channels are averaged (one set of clicks for all channels). Returns a
    :class:`ClickMap` of repair spans; ``.events`` gives them as :class:`~dsp.events.Event` in seconds.
    """
    sr = int(source.sample_rate)
    g = geometry(settings, sr)
    total = int(source.frames)
    chunk = max(g.block, int(CHUNK_S * sr) // g.block * g.block)
    margin = -(-g.margin // g.block) * g.block
    starts, ends, strengths = [], [], []
    n_long = n_onset = 0
    for c0 in range(0, total, chunk):
        c1 = min(total, c0 + chunk)
        lo = c0 - margin - 2 * g.block  # absolute position of x[0]: a block boundary minus two blocks
        hi = c1 + margin + 2 * g.block
        x = np.zeros(hi - lo, np.float64)
        r0, r1 = max(0, lo), min(total, hi)
        if r1 > r0:
            x[r0 - lo : r1 - lo] = np.mean(np.asarray(source.read(r0, r1 - r0), np.float64), axis=0)
        f, la, s, nl, no = _detect_chunk(x, g, settings)
        f_abs, la_abs = f + lo, la + lo
        core = (f_abs >= c0) & (f_abs < c1)
        starts.append(np.maximum(0, f_abs[core] - g.pad_before))
        ends.append(np.minimum(total, la_abs[core] + 1 + g.pad_after))
        strengths.append(s[core])
        n_long += nl  # counts include the margins (a summary figure only)
        n_onset += no
    a = np.concatenate(starts).astype(np.int64) if starts else np.zeros(0, np.int64)
    b = np.concatenate(ends).astype(np.int64) if ends else np.zeros(0, np.int64)
    s = np.concatenate(strengths).astype(np.float32) if strengths else np.zeros(0, np.float32)
    a, b, s = _merge_spans(a, b, s)
    return ClickMap(sr, a, b, s, n_long, n_onset)


def _merge_spans(a: np.ndarray, b: np.ndarray, s: np.ndarray):
    """Sort spans and join overlapping ones (so the repairs are disjoint)."""
    if a.size == 0:
        return a, b, s
    order = np.argsort(a, kind="stable")
    a, b, s = a[order], b[order], s[order]
    out_a, out_b, out_s = [int(a[0])], [int(b[0])], [float(s[0])]
    for x0, x1, st in zip(a[1:], b[1:], s[1:], strict=True):
        if x0 <= out_b[-1]:
            out_b[-1] = max(out_b[-1], int(x1))
            out_s[-1] = max(out_s[-1], float(st))
        else:
            out_a.append(int(x0))
            out_b.append(int(x1))
            out_s.append(float(st))
    return np.array(out_a, np.int64), np.array(out_b, np.int64), np.array(out_s, np.float32)


# -- the processor --------------------------------------------------------------------------------
class Declicker(Processor):
    """Repairs the spans of a :class:`ClickMap` by LSAR interpolation (stage kind ``declick``).

    ``clicks`` None (no analysis run) or empty makes it a pure delay of :attr:`latency` samples.
    Each channel is repaired on its own at the shared spans.
    """

    def __init__(self, settings: DeclickSettings = DeclickSettings(), *, clicks: ClickMap | None = None) -> None:
        self.settings = settings
        self.clicks = clicks
        self._g: _Geometry | None = None
        self._latency = 0
        self._pos = 0

    @property
    def latency(self) -> int:
        return self._latency

    @property
    def preroll(self) -> int:
        return 0 if self._g is None else self._g.context + self._g.t_hi + self._g.span_max

    def prepare(self, spec: AudioSpec) -> None:
        self.spec = spec
        if self.clicks is not None and int(self.clicks.sample_rate) != int(spec.sample_rate):
            raise ParameterError(f"the clicks were found at {self.clicks.sample_rate} Hz but the audio is at "
                                 f"{spec.sample_rate} Hz; analyse the file again")
        self._g = geometry(self.settings, spec.sample_rate)
        if self.clicks is not None and self.clicks.starts.size:
            longest = int(np.max(self.clicks.ends - self.clicks.starts))
            self._latency = max(self._g.span_max, longest) + self._g.context + self._g.t_hi
        else:
            self._latency = self._g.span_max + self._g.context + self._g.t_hi
        self._hist = 2 * self._latency + self._g.context + self._g.t_hi
        self.reset()

    def reset(self, *, position: int = 0) -> None:
        channels = self.spec.channels if self.spec else 1
        self._pos = int(position)  # absolute position of the next input sample
        # input history: _buf[:, i] is absolute sample _pos - _buf.shape[1] + i (zeros before `position`)
        self._buf = np.zeros((channels, self._hist if self._g else 0), np.float32)
        self._fills: dict[int, np.ndarray] = {}  # click index -> its repaired samples, per channel

    def process(self, block: np.ndarray) -> np.ndarray:
        spec = self._require_spec()
        block = check_block(block, spec.channels)
        n = block.shape[1]
        if n == 0:
            return block
        buf = np.concatenate([self._buf, block], axis=1)
        buf_start = self._pos + n - buf.shape[1]
        e0 = self._pos - self._latency  # absolute input sample of the first output sample
        out = buf[:, e0 - buf_start : e0 - buf_start + n].copy()
        if self.clicks is not None and self.clicks.starts.size:
            self._repair(buf, buf_start, out, e0, n)
        self._buf = buf[:, -self._hist :].copy()
        self._pos += n
        return out

    def _repair(self, buf: np.ndarray, buf_start: int, out: np.ndarray, e0: int, n: int) -> None:
        cm = self.clicks
        g = self._g
        assert cm is not None and g is not None
        i0 = int(np.searchsorted(cm.ends, e0, side="right"))
        i1 = int(np.searchsorted(cm.starts, e0 + n, side="left"))
        ext = g.context + g.t_hi
        for k in [k for k in self._fills if k < i0]:  # repairs already emitted
            del self._fills[k]
        for i in range(i0, i1):
            a, b = int(cm.starts[i]), int(cm.ends[i])
            lo, hi = a - ext, b + ext
            if lo < buf_start:  # not enough history (cannot happen with the preroll; be safe)
                continue
            fills = self._fills.get(i)
            if fills is None:  # a span over two blocks is repaired once (the repair is a pure function)
                fills = np.empty((buf.shape[0], b - a), np.float32)
                for ch in range(buf.shape[0]):
                    seg = buf[ch, lo - buf_start : hi - buf_start].astype(np.float64)
                    fills[ch] = repair_span(seg, ext, ext + (b - a), g.context, REPAIR_ORDER_FACTOR * g.order,
                                            g.t_lo, g.t_hi)
                self._fills[i] = fills
            s0, s1 = max(a, e0), min(b, e0 + n)
            out[:, s0 - e0 : s1 - e0] = fills[:, s0 - a : s1 - a]

    def describe(self) -> dict:
        return {"type": "Declicker", "settings": asdict(self.settings),
                "clicks": None if self.clicks is None else self.clicks.summary()}


#: Where the analysis puts the clicks in ``BuildContext.extras`` (a :class:`ClickMap`).
EVENTS_KEY = events_key("declick")


def _analyse(source: Any, settings: DeclickSettings, context: BuildContext) -> BuildContext:
    return replace(context, extras={**context.extras, EVENTS_KEY: detect_clicks(source, settings)})


def _factory(settings: DeclickSettings, context: BuildContext) -> Declicker:
    return Declicker(settings, clicks=context.extras.get(EVENTS_KEY))


DECLICK = register(StageKind(
    name="declick", label="Mouth de-click", settings_cls=DeclickSettings, domain="time", factory=_factory,
    description="Finds short mouth clicks (0.2-5 ms) from an AR model's prediction error and rebuilds them "
                "from the signal around them (LSAR); plosive and fricative onsets are left alone",
    needs_profile=False, role="repair", analyse=_analyse, placement=12,
))
