"""Programme loudness, loudness range, true peak and a true-peak limiter, all block-wise.

Algorithms
----------
*Integrated loudness* (ITU-R BS.1770-4): each channel goes through the K-weighting filter (a
high shelf of about +4 dB above 1.5 kHz, then a 38 Hz high pass; the two biquads are derived for
any sample rate from their analogue prototypes, as libebur128 does, so at 48 kHz they equal the
coefficients printed in the Recommendation). Mean squares are accumulated per 100 ms *sub-block*
(``round(0.1 * sample_rate)`` samples); a 400 ms gating block is four consecutive sub-blocks (75 %
overlap). Block loudness is ``-0.691 + 10 log10(sum_c G_c z_c)`` with channel weights ``G`` (1.0;
1.41 for the surround channels of 5.0/5.1, LFE excluded). Gating: blocks above -70 LUFS
(absolute), then above the mean of those minus 10 LU (relative); the integrated loudness is the
loudness of the mean energy of the blocks that pass both gates.

*Loudness range* (EBU Tech 3342): short-term loudness over 3 s windows (30 sub-blocks) every
100 ms, absolute gate -70 LUFS, relative gate 20 LU below the mean, LRA = 95th minus 10th
percentile of what remains.

*True peak* (BS.1770-4 Annex 2, on a grid that holds every independent meter's): the signal is
oversampled by :func:`oversampling_factor` (48 kHz: 4x, 16 kHz: 12x, 8 kHz: 24x, 44.1 kHz: 10x)
with a polyphase Kaiser-windowed sinc of 49 taps per phase (history carried across blocks), and
the largest absolute value of the oversampled signal is taken, in dBTP. BS.1770's 48-tap filter
(passband to 0.8 of Nyquist) and a 4x grid at every rate under-read content near Nyquist (4 dB
at 0.9 of Nyquist) and peaks between grid points that ffmpeg's 192 kHz grid sees, so 8-44.1 kHz
files passed our limiter and failed ffmpeg's meter. Stretches that cannot reach the level of
interest (the running peak, the limiter's ceiling) are skipped.

*Levels*: mean power over 50 ms windows (all channels), in dBFS. The noise floor is the 10th
percentile of those levels (windows of digital silence excluded), the speech level the 95th; the
estimated SNR is their difference. Clipping counts samples at or above 0.999 of full scale.

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

Units: loudness in LUFS (LKFS), ranges in LU, peaks in dBTP / dBFS, times in seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.signal

from dsp.errors import ParameterError
from dsp.jit import realtime_kernel
from dsp.loudness import k_weighting_sos

#: Loudness targets by name: (integrated LUFS, true-peak ceiling dBTP, description).
TARGETS: dict[str, tuple[float, float, str]] = {
    "podcast-stereo": (-16.0, -1.0, "Podcast, stereo: -16 LUFS, -1 dBTP (Apple Podcasts, Spotify)"),
    "podcast-mono": (-19.0, -1.0, "Podcast, mono: -19 LUFS, -1 dBTP (Apple Podcasts)"),
    "ebu-r128": (-23.0, -1.0, "Broadcast, EBU R128: -23 LUFS, -1 dBTP"),
    "atsc": (-24.0, -1.0, "Broadcast, ATSC A/85: -24 LKFS, -1 dBTP"),
}
#: ``podcast`` picks the stereo or mono podcast target by the file's channel count.
TARGET_CHOICES = ("podcast", *TARGETS, "off")

ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0
LRA_RELATIVE_GATE_LU = -20.0
CLIP_LEVEL = 0.999
SILENCE_DBFS = -120.0


def resolve_target(name: str, channels: int) -> tuple[float, float, str] | None:
    """The (LUFS, dBTP ceiling, label) of a target name for a file with ``channels`` (None for off).

    Raises
    ------
    ParameterError
        For an unknown name.
    """
    if name == "off":
        return None
    if name == "podcast":
        name = "podcast-mono" if channels == 1 else "podcast-stereo"
    if name not in TARGETS:
        raise ParameterError(f"unknown loudness target {name!r}; choose one of {', '.join(TARGET_CHOICES)}")
    lufs, tp, label = TARGETS[name]
    return lufs, tp, name


# -- filters --------------------------------------------------------------------------------------
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


@lru_cache(maxsize=16)
def _interpolator(factor: int) -> tuple[np.ndarray, np.ndarray, float]:
    """(full filter, ``(factor, taps)`` polyphase matrix, largest per-phase L1 norm) for ``factor``.

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
    return h.astype(np.float64), np.ascontiguousarray(phases), float(np.abs(phases).sum(axis=1).max())


