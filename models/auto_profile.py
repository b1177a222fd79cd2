"""Automatic room tone from voice activity: learn the profile where nobody speaks.

Algorithm
---------
1. :func:`models.vad.detect_speech` finds the speech segments (streamed over the source).
2. Their complement, each stretch shrunk by ``guard_ms`` next to speech (breaths and the VAD's
   boundary uncertainty), gives the stretches without speech; those shorter than
   ``min_stretch_ms`` are dropped.
3. The longest stretches are taken, longest first, until ``target_s`` seconds are gathered (all
   of them if there is less), then put back in time order.
4. :func:`dsp.roomtone.estimate_room_tone` learns the profile from exactly those regions
   (``regions=...``); the profile's ``method`` is ``"vad"``.

If the stretches hold less than the profile's minimum (``RoomToneSettings.min_samples`` or one
FFT frame; e.g. speech from end to end), the energy-based automatic selection is used with the
speech segments excluded (``estimate_room_tone(regions=None, speech_regions=...)``, also method
``"vad"``), and the profile carries a warning saying so. Times are seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from dsp.errors import ParameterError
from dsp.roomtone import NoiseProfile, RoomToneSettings, estimate_room_tone
from models.vad import SpeechSegment, VadSettings, detect_speech, non_speech_regions


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
    """

    guard_ms: float = 100.0
    min_stretch_ms: float = 250.0
    target_s: float = 20.0
    vad: VadSettings = VadSettings()

    def validate(self) -> None:
        if self.guard_ms < 0 or self.min_stretch_ms < 0:
            raise ParameterError("auto profile guard_ms and min_stretch_ms must be >= 0")
        if self.target_s <= 0:
            raise ParameterError(f"auto profile target_s must be > 0, got {self.target_s}")
        self.vad.validate()


def choose_stretches(
    segments: list[SpeechSegment], duration_s: float, settings: AutoProfileSettings = AutoProfileSettings()
) -> list[tuple[float, float]]:
    """The longest stretches without speech (see the module notes), in time order."""
    settings.validate()
    free = non_speech_regions(segments, duration_s, guard_s=settings.guard_ms * 1e-3,
                              min_length_s=settings.min_stretch_ms * 1e-3)
    chosen, total = [], 0.0
    for a, b in sorted(free, key=lambda r: (-(r[1] - r[0]), r[0])):
        if total >= settings.target_s:
            break
        chosen.append((a, b))
        total += b - a
    return sorted(chosen)


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
    n_fft, _ = settings.stft.resolve(int(sample_rate))
    need = max(settings.min_samples, n_fft)
    usable = sum(int((b - a) * sample_rate) >= n_fft for a, b in stretches)
    got = sum(int(round((b - a) * sample_rate)) for a, b in stretches)
    if usable and got >= need:
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
