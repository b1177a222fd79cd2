"""Automatic room tone from voice activity: learn the profile where nobody speaks.

Algorithm
---------
1. *Quiet screen* (``screen``, on by default). One pass over the source measures the level
   of 32 ms frames (the channels' mean power, each frame's mean removed, so a DC offset does not
   count as level). The
   file's quiet floor is the ``quiet_percentile`` of the frame levels (digital silence, under
   -150 dBFS, is left out: it is not room tone); frames within ``quiet_range_db`` of it are quiet,
   and runs of them long enough to hold a stretch (``min_stretch_ms`` plus a guard on each side)
   are the candidates. The voice activity model then runs on the candidates only, longest first,
   each with ``context_s`` of audio on both sides (before it: to settle the model's state; after
   it: so that speech starting at its end is seen whole and counted), until the
   speech-free stretches found inside them (each shrunk by ``guard_ms`` next to speech and at the
   candidate's edges) hold ``target_s`` seconds, or ``screen_budget_s`` seconds of audio went
   through the model. The screen's stretches are used when they hold ``min(target_s,
   screen_accept_s)`` seconds, or when every candidate was checked and they hold the profile's
   minimum; otherwise step 2 runs on the whole file. Room tone is the quiet bed of the room, so
   the quiet stretches are where it is; on a one-hour podcast the model sees a minute or two of
   audio instead of the hour (``bench/results/speed_podcast.md``).
2. *Whole file* (the screen off, or it found too little). :func:`models.vad.detect_speech` finds
   the speech segments (streamed over the source); their complement, each stretch shrunk by
   ``guard_ms`` next to speech (breaths and the VAD's boundary uncertainty), gives the
   stretches without speech; those shorter than ``min_stretch_ms`` are dropped.
3. The longest stretches are taken, longest first, until ``target_s`` seconds are gathered (all
   of them if there is less), then put back in time order.
4. :func:`dsp.roomtone.estimate_room_tone` learns the profile from exactly those regions
   (``regions=...``); the profile's ``method`` is ``"vad"``.

If the stretches hold less than the profile's minimum (``RoomToneSettings.min_samples`` or one
FFT frame; e.g. speech from end to end), the energy-based automatic selection is used with the
speech segments excluded (``estimate_room_tone(regions=None, speech_regions=...)``, also method
``"vad"``), and the profile carries a warning saying so. Times are seconds; the result depends
only on the audio and the settings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from dsp.errors import ParameterError
from dsp.roomtone import NoiseProfile, RoomToneSettings, estimate_room_tone
from dsp.strength import frame_powers
from models.speech_activity import true_runs
from models.vad import (
    SpeechSegment,
    VadSettings,
    detect_speech,
    non_speech_regions,
    segments_from_probabilities,
    speech_probabilities,
)

#: Frames of the quiet screen's level measure (s), and the level under which a frame is digital
#: silence (dBFS).
LEVEL_FRAME_S = 0.032
SILENCE_DBFS = -150.0


@dataclass(frozen=True)
class AutoProfileSettings:
    """How the stretches without speech are chosen.

    Attributes
    ----------
    guard_ms : float
        Each stretch is shrunk by this much on every side that touches speech.
    min_stretch_ms : float
        Shorter stretches (after shrinking) are not used.
    target_s : float
        Gather the longest stretches until they hold this many seconds.
    vad : VadSettings
        Voice activity settings.
    screen : bool
        Run the voice activity model on the quiet candidates only (module notes, step 1).
    quiet_percentile : float
        Percentile of the frame levels taken as the file's quiet floor.
    quiet_range_db : float
        Frames at most this far over the quiet floor are quiet.
    screen_budget_s : float
        At most this much audio (context included) goes through the model in the screen.
    screen_accept_s : float
        The screen's stretches are used once they hold ``min(target_s, screen_accept_s)`` seconds.
    context_s : float
        Audio on each side of a candidate run through the model with it (state, whole segments).
    """

    guard_ms: float = 100.0
    min_stretch_ms: float = 250.0
    target_s: float = 20.0
    vad: VadSettings = VadSettings()
    screen: bool = True
    quiet_percentile: float = 10.0
    quiet_range_db: float = 10.0
    screen_budget_s: float = 120.0
    screen_accept_s: float = 5.0
    context_s: float = 1.0

    def __post_init__(self) -> None:
        self.validate()  # every settings object is valid from birth (issue 20)

    def validate(self) -> None:
        if self.guard_ms < 0 or self.min_stretch_ms < 0:
            raise ParameterError("auto profile guard_ms and min_stretch_ms must be >= 0")
        if self.target_s <= 0:
            raise ParameterError(f"auto profile target_s must be > 0, got {self.target_s}")
        if not 0.0 <= self.quiet_percentile <= 100.0:
            raise ParameterError(f"auto profile quiet_percentile must be between 0 and 100, got {self.quiet_percentile}")
        if self.quiet_range_db <= 0:
            raise ParameterError(f"auto profile quiet_range_db must be > 0 dB, got {self.quiet_range_db}")
        if self.screen_budget_s <= 0 or self.screen_accept_s < 0 or self.context_s < 0:
            raise ParameterError("auto profile screen_budget_s must be > 0, screen_accept_s and context_s >= 0")
        self.vad.validate()


def choose_stretches(
    segments: list[SpeechSegment], duration_s: float, settings: AutoProfileSettings = AutoProfileSettings()
) -> list[tuple[float, float]]:
    """The longest stretches without speech (see the module notes), in time order."""
    settings.validate()
    free = non_speech_regions(segments, duration_s, guard_s=settings.guard_ms * 1e-3,
                              min_length_s=settings.min_stretch_ms * 1e-3)
    return _longest(free, settings.target_s)


def _longest(free: list[tuple[float, float]], target_s: float) -> list[tuple[float, float]]:
    """Longest first until ``target_s`` seconds are gathered, back in time order."""
    chosen, total = [], 0.0
    for a, b in sorted(free, key=lambda r: (-(r[1] - r[0]), r[0])):
        if total >= target_s:
            break
        chosen.append((a, b))
        total += b - a
    return sorted(chosen)


# -- the quiet screen ------------------------------------------------------------------------------
def frame_levels_db(source: Any, *, frame_s: float = LEVEL_FRAME_S, block_s: float = 60.0,
                    progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Level (dBFS) of consecutive ``frame_s`` frames of a BlockSource (the channels' mean power,
    :func:`dsp.strength.frame_powers`: each frame's DC removed, a trailing partial frame left out,
    one pass in blocks of ``block_s`` seconds); frames under :data:`SILENCE_DBFS` (digital
    silence) are ``-inf``."""
    return levels_from_powers(frame_powers(source, frame_s=frame_s, block_s=block_s, progress=progress))


