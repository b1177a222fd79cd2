"""The work one batch worker does on one file: :func:`process_job` (module level, picklable).

Both executors run exactly this function: the local process pool and a Dask cluster (whose
workers read the inputs and write the outputs on shared storage). It never imports Qt.

Steps for one file (memory stays bounded by a block, whatever the file's length; the chain is
rendered once):

1. *Measure the source*: loudness, LRA, true peak, noise floor, clipping and a decimated
   spectrogram in one block-wise pass, which also measures the frame levels the room-tone
   screen needs (:class:`dsp.strength.FramePowers`) and feeds the voice activity model on its
   own threads (:class:`dsp.render.PipeSource`): the source is decoded once for all of them.
2. *Room tone*: the profile given with ``--profile``, or found automatically exactly as
   :func:`app.pipeline.prepare_processor` does (same call, same settings, the same frame levels).
3. *Chain render, once*: :func:`app.pipeline.prepare_processor`'s chain (so the batch's chain
   output is ``roomtone clean``'s) renders into a temporary FLAC at the output's bit depth in
   ``OUT_DIR/.roomtone-batch/tmp/`` (never larger than the output), scaled towards its final
   level so the loudness gain does not lift its quantisation, and metered on the way (its
   integrated loudness gives the gain). Without a loudness target it renders straight into the
   output.
4. *Holes*: holes left in the chain output, found on a second thread beside the render from the
   pieces of the source it reads and of the chain output it makes (:class:`_LiveHoles`: neither
   file is decoded again); on one core, or with the hole audit (the same chain with refill
   bypassed is rendered too, to count the holes the passes made), from the files while step 5
   runs.
5. *Loudness*: one streaming pass of the loudness stages (:class:`dsp.loudness.LoudnessGain` and
   :class:`dsp.truepeak.TruePeakLimiterProcessor`, through :func:`dsp.render.render_blocks`)
   from the temporary file into the output, written atomically: the export's own
   :func:`app.pipeline.normalise_loudness`. The blocks are quantised as the output format
   stores them and metered so (loudness, true peak, spectrogram): the figures are those of the
   file as written. Only if the limiter took the loudness more than :data:`GAIN_TOLERANCE_LU`
   from the target is the pass redone with a corrected gain.
6. *Report*: before/after spectrogram PNGs, the loudness-over-time picture with the speaker-level
   spread (from the 100 ms sub-blocks the meters of steps 1 and 5 kept: no extra pass) and a
   per-file JSON report; the output's SHA-256.

A :class:`~dsp.errors.RoomtoneError` (a corrupt or empty file, ...) becomes a ``failed``
result with its message; any other exception too, with the traceback in the result. Nothing
is ever written over an input.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import os
import shutil
import signal
import socket
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.batch.loudness import ProgramMeter, resolve_target
from app.batch.report import SpectrogramAccumulator, speaker_levels, write_file_report
from app.pipeline import (
    adjust_settings,
    analyses_summary,
    chain_needs_profile,
    intermediate_format,
    needs_speech_track,
    normalise_loudness,
    pre_gain_for,
    prepare_processor,
    profile_summary,
    release,
    render_chain_measured,
    resolve_profile,
    speech_track,
)
from app.remedies import explain
from dsp import __version__
from dsp.chain import ChainSettings
from dsp.errors import Cancelled, OutputError, RoomtoneError
from dsp.holes import detect_holes
from dsp.io import AudioReader, write_text_atomic
from dsp.jit import configure_cache
from dsp.render import DEFAULT_BLOCK, PipeSource, ReadAhead, ensure_prepared, software_versions
from dsp.roomtone import NoiseProfile
from dsp.strength import FramePowers
from models.auto_profile import LEVEL_FRAME_S, levels_from_powers
from models.vad import READ_BLOCK_S as VAD_READ_S

#: Samples per block of the loudness passes.
BLOCK = 262144
#: The output is written again with a corrected gain only when the limiter took the written
#: file's loudness further than this from the target, LU (delivery specs allow 0.5 to 1 LU).
GAIN_TOLERANCE_LU = 0.2
MAX_GAIN_ITERATIONS = 4
#: Biggest gain the loudness step may apply, dB (a near-silent file is not blown up by 60 dB).
MAX_GAIN_DB = 30.0

#: Share of a file's work in each step (for per-file progress and the ETA).
PHASES = {"measure": 0.08, "render": 0.45, "audit": 0.25, "loudness": 0.17, "report": 0.05}

_progress_sink: Callable[[dict], None] | None = None
_stop_event: Any = None


def set_progress_sink(sink: Callable[[dict], None] | None) -> None:
    """Where :func:`process_job` sends progress messages in this process (pool initializer)."""
    global _progress_sink
    _progress_sink = sink


def set_stop_event(event: Any) -> None:
    """An event (``is_set()``) that, once set, makes :func:`process_job` stop at its next block."""
    global _stop_event
    _stop_event = event


def check_stop() -> None:
    """Raise :class:`~dsp.errors.Cancelled` if the batch asked its workers to stop."""
    if _stop_event is not None and _stop_event.is_set():
        raise Cancelled("batch cancelled")


def _stop_requested() -> bool:
    return _stop_event is not None and _stop_event.is_set()


def init_pool_worker(queue: Any, threads: int, stop_event: Any = None) -> None:
    """``ProcessPoolExecutor`` initializer: progress goes to ``queue``; numeric libraries use ``threads``.

    Workers ignore SIGINT: Ctrl+C in a terminal reaches the whole process group, and only the
    batch's main process decides what stops (it sets ``stop_event``, which the workers poll
    between blocks, and waits for them), so no worker dies half-way through a ledger update.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS", "ROOMTONE_STFT_THREADS"):
        os.environ[var] = str(max(1, int(threads)))

    configure_cache()
    if queue is not None:
        set_progress_sink(queue.put_nowait)
    set_stop_event(stop_event)


