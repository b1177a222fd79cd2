"""File + settings -> processor: the one place the CLI, batch and the GUI set up a render.

:func:`prepare_processor` gathers the whole-file knowledge a chain needs (the room-tone profile:
given, learned from regions, or found automatically; then each stage's own analyses) and builds
the chain. :func:`clean_file` does that for a file on disk, renders it through
:func:`dsp.render.render_file` (atomic write) and writes the render record beside the output.
:func:`adjust_settings` turns the CLI's convenience options (``--passes``, ``--refill``, ...)
into a new :class:`~dsp.chain.ChainSettings`, so batch and the CLI mean the same by them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

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
from dsp.engine import DryWet
from dsp.errors import ParameterError
from dsp.presence import SpeechTrack
from dsp.render import BlockSource, RenderRecord
from dsp.roomtone import RoomToneSettings, estimate_noise_floor, estimate_room_tone
from dsp.stft import StftSettings

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
    return dataclasses.replace(spec, settings=dataclasses.replace(spec.settings, **values))


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
    max_reduction_db : float, optional
        Sets ``max_reduction_db`` on every active pass.
    refill : {"roomtone", "pink", "off"}, optional
        ``"off"`` bypasses the refill stage; otherwise it is enabled (added if missing) with
        its ``source`` setting set to this value.
    eq_match : bool
        Enable (or add) the EQ-match stage.
    mix, listen : optional
        Whole-chain dry/wet mix (0..1) and listen mode.
    overrides : list of str, optional
        ``key=value`` strings for :meth:`ChainSettings.with_overrides`.

    Raises
    ------
    ParameterError
        For an unknown or non-pass kind in ``passes``, a stage kind this build does not have,
        or a value out of range.
    """
    stages = list(settings.stages)
    if passes is not None:
        reg = registry()
        pass_kinds = sorted(k for k, v in reg.items() if v.role == "pass")
        wanted = [p.strip() for p in passes if p.strip()]
        if not wanted:
            raise ParameterError(f"--passes needs at least one pass kind (available: {', '.join(pass_kinds) or 'none'})")
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
    if max_reduction_db is not None:
        if not 0.0 <= max_reduction_db <= 60.0:
            raise ParameterError(f"--max-reduction-db must be between 0 and 60 dB, got {max_reduction_db:g}")
        touched = 0
        for i, s in enumerate(stages):
            if not s.bypass and stage_kind(s.kind).role == "pass":
                stages[i] = _replace_settings(s, "--max-reduction-db", max_reduction_db=float(max_reduction_db))
                touched += 1
        if not touched:
            raise ParameterError("--max-reduction-db: the chain has no active noise-reduction pass to set it on")
    if refill is not None:
        if refill not in ("roomtone", "pink", "off"):
            raise ParameterError(f"--refill must be roomtone, pink or off, got {refill!r}")
        idx = [i for i, s in enumerate(stages) if s.kind == "refill"]
        if refill == "off":
            for i in idx:
                stages[i] = dataclasses.replace(stages[i], bypass=True)
        else:
            if not idx:
                stages.append(_new_stage("refill", "--refill"))
                idx = [len(stages) - 1]
            for i in idx:
                stages[i] = _replace_settings(dataclasses.replace(stages[i], bypass=False), "--refill", source=refill)
    if eq_match:
        idx = [i for i, s in enumerate(stages) if s.kind == "eqmatch"]
        if idx:
            for i in idx:
                stages[i] = dataclasses.replace(stages[i], bypass=False)
        else:
            stages.append(_new_stage("eqmatch", "--eq-match"))
    changes: dict[str, Any] = {"stages": tuple(stages)}
    if mix is not None:
        changes["mix"] = float(mix)
    if listen is not None:
        changes["listen"] = listen
    out = dataclasses.replace(settings, **changes)
    if overrides:
        out = out.with_overrides(list(overrides))
    return out


# -- whole-file knowledge -> processor ----------------------------------------------------------