def levels_from_powers(powers: np.ndarray) -> np.ndarray:
    """:func:`frame_levels_db` from the frame powers (e.g. a :class:`dsp.strength.FramePowers`'s)."""
    with np.errstate(divide="ignore"):
        db = 10.0 * np.log10(np.asarray(powers, np.float64))
    db[db < SILENCE_DBFS] = -np.inf
    return db


def quiet_candidates(levels_db: np.ndarray, frame_s: float, settings: AutoProfileSettings) -> list[tuple[float, float]]:
    """Runs of quiet frames long enough to hold a stretch, longest first (seconds).

    Quiet: within ``quiet_range_db`` of the ``quiet_percentile`` of the levels of the frames that
    are not digital silence.
    """
    levels_db = np.asarray(levels_db, np.float64)
    finite = np.isfinite(levels_db)
    if not finite.any():
        return []
    floor = float(np.percentile(levels_db[finite], settings.quiet_percentile))
    quiet = finite & (levels_db <= floor + settings.quiet_range_db)
    shortest = (settings.min_stretch_ms + 2.0 * settings.guard_ms) * 1e-3
    runs = [(a * frame_s, b * frame_s) for a, b in true_runs(quiet).tolist() if (b - a) * frame_s >= shortest]
    return sorted(runs, key=lambda r: (-(r[1] - r[0]), r[0]))


@dataclass(frozen=True)
class Screen:
    """What the quiet screen found: speech-free stretches (s) and what it cost."""

    stretches: list[tuple[float, float]]
    candidates: int  # quiet runs long enough
    checked: int  # of them, run through the model
    model_s: float  # audio through the model, context included

    @property
    def found_s(self) -> float:
        return float(sum(b - a for a, b in self.stretches))

    @property
    def exhausted(self) -> bool:
        return self.checked == self.candidates


def screen_quiet_stretches(source: Any, sample_rate: int, auto: AutoProfileSettings = AutoProfileSettings(), *,
                           backend: str = "auto", device: str = "cpu",
                           progress: Callable[[int, int], None] | None = None,
                           levels_db: np.ndarray | None = None) -> Screen:
    """Step 1 of the module notes: the speech-free stretches inside the quiet candidates.

    ``levels_db``: the file's :func:`frame_levels_db`, where a pass over it already measured them
    (else they are measured here, one more pass).
    """
    from dsp.render import ArraySource, as_source

    auto.validate()
    src = as_source(source, sample_rate)
    sr = int(src.sample_rate)
    hop = max(1, int(round(LEVEL_FRAME_S * sr)))
    frame_s = hop / sr
    if levels_db is None:
        levels_db = frame_levels_db(src, progress=progress)
    elif len(levels_db) != src.frames // hop:
        raise ParameterError(f"{len(levels_db)} frame levels given for a file of {src.frames} samples")
    candidates = quiet_candidates(levels_db, frame_s, auto)
    guard, shortest = auto.guard_ms * 1e-3, auto.min_stretch_ms * 1e-3
    v = auto.vad
    free: list[tuple[float, float]] = []
    found = used = 0.0
    checked = 0
    for a, b in candidates:
        if found >= auto.target_s or used >= auto.screen_budget_s:
            break
        a0 = max(0.0, a - auto.context_s)
        b = min(b, a0 + (auto.screen_budget_s - used))  # cut to the budget left
        b1 = min(src.frames / sr, b + auto.context_s)  # speech starting just after is seen whole
        s0, s1 = int(round(a0 * sr)), int(round(b1 * sr))
        piece = ArraySource(np.ascontiguousarray(src.read(s0, s1 - s0), np.float32), sr)
        probs = speech_probabilities(piece, sr, backend=backend, device=device)
        segs = segments_from_probabilities(probs, (s1 - s0) / sr, v)
        for u, w in non_speech_regions(segs, (s1 - s0) / sr, guard_s=guard):
            lo, hi = max(s0 / sr + u, a + guard), min(s0 / sr + w, b - guard)
            if hi - lo >= max(shortest, 1e-9):
                free.append((round(lo, 4), round(hi, 4)))
                found += hi - lo
        used += (s1 - s0) / sr
        checked += 1
    return Screen(_longest(free, auto.target_s), len(candidates), checked, used)


