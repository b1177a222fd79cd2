"""File + settings -> processor: the one place the CLI, batch and the GUI set up a render.

:func:`prepare_processor` gathers the whole-file knowledge a chain needs (the room-tone profile:
given, learned from regions, or found automatically; then each stage's own analyses) and builds
the chain. :func:`clean_file` does that for a file on disk, renders it through
:func:`dsp.render.render_file` (atomic write) and writes the render record beside the output.
:func:`adjust_settings` turns the CLI's convenience options (``--passes``, ``--refill``, ...)
into a new :class:`~dsp.chain.ChainSettings`, so batch and the CLI mean the same by them.
"""

from __future__ import annotations

import atexit
import dataclasses
import json
import math
import os
import queue
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from app.presets import apply_overrides
from dsp.chain import (
    BuildContext,
    ChainSettings,
    StageSpec,
    analyse_source,
    build_chain,
    chain_needs_profile,
    registry,
    stage_kind,
)
from dsp.edits import Edit, EditPlan, EditSetup, ProcessSelection, describe_edits, needs_room_tone
from dsp.engine import Chain, DryWet
from dsp.errors import Cancelled, OutputError, ParameterError
from dsp.io import (
    WRITE_FORMATS,
    AtomicWriter,
    AudioReader,
    check_target,
    format_note,
    make_temp,
    output_format,
    stage_text,
)
from dsp.loudness import LoudnessGain, ProgramMeter, resolve_target
from dsp.presence import LiveSpeechTrack, SpeechTrack
from dsp.render import (
    ArraySource,
    BlockSource,
    PipeSource,
    ReadAhead,
    RenderRecord,
    render_blocks,
    render_file,
)
from dsp.roomtone import RoomToneSettings, estimate_noise_floor, estimate_room_tone
from dsp.stft import StftSettings
from dsp.truepeak import TruePeakLimiterProcessor
from models.versions import ModelUnavailable, model_versions

RECORD_FORMAT = "roomtone-render-record"
RECORD_VERSION = 1
RECORD_SUFFIX = ".roomtone.json"


def record_path(out_path: str | os.PathLike) -> Path:
    """Where the render record of ``out_path`` goes: ``OUT.roomtone.json`` beside it."""
    out_path = Path(out_path)
    return out_path.with_name(out_path.name + RECORD_SUFFIX)


# -- settings from CLI-style options ------------------------------------------------------------
def _replace_settings(spec: StageSpec, where: str, **values: Any) -> StageSpec:
    names = {f.name for f in dataclasses.fields(spec.settings)}
    missing = sorted(set(values) - names)
    if missing:
        raise ParameterError(
            f"{where}: the {spec.kind!r} stage has no setting {', '.join(missing)} (it has {', '.join(sorted(names))})"
        )
    try:
        return dataclasses.replace(spec, settings=dataclasses.replace(spec.settings, **values))
    except ParameterError as exc:
        raise ParameterError(f"{where}: {exc}") from None


#: The stage kind ``--level`` adds (registered by ``dsp.leveler``).
LEVELER_KIND = "leveler"


def leveler_stage() -> StageSpec:
    """A leveler stage with its kind's default settings (``--level``).

    Raises
    ------
    ParameterError
        When this Roomtone has no leveler stage kind.
    """
    reg = registry()
    if LEVELER_KIND not in reg:
        raise ParameterError(
            f"--level: this Roomtone has no {LEVELER_KIND!r} stage (stage kinds available: "
            f"{', '.join(sorted(reg)) or 'none'}); run without --level, or update Roomtone"
        )
    return StageSpec(LEVELER_KIND, stage_kind(LEVELER_KIND).settings_cls())


def place_stage(stages: list[StageSpec], spec: StageSpec) -> list[StageSpec]:
    """``stages`` with ``spec`` inserted where its kind belongs: before the first stage whose
    kind has a larger :attr:`~dsp.chain.StageKind.placement` (kinds this build lacks count as
    "after everything"), else at the end. Returns a new list."""
    reg = registry()
    rank = reg[spec.kind].placement if spec.kind in reg else 1000
    out = list(stages)
    for i, s in enumerate(out):
        if (reg[s.kind].placement if s.kind in reg else 1000) > rank:
            out.insert(i, spec)
            return out
    out.append(spec)
    return out


def _new_stage(kind_name: str, where: str) -> StageSpec:
    reg = registry()
    if kind_name not in reg:
        raise ParameterError(
            f"{where}: this Roomtone has no {kind_name!r} stage (stage kinds available: "
            f"{', '.join(sorted(reg)) or 'none'})"
        )
    return StageSpec(kind_name, reg[kind_name].settings_cls())


def adjust_settings(
    settings: ChainSettings,
    *,
    passes: list[str] | None = None,
    max_reduction_db: float | None = None,
    refill: str | None = None,
    eq_match: bool = False,
    level: bool = False,
    enable: Mapping[str, Mapping[str, Any]] | None = None,
    mix: float | None = None,
    listen: str | None = None,
    overrides: list[str] | None = None,
) -> ChainSettings:
    """Apply the CLI's convenience options to ``settings`` (in this order; ``overrides`` last).

    Parameters
    ----------
    passes : list of str, optional
        Stage kinds of role ``"pass"`` to keep active, in any order; every other pass is
        bypassed. A listed kind the chain lacks is added (default settings) after the last pass.
        ``["none"]`` bypasses every noise-reduction pass (to hear a repair stage alone).
    max_reduction_db : float, optional
        Sets ``max_reduction_db`` on every active pass.
    refill : {"roomtone", "pink", "off"}, optional
        ``"off"`` bypasses the refill stage; otherwise it is enabled (added if missing) with
        its ``source`` setting set to this value.
    eq_match : bool
        Enable (or add) the EQ-match stage.
    level : bool
        Enable the leveler (``--level``): an existing ``leveler`` stage is un-bypassed, else one
        with default settings is appended at the end of the stages (after the passes and refill;
        loudness, when asked for, comes after the whole chain).
    enable : mapping of kind -> {setting: value}, optional
        Stage kinds to switch on (``--dereverb 60``, ``--declick``...): an existing stage of the
        kind is un-bypassed, else one with default settings is added where its kind belongs
        (:func:`place_stage`); the given settings are then set on it. The option's name in
        messages is ``--kind``.
    mix, listen : optional
        Whole-chain dry/wet mix (0..1) and listen mode.
    overrides : list of str, optional
        ``key=value`` strings for :func:`app.presets.apply_overrides`.

    Raises
    ------
    ParameterError
        For an unknown or non-pass kind in ``passes``, a stage kind this build does not have,
        or a value out of range.
    """
    stages = list(settings.stages)
    if passes is not None:
        stages = _keep_passes(stages, passes)
    if max_reduction_db is not None:
        stages = _set_max_reduction(stages, max_reduction_db)
    if refill is not None:
        stages = _set_refill(stages, refill)
    if eq_match:
        stages = _switch_on(stages, "eqmatch", lambda: _new_stage("eqmatch", "--eq-match"))
    if level:
        stages = _switch_on(stages, LEVELER_KIND, leveler_stage)
    for kind_name, values in (enable or {}).items():
        stages = _enable_kind(stages, kind_name, values)
    changes: dict[str, Any] = {"stages": tuple(stages)}
    if mix is not None:
        changes["mix"] = float(mix)
    if listen is not None:
        changes["listen"] = listen
    out = dataclasses.replace(settings, **changes)
    if overrides:
        out = apply_overrides(out, list(overrides))
    return out


