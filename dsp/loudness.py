"""Programme loudness (BS.1770-4), loudness targets, and the loudness gain stage.

Algorithms
----------
*K-weighting*: two biquads designed for the given sample rate (the standard gives coefficients
at 48 kHz only; these analogue prototypes are the usual bilinear-transform re-design, as in
libebur128 and pyloudnorm): a high shelf of +4 dB above about 1.7 kHz (head effects) and the RLB
high pass at about 38 Hz. Used by the monitoring meters (short-term loudness) and
:class:`ProgramMeter`.

*Integrated loudness* (ITU-R BS.1770-4): each channel is K-weighted; mean squares are
accumulated per 100 ms *sub-block* (``round(0.1 * sample_rate)`` samples); a 400 ms gating block
is four consecutive sub-blocks (75 % overlap). Block loudness is ``-0.691 + 10 log10(sum_c G_c
z_c)`` with channel weights ``G`` (1.0; 1.41 for the surround channels of 5.0/5.1, LFE
excluded). Gating: blocks above -70 LUFS (absolute), then above the mean of those minus 10 LU
(relative); the integrated loudness is the loudness of the mean energy of the blocks that pass
both gates.

*Loudness range* (EBU Tech 3342): short-term loudness over 3 s windows (30 sub-blocks) every
100 ms, absolute gate -70 LUFS, relative gate 20 LU below the mean, LRA = 95th minus 10th
percentile of what remains.

*True peak*: :mod:`dsp.truepeak` (oversampled on a grid holding ffmpeg's 192 kHz one).

*Levels*: mean power over 50 ms windows (all channels), in dBFS. The noise floor is the 10th
percentile of those levels (windows of digital silence excluded), the speech level the 95th; the
estimated SNR is their difference. Clipping counts samples at or above 0.999 of full scale.

*Loudness on export*: the gain to a target comes from the chain output's integrated loudness,
which is whole-file knowledge: it is measured first and given to :class:`LoudnessGain` as data
(the stage itself is a fixed gain); :class:`dsp.truepeak.TruePeakLimiterProcessor` follows it.
``app.pipeline`` runs the two passes.

Units: loudness in LUFS (LKFS), ranges in LU, peaks in dBTP / dBFS, times in seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dsp.engine import Gain
from dsp.errors import ParameterError
from dsp.jit import realtime_kernel
from dsp.truepeak import Oversampler


def k_weighting_sos(sample_rate: int) -> np.ndarray:
    """BS.1770 K-weighting as second-order sections ``(2, 6)`` (scipy ``sosfilt`` layout)."""
    fs = float(sample_rate)
    # Stage 1: high shelf (head effects).
    f0, gain_db, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = math.tan(math.pi * f0 / fs)
    vh = 10.0 ** (gain_db / 20.0)
    vb = vh**0.4996667741545416
    a0 = 1.0 + k / q + k * k
    shelf = [
        (vh + vb * k / q + k * k) / a0, 2.0 * (k * k - vh) / a0, (vh - vb * k / q + k * k) / a0,
        1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0,
    ]
    # Stage 2: RLB high pass.
    f0, q = 38.13547087602444, 0.5003270373238773
    k = math.tan(math.pi * f0 / fs)
    a0 = 1.0 + k / q + k * k
    highpass = [1.0, -2.0, 1.0, 1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0]
    return np.array([shelf, highpass], np.float64)


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
        self._sub_acc = np.zeros(channels, np.float64)  # each channel's sum over the open sub-block
        self._sub_fill = 0
        self._subs: list[float] = []  # weighted mean square per 100 ms sub-block
        self._win = max(1, int(round(0.05 * self.sample_rate)))
        self._win_acc = np.zeros(channels, np.float64)
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
        if x.dtype != np.float32:
            x = x.astype(np.float64, copy=False)
        x = np.ascontiguousarray(x)
        self._frames += n
        subs = np.empty((self.channels, (self._sub_fill + n) // self._sub), np.float64)
        wins = np.empty((self.channels, (self._win_fill + n) // self._win), np.float64)
        peak, clipped = _meter_block(x, self._sos, self._zi, CLIP_LEVEL, self._sub, self._sub_acc, self._sub_fill,
                                     subs, self._win, self._win_acc, self._win_fill, wins)
        self._sub_fill = (self._sub_fill + n) % self._sub
        self._win_fill = (self._win_fill + n) % self._win
        self._subs.extend((self._weights @ subs / self._sub).tolist())
        self._wins.extend((wins.sum(axis=0) / (self._win * self.channels)).tolist())
        self._peak = max(self._peak, peak)
        self._clipped += clipped
        if self._os is not None:
            # only values above what is already known can change the result
            self._tp = max(self._tp, float(self._os.peaks(x, floor=max(self._tp, self._peak)).max()))

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


@realtime_kernel
def _meter_block(x, sos, zi, clip_level, sub_size, sub_acc, sub_fill, subs, win_size, win_acc, win_fill,
                 wins):  # pragma: no cover - compiled
    # One pass over each channel of ``x`` (float32 or float64, read as float64): the sample peak,
    # the clipped samples, the K-weighting (scipy's sosfilt operation for operation, so the same
    # values), and sums of squares per sub-block (K-weighted) and per window (plain), added in
    # sample order so that any split into blocks gives the same sums. ``subs``/``wins`` receive
    # each completed sub-block's/window's sum per channel; ``sub_acc``/``win_acc`` carry the open
    # ones (their fill, ``sub_fill``/``win_fill``, is the same for every channel).
    peak = 0.0
    clipped = 0
    for c in range(x.shape[0]):
        z = zi[c]
        s_acc = sub_acc[c]
        w_acc = win_acc[c]
        s_fill = sub_fill
        w_fill = win_fill
        k_sub = 0
        k_win = 0
        for i in range(x.shape[1]):
            v = np.float64(x[c, i])
            a = abs(v)
            if a > peak:
                peak = a
            if a >= clip_level:
                clipped += 1
            cur = v
            for s in range(sos.shape[0]):
                new = sos[s, 0] * cur + z[s, 0]
                z[s, 0] = sos[s, 1] * cur - sos[s, 4] * new + z[s, 1]
                z[s, 1] = sos[s, 2] * cur - sos[s, 5] * new
                cur = new
            s_acc += cur * cur
            w_acc += v * v
            s_fill += 1
            w_fill += 1
            if s_fill == sub_size:
                subs[c, k_sub] = s_acc
                k_sub += 1
                s_acc = 0.0
                s_fill = 0
            if w_fill == win_size:
                wins[c, k_win] = w_acc
                k_win += 1
                w_acc = 0.0
                w_fill = 0
        sub_acc[c] = s_acc
        win_acc[c] = w_acc
    return peak, clipped


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

class LoudnessGain(Gain):
    """The loudness gain stage: a fixed gain (dB) found from a measurement, recorded with its target.

    The gain is data measured over the whole chain output (``measured_lufs``); the stage keeps
    no state, so any block size gives the same result and it adds no latency.
    """

    def __init__(self, gain_db: float = 0.0, *, target: str = "", target_lufs: float | None = None,
                 measured_lufs: float | None = None) -> None:
        if not math.isfinite(gain_db) or abs(gain_db) > 60.0:
            raise ParameterError(f"loudness gain must be a finite number within +/-60 dB, got {gain_db}")
        super().__init__(gain_db)
        self.target, self.target_lufs, self.measured_lufs = target, target_lufs, measured_lufs

    def describe(self) -> dict:
        return {"type": "LoudnessGain", "gain_db": round(self.gain_db, 4), "target": self.target,
                "target_lufs": self.target_lufs, "measured_lufs": self.measured_lufs}