@realtime_kernel
def _group_peaks(x_ext, phases, floor, bound_gain, acc, out):  # pragma: no cover - compiled
    # out[o] = max over channels and phases of |oversampled value| for input position o, in chunks;
    # a chunk whose values cannot exceed `floor` (largest |input| it reads times the filter's L1
    # norm) gets 0 instead (the caller only needs the values above `floor`). The loops are ordered
    # so the innermost one (over o) is independent and vectorises.
    n_ch = x_ext.shape[0]
    taps = phases.shape[1]
    n = out.shape[0]
    chunk = 16
    for o0 in range(0, n, chunk):
        o1 = min(n, o0 + chunk)
        for o in range(o0, o1):
            out[o] = 0.0
        big = 0.0
        for c in range(n_ch):
            for i in range(o0 + 1, o1 + taps):
                v = abs(x_ext[c, i])
                if v > big:
                    big = v
        if big * bound_gain <= floor:
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
        self._filter, self._phases, self._l1 = _interpolator(self.factor)
        self._taps = self._phases.shape[1]
        self.hist = np.zeros((channels, self._taps), np.float64)
        self.delay = _TP_HALF

    def peaks(self, block: np.ndarray, floor: float = 0.0) -> np.ndarray:
        """Peaks per input position; positions that cannot exceed ``floor`` may read 0."""
        x = np.ascontiguousarray(np.concatenate([self.hist, np.asarray(block, np.float64)], axis=1))
        out = np.empty(x.shape[1] - self._taps, np.float64)
        _group_peaks(x, self._phases, float(floor), self._l1, np.empty_like(out), out)
        self.hist = x[:, -self._taps :].copy()
        return out

    def tail(self) -> np.ndarray:
        """The peaks of the interpolator's tail after the last block (as if zeros followed)."""
        return self.peaks(np.zeros((self.hist.shape[0], self._taps), np.float64))

    def reference(self, block: np.ndarray) -> np.ndarray:
        """The oversampled block itself (``(channels, factor * n)``; numpy reference for tests)."""
        n = block.shape[1]
        x = np.concatenate([self.hist, np.asarray(block, np.float64)], axis=1)
        y = scipy.signal.upfirdn(self._filter, x, up=self.factor, axis=1)
        self.hist = x[:, -self._taps :].copy()
        s = self.factor * self._taps
        return y[:, s : s + self.factor * n]


def _db(power: float) -> float:
    return 10.0 * math.log10(power) if power > 0 else -math.inf


def _lufs(energy: float) -> float:
    return -0.691 + _db(energy) if energy > 0 else -math.inf


@dataclass(frozen=True)
class LoudnessStats:
    """What :class:`ProgramMeter` measured. Levels are -inf where nothing qualified."""

    integrated_lufs: float
    lra_lu: float
    true_peak_dbtp: float
    sample_peak_dbfs: float
    max_short_term_lufs: float
    noise_floor_dbfs: float
    speech_level_dbfs: float
    snr_db: float
    clipped_samples: int
    duration_s: float

    def to_dict(self) -> dict:
        def clean(v):
            if isinstance(v, float):
                return round(v, 3) if math.isfinite(v) else None
            return v

        return {k: clean(v) for k, v in self.__dict__.items()}