def _wanted_passes(passes: list[str], reg: Mapping[str, Any]) -> list[str]:
    """The pass kinds ``--passes`` names (none for ``none``), checked against the registry."""
    pass_kinds = sorted(k for k, v in reg.items() if v.role == "pass")
    wanted = [p.strip() for p in passes if p.strip()]
    if not wanted:
        raise ParameterError(
            f"--passes needs at least one pass kind, or none (available: {', '.join(pass_kinds) or 'none'})"
        )
    if "none" in wanted:
        if len(wanted) > 1:
            raise ParameterError(f"--passes none cannot be combined with pass kinds (got {','.join(wanted)})")
        wanted = []
    for name in wanted:
        if name not in reg:
            raise ParameterError(
                f"--passes: unknown pass {name!r}; available passes: {', '.join(pass_kinds) or 'none'}"
            )
        if reg[name].role != "pass":
            raise ParameterError(
                f"--passes: {name!r} is a {reg[name].role} stage, not a noise-reduction pass; "
                f"passes are: {', '.join(pass_kinds)}"
            )
    return wanted


def _keep_passes(stages: list[StageSpec], passes: list[str]) -> list[StageSpec]:
    """``--passes``: bypass every pass not named; add the named ones the chain lacks after the last pass."""
    reg = registry()
    wanted = _wanted_passes(passes, reg)
    present = {s.kind for s in stages}
    for i, s in enumerate(stages):
        if s.kind in reg and reg[s.kind].role == "pass":
            stages[i] = dataclasses.replace(s, bypass=s.kind not in wanted)
    last_pass = max((i for i, s in enumerate(stages) if s.kind in reg and reg[s.kind].role == "pass"), default=-1)
    for name in wanted:
        if name not in present:
            last_pass += 1
            stages.insert(last_pass, _new_stage(name, "--passes"))
            present.add(name)
    return stages


def _set_max_reduction(stages: list[StageSpec], max_reduction_db: float) -> list[StageSpec]:
    """``--max-reduction-db``: the cap of every active pass that has one (each pass's own settings
    say what they accept, dsp.schema)."""
    touched = 0
    for i, s in enumerate(stages):
        # passes with a reduction cap (de-hum is a pass with a notch depth instead: left alone)
        if not s.bypass and stage_kind(s.kind).role == "pass" and hasattr(s.settings, "max_reduction_db"):
            stages[i] = _replace_settings(s, "--max-reduction-db", max_reduction_db=float(max_reduction_db))
            touched += 1
    if not touched:
        raise ParameterError("--max-reduction-db: the chain has no active noise-reduction pass with a reduction "
                             "cap to set it on")
    return stages


def _set_refill(stages: list[StageSpec], refill: str) -> list[StageSpec]:
    """``--refill``: bypass the refill stage (off) or enable it (added at the end if missing) with that source."""
    if refill not in ("roomtone", "pink", "off"):
        raise ParameterError(f"--refill must be roomtone, pink or off, got {refill!r}")
    idx = [i for i, s in enumerate(stages) if s.kind == "refill"]
    if refill == "off":
        for i in idx:
            stages[i] = dataclasses.replace(stages[i], bypass=True)
        return stages
    if not idx:
        stages.append(_new_stage("refill", "--refill"))
        idx = [len(stages) - 1]
    for i in idx:
        stages[i] = _replace_settings(dataclasses.replace(stages[i], bypass=False), "--refill", source=refill)
    return stages


def _switch_on(stages: list[StageSpec], kind_name: str, new_stage) -> list[StageSpec]:
    """Un-bypass the stages of ``kind_name``; without one, place ``new_stage()`` where its kind belongs."""
    idx = [i for i, s in enumerate(stages) if s.kind == kind_name]
    if not idx:
        return place_stage(stages, new_stage())
    for i in idx:
        stages[i] = dataclasses.replace(stages[i], bypass=False)
    return stages


def _enable_kind(stages: list[StageSpec], kind_name: str, values: Mapping[str, Any]) -> list[StageSpec]:
    """``--<kind>``: switch the kind on (added where it belongs if missing) and set ``values`` on it."""
    where = f"--{kind_name}"
    if not any(s.kind == kind_name for s in stages):
        stages = place_stage(stages, _new_stage(kind_name, where))
    for i, s in enumerate(stages):
        if s.kind == kind_name:
            s = dataclasses.replace(s, bypass=False)
            stages[i] = _replace_settings(s, where, **dict(values)) if values else s
    return stages


# -- whole-file knowledge -> processor ----------------------------------------------------------


def used_model_versions(settings: ChainSettings, profile: Any) -> dict:
    """Names, versions and checksums of the learned models this render used (for its record)."""
    uses_dfn = any(s.kind == "deepfilter" and not s.bypass for s in settings.stages)
    # the voice activity model ran for the room tone, for the passes' speech presence, or for the leveler
    uses_vad = (profile is not None and getattr(profile, "method", "") == "vad") or needs_speech_track(settings)
    if not (uses_dfn or uses_vad):
        return {}
    allv = model_versions()
    keep = {
        k: v for k, v in allv.items()
        if (uses_dfn and ("deepfilter" in k or k == "onnx")) or (uses_vad and ("vad" in k or "silero" in k))
        or k == "onnxruntime"
    }
    return keep or allv


def find_room_tone(source: BlockSource, settings: ChainSettings | StftSettings, *, source_name: str = "",
                   levels_db: np.ndarray | None = None) -> Any:
    """Room tone found automatically: THE automatic method (``clean`` without a profile,
    ``profile --auto`` and the workstation's "Find automatically" all call this).

    1. From the longest stretches without speech (voice activity, ``models.auto_profile``), or,
       where the model is not available, from the quietest frames (``dsp.roomtone``, method
       "auto"; the profile's warnings say so).
    2. Where neither finds a stretch to learn from (a short clip that is all speech, an ambience
       with no steady pause), the noise floor is estimated without one
       (:func:`dsp.roomtone.estimate_noise_floor`, method "minimum": each band's low percentile
       over time), and the profile's warning says why. A recording is never refused here.

    ``settings`` gives the FFT geometry: the chain's settings or its ``StftSettings``;
    ``levels_db``, the file's frame levels (:func:`models.auto_profile.frame_levels_db`) where a
    pass over it already measured them.
    """
    stft = settings.stft if isinstance(settings, ChainSettings) else settings
    rt_settings = RoomToneSettings(stft=stft)
    try:
        from models.auto_profile import auto_room_tone  # lazy: pulls in models.vad (CLI start-up)

        try:
            return auto_room_tone(source, source.sample_rate, rt_settings, source_name=source_name, levels_db=levels_db)
        except ModelUnavailable as exc:
            reason = str(exc)
        profile = estimate_room_tone(source, source.sample_rate, regions=None, settings=rt_settings,
                                     source_name=source_name)
        note = f"found from the quietest frames, not from voice activity: {reason}"
        return dataclasses.replace(profile, warnings=[*profile.warnings, note])
    except ParameterError as exc:
        why = str(exc).split("; give ")[0]
        return estimate_noise_floor(source, source.sample_rate, settings=rt_settings, source_name=source_name,
                                    reason=f"no pause to learn the room tone from ({why})")


