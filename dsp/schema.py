"""One schema for stage settings: each field's range, unit, choices and one-line doc, said once.

A ``...Settings`` dataclass declares a field with :func:`setting` instead of a bare default::

    max_reduction_db: float = setting(6.0, lo=0.0, hi=40.0, unit="dB",
                                      doc="This pass's cap: it never attenuates a bin by more than this.")

and calls :func:`check_settings` in ``__post_init__``. The same :class:`FieldSchema` is then read
by the settings' own validation (one message for every entry point: ``gate.max_reduction_db must
be between 0 and 40 dB, got 55``), by the workstation (slider range, unit, choice box, tooltip) and
by the command line (range of ``--max-reduction-db``). Cross-field rules (``low < high``) stay in
``__post_init__`` after the call.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from dsp.errors import ParameterError

_KEY = "roomtone"


@dataclass(frozen=True)
class FieldSchema:
    """What a settings field accepts and how to say it.

    ``lo``/``hi`` bound a number (inclusive; ``hi_open`` makes the top exclusive, e.g. a smoothing
    weight in [0, 1)); ``choices`` lists the values a field may take (strings or numbers, with an
    optional label per value); ``unit`` is the short unit shown after numbers ("dB", "ms", "Hz",
    "%"); ``doc`` is one line for tooltips and help.
    """

    lo: float | None = None
    hi: float | None = None
    unit: str = ""
    choices: tuple[Any, ...] | None = None
    labels: tuple[str, ...] | None = None
    doc: str = ""
    hi_open: bool = False

    def describe(self) -> str:
        """The accepted values in words: ``between 0 and 40 dB``, ``one of auto, 50, 60``."""
        if self.choices is not None:
            return "one of " + ", ".join(str(c) for c in self.choices)
        unit = f" {self.unit}" if self.unit else ""
        if self.lo is not None and self.hi is not None:
            if self.hi_open:
                return f"at least {self.lo:g} and below {self.hi:g}{unit}"
            return f"between {self.lo:g} and {self.hi:g}{unit}"
        if self.lo is not None:
            return f"at least {self.lo:g}{unit}"
        if self.hi is not None:
            return f"at most {self.hi:g}{unit}"
        return "any value"

    def accepts(self, value: Any) -> bool:
        if self.choices is not None:
            return value in self.choices
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return True  # not a number: the type check is coerce_setting's
        if not math.isfinite(float(value)):
            return False
        if self.lo is not None and value < self.lo:
            return False
        if self.hi is not None and (value >= self.hi if self.hi_open else value > self.hi):
            return False
        return True


def setting(default: Any, *, lo: float | None = None, hi: float | None = None, unit: str = "",
            choices: tuple[Any, ...] | None = None, labels: tuple[str, ...] | None = None, doc: str = "",
            hi_open: bool = False) -> Any:
    """A dataclass field with ``default`` and its :class:`FieldSchema`."""
    schema = FieldSchema(lo, hi, unit, tuple(choices) if choices is not None else None,
                         tuple(labels) if labels is not None else None, doc, hi_open)
    return dataclasses.field(default=default, metadata={_KEY: schema})


def field_schema(cls_or_obj: Any, name: str) -> FieldSchema | None:
    """The schema of field ``name`` of a settings class (or instance); None where none was declared."""
    for f in dataclasses.fields(cls_or_obj):
        if f.name == name:
            return f.metadata.get(_KEY)
    return None


def schemas(cls_or_obj: Any) -> dict[str, FieldSchema]:
    """Every declared field schema of a settings class, by field name."""
    return {f.name: f.metadata[_KEY] for f in dataclasses.fields(cls_or_obj) if _KEY in f.metadata}


def check_settings(obj: Any, prefix: str) -> None:
    """Refuse a value outside its field's schema: ``ParameterError`` naming ``prefix.field``,
    what it accepts and what it got."""
    defaults = {f.name: f.default for f in dataclasses.fields(obj)}
    for name, schema in schemas(obj).items():
        value = getattr(obj, name)
        if isinstance(defaults.get(name), bool) and not isinstance(value, bool):
            raise ParameterError(f"{prefix}.{name} must be true or false, got {value!r}")
        if not schema.accepts(value):
            raise ParameterError(f"{prefix}.{name} must be {schema.describe()}, got {value!r}")
