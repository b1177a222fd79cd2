"""The Project: an immutable value holding everything a piece of work is made of, and its file.

A :class:`Project` is the source audio (a :class:`SourceRef` with a content hash), the chain
settings, the room-tone profile, the current selection, the JSON-able results of whole-file
analyses, and the edit list (:mod:`dsp.edits`, spans in source seconds). Editing never mutates a Project: :meth:`app.session.Session.apply` makes
a new one (``dataclasses.replace``) and keeps the old one for undo.

The project file is versioned JSON (``{"format": "roomtone-project", "version": 1, ...}``;
version 2 when it holds edits or markers),
never pickle. It records the source by absolute path *and* by path relative to the project
file (so a folder holding both can be moved or copied), with its SHA-256, and the software and
model versions in use when it was saved. :func:`load_project` reports a source that moved or
changed as a :class:`SourceProblem` whose message says how to relink; :func:`relink` points the
project at the file's new location.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import math
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app.presets import DEFAULT_PRESET, list_presets, load_preset
from app.session.markers import Marker, markers_from_json, sort_markers
from dsp.chain import ChainSettings
from dsp.edits import EDIT_KINDS, Edit, edit_from_dict, edit_to_dict
from dsp.errors import Cancelled, InputError, OutputError, ParameterError
from dsp.io import MAX_CHANNELS, audio_info
from dsp.io import write_text_atomic as _write
from dsp.jsonfields import JsonFields, as_fields
from dsp.loudness import TARGET_CHOICES
from dsp.render import software_versions
from dsp.roomtone import NoiseProfile
from models.versions import model_versions  # torch-free: reads package metadata

PROJECT_FORMAT = "roomtone-project"
#: 2: the edit list (``edits``) and markers (``markers``). A project with neither is still written as
#: version 1, so an older Roomtone opens it; one with either is refused there rather than opened
#: without them (and saved back without them).
PROJECT_VERSION = 2
#: Suffix given to project files saved without one.
PROJECT_SUFFIX = ".roomtone"

_HASH_CHUNK = 1 << 20
#: What a damaged project file's message tells the user to do.
_DAMAGED_FIX = "restore the project from a backup or the autosave"


# -- versions -------------------------------------------------------------------------------------
_VERSION_PROVIDERS: dict[str, Callable[[], Mapping[str, str]]] = {}


def register_version_provider(name: str, provider: Callable[[], Mapping[str, str]]) -> None:
    """Add a source of version strings recorded in every saved project.

    ``provider()`` returns ``{component: version}``; it is stored under ``versions[name]``.
    The ``models`` package plugs in here (or exposes ``models.versions()``, picked up
    automatically) so that projects record which learned models were used.
    """
    _VERSION_PROVIDERS[name] = provider


def project_versions() -> dict[str, dict[str, str]]:
    """Software and model versions to record in a project file.

    ``{"software": dsp.render.software_versions(), "models": {...}, <provider>: {...}}``.
    A provider that fails is recorded as ``{"error": "..."}`` rather than blocking a save.
    """
    out: dict[str, dict[str, str]] = {"software": software_versions(), "models": {}}
    providers = dict(_VERSION_PROVIDERS)
    if "models" not in providers:
        providers["models"] = model_versions
    for name, provider in providers.items():
        try:
            # JSON-able, nested values kept (model entries hold package, file and checksum)
            out[name] = json.loads(json.dumps({str(k): v for k, v in dict(provider()).items()}, default=str))
        except Exception as exc:  # noqa: BLE001 - a broken provider must not block saving work
            out[name] = {"error": f"{type(exc).__name__}: {exc}"}
    return out


# -- JSON-able frozen data --------------------------------------------------------------------------
class FrozenMap(Mapping[str, Any]):
    """A read-only, deeply frozen mapping of JSON-able values (lists become tuples)."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        self._data = {str(k): freeze_json(v, f"analyses[{k!r}]") for k, v in (data or {}).items()}

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrozenMap):
            return self._data == other._data
        if isinstance(other, Mapping):
            return self._data == {k: freeze_json(v) for k, v in other.items()}
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"

    def __deepcopy__(self, memo: dict) -> FrozenMap:
        return self  # immutable

    def thaw(self) -> dict[str, Any]:
        """A plain, mutable ``dict`` copy (lists for tuples), ready for ``json.dumps``."""
        return thaw_json(self)  # type: ignore[return-value]


