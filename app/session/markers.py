"""Markers and regions: named points and spans on the file's time line, kept in the Project.

A :class:`Marker` with no ``end_s`` is a point (M at the playhead); one with ``end_s`` is a
region (a named span, from a selection). A project keeps them sorted by time
(:func:`sort_markers`), so a marker's index is its row in the markers list.

They are exported as CSV (``name,start_s,end_s``; a point has ``end_s == start_s``) or as an
Audacity label file (``start<TAB>end<TAB>label``, seconds with 6 decimals: File › Import ›
Labels in Audacity reads it back), written atomically.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dsp.errors import InputError, ParameterError
from dsp.io import write_text_atomic
from dsp.jsonfields import JsonFields

#: export kinds by file extension
EXPORT_KINDS = {".csv": "csv", ".txt": "labels"}
#: the longest marker name kept
MAX_NAME = 200


@dataclass(frozen=True)
class Marker:
    """A named point (``end_s`` None) or region (``end_s`` > ``start_s``), in seconds."""

    start_s: float
    name: str = ""
    end_s: float | None = None

    def __post_init__(self) -> None:
        if isinstance(self.start_s, bool) or not isinstance(self.start_s, (int, float)) \
                or not math.isfinite(self.start_s) or self.start_s < 0:
            raise ParameterError(f"a marker must lie at or after 0 s, got {self.start_s!r}")
        if self.end_s is not None and (isinstance(self.end_s, bool) or not isinstance(self.end_s, (int, float))
                                       or not math.isfinite(self.end_s) or self.end_s <= self.start_s):
            raise ParameterError(f"a region must end after it starts ({self.start_s} s), got end {self.end_s!r}")
        if not isinstance(self.name, str):
            raise ParameterError(f"a marker name must be text, got {type(self.name).__name__}")
        if any(c in self.name for c in "\t\r\n") or len(self.name) > MAX_NAME:
            raise ParameterError(f"a marker name must be one line of at most {MAX_NAME} characters "
                                 f"without tabs, got {self.name[:40]!r}")

    @property
    def is_region(self) -> bool:
        return self.end_s is not None

    @property
    def stop_s(self) -> float:
        """Where it ends: ``end_s`` for a region, ``start_s`` for a point."""
        return self.start_s if self.end_s is None else self.end_s

    @property
    def duration_s(self) -> float:
        return self.stop_s - self.start_s

    def kind(self) -> str:
        return "region" if self.is_region else "marker"

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "start_s": self.start_s}
        if self.end_s is not None:
            d["end_s"] = self.end_s
        return d

    @classmethod
    def from_fields(cls, f: JsonFields) -> Marker:
        """From one JSON object of a project's ``markers`` list; a damaged field raises
        :class:`~dsp.errors.InputError` naming it."""
        start = f.number("start_s", lo=0.0)
        end = f.optional_number("end_s", lo=0.0)
        name = f.text("name", default="")
        try:
            return cls(start, name, end)
        except ParameterError as exc:
            raise InputError(f"{f.where}: damaged field '{f.prefix.rstrip('.')}' ({exc}); {f.fix}") from None


def sort_markers(markers: Iterable[Marker]) -> tuple[Marker, ...]:
    """Markers in time order (start, then end; a point before a region at the same start)."""
    return tuple(sorted(markers, key=lambda m: (m.start_s, m.stop_s, m.name)))


def markers_from_json(items: list[Any], f: JsonFields, key: str = "markers") -> tuple[Marker, ...]:
    """The ``markers`` list of a project file (already known to be a list)."""
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise f.error(f"{key}[{i}]", "an object ({...}) with start_s and name", item)
        out.append(Marker.from_fields(JsonFields(item, f.where, f.fix, f"{f.prefix}{key}[{i}].")))
    return sort_markers(out)


def next_name(markers: Iterable[Marker], region: bool) -> str:
    """``"Marker 3"`` / ``"Region 2"``: one more than the highest number of that kind's default names."""
    word = "Region" if region else "Marker"
    numbers = [int(m.name[len(word) + 1:]) for m in markers
               if m.name.startswith(word + " ") and m.name[len(word) + 1:].isdigit()]
    return f"{word} {max(numbers, default=0) + 1}"


def describe(marker: Marker) -> str:
    """``"'Intro' at 1.50 s"`` or ``"'Ad break' 60.00-90.00 s"`` (history labels)."""
    if marker.is_region:
        return f"'{marker.name}' {marker.start_s:.2f}-{marker.stop_s:.2f} s"
    return f"'{marker.name}' at {marker.start_s:.2f} s"


def markers_csv(markers: Iterable[Marker]) -> str:
    """``name,start_s,end_s`` rows (seconds, 6 decimals; a point's end is its start)."""
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(["name", "start_s", "end_s"])
    for m in markers:
        out.writerow([m.name, f"{m.start_s:.6f}", f"{m.stop_s:.6f}"])
    return buf.getvalue()


def audacity_labels(markers: Iterable[Marker]) -> str:
    """An Audacity label track: ``start<TAB>end<TAB>label`` per line, seconds with 6 decimals."""
    return "".join(f"{m.start_s:.6f}\t{m.stop_s:.6f}\t{m.name}\n" for m in markers)


def export_kind(path: str | os.PathLike) -> str:
    """``"csv"`` for a .csv name, ``"labels"`` for .txt (Audacity's label files)."""
    kind = EXPORT_KINDS.get(Path(path).suffix.lower())
    if kind is None:
        raise ParameterError(f"{Path(path).name}: markers are exported as .csv or as an Audacity label file "
                             "(.txt); choose one of those names")
    return kind


def export_markers(markers: Iterable[Marker], path: str | os.PathLike) -> Path:
    """Write ``markers`` to ``path`` (CSV or Audacity labels, by the extension), atomically."""
    path = Path(path)
    text = markers_csv(markers) if export_kind(path) == "csv" else audacity_labels(markers)
    write_text_atomic(path, text)
    return path
