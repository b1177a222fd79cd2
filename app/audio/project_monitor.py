"""How a project reaches the ears: the monitoring engine bound to the window's project.

The window reaches the monitoring engine (``app.audio``) only through a small duck-typed
surface, polled from its timer (STYLE.md 9), never pushed into Qt:

* playback: ``position_s``, ``playing``, ``state`` (``"off"``, ``"stopped"``, ``"playing"``,
  ``"preparing"``), ``play(start_s)``, ``stop()``, ``seek(s)``, ``set_loop(start_s, end_s|None)``;
* what is heard: ``listen``, ``set_listen(mode)``, ``solo``, ``set_solo(stage index|None)``,
  ``set_project(project)`` (the file and chain), ``poll()`` (timer housekeeping);
* meters and health: ``meters()`` (an :class:`app.audio.MeterReading` or None),
  ``clear_clip()``, ``underruns``, ``error`` / ``clear_error()``;
* the device: ``output`` (an :class:`app.audio.OutputSettings`), ``configure(output)``,
  ``open()``, ``output_latency_s``, ``device_label``; ``shutdown()``.

:class:`MonitorAdapter` gives ``app.audio.Monitor`` that surface. :class:`NullMonitor` stands in
when there is no monitoring engine; it keeps a cursor position, so the window behaves the
same with or without a sound card. Nothing here imports Qt: the transport panel
(``app.qt.transport_panel``) only binds its buttons to this surface.

Chains for the monitor are built from a cached *build context* (the whole-file analyses:
room tone, hum, EQ curve). The analyses run on a worker thread whenever something they depend
on changes (the file, the profile, an analysed stage's settings); every other edit (a slider
on a gate, the mix, bypass, order) builds the chain from the cached context at once, so the
change is heard within the monitor's switch time. The context equals what
:func:`app.session.build_processor` gathers, so what you hear is what Apply and Export render.
"""

from __future__ import annotations

import dataclasses
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from app.audio.monitor import Monitor
from app.audio.solo import without_stage
from app.pipeline import analyse_edits, edit_setup, prepare_processor
from dsp.chain import build_chain, chain_needs_profile, stage_kind
from dsp.edits import Cut, EditedSource, EditPlan, EditRenderer, ProcessSelection, needs_room_tone
from dsp.engine import Identity
from dsp.errors import ParameterError, RoomtoneError
from dsp.io import AudioReader

log = logging.getLogger(__name__)


class NullMonitor:
    """A monitor that plays nothing: keeps ``position_s`` where it was put."""

    available = False
    error: str | None = None
    underruns = 0
    output_latency_s = 0.0
    device_label = ""

    def __init__(self) -> None:
        self.position_s = 0.0
        self.playing = False
        self.loop: tuple[float, float] | None = None
        self.listen = "processed"
        self.solo: int | None = None
        self.output = None

    @property
    def state(self) -> str:
        return "off"

    def play(self, start_s: float | None = None) -> None:
        if start_s is not None:
            self.position_s = float(start_s)

    def stop(self) -> None:
        self.playing = False

    def seek(self, position_s: float) -> None:
        self.position_s = float(position_s)

    def set_loop(self, start_s: float | None, end_s: float | None = None) -> None:
        self.loop = None if start_s is None or end_s is None else (start_s, end_s)

    def set_listen(self, mode: str) -> None:
        self.listen = str(mode)

    def set_solo(self, index: int | None) -> None:
        self.solo = index

    def meters(self):
        return None

    def clear_clip(self) -> None:
        pass

    def clear_error(self) -> None:
        pass

    def configure(self, output) -> None:
        self.output = output

    def open(self) -> None:
        pass


