"""The edit list: region operations and spectral repair on the chain's rendered output.

What an edit is
---------------
An edit is frozen data, like the chain settings: a kind, a span ``[start_s, end_s)`` in
*source* seconds (so a later cut never moves an earlier edit) and ``handle_s`` (default 10 ms),
the crossfade outside the span on either side. Kinds:

* :class:`ProcessSelection`: the span gets its own chain settings (a snapshot of the chain, or
  one stage of it) applied to the *source* and replaces the chain's output there, crossfaded
  at the handles (no double processing; with an empty whole-file chain this is RX's behaviour).
* :class:`RoomToneFill`: the span becomes room tone synthesised from the room-tone profile
  (:func:`dsp.refill.synthesise_room_tone`, the hole refill's seeded noise: the profile's level
  and spectrum), for coughs, clicks and bumps.
* :class:`RegionGain`: a gain in dB on the span (a word or a laugh that is too loud).
* :class:`SpectralRepair`: a time-frequency rectangle is attenuated by ``attenuation_db`` or its
  bins are replaced by magnitudes interpolated (in dB, over time) from the context on either
  side, with the original phase or a random one (RX's Spectral Repair, attenuate / replace).
* :class:`Cut`: removes the span from the output. The join is an equal-power crossfade of the
  ``handle`` before the cut into the ``handle`` just before its end (so the output shortens by
  exactly the cut); with ``keep_room_tone`` both sides fade through room tone instead (the
  left side into room tone over the handle, room tone into the right side over the next), so
  the join neither clicks nor goes dead.

How edits render
----------------
:class:`EditRenderer` wraps THE render loop (:func:`dsp.render.render_blocks`): the chain's
output blocks (latency-compensated, so sample ``n`` of a block is source sample ``n``) get the
process-selection edits first (they replace the chain's output), then the room-tone fills,
gains and spectral repairs in list order, then the cut joins; the samples inside cuts are
dropped last. Outside each edit's *reach* (its span and handles; a spectral repair adds half its
FFT window) the output equals the plain render sample for sample. The output is addressed in
output samples; :class:`EditPlan` maps source time to output time and back (the monitor and the
waveform seek with it).

Fades: equal-power (``cos``/``sin``) where the two sides are different audio (room tone against
the programme, the two sides of a cut); equal-gain (``sin**2``, summing to one) where they are
the same audio two ways (process selection, the gain ramp), where equal-power would lift the
handle's middle by up to 3 dB.

Streaming: the chain runs block by block; a process selection runs its own processor over its
span only (from where the render enters it, with preroll); room tone is a function of the
absolute sample index; a spectral repair transforms its span plus context once (memory grows
with the repaired span, never with the file); a plain cut's join reads the cut's last handle
once. Units: samples at the source rate, audio ``(channels, samples)`` float32.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import scipy.fft

from dsp.chain import ChainSettings
from dsp.engine import Processor
from dsp.errors import InputError, ParameterError
from dsp.jsonfields import JsonFields
from dsp.refill import combine_seeds, synthesise_room_tone
from dsp.render import DEFAULT_BLOCK, BlockSource, render_blocks
from dsp.roomtone import NoiseProfile
from dsp.schema import check_settings, setting
from dsp.stft import frame_signal, overlap_add, stft_windows

#: Default crossfade handle on either side of an edit (seconds).
DEFAULT_HANDLE_S = 0.010
#: The longest handle accepted (seconds).
MAX_HANDLE_S = 1.0
REPAIR_MODES = ("attenuate", "replace")
REPAIR_PHASES = ("original", "random")
#: Context read on either side of a spectral repair for ``replace`` (seconds).
REPAIR_CONTEXT_S = 0.12
#: The longest spectral repair (seconds): it is transformed in one piece, so memory grows with it.
MAX_REPAIR_S = 120.0
_SALT = {"room_tone": 0x52544E46, "cut": 0x43555421, "repair": 0x53505250}


def _check_span(edit: _Span) -> None:
    """The span's own rule, then every field against its schema (:func:`dsp.schema.check_settings`:
    the same ``kind.field must be ...`` message as the stage settings)."""
    kind, start_s, end_s = edit.kind, edit.start_s, edit.end_s
    for name, v in (("start_s", start_s), ("end_s", end_s)):
        if not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ParameterError(f"{kind}: {name} must be a finite number of seconds, got {v!r}")
    if start_s < 0 or end_s <= start_s:
        raise ParameterError(f"{kind}: the span must satisfy 0 <= start < end, got {start_s:g}-{end_s:g} s; select some time first")
    check_settings(edit, kind)


def _handle() -> float:
    return setting(DEFAULT_HANDLE_S, lo=0.0, hi=MAX_HANDLE_S, unit="s",
                   doc="Crossfade outside the span on either side.")


@dataclass(frozen=True)
class _Span:
    start_s: float
    end_s: float

    kind: ClassVar[str] = ""

    def span_text(self) -> str:
        return f"{self.start_s:.2f}-{self.end_s:.2f} s"


@dataclass(frozen=True)
class ProcessSelection(_Span):
    """The span processed by ``chain`` (applied to the source) instead of the project's chain."""

    chain: ChainSettings = field(default_factory=ChainSettings)
    what: str = "the chain"  #: what ``chain`` is, for labels ("the chain", "De-click")
    handle_s: float = _handle()
    kind: ClassVar[str] = "process"

    def __post_init__(self) -> None:
        _check_span(self)
        if not isinstance(self.chain, ChainSettings):
            raise ParameterError(f"process: chain must be ChainSettings, got {type(self.chain).__name__}")

    def describe(self) -> str:
        return f"Process {self.span_text()} with {self.what}"


