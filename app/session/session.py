"""The Session: the current Project, its History, and the one way to change it.

``Session.apply(label, fn)`` is the only mutator: ``fn`` maps the current (immutable) Project to
a new one, the result is pushed onto the :class:`~app.session.history.History` under ``label``,
and every subscriber is called with ``(old, new)``. The convenience mutators below (stage
settings, bypass, chain structure, presets, room tone, selection) all go through it with
readable labels, so every edit is undoable and shows in the Edit menu as e.g. "Undo Change Gate
max reduction". Views bind to the session (napari's viewer model): they read the Project,
write through these methods, and redraw from the ``(old, new)`` notification.

Selection changes go through :meth:`Session.apply` too, but with ``undoable=False``: like
Audacity and RX, clicking around does not fill the undo list and does not make the project
"unsaved"; an undo restores the selection that went with that state.

Threads: the session lives on the GUI thread and :meth:`Session.apply` refuses other threads.
Long work (learning a profile over a long file, building a processor with whole-file analyses,
renders) is available as plain functions of a Project snapshot -- :func:`estimate_profile`,
:func:`build_processor`, :func:`render_project` -- for :class:`~app.session.jobs.JobRunner`
jobs; their results come back through :meth:`Session.apply` on the GUI thread.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from app.pipeline import clean_file, find_room_tone, prepare_processor
from app.presets import apply_overrides, load_preset
from app.session.history import History
from app.session.markers import Marker, describe, export_markers, next_name
from app.session.project import (
    PROJECT_SUFFIX,
    Project,
    Selection,
    SourceProblem,
    SourceRef,
    hash_file,
    load_project,
    profiles_equal,
    read_project_json,
    relink,
    resolve_source,
    save_project,
)
from dsp.chain import ChainSettings, StageSpec, coerce_setting, stage_kind
from dsp.edits import (
    Cut,
    Edit,
    EditPlan,
    ProcessSelection,
    RegionGain,
    RoomToneFill,
    SpectralRepair,
    needs_room_tone,
)
from dsp.errors import ParameterError
from dsp.io import AudioReader
from dsp.loudness import TARGET_CHOICES, TARGETS
from dsp.roomtone import NoiseProfile, RoomToneSettings, estimate_room_tone

Listener = Callable[[Project, Project], None]

#: Unit suffixes dropped from field names in undo labels ("max_reduction_db" -> "max reduction").
_UNIT_SUFFIXES = ("_db", "_ms", "_hz", "_s", "_pct", "_dbfs", "_samples")

#: Undo labels for chain-wide fields.
_CHAIN_FIELD_LABELS = {
    "mix": "Change dry/wet mix",
    "listen": "Change listen mode",
    "max_total_reduction_db": "Change max total reduction",
    "seed": "Change noise seed",
    "name": "Rename chain",
    "description": "Change chain description",
    "stft.n_fft": "Change FFT size",
    "stft.overlap": "Change FFT overlap",
    "speech.detector": "Change speech detector",
    "strength.adaptive": "Change adaptive strength",
}


# -- labels --------------------------------------------------------------------------------------
def field_label(name: str) -> str:
    """``"max_reduction_db"`` -> ``"max reduction"`` (undo labels, tooltips)."""
    for suffix in _UNIT_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    return name.replace("_", " ")


def kind_label(kind: str) -> str:
    """The stage kind's human label ("Gate"), or its name if it is not registered."""
    try:
        return stage_kind(kind).label
    except ParameterError:
        return kind


def stage_label(chain: ChainSettings, index: int) -> str:
    """Label of stage ``index``; numbered when the chain holds several of that kind ("MMSE 2")."""
    spec = chain.stages[index]
    label = kind_label(spec.kind)
    same = [i for i, s in enumerate(chain.stages) if s.kind == spec.kind]
    if len(same) > 1:
        label += f" {same.index(index) + 1}"
    return label


def _check_index(chain: ChainSettings, index: int, *, allow_end: bool = False) -> int:
    n = len(chain.stages)
    hi = n if allow_end else n - 1
    if not isinstance(index, int) or not 0 <= index <= hi:
        raise ParameterError(
            f"no stage at position {index}: the chain has {n} stage{'s' if n != 1 else ''} (0-{max(hi, 0)})"
        )
    return index


