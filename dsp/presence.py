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

Live tracks
-----------
The model costs about as much as the render itself (about 10 s of one core for an hour), and the
render needs only the track up to its own position plus the hangover. A :class:`LiveSpeechTrack`
is filled by the detector on another thread while the render runs; :func:`frame_presence` waits
until the frames it needs are there (:class:`LivePresence`). The values are the same numbers,
computed by the same operations, so a render with a live track is bit-identical to one with the
finished track: only the wall time changes. Real-time monitoring never uses a live track (it
must not wait); it gets the finished one.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import maximum_filter1d

from dsp.errors import ParameterError
from dsp.schema import check_settings, setting

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

    detector: str = setting("none", choices=DETECTORS,
                            doc="Who decides speech presence: the passes' own SNR (none) or the voice activity model.")
    low: float = setting(0.7, lo=0.0, hi=1.0, doc="Speech probability mapped to presence 0.")
    high: float = setting(0.98, lo=0.0, hi=1.0, doc="Speech probability mapped to presence 1.")
    hangover_ms: float = setting(32.0, lo=0.0, hi=1000.0, unit="ms",
                                 doc="The probabilities are dilated by this much each way.")
    refill: bool = setting(True, doc="The detector also decides the refill's pauses.")

    def __post_init__(self) -> None:
        check_settings(self, "speech")
        if not self.low < self.high:
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
    return _presence_values(p, settings)


def _presence_values(p: np.ndarray, settings: SpeechSettings) -> np.ndarray:
    return np.clip((p - settings.low) / (settings.high - settings.low), 0.0, 1.0).astype(np.float32)


class LiveSpeechTrack:
    """A :class:`SpeechTrack` that a detector fills on another thread while the render reads it.

    The producer calls :meth:`append` with consecutive probabilities, then :meth:`finish` (or
    :meth:`fail` with the exception that stopped it). Readers call :meth:`wait_for` and
    :meth:`window`; :attr:`probability` waits for the whole track. :meth:`cancel` asks the
    producer to stop (:attr:`cancelled`), e.g. when the render that needed it was cancelled.
    """

    def __init__(self, frame_s: float = 0.032, detector: str = "vad", *, capacity: int = 1024) -> None:
        self.frame_s = float(frame_s)
        self.detector = detector
        self._buf = np.zeros(max(1, int(capacity)), np.float32)
        self._n = 0
        self._done = False
        self._error: BaseException | None = None
        self._cancelled = False
        self._cond = threading.Condition()
        #: The thread filling the track, set by whoever starts it (joined when a render is released).
        self.producer: threading.Thread | None = None

    # -- producer ---------------------------------------------------------------------------
    def append(self, probs: np.ndarray) -> None:
        p = np.asarray(probs, np.float32).reshape(-1)
        with self._cond:
            need = self._n + p.size
            if need > self._buf.size:
                grown = np.zeros(max(need, 2 * self._buf.size), np.float32)
                grown[: self._n] = self._buf[: self._n]
                self._buf = grown
            self._buf[self._n : need] = p
            self._n = need
            self._cond.notify_all()

    def finish(self) -> None:
        with self._cond:
            self._done = True
            self._cond.notify_all()

    def fail(self, error: BaseException) -> None:
        with self._cond:
            self._error, self._done = error, True
            self._cond.notify_all()

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        """Ask the producer to stop (the track then stays unfinished)."""
        self._cancelled = True

    # -- readers ----------------------------------------------------------------------------
    def wait_for(self, frames: int) -> tuple[int, bool]:
        """Block until ``frames`` frames are there or the track is finished: ``(available, finished)``."""
        with self._cond:
            while self._n < frames and not self._done:
                self._cond.wait()
            if self._error is not None:
                raise self._error
            return self._n, self._done

    def window(self, start: int, stop: int) -> np.ndarray:
        """A copy of frames ``start:stop`` (those already there)."""
        with self._cond:
            return self._buf[max(0, start) : min(stop, self._n)].copy()

    @property
    def probability(self) -> np.ndarray:
        """The whole track (waits until the detector has finished)."""
        n, _ = self.wait_for(np.iinfo(np.int64).max)
        return self.window(0, n)

    @property
    def speech_s(self) -> float:
        return float(np.count_nonzero(self.probability >= 0.5) * self.frame_s)

    def finished(self) -> SpeechTrack:
        """The finished track as a plain :class:`SpeechTrack` (waits)."""
        return SpeechTrack(self.probability, self.frame_s, self.detector)

    def summary(self) -> SpeechTrack:
        """For the render record: the same picture as the finished track's."""
        return self.finished()


class LivePresence:
    """:func:`presence_from_track` of a :class:`LiveSpeechTrack`, computed where it is looked up.

    :meth:`at` waits until the track holds each looked-up frame plus the hangover, then dilates
    and maps exactly as :func:`presence_from_track` does (the same float32 operations, so the
    values are identical).
    """

    def __init__(self, track: LiveSpeechTrack, settings: SpeechSettings) -> None:
        self.track = track
        self.settings = settings
        self.k = int(round(settings.hangover_ms * 1e-3 / track.frame_s))

    def at(self, raw: np.ndarray) -> np.ndarray:
        """Presence at track frames ``raw`` (clipped to the track, as for a finished one)."""
        if raw.size == 0:
            return np.zeros(0, np.float32)
        k = self.k
        hi = int(raw.max())
        n, done = self.track.wait_for(hi + k + 1)
        if n == 0:
            return np.ones(raw.size, np.float32)
        idx = np.clip(raw, 0, n - 1)  # the upper clip only bites once the track is finished
        lo, hi = int(idx.min()), int(idx.max())
        start = max(0, lo - k)
        seg = self.track.window(start, hi + k + 1)
        if k > 0:
            seg = maximum_filter1d(seg, size=2 * k + 1, mode="nearest")
        return np.ascontiguousarray(_presence_values(seg[idx - start], self.settings), np.float32)

    def summary(self) -> np.ndarray:
        """For the render record: the whole presence array (waits for the track)."""
        return presence_from_track(self.track.finished(), self.settings)


def frame_presence(presence: np.ndarray | LivePresence, frame_s: float, first_frame: int, frames: int,
                   hop_length: int, n_fft: int, sample_rate: int) -> np.ndarray:
    """``presence`` looked up at the centre of STFT frames ``first_frame .. first_frame + frames``
    (frame ``f`` starts at sample ``f * hop + hop - n_fft``, the engine's framing); float32."""
    f = np.arange(first_frame, first_frame + frames, dtype=np.float64)
    t = (f * hop_length + hop_length - n_fft / 2.0) / sample_rate
    if isinstance(presence, LivePresence):
        return presence.at((t / frame_s).astype(np.int64))
    idx = np.clip((t / frame_s).astype(np.int64), 0, max(0, presence.size - 1))
    if presence.size == 0:
        return np.ones(frames, np.float32)
    return np.ascontiguousarray(presence[idx], np.float32)