@dataclass(frozen=True)
class RoomToneFill(_Span):
    """The span replaced by room tone synthesised from the profile (``gain_db`` relative to it)."""

    gain_db: float = setting(0.0, lo=-60.0, hi=20.0, unit="dB", doc="The room tone's level against the profile's.")
    handle_s: float = _handle()
    kind: ClassVar[str] = "room_tone"

    def __post_init__(self) -> None:
        _check_span(self)

    def describe(self) -> str:
        return f"Replace {self.span_text()} with room tone"


@dataclass(frozen=True)
class RegionGain(_Span):
    """A gain (dB) on the span."""

    gain_db: float = setting(-6.0, lo=-60.0, hi=24.0, unit="dB", doc="The gain on the span.")
    handle_s: float = _handle()
    kind: ClassVar[str] = "gain"

    def __post_init__(self) -> None:
        _check_span(self)

    def describe(self) -> str:
        return f"Gain {self.gain_db:+.1f} dB on {self.span_text()}"


@dataclass(frozen=True)
class SpectralRepair(_Span):
    """A time-frequency rectangle attenuated, or replaced by interpolation from either side."""

    low_hz: float = setting(0.0, lo=0.0, unit="Hz", doc="The rectangle's lowest frequency.")
    high_hz: float = setting(1000.0, lo=0.0, unit="Hz", doc="The rectangle's highest frequency.")
    mode: str = setting("attenuate", choices=REPAIR_MODES,
                        doc="attenuate: the bins go down; replace: interpolated from either side.")
    attenuation_db: float = setting(30.0, lo=0.0, hi=120.0, unit="dB", doc="How far attenuate takes the bins down.")
    phase: str = setting("original", choices=REPAIR_PHASES, doc="The phase replace gives the interpolated bins.")
    handle_s: float = _handle()
    kind: ClassVar[str] = "spectral"

    def __post_init__(self) -> None:
        _check_span(self)
        if not self.low_hz < self.high_hz:
            raise ParameterError(f"spectral: the band must satisfy low < high, got {self.low_hz}-{self.high_hz} Hz")

    def describe(self) -> str:
        what = f"Attenuate {self.attenuation_db:.0f} dB" if self.mode == "attenuate" else "Replace"
        return f"{what} {self.span_text()}, {self.low_hz:.0f}-{self.high_hz:.0f} Hz (spectral repair)"


@dataclass(frozen=True)
class Cut(_Span):
    """Removes the span; ``keep_room_tone`` crossfades the join through room tone."""

    keep_room_tone: bool = setting(False, doc="Crossfade the join through room tone.")
    handle_s: float = _handle()
    kind: ClassVar[str] = "cut"

    def __post_init__(self) -> None:
        _check_span(self)

    def describe(self) -> str:
        return f"Cut {self.span_text()}" + (", keep room tone" if self.keep_room_tone else "")


Edit = ProcessSelection | RoomToneFill | RegionGain | SpectralRepair | Cut
EDIT_KINDS: dict[str, type] = {c.kind: c for c in (ProcessSelection, RoomToneFill, RegionGain, SpectralRepair, Cut)}


# -- JSON ------------------------------------------------------------------------------------------
def edit_to_dict(edit: Edit) -> dict[str, Any]:
    """JSON-able form: ``{"kind": ..., fields...}`` (a process selection's chain as its dict)."""
    d: dict[str, Any] = {"kind": edit.kind}
    for name in edit.__dataclass_fields__:
        v = getattr(edit, name)
        d[name] = v.to_dict() if isinstance(v, ChainSettings) else v
    return d


