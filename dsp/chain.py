"""Chain settings, the stage registry, presets, and building a processor chain from settings.

A chain is an ordered list of :class:`StageSpec` (a stage kind, its frozen ``Settings``,
bypass, and a per-stage dry/wet ``mix``) plus chain-wide options (total reduction cap, STFT
size, whole-chain dry/wet mix and listen mode). Consecutive spectral stages share one
:class:`~dsp.stft.StftProcessor`; time-domain stages (de-hum) run as processors of their own.
The whole thing is wrapped in a latency-aligned :class:`~dsp.engine.DryWet`.

Stage modules register their kinds with :func:`register` at import; :data:`STAGE_MODULES`
lists them so that building a chain imports them all.

Chain settings round-trip through plain dicts (:meth:`ChainSettings.to_dict` /
:meth:`ChainSettings.from_dict`, with :func:`coerce_setting` reading strings and numbers as each
field's type); preset files, user folders and command-line overrides are the app's
(:mod:`app.presets`).
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import sys
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields, replace
from typing import Any

from dsp.engine import Chain, DryWet, Listen, Processor
from dsp.errors import NEEDS_PROFILE, ParameterError
from dsp.presence import LivePresence, LiveSpeechTrack, SpeechSettings, presence_from_track
from dsp.stft import SpectralStage, StftProcessor, StftSettings
from dsp.strength import (
    StrengthSettings,
    apply_strength,
    estimate_snr,
    frame_powers,
    strength_from_snr,
)

#: Modules that register stage kinds (imported lazily by :func:`registry`).
STAGE_MODULES = ("dsp.denoise", "dsp.dehum", "dsp.dereverb", "dsp.refill", "dsp.eqmatch", "dsp.bandmix", "dsp.leveler",
                 "dsp.breath", "dsp.deess", "dsp.declick", "dsp.deplosive")
#: Stage modules of higher layers (e.g. ``models.ml_denoise``), added by the app at start-up
#: with :func:`extend_stage_modules`; dsp itself never names them.
_EXTRA_STAGE_MODULES: list[str] = []


@dataclass(frozen=True)
class BuildContext:
    """Whole-file knowledge handed to stage factories (data, never gathered by stages)."""

    sample_rate: int
    channels: int
    profile: Any = None  # dsp.roomtone.NoiseProfile | None
    hum: Any = None  # dsp.dehum.HumEstimate | None
    max_total_reduction_db: float = 15.0
    seed: int = 0
    extras: dict = field(default_factory=dict)  # e.g. {"speech_spectrum": ...} for EQ match


@dataclass(frozen=True)
class StageKind:
    """A kind of stage the chain can hold."""

    name: str  # "gate", "mmse", "dehum", "refill", ...
    label: str  # human name for the GUI and reports
    settings_cls: type
    domain: str  # "spectral" (runs inside the STFT) or "time" (a Processor of its own)
    factory: Callable[[Any, BuildContext], SpectralStage | Processor]
    description: str = ""
    needs_profile: bool = False
    #: "pass" (a noise-reduction pass: what "keep only these passes" and "maximum reduction" reach), "repair"
    #: (refill, EQ match, band mix) or "utility".
    role: str = "pass"
    #: Optional whole-file analysis run before building: (source, stage settings, context) ->
    #: context with what the stage needs added (e.g. the hum estimate, the EQ-match curve).
    #: ``source`` is a dsp.render.BlockSource; stream it in blocks (bounded memory).
    analyse: Callable[[Any, Any, BuildContext], BuildContext] | None = None
    #: Where a stage of this kind goes when it is added to a chain that lacks it (by an option
    #: such as ``--level``, or Add pass): before the first stage whose kind has a larger
    #: ``placement``. Repairs of the raw signal (de-hum, de-click) 10-19, de-reverb 20-29, noise
    #: passes 30-39, refill 40-49, tone shaping (EQ match, de-ess) 50-59, breath 60-69, leveler 90.
    placement: int = 50
    #: Whether ``analyse`` reads the voice activity track (``context.extras["speech"]``):
    #: the app runs the voice activity model for a chain with such a stage active.
    reads_speech_track: bool = False


_REGISTRY: dict[str, StageKind] = {}


def register(kind: StageKind) -> StageKind:
    if kind.domain not in ("spectral", "time"):
        raise ValueError(f"stage domain must be 'spectral' or 'time', got {kind.domain!r}")
    _REGISTRY[kind.name] = kind
    return kind


def unregister(name: str) -> None:
    """Remove the stage kind ``name`` (tests' stand-in kinds clean up after themselves); no error if absent."""
    _REGISTRY.pop(name, None)


def extend_stage_modules(*modules: str) -> None:
    """Let :func:`registry` also import these modules (optional: a missing one is skipped)."""
    for mod in modules:
        if mod not in _EXTRA_STAGE_MODULES:
            _EXTRA_STAGE_MODULES.append(mod)


def registry() -> dict[str, StageKind]:
    """All stage kinds, importing the stage modules on first use."""
    for mod in STAGE_MODULES:
        if mod not in sys.modules:
            importlib.import_module(mod)
    for mod in _EXTRA_STAGE_MODULES:
        if mod not in sys.modules:
            try:
                importlib.import_module(mod)
            except ImportError:
                continue  # an optional layer that is not installed: its kinds are simply absent
    return dict(_REGISTRY)


def stage_kind(name: str) -> StageKind:
    reg = registry()
    if name not in reg:
        raise ParameterError(f"unknown stage kind {name!r}; known kinds: {', '.join(sorted(reg))}")
    return reg[name]


@dataclass(frozen=True)
class StageSpec:
    """One stage in a chain: its kind, settings, bypass flag and its own dry/wet mix (0..1)."""

    kind: str
    settings: Any
    bypass: bool = False
    mix: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.mix <= 1.0:
            raise ParameterError(f"stage {self.kind!r}: mix must be between 0 and 1, got {self.mix}")


@dataclass(frozen=True)
class ChainSettings:
    """Everything that decides what a render does (besides whole-file analyses)."""

    stages: tuple[StageSpec, ...] = ()
    max_total_reduction_db: float = 15.0
    stft: StftSettings = StftSettings()
    strength: StrengthSettings = StrengthSettings()
    speech: SpeechSettings = SpeechSettings()
    mix: float = 1.0
    listen: str = "processed"
    seed: int = 0
    name: str = "custom"
    description: str = ""

    def __post_init__(self) -> None:
        if not 0.0 <= self.max_total_reduction_db <= 60.0:
            raise ParameterError(
                f"max_total_reduction_db must be between 0 and 60 dB, got {self.max_total_reduction_db}"
            )
        if not 0.0 <= self.mix <= 1.0:
            raise ParameterError(f"mix must be between 0 and 1, got {self.mix}")
        try:
            Listen(self.listen)
        except ValueError:
            raise ParameterError(
                f"listen must be one of {[m.value for m in Listen]}, got {self.listen!r}"
            ) from None

    # -- serialisation ----------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "max_total_reduction_db": self.max_total_reduction_db,
            "mix": self.mix,
            "listen": self.listen,
            "seed": self.seed,
            **{name: dataclasses.asdict(getattr(self, name)) for name in NESTED_GROUPS},
            "stages": [
                {"kind": s.kind, "bypass": s.bypass, "mix": s.mix, **settings_to_dict(s.settings)}
                for s in self.stages
            ],
        }

    @classmethod
    def from_dict(cls, data: dict) -> ChainSettings:
        data = dict(data)
        stages = []
        raw_stages = data.pop("stages", [])
        if not isinstance(raw_stages, list | tuple):
            raise ParameterError(f"stages must be a list of stage tables, got {raw_stages!r}")
        for i, raw in enumerate(raw_stages):
            if not isinstance(raw, Mapping):
                raise ParameterError(f"stage {i} must be a table of settings, got {raw!r}")
            raw = dict(raw)
            if "kind" not in raw:
                raise ParameterError(f"stage {i} has no 'kind'")
            kind = stage_kind(str(raw.pop("kind")))
            where = f"stage {i} ({kind.name})"
            bypass = coerce_setting(raw.pop("bypass", False), False, f"{where}.bypass")
            mix = coerce_setting(raw.pop("mix", 1.0), 1.0, f"{where}.mix")
            stages.append(StageSpec(kind.name, settings_from_dict(kind.settings_cls, raw, where), bypass, mix))
        nested = {name: settings_from_dict(c, data.pop(name, {}), name) for name, c in NESTED_GROUPS.items()}
        known = {f.name for f in fields(cls)} - {"stages", *NESTED_GROUPS}
        unknown = set(data) - known
        if unknown:
            raise ParameterError(f"unknown chain settings {sorted(unknown)}; known: {sorted(known)}")
        defaults = cls()
        values = {k: coerce_setting(v, getattr(defaults, k), k) for k, v in data.items()}
        return cls(stages=tuple(stages), **nested, **values)


