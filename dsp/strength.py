"""How strong the noise passes may be: the file's SNR decides, within the user's caps.

Algorithm
---------
Light processing is right for mild noise, but at 0-5 dB SNR listeners (and PESQ, STOI and
DNSMOS) want far more taken out than 6 dB a pass. So, when the chain's ``strength.adaptive`` is
on, a whole-file analysis measures the recording's SNR and sets how far each pass may go:

1. *Frame powers*: one pass over the source measures the mean square of consecutive 32 ms frames,
   averaged over channels (each frame's own mean removed, so DC is not level).
2. *SNR*: the noise power ``N`` is the room-tone profile's broadband level. The loudest
   ``speech_fraction`` of the frames (the upper half by default: speech, in spoken word) have a
   mean power ``P``; the SNR is ``10 log10(P / N - 1)`` dB (:func:`estimate_snr`), the speech
   power over the room tone's. Measured against the exact SNR of the dev mixtures it reads
   within a few dB for steady noise; for a bed with loud events it reads the SNR over the bed,
   which is what the passes work against.
3. *Strength*: ``s = (light_snr_db - snr) / (light_snr_db - strong_snr_db)``, clipped to [0, 1]
   (0: mild noise, 1: heavy noise).
4. *Reductions* (:func:`apply_strength`): each noise-reduction pass's ``max_reduction_db`` in the
   chain settings is the user's cap; the pass gets ``light + s * (cap - light)`` with
   ``light = min(cap, light_reduction_db)``. The chain's total cap scales alike from
   ``min(cap, light_total_db)``. The refill's pause floor (``pause_level_db``, the level of the
   even room tone left between phrases) moves from its own value down to ``strong_pause_level_db``.
   The caps stay hard limits: nothing is ever set above what the user allowed.

The analysis is data (:class:`StrengthEstimate`, in ``BuildContext.extras["strength"]``), so a
render from any playhead equals the full render, and the render record says what was chosen.
Units: dB (power ratios), seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from dsp.errors import ParameterError
from dsp.schema import check_settings, setting

#: Frame length of the level measure (s) and the level under which a frame is digital silence (dBFS).
FRAME_S = 0.032
SILENCE_DBFS = -150.0


@dataclass(frozen=True)
class StrengthSettings:
    """Adaptive strength of the noise passes (module notes).

    Attributes
    ----------
    adaptive : bool
        Measure the SNR and set each pass's reduction from it (off: every pass uses its
        ``max_reduction_db`` as set).
    light_snr_db : float
        At or above this SNR, the light settings are used.
    strong_snr_db : float
        At or below this SNR, the caps are used.
    light_reduction_db : float
        A pass's reduction for mild noise (never above its cap).
    light_total_db : float
        The chain's total reduction for mild noise (never above the chain's cap).
    strong_pause_level_db : float
        The refill's pause floor (dB re the room tone) for heavy noise.
    speech_fraction : float
        The loudest fraction of the frames taken as speech when measuring the SNR.
    """

    adaptive: bool = setting(False, doc="Measure the SNR and set each pass's reduction from it.")
    light_snr_db: float = setting(20.0, lo=-20.0, hi=80.0, unit="dB", doc="At or above this SNR, the light settings.")
    strong_snr_db: float = setting(3.0, lo=-20.0, hi=80.0, unit="dB", doc="At or below this SNR, the caps.")
    light_reduction_db: float = setting(6.0, lo=0.0, hi=60.0, unit="dB",
                                        doc="A pass's reduction for mild noise (never above its cap).")
    light_total_db: float = setting(15.0, lo=0.0, hi=60.0, unit="dB",
                                    doc="The chain's total reduction for mild noise (never above its cap).")
    strong_pause_level_db: float = setting(-20.0, lo=-60.0, hi=0.0, unit="dB",
                                           doc="The refill's pause floor (re the room tone) for heavy noise.")
    speech_fraction: float = setting(0.5, lo=0.01, hi=1.0,
                                     doc="The loudest fraction of the frames taken as speech when measuring the SNR.")

    def __post_init__(self) -> None:
        check_settings(self, "strength")
        if not self.strong_snr_db < self.light_snr_db:
            raise ParameterError(
                f"strength.strong_snr_db ({self.strong_snr_db}) must be below strength.light_snr_db ({self.light_snr_db})"
            )
        for name in ("light_reduction_db", "light_total_db"):
            if not 0.0 <= getattr(self, name) <= 60.0:
                raise ParameterError(f"strength.{name} must be between 0 and 60 dB, got {getattr(self, name)}")
        if not -60.0 <= self.strong_pause_level_db <= 0.0:
            raise ParameterError(
                f"strength.strong_pause_level_db must be between -60 and 0 dB, got {self.strong_pause_level_db}"
            )
        if not 0.0 < self.speech_fraction <= 1.0:
            raise ParameterError(f"strength.speech_fraction must be in (0, 1], got {self.speech_fraction}")


@dataclass(frozen=True)
class StrengthEstimate:
    """What the SNR analysis found and what it chose (whole-file data)."""

    snr_db: float  # the file's SNR (speech power over the room tone's)
    speech_s: float  # seconds of frames counted as speech
    strength: float  # 0 (light) .. 1 (the caps)
    reductions_db: tuple[float, ...] = ()  # per noise-reduction pass, in chain order
    total_db: float = 0.0
    pause_level_db: float | None = None

    def to_dict(self) -> dict:
        return {"snr_db": round(self.snr_db, 2), "speech_s": round(self.speech_s, 2), "strength": round(self.strength, 3),
                "reductions_db": [round(r, 2) for r in self.reductions_db], "total_db": round(self.total_db, 2),
                "pause_level_db": None if self.pause_level_db is None else round(self.pause_level_db, 2)}


def frame_powers(source: Any, *, frame_s: float = FRAME_S, block_s: float = 60.0, progress=None) -> np.ndarray:
    """Mean square of consecutive ``frame_s`` frames of a BlockSource, averaged over channels (float64,
    like a room-tone profile's power).

    Each frame's mean is removed first (a DC offset is not level). A trailing partial frame is
    left out. One pass in blocks of about ``block_s`` seconds: memory is the powers.
    (:class:`FramePowers`, which this drives, gives the same values from any blocks pushed to it.)
    """
    total = int(source.frames)
    fp = FramePowers(source.sample_rate, total, frame_s=frame_s, block_s=block_s)
    hop = fp.hop
    for i in range(0, fp.n, fp.per_block):
        k = min(fp.per_block, fp.n - i)
        fp.add(source.read(i * hop, k * hop))
        if progress is not None:
            progress((i + k) * hop, total)
    return fp.result()


def _powers(x: np.ndarray, k: int, hop: int) -> np.ndarray:
    f = x.reshape(-1, k, hop).astype(np.float64)
    f -= f.mean(axis=2, keepdims=True)
    return np.mean(f * f, axis=(0, 2))


class FramePowers:
    """:func:`frame_powers` of a stream: feed it the ``(channels, n)`` blocks of a file in order
    (:meth:`add`), and :meth:`result` gives exactly what ``frame_powers`` of the file gives (the
    same frames, computed on the same ``block_s`` pieces). Memory: one piece and the powers.
    """

    def __init__(self, sample_rate: int, frames: int, *, frame_s: float = FRAME_S,
                 block_s: float = 60.0) -> None:
        sr = int(sample_rate)
        self.hop = max(1, int(round(frame_s * sr)))
        self.n = int(frames) // self.hop
        self.per_block = max(1, int(block_s * sr) // self.hop)
        self._out = np.empty(self.n, np.float64)
        self._done = 0  # frames computed
        self._buf: list[np.ndarray] = []
        self._held = 0  # samples in _buf

    def add(self, block: np.ndarray) -> None:
        """The next ``(channels, n)`` block of the stream."""
        self._buf.append(np.asarray(block, np.float32))
        self._held += block.shape[1]
        while self._done < self.n:
            k = min(self.per_block, self.n - self._done)
            if self._held < k * self.hop:
                break
            x = np.concatenate(self._buf, axis=1) if len(self._buf) > 1 else self._buf[0]
            self._out[self._done : self._done + k] = _powers(np.ascontiguousarray(x[:, : k * self.hop]), k, self.hop)
            rest = x[:, k * self.hop :]
            self._buf, self._held = ([rest] if rest.shape[1] else []), rest.shape[1]
            self._done += k

    def result(self) -> np.ndarray:
        """The powers (raises if the stream stopped short of its frames)."""
        if self._done < self.n:
            raise ParameterError(f"frame powers: the stream ended after {self._done} of {self.n} frames")
        return self._out


def estimate_snr(powers: np.ndarray, noise_power: float, *, frame_s: float = FRAME_S,
                 speech_fraction: float = 0.5) -> tuple[float, float]:
    """``(snr_db, speech_s)`` from frame powers and the room tone's mean square (module notes, 2).

    Digital silence is left out. Speech no louder than the room tone gives ``-inf``; a zero room
    tone gives ``+inf``; no frame at all gives ``+inf`` (nothing to take away).
    """
    p = np.asarray(powers, np.float64)
    p = p[p > 10.0 ** (SILENCE_DBFS / 10.0)]
    if p.size == 0 or noise_power <= 0.0:
        return math.inf, float(p.size * frame_s)
    k = max(1, int(math.ceil(speech_fraction * p.size)))
    loud = np.partition(p, p.size - k)[p.size - k :]
    excess = float(np.mean(loud)) / noise_power - 1.0
    snr = 10.0 * math.log10(excess) if excess > 0 else -math.inf
    return snr, float(k * frame_s)


def strength_from_snr(snr_db: float, settings: StrengthSettings) -> float:
    """0 (light) .. 1 (the caps), linear in dB between the two anchors."""
    s = (settings.light_snr_db - snr_db) / (settings.light_snr_db - settings.strong_snr_db)
    return float(np.clip(s, 0.0, 1.0)) if math.isfinite(s) else (1.0 if s > 0 else 0.0)


def _between(light: float, cap: float, s: float) -> float:
    light = min(light, cap)
    return light + s * (cap - light)


def apply_strength(chain: Any, strength: float, is_pass) -> tuple[Any, StrengthEstimate]:
    """``chain`` (ChainSettings) with each pass's reduction, the total cap and the refill's pause
    floor set for ``strength`` (module notes, 4); ``is_pass(kind)`` tells the noise-reduction passes.

    Returns the new settings and a :class:`StrengthEstimate` holding the choices (SNR fields 0).
    """
    st = chain.strength
    stages, reductions, pause = [], [], None
    for spec in chain.stages:
        s = spec.settings
        if not spec.bypass and is_pass(spec.kind) and hasattr(s, "max_reduction_db"):
            r = _between(st.light_reduction_db, s.max_reduction_db, strength)
            reductions.append(r)
            spec = replace(spec, settings=replace(s, max_reduction_db=r))
        elif not spec.bypass and spec.kind == "refill" and hasattr(s, "pause_level_db"):
            pause = s.pause_level_db + strength * min(0.0, st.strong_pause_level_db - s.pause_level_db)
            spec = replace(spec, settings=replace(s, pause_level_db=pause))
        stages.append(spec)
    total = _between(st.light_total_db, chain.max_total_reduction_db, strength)
    out = replace(chain, stages=tuple(stages), max_total_reduction_db=total)
    return out, StrengthEstimate(0.0, 0.0, strength, tuple(reductions), total, pause)