def edit_from_dict(d: Any, *, where: str = "edit", fix: str = "remove the edit or restore the file") -> Edit:
    """Inverse of :func:`edit_to_dict`; damaged data raises :class:`~dsp.errors.InputError` naming the field."""
    if not isinstance(d, Mapping):
        raise InputError(f"{where}: damaged: expected an object describing an edit, got {type(d).__name__}; {fix}")
    f = JsonFields(d, where, fix)
    kind = f.text("kind")
    if kind not in EDIT_KINDS:
        raise f.error("kind", f"one of {', '.join(EDIT_KINDS)}", kind)
    span = dict(start_s=f.number("start_s", lo=0.0), end_s=f.number("end_s", lo=0.0),
                handle_s=f.number("handle_s", lo=0.0, hi=MAX_HANDLE_S, default=DEFAULT_HANDLE_S))
    extra: dict[str, Any] = {}
    if kind == "process":
        chain = f.mapping("chain")
        assert chain is not None
        try:
            extra["chain"] = ChainSettings.from_dict(dict(chain.data))
        except (ParameterError, TypeError, ValueError, AttributeError) as exc:
            raise InputError(f"{where}: damaged field 'chain' ({exc}); {fix}") from None
        extra["what"] = f.text("what", default="the chain")
    elif kind in ("room_tone", "gain"):
        extra["gain_db"] = f.number("gain_db", default=0.0 if kind == "room_tone" else -6.0)
    elif kind == "spectral":
        extra.update(low_hz=f.number("low_hz", lo=0.0), high_hz=f.number("high_hz", lo=0.0),
                     mode=f.text("mode", default="attenuate"), attenuation_db=f.number("attenuation_db", default=30.0),
                     phase=f.text("phase", default="original"))
    else:
        extra["keep_room_tone"] = f.flag("keep_room_tone", default=False)
    try:
        return EDIT_KINDS[kind](**span, **extra)  # type: ignore[no-any-return]
    except ParameterError as exc:
        raise InputError(f"{where}: damaged edit ({exc}); {fix}") from None


# -- fades ---------------------------------------------------------------------------------------
def _ramp(q: np.ndarray, a: int, b: int, h_in: int, h_out: int) -> np.ndarray:
    """Weight 0..1 at positions ``q``: rising over ``[a - h_in, a)``, 1 on ``[a, b)``, falling over ``[b, b + h_out)``."""
    u = np.zeros(q.shape, np.float64)
    inside = (q >= a) & (q < b)
    u[inside] = 1.0
    if h_in > 0:
        m = (q >= a - h_in) & (q < a)
        u[m] = (q[m] - (a - h_in) + 0.5) / h_in
    if h_out > 0:
        m = (q >= b) & (q < b + h_out)
        u[m] = 1.0 - (q[m] - b + 0.5) / h_out
    return u