#: Chain settings that are groups of their own (``[stft]`` tables in presets, ``stft.n_fft=...``).
NESTED_GROUPS = {"stft": StftSettings, "strength": StrengthSettings, "speech": SpeechSettings}


def settings_to_dict(settings: Any) -> dict:
    """One stage's (or group's) settings as a plain dict (tuples become lists, for TOML/JSON)."""
    d = dataclasses.asdict(settings)
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}


def coerce_setting(value: Any, current: Any, where: str) -> Any:
    """``value`` (a string from the CLI or a preset, or a GUI number) as the type of ``current``.

    ``where`` names the setting in the error message (``gate.max_reduction_db``).
    """
    if current is None or value is None:
        return value
    if isinstance(current, bool):
        if isinstance(value, str):
            low = value.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ParameterError(f"{where}: expected true/false, got {value!r}")
        if isinstance(value, int | float) and value in (0, 1):
            return bool(value)
        raise ParameterError(f"{where}: expected true/false, got {value!r}")
    try:
        if isinstance(current, int):
            f = float(value)
            if f != int(f):
                raise ValueError
            return int(f)
        if isinstance(current, float):
            f = float(value)
            if not math.isfinite(f):
                raise ParameterError(f"{where}: expected a finite number, got {value!r}")
            return f
        if isinstance(current, str):
            if not isinstance(value, str | int | float):
                raise TypeError
            return str(value)
        if isinstance(current, tuple):
            if isinstance(value, str):
                value = value.replace(",", " ").split()
            return tuple(coerce_setting(v, current[0], where) if current else float(v) for v in value)
    except ParameterError:
        raise
    except (TypeError, ValueError, OverflowError):
        expected = {"int": "a whole number", "float": "a number", "str": "text", "tuple": "a list of numbers"}
        raise ParameterError(
            f"{where}: expected {expected.get(type(current).__name__, type(current).__name__)}, got {value!r}"
        ) from None
    return value