def _learnable(stretches: list[tuple[float, float]], sample_rate: int, n_fft: int, need: int) -> tuple[bool, int]:
    """Whether a profile can be learned from ``stretches`` (one holds a whole FFT frame, together
    at least ``need`` samples), and how many samples they hold."""
    got = sum(int(round((b - a) * sample_rate)) for a, b in stretches)
    usable = any(int((b - a) * sample_rate) >= n_fft for a, b in stretches)
    return usable and got >= need, got


def auto_room_tone(
    source: Any,
    sample_rate: int,
    settings: RoomToneSettings = RoomToneSettings(),
    *,
    auto: AutoProfileSettings = AutoProfileSettings(),
    segments: list[SpeechSegment] | None = None,
    source_name: str = "",
    backend: str = "auto",
    device: str = "cpu",
    progress: Callable[[int, int], None] | None = None,
    levels_db: np.ndarray | None = None,
) -> NoiseProfile:
    """A room-tone profile learned from the longest stretches without speech.

    Parameters
    ----------
    source : BlockSource or ndarray ``(channels, samples)``
        The recording (streamed in blocks when a BlockSource).
    sample_rate : int
        Its rate, Hz.
    settings : RoomToneSettings
        The profile's FFT geometry etc. (pass ``RoomToneSettings(stft=chain.stft)``).
    auto : AutoProfileSettings
        Stretch selection and VAD settings.
    segments : list of SpeechSegment, optional
        Speech already detected (skips the VAD run).
    source_name : str
        Stored in the profile.
    backend, device : str
        VAD backend and device (see :func:`models.vad.load_model`).
    progress : callable(done, total), optional
        VAD progress in samples.
    levels_db : ndarray, optional
        The file's :func:`frame_levels_db`, already measured (the quiet screen's pass is saved).

    Returns
    -------
    NoiseProfile
        ``method == "vad"``; ``regions`` are the stretches used.

    Raises
    ------
    ModelUnavailable
        The VAD model cannot run (use the energy-based automatic profile instead).
    ParameterError
        No usable stretch and no usable quiet frame.
    """
    auto.validate()
    n_fft, _ = settings.stft.resolve(int(sample_rate))
    need = max(settings.min_samples, n_fft)
    if segments is None and auto.screen:
        screen = screen_quiet_stretches(source, sample_rate, auto, backend=backend, device=device, progress=progress,
                                        levels_db=levels_db)
        enough = screen.found_s >= min(auto.target_s, auto.screen_accept_s) or screen.exhausted
        if enough and _learnable(screen.stretches, sample_rate, n_fft, need)[0]:
            return estimate_room_tone(source, sample_rate, regions=screen.stretches, settings=settings, method="vad",
                                      source_name=source_name)
    if segments is None:
        v = auto.vad
        segments = detect_speech(
            source, sample_rate, threshold=v.threshold, min_speech_ms=v.min_speech_ms,
            min_silence_ms=v.min_silence_ms, speech_pad_ms=v.speech_pad_ms, backend=backend, device=device,
            progress=progress,
        )
    frames = source.shape[-1] if hasattr(source, "shape") else int(source.frames)
    duration = frames / float(sample_rate)
    # The detector works on its own (16 kHz) frame grid: keep the stretches inside the file.
    stretches = [(max(0.0, a), min(duration, b)) for a, b in choose_stretches(segments, duration, auto)]
    stretches = [(a, b) for a, b in stretches if b > a]
    ok, got = _learnable(stretches, sample_rate, n_fft, need)
    if ok:
        return estimate_room_tone(source, sample_rate, regions=stretches, settings=settings, method="vad",
                                  source_name=source_name)
    speech = [(s.start_s, s.end_s) for s in segments]
    profile = estimate_room_tone(source, sample_rate, regions=None, settings=settings, speech_regions=speech or None,
                                 method="vad", source_name=source_name)
    note = (
        f"voice activity found no stretch without speech long enough ({got / sample_rate:.2f} s in stretches of at "
        f"least {auto.min_stretch_ms:.0f} ms); the quietest frames outside speech were used instead"
    )
    return replace(profile, warnings=[*profile.warnings, note])
