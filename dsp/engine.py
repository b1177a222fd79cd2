"""The streaming processor contract, and the processors that combine others.

A :class:`Processor` is prepared for an :class:`AudioSpec`, then fed blocks of any length with
``process(block) -> block`` (same shape). It reports its ``latency`` in samples (output sample
``n`` corresponds to input sample ``n - latency``), the ``alignment`` its start position must be
a multiple of for a render from a playhead to see the same frame grid as a render from zero, and
the ``preroll`` (samples of history) its state needs to converge, so a preview started at a
playhead equals the same span of a full render. ``reset(position=p)`` puts it in the state of a
fresh instance that will next receive absolute sample ``p`` (seeded noise depends on position).

Whole-file knowledge (room tone, hum, holes) is data given to constructors, never gathered in
processor state: stages keep only short memory.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from dsp.errors import ParameterError


@dataclass(frozen=True)
class AudioSpec:
    """What a processor will be fed: rate (Hz), channel count, and the largest block (samples)."""

    sample_rate: int
    channels: int
    max_block: int = 65536

    def __post_init__(self) -> None:
        if not 8000 <= self.sample_rate <= 192000:
            raise ParameterError(
                f"sample rate {self.sample_rate} Hz is outside 8000-192000 Hz; resample the file first"
            )
        if not 1 <= self.channels <= 8:
            raise ParameterError(f"{self.channels} channels given; Roomtone handles 1 to 8")
        if self.max_block < 1:
            raise ParameterError(f"max_block must be at least 1 sample, got {self.max_block}")


def check_block(block: np.ndarray, channels: int) -> np.ndarray:
    """Validate a ``(channels, samples)`` float32 block; returns it C-contiguous."""
    if block.ndim != 2 or block.shape[0] != channels:
        raise ParameterError(
            f"expected a block of shape ({channels}, samples), got {block.shape}; "
            "audio inside dsp is (channels, samples)"
        )
    if block.dtype != np.float32:
        raise ParameterError(f"expected float32 audio, got {block.dtype}")
    return np.ascontiguousarray(block)


class Processor:
    """Base class: ``prepare``, ``process``, ``reset``, ``latency``, ``alignment``, ``preroll``."""

    spec: AudioSpec | None = None

    @property
    def latency(self) -> int:
        return 0

    @property
    def alignment(self) -> int:
        return 1

    @property
    def preroll(self) -> int:
        return 0

    def prepare(self, spec: AudioSpec) -> None:
        self.spec = spec
        self.reset()

    def reset(self, *, position: int = 0) -> None:  # noqa: B027 - stateless default
        """Forget all state; the next sample processed is absolute sample ``position``."""

    def process(self, block: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _require_spec(self) -> AudioSpec:
        if self.spec is None:
            raise RuntimeError(f"{type(self).__name__}.prepare(spec) must be called before process()")
        return self.spec

    def describe(self) -> dict:
        """A JSON-able record of this processor's settings (for render records)."""
        return {"type": type(self).__name__}


class Identity(Processor):
    """Passes audio through unchanged (zero latency)."""

    def process(self, block: np.ndarray) -> np.ndarray:
        return block


class Gain(Processor):
    """Multiplies by a fixed gain in dB."""

    def __init__(self, gain_db: float = 0.0) -> None:
        self.gain_db = float(gain_db)

    def process(self, block: np.ndarray) -> np.ndarray:
        return (block * np.float32(10.0 ** (self.gain_db / 20.0))).astype(np.float32, copy=False)

    def describe(self) -> dict:
        return {"type": "Gain", "gain_db": self.gain_db}


class Delay(Processor):
    """A pure delay of ``samples`` samples (the dry path of :class:`DryWet`)."""

    def __init__(self, samples: int) -> None:
        if samples < 0:
            raise ParameterError(f"delay must be >= 0 samples, got {samples}")
        self.samples = int(samples)
        self._buf = np.zeros((1, 0), np.float32)

    @property
    def latency(self) -> int:
        return self.samples

    def reset(self, *, position: int = 0) -> None:
        channels = self.spec.channels if self.spec else 1
        self._buf = np.zeros((channels, self.samples), np.float32)

    def process(self, block: np.ndarray) -> np.ndarray:
        if self.samples == 0:
            return block
        joined = np.concatenate([self._buf, block], axis=1)
        n = block.shape[1]
        self._buf = joined[:, n:].copy()
        return joined[:, :n]