@dataclass(frozen=True)
class BatchOptions:
    """What a batch does to every file (picklable; the settings hash is taken over it).

    Attributes
    ----------
    chain : dict
        :meth:`dsp.chain.ChainSettings.to_dict` of the chain.
    preset : str
        The preset's name (for the report).
    profile_path : str or None
        A saved room-tone profile for every file; None finds each file's room tone.
    auto_profile : bool
        Find room tone even when no stage needs it.
    loudness : str
        A name of :data:`app.batch.loudness.TARGET_CHOICES`.
    fmt : str or None
        Output format (:data:`dsp.io.WRITE_FORMATS`); None keeps each source's own.
    hole_audit : bool
        Also render without refill to report the holes the passes made.
    ceiling_dbtp : float
        True-peak ceiling of the limiter.
    """

    chain: dict
    preset: str = "podcast"
    profile_path: str | None = None
    auto_profile: bool = False
    loudness: str = "podcast"
    fmt: str | None = None
    hole_audit: bool = True
    ceiling_dbtp: float = -1.0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def settings_hash(self, profile_hash: str | None = None) -> str:
        """SHA-256 over everything that decides an output (options, profile, software version)."""
        blob = json.dumps({"options": self.to_dict(), "profile": profile_hash, "roomtone": __version__,
                           "worker": WORKER_VERSION}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()


#: Bump when the worker's output for the same options changes.
WORKER_VERSION = 3


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            b = fh.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


class _Progress:
    """Per-file progress: phase fractions -> one overall fraction, throttled messages."""

    def __init__(self, job_id: int, phases: dict[str, float], sink: Callable[[dict], None] | None) -> None:
        total = sum(phases.values())
        self.weights = {k: v / total for k, v in phases.items()}
        self.order = list(phases)
        self.job_id = job_id
        self.sink = sink
        self._last = 0.0

    def __call__(self, phase: str, frac: float, *, force: bool = False) -> None:
        if self.sink is None:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.25:
            return
        self._last = now
        done = sum(self.weights[p] for p in self.order[: self.order.index(phase)]) + self.weights[phase] * min(1.0, frac)
        try:
            self.sink({"id": self.job_id, "phase": phase, "fraction": round(done, 4)})
        except Exception:  # noqa: BLE001 - progress must never fail a file
            pass

    def samples(self, phase: str) -> Callable[[int, int], None]:
        return lambda done, total: self(phase, done / total if total else 1.0)


# -- the passes ------------------------------------------------------------------------------------
def _measure(reader, *, spectrogram: Any = None, progress: Callable[[int, int], None] | None = None, meter: Any = None,
             taps: tuple[Callable[[int, np.ndarray], None], ...] = ()):
    """Meter ``reader`` (and draw its spectrogram) in one pass; each ``tap(start, block)`` sees
    every block too."""
    meter = meter if meter is not None else ProgramMeter(reader.sample_rate, reader.channels)
    for start in range(0, reader.frames, BLOCK):
        check_stop()
        block = reader.read(start, min(BLOCK, reader.frames - start))
        for tap in taps:
            tap(start, block)
        meter.add(block)
        if spectrogram is not None:
            spectrogram.add(block)
        if progress is not None:
            progress(start + block.shape[1], reader.frames)
    return meter.result()


class _Scaled:
    """A :class:`~dsp.render.BlockSource` view of ``source`` multiplied by ``factor`` (1.0: itself)."""

    def __init__(self, source, factor: float) -> None:
        self.source, self.factor = source, float(factor)
        self.sample_rate, self.channels, self.frames = source.sample_rate, source.channels, source.frames

    def read(self, start: int, frames: int) -> np.ndarray:
        check_stop()  # readers on side threads stop with the batch too
        block = self.source.read(start, frames)
        return block if self.factor == 1.0 else block * np.float32(self.factor)


def _render_chain(in_path: Path, out_path: Path, settings, profile, *, fmt: str, pre_gain: float,
                  progress: Callable[[int, int], None] | None = None, speech: dict | None = None,
                  live: _LiveHoles | None = None):
    """Render the chain once into ``out_path`` (times ``pre_gain``), metering its output on the way.

    The processor is :func:`app.pipeline.prepare_processor`'s, so the audio equals ``roomtone
    clean``'s, and the render is :func:`app.pipeline.render_chain_measured` (the export's own).
    With ``live``, the holes are found beside the render from what it reads and writes.
    Returns ``(render record, LoudnessStats of the chain output, pre_gain used, the hum estimate
    the chain's de-hum used or None)``.
    """
    with AudioReader(in_path) as reader:
        processor, context = prepare_processor(reader, settings, profile=profile, live=True, speech=speech)
        sr, ch = reader.sample_rate, reader.channels
    taps: dict[str, Any] = {}
    try:
        if live is not None:
            ensure_prepared(processor, sr, ch, DEFAULT_BLOCK)  # as the render will: its latency is known
            taps = live.start(context.hum, latency=int(processor.latency))
        rec, stats, used_gain = render_chain_measured(
            in_path, out_path, processor, sample_rate=sr, channels=ch, fmt=fmt, pre_gain=pre_gain,
            settings={"analyses": None}, progress=progress, cancel=_stop_requested, **taps)
        rec.settings["analyses"] = analyses_summary(context)  # a live speech track is finished by now
    except BaseException:
        if live is not None:
            live.abort()
        raise
    finally:
        release(context)
    if live is not None:
        live.finish(redone=used_gain != pre_gain)
    return rec, stats, used_gain, context.hum


def _without_hum(profile, hum) -> tuple[Any, int]:
    """``profile`` with the bins of removed mains hum not counted for holes, and how many bins that is.

    A room tone learned with hum in it puts the floor of the hum's bins at the hum's level, so
    every notch de-hum cuts reads as a hole (on a 50 Hz recording: the whole 40-200 Hz band, drawn
    in cyan over a picture whose text says the holes were filled). Removing hum is the point, and
    refill must not put it back: those bins (within 1.5 bins of a harmonic) get a zero floor here.
    """
    if hum is None or not getattr(hum, "frequencies_hz", ()):
        return profile, 0
    df = profile.sample_rate / profile.n_fft
    bins = np.arange(np.asarray(profile.mean_power).shape[0]) * df
    hit = np.zeros(bins.shape, bool)
    for f in hum.frequencies_hz:
        hit |= np.abs(bins - f) <= 1.5 * df
    mean = np.where(hit, 0.0, np.asarray(profile.mean_power, np.float64))
    return dataclasses.replace(profile, mean_power=mean), int(hit.sum())


def _find_holes(in_path: Path, chain_path: Path, pre_gain: float, settings, profile, *, hum: Any = None, audit: bool,
                tmp_dir: Path, progress: Callable[[int, int], None] | None = None) -> tuple[dict, Any]:
    """The holes left in the chain output (and, with ``audit``, those a refill-off render has).

    Returns ``(holes summary for the report, the map of the holes left in the output)``: the
    report draws what the delivered file still has, never holes that refill filled.
    """
    if profile is None:
        return {"refill": _refill_active(settings), "audited": False}, None

    t = time.perf_counter()
    sr = profile.sample_rate
    floor_profile, hum_bins = _without_hum(profile, hum)
    with AudioReader(in_path) as orig, AudioReader(chain_path) as proc:
        hole_mask = detect_holes(orig, _Scaled(proc, 1.0 / pre_gain), floor_profile, sr,
                                 max_total_reduction_db=settings.max_total_reduction_db, keep_level=False)
    holes = _holes_left(settings, hum_bins, hole_mask)
    if audit:
        bare = adjust_settings(settings, refill="off")
        bare_tmp = tmp_dir / "norefill.flac"
        _render_chain(in_path, bare_tmp, bare, profile, fmt="flac24", pre_gain=1.0, progress=progress)
        with AudioReader(in_path) as orig, AudioReader(bare_tmp) as proc:
            found = detect_holes(orig, _Scaled(proc, 1.0), floor_profile, sr, max_total_reduction_db=settings.max_total_reduction_db,
                                     keep_level=False)
        bare_tmp.unlink(missing_ok=True)
        holes["found"] = _holes_summary(found)
        holes["audited"] = True
    holes["seconds"] = round(time.perf_counter() - t, 3)
    return holes, hole_mask


def _holes_left(settings, hum_bins: int, hole_mask) -> dict[str, Any]:
    """The report's holes entry for the holes left in the chain output (the picture shows these:
    what the output still has, never holes that refill filled)."""
    return {"refill": _refill_active(settings), "audited": False, "hum_bins_excluded": hum_bins,
            "remaining": _holes_summary(hole_mask)}


class _LiveHoles:
    """The holes of the chain output, found beside the render from the pieces of the source it
    reads and of the chain output it writes (:class:`dsp.render.PipeSource`): neither file is
    decoded again for them. The chain output is taken before the temporary file's pre-gain and
    integer rounding, i.e. as the chain made it.

    :meth:`start` (once the processor is prepared: the de-hum's harmonics are known) puts
    :func:`dsp.holes.detect_holes` on the side thread and returns the render's taps;
    :meth:`finish` ends the streams; :meth:`abort` lets both threads go on a failure. When the
    render had to be redone (a gain that clipped), :meth:`result` is None and the caller finds the
    holes from the files as before.
    """

    #: Frames detect_holes analyses per read (its ``chunk_frames``).
    CHUNK_FRAMES = 1024

    def __init__(self, side: ThreadPoolExecutor, settings, profile, *, sample_rate: int, channels: int,
                 frames: int) -> None:
        self.side, self.settings, self.profile = side, settings, profile
        self.sr, self.ch, self.frames = int(sample_rate), int(channels), int(frames)
        self.pipes: tuple[PipeSource, PipeSource] | None = None
        self.job: Any = None
        self.redone = False

    def start(self, hum: Any, *, latency: int) -> dict[str, Any]:
        floor_profile, hum_bins = _without_hum(self.profile, hum)
        read = (self.CHUNK_FRAMES + 1) * int(self.profile.hop_length) + int(self.profile.n_fft)
        # Neither thread can wait on the other for good: the detector reads a chunk of the source,
        # then the same chunk of the output. Waiting for the output, the source may be ahead by the
        # render's latency and the blocks in flight; waiting for the next chunk of the source, the
        # output may hold the chunk it read last and the next one (two reads).
        orig = PipeSource(self.sr, self.ch, self.frames, capacity=read + 8 * DEFAULT_BLOCK + 2 * max(0, latency))
        proc = PipeSource(self.sr, self.ch, self.frames, capacity=2 * read + DEFAULT_BLOCK)
        self.pipes = (orig, proc)
        self.job = self.side.submit(self._detect, floor_profile, hum_bins)
        # the source's blocks are copied: they go on into the chain; the output tap is handed a
        # copy of its own (render_chain_measured), kept as it is
        return {"source_tap": orig.push, "output_tap": functools.partial(proc.push, copy=False)}

    def _detect(self, floor_profile, hum_bins: int) -> tuple[dict, Any]:
        assert self.pipes is not None
        orig, proc = self.pipes
        t = time.perf_counter()
        try:
            hole_mask = detect_holes(orig, proc, floor_profile, self.sr, chunk_frames=self.CHUNK_FRAMES,
                                     max_total_reduction_db=self.settings.max_total_reduction_db, keep_level=False)
        finally:
            orig.abort("the holes were found")
            proc.abort("the holes were found")
        holes = _holes_left(self.settings, hum_bins, hole_mask)
        holes["seconds"] = round(time.perf_counter() - t, 3)
        return holes, hole_mask

    def finish(self, *, redone: bool) -> None:
        self.redone = redone
        for pipe in self.pipes or ():
            pipe.close()
        if redone:
            self.abort()

    def abort(self) -> None:
        for pipe in self.pipes or ():
            pipe.abort("the render stopped")
        if self.job is not None:
            self.job.exception()  # wait: the side thread is free again (its error is the render's now)

    def result(self):
        """The side job (``.result()``: holes summary, hole map), or None when the files must be used."""
        return None if self.redone or self.job is None else self.job


class _Done:
    """A finished "future" (what :func:`_side` returns when the work ran inline)."""

    def __init__(self, fn: Callable, *args: Any, **kw: Any) -> None:
        self._value = fn(*args, **kw)

    def result(self) -> Any:
        return self._value


def _side(pool: ThreadPoolExecutor | None, fn: Callable, *args: Any, **kw: Any):
    """Run ``fn`` on ``pool``'s thread, or right now when this worker has one core (``pool`` None)."""
    return pool.submit(fn, *args, **kw) if pool is not None else _Done(fn, *args, **kw)


def _side_pool() -> ThreadPoolExecutor | None:
    """A one-thread pool for work beside the main thread, when this worker has two cores or more.

    A batch worker gets ``cores / workers`` threads (``ROOMTONE_STFT_THREADS``, set by the pool
    initializer); with one, side work runs inline so workers do not fight over a core.
    """
    threads = int(os.environ.get("ROOMTONE_STFT_THREADS", str(os.cpu_count() or 1)) or 1)
    return ThreadPoolExecutor(1) if threads >= 2 else None


def _holes_summary(hm) -> dict:
    s = hm.summary()
    return {
        "count": len(hm.regions),
        "hole_rate": round(float(hm.hole_rate), 6),
        "hole_time_s": round(float(hm.total_hole_time_s), 3),
        "worst_bands": [{"centre_hz": b["centre_hz"], "hole_rate": round(b["hole_rate"], 5)} for b in s["worst_bands"]],
        "largest": [
            {"start_s": round(r.start_s, 3), "end_s": round(r.end_s, 3), "low_hz": round(r.low_hz),
             "high_hz": round(r.high_hz), "depth_db": round(r.depth_db, 1)}
            for r in hm.worst_regions(5)
        ],
    }


def _refill_active(settings) -> bool:
    return any(s.kind == "refill" and not s.bypass for s in settings.stages)


def process_job(job: dict) -> dict:
    """Process one file of a batch; never raises for a problem with the file.

    Parameters
    ----------
    job : dict
        ``id``, ``input`` (absolute path), ``rel`` (path relative to the batch input folder),
        ``output`` (absolute path), ``tmp_dir``, ``report_dir``, ``slug`` (file-name-safe id
        for the report files), ``fmt`` (output format), ``options`` (:meth:`BatchOptions.to_dict`).

    Returns
    -------
    dict
        ``id``, ``status`` (``"done"``, ``"failed"``, or ``"cancelled"`` when the batch asked its
        workers to stop: nothing was written), ``error`` (one line, or None),
        ``error_kind``, ``output_hash``, ``report`` (the per-file report, also written as JSON),
        ``seconds``, ``worker`` (host:pid).
    """
    t_start = time.time()
    result: dict[str, Any] = {"id": job["id"], "rel": job["rel"], "status": "failed", "error": None,
                              "error_kind": None, "output_hash": None, "report": None,
                              "started": t_start, "worker": f"{socket.gethostname()}:{os.getpid()}"}
    tmp_dir = Path(job["tmp_dir"])
    try:
        configure_cache()
        result.update(_process(job, tmp_dir))
        result["status"] = "done"
    except BaseException as exc:  # noqa: BLE001 - one bad file must not stop the batch
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        if _stop_requested() and isinstance(exc, RoomtoneError):
            result["status"] = "cancelled"  # stopped on request: nothing was written
        elif isinstance(exc, RoomtoneError):
            result["error"] = " ".join(explain(exc, "cli").split())
            result["error_kind"] = type(exc).__name__
        else:
            result["error"] = f"internal error (a bug in Roomtone): {type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
            result["error_kind"] = "InternalError"
            result["traceback"] = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    result["seconds"] = round(time.time() - t_start, 3)
    return result


def _process(job: dict, tmp_dir: Path) -> dict:
    opts = BatchOptions(**job["options"])
    settings = ChainSettings.from_dict(opts.chain)
    in_path, out_path = Path(job["input"]), Path(job["output"])
    timings: dict[str, float] = {}
    audit = bool(opts.hole_audit) and _refill_active(settings)
    phases = dict(PHASES)
    if not audit:
        phases.pop("audit")
    progress = _Progress(job["id"], phases, _progress_sink)
    progress("measure", 0.0, force=True)
    _make_folders(tmp_dir, out_path)

    # 1. the source's figures and 2. its room tone, from one pass (the voice activity model fed by it)
    t = time.perf_counter()
    side = _side_pool()
    src = _measure_source(in_path, settings, opts, progress)
    timings["measure_s"] = time.perf_counter() - t

    # 3. the chain, rendered once (see _render_chain): into the output itself when no loudness
    # step follows, else into a temporary file no larger than the output, metered on the way
    t = time.perf_counter()
    target = resolve_target(opts.loudness, src.ch)
    fmt = job["fmt"]
    if target is None:
        chain_path, pre_gain = out_path, 1.0
    else:
        chain_path = tmp_dir / "chain.flac"
        pre_gain = pre_gain_for(src.before, target)
    # 4. holes: beside the render, from what it reads and writes (else, or with the audit, from
    # the files on a second thread while 5. (_write_output) writes the output)
    live = None
    if side is not None and src.profile is not None and not audit:
        live = _LiveHoles(side, settings, src.profile, sample_rate=src.sr, channels=src.ch, frames=src.frames)
    rec, chain_stats, pre_gain, hum = _render_chain(in_path, chain_path, settings, src.profile, speech=src.speech,
                                                    fmt=fmt if target is None else intermediate_format(fmt),
                                                    pre_gain=pre_gain, live=live,
                                                    progress=progress.samples("render"))
    timings["render_s"] = time.perf_counter() - t

    check_stop()
    holes_job = live.result() if live is not None else None
    if holes_job is None:
        holes_job = _side(side, _find_holes, in_path, chain_path, pre_gain, settings, src.profile, hum=hum,
                          audit=audit, tmp_dir=tmp_dir, progress=progress.samples("audit"))
    if side is not None:
        side.shutdown(wait=False)
    check_stop()
    t = time.perf_counter()
    out = _write_output(src, in_path, chain_path, out_path, chain_stats, target, pre_gain, fmt, opts, progress)
    timings["loudness_s"] = time.perf_counter() - t
    t = time.perf_counter()
    holes, hole_mask = holes_job.result()
    timings["holes_s"] = holes.pop("seconds", 0.0)
    timings["holes_wait_s"] = time.perf_counter() - t
    if chain_path != out_path:
        chain_path.unlink(missing_ok=True)

    # 6. report
    t = time.perf_counter()
    output_hash = file_sha256(out_path)
    report = _file_report(job, opts, src, out, in_path, out_path, output_hash, fmt, chain_stats, holes,
                          settings={"options": opts.to_dict(), "chain_render": rec.settings.get("analyses", {}),
                                    "intermediate": {"format": None if chain_path == out_path else intermediate_format(fmt),
                                                     "pre_gain_db": round(20.0 * math.log10(pre_gain), 3)},
                                    "settings_hash": job.get("settings_hash")},
                          timings=timings)
    json_path = _write_file_report(job, report, src, out, hole_mask, timings, t)
    progress("report", 1.0, force=True)
    return {"output_hash": output_hash, "report": report, "report_json": str(json_path)}


def _make_folders(tmp_dir: Path, out_path: Path) -> None:
    tmp_dir.mkdir(parents=True, exist_ok=True)
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{out_path.parent}: cannot create the output folder ({exc.strerror or exc})") from None


@dataclass
class _Source:
    """What phases 1 and 2 found: the source's format and figures, its speech track, its room tone."""

    sr: int
    ch: int
    frames: int
    info: dict
    speech: Any
    spec_before: Any
    before_meter: Any
    before: Any
    profile: Any
    origin: Any
    nonfinite: int


def _measure_source(in_path: Path, settings, opts: BatchOptions, progress: _Progress) -> _Source:
    """1. the source's figures and 2. its room tone, from one pass over the file.

    The pass meters the source, draws its spectrogram, measures the frame levels the room-tone
    screen looks for quiet stretches in (:class:`dsp.strength.FramePowers`, the same values the
    screen's own pass would give) and feeds the voice activity model, which runs on threads of
    its own (:class:`dsp.render.PipeSource`: the file is decoded once for all of them; the pass
    waits for the model where it is ahead by the pipe's capacity). The room tone is then found
    as prepare_processor finds it, so the render equals `roomtone clean`.
    """
    with AudioReader(in_path) as reader, ReadAhead(reader) as ahead:
        sr, ch, frames = reader.sample_rate, reader.channels, reader.frames
        src_info = {"format": reader.info.format, "subtype": reader.info.subtype}
        spec_before, before_meter = SpectrogramAccumulator(sr, ch, frames), ProgramMeter(sr, ch)
        given = NoiseProfile.load(opts.profile_path) if opts.profile_path else None
        levels = None
        if given is None and (opts.auto_profile or chain_needs_profile(settings)):
            levels = FramePowers(sr, frames, frame_s=LEVEL_FRAME_S)
        feed = None
        speech = None
        if needs_speech_track(settings):
            # the model reads a block of VAD_READ_S (60 s) ahead while it runs on one: the stream
            # holds that block and one of this pass's more (12 MB at 48 kHz mono, 100 MB at
            # 192 kHz stereo); the pass waits where the model is that far behind
            feed = PipeSource(sr, ch, frames, capacity=int(VAD_READ_S * sr) + 2 * BLOCK)
            speech = speech_track(feed, live=True)
            if "speech" not in speech:
                feed = None  # the model cannot run here: nothing reads the stream
        taps: list[Callable[[int, np.ndarray], None]] = []
        if levels is not None:
            taps.append(lambda _start, block: levels.add(block))
        if feed is not None:  # the reader's blocks are fresh arrays nothing here changes: kept uncopied
            taps.append(functools.partial(feed.push, copy=False))
        try:
            before = _measure(ahead, spectrogram=spec_before, meter=before_meter, progress=progress.samples("measure"),
                              taps=tuple(taps))  # the next block is decoded while this one is measured
            if feed is not None:
                feed.close()
            profile, origin = resolve_profile(
                reader, settings, profile=given, auto_profile=opts.auto_profile, source_name=str(in_path),
                levels_db=levels_from_powers(levels.result()) if levels is not None else None,
            )
        except BaseException:
            if feed is not None:
                feed.abort("the measuring pass stopped")
            release(speech)
            raise
        nonfinite = reader.nonfinite_count
    return _Source(sr, ch, frames, src_info, speech, spec_before, before_meter, before, profile, origin, nonfinite)


@dataclass
class _Output:
    """What phase 5 wrote: the loudness step's figures and the output's measurements."""

    target: Any
    ceiling: float | None
    gain_db: float
    iterations: int
    limited: float
    clipped_written: int
    spec_after: Any
    after: Any
    meter: Any


def _write_output(src: _Source, in_path: Path, chain_path: Path, out_path: Path, chain_stats, target, pre_gain: float,
                  fmt: str, opts: BatchOptions, progress: _Progress) -> _Output:
    """5. loudness: the gain from the chain output's loudness, then one streaming pass of the
    loudness stages (gain, true-peak limiter: app.pipeline.normalise_loudness, the export's own)
    into the output; the written file is measured (as any meter would see it), and only where
    the limiter took away more than the tolerance is the pass redone."""
    sr, ch, frames = src.sr, src.ch, src.frames
    gain_db, iterations, limited, ceiling, clipped_written = 0.0, 0, 0.0, None, 0
    wanted = target
    if target is not None and not math.isfinite(chain_stats.integrated_lufs):
        target = None  # silent file: nothing to measure, leave it as it is
    elif target is not None:
        gain_db = max(-MAX_GAIN_DB, min(MAX_GAIN_DB, target[0] - chain_stats.integrated_lufs))
    if wanted is not None:
        ceiling = min(wanted[1], opts.ceiling_dbtp)
    spec_after = SpectrogramAccumulator(sr, ch, frames)
    if chain_path != out_path:
        spectrograms: list[Any] = []

        def fresh_spectrogram():
            spectrograms.append(SpectrogramAccumulator(sr, ch, frames))
            return spectrograms[-1].add

        with AudioReader(chain_path) as proc:
            written, gain_db, tried = normalise_loudness(
                _Scaled(proc, 1.0), out_path, gain_db=gain_db, target=wanted, ceiling_dbtp=ceiling, fmt=fmt,
                offset_db=-20.0 * math.log10(pre_gain), sources=(in_path,), make_add=fresh_spectrogram,
                tolerance_lu=GAIN_TOLERANCE_LU, max_passes=MAX_GAIN_ITERATIONS,
                progress=progress.samples("loudness"), cancel=_stop_requested)
        spec_after, after, meter = spectrograms[-1], written.after, written.meter
        iterations, limited, clipped_written = len(tried), written.limiter_max_reduction_db, written.clipped_on_write
    else:
        with AudioReader(out_path) as written_file:
            meter = ProgramMeter(sr, ch)
            after = _measure(written_file, spectrogram=spec_after, meter=meter)
    return _Output(target, ceiling, gain_db, iterations, limited, clipped_written, spec_after, after, meter)


def _file_report(job: dict, opts: BatchOptions, src: _Source, out: _Output, in_path: Path, out_path: Path,
                 output_hash: str, fmt: str, chain_stats, holes: dict, *, settings: dict,
                 timings: dict[str, float]) -> dict:
    """6. the file's report (its JSON; the pictures are added by _write_file_report)."""
    before, after, target = src.before, out.after, out.target
    return {
        "file": job["rel"],
        "input": str(in_path),
        "output": str(out_path),
        "output_rel": job.get("output_rel", out_path.name),
        "input_hash": job.get("input_hash"),
        "output_hash": output_hash,
        "format": {"source": src.info, "output": fmt},
        "sample_rate": src.sr,
        "channels": src.ch,
        "frames": src.frames,
        "duration_s": round(src.frames / src.sr, 3),
        "before": before.to_dict(),
        "chain_output": chain_stats.to_dict(),
        "after": after.to_dict(),
        "loudness": {
            "target": target[2] if target else "off",
            "target_lufs": target[0] if target else None,
            "ceiling_dbtp": out.ceiling,
            "gain_db": round(out.gain_db, 3),
            "limiter_max_reduction_db": round(out.limited, 2),
            "gain_iterations": out.iterations,
        },
        "clipping": {"before_samples": before.clipped_samples, "after_samples": after.clipped_samples,
                     "clipped_on_write": out.clipped_written},
        "holes": holes,
        "profile": profile_summary(src.profile),
        "profile_origin": src.origin,
        "nonfinite_samples": src.nonfinite,
        "settings": settings,
        "versions": software_versions(),
        "timing": {k: round(v, 3) for k, v in timings.items()},
        "worker": f"{os.uname().nodename}:{os.getpid()}",
    }


def _write_file_report(job: dict, report: dict, src: _Source, out: _Output, hole_mask, timings: dict[str, float],
                       t: float) -> Path:
    """The report's pictures and its JSON file (``files/<slug>.json``); ``t``: when the report phase began."""
    # the loudness timelines come from the two meters' 100 ms sub-blocks: no extra pass
    report["speaker_levels"], timelines = speaker_levels(src.before_meter, out.meter, src.sr)
    report["images"] = write_file_report(Path(job["report_dir"]), job["slug"], report, src.spec_before,
                                         out.spec_after, hole_map=hole_mask, timelines=timelines)
    timings["report_s"] = time.perf_counter() - t
    report["timing"] = {k: round(v, 3) for k, v in timings.items()}
    json_path = Path(job["report_dir"]) / "files" / f"{job['slug']}.json"
    json_path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(json_path, json.dumps(report, indent=1, default=str) + "\n")
    return json_path