def resolve_profile(
    source: BlockSource,
    settings: ChainSettings,
    *,
    profile: Any = None,
    learn: list[tuple[float, float]] | None = None,
    auto_profile: bool = False,
    source_name: str = "",
    levels_db: np.ndarray | None = None,
) -> tuple[Any, str | None]:
    """The room-tone profile a render of ``source`` uses, and where it came from.

    A given ``profile`` wins (it must match the audio's rate); else it is learned from the
    ``learn`` regions; else, when ``auto_profile`` is set or a stage needs one, it is found
    automatically (``levels_db``: see :func:`find_room_tone`). Returns ``(profile or None,
    "given" | "learned" | "automatic" | None)``.
    The given profile is never modified (a copy records ``source_name``).
    """
    if profile is not None:
        if int(profile.sample_rate) != int(source.sample_rate):
            raise ParameterError(
                f"the room-tone profile was learned at {profile.sample_rate} Hz but the audio is at "
                f"{source.sample_rate} Hz; learn a profile from this file (--learn A-B or --auto-profile)"
            )
        origin = "given"
    elif learn:
        regions = list(learn)  # the one region rule is estimate_room_tone's (dsp.roomtone.clip_regions)
        profile = estimate_room_tone(
            source, source.sample_rate, regions=regions, settings=RoomToneSettings(stft=settings.stft)
        )
        origin = "learned"
    elif auto_profile or chain_needs_profile(settings):
        profile = find_room_tone(source, settings, source_name=source_name, levels_db=levels_db)
        origin = "automatic"
    else:
        return None, None
    if source_name and not getattr(profile, "source", ""):
        profile = dataclasses.replace(profile, source=source_name)
    return profile, origin


def prepare_processor(
    source: BlockSource,
    settings: ChainSettings,
    *,
    profile: Any = None,
    learn: list[tuple[float, float]] | None = None,
    auto_profile: bool = False,
    source_name: str = "",
    live: bool = False,
    speech: dict | None = None,
) -> tuple[DryWet, BuildContext]:
    """Gather whole-file knowledge for ``settings`` on ``source`` and build the chain.

    Parameters
    ----------
    source : BlockSource
        The audio (an :class:`~dsp.io.AudioReader` or :class:`~dsp.render.ArraySource`).
    settings : ChainSettings
        What the render does.
    profile : NoiseProfile, optional
        A room-tone profile; wins over ``learn`` and ``auto_profile``.
    learn : list of (start_s, end_s), optional
        Learn the profile from these regions of ``source``.
    auto_profile : bool
        Find room tone automatically even if no stage needs it (e.g. for the record or EQ).
        Without ``profile`` or ``learn``, a chain that needs a profile gets an automatic one.
    source_name : str
        Recorded in an estimated profile.
    live : bool
        For a render that streams from the start (a file render, batch): the voice activity
        model's track is filled on another thread while the render runs
        (:class:`~dsp.presence.LiveSpeechTrack`; the same values, so the same output). Call
        :func:`release` on the context when the render ends. Monitoring leaves it off.
    speech : dict, optional
        What :func:`speech_track` returned for this source, started earlier (batch starts the
        model while it measures the source); used instead of running it here.

    Returns
    -------
    processor : DryWet
        Ready to prepare and render.
    context : BuildContext
        The whole-file knowledge it was built with (``context.profile`` may be None).
    """
    # a live track starts first: the model then runs beside the room tone and the other analyses too
    found = (speech if speech is not None else speech_track(source, live=live)) if needs_speech_track(settings) else {}
    try:
        profile, _ = resolve_profile(
            source, settings, profile=profile, learn=learn, auto_profile=auto_profile, source_name=source_name
        )
        context = BuildContext(source.sample_rate, source.channels, profile=profile, extras=dict(found))
    except BaseException:
        release(found)
        raise
    try:
        # the stages' analyses side by side, each on its own reader of the file (2 cores: two at a time)
        reopen = (lambda: _own_reader(source)) if _own_reader_is_safe(source) else None
        context = analyse_source(source, settings, context, open_reader=reopen, max_workers=ANALYSIS_WORKERS)
        return build_chain(settings, context), context
    except BaseException:
        release(context)  # a live track's thread must not outlive the render that failed to start
        raise


def needs_speech_track(settings: ChainSettings) -> bool:
    """Whether a render of ``settings`` needs the voice activity track: the passes' speech presence
    (``speech.detector = "vad"``) or an active stage that plans from it (the leveler's phrases,
    breath control's "not speech")."""
    reg = registry()
    return settings.speech.detector == "vad" or any(
        not s.bypass and s.kind in reg and reg[s.kind].reads_speech_track for s in settings.stages)


def speech_track(source: BlockSource, *, live: bool = False) -> dict:
    """The voice activity model's speech probability over ``source`` as a
    :class:`~dsp.presence.SpeechTrack` (``{"speech": track}``), for the chain's ``speech.detector =
    "vad"`` and for an active leveler (its phrases); where the model cannot run,
    ``{"speech_detector": why}`` and the passes keep their own presence, the leveler finds phrases
    from the signal's level (the render record says so).

    With ``live``, the model runs on a thread of its own over its own reader of the file and the
    track is a :class:`~dsp.presence.LiveSpeechTrack` that the render reads as it fills (the
    model costs about as much as the render: side by side on two cores, the wait is about halved).
    A whole-file plan that needs the finished track (the leveler's) waits for it.
    """
    from models.vad import (  # lazy: kept off the CLI's start-up path
        FRAME_S,
        load_model,
        speech_probabilities,
    )

    try:
        reader = _own_reader(source) if live else None
        if reader is None:
            probs = speech_probabilities(source, source.sample_rate)
            return {"speech": SpeechTrack(np.asarray(probs, np.float32), FRAME_S, "vad")}
        load_model()  # a model that cannot run says so here, not on the thread
    except ModelUnavailable as exc:
        return {"speech_detector": f"{exc}; the passes' own speech presence was used"}
    frames = int(np.ceil(source.frames / source.sample_rate / FRAME_S)) + 2
    track = LiveSpeechTrack(FRAME_S, "vad", capacity=frames)

    def fill() -> None:
        try:
            speech_probabilities(reader, reader.sample_rate, sink=track.append, stop=lambda: track.cancelled)
            track.finish()
        except BaseException as exc:  # noqa: BLE001 - handed to the render thread, which raises it
            track.fail(exc)
        finally:
            if isinstance(reader, PipeSource):
                reader.abort("the voice activity model stopped reading")  # its feeder must not wait for it
            elif reader is not source and hasattr(reader, "close"):
                reader.close()

    thread = threading.Thread(target=fill, name="roomtone-vad", daemon=True)
    track.producer = thread
    _LIVE_TRACKS.add(track)
    thread.start()
    return {"speech": track}


#: Live tracks whose threads may still run: stopped and joined at exit (see :func:`release`).
_LIVE_TRACKS: weakref.WeakSet[LiveSpeechTrack] = weakref.WeakSet()


@atexit.register
def _stop_live_tracks() -> None:
    for track in list(_LIVE_TRACKS):
        _stop(track)


def _stop(track: LiveSpeechTrack) -> None:
    track.cancel()
    thread = track.producer
    if thread is not None and thread is not threading.current_thread():
        thread.join(timeout=60.0)


#: How many stage analyses run at once (dsp.chain.analyse_source); the results do not depend on it.
ANALYSIS_WORKERS = 2