def freeze_json(value: Any, where: str = "value") -> Any:
    """``value`` as immutable JSON data: mappings -> :class:`FrozenMap`, sequences -> tuples.

    numpy scalars and arrays are converted to Python numbers and tuples. Anything else that
    JSON cannot hold raises :class:`~dsp.errors.ParameterError`.
    """
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, FrozenMap):
        return value
    if isinstance(value, np.generic):
        return freeze_json(value.item(), where)
    if isinstance(value, np.ndarray):
        return freeze_json(value.tolist(), where)
    if isinstance(value, Mapping):
        return FrozenMap(value)
    if isinstance(value, (list, tuple)):
        return tuple(freeze_json(v, f"{where}[{i}]") for i, v in enumerate(value))
    raise ParameterError(
        f"{where}: project analyses must be JSON data (numbers, strings, lists, dicts), "
        f"got a {type(value).__name__}; convert it with its to_dict() first"
    )


def thaw_json(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: thaw_json(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [thaw_json(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN/Inf
    return value


# -- source --------------------------------------------------------------------------------------
def hash_file(
    path: str | os.PathLike,
    *,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> str:
    """SHA-256 of a file, read in 1 MiB chunks (hex). ``progress(done_bytes, total_bytes)``."""
    path = Path(path)
    h = hashlib.sha256()
    try:
        total = path.stat().st_size
        done = 0
        with open(path, "rb") as fh:
            while chunk := fh.read(_HASH_CHUNK):
                if cancel is not None and cancel():
                    raise Cancelled("cancelled by the user")
                h.update(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
    except OSError as exc:
        raise InputError(f"{path}: cannot read the file to check its content ({exc})") from None
    return h.hexdigest()


@dataclass(frozen=True)
class SourceRef:
    """The source audio file: where it is, what it holds, and a hash of its content."""

    path: str  # absolute path
    sha256: str  # content hash of the whole file (hex)
    sample_rate: int
    channels: int
    frames: int
    size_bytes: int = -1  # file size when hashed (-1: unknown); a cheap first check for changes

    @classmethod
    def from_path(cls, path: str | os.PathLike, *, sha256: str | None = None, hash: bool = True) -> SourceRef:
        """Read the header (``dsp.io.audio_info``) and hash the file in chunks.

        Pass ``sha256`` when it is already known. ``hash=False`` leaves ``sha256`` empty
        (about 2 s for a 1-hour 48 kHz stereo WAV at ~500 MB/s): the GUI hashes in a job and
        fills it in with ``Session.set_source_hash``; saving fills in a missing hash.
        """
        p = Path(path).expanduser().absolute()
        info = audio_info(p)
        digest = sha256 if sha256 is not None else (hash_file(p) if hash else "")
        return cls(str(p), digest, int(info.sample_rate), int(info.channels), int(info.frames), p.stat().st_size)

    @property
    def name(self) -> str:
        return Path(self.path).name

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0

    def describe(self) -> str:
        """``"name.wav (48000 Hz, 2 ch, 120.00 s)"``."""
        return f"{self.name} ({self.sample_rate} Hz, {self.channels} ch, {self.duration_s:.2f} s)"

    def to_dict(self, *, base: Path | None = None) -> dict[str, Any]:
        d: dict[str, Any] = {
            "path": self.path, "sha256": self.sha256, "sample_rate": self.sample_rate,
            "channels": self.channels, "frames": self.frames, "size_bytes": self.size_bytes,
        }
        if base is not None:
            try:
                d["relative_path"] = Path(os.path.relpath(self.path, base)).as_posix()
            except ValueError:  # another drive on Windows
                pass
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | JsonFields) -> SourceRef:
        """Inverse of :meth:`to_dict`; a damaged field raises :class:`~dsp.errors.InputError` naming it."""
        f = d if isinstance(d, JsonFields) else as_fields(d, "source", _DAMAGED_FIX, "source description")
        f.text("relative_path", default="")  # read by resolve_source; checked here
        return cls(
            path=f.text("path"), sha256=f.text("sha256"), sample_rate=f.integer("sample_rate", lo=1),
            channels=f.integer("channels", lo=1, hi=MAX_CHANNELS), frames=f.integer("frames", lo=0),
            size_bytes=f.integer("size_bytes", lo=-1, default=-1),
        )


@dataclass(frozen=True)
class Selection:
    """A time range, or a time-frequency rectangle when ``low_hz``/``high_hz`` are set."""

    start_s: float
    end_s: float
    low_hz: float | None = None
    high_hz: float | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start_s) and math.isfinite(self.end_s)) or self.start_s < 0:
            raise ParameterError(f"selection must lie at or after 0 s, got {self.start_s}-{self.end_s} s")
        if self.end_s < self.start_s:
            raise ParameterError(
                f"selection ends ({self.end_s} s) before it starts ({self.start_s} s); "
                "use Selection.between(a, b) for either order"
            )
        if (self.low_hz is None) != (self.high_hz is None):
            raise ParameterError("a time-frequency selection needs both low_hz and high_hz")
        if self.low_hz is not None and self.high_hz is not None and not 0 <= self.low_hz < self.high_hz:
            raise ParameterError(
                f"selection frequencies must satisfy 0 <= low < high, got {self.low_hz}-{self.high_hz} Hz"
            )

    @classmethod
    def between(cls, a: float, b: float, low_hz: float | None = None, high_hz: float | None = None) -> Selection:
        """A selection from two times in either order (a drag to the left)."""
        lo, hi = (a, b) if a <= b else (b, a)
        if low_hz is not None and high_hz is not None and low_hz > high_hz:
            low_hz, high_hz = high_hz, low_hz
        return cls(max(0.0, float(lo)), float(hi), low_hz, high_hz)

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    @property
    def is_rectangle(self) -> bool:
        return self.low_hz is not None

    def describe(self) -> str:
        """``"1.50-3.00 s"`` or ``"1.50-3.00 s, 200-4000 Hz"``."""
        text = f"{self.start_s:.2f}-{self.end_s:.2f} s"
        if self.low_hz is not None:
            text += f", {self.low_hz:.0f}-{self.high_hz:.0f} Hz"
        return text

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | JsonFields) -> Selection:
        """Inverse of :meth:`to_dict`; a damaged field raises :class:`~dsp.errors.InputError` naming it."""
        f = d if isinstance(d, JsonFields) else as_fields(d, "selection", _DAMAGED_FIX, "selection")
        start, end = f.number("start_s", lo=0.0), f.number("end_s", lo=0.0)
        low, high = f.optional_number("low_hz", lo=0.0), f.optional_number("high_hz", lo=0.0)
        try:
            return cls(start, end, low, high)
        except ParameterError as exc:
            raise InputError(f"{f.where}: damaged field '{f.prefix.rstrip('.')}' ({exc}); {f.fix}") from None


def default_chain() -> ChainSettings:
    """The factory ``podcast`` preset when it is available, else an empty chain."""
    try:
        if DEFAULT_PRESET in list_presets():
            return load_preset(DEFAULT_PRESET)
    except ParameterError:
        pass  # a preset naming stage kinds that are not (yet) registered
    return ChainSettings()


def profiles_equal(a: NoiseProfile | None, b: NoiseProfile | None) -> bool:
    """Value equality of two profiles (``NoiseProfile`` holds arrays, so ``==`` cannot)."""
    if a is b:
        return True
    if a is None or b is None:
        return False
    return a.to_dict() == b.to_dict()


@dataclass(frozen=True, eq=False)
class Project:
    """Everything one piece of work is made of. Immutable: edit with ``dataclasses.replace``.

    ``saved_versions`` holds the versions recorded in the file it was loaded from (empty for a
    new project); it is informational and not part of equality. A file always records the
    versions current at the time of saving.
    """

    source: SourceRef | None = None
    chain: ChainSettings = field(default_factory=default_chain)
    profile: NoiseProfile | None = None
    selection: Selection | None = None
    analyses: Mapping[str, Any] = field(default_factory=FrozenMap)
    name: str = "Untitled"
    saved_versions: Mapping[str, Any] = field(default_factory=FrozenMap)
    #: Loudness target of exports: a name of :data:`dsp.loudness.TARGET_CHOICES` ("off": none).
    loudness: str = "off"
    #: Markers (points) and regions (named spans), in time order (:mod:`app.session.markers`).
    markers: tuple[Marker, ...] = ()
    #: The edit list (:mod:`dsp.edits`), in the order it is applied; spans in source seconds.
    edits: tuple[Edit, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.edits, tuple):
            object.__setattr__(self, "edits", tuple(self.edits))
        for e in self.edits:
            if type(e) not in EDIT_KINDS.values():
                raise ParameterError(f"Project.edits holds a {type(e).__name__}, not an edit of dsp.edits")
        if self.loudness not in TARGET_CHOICES:
            raise ParameterError(
                f"unknown loudness target {self.loudness!r}; choose one of {', '.join(TARGET_CHOICES)}"
            )
        if not isinstance(self.analyses, FrozenMap):
            object.__setattr__(self, "analyses", FrozenMap(self.analyses))
        if not isinstance(self.saved_versions, FrozenMap):
            object.__setattr__(self, "saved_versions", FrozenMap(self.saved_versions))
        if not isinstance(self.chain, ChainSettings):
            raise ParameterError(f"Project.chain must be ChainSettings, got {type(self.chain).__name__}")
        if not all(isinstance(m, Marker) for m in self.markers):
            raise ParameterError("Project.markers must hold Marker values")
        object.__setattr__(self, "markers", sort_markers(self.markers))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Project):
            return NotImplemented
        if self is other:
            return True
        return (
            self.source == other.source and self.chain == other.chain and self.selection == other.selection
            and self.name == other.name and self.analyses == other.analyses
            and self.loudness == other.loudness and profiles_equal(self.profile, other.profile)
            and self.markers == other.markers
            and self.edits == other.edits
        )

    __hash__ = None  # type: ignore[assignment]

    def __deepcopy__(self, memo: dict) -> Project:
        return self  # immutable (the profile's arrays are never written to)

    # -- convenience --------------------------------------------------------------------------
    def with_analysis(self, key: str, value: Any) -> Project:
        """A copy with ``analyses[key] = value`` (``None`` removes the entry)."""
        data = dict(self.analyses)
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
        return dataclasses.replace(self, analyses=FrozenMap(data))

    # -- JSON ---------------------------------------------------------------------------------
    def to_dict(self, *, base: str | os.PathLike | None = None) -> dict[str, Any]:
        """Versioned JSON-able form. ``base``: the project file's folder, for relative source paths."""
        return {
            "format": PROJECT_FORMAT,
            "version": PROJECT_VERSION if self.edits or self.markers else 1,
            "name": self.name,
            "saved_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "source": None if self.source is None else self.source.to_dict(base=None if base is None else Path(base)),
            "chain": self.chain.to_dict(),
            "loudness": self.loudness,
            "profile": None if self.profile is None else self.profile.to_dict(),
            "selection": None if self.selection is None else self.selection.to_dict(),
            "analyses": thaw_json(self.analyses),
            "markers": [m.to_dict() for m in self.markers],
            "edits": [edit_to_dict(e) for e in self.edits],
            "versions": project_versions(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, where: str = "project") -> Project:
        """Inverse of :meth:`to_dict`. Raises :class:`~dsp.errors.InputError` for foreign,
        newer or damaged data."""
        if not isinstance(d, Mapping) or d.get("format") != PROJECT_FORMAT:
            found = d.get("format") if isinstance(d, Mapping) else type(d).__name__
            raise InputError(f"{where}: not a Roomtone project (format {found!r}, expected {PROJECT_FORMAT!r})")
        f = JsonFields(d, where, _DAMAGED_FIX)
        version = f.integer("version", lo=1)
        if version > PROJECT_VERSION:
            raise InputError(
                f"{where}: project format version {version} is newer than this Roomtone understands "
                f"(up to {PROJECT_VERSION}); it was saved by a newer Roomtone "
                f"({_saved_roomtone(d)}): update Roomtone to open it"
            )
        chain_fields = f.mapping("chain", default=None, nullable=True)
        try:
            chain = ChainSettings.from_dict(dict(chain_fields.data) if chain_fields is not None else {})
        except (ParameterError, TypeError, ValueError, AttributeError) as exc:
            raise InputError(
                f"{where}: the chain settings cannot be used (field 'chain': {exc}); the project may come "
                f"from a Roomtone with other stage kinds, or the file is damaged: {_DAMAGED_FIX}"
            ) from None
        source_fields = f.mapping("source", default=None, nullable=True)
        selection_fields = f.mapping("selection", default=None, nullable=True)
        analyses = f.mapping("analyses", default=None, nullable=True)
        versions = f.mapping("versions", default=None, nullable=True)
        profile = f.raw("profile")
        loudness = f.text("loudness", default="off")
        if loudness not in TARGET_CHOICES:
            raise InputError(
                f"{where}: unknown loudness target {loudness!r} (field 'loudness'; known: "
                f"{', '.join(TARGET_CHOICES)}); the project may come from a newer Roomtone: update Roomtone"
            )
        edits = tuple(
            edit_from_dict(e, where=f"{where}: edit {i + 1}", fix=f"remove that edit from the file or {_DAMAGED_FIX}")
            for i, e in enumerate(f.array("edits", default=[]))
        )
        return cls(
            edits=edits,
            source=None if source_fields is None else SourceRef.from_dict(source_fields),
            chain=chain,
            profile=None if profile is None else NoiseProfile.from_dict(profile, where=f"{where}: room-tone profile"),
            selection=None if selection_fields is None else Selection.from_dict(selection_fields),
            analyses=FrozenMap(analyses.data if analyses is not None else {}),
            name=f.text("name", default="Untitled"),
            saved_versions=FrozenMap(versions.data if versions is not None else {}),
            loudness=loudness,
            markers=markers_from_json(f.array("markers", default=[]), f),
        )


def _saved_roomtone(d: Mapping[str, Any]) -> str:
    try:
        return f"Roomtone {d['versions']['software']['roomtone']}"
    except (KeyError, TypeError):
        return "unknown version"


# -- files ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SourceProblem:
    """Why a project's source audio cannot be used as it is; ``message`` says what to do."""

    kind: str  # "missing" | "changed"
    path: str
    message: str


def project_to_json(project: Project, *, base: str | os.PathLike | None = None, extra: Mapping | None = None) -> str:
    d = project.to_dict(base=base)
    if extra:
        d.update(extra)
    return json.dumps(d, indent=1, allow_nan=False)


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` at ``path`` atomically, with the umask's mode (:func:`dsp.io.write_text_atomic`).

    Raises
    ------
    OutputError
        If the folder is missing or not writable, or the disk is full; the previous file is
        then unchanged and no temporary file is left.
    """
    try:
        _write(path, text)
    except OutputError as exc:
        why = str(exc).removesuffix(". Nothing was written").removesuffix("; nothing was written")
        raise OutputError(f"{why}; the previous file is unchanged") from None


def save_project(project: Project, path: str | os.PathLike) -> None:
    """Save ``project`` as JSON at ``path`` atomically (temp file + ``os.replace``).

    The source is recorded by absolute path and relative to the project file's folder.
    """
    path = Path(path).expanduser().absolute()
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; give a file name for the project")
    project = with_source_hash(project)
    write_text_atomic(path, project_to_json(project, base=path.parent))


def with_source_hash(project: Project) -> Project:
    """``project`` with its source's hash filled in if it was opened without one."""
    src = project.source
    if src is None or src.sha256:
        return project
    return dataclasses.replace(project, source=dataclasses.replace(src, sha256=hash_file(src.path)))


def read_project_json(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such project file; check the path")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a readable Roomtone project ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: not a Roomtone project (expected a JSON object)")
    return data


def load_project(path: str | os.PathLike, *, verify: bool = True) -> tuple[Project, list[SourceProblem]]:
    """Read a project file and check its source audio.

    The source is looked for at its path relative to the project file (the folder was moved or
    copied together with its audio), then at its absolute path. A file found there whose
    content hash differs, or none found at all, gives a :class:`SourceProblem`; the project is
    returned unchanged in that case so the user can relink (:func:`relink`). ``verify=False``
    skips hashing (only existence and size are checked).
    """
    path = Path(path).expanduser().absolute()
    data = read_project_json(path)
    project = Project.from_dict(data, where=str(path))
    return resolve_source(project, data.get("source"), base=path.parent, verify=verify)


def resolve_source(
    project: Project, raw_source: Any, *, base: Path | None, verify: bool = True
) -> tuple[Project, list[SourceProblem]]:
    src = project.source
    if src is None:
        return project, []
    candidates: list[Path] = []
    rel = raw_source.get("relative_path") if isinstance(raw_source, Mapping) else None
    if isinstance(rel, str) and rel and base is not None:
        candidates.append(Path(os.path.normpath(base / rel)))
    if Path(src.path) not in candidates:
        candidates.append(Path(src.path))
    existing = [c for c in candidates if c.is_file()]
    if not existing:
        return project, [SourceProblem(
            "missing", src.path,
            f"{src.name}: the source audio is missing (expected at {src.path}). It was moved, renamed "
            f"or deleted; relink the project to the file's new location (it must have "
            f"{src.sample_rate} Hz, {src.channels} ch, {src.frames} samples)",
        )]
    first_changed: tuple[Path, str] | None = None
    for cand in existing:
        size = cand.stat().st_size
        if src.size_bytes >= 0 and size != src.size_bytes:
            first_changed = first_changed or (cand, f"its size is {size} bytes, expected {src.size_bytes}")
            continue
        if verify and src.sha256:
            digest = hash_file(cand)
            if digest != src.sha256:
                first_changed = first_changed or (
                    cand, f"content hash {digest[:12]}..., expected {src.sha256[:12]}..."
                )
                continue
        if str(cand) != src.path:
            project = dataclasses.replace(project, source=dataclasses.replace(src, path=str(cand)))
        return project, []
    assert first_changed is not None
    cand, why = first_changed
    return project, [SourceProblem(
        "changed", str(cand),
        f"{cand}: the source audio changed since the project was saved ({why}). The room-tone "
        "profile and settings may no longer fit it: relink to this file to accept the change "
        "(then check the profile), or relink to the original recording",
    )]


def relink(project: Project, new_path: str | os.PathLike) -> Project:
    """``project`` with its source pointed at ``new_path`` (re-hashed).

    Raises :class:`~dsp.errors.InputError` when the new file's sample rate, channel count or
    length differ from the old source's, since the settings, profile and analyses were made
    for that audio.
    """
    ref = SourceRef.from_path(new_path)
    old = project.source
    if old is not None:
        diffs = [
            f"{what} {new} (the project's source has {was})"
            for what, new, was in (
                ("sample rate", f"{ref.sample_rate} Hz", f"{old.sample_rate} Hz"),
                ("channels", ref.channels, old.channels),
                ("length", f"{ref.frames} samples", f"{old.frames} samples"),
            ) if new != was
        ]
        if diffs:
            raise InputError(
                f"{ref.path}: cannot relink: this is different audio: " + "; ".join(diffs)
                + ". Choose the file the project was made from, or open this file as a new project"
            )
    return dataclasses.replace(project, source=ref)