class ProgramMeter:
    """Block-wise meter: integrated loudness, LRA, true peak, levels, clipping.

    Feed ``(channels, n)`` float blocks in order with :meth:`add`; :meth:`result` gives the
    :class:`LoudnessStats` (it may be called once, at the end). Memory: a few floats per 50 ms.

    Parameters
    ----------
    sample_rate, channels : int
        The stream's format.
    true_peak : bool
        Measure the oversampled true peak (the most expensive part).
    """

    def __init__(self, sample_rate: int, channels: int, *, true_peak: bool = True) -> None:
        if sample_rate <= 0 or channels <= 0:
            raise ParameterError(f"meter needs a positive rate and channel count, got {sample_rate} Hz, {channels} ch")
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        sos = k_weighting_sos(self.sample_rate)
        self._sos = sos
        self._zi = np.zeros((channels, sos.shape[0], 2), np.float64)
        weights = np.ones(channels)
        if channels == 5:
            weights[3:] = 1.41
        elif channels == 6:
            weights[3] = 0.0
            weights[4:] = 1.41
        self._weights = weights
        self._sub = max(1, int(round(0.1 * self.sample_rate)))
        self._sub_acc = np.zeros(channels, np.float64)
        self._sub_fill = 0
        self._subs: list[float] = []  # weighted mean square per 100 ms sub-block
        self._win = max(1, int(round(0.05 * self.sample_rate)))
        self._win_acc = 0.0
        self._win_fill = 0
        self._wins: list[float] = []  # mean power per 50 ms window (all channels)
        self._os = Oversampler(channels, self.sample_rate) if true_peak else None
        self._tp = 0.0
        self._peak = 0.0
        self._clipped = 0
        self._frames = 0

    def add(self, block: np.ndarray) -> None:
        """Meter the next ``(channels, n)`` block."""
        x = np.asarray(block)
        if x.ndim != 2 or x.shape[0] != self.channels:
            raise ParameterError(f"expected ({self.channels}, n) blocks, got shape {x.shape}")
        n = x.shape[1]
        if n == 0:
            return
        self._frames += n
        xd = x.astype(np.float64)
        a = np.abs(xd)
        self._peak = max(self._peak, float(a.max()))
        self._clipped += int(np.count_nonzero(a >= CLIP_LEVEL))
        if self._os is not None:
            # only values above what is already known can change the result
            self._tp = max(self._tp, float(self._os.peaks(xd, floor=max(self._tp, self._peak)).max()))
        # K-weighted mean squares per sub-block
        kw = np.empty_like(xd)
        for c in range(self.channels):
            kw[c], self._zi[c] = scipy.signal.sosfilt(self._sos, xd[c], zi=self._zi[c])
        sq = kw * kw  # (channels, n)
        self._accumulate(sq, self._sub, "_sub_acc", "_sub_fill", self._subs, weighted=True)
        # plain power per 50 ms window
        self._accumulate(xd * xd, self._win, "_win_acc", "_win_fill", self._wins, weighted=False)

    def _accumulate(self, sq: np.ndarray, size: int, acc_name: str, fill_name: str, out: list, *, weighted: bool) -> None:
        n = sq.shape[1]
        pos = 0
        acc, fill = getattr(self, acc_name), getattr(self, fill_name)

        def value(total) -> float:
            if weighted:
                return float(np.dot(self._weights, total) / size)
            return float(np.sum(total) / (size * self.channels))


        if fill:
            take = min(size - fill, n)
            acc = acc + sq[:, :take].sum(axis=1)
            fill += take
            pos = take
            if fill == size:
                out.append(value(acc))
                acc, fill = np.zeros(self.channels), 0
        whole = (n - pos) // size
        if whole:
            seg = sq[:, pos : pos + whole * size].reshape(self.channels, whole, size).sum(axis=2)
            if weighted:
                out.extend((self._weights @ seg / size).tolist())
            else:
                out.extend((seg.sum(axis=0) / (size * self.channels)).tolist())
            pos += whole * size
        if pos < n:
            acc = acc + sq[:, pos:].sum(axis=1)
            fill += n - pos
        setattr(self, acc_name, acc)
        setattr(self, fill_name, fill)

    # -- results ---------------------------------------------------------------------------------
    def sub_block_energies(self) -> np.ndarray:
        """Weighted K-weighted mean square per complete 100 ms sub-block so far (float64): what
        :func:`dsp.loudness_timeline.build_timeline` draws, without filtering the audio again."""
        return np.asarray(self._subs, np.float64)

    def integrated(self) -> float:
        """Integrated loudness (LUFS) of what was fed so far."""
        subs = np.asarray(self._subs, np.float64)
        if subs.size < 4:
            return -math.inf
        blocks = (subs[:-3] + subs[1:-2] + subs[2:-1] + subs[3:]) / 4.0
        return _gated_loudness(blocks, RELATIVE_GATE_LU)

    def loudness_range(self) -> float:
        subs = np.asarray(self._subs, np.float64)
        if subs.size < 30:
            return 0.0 if subs.size else -math.inf
        c = np.concatenate([[0.0], np.cumsum(subs)])
        st = (c[30:] - c[:-30]) / 30.0
        st_l = -0.691 + 10.0 * np.log10(np.maximum(st, 1e-300))
        st_l = st_l[st_l > ABSOLUTE_GATE_LUFS]
        if not st_l.size:
            return 0.0
        rel = _lufs(float(np.mean(10.0 ** ((st_l + 0.691) / 10.0)))) + LRA_RELATIVE_GATE_LU
        st_l = st_l[st_l > rel]
        if not st_l.size:
            return 0.0
        lo, hi = np.percentile(st_l, [10.0, 95.0])
        return float(hi - lo)

    def max_short_term(self) -> float:
        subs = np.asarray(self._subs, np.float64)
        if subs.size < 30:
            return _lufs(float(subs.mean())) if subs.size else -math.inf
        c = np.concatenate([[0.0], np.cumsum(subs)])
        return _lufs(float(((c[30:] - c[:-30]) / 30.0).max()))

    def levels(self) -> tuple[float, float]:
        """(noise floor, speech level) in dBFS: 10th and 95th percentiles of 50 ms levels."""
        wins = np.asarray(self._wins, np.float64)
        if not wins.size:
            return -math.inf, -math.inf
        lv = 10.0 * np.log10(np.maximum(wins, 1e-30))
        lv = lv[lv > SILENCE_DBFS]
        if not lv.size:
            return -math.inf, -math.inf
        lo, hi = np.percentile(lv, [10.0, 95.0])
        return float(lo), float(hi)

    def true_peak_dbtp(self) -> float:
        """True peak so far (dBTP), including the samples themselves."""
        return 20.0 * math.log10(max(self._tp, self._peak)) if max(self._tp, self._peak) > 0 else -math.inf

    def result(self) -> LoudnessStats:
        if self._os is not None:  # flush the interpolator's tail
            tail = self._os.tail()
            self._tp = max(self._tp, float(tail.max()))
        floor, speech = self.levels()
        snr = speech - floor if math.isfinite(floor) and math.isfinite(speech) else math.nan
        return LoudnessStats(
            integrated_lufs=self.integrated(),
            lra_lu=self.loudness_range(),
            true_peak_dbtp=self.true_peak_dbtp() if self._os is not None else math.nan,
            sample_peak_dbfs=20.0 * math.log10(self._peak) if self._peak > 0 else -math.inf,
            max_short_term_lufs=self.max_short_term(),
            noise_floor_dbfs=floor,
            speech_level_dbfs=speech,
            snr_db=snr,
            clipped_samples=self._clipped,
            duration_s=self._frames / self.sample_rate,
        )


