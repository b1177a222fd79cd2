"""Times and time ranges as people type them: ``1.5``, ``0:01.5``, ``1:02:03.5``, ``1.5-3``.

Used by the CLI (``--learn A-B``) and batch; seconds are floats, ranges are ``(start, end)``.
"""

from __future__ import annotations

import re

from dsp.errors import ParameterError

_NUMBER = r"\d+(?:\.\d*)?|\.\d+"
_TIME_RE = re.compile(rf"^(?:(?:(\d+):)?(\d+):)?({_NUMBER})$")


def parse_time(text: str) -> float:
    """Seconds from ``S``, ``M:SS(.f)`` or ``H:MM:SS(.f)`` (``1.5``, ``0:01.5``, ``1:02:03.5``).

    Raises
    ------
    ParameterError
        If the text is not a time in one of those forms, or minutes/seconds are 60 or more
        in a clock form.
    """
    s = text.strip()
    m = _TIME_RE.match(s)
    if not m:
        raise ParameterError(
            f"{text!r} is not a time; write seconds (1.5), minutes:seconds (0:01.5) or "
            "hours:minutes:seconds (1:02:03.5)"
        )
    hours, minutes, seconds = m.group(1), m.group(2), float(m.group(3))
    if minutes is not None and seconds >= 60:
        raise ParameterError(f"{text!r}: seconds must be below 60 in a minutes:seconds time")
    if hours is not None and int(minutes) >= 60:
        raise ParameterError(f"{text!r}: minutes must be below 60 in an hours:minutes:seconds time")
    return int(hours or 0) * 3600.0 + int(minutes or 0) * 60.0 + seconds


def parse_range(text: str) -> tuple[float, float]:
    """``(start, end)`` seconds from ``A-B`` with A and B in any :func:`parse_time` form.

    Raises
    ------
    ParameterError
        If there is no single ``-`` between two times, or ``end <= start``.
    """
    parts = text.strip().split("-")
    if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
        raise ParameterError(
            f"{text!r} is not a time range; write START-END, e.g. 1.5-3, 0:01.5-0:03 or 1:02:03.5-1:02:05"
        )
    start, end = parse_time(parts[0]), parse_time(parts[1])
    if end <= start:
        raise ParameterError(f"time range {text!r} ends before it starts ({end:g} s <= {start:g} s)")
    return start, end


def parse_ranges(texts: list[str] | str) -> list[tuple[float, float]]:
    """Ranges from one or more strings, each holding one or more comma-separated ``A-B``."""
    if isinstance(texts, str):
        texts = [texts]
    out: list[tuple[float, float]] = []
    for t in texts:
        for piece in t.split(","):
            if piece.strip():
                out.append(parse_range(piece))
    if not out:
        raise ParameterError("no time range given; write START-END, e.g. 1.5-3")
    return out


def format_time(seconds: float, *, decimals: int = 3) -> str:
    """``H:MM:SS.fff`` (hours only when needed): the inverse of :func:`parse_time`."""
    sign = "-" if seconds < 0 else ""
    scale = 10**decimals
    total = round(abs(seconds) * scale)
    whole, frac = divmod(total, scale)
    h, rem = divmod(whole, 3600)
    m, s = divmod(rem, 60)
    frac_text = f".{frac:0{decimals}d}" if decimals else ""
    if h:
        return f"{sign}{h}:{m:02d}:{s:02d}{frac_text}"
    return f"{sign}{m}:{s:02d}{frac_text}"


def format_duration(seconds: float | None) -> str:
    """A whole-second duration for progress lines: ``4:05``, ``1:02:03``; ``--:--`` when unknown."""
    if seconds is None:
        return "--:--"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"