def _own_reader_is_safe(source: BlockSource) -> bool:
    """Whether :func:`_own_reader` gives another thread a reader of ``source``."""
    return isinstance(source, (ArraySource, AudioReader, PipeSource))


def _own_reader(source: BlockSource) -> BlockSource | None:
    """A reader of ``source`` that another thread may use (a file opened again; an in-memory
    source, or a stream another thread fills for this one, itself), or None where that is not
    known to be safe."""
    if isinstance(source, (ArraySource, PipeSource)):
        return source  # reads are slices of an array nobody writes / the stream's own reader
    if isinstance(source, AudioReader):
        return AudioReader(source.path)
    return None


def release(context: BuildContext | dict | None) -> None:
    """Stop what a live render's context (or :func:`speech_track`'s result) still runs (the voice
    activity thread) and wait for it (at most one block of the model: a thread left inside
    onnxruntime when the interpreter exits aborts the process); idempotent."""
    extras = context if isinstance(context, dict) else None if context is None else context.extras
    track = None if extras is None else extras.get("speech")
    if isinstance(track, LiveSpeechTrack):
        _stop(track)


# -- summaries for the render record ------------------------------------------------------------
def _summarise(value: Any, depth: int = 0) -> Any:
    """A small JSON-able picture of an analysis result (arrays become their shape and range)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if np.isfinite(value) else str(value)
    if isinstance(value, np.generic):
        return _summarise(value.item(), depth)
    if isinstance(value, np.ndarray):
        if value.size <= 8 and value.ndim <= 1:
            return [_summarise(v, depth + 1) for v in value.tolist()]
        finite = value[np.isfinite(value)] if np.issubdtype(value.dtype, np.number) and not np.iscomplexobj(value) else None
        out: dict[str, Any] = {"shape": list(value.shape), "dtype": str(value.dtype)}
        if finite is not None and finite.size:
            out.update(min=float(finite.min()), max=float(finite.max()))
        return out
    if depth > 3:
        return type(value).__name__
    summary = getattr(value, "summary", None)
    if callable(summary):
        try:
            return _summarise(summary(), depth + 1)
        except Exception:  # noqa: BLE001 - a broken summary must not fail a finished render
            pass
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"type": type(value).__name__, **{
            f.name: _summarise(getattr(value, f.name), depth + 1) for f in dataclasses.fields(value)
        }}
    if isinstance(value, dict):
        return {str(k): _summarise(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        items = [_summarise(v, depth + 1) for v in value[:32]]
        return items + ([f"... {len(value) - 32} more"] if len(value) > 32 else [])
    return repr(value)[:200]


def profile_summary(profile: Any) -> dict | None:
    """Method, regions and level of a room-tone profile (None without one)."""
    if profile is None:
        return None
    return {
        "method": getattr(profile, "method", None),
        "regions": [list(r) for r in getattr(profile, "regions", [])],
        "level_dbfs": _summarise(getattr(profile, "level_dbfs", None)),
        "duration_s": _summarise(getattr(profile, "duration_s", None)),
        "n_fft": getattr(profile, "n_fft", None),
        "hop_length": getattr(profile, "hop_length", None),
        "source": getattr(profile, "source", ""),
        "warnings": list(getattr(profile, "warnings", [])),
    }


def say_learned_profile_warnings(settings_record: dict, say: Callable[[str], None]) -> None:
    """Pass each warning of a profile learned from ``--learn`` regions to ``say`` (one line each).

    ``settings_record`` is a render record's ``settings``; a learned profile's warnings (a
    region that looks like speech, one cut at the file's end) are the user's to read at once,
    not only in the record.
    """
    prof = settings_record.get("profile") or {}
    if settings_record.get("profile_origin") == "learned":
        for text in prof.get("warnings", []):
            say(f"warning: {text}")


def _signed_db(value: Any) -> str:
    """``value`` with its sign and one decimal, a rounded -0.0 written as +0.0."""
    return f"{round(float(value), 1) + 0.0:+.1f}"


def say_level_plan(settings_record: dict, say: Callable[[str], None]) -> None:
    """What the leveler planned, for ``say`` (one line, then one per warning of the plan).

    ``settings_record`` is a render record's ``settings``; nothing is said when the chain has no
    leveler. The spreads are the plan's own estimate (loud against quiet phrase clusters).
    """
    plan = (settings_record.get("analyses") or {}).get("level_plan")
    if not isinstance(plan, dict):
        return
    n = plan.get("phrases", 0)
    if n:
        say(f"leveler: {n} phrase{'s' if n != 1 else ''} ({plan.get('detector')}); speech levels "
            f"{plan.get('spread_before_lu')} LU apart -> {plan.get('spread_after_lu')} LU as planned; "
            f"phrase gains {_signed_db(plan.get('phrase_gain_db_min', 0.0))} to "
            f"{_signed_db(plan.get('phrase_gain_db_max', 0.0))} dB")
    for text in plan.get("warnings", []):
        say(f"warning: leveler: {text}")


#: Why a blind decay estimate can find nothing (the CLI, the batch report and the workstation say it).
NO_DECAY_WHY = "a dry room, too short a file, or speech with no pause long enough for the echo to die away in"


def room_decay_note(analyses: dict) -> tuple[str, bool] | None:
    """What the de-reverb stage's decay analysis found, in words: ``(text, warning)``, or None
    when no active de-reverb stage analysed the file.

    ``analyses`` is a render record's ``settings["analyses"]`` (batch: a file report's
    ``settings["chain_render"]``). Where no decay time was found the stage passed the audio
    through; the text says so and how to set the decay by hand, so that de-reverb on a dry file
    (or one too short to hold free decays) is never silently a no-op.
    """
    decay = (analyses or {}).get("room_decay")
    if not isinstance(decay, dict):
        return None
    rt60 = decay.get("rt60_s")
    if decay.get("method") == "set by hand":
        return f"decay time {rt60:.2f} s (set by hand)", False
    if rt60 is not None:
        return (f"room decay RT60 {rt60:.2f} s, estimated from {decay.get('decays')} free decays in "
                f"{decay.get('analysed_s'):.0f} s"), False
    return (f"no room decay found ({decay.get('decays')} free decays after speech in {decay.get('analysed_s'):.0f} s: "
            f"{NO_DECAY_WHY}), so nothing was taken out; if the room echoes, set its decay time by hand, e.g. "
            "--set dereverb.rt60_s=0.6"), True


def say_room_decay(settings_record: dict, say: Callable[[str], None]) -> None:
    """:func:`room_decay_note` of a render record's ``settings`` for ``say`` (one line; nothing
    without a de-reverb stage)."""
    note = room_decay_note(settings_record.get("analyses") or {})
    if note is not None:
        say(f"{'warning: ' if note[1] else ''}de-reverb: {note[0]}")


def analyses_summary(context: BuildContext) -> dict:
    """Summaries of the whole-file analyses in ``context`` besides the profile."""
    out: dict[str, Any] = {}
    if context.hum is not None:
        out["hum"] = _summarise(context.hum)
    for key, value in context.extras.items():
        if key == "chain_settings":  # the settings themselves: recorded in full elsewhere
            continue
        out[str(key)] = _summarise(value)
    return out


# -- a file on disk ------------------------------------------------------------------------------
def analyse_edits(source: BlockSource, edits: tuple[Edit, ...], context: BuildContext) -> dict[int, BuildContext]:
    """The build context of each process selection's own chain (its stages' whole-file analyses
    over ``source``, from the project's ``context``: the same profile and speech track)."""
    return {i: analyse_source(source, e.chain, context) for i, e in enumerate(edits) if isinstance(e, ProcessSelection)}


