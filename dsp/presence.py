"""Speech presence over time from a detector: whole-file data that the passes and the refill use.

Algorithm
---------
The light passes decide per bin whether speech is present from the signal's SNR over the noise
estimate (:mod:`dsp.denoise`), and the refill decides per frame whether it is in a pause
(:mod:`dsp.refill`). Both take a loud noise event (a clink, a knock, crackle, a rain drop) for
speech: the event then passes at full level while the bed around it goes down, and the output's
noise is peakier than the input's (musical noise, a high kurtosis ratio). A speech detector
tells speech from events. With the chain's ``speech.detector`` set (``"vad"``: the voice activity
model that ships, run by the app layer over the whole file), its per-frame speech probability
(:class:`SpeechTrack`, 32 ms frames) becomes a presence track:

1. the probabilities are dilated by ``hangover_ms`` each way (a consonant next to a vowel);
2. mapped linearly from ``low..high`` to presence 0..1 (:func:`presence_from_track`);
3. looked up at each STFT frame's centre time (:func:`frame_presence`);
4. the gate and the MMSE pass multiply their own per-bin presence by it (so a bin needs both the
   detector's speech and its own SNR to keep its gain), and, with ``speech.refill``, it decides
   the refill's pauses instead of the refill's band presence.

The track is data, computed before the render (like the room tone), so a render from any playhead
equals the full render. This module knows nothing of the model: any detector can fill a track.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import maximum_filter1d

from dsp.errors import ParameterError

DETECTORS = ("none", "vad")


@dataclass(frozen=True)
class SpeechSettings:
    """Which speech detector decides the passes' and the refill's speech presence.

    Attributes
    ----------
    detector : str
        ``"none"`` (the passes' own SNR-based presence only) or ``"vad"`` (the voice activity model).
    low, high : float
        Speech probabilities mapped to presence 0 and 1.
    hangover_ms : float
        The probabilities are dilated by this much each way.
    refill : bool
        The detector also decides the refill's pauses.
    """

    detector: str = "none"
    low: float = 0.7
    high: float = 0.98
    hangover_ms: float = 32.0
    refill: bool = True

    def __post_init__(self) -> None:
        if self.detector not in DETECTORS:
            raise ParameterError(f"speech.detector must be one of {', '.join(DETECTORS)}, got {self.detector!r}")
        if not 0.0 <= self.low < self.high <= 1.0:
            raise ParameterError(f"speech.low and speech.high must satisfy 0 <= low < high <= 1, got {self.low}, {self.high}")
        if not 0.0 <= self.hangover_ms <= 1000.0:
            raise ParameterError(f"speech.hangover_ms must be between 0 and 1000 ms, got {self.hangover_ms}")


@dataclass(frozen=True)
class SpeechTrack:
    """A detector's speech probability per frame (frame ``i`` covers ``[i, i + 1) * frame_s``)."""

    probability: np.ndarray  # float32, (frames,)
    frame_s: float = 0.032
    detector: str = "vad"

    @property
    def speech_s(self) -> float:
        return float(np.count_nonzero(self.probability >= 0.5) * self.frame_s)


def presence_from_track(track: SpeechTrack, settings: SpeechSettings) -> np.ndarray:
    """Presence 0..1 per track frame: dilated by the hangover, mapped ``low..high`` (float32)."""
    p = np.asarray(track.probability, np.float32)
    k = int(round(settings.hangover_ms * 1e-3 / track.frame_s))
    if k > 0 and p.size:
        p = maximum_filter1d(p, size=2 * k + 1, mode="nearest")
    return np.clip((p - settings.low) / (settings.high - settings.low), 0.0, 1.0).astype(np.float32)


def frame_presence(presence: np.ndarray, frame_s: float, first_frame: int, frames: int, hop_length: int,
                   n_fft: int, sample_rate: int) -> np.ndarray:
    """``presence`` looked up at the centre of STFT frames ``first_frame .. first_frame + frames``
    (frame ``f`` starts at sample ``f * hop + hop - n_fft``, the engine's framing); float32."""
    f = np.arange(first_frame, first_frame + frames, dtype=np.float64)
    t = (f * hop_length + hop_length - n_fft / 2.0) / sample_rate
    idx = np.clip((t / frame_s).astype(np.int64), 0, max(0, presence.size - 1))
    if presence.size == 0:
        return np.ones(frames, np.float32)
    return np.ascontiguousarray(presence[idx], np.float32)