def used_model_versions(settings: ChainSettings, profile: Any) -> dict:
    """Names, versions and checksums of the learned models this render used (for its record)."""
    uses_dfn = any(s.kind == "deepfilter" and not s.bypass for s in settings.stages)
    # the voice activity model ran for the room tone, for the passes' speech presence, or for the leveler
    uses_vad = ((profile is not None and getattr(profile, "method", "") == "vad") or settings.speech.detector == "vad"
                or _needs_speech_track(settings))
    if not (uses_dfn or uses_vad):
        return {}
    try:
        from models.versions import model_versions
    except ImportError:
        return {}
    allv = model_versions()
    keep = {
        k: v for k, v in allv.items()
        if (uses_dfn and ("deepfilter" in k or k == "onnx")) or (uses_vad and ("vad" in k or "silero" in k))
        or k == "onnxruntime"
    }
    return keep or allv


def find_room_tone(source: BlockSource, settings: ChainSettings | StftSettings, *, source_name: str = "") -> Any:
    """Room tone found automatically: THE automatic method (``clean`` without a profile,
    ``profile --auto`` and the workstation's "Find automatically" all call this).

    1. From the longest stretches without speech (voice activity, ``models.auto_profile``), or,
       where the model is not available, from the quietest frames (``dsp.roomtone``, method
       "auto"; the profile's warnings say so).
    2. Where neither finds a stretch to learn from (a short clip that is all speech, an ambience
       with no steady pause), the noise floor is estimated without one
       (:func:`dsp.roomtone.estimate_noise_floor`, method "minimum": each band's low percentile
       over time), and the profile's warning says why. A recording is never refused here.

    ``settings`` gives the FFT geometry: the chain's settings or its ``StftSettings``.
    """
    stft = settings.stft if isinstance(settings, ChainSettings) else settings
    rt_settings = RoomToneSettings(stft=stft)
    try:
        try:
            from models.auto_profile import auto_room_tone
            from models.versions import ModelUnavailable
        except ImportError as exc:
            reason = f"voice activity is not installed ({exc})"
        else:
            try:
                return auto_room_tone(source, source.sample_rate, rt_settings, source_name=source_name)
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
) -> tuple[Any, str | None]:
    """The room-tone profile a render of ``source`` uses, and where it came from.

    A given ``profile`` wins (it must match the audio's rate); else it is learned from the
    ``learn`` regions; else, when ``auto_profile`` is set or a stage needs one, it is found
    automatically. Returns ``(profile or None, "given" | "learned" | "automatic" | None)``.
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
        profile = find_room_tone(source, settings, source_name=source_name)
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

    Returns
    -------
    processor : DryWet
        Ready to prepare and render.
    context : BuildContext
        The whole-file knowledge it was built with (``context.profile`` may be None).
    """
    profile, _ = resolve_profile(
        source, settings, profile=profile, learn=learn, auto_profile=auto_profile, source_name=source_name
    )
    context = BuildContext(source.sample_rate, source.channels, profile=profile)
    if settings.speech.detector == "vad" or _needs_speech_track(settings):
        context = dataclasses.replace(context, extras={**context.extras, **speech_track(source)})
    context = analyse_source(source, settings, context)
    return build_chain(settings, context), context


def _needs_speech_track(settings: ChainSettings) -> bool:
    """An active stage plans from the voice activity track (the leveler's phrases)."""
    return any(s.kind == "leveler" and not s.bypass for s in settings.stages)