def equal_power(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(fade_out, fade_in)`` with ``out**2 + in**2 == 1`` for weights ``u`` in 0..1."""
    return np.cos(0.5 * np.pi * u), np.sin(0.5 * np.pi * u)


def equal_gain(u: np.ndarray) -> np.ndarray:
    """The fade-in ``sin**2`` (its fade-out is ``1 - sin**2``: the two sum to one)."""
    return np.sin(0.5 * np.pi * u) ** 2


def repair_fft_size(sample_rate: int) -> int:
    """The spectral repair's FFT: the power of two of at least 20 ms (1024 at 48 kHz)."""
    return 1 << max(6, math.ceil(math.log2(0.02 * sample_rate)))


# -- the plan: edits in samples, the time map ----------------------------------------------------
@dataclass(frozen=True)
class _Placed:
    index: int  #: position in the edit list
    edit: Edit
    a: int  #: span start (source sample)
    b: int  #: span end
    h: int  #: handle (samples)


class EditPlan:
    """An edit list placed on a source of ``frames`` samples at ``sample_rate``.

    Parameters
    ----------
    edits : sequence of Edit
        In list order (spans in source seconds). Spans are clipped to the source; an edit that
        lies wholly past the end is refused.
    profile : NoiseProfile, optional
        Needed by room-tone fills and cuts that keep room tone.
    seed : int
        The chain's seed; each room tone's noise is seeded from it and its own start sample.
    require_profile : bool
        False only to check a list before a profile exists (it cannot render then).
    """

    def __init__(self, edits: Sequence[Edit], *, sample_rate: int, frames: int, channels: int = 1,
                 profile: NoiseProfile | None = None, seed: int = 0, require_profile: bool = True) -> None:
        self.edits = tuple(edits)
        self.sample_rate, self.frames, self.channels = int(sample_rate), int(frames), int(channels)
        self.profile, self.seed = profile, int(seed)
        placed = [self._place(i, e) for i, e in enumerate(self.edits)]
        needs_tone = [p.edit for p in placed if isinstance(p.edit, RoomToneFill)
                      or (isinstance(p.edit, Cut) and p.edit.keep_room_tone)]
        if needs_tone and profile is None and require_profile:
            raise ParameterError(f"{needs_tone[0].describe()} needs a room-tone profile: learn or find the room tone first")
        if profile is not None and needs_tone and profile.sample_rate != self.sample_rate:
            raise ParameterError(f"the room-tone profile is at {profile.sample_rate} Hz but the source is at "
                                 f"{self.sample_rate} Hz; learn the room tone from this file")
        self.regions = [p for p in placed if isinstance(p.edit, ProcessSelection)]
        self.regions += [p for p in placed if not isinstance(p.edit, (ProcessSelection, Cut))]
        self.cuts = sorted((p for p in placed if isinstance(p.edit, Cut)), key=lambda p: p.a)
        self._joins = self._check_cuts()
        kept, prev = [], 0
        for c in self.cuts:
            if c.a > prev:
                kept.append((prev, c.a))
            prev = c.b
        if prev < self.frames:
            kept.append((prev, self.frames))
        out, self.segments = 0, []
        for a, b in kept:
            self.segments.append((a, b, out))
            out += b - a
        self.output_frames = out

    def _place(self, i: int, e: Edit) -> _Placed:
        sr = self.sample_rate
        a, b = int(round(e.start_s * sr)), min(int(round(e.end_s * sr)), self.frames)
        if a >= self.frames or b <= a:
            raise ParameterError(f"{e.describe()} lies outside the source ({self.frames / sr:.2f} s); remove it")
        if isinstance(e, SpectralRepair) and (b - a) > MAX_REPAIR_S * sr:
            raise ParameterError(f"{e.describe()}: a spectral repair covers at most {MAX_REPAIR_S:.0f} s; "
                                 "select less (several repairs can follow one another)")
        if isinstance(e, SpectralRepair) and e.low_hz >= sr / 2:
            raise ParameterError(f"{e.describe()}: the band lies above the source's Nyquist frequency ({sr / 2:.0f} Hz)")
        return _Placed(i, e, a, b, int(round(e.handle_s * sr)))

    def _check_cuts(self) -> dict[int, tuple[int, int]]:
        """Per cut, ``(left handle, right handle)`` in samples, clipped to the audio around it."""
        joins: dict[int, tuple[int, int]] = {}
        for j, c in enumerate(self.cuts):
            prev_end = self.cuts[j - 1].b if j else 0
            nxt = self.cuts[j + 1].a if j + 1 < len(self.cuts) else self.frames
            if j and c.a < prev_end:
                raise ParameterError(f"{c.edit.describe()} overlaps {self.cuts[j - 1].edit.describe()}; "
                                     "remove one and cut the whole span once")
            right = min(c.h, nxt - c.b) if isinstance(c.edit, Cut) and c.edit.keep_room_tone else 0
            left = min(c.h, c.a - prev_end - (joins[self.cuts[j - 1].index][1] if j else 0))
            joins[c.index] = (max(0, left), max(0, right))
        return joins

    def join_handles(self, cut_index: int) -> tuple[int, int]:
        return self._joins[cut_index]

    # -- time map ---------------------------------------------------------------------------
    def source_to_output(self, s: int) -> int:
        """Output sample of source sample ``s`` (a sample inside a cut maps to the join)."""
        removed = 0
        for c in self.cuts:
            if s >= c.b:
                removed += c.b - c.a
            elif s > c.a:
                return c.a - removed
        return int(s) - removed

    def output_to_source(self, o: int) -> int:
        """Source sample heard at output sample ``o`` (``frames`` at and past the end)."""
        for a, b, out in self.segments:
            if o < out + (b - a):
                return a + max(0, int(o) - out)
        return self.frames

    def source_to_output_s(self, t: float) -> float:
        return self.source_to_output(int(round(t * self.sample_rate))) / self.sample_rate

    def output_to_source_s(self, t: float) -> float:
        return self.output_to_source(int(round(t * self.sample_rate))) / self.sample_rate

    def reach(self, p: _Placed) -> tuple[int, int]:
        """Source samples ``[lo, hi)`` an edit may change."""
        pad = repair_fft_size(self.sample_rate) // 2 if isinstance(p.edit, SpectralRepair) else 0
        return max(0, p.a - p.h - pad), min(self.frames, p.b + p.h + pad)

    def room_tone(self, start: int, frames: int, salt: int, key: int, gain_db: float = 0.0) -> np.ndarray:
        assert self.profile is not None
        seed = combine_seeds(self.seed, (_SALT_MIX * salt + key) & 0xFFFFFFFFFFFFFFFF)
        return synthesise_room_tone(self.profile, start, frames, seed=seed, channels=self.channels, gain_db=gain_db)


_SALT_MIX = 0x100000001B3


# -- rendering -------------------------------------------------------------------------------------
class _Cursor:
    """Exact pulls of ``[q0, q1)`` from a processor's render of the source, restarted when not contiguous."""

    def __init__(self, source: BlockSource, processor: Processor, stop: int, block_size: int) -> None:
        self.source, self.processor, self.stop, self.block_size = source, processor, stop, block_size
        self.pos = -1
        self._gen: Iterator[np.ndarray] | None = None
        self._buf = np.zeros((source.channels, 0), np.float32)

    def get(self, q0: int, q1: int) -> np.ndarray:
        if q0 != self.pos or self._gen is None:
            self._gen = render_blocks(self.source, self.processor, start=q0, stop=self.stop, block_size=self.block_size)
            self._buf = np.zeros((self.source.channels, 0), np.float32)
        parts, have = [self._buf], self._buf.shape[1]
        while have < q1 - q0:
            block = next(self._gen)
            parts.append(block)
            have += block.shape[1]
        joined = np.concatenate(parts, axis=1) if len(parts) > 1 else self._buf
        self._buf = joined[:, q1 - q0:]
        self.pos = q1
        return joined[:, : q1 - q0]


class EditRenderer:
    """Renders ``processor`` over ``source`` with ``plan``'s edits, in output samples.

    Parameters
    ----------
    source : BlockSource
    processor : Processor
        The project's chain (as for :func:`dsp.render.render_blocks`).
    plan : EditPlan
    processors : mapping of edit index -> Processor
        One processor per :class:`ProcessSelection` (built by the caller from its chain).
    side_processor : Processor, optional
        A second instance of the chain for the short renders of their own that spectral repairs
        and plain cuts read (the main render's processor cannot be reset under it); by default
        a deep copy of ``processor``.
    """

    def __init__(self, source: BlockSource, processor: Processor, plan: EditPlan, *,
                 processors: Mapping[int, Processor] | None = None, side_processor: Processor | None = None,
                 block_size: int = DEFAULT_BLOCK) -> None:
        if source.frames != plan.frames or source.sample_rate != plan.sample_rate:
            raise ParameterError(f"the edit plan is for {plan.frames} samples at {plan.sample_rate} Hz but the source "
                                 f"has {source.frames} at {source.sample_rate} Hz")
        self.source, self.processor, self.plan, self.block_size = source, processor, plan, int(block_size)
        procs = dict(processors or {})
        self._cursors: dict[int, _Cursor] = {}
        for p in plan.regions:
            if isinstance(p.edit, ProcessSelection):
                if p.index not in procs:
                    raise ParameterError(f"{p.edit.describe()}: no processor was built for it")
                self._cursors[p.index] = _Cursor(source, procs[p.index], plan.reach(p)[1], self.block_size)
        self._side = side_processor
        self._deltas: dict[int, tuple[int, np.ndarray]] = {}
        self._tails: dict[int, np.ndarray] = {}

    @property
    def frames(self) -> int:
        return self.plan.output_frames

    # -- the region edits on a block of the chain's output --------------------------------------
    def _apply_regions(self, x: np.ndarray, p0: int, upto: int | None = None) -> np.ndarray:
        plan = self.plan
        n = x.shape[1]
        for order, pl in enumerate(plan.regions):
            if upto is not None and order >= upto:
                break
            lo, hi = plan.reach(pl)
            a, b = max(lo, p0), min(hi, p0 + n)
            if a >= b:
                continue
            q = np.arange(a, b, dtype=np.int64)
            seg = x[:, a - p0 : b - p0]
            e = pl.edit
            if isinstance(e, ProcessSelection):
                w = equal_gain(_ramp(q, pl.a, pl.b, pl.h, pl.h))
                seg[:] = seg * (1.0 - w).astype(np.float32) + self._cursors[pl.index].get(a, b) * w.astype(np.float32)
            elif isinstance(e, RoomToneFill):
                fo, fi = equal_power(_ramp(q, pl.a, pl.b, pl.h, pl.h))
                tone = plan.room_tone(a, b - a, _SALT["room_tone"], pl.a, e.gain_db)
                seg[:] = seg * fo.astype(np.float32) + tone * fi.astype(np.float32)
            elif isinstance(e, RegionGain):
                g = 10.0 ** (e.gain_db / 20.0)
                seg *= (1.0 + (g - 1.0) * equal_gain(_ramp(q, pl.a, pl.b, pl.h, pl.h))).astype(np.float32)
            elif isinstance(e, SpectralRepair):
                d0, delta = self._repair_delta(order, pl)
                seg += delta[:, a - d0 : b - d0]
        return x

    def _span(self, a: int, b: int, upto: int | None = None) -> np.ndarray:
        """The chain's output over source ``[a, b)`` with the region edits before ``upto`` (a render of its own)."""
        if self._side is None:
            self._side = copy.deepcopy(self.processor)
        parts = list(render_blocks(self.source, self._side, start=a, stop=b, block_size=self.block_size))
        x = np.concatenate(parts, axis=1) if parts else np.zeros((self.source.channels, 0), np.float32)
        return self._apply_regions(np.ascontiguousarray(x), a, upto)

    def _repair_delta(self, order: int, pl: _Placed) -> tuple[int, np.ndarray]:
        if pl.index not in self._deltas:
            self._deltas[pl.index] = spectral_repair_delta(self, order, pl)
        return self._deltas[pl.index]

    # -- cut joins ----------------------------------------------------------------------------
    def _apply_joins(self, x: np.ndarray, p0: int) -> None:
        plan, n = self.plan, x.shape[1]
        for c in plan.cuts:
            hl, hr = plan.join_handles(c.index)
            keep = isinstance(c.edit, Cut) and c.edit.keep_room_tone
            if hl and p0 < c.a and p0 + n > c.a - hl:  # the left side fades out into the join
                a, b = max(c.a - hl, p0), min(c.a, p0 + n)
                out_w, in_w = equal_power(_ramp(np.arange(a, b, dtype=np.int64), c.a, c.a + 1, hl, 0))
                # room tone (continuous through the join), or the cut's own last handle
                other = plan.room_tone(a, b - a, _SALT["cut"], c.a) if keep else self._tail(c)[:, a - (c.a - hl) : b - (c.a - hl)]
                x[:, a - p0 : b - p0] = x[:, a - p0 : b - p0] * out_w.astype(np.float32) + other * in_w.astype(np.float32)
            if keep and hr and p0 < c.b + hr and p0 + n > c.b:  # room tone fades into the right side
                a, b = max(c.b, p0), min(c.b + hr, p0 + n)
                fo, fi = equal_power(1.0 - _ramp(np.arange(a, b, dtype=np.int64), c.b - 1, c.b, 0, hr))
                tone = plan.room_tone(c.a + (a - c.b), b - a, _SALT["cut"], c.a)
                x[:, a - p0 : b - p0] = tone * fo.astype(np.float32) + x[:, a - p0 : b - p0] * fi.astype(np.float32)

    def _tail(self, c: _Placed) -> np.ndarray:
        """A plain cut's last ``left handle`` samples (edited), faded in at the join."""
        if c.index not in self._tails:
            hl, _ = self.plan.join_handles(c.index)
            self._tails[c.index] = self._span(c.b - hl, c.b)
        return self._tails[c.index]

    # -- the output ---------------------------------------------------------------------------
    def blocks(self, start: int = 0, stop: int | None = None, *, progress: Callable[[int, int], None] | None = None,
               cancel: Callable[[], bool] | None = None) -> Iterator[np.ndarray]:
        """Yield the edited output ``[start, stop)`` (output samples) in blocks."""
        plan = self.plan
        stop = plan.output_frames if stop is None else int(stop)
        if not 0 <= start <= stop <= plan.output_frames:
            raise ParameterError(f"render span [{start}, {stop}) is outside the edited output's {plan.output_frames} samples")
        if start == stop:
            return
        s0 = plan.output_to_source(start)
        s1 = plan.output_to_source(stop - 1) + 1
        need, done = stop - start, 0
        p = s0
        for block in render_blocks(self.source, self.processor, start=s0, stop=s1, block_size=self.block_size,
                                   cancel=cancel):
            n = block.shape[1]
            x = self._apply_regions(np.array(block, np.float32, copy=True), p)
            self._apply_joins(x, p)
            keep = self._kept(p, p + n)
            out = x if keep is None else x[:, keep]
            p += n
            if out.shape[1]:
                done += out.shape[1]
                if progress is not None:
                    progress(done, need)
                yield np.ascontiguousarray(out)

    def _kept(self, a: int, b: int) -> np.ndarray | None:
        """Indices of ``[a, b)`` outside every cut (None: all of it)."""
        if not any(c.a < b and c.b > a for c in self.plan.cuts):
            return None
        mask = np.ones(b - a, bool)
        for c in self.plan.cuts:
            lo, hi = max(c.a, a), min(c.b, b)
            if lo < hi:
                mask[lo - a : hi - a] = False
        return np.flatnonzero(mask)

    def render(self) -> np.ndarray:
        """The whole edited output in memory (tests, short files)."""
        parts = list(self.blocks())
        return np.concatenate(parts, axis=1) if parts else np.zeros((self.source.channels, 0), np.float32)


# -- spectral repair -------------------------------------------------------------------------------
def spectral_repair_delta(renderer: EditRenderer, order: int, pl: _Placed) -> tuple[int, np.ndarray]:
    """``(first sample, delta)``: what the repair adds to the output over its reach.

    The span plus ``REPAIR_CONTEXT_S`` and one window on either side is rendered (with the
    edits before it), framed on an absolute hop grid (frame ``f`` covers ``[f*hop, f*hop +
    n_fft)``) and transformed. Each frame gets a weight ``w`` from its centre (1 inside the span,
    rising and falling over the handles). In the band's bins, ``attenuate`` multiplies by
    ``10**(-attenuation_db * w / 20)``; ``replace`` moves each bin ``w`` of the way to a
    magnitude interpolated in dB between the mean power of the context frames before and after
    (with the original phase, or a seeded random one). Only the change is inverse transformed and
    overlap-added, so where no frame changed the delta is exactly zero.
    """
    plan = renderer.plan
    e = pl.edit
    assert isinstance(e, SpectralRepair)
    sr = plan.sample_rate
    n = repair_fft_size(sr)
    hop = n // 4
    ctx = int(round(REPAIR_CONTEXT_S * sr))
    f_lo = max(0, (pl.a - pl.h - ctx - n) // hop)
    f_hi = (pl.b + pl.h + ctx) // hop + 1
    p0 = f_lo * hop
    total = (f_hi - f_lo - 1) * hop + n
    p1 = min(plan.frames, p0 + total)
    x = renderer._span(p0, p1, order)
    if x.shape[1] < total:
        x = np.concatenate([x, np.zeros((x.shape[0], total - x.shape[1]), np.float32)], axis=1)
    wa, ws = stft_windows(n, hop)
    spec = scipy.fft.rfft(frame_signal(x, n, hop, wa), axis=-1)  # (channels, frames, bins) complex64
    centres = (np.arange(f_lo, f_hi) * hop + n // 2).astype(np.int64)
    w = _ramp(centres, pl.a, pl.b, pl.h, pl.h)
    freqs = np.arange(n // 2 + 1) * (sr / n)
    band = (freqs >= e.low_hz) & (freqs <= e.high_hz)
    diff = np.zeros_like(spec)
    rows = np.flatnonzero(w > 0)
    cols = np.flatnonzero(band)
    if rows.size and cols.size:
        X = spec[:, rows][:, :, cols]
        wr = w[rows][None, :, None] * _band_taper(cols.size)[None, None, :]
        if e.mode == "attenuate":
            new = X * (10.0 ** (-e.attenuation_db * wr / 20.0)).astype(np.float32)
        else:
            new = X + wr.astype(np.float32) * (_interpolated(spec, centres, pl, n, ctx, cols, rows, plan, e) - X)
        diff[:, rows[:, None], cols[None, :]] = (new - X).astype(np.complex64)
    y = scipy.fft.irfft(diff, n=n, axis=-1).astype(np.float32)
    delta = np.zeros((x.shape[0], total), np.float32)
    overlap_add(y, hop, ws, delta)
    return p0, delta[:, : p1 - p0]


#: Bins at each edge of a repair's band that ramp in (a hard-edged mask leaks past the band).
BAND_TAPER_BINS = 2


def _band_taper(n: int) -> np.ndarray:
    """Weights of a band's ``n`` bins: 1 inside, a ``sin**2`` ramp over the ``BAND_TAPER_BINS`` at each edge."""
    w = np.ones(n)
    k = min(BAND_TAPER_BINS, n // 2)
    if k:
        ramp = equal_gain((np.arange(k) + 1.0) / (k + 1.0))
        w[:k], w[n - k :] = ramp, ramp[::-1]
    return w


def _interpolated(spec: np.ndarray, centres: np.ndarray, pl: _Placed, n: int, ctx: int, cols: np.ndarray,
                  rows: np.ndarray, plan: EditPlan, e: SpectralRepair) -> np.ndarray:
    """The ``replace`` mode's bins: magnitudes interpolated in dB across time from either side."""
    half = n // 2
    left = (centres < pl.a - pl.h - half) & (centres >= pl.a - pl.h - half - ctx)
    right = (centres >= pl.b + pl.h + half) & (centres < pl.b + pl.h + half + ctx)
    power = np.abs(spec[:, :, cols]).astype(np.float64) ** 2 + 1e-20
    sides = [(np.log(power[:, m].mean(axis=1)), float(centres[m].mean())) for m in (left, right) if m.any()]
    if not sides:
        raise ParameterError(f"{e.describe()}: no audio on either side to interpolate from; use attenuate")
    if len(sides) == 1:
        sides.append(sides[0])
    (lp, lt), (rp, rt) = sides
    t = np.clip((centres[rows] - lt) / (rt - lt), 0.0, 1.0) if rt > lt else np.zeros(rows.size)
    mag = np.exp(0.5 * (lp[:, None, :] + (rp - lp)[:, None, :] * t[None, :, None]))
    X = spec[:, rows][:, :, cols]
    if e.phase == "original":
        unit = X / np.maximum(np.abs(X), 1e-20)
    else:
        rng = np.random.default_rng(combine_seeds(plan.seed, _SALT["repair"] + pl.a))
        unit = np.exp(1j * rng.uniform(0, 2 * np.pi, X.shape))
    return (mag * unit).astype(np.complex64)


def describe_edits(edits: Sequence[Edit]) -> list[dict[str, Any]]:
    """The edits as the render record states them."""
    return [edit_to_dict(e) for e in edits]


# -- hooking into the render loop and the monitor ----------------------------------------------------
@dataclass
class EditSetup:
    """What a render needs to apply an edit list: the plan, one processor per process selection,
    and a second instance of the chain (see :class:`EditRenderer`)."""

    plan: EditPlan
    processors: Mapping[int, Processor] = field(default_factory=dict)
    side_processor: Processor | None = None

    def renderer(self, source: BlockSource, processor: Processor, *, block_size: int = DEFAULT_BLOCK) -> EditRenderer:
        return EditRenderer(source, processor, self.plan, processors=self.processors,
                            side_processor=self.side_processor, block_size=block_size)


class EditedSource:
    """The edited render as a :class:`~dsp.render.BlockSource` in output samples (for the monitor).

    ``read(start, n)`` continues the render where it got to, serves spans it rendered in the
    last ``history`` samples from memory (the monitor reads the same span twice: ahead, through
    its passthrough chain, and a little later as the "original"), and starts a new render (from
    ``start``, with the chain's preroll) otherwise. So what the monitor plays equals
    :meth:`EditRenderer.blocks` from the same playhead.
    """

    def __init__(self, renderer: EditRenderer, *, history: int = 1 << 18) -> None:
        self.renderer = renderer
        self.sample_rate = renderer.source.sample_rate
        self.channels = renderer.source.channels
        self.frames = renderer.frames
        self.history = int(history)
        self._gen: Iterator[np.ndarray] | None = None
        self._cache = np.zeros((self.channels, 0), np.float32)
        self._cache_start = 0  #: output sample of ``_cache[:, 0]``; the render continues at its end
        self.restarts = 0

    def read(self, start: int, frames: int) -> np.ndarray:
        frames = max(0, min(frames, self.frames - start))
        end = self._cache_start + self._cache.shape[1]
        if self._gen is None or not self._cache_start <= start <= end:
            self._gen = self.renderer.blocks(start)
            self._cache, self._cache_start, end = np.zeros((self.channels, 0), np.float32), start, start
            self.restarts += 1
        parts = [self._cache]
        while end < start + frames:
            block = next(self._gen)
            parts.append(block)
            end += block.shape[1]
        cache = np.concatenate(parts, axis=1) if len(parts) > 1 else self._cache
        drop = max(0, min(cache.shape[1] - self.history, start - self._cache_start))
        self._cache, self._cache_start = cache[:, drop:], self._cache_start + drop
        a = start - self._cache_start
        return np.ascontiguousarray(self._cache[:, a : a + frames])


def needs_room_tone(edits: Sequence[Edit]) -> bool:
    """Whether any edit synthesises room tone (then a render needs a profile)."""
    return any(isinstance(e, RoomToneFill) or (isinstance(e, Cut) and e.keep_room_tone) for e in edits)
