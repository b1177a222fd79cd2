"""What a stage's detector found: one event type for every detector.

The mouth-noise stages (de-click, de-plosive, breath control, de-esser) each find events in a
whole-file analysis and keep them in :attr:`dsp.chain.BuildContext.extras` under
``"<kind>_events"`` (:func:`events_key`). Whatever the stage keeps there (a list of events, or a
map such as :class:`dsp.declick.ClickMap` that the stage's processor also reads) iterates over
:class:`Event` in time order, so the render record, the workstation's event lanes and the
benchmarks read every detector the same way (:func:`found_events`).

Units: seconds; levels in dB.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np

__all__ = ["EVENTS_SUFFIX", "Event", "SpanMap", "events_key", "found_events"]

#: The suffix of a :attr:`~dsp.chain.BuildContext.extras` key that holds a detector's events.
EVENTS_SUFFIX = "_events"


@dataclass(frozen=True)
class Event:
    """One detected event: the span (seconds, ``start_s <= end_s``), what it is (``"click"``,
    ``"pop"``, ``"breath"``, ``"sibilance"``) and how far it stood out (dB; each detector says
    over what). Detectors that know more subclass it (:class:`dsp.breath.BreathEvent`)."""

    start_s: float
    end_s: float
    kind: str
    strength_db: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-able fields, floats rounded to 0.1 ms / 0.0001 dB."""
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}

    def summary(self) -> dict[str, Any]:
        """What a render record keeps of it (:func:`app.pipeline.analyses_summary`)."""
        return self.to_dict()


@dataclass(frozen=True)
class SpanMap:
    """Spans a detector found, in samples (``[start, end)``, sorted and disjoint) with a strength
    each: what a time-domain repair stage reads as it renders, and iterates as :class:`Event` in
    seconds (kind :attr:`event_kind`). :class:`dsp.declick.ClickMap` and
    :class:`dsp.deplosive.PopMap` add what their detectors know besides."""

    sample_rate: int
    starts: np.ndarray  # int64
    ends: np.ndarray  # int64
    strength_db: np.ndarray  # float32

    event_kind: ClassVar[str] = "span"

    @property
    def events(self) -> list[Event]:
        """The spans as :class:`Event` in seconds (strength rounded to 0.01 dB)."""
        sr = float(self.sample_rate)
        return [Event(float(a) / sr, float(b) / sr, self.event_kind, round(float(s), 2))
                for a, b, s in zip(self.starts, self.ends, self.strength_db, strict=True)]

    def __iter__(self):
        """The events in time order (so a map reads like a list of :class:`Event`)."""
        return iter(self.events)

    def __len__(self) -> int:
        return int(self.starts.size)

    def first_spans(self, n: int = 5, decimals: int = 4) -> list[list[float]]:
        """The first ``n`` spans in seconds, for a summary."""
        return [[round(e.start_s, decimals), round(e.end_s, decimals)] for e in self.events[:n]]

    def spans_dict(self) -> dict[str, Any]:
        """The spans as JSON-able lists (the part of ``to_dict`` every map shares)."""
        return {"sample_rate": self.sample_rate, "starts": self.starts.tolist(), "ends": self.ends.tolist(),
                "strength_db": [round(float(s), 2) for s in self.strength_db]}

    @staticmethod
    def spans_from_dict(d: Mapping[str, Any]) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
        """``(sample_rate, starts, ends, strength_db)`` from :meth:`spans_dict`'s form."""
        return (int(d["sample_rate"]), np.asarray(d["starts"], np.int64), np.asarray(d["ends"], np.int64),
                np.asarray(d["strength_db"], np.float32))


def events_key(kind: str) -> str:
    """The extras key under which stage kind ``kind`` keeps its events (``"declick_events"``)."""
    return f"{kind}{EVENTS_SUFFIX}"


def found_events(extras: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Every detector's events in ``extras`` as kind -> ``(n, 2)`` array of ``(start_s, end_s)``,
    sorted by start. An entry under an ``"<kind>_events"`` key must iterate over :class:`Event`
    (anything else there is a programming error and raises ``TypeError``)."""
    out: dict[str, np.ndarray] = {}
    for key, value in extras.items():
        if not (isinstance(key, str) and key.endswith(EVENTS_SUFFIX)) or value is None:
            continue
        spans = sorted(_spans(key, value))
        out[key[: -len(EVENTS_SUFFIX)]] = np.array(spans, dtype=np.float64).reshape(-1, 2)
    return out


def _spans(key: str, value: Iterable[Any]) -> list[tuple[float, float]]:
    spans = []
    for event in value:
        if not isinstance(event, Event):
            raise TypeError(f"extras[{key!r}] holds a {type(event).__name__}, not a dsp.events.Event")
        spans.append((float(event.start_s), float(event.end_s)))
    return spans