def edit_setup(source: BlockSource, settings: ChainSettings, edits: tuple[Edit, ...], context: BuildContext, *,
               contexts: Mapping[int, BuildContext] | None = None) -> EditSetup | None:
    """What a render of ``settings`` with ``edits`` needs besides the chain (None without edits):
    the plan on ``source``, a processor per process selection, a second instance of the chain.
    The room tone is ``context.profile`` (a render with room-tone edits resolves one)."""
    if not edits:
        return None
    plan = EditPlan(edits, sample_rate=source.sample_rate, frames=source.frames, channels=source.channels,
                    profile=context.profile, seed=settings.seed)
    contexts = analyse_edits(source, edits, context) if contexts is None else contexts
    processors = {i: build_chain(e.chain, contexts[i]) for i, e in enumerate(edits) if isinstance(e, ProcessSelection)}
    return EditSetup(plan, processors, side_processor=build_chain(settings, context))


def clean_file(
    in_path: str | os.PathLike, out_path: str | os.PathLike, settings: ChainSettings, *,
    profile: Any = None, learn: list[tuple[float, float]] | None = None, auto_profile: bool = False,
    fmt: str | None = None, loudness: str = "off", ceiling_dbtp: float | None = None,
    progress: Callable[[int, int], None] | None = None, cancel: Callable[[], bool] | None = None,
    record: bool = True, edits: tuple[Edit, ...] = (),
) -> RenderRecord:
    """Render ``in_path`` through ``settings`` into ``out_path`` (atomically) and record it.

    The output's extension decides its container (``.wav`` or ``.flac``, see
    :func:`dsp.io.output_format`); that is checked before any work. With ``record``, the audio
    and its render record land together or not at all: the audio is rendered to a temporary
    file, the record is written to another, and only then are both renamed into place (if the
    second rename fails, the first is undone).

    Parameters
    ----------
    in_path, out_path : path
        Source and output files; the output may not be the source.
    settings : ChainSettings
        What the render does.
    profile, learn, auto_profile
        Room-tone profile source, see :func:`prepare_processor`.
    fmt : str, optional
        An output format of :data:`dsp.io.WRITE_FORMATS`: the encoding inside the container the
        output's extension names (refused if it names another); defaults to the source's own.
    loudness : str
        A loudness target of :data:`dsp.loudness.TARGET_CHOICES` (``"off"``: none). With one, the
        chain renders once into a temporary FLAC beside the output, is measured, and one
        streaming pass of :class:`~dsp.loudness.LoudnessGain` and
        :class:`~dsp.truepeak.TruePeakLimiterProcessor` writes the output, metered as written
        (see :func:`render_loudness`); the record's ``settings["loudness"]`` states the target
        and the figures. The temporary file is removed however the render ends.
    ceiling_dbtp : float, optional
        A lower true-peak ceiling than the target's (dBTP).
    progress : callable(done, total), optional
        Render progress in samples.
    cancel : callable() -> bool, optional
        Polled between blocks; true cancels (nothing is written).
    record : bool
        Write the render record ``OUT.roomtone.json`` beside the output.
    edits : tuple of dsp.edits.Edit
        The project's edit list, applied to the chain's output (:mod:`dsp.edits`); the record's
        ``settings["edits"]`` lists them. Room-tone edits make the render find a profile when
        none is given.

    Returns
    -------
    RenderRecord
        Its ``settings`` holds the chain settings, the profile summary, the analyses and the
        output format (with a note where it changes the source's sample depth).

    Raises
    ------
    ParameterError
        For an output name Roomtone does not write, a ``fmt`` that contradicts it, or an
        unknown loudness target.
    OutputError
        If the output cannot be written (neither the audio nor its record is then left).
    """
    in_path, out_path = Path(in_path), Path(out_path)
    t0 = time.perf_counter()
    job = _plan_clean(in_path, out_path, settings, profile=profile, learn=learn, auto_profile=auto_profile, fmt=fmt,
                      loudness=loudness, ceiling_dbtp=ceiling_dbtp, record=record, t0=t0, edits=tuple(edits))
    job.progress, job.cancel = progress, cancel
    try:
        if not record:
            rec = job.render(out_path)
            rec.versions["models"] = used_model_versions(settings, job.context.profile)
            return rec
        return _render_with_record(out_path, job.render, models=used_model_versions(settings, job.context.profile),
                                   t0=t0, analysis_s=job.analysis_s)
    finally:
        release(job.context)


@dataclasses.dataclass
class _CleanJob:
    """What :func:`clean_file` renders, prepared and checked before any audio is written."""

    in_path: Path
    out_path: Path
    processor: Any
    context: Any
    fmt: str
    target: Any
    ceiling_dbtp: float | None
    settings_record: dict
    analysis_s: float
    progress: Callable[[int, int], None] | None = None
    cancel: Callable[[], bool] | None = None
    edits: EditSetup | None = None

    def render(self, dest: Path) -> RenderRecord:
        if self.target is None:
            rec = render_file(self.in_path, dest, self.processor, fmt=self.fmt, settings=self.settings_record,
                              progress=self.progress, cancel=self.cancel, edits=self.edits)
        else:
            rec = render_loudness(self.in_path, dest, self.processor, fmt=self.fmt, target=self.target,
                                  ceiling_dbtp=self.ceiling_dbtp, settings=self.settings_record,
                                  progress=self.progress, cancel=self.cancel, name_like=self.out_path, edits=self.edits)
        # summarised once the render has run: a live speech track is finished by then
        rec.settings["analyses"] = self.settings_record["analyses"] = analyses_summary(self.context)
        return rec


def _plan_clean(in_path: Path, out_path: Path, settings: ChainSettings, *, profile: Any, learn, auto_profile: bool,
                fmt: str | None, loudness: str, ceiling_dbtp: float | None, record: bool, t0: float,
                edits: tuple[Edit, ...] = ()) -> _CleanJob:
    """Open and check the source, the output format, the target and the output names (in that
    order: the source's errors come first), then analyse the source and build the processor."""
    with AudioReader(in_path) as reader:  # opens and checks the source first: its errors come first
        fmt = output_format(out_path, fmt, reader.info)
        target = resolve_target(loudness, reader.channels)
        if ceiling_dbtp is not None and not -60.0 <= ceiling_dbtp <= 0.0:
            raise ParameterError(f"the true-peak ceiling must be between -60 and 0 dBTP, got {ceiling_dbtp:g}")
        check_target(out_path, sources=(in_path,))
        if record:
            check_target(record_path(out_path), sources=(in_path,))
        processor, context = prepare_processor(
            reader, settings, profile=profile, learn=learn, auto_profile=auto_profile or needs_room_tone(edits),
            source_name=str(in_path), live=True,
        )
        try:
            setup = edit_setup(reader, settings, edits, context)
        except BaseException:
            release(context)
            raise
        analysis_s = time.perf_counter() - t0
        note = format_note(reader.info, fmt)
    prof = context.profile
    settings_record = {
        "chain": settings.to_dict(),
        "profile": profile_summary(prof),
        "profile_origin": (
            "given" if profile is not None else "learned" if learn else "automatic" if prof is not None else None
        ),
        "analyses": None,  # summarised once the render has run: a live track is finished by then
        "output_format": _format_summary(fmt, note),
        "edits": describe_edits(edits),
    }
    return _CleanJob(in_path, out_path, processor, context, fmt, target, ceiling_dbtp, settings_record, analysis_s,
                     edits=setup)


