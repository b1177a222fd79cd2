"""Reading typed fields out of JSON files the user hands us (profiles, projects).

A JSON file can hold anything: ``"hop_length": 0``, ``"version": "2.0"``, ``"chain": "x"``.
:class:`JsonFields` reads one field at a time with its expected type and range, and turns every
mismatch into an :class:`~dsp.errors.InputError` that names the file, the field, what was
expected and what was found, and says what to do (``fix``). Nothing else (``ValueError``,
``TypeError``, ``AttributeError``) escapes from a loader built on it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dsp.errors import InputError

#: Marks a field that must be present (no default).
REQUIRED: Any = object()


@dataclass(frozen=True)
class JsonFields:
    """Typed access to the fields of one JSON object.

    Parameters
    ----------
    data : Mapping
        The object (already checked to be a mapping: see :meth:`mapping` / :func:`as_fields`).
    where : str
        What the message starts with: the file, and the part of it (``"room.json"``,
        ``"ep.roomtone: room-tone profile"``).
    fix : str
        What the user should do about a damaged field (``"learn the profile again"``).
    prefix : str
        Dotted path of this object inside the file (``"source."``), prepended to field names.
    """

    data: Mapping[str, Any]
    where: str
    fix: str
    prefix: str = ""

    # -- errors -----------------------------------------------------------------------------
    def error(self, key: str, expected: str, value: Any) -> InputError:
        """The error for field ``key``: ``where: damaged field 'key': expected ..., got ...; fix``."""
        shown = repr(value)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        return InputError(f"{self.where}: damaged field '{self.prefix}{key}': expected {expected}, got {shown}; {self.fix}")

    def _get(self, key: str, default: Any) -> tuple[bool, Any]:
        """``(present, value)``; a missing required field raises."""
        if key in self.data:
            return True, self.data[key]
        if default is REQUIRED:
            raise InputError(f"{self.where}: damaged: the field '{self.prefix}{key}' is missing; {self.fix}")
        return False, default

    # -- scalars ----------------------------------------------------------------------------
    def integer(self, key: str, *, lo: int | None = None, hi: int | None = None, default: Any = REQUIRED) -> int:
        """A whole number (``2`` or ``2.0`` in the file; never a string or ``true``) in ``[lo, hi]``."""
        present, v = self._get(key, default)
        if not present:
            return v
        expected = "a whole number" + _range_text(lo, hi)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise self.error(key, expected, v)
        if isinstance(v, float) and not (math.isfinite(v) and v.is_integer()):
            raise self.error(key, expected, v)
        n = int(v)
        if (lo is not None and n < lo) or (hi is not None and n > hi):
            raise self.error(key, expected, v)
        return n

    def number(self, key: str, *, lo: float | None = None, hi: float | None = None, default: Any = REQUIRED) -> float:
        """A finite number (never a string, ``null`` or ``true``) in ``[lo, hi]``."""
        present, v = self._get(key, default)
        if not present:
            return v
        expected = "a finite number" + _range_text(lo, hi)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise self.error(key, expected, v)
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise self.error(key, expected, v)
        return float(v)

    def optional_number(self, key: str, *, lo: float | None = None, hi: float | None = None) -> float | None:
        """:meth:`number`, or ``None`` when the field is missing or ``null``."""
        if self.data.get(key) is None:
            return None
        return self.number(key, lo=lo, hi=hi)

    def text(self, key: str, *, default: Any = REQUIRED) -> str:
        """A string."""
        present, v = self._get(key, default)
        if present and not isinstance(v, str):
            raise self.error(key, "text", v)
        return v

    def flag(self, key: str, *, default: Any = REQUIRED) -> bool:
        """``true`` or ``false``."""
        present, v = self._get(key, default)
        if present and not isinstance(v, bool):
            raise self.error(key, "true or false", v)
        return v

    # -- containers -------------------------------------------------------------------------
    def array(self, key: str, *, default: Any = REQUIRED) -> list[Any]:
        """A JSON list."""
        present, v = self._get(key, default)
        if present and not isinstance(v, list | tuple):
            raise self.error(key, "a list", v)
        return list(v) if present else v

    def texts(self, key: str, *, default: Any = REQUIRED) -> list[str]:
        """A list of strings."""
        present, v = self._get(key, default)
        if not present:
            return v
        items = self.array(key)
        for i, item in enumerate(items):
            if not isinstance(item, str):
                raise self.error(f"{key}[{i}]", "text", item)
        return items

    def numbers(self, key: str, *, lo: float | None = None, hi: float | None = None) -> list[float]:
        """A list of finite numbers in ``[lo, hi]``; the message names the first bad element."""
        items = self.array(key)
        for i, item in enumerate(items):
            if isinstance(item, bool) or not isinstance(item, (int, float)) or not math.isfinite(item) \
                    or (lo is not None and item < lo) or (hi is not None and item > hi):
                raise self.error(f"{key}[{i}]", "a finite number" + _range_text(lo, hi), item)
        return [float(x) for x in items]

    def pairs(self, key: str, *, lo: float | None = None, default: Any = REQUIRED) -> list[tuple[float, float]]:
        """A list of ``[a, b]`` pairs of finite numbers of at least ``lo`` (regions in seconds)."""
        present, v = self._get(key, default)
        if not present:
            return v
        out = []
        for i, item in enumerate(self.array(key)):
            if not (isinstance(item, list | tuple) and len(item) == 2 and all(_number_at_least(x, lo) for x in item)):
                raise self.error(f"{key}[{i}]", "a [start, end] pair of finite numbers" + _range_text(lo, None), item)
            out.append((float(item[0]), float(item[1])))
        return out

    def mapping(self, key: str, *, default: Any = REQUIRED, nullable: bool = False) -> JsonFields | None:
        """The nested object ``key`` as :class:`JsonFields`; ``None`` when allowed and absent/null."""
        present, v = self._get(key, default)
        if not present:
            return v
        if v is None and nullable:
            return None
        if not isinstance(v, Mapping):
            raise self.error(key, "an object ({...})" + (" or null" if nullable else ""), v)
        return JsonFields(v, self.where, self.fix, f"{self.prefix}{key}.")

    def raw(self, key: str, default: Any = None) -> Any:
        """The value as it is (for fields checked by their own loader)."""
        return self.data.get(key, default)


def as_fields(data: Any, where: str, fix: str, what: str) -> JsonFields:
    """``data`` as :class:`JsonFields`, or an InputError when it is not a JSON object at all."""
    if not isinstance(data, Mapping):
        raise InputError(f"{where}: not a {what} (expected a JSON object, found {type(data).__name__}); {fix}")
    return JsonFields(data, where, fix)


def _number_at_least(v: Any, lo: float | None) -> bool:
    return (not isinstance(v, bool) and isinstance(v, int | float) and math.isfinite(v)
            and (lo is None or v >= lo))


def _range_text(lo: float | None, hi: float | None) -> str:
    if lo is not None and hi is not None:
        return f" from {lo:g} to {hi:g}"
    if lo is not None:
        return f" of at least {lo:g}"
    if hi is not None:
        return f" of at most {hi:g}"
    return ""