def _replace_stage(chain: ChainSettings, index: int, spec: StageSpec) -> ChainSettings:
    stages = list(chain.stages)
    stages[index] = spec
    return dataclasses.replace(chain, stages=tuple(stages))


# -- work on a Project snapshot (safe on job threads) -------------------------------------------
def _require_source(project: Project) -> SourceRef:
    if project.source is None:
        raise ParameterError("no source audio: open an audio file first")
    return project.source


def estimate_profile(
    project: Project, regions: Sequence[tuple[float, float]] | None = None
) -> NoiseProfile:
    """Learn the room tone of ``project``'s source from ``regions`` (seconds), or find it
    automatically (``regions=None``), at the chain's STFT size. Runs on any thread."""
    src = _require_source(project)
    with AudioReader(src.path) as reader:
        if regions is None:  # the same automatic search as `roomtone clean --auto-profile`
            return find_room_tone(reader, project.chain, source_name=src.name)
        return estimate_room_tone(
            reader, reader.sample_rate,
            regions=[(float(a), float(b)) for a, b in regions],
            settings=RoomToneSettings(stft=project.chain.stft), source_name=src.name,
        )


def _profile_copy(profile: NoiseProfile | None) -> NoiseProfile | None:
    """A shallow copy handed to code that may annotate it (the Project's own stays untouched)."""
    return None if profile is None else dataclasses.replace(profile)


def build_processor(project: Project, *, with_context: bool = False) -> Any:
    """A ready-to-prepare processor for ``project`` (the same build the CLI does:
    :func:`app.pipeline.prepare_processor`, so stage analyses such as hum or EQ match run
    exactly as in a CLI render). With ``with_context`` returns ``(processor, context)``, the
    :class:`~dsp.chain.BuildContext` holding what the analyses found (events, estimates).
    Reads the source (whole-file analyses): run it as a job for long files. Without a profile,
    an edit list that synthesises room tone finds one automatically (as :func:`render_project`)."""
    src = _require_source(project)
    with AudioReader(src.path) as reader:
        processor, context = prepare_processor(
            reader, project.chain, profile=_profile_copy(project.profile), source_name=src.name,
            auto_profile=needs_room_tone(project.edits),
        )
    return (processor, context) if with_context else processor


def render_project(
    project: Project,
    out_path: str | os.PathLike,
    fmt: str | None = None,
    *,
    loudness: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    record: bool = True,
) -> Any:
    """Render ``project``'s source through its chain into ``out_path`` (atomic). Same code
    path as ``roomtone clean`` (``app.pipeline.clean_file``), so an export is bit-identical to
    a CLI render of the same settings, profile and loudness target (``loudness``, default the
    project's own :attr:`Project.loudness`). ``progress(done, total)`` in samples;
    ``cancel()`` returning true stops it with :class:`~dsp.errors.Cancelled` (nothing written).
    The project's edit list is rendered too (:mod:`dsp.edits`). Returns the
    :class:`~dsp.render.RenderRecord`."""
    src = _require_source(project)
    loudness = project.loudness if loudness is None else loudness
    return clean_file(
        src.path, out_path, project.chain, profile=_profile_copy(project.profile), fmt=fmt,
        loudness=loudness, progress=progress, cancel=cancel, record=record, edits=project.edits,
    )