def _format_summary(fmt: str, note: str | None) -> dict:
    """The output format as the render record states it: name, container, encoding, note."""
    major, subtype, _ = WRITE_FORMATS[fmt]
    return {"name": fmt, "container": major, "encoding": subtype, "note": note}


def record_document(rec: RenderRecord, *, analysis_s: float, total_s: float) -> str:
    """The render record's JSON text for ``rec`` (format tag, creation time, timing)."""
    data = {
        "record_format": RECORD_FORMAT,
        "record_version": RECORD_VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        **rec.to_dict(),
        "timing": {
            "analysis_s": round(analysis_s, 3),
            "render_s": round(rec.seconds, 3),
            "total_s": round(total_s, 3),
            "realtime_factor_total": round((rec.frames / rec.sample_rate) / total_s, 1) if total_s > 0 else None,
        },
    }
    return json.dumps(data, indent=1, default=str) + "\n"


def _render_with_record(
    out_path: Path, render: Callable[[Path], RenderRecord], *, models: dict, t0: float, analysis_s: float,
) -> RenderRecord:
    """Render into a temporary file, write the record to another, then rename both into place.

    Either both land or neither does: a failure before the renames removes both temporary files
    (the old output and record, if any, are untouched); if the record's rename fails after the
    audio's, the new audio is removed again.
    """
    rec_path = record_path(out_path)
    staged_audio = make_temp(out_path)
    staged_record = None
    try:
        rec = render(staged_audio)
        rec.output = str(out_path)
        rec.versions["models"] = models
        text = record_document(rec, analysis_s=analysis_s, total_s=time.perf_counter() - t0)
        try:
            staged_record = stage_text(rec_path, text)
        except OutputError as exc:
            raise OutputError(f"{_reason(exc)}; neither {out_path.name} nor its render record was written") from None
        try:
            os.replace(staged_audio, out_path)
        except OSError as exc:
            raise OutputError(
                f"{out_path}: writing failed ({exc.strerror or exc}); neither the audio nor its render record was written"
            ) from None
        try:
            os.replace(staged_record, rec_path)
        except OSError as exc:
            why = f"{rec_path}: writing the render record failed ({exc.strerror or exc})"
            try:
                out_path.unlink(missing_ok=True)
            except OSError:
                raise OutputError(
                    f"{why}; {out_path} was written without its record: render it again or remove it"
                ) from None
            raise OutputError(
                f"{why}; the audio was removed again, so neither {out_path.name} nor its record was written"
            ) from None
    finally:
        staged_audio.unlink(missing_ok=True)
        if staged_record is not None:
            staged_record.unlink(missing_ok=True)
    return rec


def _reason(exc: Exception) -> str:
    """An OutputError's message without its closing 'nothing was written' (the caller says what was)."""
    text = str(exc)
    for tail in (". Nothing was written", "; nothing was written"):
        if text.endswith(tail):
            return text[: -len(tail)]
    return text


# -- loudness on export -------------------------------------------------------------------------
#: The output is written again with a corrected gain only when the limiter took its measured
#: loudness further than this from the target, LU (delivery specs allow 0.5 to 1 LU; a
#: tolerance of 0.5 left hot files 0.4-0.5 LU low by independent meters).
LOUDNESS_TOLERANCE_LU = 0.2
#: Most loudness passes (the first and its corrections); each is a cheap gain + limiter pass.
MAX_LOUDNESS_PASSES = 4
#: Biggest gain the loudness step may apply, dB (a near-silent file is not blown up by 60 dB).
MAX_LOUDNESS_GAIN_DB = 30.0
#: Samples per block of the measuring and loudness passes.
LOUDNESS_BLOCK = 262144


def quantiser(fmt: str) -> Callable[[np.ndarray], np.ndarray] | None:
    """The values an output format stores, as float32 (None for float files).

    16-bit: ``rint(x * 32768) / 32768`` clipped to the int16 range, exactly what
    :class:`dsp.io.AtomicWriter` writes (it maps ``k / 32768`` back to ``k``). 24/32-bit: the
    nearest step of 2**-23 (libsndfile's own conversion may land one 24-bit step away, 1e-7 of
    full scale). Metering the quantised blocks measures the file as written, without reading it
    back.
    """
    subtype = WRITE_FORMATS[fmt][1]
    if subtype in ("FLOAT", "DOUBLE"):
        return None
    scale = np.float32(32768.0 if subtype == "PCM_16" else 8388608.0)

    def quantise(block: np.ndarray) -> np.ndarray:
        y = np.multiply(block, scale, dtype=np.float32)
        np.rint(y, out=y)
        np.clip(y, -scale, scale - 1, out=y)
        y[np.isnan(y)] = 0.0
        return y / scale

    return quantise


def intermediate_format(fmt: str) -> str:
    """The chain output's temporary format: FLAC at the output's bit depth (never larger than it)."""
    return "flac16" if WRITE_FORMATS[fmt][1] == "PCM_16" else "flac24"


def pre_gain_for(before: Any, target: tuple[float, float, str]) -> float:
    """Linear gain for the temporary chain output: towards the loudness gain the source predicts.

    Stored at the output's bit depth, the chain output should sit near its final level so that
    the loudness gain does not lift its quantisation above the output's own; but it must not
    clip, so it stays 1 dB under full scale for the source's true peak (should the chain raise a
    peak over full scale, the chain is rendered again with less: :func:`render_chain_measured`).
    """
    if not (math.isfinite(before.integrated_lufs) and math.isfinite(before.true_peak_dbtp)):
        return 1.0
    want = max(-MAX_LOUDNESS_GAIN_DB, min(MAX_LOUDNESS_GAIN_DB, target[0] - before.integrated_lufs))
    return 10.0 ** (min(want, -1.0 - before.true_peak_dbtp) / 20.0)


class ChainTap:
    """A render's ``post`` hook: meters the chain output, then scales it by ``gain`` (largest |result| kept).

    A context manager: the meter runs on a thread of its own (:class:`_Beside`), on a copy of each
    block (a stage may hand back a buffer it fills again), so that the render's thread only
    copies. ``see(start, block)``, if given, is shown that copy too, on the render's thread (its
    waiting, if any, stays the render's): the block is its own, nothing changes it afterwards.
    :attr:`meter` is complete once the ``with`` block is left.
    """

    def __init__(self, sample_rate: int, channels: int, gain: float,
                 see: Callable[[int, np.ndarray], None] | None = None) -> None:
        self.meter = ProgramMeter(sample_rate, channels, true_peak=False)  # loudness sets the gain; peaks: the limiter
        self.gain = float(gain)
        self.peak = 0.0
        self._see = see
        self._at = 0
        self._beside = _Beside(self.meter.add)

    def __enter__(self) -> ChainTap:
        self._beside.__enter__()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._beside.__exit__(exc_type, exc, tb)

    def __call__(self, block: np.ndarray) -> np.ndarray:
        own = np.array(block, np.float32, copy=True)
        if self._see is not None:
            self._see(self._at, own)
        self._at += own.shape[1]
        self._beside.put(own)
        if self.gain == 1.0:
            return block
        y = block * np.float32(self.gain)
        self.peak = max(self.peak, float(np.abs(y).max(initial=0.0)))
        return y