class Chain(Processor):
    """Runs processors in order. Latency and preroll add up; alignment is their least common multiple.

    A processor with an alignment (an STFT on its hop grid) must see its input start on that grid:
    when the latencies before it do not add up to a multiple of its alignment, :meth:`prepare`
    puts a short :class:`Delay` in front of it that makes them (a time-domain stage with lookahead,
    such as the de-clicker, before the noise passes).
    """

    def __init__(self, processors: Sequence[Processor]) -> None:
        self.processors = list(processors)
        self._run: list[Processor] = list(self.processors)

    @property
    def latency(self) -> int:
        return sum(p.latency for p in self._run)

    @property
    def alignment(self) -> int:
        a = 1
        for p in self._run:
            a = a * p.alignment // math.gcd(a, p.alignment)
        return a

    @property
    def preroll(self) -> int:
        return sum(p.preroll + p.latency for p in self._run)

    def prepare(self, spec: AudioSpec) -> None:
        self.spec = spec
        self._run = []
        offset = 0
        for p in self.processors:
            p.prepare(spec)
            pad = -offset % p.alignment
            if pad:
                delay = Delay(pad)
                delay.prepare(spec)
                self._run.append(delay)
                offset += pad
            self._run.append(p)
            offset += p.latency

    def reset(self, *, position: int = 0) -> None:
        # Each stage sees its input delayed by the latencies before it.
        offset = 0
        for p in self._run:
            p.reset(position=position - offset)
            offset += p.latency

    def process(self, block: np.ndarray) -> np.ndarray:
        for p in self._run:
            block = p.process(block)
        return block

    def describe(self) -> dict:
        return {"type": "Chain", "processors": [p.describe() for p in self.processors]}


class Listen(StrEnum):
    """What the user hears: the processed signal, the original, or what was removed."""

    PROCESSED = "processed"
    ORIGINAL = "original"
    REMOVED = "removed"


class DryWet(Processor):
    """Parallel blend: the dry path is delayed by exactly the wet path's latency, then mixed.

    ``mix`` 0 returns the delayed dry signal bit for bit (the wet path still runs so that
    switching is instant and its state stays warm); 1 is fully wet. ``listen`` picks what comes
    out: processed (the blend), original (the aligned dry), or removed (dry minus blend), so
    ``removed + processed == original``.
    """

    def __init__(self, wet: Processor, *, mix: float = 1.0, listen: Listen | str = Listen.PROCESSED) -> None:
        self.wet = wet
        self.mix = mix
        self.listen = listen
        self._dry = Delay(0)

    @property
    def mix(self) -> float:
        return self._mix

    @mix.setter
    def mix(self, value: float) -> None:
        if not 0.0 <= float(value) <= 1.0:
            raise ParameterError(f"dry/wet mix must be between 0 and 1, got {value}")
        self._mix = float(value)

    @property
    def listen(self) -> Listen:
        return self._listen

    @listen.setter
    def listen(self, value: Listen | str) -> None:
        try:
            self._listen = Listen(value)
        except ValueError:
            raise ParameterError(
                f"listen mode must be one of {[m.value for m in Listen]}, got {value!r}"
            ) from None

    @property
    def latency(self) -> int:
        return self.wet.latency

    @property
    def alignment(self) -> int:
        return self.wet.alignment

    @property
    def preroll(self) -> int:
        return self.wet.preroll

    def prepare(self, spec: AudioSpec) -> None:
        self.spec = spec
        self.wet.prepare(spec)
        self._dry = Delay(self.wet.latency)
        self._dry.prepare(spec)

    def reset(self, *, position: int = 0) -> None:
        self.wet.reset(position=position)
        self._dry.reset(position=position)

    def process(self, block: np.ndarray) -> np.ndarray:
        dry = self._dry.process(block)
        wet = self.wet.process(block)
        mix = self._mix
        if mix == 0.0:
            out = dry
        elif mix == 1.0:
            out = wet
        else:
            out = (dry * np.float32(1.0 - mix) + wet * np.float32(mix)).astype(np.float32, copy=False)
        if self._listen is Listen.PROCESSED:
            return out
        if self._listen is Listen.ORIGINAL:
            return dry
        return (dry - out).astype(np.float32, copy=False)

    def describe(self) -> dict:
        return {"type": "DryWet", "mix": self._mix, "listen": self._listen.value, "wet": self.wet.describe()}