def _analysis_key(project) -> tuple:
    """What the whole-file analyses of ``project`` depend on (equal keys: same build context)."""
    chain = project.chain
    analysed = []
    whole_chain = None
    for s in chain.stages:
        if s.bypass:
            continue
        try:
            kind = stage_kind(s.kind)
        except Exception:  # noqa: BLE001 - an unknown stage fails in the build, reported there
            analysed.append((s.kind, s.settings))
            continue
        if kind.analyse is not None:
            analysed.append((s.kind, s.settings))
            if s.kind == "eqmatch":
                whole_chain = chain  # its analysis reads the whole chain's settings
    src = project.source
    # the chain-level analyses: the SNR-based strength and the speech detector's track
    chain_level = (chain.strength, chain.speech.detector)
    # the edits' own analyses: each process selection's chain, and room tone wanted by the edits
    edits = tuple((i, e.chain) for i, e in enumerate(project.edits) if isinstance(e, ProcessSelection))
    return (src.path, src.sha256, id(project.profile), chain.stft, chain.seed,
            chain_needs_profile(chain) or needs_room_tone(project.edits) if project.profile is None else True,
            tuple(analysed), whole_chain, chain_level, edits)


def _prepare_context(project):
    """The build context of ``project`` (the same analyses as :func:`app.session.build_processor`,
    and a render with edits: :func:`app.pipeline.clean_file`), with the process selections' own."""
    src = project.source
    profile = None if project.profile is None else dataclasses.replace(project.profile)
    with AudioReader(src.path) as reader:
        _proc, context = prepare_processor(reader, project.chain, profile=profile, source_name=src.name,
                                           auto_profile=needs_room_tone(project.edits))
        return context, analyse_edits(reader, project.edits, context)


def original_through_cuts(reader, plan: EditPlan, block_size: int) -> EditRenderer:
    """The source as Hear › Original plays it with edits: in the edited render's output time (the
    same cuts, joined by plain crossfades), nothing else edited or processed."""
    cuts = tuple(Cut(e.start_s, e.end_s, handle_s=e.handle_s) for e in plan.edits if isinstance(e, Cut))
    cut_plan = EditPlan(cuts, sample_rate=plan.sample_rate, frames=plan.frames, channels=plan.channels)
    return EditRenderer(reader, Identity(), cut_plan, side_processor=Identity(), block_size=block_size)