def measure_source(source: BlockSource, *, progress: Callable[[int, int], None] | None = None,
                   cancel: Callable[[], bool] | None = None, add: Callable[[np.ndarray], None] | None = None) -> Any:
    """:class:`~dsp.loudness.LoudnessStats` of ``source`` (loudness, true peak, levels), block-wise.

    ``add(block)`` also sees every block (e.g. a spectrogram); ``cancel()`` is polled per block.
    """
    meter = ProgramMeter(source.sample_rate, source.channels)
    for start in range(0, source.frames, LOUDNESS_BLOCK):
        if cancel is not None and cancel():
            raise Cancelled("cancelled by the user; nothing was written")
        block = source.read(start, min(LOUDNESS_BLOCK, source.frames - start))
        meter.add(block)
        if add is not None:
            add(block)
        if progress is not None:
            progress(start + block.shape[1], source.frames)
    return meter.result()


def loudness_gain_db(target_lufs: float, measured_lufs: float) -> float:
    """The gain from ``measured_lufs`` to ``target_lufs``, within +/- :data:`MAX_LOUDNESS_GAIN_DB`."""
    return max(-MAX_LOUDNESS_GAIN_DB, min(MAX_LOUDNESS_GAIN_DB, target_lufs - measured_lufs))


def loudness_stages(gain_db: float, ceiling_dbtp: float, *, target: str = "", target_lufs: float | None = None,
                    measured_lufs: float | None = None) -> Any:
    """The loudness stages at the end of the chain: :class:`~dsp.loudness.LoudnessGain` then
    :class:`~dsp.truepeak.TruePeakLimiterProcessor`, as one :class:`~dsp.engine.Chain`."""
    return Chain([
        LoudnessGain(gain_db, target=target, target_lufs=target_lufs, measured_lufs=measured_lufs),
        TruePeakLimiterProcessor(ceiling_dbtp=ceiling_dbtp),
    ])


@dataclasses.dataclass
class LoudnessPass:
    """What one streaming loudness pass wrote: the file's figures as written, the limiter's work."""

    after: Any  # dsp.loudness.LoudnessStats
    limiter_max_reduction_db: float
    clipped_on_write: int
    stages: Any  # the dsp.engine.Chain that ran
    meter: Any = None  # the dsp.loudness.ProgramMeter that measured it (its 100 ms sub-blocks: the report's timeline)


def write_loudness(
    source: BlockSource,
    out_path: str | os.PathLike,
    stages: Any,
    *,
    fmt: str,
    sources: tuple = (),
    add: Callable[[np.ndarray], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    block_size: int = LOUDNESS_BLOCK,
) -> LoudnessPass:
    """Stream ``source`` through the loudness ``stages`` (:func:`loudness_stages`) into ``out_path``.

    One :func:`dsp.render.render_blocks` pass (latency trimmed, tail flushed), written atomically
    (:class:`dsp.io.AtomicWriter`); each block is quantised as ``fmt`` stores it (:func:`quantiser`)
    before it is metered, given to ``add`` and written, so the figures are those of the file.
    """
    meter = ProgramMeter(source.sample_rate, source.channels)
    quantise = quantiser(fmt)

    def measure(block: np.ndarray) -> None:
        meter.add(block)
        if add is not None:
            add(block)

    with AtomicWriter(out_path, source.sample_rate, source.channels, fmt, sources=sources, background=True) as writer, \
            ReadAhead(source) as ahead:  # decoding and encoding beside the gain and the limiter
        with _Beside(measure) as beside:  # the meter (true peak, K-weighting) on a thread of its own
            for block in render_blocks(ahead, stages, block_size=block_size, progress=progress, cancel=cancel):
                if quantise is not None:
                    block = quantise(block)
                beside.put(block)
                writer.write(block)
        writer.commit()
    limiter = stages.processors[-1]
    return LoudnessPass(meter.result(), float(limiter.max_reduction_db), writer.clipped_samples, stages, meter)


class _Beside:
    """Feeds blocks, in order, to ``fn`` on a thread of its own (a context manager).

    The loudness pass's meter costs about as much as its limiter and encoder; beside them it takes
    the other core. ``fn`` sees every block in order, so what it measures is unchanged. Leaving
    the block waits for the last block; an exception in ``fn`` is raised there (or at the next
    :meth:`put`), and an exception in the caller's loop stops the thread without waiting for it.
    """

    _END = object()

    def __init__(self, fn: Callable[[np.ndarray], None], depth: int = 4) -> None:
        self._fn = fn
        self._queue: Any = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="roomtone-meter", daemon=True)

    def __enter__(self) -> _Beside:
        self._thread.start()
        return self

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is self._END or self._stop.is_set():
                return
            if self._error is None:
                try:
                    self._fn(item)
                except BaseException as exc:  # noqa: BLE001 - raised on the caller's thread
                    self._error = exc

    def put(self, block: np.ndarray) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(block)

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self._stop.set()
        self._queue.put(self._END)
        self._thread.join()
        if exc_type is None and self._error is not None:
            raise self._error


def render_chain_measured(
    in_path: Path, out_path: Path, processor: Any, *, sample_rate: int, channels: int, fmt: str, pre_gain: float,
    settings: dict | None = None, progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None, edits: EditSetup | None = None,
    source_tap: Callable[[int, np.ndarray], None] | None = None,
    output_tap: Callable[[int, np.ndarray], None] | None = None,
) -> tuple[RenderRecord, Any, float]:
    """Render the chain once into ``out_path`` (times ``pre_gain``), metering its output on the way.

    Returns ``(render record, LoudnessStats of the chain output, pre_gain used)``; should the
    scaled output clip the integer format, the render is redone with the gain that fits.
    ``source_tap(start, block)`` sees the source as the render reads it, ``output_tap(start,
    block)`` the chain output before ``pre_gain``, in a copy of its own that nothing changes
    afterwards (it may keep it uncopied); both again from the start if the render is redone. The
    chain output's meter runs beside the render (:class:`ChainTap`).
    """
    while True:
        with ChainTap(sample_rate, channels, pre_gain, see=output_tap) as tap:
            rec = render_file(in_path, out_path, processor, fmt=fmt, settings=settings, progress=progress,
                              cancel=cancel, post=tap, edits=edits, source_tap=source_tap)
        if tap.peak <= 1.0 or fmt in ("float32", "float64"):
            return rec, tap.meter.result(), pre_gain
        pre_gain *= 0.98 / tap.peak  # the chain raised a peak over full scale: once more, lower