def speech_track(source: BlockSource) -> dict:
    """The voice activity model's speech probability over ``source`` as a
    :class:`~dsp.presence.SpeechTrack` (``{"speech": track}``), for the chain's ``speech.detector =
    "vad"`` and for an active leveler (its phrases); where the model cannot run,
    ``{"speech_detector": why}`` and the passes keep their own presence, the leveler finds phrases
    from the signal's level (the render record says so)."""
    try:
        from models.vad import FRAME_S, speech_probabilities
        from models.versions import ModelUnavailable
    except ImportError as exc:
        return {"speech_detector": f"voice activity is not installed ({exc}); the passes' own speech presence was used"}
    try:
        probs = speech_probabilities(source, source.sample_rate)
    except ModelUnavailable as exc:
        return {"speech_detector": f"{exc}; the passes' own speech presence was used"}
    return {"speech": SpeechTrack(np.asarray(probs, np.float32), FRAME_S, "vad")}


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
def clean_file(
    in_path: str | os.PathLike,
    out_path: str | os.PathLike,
    settings: ChainSettings,
    *,
    profile: Any = None,
    learn: list[tuple[float, float]] | None = None,
    auto_profile: bool = False,
    fmt: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    record: bool = True,
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
    progress : callable(done, total), optional
        Render progress in samples.
    cancel : callable() -> bool, optional
        Polled between blocks; true cancels (nothing is written).
    record : bool
        Write the render record ``OUT.roomtone.json`` beside the output.

    Returns
    -------
    RenderRecord
        Its ``settings`` holds the chain settings, the profile summary, the analyses and the
        output format (with a note where it changes the source's sample depth).

    Raises
    ------
    ParameterError
        For an output name Roomtone does not write, or a ``fmt`` that contradicts it.
    OutputError
        If the output cannot be written (neither the audio nor its record is then left).
    """
    from dsp.io import AudioReader, check_target, format_note, output_format

    in_path, out_path = Path(in_path), Path(out_path)
    t0 = time.perf_counter()
    with AudioReader(in_path) as reader:  # opens and checks the source first: its errors come first
        fmt = output_format(out_path, fmt, reader.info)
        check_target(out_path, sources=(in_path,))
        if record:
            check_target(record_path(out_path), sources=(in_path,))
        processor, context = prepare_processor(
            reader, settings, profile=profile, learn=learn, auto_profile=auto_profile, source_name=str(in_path)
        )
        analysis_s = time.perf_counter() - t0
        note = format_note(reader.info, fmt)
    prof = context.profile
    settings_record = {
        "chain": settings.to_dict(),
        "profile": profile_summary(prof),
        "profile_origin": (
            "given" if profile is not None else "learned" if learn else "automatic" if prof is not None else None
        ),
        "analyses": analyses_summary(context),
        "output_format": _format_summary(fmt, note),
    }
    if not record:
        rec = _render(in_path, out_path, processor, fmt, settings_record, progress, cancel)
        rec.versions["models"] = used_model_versions(settings, prof)
        return rec
    return _render_with_record(
        in_path, out_path, processor, fmt, settings_record, progress, cancel,
        models=used_model_versions(settings, prof), t0=t0, analysis_s=analysis_s,
    )


def _format_summary(fmt: str, note: str | None) -> dict:
    """The output format as the render record states it: name, container, encoding, note."""
    from dsp.io import WRITE_FORMATS

    major, subtype, _ = WRITE_FORMATS[fmt]
    return {"name": fmt, "container": major, "encoding": subtype, "note": note}


def _render(in_path, out_path, processor, fmt, settings_record, progress, cancel) -> RenderRecord:
    from dsp.render import render_file

    return render_file(in_path, out_path, processor, fmt=fmt, settings=settings_record, progress=progress, cancel=cancel)


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
    in_path: Path, out_path: Path, processor, fmt: str, settings_record: dict, progress, cancel, *,
    models: dict, t0: float, analysis_s: float,
) -> RenderRecord:
    """Render into a temporary file, write the record to another, then rename both into place.

    Either both land or neither does: a failure before the renames removes both temporary files
    (the old output and record, if any, are untouched); if the record's rename fails after the
    audio's, the new audio is removed again.
    """
    from dsp.errors import OutputError
    from dsp.io import make_temp, stage_text

    rec_path = record_path(out_path)
    staged_audio = make_temp(out_path)
    staged_record = None
    try:
        rec = _render(in_path, staged_audio, processor, fmt, settings_record, progress, cancel)
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