# -- the session ---------------------------------------------------------------------------------
class Session:
    """Current Project + History; :meth:`apply` is the only mutator."""

    def __init__(self, project: Project | None = None) -> None:
        project = Project() if project is None else project
        self.history = History(project)
        self.path: Path | None = None
        self._saved: Project | None = project
        self._listeners: list[Listener] = []
        self._thread = threading.get_ident()
        self._group: tuple[str, str] | None = None
        self._group_ids = itertools.count(1)

    # -- state --------------------------------------------------------------------------------
    @property
    def project(self) -> Project:
        return self.history.current

    @property
    def dirty(self) -> bool:
        """Whether there are changes not saved to :attr:`path` (selection changes do not count)."""
        saved, cur = self._saved, self.project
        if saved is None:
            return True
        if saved is cur:
            return False
        return not (
            saved.source == cur.source and saved.chain == cur.chain and saved.name == cur.name
            and saved.analyses == cur.analyses and saved.loudness == cur.loudness
            and profiles_equal(saved.profile, cur.profile) and saved.markers == cur.markers
            and saved.edits == cur.edits
        )

    @dirty.setter
    def dirty(self, value: bool) -> None:
        self._saved = None if value else self.project

    @property
    def title(self) -> str:
        """Window title: project or file name, with ``*`` when there are unsaved changes."""
        name = self.path.stem if self.path is not None else (
            self.project.source.name if self.project.source is not None else self.project.name
        )
        return f"{name}{' *' if self.dirty else ''}"

    # -- the mutator --------------------------------------------------------------------------
    def apply(
        self,
        label: str,
        fn: Callable[[Project], Project],
        *,
        coalesce_key: str | None = None,
        undoable: bool = True,
    ) -> Project:
        """Replace the Project with ``fn(project)`` as the undo step ``label``; notify listeners.

        Consecutive calls with the same non-None ``coalesce_key`` make one undo step (a slider
        drag). ``undoable=False`` changes the current state without a new step (selection).
        A result equal to the current Project changes nothing and notifies no one.
        """
        self._check_thread()
        old = self.project
        new = fn(old)
        if not isinstance(new, Project):
            raise TypeError(f"Session.apply({label!r}): the edit returned {type(new).__name__}, not a Project")
        if new is old or new == old:
            return old
        if not undoable:
            self.history.amend(new)
        elif self._group is not None:
            self.history.push(self._group[0], new, coalesce_key=self._group[1])
        else:
            self.history.push(label, new, coalesce_key=coalesce_key)
        self._notify(old, new)
        return new

    @contextmanager
    def group(self, label: str) -> Iterator[None]:
        """Make every :meth:`apply` inside the ``with`` block one undo step called ``label``
        (napari's ``block_history``). Nested groups join the outermost one."""
        if self._group is not None:
            yield
            return
        self.history.end_coalescing()
        self._group = (label, f"group:{next(self._group_ids)}")
        try:
            yield
        finally:
            self._group = None
            self.history.end_coalescing()

    def end_coalescing(self) -> None:
        """Close the current slider-drag step (call on slider release / editing finished)."""
        self.history.end_coalescing()

    def undo(self) -> bool:
        self._check_thread()
        old = self.project
        if self.history.undo() is None:
            return False
        self._notify(old, self.project)
        return True

    def redo(self) -> bool:
        self._check_thread()
        old = self.project
        if self.history.redo() is None:
            return False
        self._notify(old, self.project)
        return True

    def go_to_step(self, index: int) -> bool:
        """Undo or redo to the state after history step ``index`` (0: the initial state), as
        one change for the listeners; False when it is already current."""
        self._check_thread()
        old = self.project
        if self.history.go_to(index) is None:
            return False
        self._notify(old, self.project)
        return True

    @property
    def can_undo(self) -> bool:
        return self.history.can_undo

    @property
    def can_redo(self) -> bool:
        return self.history.can_redo

    def subscribe(self, callback: Listener) -> Callable[[], None]:
        """Call ``callback(old, new)`` after every change; returns a function that unsubscribes."""
        self._listeners.append(callback)

        def unsubscribe() -> None:
            if callback in self._listeners:
                self._listeners.remove(callback)

        return unsubscribe

    def _notify(self, old: Project, new: Project) -> None:
        first: BaseException | None = None
        for cb in list(self._listeners):
            try:
                cb(old, new)
            except Exception as exc:  # noqa: BLE001 - one broken view must not starve the others
                first = first or exc
        if first is not None:
            raise first

    def _check_thread(self) -> None:
        if threading.get_ident() != self._thread:
            raise RuntimeError(
                "the Session may only be changed on the thread that created it (the GUI thread); "
                "return the job's result and apply it there"
            )

    def _replace_all(self, project: Project, label: str, *, path: Path | None, saved: Project | None) -> None:
        self._check_thread()
        old = self.project
        self.history.reset(project, label)
        self.path = path
        self._saved = saved
        self._notify(old, project)

    # -- files --------------------------------------------------------------------------------
    def open_source(
        self, path: str | os.PathLike | SourceRef, *, keep_chain: bool = True, hash: bool = True
    ) -> None:
        """Start a new project on this audio file (history restarts at "Open <name>").

        The chain settings carry over (``keep_chain``), so a show's settings apply to its next
        episode; the profile, selection and analyses belong to the old file and are dropped.
        ``path`` may be a :class:`SourceRef` already made in a background job. ``hash=False``
        opens at once without hashing (a long file takes seconds): run
        :func:`~app.session.project.hash_file` as a job, then :meth:`set_source_hash`.
        """
        ref = path if isinstance(path, SourceRef) else SourceRef.from_path(path, hash=hash)
        chain = self.project.chain if keep_chain else Project().chain
        project = Project(source=ref, chain=chain, name=Path(ref.path).stem)
        self._replace_all(project, f"Open {ref.name}", path=None, saved=project)

    def save(self, path: str | os.PathLike | None = None) -> Path:
        """Save the project (to ``path``, or where it was last saved); returns the file's path."""
        if path is None:
            if self.path is None:
                raise ParameterError("the project has not been saved yet; choose a file name (Save As)")
            target = self.path
        else:
            target = Path(path).expanduser().absolute()
            if not target.suffix:
                target = target.with_suffix(PROJECT_SUFFIX)
        if self.project.source is not None and not self.project.source.sha256:
            self.set_source_hash(hash_file(self.project.source.path))
        project = self.project
        save_project(project, target)
        self.path = target
        self._saved = project
        return target

    def open_project(self, path: str | os.PathLike) -> list[SourceProblem]:
        """Open a project file; returns source problems (moved or changed audio) to show the
        user, who can then :meth:`relink`."""
        target = Path(path).expanduser().absolute()
        project, problems = load_project(target)
        self._replace_all(project, f"Open project {target.stem}", path=target, saved=project)
        return problems

    def recover(self, autosave_path: str | os.PathLike) -> list[SourceProblem]:
        """Open an autosave left by a crashed run (see :class:`~app.session.autosave.Autosave`).

        The project is marked unsaved and, if it had been saved before, keeps that file as its
        :attr:`path` so Ctrl+S writes it back there.
        """
        data = read_project_json(autosave_path)
        project = Project.from_dict(data, where=str(autosave_path))
        meta = data.get("autosave") or {}
        original = meta.get("project_path")
        base = Path(original).parent if original else None
        project, problems = resolve_source(project, data.get("source"), base=base)
        self._replace_all(project, "Recover autosaved work", path=Path(original) if original else None, saved=None)
        return problems

    def set_source_hash(self, sha256: str, path: str | os.PathLike | None = None) -> bool:
        """Fill in the content hash of a source opened with ``hash=False`` (not an edit).

        Applies to every state in the history whose source is ``path`` (default: the current
        source) without a hash; returns False if the project no longer has that source.
        """
        self._check_thread()
        src = self.project.source
        target = str(Path(path).absolute()) if path is not None else (src.path if src else None)
        if src is None or src.path != target:
            return False

        def fill(p: Project) -> Project:
            s = p.source
            if s is None or s.path != target or s.sha256:
                return p
            return dataclasses.replace(p, source=dataclasses.replace(s, sha256=sha256))

        old = self.project
        self.history.amend_all(fill)
        if self._saved is not None:
            self._saved = fill(self._saved)
        if self.project is not old:
            self._notify(old, self.project)
        return True

    def relink(self, new_path: str | os.PathLike) -> None:
        """Point the project at its source's new location (see :func:`~app.session.project.relink`)."""
        target = Path(new_path)
        self.apply(f"Relink source to {target.name}", lambda p: relink(p, target))

    # -- selection ----------------------------------------------------------------------------
    def set_selection(self, sel: Selection | None) -> None:
        """Select a time range / time-frequency rectangle (``None`` clears). Not an undo step."""
        label = "Clear selection" if sel is None else f"Select {sel.describe()}"
        self.apply(label, lambda p: dataclasses.replace(p, selection=sel), undoable=False)

    # -- chain --------------------------------------------------------------------------------
    def set_stage_setting(self, index: int, field: str, value: Any, *, coalesce: bool = True) -> None:
        """Change one field of stage ``index``'s settings ("Change Gate max reduction")."""
        chain = self.project.chain
        _check_index(chain, index)
        spec = chain.stages[index]
        names = [f.name for f in dataclasses.fields(spec.settings)]
        if field not in names:
            raise ParameterError(f"the {kind_label(spec.kind)} stage has no setting {field!r}; it has {names}")
        value = coerce_setting(value, getattr(spec.settings, field), f"{spec.kind}.{field}")
        settings = dataclasses.replace(spec.settings, **{field: value})  # validates
        label = f"Change {stage_label(chain, index)} {field_label(field)}"
        self.apply(
            label, lambda p: dataclasses.replace(p, chain=_replace_stage(p.chain, index, dataclasses.replace(spec, settings=settings))),
            coalesce_key=f"stage{index}.{field}" if coalesce else None,
        )

    def set_stage_bypass(self, index: int, bypass: bool) -> None:
        """Bypass or re-enable stage ``index`` ("Bypass MMSE" / "Enable MMSE")."""
        chain = self.project.chain
        _check_index(chain, index)
        spec = chain.stages[index]
        label = f"{'Bypass' if bypass else 'Enable'} {stage_label(chain, index)}"
        self.apply(label, lambda p: dataclasses.replace(
            p, chain=_replace_stage(p.chain, index, dataclasses.replace(spec, bypass=bool(bypass)))))

    def set_stage_mix(self, index: int, mix: float, *, coalesce: bool = True) -> None:
        """Set stage ``index``'s own dry/wet mix (0..1) ("Change Gate mix")."""
        chain = self.project.chain
        _check_index(chain, index)
        spec = dataclasses.replace(chain.stages[index], mix=float(mix))  # validates
        self.apply(
            f"Change {stage_label(chain, index)} mix",
            lambda p: dataclasses.replace(p, chain=_replace_stage(p.chain, index, spec)),
            coalesce_key=f"stage{index}.mix" if coalesce else None,
        )

    def add_stage(self, kind: str, index: int | None = None, *, settings: Any = None) -> None:
        """Insert a stage of ``kind`` with default settings at ``index`` (default: the end)."""
        k = stage_kind(kind)
        chain = self.project.chain
        index = len(chain.stages) if index is None else _check_index(chain, index, allow_end=True)
        spec = StageSpec(k.name, k.settings_cls() if settings is None else settings)
        stages = list(chain.stages)
        stages.insert(index, spec)
        self.apply(f"Add {k.label}", lambda p: dataclasses.replace(p, chain=dataclasses.replace(p.chain, stages=tuple(stages))))

    def remove_stage(self, index: int) -> None:
        chain = self.project.chain
        _check_index(chain, index)
        label = f"Remove {stage_label(chain, index)}"
        stages = chain.stages[:index] + chain.stages[index + 1 :]
        self.apply(label, lambda p: dataclasses.replace(p, chain=dataclasses.replace(p.chain, stages=stages)))

    def move_stage(self, index: int, new_index: int) -> None:
        """Move stage ``index`` to position ``new_index`` ("Move Gate up/down")."""
        chain = self.project.chain
        _check_index(chain, index)
        _check_index(chain, new_index)
        if index == new_index:
            return
        if abs(new_index - index) == 1:
            where = "up" if new_index < index else "down"
        else:
            where = f"to position {new_index + 1}"
        label = f"Move {stage_label(chain, index)} {where}"
        stages = list(chain.stages)
        stages.insert(new_index, stages.pop(index))
        self.apply(label, lambda p: dataclasses.replace(p, chain=dataclasses.replace(p.chain, stages=tuple(stages))))

    def set_chain_field(self, field: str, value: Any, *, coalesce: bool = True) -> None:
        """Set a chain-wide field: ``mix``, ``listen``, ``max_total_reduction_db``, ``seed``,
        ``name``, ``description``, ``stft.n_fft``, ``stft.overlap``, and the fields of the
        ``strength`` and ``speech`` groups (``speech.detector``, ``strength.adaptive``, ...), which
        are checked by the same rule as ``--set``."""
        chain = self.project.chain
        if field.startswith(("strength.", "speech.")):
            new_chain = apply_overrides(chain, [f"{field}={value}"])
        elif field.startswith("stft."):
            sub = field[5:]
            stft_names = [f.name for f in dataclasses.fields(chain.stft)]
            if sub not in stft_names:
                raise ParameterError(f"no STFT setting {sub!r}; known: {stft_names}")
            stft = dataclasses.replace(chain.stft, **{sub: coerce_setting(value, getattr(chain.stft, sub), field)})
            stft.resolve(self.project.source.sample_rate if self.project.source else 48000)  # validates
            new_chain = dataclasses.replace(chain, stft=stft)
        else:
            names = [f.name for f in dataclasses.fields(chain) if f.name not in ("stages", "stft")]
            if field not in names:
                raise ParameterError(f"no chain setting {field!r}; known: {names + ['stft.n_fft', 'stft.overlap']}")
            new_chain = dataclasses.replace(chain, **{field: coerce_setting(value, getattr(chain, field), field)})
        label = _CHAIN_FIELD_LABELS.get(field, f"Change {field_label(field)}")
        if field == "listen":
            label = f"Listen to {new_chain.listen}"
        numeric = isinstance(getattr(new_chain, field, None), (int, float)) and field not in ("seed",)
        self.apply(
            label, lambda p: dataclasses.replace(p, chain=new_chain),
            coalesce_key=f"chain.{field}" if coalesce and numeric else None,
        )

    def set_loudness(self, name: str) -> None:
        """Set the loudness target of exports ("Loudness target: Podcast, mono ..."; "off": none)."""
        if name not in TARGET_CHOICES:
            raise ParameterError(f"unknown loudness target {name!r}; choose one of {', '.join(TARGET_CHOICES)}")
        label = "Loudness target off" if name == "off" else f"Loudness target {name}"
        self.apply(label, lambda p: dataclasses.replace(p, loudness=name))

    # -- markers and regions (app.session.markers) --------------------------------------------
    def add_marker(self, start_s: float, end_s: float | None = None, name: str | None = None) -> int:
        """Add a marker at ``start_s`` (a region up to ``end_s``), clamped to the source; named
        "Marker N" / "Region N" unless ``name`` is given. One undo step; returns its index."""
        dur = _require_source(self.project).duration_s
        start = min(max(0.0, float(start_s)), dur)
        end = None if end_s is None else min(max(0.0, float(end_s)), dur)
        if end is not None and end <= start:
            raise ParameterError("a region needs a time selection longer than zero; select a span first")
        marker = Marker(start, next_name(self.project.markers, end is not None) if name is None else name, end)
        self.apply(f"Add {marker.kind()} {describe(marker)}",
                   lambda p: dataclasses.replace(p, markers=(*p.markers, marker)))
        return self.project.markers.index(marker)

    def _marker(self, index: int) -> Marker:
        markers = self.project.markers
        if not 0 <= index < len(markers):
            raise ParameterError(f"there is no marker {index + 1} (the project has {len(markers)})")
        return markers[index]

    def _replace_marker(self, index: int, new: Marker | None, label: str) -> None:
        def edit(p: Project) -> Project:
            rest = p.markers[:index] + p.markers[index + 1:]
            return dataclasses.replace(p, markers=rest if new is None else (*rest, new))

        self.apply(label, edit)

    def rename_marker(self, index: int, name: str) -> None:
        """Rename marker ``index`` ("Rename marker 'Marker 1' to 'Intro'"); one undo step."""
        old = self._marker(index)
        if name != old.name:
            self._replace_marker(index, dataclasses.replace(old, name=name),
                                 f"Rename {old.kind()} '{old.name}' to '{name}'")

    def move_marker(self, index: int, start_s: float, end_s: float | None = None) -> None:
        """Move marker ``index`` to ``start_s`` (a region keeps its length unless ``end_s``)."""
        old = self._marker(index)
        end = end_s if end_s is not None or not old.is_region else start_s + old.duration_s
        new = dataclasses.replace(old, start_s=float(start_s), end_s=end)
        self._replace_marker(index, new, f"Move {old.kind()} '{old.name}' to {new.start_s:.2f} s")

    def remove_marker(self, index: int) -> None:
        """Remove marker ``index`` ("Remove marker 'Intro' at 1.50 s"); one undo step."""
        old = self._marker(index)
        self._replace_marker(index, None, f"Remove {old.kind()} {describe(old)}")

    def export_markers(self, path: str | os.PathLike) -> Path:
        """Write the markers as CSV (.csv) or an Audacity label file (.txt), atomically."""
        return export_markers(self.project.markers, path)

    def set_chain(self, chain: ChainSettings, label: str = "Change chain") -> None:
        """Replace the whole chain settings (e.g. from ``--set`` style overrides)."""
        self.apply(label, lambda p: dataclasses.replace(p, chain=chain))

    def load_preset(self, name: str) -> None:
        """Replace the chain with a factory or user preset ("Load preset podcast")."""
        chain = load_preset(name)
        self.apply(f"Load preset {chain.name or name}", lambda p: dataclasses.replace(p, chain=chain))

    # -- room tone ----------------------------------------------------------------------------
    def learn_profile(self, start_s: float, end_s: float) -> None:
        """Learn the room tone from ``start_s``-``end_s`` of the source ("Learn room tone 1.50-3.00 s").

        Runs here; for long regions use :func:`estimate_profile` in a job, then
        :meth:`set_profile` with :func:`learn_label`.
        """
        sel = self._region(start_s, end_s)
        profile = estimate_profile(self.project, [(sel.start_s, sel.end_s)])
        self.set_profile(profile, label=learn_label(sel.start_s, sel.end_s))

    def find_profile_automatically(self) -> None:
        """Find the room tone automatically (:func:`app.pipeline.find_room_tone`, as ``clean`` does)."""
        profile = estimate_profile(self.project, None)
        self.set_profile(profile, label=FIND_LABEL)

    def set_profile(self, profile: NoiseProfile | None, label: str | None = None) -> None:
        """Use ``profile`` as the room tone (``None`` clears it)."""
        if label is None:
            label = "Clear room tone" if profile is None else "Set room tone"
        src = self.project.source
        if profile is not None and src is not None and profile.sample_rate != src.sample_rate:
            raise ParameterError(
                f"this room-tone profile was learned at {profile.sample_rate} Hz but the source is "
                f"{src.sample_rate} Hz; learn a profile from this recording instead"
            )
        self.apply(label, lambda p: dataclasses.replace(p, profile=profile))

    def load_profile_file(self, path: str | os.PathLike) -> None:
        """Load a room-tone profile saved as JSON ("Load room tone studio-a")."""
        profile = NoiseProfile.load(path)
        self.set_profile(profile, label=f"Load room tone {Path(path).stem}")

    def save_profile_file(self, path: str | os.PathLike) -> None:
        """Save the current room-tone profile as JSON (not an edit)."""
        if self.project.profile is None:
            raise ParameterError("there is no room-tone profile to save; learn one first")
        self.project.profile.save(path)

    def _region(self, start_s: float, end_s: float) -> Selection:
        src = _require_source(self.project)
        sel = Selection.between(start_s, end_s)
        if sel.duration_s <= 0:
            raise ParameterError(f"the region {sel.describe()} is empty; select some room tone first")
        if sel.end_s > src.duration_s + 1e-6:
            raise ParameterError(
                f"the region {sel.describe()} ends after the source ({src.duration_s:.2f} s); select inside the file"
            )
        return sel

    # -- the edit list ------------------------------------------------------------------------
    def add_edit(self, edit: Edit) -> None:
        """Append ``edit`` to the edit list (one undo step labelled with what it does).

        Raises :class:`~dsp.errors.ParameterError` for an edit outside the source or a cut that
        overlaps another (the message says what to do)."""
        src = _require_source(self.project)
        edits = (*self.project.edits, edit)
        EditPlan(edits, sample_rate=src.sample_rate, frames=src.frames, channels=src.channels,
                 profile=self.project.profile, require_profile=False)
        self.apply(edit.describe(), lambda p: dataclasses.replace(p, edits=edits))

    def remove_edit(self, index: int) -> None:
        """Remove edit ``index`` of the list (one undo step)."""
        edits = self.project.edits
        if not isinstance(index, int) or not 0 <= index < len(edits):
            raise ParameterError(f"no edit at position {index}: the list has {len(edits)}")
        rest = edits[:index] + edits[index + 1 :]
        self.apply(f"Remove edit: {edits[index].describe()}", lambda p: dataclasses.replace(p, edits=rest))

    def clear_edits(self) -> None:
        """Remove every edit (one undo step; nothing happens without edits)."""
        if self.project.edits:
            self.apply("Remove all edits", lambda p: dataclasses.replace(p, edits=()))

    def _selected(self, *, rectangle: bool = False) -> Selection:
        sel = self.project.selection
        if sel is None or sel.duration_s <= 0:
            raise ParameterError("select a stretch of time first (drag on the waveform)")
        if rectangle and not sel.is_rectangle:
            raise ParameterError("spectral repair needs a time-frequency rectangle: drag on the spectrogram")
        return sel

    def process_selection(self, stage: int | None = None) -> None:
        """The selection processed by the chain (or by stage ``stage`` alone)."""
        sel, chain = self._selected(), dataclasses.replace(self.project.chain, listen="processed")
        what = "the chain"
        if stage is not None:
            _check_index(chain, stage)
            what = stage_label(chain, stage)
            chain = dataclasses.replace(chain, stages=(dataclasses.replace(chain.stages[stage], bypass=False),))
        self.add_edit(ProcessSelection(sel.start_s, sel.end_s, chain=chain, what=what))

    def replace_with_room_tone(self) -> None:
        sel = self._selected()
        self.add_edit(RoomToneFill(sel.start_s, sel.end_s))

    def cut_selection(self, *, keep_room_tone: bool = False) -> None:
        sel = self._selected()
        self.add_edit(Cut(sel.start_s, sel.end_s, keep_room_tone=keep_room_tone))

    def gain_selection(self, gain_db: float) -> None:
        sel = self._selected()
        self.add_edit(RegionGain(sel.start_s, sel.end_s, gain_db=float(gain_db)))

    def spectral_repair(self, mode: str = "attenuate", *, attenuation_db: float = 30.0) -> None:
        """Attenuate or replace the selected time-frequency rectangle."""
        sel = self._selected(rectangle=True)
        assert sel.low_hz is not None and sel.high_hz is not None
        self.add_edit(SpectralRepair(sel.start_s, sel.end_s, low_hz=sel.low_hz, high_hz=sel.high_hz, mode=mode,
                                     attenuation_db=attenuation_db))

    # -- analyses -----------------------------------------------------------------------------
    def set_analysis(self, key: str, value: Any, label: str) -> None:
        """Store a JSON-able analysis result (e.g. a hole summary) as an undo step."""
        self.apply(label, lambda p: p.with_analysis(key, value))

    # -- rendering ----------------------------------------------------------------------------
    def build_processor(self) -> Any:
        """A processor for the current project (see :func:`build_processor`)."""
        return build_processor(self.project)

    def render_to(
        self,
        out_path: str | os.PathLike,
        fmt: str | None = None,
        *,
        progress: Callable[[int, int], None] | None = None,
        cancel: Callable[[], bool] | None = None,
    ) -> Any:
        """Export the current project (see :func:`render_project`, with the project's loudness
        target); returns the RenderRecord."""
        return render_project(self.project, out_path, fmt, progress=progress, cancel=cancel)


FIND_LABEL = "Find room tone automatically"


def loudness_menu() -> tuple[str, ...]:
    """The loudness target names in the order the workstation offers them: off first."""
    return ("off", *(n for n in TARGET_CHOICES if n != "off"))


def loudness_label(name: str) -> str:
    """A loudness target's human name: ``"podcast-mono"`` -> ``"Podcast, mono: -19 LUFS, -1 dBTP (Apple Podcasts)"``."""
    if name == "off":
        return "Off: no loudness normalisation"
    if name == "podcast":
        return "Podcast: -16 LUFS stereo, -19 LUFS mono, -1 dBTP"
    return TARGETS[name][2] if name in TARGETS else name


def learn_label(start_s: float, end_s: float) -> str:
    """``"Learn room tone 1.50-3.00 s"``."""
    return f"Learn room tone {start_s:.2f}-{end_s:.2f} s"


__all__ = [
    "FIND_LABEL", "Session", "build_processor", "estimate_profile", "field_label", "kind_label",
    "learn_label", "loudness_label", "loudness_menu", "render_project", "stage_label",
]