class MonitorAdapter:
    """Binds an ``app.audio.Monitor`` to the window's project (source and chain).

    What is heard (:meth:`set_listen`, the transport's Hear) is the monitor's own: the
    project's stored ``listen`` setting is for renders and never switches the headphones.

    The window calls :meth:`set_project` on every project change and :meth:`poll` from its
    timer; playback control is passed through. Device problems raise
    :class:`~dsp.errors.DeviceError` from :meth:`play` and :meth:`configure`; problems found
    in the background (a device that vanished, a chain that cannot be built) appear in
    :attr:`error`.
    """

    available = True

    def __init__(self, monitor) -> None:
        self.monitor = monitor
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="roomtone-monitor-prep")
        self._project = None
        self._context = None
        self._context_key: tuple | None = None
        self._context_profile = None  # keeps the keyed profile alive (its id is in the key)
        self._pending: tuple[tuple, Future, Any] | None = None
        self._applied_source: tuple | None = None
        self._applied_chain: tuple | None = None
        self._readers: list = []
        self._want_listen = "processed"
        self._solo: int | None = None
        self._play_when_ready: float | None = None
        self._cursor = 0.0
        self._error: str | None = None
        self._edit_contexts: dict = {}
        #: The edit plan being monitored (None without edits): the monitor then plays the edited
        #: render in output time, and positions are converted from and to source time here.
        self._plan = None

    # -- polled ----------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        """The monitor has the current file and chain (no analysis pending)."""
        return self._pending is None and self._applied_source is not None

    @property
    def position_s(self) -> float:
        if self._play_when_ready is not None:
            return self._play_when_ready
        if self._applied_source is None:
            return self._cursor
        return self._to_source(float(self.monitor.position_s))

    @property
    def playing(self) -> bool:
        return self._play_when_ready is not None or bool(self.monitor.is_playing)

    @property
    def state(self) -> str:
        if self._play_when_ready is not None:
            return "preparing"
        return str(getattr(self.monitor.state, "value", self.monitor.state))

    @property
    def listen(self) -> str:
        """The listen mode asked for (the monitor switches to it within a few milliseconds)."""
        if self._want_listen == "solo" and self._solo is None:
            return "processed"
        return self._want_listen

    @property
    def solo(self) -> int | None:
        return self._solo

    @property
    def error(self) -> str | None:
        return self._error or self.monitor.error

    def clear_error(self) -> None:
        self._error = None
        self.monitor.error = None

    def rescan_devices(self) -> None:
        """Look for output devices again (raises DeviceError); see ``Monitor.rescan_devices``."""
        self.monitor.rescan_devices()

    @property
    def underruns(self) -> int:
        return int(self.monitor.underruns)

    @property
    def output(self):
        return self.monitor.output

    @property
    def output_latency_s(self) -> float:
        return float(self.monitor.output_latency_s)

    @property
    def device_label(self) -> str:
        d = self.monitor.device
        return d.label if d is not None else ""

    def meters(self):
        return self.monitor.meters()

    def clear_clip(self) -> None:
        self.monitor.clear_clip()

    def stats(self):
        return self.monitor.stats()

    # -- project -----------------------------------------------------------------------------
    def set_project(self, project) -> None:
        old = self._project
        self._project = project
        if old is None or old.source != project.source:
            self._cursor = 0.0  # a new file starts at its beginning
            self._play_when_ready = None
        if project.source is None:
            return
        self._sync()

    def _sync(self) -> None:
        """Apply the current project, or start the analyses it needs first."""
        project = self._project
        if project is None or project.source is None:
            return

        if not Path(project.source.path).exists():
            return  # the window asks for a relink; nothing to monitor until then
        try:
            key = _analysis_key(project)
        except Exception as exc:  # noqa: BLE001 - shown, monitoring of this chain is off
            self._error = f"cannot monitor this chain: {exc}"
            return
        if key == self._context_key:
            self._apply()
            return
        if self._pending is not None and self._pending[0] == key:
            return
        fut = self._pool.submit(_prepare_context, project)
        self._pending = (key, fut, project.profile)

    def poll(self) -> None:
        """Timer housekeeping: take finished analyses, start a play that waited for them."""
        pending = self._pending
        if pending is None or not pending[1].done():
            return
        self._pending = None
        key, fut, profile = pending
        try:
            context, self._edit_contexts = fut.result()
        except Exception as exc:  # noqa: BLE001 - RoomtoneError or a bug: shown in the window
            self._error = f"cannot prepare monitoring: {exc}"
            self._play_when_ready = None
            return
        self._context, self._context_key, self._context_profile = context, key, profile
        self._sync()

    def _factories(self, project):
        context = self._context
        chain = project.chain

        def factory(chain=chain, context=context):
            return build_chain(chain, context)

        ref = None
        if self._solo is not None and 0 <= self._solo < len(chain.stages):
            ref_chain = without_stage(chain, self._solo)

            def ref(chain=ref_chain, context=context):
                return build_chain(chain, context)

        return factory, ref

    def _apply(self) -> None:
        project = self._project
        src = project.source
        solo = self._solo if self._solo is not None and 0 <= self._solo < len(project.chain.stages) else None
        chain_key = (dataclasses.replace(project.chain, listen="processed", name=""), self._context_key, solo)
        try:
            factory, ref = self._factories(project)
            source_key = (src.path, src.sha256) if not project.edits else (src.path, src.sha256, chain_key, project.edits)
            if source_key != self._applied_source:
                self._set_source(project, factory, ref)
                self._applied_source = source_key
            elif chain_key != self._applied_chain:
                self.monitor.set_chain(factory, solo_reference=ref)
            self._applied_chain = chain_key
            self._apply_listen(ref is not None and not project.edits)  # no solo of an edited render (yet)
        except RoomtoneError as exc:
            self._error = str(exc)
            self._play_when_ready = None
            return
        if self._play_when_ready is not None:
            start, self._play_when_ready = self._play_when_ready, None
            try:
                self.monitor.play(self._to_output(start))
            except RoomtoneError as exc:
                self._error = str(exc)

    def _set_source(self, project, factory, ref) -> None:
        """Give the monitor the file (or, with edits, the edited render in output time), keeping
        the playhead and, when the edit list or chain changed while playing, playing on."""
        was_playing = self._applied_source is not None and bool(self.monitor.is_playing)
        if was_playing:
            self._cursor = self.position_s
        readers = [AudioReader(project.source.path)]
        self._plan = None
        if project.edits:
            chain = dataclasses.replace(project.chain, listen="processed")  # the monitor mixes Hear itself
            setup = edit_setup(readers[0], chain, project.edits, self._context, contexts=self._edit_contexts)
            assert setup is not None
            block = self.monitor.output.render_block
            edited = EditedSource(setup.renderer(readers[0], build_chain(chain, self._context), block_size=block))
            readers.append(AudioReader(project.source.path))
            self.monitor.set_source(edited, Identity, original=EditedSource(original_through_cuts(readers[1], setup.plan, block)))
            self._plan = setup.plan
        else:
            self.monitor.set_source(readers[0], factory, solo_reference=ref)
        old, self._readers = self._readers, readers
        for r in old:
            r.close()
        if was_playing:
            self.monitor.play(self._to_output(self._cursor))
        elif self._cursor:
            self.monitor.seek(self._to_output(self._cursor))

    def _to_output(self, t: float | None) -> float | None:
        """Source seconds -> what the monitor plays (output seconds of the edited render)."""
        return t if t is None or self._plan is None else self._plan.source_to_output_s(t)

    def _to_source(self, t: float) -> float:
        return t if self._plan is None else self._plan.output_to_source_s(t)

    def _apply_listen(self, have_ref: bool) -> None:
        want = self._want_listen
        if want == "solo" and not have_ref:
            want = "processed"
        if want == str(getattr(self.monitor.listen, "value", self.monitor.listen)):
            return
        if want == "solo":
            self.monitor.sync()  # the solo reference must be in place before listening to it
        self.monitor.set_listen(want)

    # -- listen ------------------------------------------------------------------------------
    def set_listen(self, mode: str) -> None:
        """Processed / original / removed / solo (the stage given to :meth:`set_solo`)."""
        mode = str(getattr(mode, "value", mode))
        if mode == "solo" and self._solo is None:
            raise ParameterError("solo needs a pass to solo: select one in the Chain panel first")
        self._want_listen = mode
        if self.ready:
            self._apply()

    def set_solo(self, index: int | None) -> None:
        """The stage (chain index) :meth:`set_listen` ``("solo")`` plays; None: no stage."""
        if index == self._solo:
            return
        self._solo = index
        if index is None and self._want_listen == "solo":
            self._want_listen = "processed"
        if self.ready:
            self._apply()

    # -- transport ---------------------------------------------------------------------------
    def play(self, start_s: float | None = None) -> None:
        if self._project is None or self._project.source is None:
            raise ParameterError("nothing to play: open an audio file first (Ctrl+O)")
        self._error = None
        if not self.ready:  # the analyses are still running: start when they are done
            self._play_when_ready = self._cursor if start_s is None else float(start_s)
            if self._pending is None:
                self._sync()
            return
        self.monitor.play(self._to_output(start_s))

    def stop(self) -> None:
        if self._play_when_ready is not None:
            self._cursor = self._play_when_ready
            self._play_when_ready = None
        self.monitor.stop()

    def seek(self, position_s: float) -> None:
        self._cursor = float(position_s)
        if self._play_when_ready is not None:
            self._play_when_ready = self._cursor
        self.monitor.seek(self._to_output(position_s))
        if not self.monitor.is_playing:
            self.monitor.sync()  # position_s reads the new cursor at once (a Play right after starts there)

    def set_loop(self, start_s: float | None, end_s: float | None = None) -> None:
        self.monitor.set_loop(self._to_output(start_s), self._to_output(end_s))

    # -- device ------------------------------------------------------------------------------
    def configure(self, output) -> None:
        self.monitor.configure(output)

    def open(self) -> None:
        self.monitor.open()

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.monitor.shutdown()
        for r in self._readers:
            r.close()
        self._readers = []


def make_monitor():
    """The real monitor (wrapped), else (no audio back end here) a :class:`NullMonitor`."""
    try:
        return MonitorAdapter(Monitor())
    except Exception:  # noqa: BLE001 - no audio back end here
        log.exception("monitoring engine failed to start")
        return NullMonitor()


__all__ = ["MonitorAdapter", "NullMonitor", "make_monitor"]