def _gated_loudness(blocks: np.ndarray, relative_lu: float) -> float:
    with np.errstate(divide="ignore"):
        lk = -0.691 + 10.0 * np.log10(blocks)
    kept = blocks[lk > ABSOLUTE_GATE_LUFS]
    if not kept.size:
        return -math.inf
    gate = _lufs(float(kept.mean())) + relative_lu
    with np.errstate(divide="ignore"):
        kept = kept[-0.691 + 10.0 * np.log10(kept) > gate]
    return _lufs(float(kept.mean())) if kept.size else -math.inf


def integrated_loudness(audio: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness (LUFS) of a whole ``(channels, samples)`` array (short files, tests)."""
    audio = np.asarray(audio, np.float64)
    if audio.ndim == 1:
        audio = audio[None]
    m = ProgramMeter(sample_rate, audio.shape[0], true_peak=False)
    m.add(audio)
    return m.integrated()


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
def _limiter_gains(r, out, dq_idx, dq_val, state_i, state_f, ring, lookahead, release_coef):  # pragma: no cover
    # state_i: [r_count, dq_head, dq_tail, h_count]; state_f: [h_prev, ring_sum]
    cap = dq_idx.shape[0]
    n_out = 0
    for j in range(r.shape[0]):
        t = state_i[0]
        v = r[j]
        # push (t, v) onto the monotonic deque (values increasing from head to tail)
        while state_i[2] > state_i[1] and dq_val[(state_i[2] - 1) % cap] >= v:
            state_i[2] -= 1
        dq_idx[state_i[2] % cap] = t
        dq_val[state_i[2] % cap] = v
        state_i[2] += 1
        state_i[0] = t + 1
        k = t - lookahead + 1
        if k < 0:
            continue
        while dq_idx[state_i[1] % cap] < k:
            state_i[1] += 1
        m = dq_val[state_i[1] % cap]
        hp = state_f[0]
        h = hp + (1.0 - hp) * release_coef
        if m < h:
            h = m
        state_f[0] = h
        slot = k % lookahead
        state_f[1] += h - ring[slot]
        ring[slot] = h
        if slot == lookahead - 1:  # re-sum now and then: no drift over hours
            s = 0.0
            for q in range(lookahead):
                s += ring[q]
            state_f[1] = s
        g = state_f[1] / lookahead
        out[n_out] = g
        n_out += 1
        state_i[3] += 1
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
    """

    def __init__(self, sample_rate: int, channels: int, *, ceiling_dbtp: float = -1.0, lookahead_ms: float = 5.0,
                 release_ms: float = 80.0, margin_db: float = 0.3) -> None:
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
        self._dq_idx = np.zeros(self.lookahead + 2, np.int64)
        self._dq_val = np.zeros(self.lookahead + 2, np.float64)
        self._state_i = np.zeros(4, np.int64)
        self._state_f = np.array([1.0, float(self.lookahead)])
        self._ring = np.ones(self.lookahead, np.float64)
        self._prev_group = 0.0
        # FIFO of input samples awaiting their gain; starts with `lookahead` zeros of pre-roll
        self._fifo = np.zeros((channels, self.lookahead + self._d), np.float64)
        self._drop = self.lookahead + self._d  # outputs still to discard (pre-roll + detector delay)
        self._in = 0
        self._out = 0
        self.max_reduction_db = 0.0
        # the pre-roll's required gains (silence: 1.0) go in first
        self._emit(self._feed_r(np.ones(self.lookahead)))

    def _feed_r(self, r: np.ndarray) -> np.ndarray:
        out = np.empty(r.shape[0], np.float64)
        n = _limiter_gains(np.ascontiguousarray(r, np.float64), out, self._dq_idx, self._dq_val, self._state_i,
                           self._state_f, self._ring, self.lookahead, self.release_coef)
        return out[:n]

    def _required(self, x: np.ndarray) -> np.ndarray:
        groups = self._os.peaks(x, floor=self.ceiling)  # 0 where nothing can reach the ceiling
        both = np.maximum(groups, np.concatenate([[self._prev_group], groups[:-1]]))
        self._prev_group = float(groups[-1]) if groups.size else self._prev_group
        with np.errstate(divide="ignore"):
            return np.minimum(1.0, self.ceiling / np.maximum(both, 1e-30))

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