def settings_from_dict(cls: type, data: dict, where: str) -> Any:
    """``cls`` with ``data`` over its defaults, each value read as its field's type
    (:func:`coerce_setting`); unknown keys are refused, naming ``where``."""
    if not isinstance(data, Mapping):
        raise ParameterError(f"{where}: expected a table of settings, got {data!r}")
    defaults = cls()
    names = {f.name for f in fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ParameterError(f"{where}: unknown settings {sorted(unknown)}; known: {sorted(names)}")
    values = {k: coerce_setting(v, getattr(defaults, k), f"{where}.{k}") for k, v in data.items()}
    return replace(defaults, **values)


# -- building -----------------------------------------------------------------------------------
def build_chain(settings: ChainSettings, context: BuildContext) -> DryWet:
    """A ready-to-prepare processor for ``settings`` with the whole-file knowledge in ``context``.

    With ``settings.strength.adaptive`` and a strength analysis in ``context.extras["strength"]``,
    the passes' reductions, the total cap and the refill's pause floor are set from it, under the
    caps in ``settings`` (:mod:`dsp.strength`). With ``settings.speech.detector`` and a
    :class:`~dsp.presence.SpeechTrack` in ``context.extras["speech"]`` (filled by the app layer),
    the passes and the refill take their speech presence from it (:mod:`dsp.presence`).
    """
    estimate = context.extras.get("strength")
    if settings.strength.adaptive and estimate is not None:
        settings, _ = apply_strength(settings, estimate.strength, _is_pass)
    context = replace(context, max_total_reduction_db=settings.max_total_reduction_db, seed=settings.seed)
    track = context.extras.get("speech")
    if settings.speech.detector != "none" and track is not None:  # the detector's presence, for the stages
        values = (LivePresence(track, settings.speech) if isinstance(track, LiveSpeechTrack)
                  else presence_from_track(track, settings.speech))  # live: filled while the render runs
        presence = (values, track.frame_s)
        extras = {**context.extras, "speech_presence": presence}
        if settings.speech.refill:
            extras["speech_presence_refill"] = presence
        context = replace(context, extras=extras)
    processors: list[Processor] = []
    spectral: list[SpectralStage] = []

    def flush() -> None:
        if spectral:
            processors.append(
                StftProcessor(list(spectral), settings=settings.stft, max_total_reduction_db=settings.max_total_reduction_db)
            )
            spectral.clear()

    for spec in settings.stages:
        if spec.bypass:
            continue
        kind = stage_kind(spec.kind)
        if kind.needs_profile and context.profile is None:
            raise ParameterError(f"the {kind.label} stage needs a room-tone profile", remedy=NEEDS_PROFILE)
        stage: Any = kind.factory(spec.settings, context)  # a SpectralStage or a Processor, by domain
        if kind.domain == "spectral":
            stage.mix = spec.mix  # spectral stages blend their own gain (exact, inside the STFT)
            spectral.append(stage)
        else:
            flush()
            processors.append(stage if spec.mix == 1.0 else DryWet(stage, mix=spec.mix))
    flush()
    return DryWet(Chain(processors), mix=settings.mix, listen=settings.listen)


def analyse_source(source: Any, settings: ChainSettings, context: BuildContext, *,
                   open_reader: Callable[[], Any] | None = None, max_workers: int = 1) -> BuildContext:
    """Run the whole-file analyses of every active stage and return the context.

    In chain order, one after the other; or, with ``max_workers`` > 1 and ``open_reader`` (a
    callable giving a reader of the same audio that one thread may use alone; closed after use
    when it has ``close``), side by side on threads: each analysis then starts from the same
    context and the results are merged in chain order. Analyses read the source, the profile and
    the chain's own extras, never another stage's results, so both give the same context.
    """
    context = replace(
        context,
        max_total_reduction_db=settings.max_total_reduction_db,
        seed=settings.seed,
        extras={**context.extras, "chain_settings": settings},
    )
    jobs = [(spec, kind.analyse) for spec, kind in ((s, stage_kind(s.kind)) for s in settings.stages if not s.bypass)
            if kind.analyse is not None]
    if max_workers > 1 and open_reader is not None and len(jobs) > 1:
        context = _analyse_side_by_side(jobs, context, open_reader, max_workers)
    else:
        for spec, analyse in jobs:
            context = analyse(source, spec.settings, context)
    if settings.strength.adaptive and context.profile is not None:
        context = replace(context, extras={**context.extras, "strength": analyse_strength(source, settings, context.profile)})
    return context


def _analyse_side_by_side(jobs: list, base: BuildContext, open_reader: Callable[[], Any],
                          max_workers: int) -> BuildContext:
    """:func:`analyse_source`'s threaded path: every analysis from ``base``, merged in order."""

    def run(job):
        spec, analyse = job
        reader = open_reader()
        try:
            return analyse(reader, spec.settings, base)
        finally:
            close = getattr(reader, "close", None)
            if close is not None and reader is not None:
                close()

    with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="roomtone-analyse") as pool:
        results = list(pool.map(run, jobs))
    merged = base
    for result in results:
        changed = {f.name: getattr(result, f.name) for f in fields(BuildContext)
                   if f.name != "extras" and getattr(result, f.name) is not getattr(base, f.name)}
        added = {k: v for k, v in result.extras.items() if k not in base.extras or base.extras[k] is not v}
        merged = replace(merged, **changed, extras={**merged.extras, **added})
    return merged


def _is_pass(kind_name: str) -> bool:
    return stage_kind(kind_name).role == "pass"


def analyse_strength(source: Any, settings: ChainSettings, profile: Any):
    """The file's SNR against ``profile`` and the strength it calls for (:mod:`dsp.strength`)."""
    st = settings.strength
    snr, speech_s = estimate_snr(frame_powers(source), 10.0 ** (profile.level_dbfs / 10.0),
                                 speech_fraction=st.speech_fraction)
    strength = strength_from_snr(snr, st)
    _, chosen = apply_strength(settings, strength, _is_pass)
    return replace(chosen, snr_db=snr, speech_s=speech_s)


def chain_needs_profile(settings: ChainSettings) -> bool:
    return any(stage_kind(s.kind).needs_profile for s in settings.stages if not s.bypass)