def normalise_loudness(
    source: BlockSource,
    out_path: str | os.PathLike,
    *,
    gain_db: float,
    target: tuple[float, float, str],
    ceiling_dbtp: float,
    fmt: str,
    measured_lufs: float | None = None,
    offset_db: float = 0.0,
    sources: tuple = (),
    make_add: Callable[[], Callable[[np.ndarray], None] | None] | None = None,
    tolerance_lu: float = LOUDNESS_TOLERANCE_LU,
    max_passes: int = MAX_LOUDNESS_PASSES,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> tuple[LoudnessPass, float, list[dict]]:
    """Write ``source`` into ``out_path`` with the loudness stages, correcting the gain if the limiter must.

    The first pass applies ``gain_db`` (plus ``offset_db``, which undoes a pre-gain of the
    source and is not part of the reported gain). Only where the limiter took the written file's
    loudness further than ``tolerance_lu`` from the target is it written again (at most
    ``max_passes`` passes in all), with a secant step on the measured results. ``make_add()``
    gives each pass a fresh ``add`` hook (e.g. a spectrogram of the output).

    Returns ``(the last pass, its gain dB, one dict per pass)``.
    """
    target_lufs, _, name = target
    tried: list[tuple[float, float]] = []
    passes: list[dict] = []
    while True:
        stages = loudness_stages(gain_db + offset_db, ceiling_dbtp, target=name, target_lufs=target_lufs,
                                 measured_lufs=measured_lufs)
        written = write_loudness(source, out_path, stages, fmt=fmt, sources=sources,
                                 add=make_add() if make_add is not None else None, progress=progress, cancel=cancel)
        lufs = written.after.integrated_lufs
        passes.append({"gain_db": round(gain_db, 3), "integrated_lufs": _finite(lufs),
                       "limiter_max_reduction_db": round(written.limiter_max_reduction_db, 3)})
        err = target_lufs - lufs
        if (written.limiter_max_reduction_db == 0.0 or not math.isfinite(err) or abs(err) < tolerance_lu
                or len(passes) >= max_passes):
            return written, gain_db, passes
        # the limiter took loudness away: a secant step on the measured results
        tried.append((gain_db, lufs))
        step = err
        if len(tried) >= 2:
            (g0, l0), (g1, l1) = tried[-2], tried[-1]
            slope = (l1 - l0) / (g1 - g0) if g1 != g0 else 1.0
            step = err / slope if 0.05 < slope <= 1.0 else err
        gain_db = max(-MAX_LOUDNESS_GAIN_DB, min(MAX_LOUDNESS_GAIN_DB, gain_db + step))


def _phase(progress: Callable[[int, int], None] | None, lo: float, hi: float) -> Callable[[int, int], None] | None:
    """``progress`` for one phase of a render, covering ``lo``..``hi`` of the whole."""
    if progress is None:
        return None
    return lambda done, total: progress(int(total * lo + (hi - lo) * done), total)


def render_loudness(
    in_path: str | os.PathLike,
    out_path: str | os.PathLike,
    processor: Any,
    *,
    fmt: str,
    target: tuple[float, float, str],
    ceiling_dbtp: float | None = None,
    settings: dict | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    name_like: str | os.PathLike | None = None,
    edits: EditSetup | None = None,
) -> RenderRecord:
    """Render ``in_path`` through ``processor`` to a loudness ``target`` into ``out_path`` (atomically).

    1. Measure the source (loudness, true peak): the record's ``before``, and the pre-gain.
    2. Render the chain once (:func:`dsp.render.render_file`) into a temporary FLAC at the
       output's depth beside the output (``.NAME.chain.flac....tmp-roomtone``), scaled by the
       pre-gain, metering its loudness: the gain to the target.
    3. One :func:`write_loudness` pass of the loudness stages from that file into the output,
       metered as written (:func:`normalise_loudness`); written again with a corrected gain only
       when the limiter took the loudness more than :data:`LOUDNESS_TOLERANCE_LU` from the target.

    The temporary file is removed on success, failure and cancel alike. ``target`` is
    :func:`dsp.loudness.resolve_target`'s ``(LUFS, ceiling dBTP, name)``; ``name_like`` names the
    temporary file (default: ``out_path``). The record's ``settings["loudness"]`` holds the target,
    the before / chain output / after figures, the gain and the limiter's largest reduction;
    ``chain`` describes the chain followed by the loudness stages.
    """
    t0 = time.perf_counter()
    in_path, out_path = Path(in_path), Path(out_path)
    like = Path(name_like) if name_like is not None else out_path
    target_lufs, target_ceiling, name = target
    ceiling = target_ceiling if ceiling_dbtp is None else min(target_ceiling, float(ceiling_dbtp))
    with AudioReader(in_path) as reader:
        before = measure_source(reader, progress=_phase(progress, 0.0, 0.1), cancel=cancel)
        sample_rate, channels = reader.sample_rate, reader.channels
    inter_fmt = intermediate_format(fmt)
    chain_tmp = make_temp(like.with_name(like.stem + ".chain.flac"), like.parent if str(like.parent) else None)
    try:
        rec, chain_stats, pre_gain = render_chain_measured(
            in_path, chain_tmp, processor, sample_rate=sample_rate, channels=channels, fmt=inter_fmt,
            pre_gain=pre_gain_for(before, target), settings=settings, progress=_phase(progress, 0.1, 0.7), cancel=cancel,
            edits=edits,
        )
        pre_db = 20.0 * math.log10(pre_gain)
        measurable = math.isfinite(chain_stats.integrated_lufs)
        gain_db = loudness_gain_db(target_lufs, chain_stats.integrated_lufs) if measurable else 0.0
        with AudioReader(chain_tmp) as chain_out:  # silence: no gain (the pre-gain undone), the limiter as always
            written, gain_db, passes = normalise_loudness(
                chain_out, out_path, gain_db=gain_db, target=target, ceiling_dbtp=ceiling, fmt=fmt,
                measured_lufs=_finite(chain_stats.integrated_lufs), offset_db=-pre_db, sources=(in_path,),
                progress=_phase(progress, 0.7, 1.0), cancel=cancel)
    finally:
        chain_tmp.unlink(missing_ok=True)
    after = written.after
    rec.output, rec.format = str(out_path), fmt
    rec.chain = {"type": "Chain", "processors": [rec.chain, written.stages.describe()]}
    rec.settings = {**(settings or {}), "loudness": {
        "target": name,
        "target_lufs": target_lufs,
        "ceiling_dbtp": ceiling,
        "measurable": measurable,
        "before": before.to_dict(),
        "chain_output": {k: v for k, v in chain_stats.to_dict().items() if k != "true_peak_dbtp"},
        "after": after.to_dict(),
        "integrated_lufs": _finite(after.integrated_lufs),
        "true_peak_dbtp": _finite(after.true_peak_dbtp),
        "gain_db": round(gain_db, 3),
        "limiter_max_reduction_db": round(written.limiter_max_reduction_db, 3),
        "clipped_on_write": written.clipped_on_write,
        "passes": passes,
        "tolerance_lu": LOUDNESS_TOLERANCE_LU,
        "intermediate": {"format": inter_fmt, "pre_gain_db": round(pre_db, 3)},
        "note": None if measurable else "the chain output is silent: no loudness to measure, no gain applied",
    }}
    rec.seconds = time.perf_counter() - t0
    return rec


def _finite(v: float) -> float | None:
    return round(float(v), 3) if math.isfinite(v) else None


def preload_models_in_background() -> threading.Thread:
    """Load DeepFilterNet3 on a background thread (about 1.1 s, once), so that the first chain
    with the ``deepfilter`` stage, possibly built by the monitor's feeder while playing, starts at
    once. Says nothing where the model cannot run (the chain build will). Returns the thread."""

    def work() -> None:
        from models.ml_denoise import preload  # lazy: learned model, off the CLI's start-up path

        preload()

    thread = threading.Thread(target=work, name="roomtone-model-preload", daemon=True)
    thread.start()
    return thread
