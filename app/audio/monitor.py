"""Headphone monitoring: hear the chain live, switch A/B/removed, never glitch.

Threads (ARCHITECTURE.md):

* **PortAudio callback**: native code (:func:`app.audio.ring.native_callback`, a numba
  ``cfunc`` handed to PortAudio as a raw stream callback) that copies from the ring into the
  output and counts underruns. It never takes the GIL, so a garbage-collection pass (measured
  100-400 ms on a big heap) or a busy GUI thread cannot glitch the output. The same callback in
  Python (:class:`~app.audio.ring.RingPlayer`) is the reference and drives fake streams.
* **feeder** (one thread per :class:`Monitor`, soft real-time where the OS allows): renders the
  chain with :func:`dsp.render.render_blocks` from the playhead (a :class:`~app.audio.voice.Voice`),
  keeps a short *history* of the components (processed, original, solo reference, source
  positions) per stream sample, mixes the listen mode, meters it, resamples it to the device
  rate and writes it into the ring. Every control call (play, seek, settings, listen, device)
  is executed here, in order, so no state is shared with the GUI beyond plain reads.
* **primer** (short-lived helper): runs a new chain's full preroll off the feeder (see below).
* **GUI**: calls the control methods (they return at once, except :meth:`Monitor.open`,
  :meth:`Monitor.play` and :meth:`Monitor.set_source`) and polls :attr:`Monitor.position_s`,
  :meth:`Monitor.meters` and :meth:`Monitor.stats` on a timer.

Changes reach the ears fast although the ring holds ``buffer_ms`` of audio: a change picks a
switch point ``guard_ms`` ahead of what the device is reading (aligned to the feeder's chunk),
retracts the ring's unplayed audio from there (:meth:`~app.audio.ring.MirroredRing.retract`),
rewinds the resampler and meters to it, and writes the new audio from there, crossfaded from
the old over ``crossfade_ms`` (equal-gain sine-squared). A listen switch (processed /
original / removed / solo) re-mixes the components already in the history: no re-render,
time-aligned by construction.

A settings or structural change builds a new processor (``processor_factory()``). Its full
preroll can be seconds of audio (the podcast chain: 2-4.6 s, ~0.1 s of CPU), too slow for
100 ms, so it goes in two steps: a *fast* voice with ``live_preroll_ms`` of preroll is primed
before the retract and heard within ~40-70 ms; meanwhile a primer thread builds the chain again
and runs its full preroll from a point ahead, and the feeder switches to that *exact* voice at
the ring's write frontier (crossfaded; the two differ only by the fast voice's not yet
converged state, ~1e-3 at first). From then on what you hear equals ``render_blocks`` from that
playhead, sample for sample. Play and seek-while-stopped start exact voices directly.
Solo ("hear one pass's contribution"): give :meth:`Monitor.set_chain` a ``solo_reference``
factory that builds the chain *without* the soloed stage (see :func:`app.audio.solo.without_stage`)
and listen ``solo``: the monitor plays ``reference - processed``, i.e. exactly what that stage
removes in the context of the whole chain.
"""

from __future__ import annotations

import collections
import gc
import logging
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from app.audio import devices
from app.audio.meters import MeterHistory, MeterReading
from app.audio.resample import StreamingResampler
from app.audio.ring import MirroredRing, RingPlayer, native_callback
from app.audio.voice import Voice
from dsp.engine import DryWet, Listen, Processor
from dsp.errors import DeviceError, ParameterError, RoomtoneError
from dsp.render import BlockSource, ensure_prepared

log = logging.getLogger(__name__)

ProcessorFactory = Callable[[], Processor]


class ListenMode(StrEnum):
    """What the monitor plays: the chain's output, the source, their difference, or one stage's part."""

    PROCESSED = "processed"
    ORIGINAL = "original"
    REMOVED = "removed"
    SOLO = "solo"


class MonitorState(StrEnum):
    OFF = "off"  # no device open (none chosen yet, or it failed / vanished: see Monitor.error)
    STOPPED = "stopped"
    PLAYING = "playing"


@dataclass(frozen=True)
class OutputSettings:
    """Preferences > Audio: device, buffer size, and the monitor's timing."""

    device: int | str | None = None  # None: the system default output
    block_size: int = 256  # frames per device callback
    buffer_ms: float = 150.0  # audio kept ready in the ring (robustness against stalls)
    guard_ms: float = 30.0  # audio left untouched ahead of the device on a change
    crossfade_ms: float = 5.0  # length of every switch crossfade
    chunk: int = 256  # feeder hand-over block (samples at the file's rate)
    render_block: int = 1024  # block the chain is run with (any size gives the same output)
    live_preroll_ms: float = 300.0  # history rendered before a live switch (fast first voice)

    def __post_init__(self) -> None:
        if self.block_size not in devices.BLOCK_SIZES:
            raise ParameterError(f"buffer size must be one of {devices.BLOCK_SIZES} frames, got {self.block_size}")
        if not 20.0 <= self.buffer_ms <= 2000.0:
            raise ParameterError(f"buffer_ms must be between 20 and 2000 ms, got {self.buffer_ms}")
        if not 0.5 <= self.crossfade_ms <= 50.0:
            raise ParameterError(f"crossfade_ms must be between 0.5 and 50 ms, got {self.crossfade_ms}")
        if self.guard_ms >= self.buffer_ms:
            raise ParameterError(f"guard_ms ({self.guard_ms}) must be below buffer_ms ({self.buffer_ms})")
        if self.chunk < 32 or self.chunk & (self.chunk - 1):
            raise ParameterError(f"chunk must be a power of two >= 32 samples, got {self.chunk}")
        if self.render_block < self.chunk:
            raise ParameterError(f"render_block ({self.render_block}) must be at least chunk ({self.chunk})")
        if self.live_preroll_ms < 0:
            raise ParameterError(f"live_preroll_ms must be >= 0, got {self.live_preroll_ms}")


@dataclass(frozen=True)
class MonitorStats:
    """Counters and timings for the status bar, the soak benchmark and tests."""

    state: str
    underruns: int  # callbacks that found the ring short while audio was due
    xruns: int  # host-reported output underflows (the callback itself ran late)
    callbacks: int
    ring_fill_ms: float
    output_latency_s: float
    device_rate: int
    file_rate: int
    chunks_rendered: int
    feeder_cpu_mean: float  # feeder CPU time per chunk / chunk duration
    feeder_cpu_p99: float
    feeder_cpu_max: float
    switches: int
    last_switch_lead_ms: float  # audio still played from before the last switch point
    upgrades: int  # fast (short-preroll) voices replaced by exact ones


class _SerialSource:
    """A BlockSource whose reads are serialised: the feeder and the primer thread share one file
    reader (libsndfile handles are not thread-safe). The audio callback never reads sources."""

    def __init__(self, source: BlockSource) -> None:
        self.source = source
        self.sample_rate = source.sample_rate
        self.channels = source.channels
        self.frames = source.frames
        self._lock = threading.Lock()

    def read(self, start: int, frames: int) -> np.ndarray:
        with self._lock:
            return np.array(self.source.read(start, frames), np.float32, copy=True)


class _Call:
    __slots__ = ("fn", "args", "done", "result", "error", "kind")

    def __init__(self, kind: str, fn: Callable[..., Any], args: tuple, wait: bool) -> None:
        self.kind = kind
        self.fn = fn
        self.args = args
        self.done = threading.Event() if wait else None
        self.result: Any = None
        self.error: BaseException | None = None


def _raise_priority() -> None:
    """Ask for soft real-time scheduling for the calling (feeder) thread, if the OS allows it.

    The feeder needs ~10 % of a core but must not be kept off the CPU for longer than the
    audio left in the ring (right after a switch, ``guard_ms``); on a loaded machine ordinary
    threads can wait that long. Round-robin at the lowest real-time priority (below the sound
    server's threads); without the privilege (most desktops) this silently does nothing.
    """
    try:
        os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(1))  # 0: the calling thread (Linux)
    except (AttributeError, OSError, PermissionError):
        pass


def _force_processed(p: Processor) -> Processor:
    """The monitor mixes the listen mode itself: the chain must output the processed signal."""
    if isinstance(p, DryWet):
        p.listen = Listen.PROCESSED
    return p


class Monitor:
    """Output stream + ring + feeder thread: play / stop / seek / loop / A-B / solo / meters.

    Parameters
    ----------
    output
        Device and timing preferences.
    stream_opener
        Test hook: ``(device, sample_rate, channels, block_size, callback, finished) -> stream``
        replacing :func:`app.audio.devices.open_output_stream`.
    """

    def __init__(self, *, output: OutputSettings = OutputSettings(), stream_opener: Callable[..., Any] | None = None) -> None:
        self.output = output
        self._opener = stream_opener
        self.state = MonitorState.OFF
        #: Last user-facing problem (device gone, chain failed to build); the GUI shows it.
        self.error: str | None = None
        self.device: devices.OutputDevice | None = None
        self.device_rate = 0
        self.device_channels = 0
        self.output_latency_s = 0.0
        self.follow_playhead = True
        self._source: BlockSource | None = None
        self._original: BlockSource | None = None
        self._factory: ProcessorFactory | None = None
        self._ref_factory: ProcessorFactory | None = None
        self._listen = ListenMode.PROCESSED
        self._loop: tuple[int, int] | None = None
        self._playhead = 0  # file samples, while not playing
        self._heard_fallback = 0
        self._stream: Any = None
        self._stream_finished = False
        self._ring: MirroredRing | None = None
        self._player: RingPlayer | None = None
        self._resampler: StreamingResampler | None = None
        self._meters: MeterHistory | None = None
        self._voice: Voice | None = None
        self._calls: collections.deque[_Call] = collections.deque()
        self._wake = threading.Event()
        self._quit = False
        self._cpu: collections.deque[float] = collections.deque(maxlen=20000)
        self._chunks = 0
        self._switches = 0
        self._upgrades = 0
        #: (file sample, exact) of the voices started, newest last (diagnostics and tests).
        self.voice_log: collections.deque[tuple[int, bool]] = collections.deque(maxlen=64)
        self._exact_pending = False  # the playing voice has a short preroll: replace it soon
        self._primer: dict[str, Any] | None = None
        self._generation = 0  # bumped by every voice change: stale primers are dropped
        self._upgrade_lead_s = 0.5
        self._prime_est_s = 0.02  # how long building + priming a new voice takes (learnt)
        self._last_lead = 0.0
        self._dev_base = 0
        self._cb_seen = -1
        self._cb_seen_at = 0.0
        self._stop_at: int | None = None
        self._end_t: int | None = None
        self._xf: tuple[int, np.ndarray] | None = None
        self._t_hist = self._t_out = 0
        self._thread = threading.Thread(target=self._run, name="roomtone-monitor-feeder", daemon=True)
        self._thread.start()

    # == public control API (any thread; executed in order on the feeder thread) ===============
    def open(self) -> None:
        """Open the output device now (raises :class:`DeviceError`; the monitor stays ``off``)."""
        self._submit("open", self._do_open, wait=True)

    def close(self) -> None:
        """Close the device (monitoring off). The monitor can be opened again."""
        self._submit("close", self._do_close, wait=True)

    def shutdown(self) -> None:
        """Close the device and end the feeder thread (the app's exit path)."""
        if self._thread.is_alive():
            self._submit("close", self._do_close, wait=True)
            self._quit = True
            self._wake.set()
            self._thread.join(5.0)

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def rescan_devices(self) -> None:
        """Enumerate the output devices again: one plugged in or a sound server started since.

        PortAudio lists devices once, when it starts; re-initialising it is the only way to see
        new ones, and it must not happen under an open stream. While playing, nothing is done
        (the device in use works); otherwise an idle stream is closed first (Play reopens it).
        Raises :class:`DeviceError` when PortAudio cannot be re-initialised
        (:data:`app.audio.devices.SERVER_LOST`).
        """
        self._submit("rescan", self._do_rescan, wait=True)

    def configure(self, output: OutputSettings) -> None:
        """New preferences; reopens the device if it was open (raises DeviceError)."""
        self._submit("configure", self._do_configure, output, wait=True)

    def set_source(self, source: BlockSource, processor_factory: ProcessorFactory, *, solo_reference: ProcessorFactory | None = None,
                   original: BlockSource | None = None) -> None:
        """A new file (stops playback, playhead to 0) and the chain to hear it through.

        ``original``: what Hear › Original plays, when it is not ``source`` itself (an edited
        render's source mapped through its cuts, :mod:`dsp.edits`)."""
        self._submit("source", self._do_set_source, source, processor_factory, solo_reference, original, wait=True)

    def set_chain(self, processor_factory: ProcessorFactory, *, solo_reference: ProcessorFactory | None = None) -> None:
        """Settings or structure changed: heard within ``guard_ms`` + latency, crossfaded."""
        self._submit("chain", self._do_set_chain, processor_factory, solo_reference)

    def set_listen(self, mode: ListenMode | str) -> None:
        """Switch processed / original / removed / solo, time-aligned and crossfaded."""
        mode = ListenMode(mode)
        if mode is ListenMode.SOLO and self._ref_factory is None:
            raise ParameterError("solo needs a stage to solo: pick a stage (set_chain(..., solo_reference=...)) first")
        self._submit("listen", self._do_set_listen, mode)

    def play(self, from_s: float | None = None) -> None:
        """Start (or, given ``from_s``, restart) playback; opens the device if needed."""
        self._submit("play", self._do_play, from_s, wait=True)

    def stop(self) -> None:
        """Stop with a short fade; the playhead stays where playback stopped."""
        self._submit("stop", self._do_stop)

    def toggle(self) -> None:
        """Space bar: play if stopped, stop if playing."""
        if self.state is MonitorState.PLAYING:
            self.stop()
        else:
            self.play()

    def seek(self, position_s: float) -> None:
        """Move the playhead; while playing, jump there with a crossfade."""
        self._submit("seek", self._do_seek, float(position_s))

    def set_loop(self, start_s: float | None, end_s: float | None = None) -> None:
        """Loop ``[start_s, end_s)`` while playing; ``None`` turns looping off."""
        self._submit("loop", self._do_set_loop, start_s, end_s)

    def sync(self, timeout: float = 5.0) -> None:
        """Wait until every control call made so far has been executed (tests, scripts)."""
        self._submit("sync", lambda: None, wait=True, timeout=timeout)

    # == polled by the GUI =====================================================================
    @property
    def listen(self) -> ListenMode:
        return self._listen

    @property
    def loop(self) -> tuple[float, float] | None:
        if self._loop is None or self._source is None:
            return None
        sr = self._source.sample_rate
        return (self._loop[0] / sr, self._loop[1] / sr)

    @property
    def duration_s(self) -> float:
        return 0.0 if self._source is None else self._source.frames / self._source.sample_rate

    def _heard_frame(self) -> int:
        ring = self._ring
        if ring is None:
            return 0
        return ring.read_pos - 1 - int(round(self.output_latency_s * self.device_rate))

    @property
    def position_s(self) -> float:
        """The source time being heard now (output latency accounted for)."""
        src = self._source
        if src is None:
            return 0.0
        if self.state is not MonitorState.PLAYING or self._ring is None:
            return self._playhead / src.sample_rate
        heard = self._heard_frame()
        fp = self._ring.file_position_at(heard) if heard >= self._dev_base else None
        if fp is None:
            fp = self._heard_fallback
        return fp / src.sample_rate

    @property
    def is_playing(self) -> bool:
        return self.state is MonitorState.PLAYING

    def meters(self) -> MeterReading:
        """Peak / RMS / short-term loudness of what is being heard now, and the clip indicator."""
        m, src, rs = self._meters, self._source, self._resampler
        if m is None or src is None or rs is None:
            return MeterReading.silent(src.channels if src else 1)
        if self.state is not MonitorState.PLAYING:
            silent = (-120.0,) * m.channels
            return MeterReading(silent, silent, -120.0, m.clip_count > 0, m.clip_count)
        t = max(0, self._heard_frame() - self._dev_base) * rs.down // rs.up
        return m.read(t // self.output.chunk + 1)

    def clear_clip(self) -> None:
        if self._meters is not None:
            self._meters.clear_clip()

    @property
    def underruns(self) -> int:
        return 0 if self._player is None else self._player.underruns

    def stats(self) -> MonitorStats:
        p, ring = self._player, self._ring
        cpu = np.asarray(self._cpu, np.float64)
        chunk_s = self.output.chunk / self._source.sample_rate if self._source else 1.0
        ratio = cpu / chunk_s if cpu.size else np.zeros(1)
        return MonitorStats(
            state=self.state.value,
            underruns=p.underruns if p else 0,
            xruns=p.xruns if p else 0,
            callbacks=p.callbacks if p else 0,
            ring_fill_ms=(ring.fill / self.device_rate * 1000.0) if ring and self.device_rate else 0.0,
            output_latency_s=self.output_latency_s,
            device_rate=self.device_rate,
            file_rate=self._source.sample_rate if self._source else 0,
            chunks_rendered=self._chunks,
            feeder_cpu_mean=float(ratio.mean()),
            feeder_cpu_p99=float(np.percentile(ratio, 99)),
            feeder_cpu_max=float(ratio.max()),
            switches=self._switches,
            last_switch_lead_ms=self._last_lead * 1000.0,
            upgrades=self._upgrades,
        )

    def reset_stats(self) -> None:
        self._cpu.clear()

    # == plumbing ==============================================================================
    def _submit(self, kind: str, fn: Callable[..., Any], *args: Any, wait: bool = False, timeout: float = 10.0) -> Any:
        if not self._thread.is_alive():
            raise RuntimeError("the monitor has been shut down")
        call = _Call(kind, fn, args, wait)
        self._calls.append(call)
        self._wake.set()
        if call.done is None:
            return None
        if not call.done.wait(timeout):
            raise DeviceError(f"the audio engine did not respond within {timeout:.0f} s; restart monitoring")
        if call.error is not None:
            raise call.error
        return call.result

    def _run(self) -> None:
        _raise_priority()
        while not self._quit:
            self._wake.clear()
            self._run_calls()
            if self.state is MonitorState.PLAYING:
                try:
                    self._check_stream()
                    if self.state is MonitorState.PLAYING:
                        self._fill()
                    if self._exact_pending and self.state is MonitorState.PLAYING:
                        self._plan_upgrade()
                except DeviceError as exc:
                    self._device_lost(str(exc))
                except Exception as exc:  # a bug in a stage must not kill monitoring silently
                    log.exception("monitor feeder failed")
                    self.error = f"monitoring stopped: {type(exc).__name__}: {exc}"
                    self._halt()
            self._wake.wait(0.005 if self.state is MonitorState.PLAYING else 0.05)

    def _run_calls(self) -> None:
        while self._calls:
            call = self._calls.popleft()
            if call.kind == "chain" and any(c.kind in ("chain", "source") for c in self._calls):
                continue  # superseded by a later chain change (slider drags coalesce)
            try:
                call.result = call.fn(*call.args)
            except BaseException as exc:  # handed back to the caller, or recorded
                if call.done is None:
                    if isinstance(exc, RoomtoneError):
                        self.error = str(exc)
                    else:
                        log.exception("monitor command %s failed", call.kind)
                        self.error = f"{call.kind} failed: {type(exc).__name__}: {exc}"
                call.error = exc
            if call.done is not None:
                call.done.set()

    # -- device -------------------------------------------------------------------------------
    def _do_open(self) -> None:
        if self._stream is not None:
            return
        try:
            if self._opener is None and devices.sound_server_lost():
                raise DeviceError(devices.SERVER_LOST)  # opening through a dead JACK client would hang
            device = devices.resolve_output_device(self.output.device)
            channels = devices.output_channels(device)
            file_rate = self._source.sample_rate if self._source else int(device.default_sample_rate)
            rate = devices.choose_rate(device, file_rate, channels)
            ring = MirroredRing(self._ring_capacity(rate), channels)
            player = RingPlayer(ring)
            self._stream_finished = False
            kw = dict(sample_rate=rate, channels=channels, block_size=self.output.block_size, finished_callback=self._on_finished)
            if self._opener is not None:
                stream = self._opener(device, callback=player, **kw)
            else:
                # The native callback: no GIL, so Python stalls cannot glitch the output.
                stream = devices.open_output_stream(device, callback=native_callback(), userdata=ring.address, **kw)
            try:
                stream.start()
            except Exception as exc:
                stream.close()
                raise DeviceError(f"cannot start output device {device.label!r} ({exc}); choose another one in Preferences > Audio") from None
        except DeviceError as exc:
            self.state = MonitorState.OFF
            self.error = str(exc)
            raise
        # Keep the GIL hand-over short so the callback never waits long behind the feeder.
        if sys.getswitchinterval() > 0.001:
            sys.setswitchinterval(0.001)
        self.device, self.device_rate, self.device_channels = device, rate, channels
        self._ring, self._player, self._stream = ring, player, stream
        self.output_latency_s = float(getattr(stream, "latency", 0.0) or 0.0)
        self.error = None
        self.state = MonitorState.STOPPED
        self._setup_rate()

    def _ring_capacity(self, rate: int) -> int:
        need = rate * (self.output.buffer_ms + 100.0) / 1000.0 + 4 * self.output.chunk + 4 * self.output.block_size
        return int(2 ** math.ceil(math.log2(need)))

    def _setup_rate(self) -> None:
        """(Re)make resampler, meters and history for the current file and device rates."""
        src = self._source
        if src is None or self._ring is None:
            return
        ch = src.channels
        self._resampler = StreamingResampler(src.sample_rate, self.device_rate, ch)
        self._meters = MeterHistory(src.sample_rate, ch, self.output.chunk)
        chunk = self.output.chunk
        hist = int(src.sample_rate * (self.output.buffer_ms + 200.0) / 1000.0) + 8 * chunk
        self._hist_n = -(-hist // chunk) * chunk
        self._h_p = np.zeros((ch, self._hist_n), np.float32)
        self._h_o = np.zeros((ch, self._hist_n), np.float32)
        self._h_r = np.zeros((ch, self._hist_n), np.float32)
        self._h_fp = np.zeros(self._hist_n, np.int64)
        self._xfade = max(1, int(round(self.output.crossfade_ms * src.sample_rate / 1000.0)))
        t = np.arange(self._xfade, dtype=np.float64)
        self._fade_in = (np.sin(0.5 * np.pi * (t + 0.5) / self._xfade) ** 2).astype(np.float32)

    def _on_finished(self) -> None:  # PortAudio thread: one attribute store, nothing else
        self._stream_finished = True

    def _check_stream(self) -> None:
        """Notice a vanished device without touching PortAudio on every pass.

        Asking PortAudio (``stream.active``) takes a lock the audio thread also needs: polled
        every few ms it caused host xruns (measured on JACK). Instead: the callback counter must
        advance; only when it has stalled for 0.3 s is the stream asked, and a stream that is
        still "active" but silent for 2 s is given up as well.
        """
        s = self._stream
        if s is None:
            raise DeviceError("the output device is closed")
        ring = self._ring
        now = time.monotonic()
        count = ring.callbacks if ring is not None else 0
        if count != self._cb_seen:
            self._cb_seen, self._cb_seen_at = count, now
            if not self._stream_finished:
                return
        stalled = now - self._cb_seen_at
        if not self._stream_finished and stalled < 0.3:
            return
        if self._stream_finished or not s.active or stalled > 2.0:
            name = self.device.label if self.device else "the output device"
            raise DeviceError(
                f"{name} stopped working (unplugged, or taken by another program); monitoring is off. "
                "Reconnect it or choose another device in Preferences > Audio, then press Play"
            )

    def _device_lost(self, message: str) -> None:
        server_lost = self._opener is None and devices.sound_server_lost()
        if server_lost:
            name = self.device.label if self.device else "the output device"
            message = f"{name} stopped working: {devices.SERVER_LOST}"
        self.error = message
        self._halt()
        if server_lost:
            # its JACK server is gone: closing the stream would block this thread for ever
            devices.abandon_stream(self._stream)
            self._stream = None
        else:
            self._close_stream()
        self.state = MonitorState.OFF

    def _do_rescan(self) -> None:
        if self.state is MonitorState.PLAYING:
            return
        self._do_close()
        devices.rescan()

    def _close_stream(self) -> None:
        s, self._stream = self._stream, None
        if s is not None:
            try:
                s.abort()
            except Exception:  # noqa: BLE001 - the device may already be gone
                pass
            try:
                s.close()
            except Exception:  # noqa: BLE001
                pass

    def _do_close(self) -> None:
        self._halt()
        self._close_stream()
        self.state = MonitorState.OFF

    def _do_configure(self, output: OutputSettings) -> None:
        was_open = self._stream is not None
        self._do_close()
        self.output = output
        if was_open:
            self._do_open()

    # -- source / chain -----------------------------------------------------------------------
    def _build(self, factory: ProcessorFactory | None) -> Processor | None:
        if factory is None or self._source is None:
            return None
        p = _force_processed(factory())
        src = self._source
        ensure_prepared(p, src.sample_rate, src.channels, self.output.render_block)
        # Warm the kernels (numba loads compiled code on its first call, holding the GIL) by
        # running a little silence through; render_blocks resets the state before playing.
        zeros = np.zeros((src.channels, self.output.chunk), np.float32)
        warm = min(p.latency + p.alignment + 2 * self.output.chunk, src.sample_rate)
        for _ in range(-(-warm // self.output.chunk)):
            p.process(zeros)
        return p

    def _do_set_source(self, source: BlockSource, factory: ProcessorFactory, ref: ProcessorFactory | None,
                       original: BlockSource | None = None) -> None:
        self._halt()
        source = source if isinstance(source, _SerialSource) else _SerialSource(source)
        self._original = None if original is None else _SerialSource(original)
        self._source, self._factory, self._ref_factory = source, factory, ref
        self._build(factory)  # fail early on a bad chain, and load its kernels before playing
        self._playhead = 0
        self._loop = None
        if self._stream is not None:
            want = devices.choose_rate(self.device, source.sample_rate, self.device_channels) if self._opener is None else self.device_rate
            if want != self.device_rate:
                self._close_stream()
                self.state = MonitorState.OFF
                self._do_open()
        self._setup_rate()

    def _do_set_chain(self, factory: ProcessorFactory, ref: ProcessorFactory | None) -> None:
        if self.state is MonitorState.PLAYING and self._voice is not None:
            proc = self._build(factory)
            refp = self._build(ref) if ref is not None else None
            self._factory, self._ref_factory = factory, ref
            self._switch(new_voice=lambda fp: self._make_voice(fp, proc, refp, fast=True))
        else:
            self._factory, self._ref_factory = factory, ref
        if ref is None and self._listen is ListenMode.SOLO:
            self._do_set_listen(ListenMode.PROCESSED)

    def _do_set_listen(self, mode: ListenMode) -> None:
        if mode is ListenMode.SOLO and self._ref_factory is None:
            raise ParameterError("solo needs a stage to solo: pick a stage (set_chain(..., solo_reference=...)) first")
        if mode is self._listen:
            return
        if self.state is MonitorState.PLAYING and self._voice is not None:
            self._switch(listen=mode)
        else:
            self._listen = mode

    def _make_voice(
        self, start: int, proc: Processor | None = None, ref: Processor | None = None, *, fast: bool = False
    ) -> Voice:
        """A voice from file sample ``start``; ``fast`` limits the preroll (a live switch)."""
        src = self._source
        assert src is not None
        if proc is None:
            proc = self._build(self._factory)
            if proc is None:
                raise ParameterError("no chain to monitor: set a source and a processor factory first")
            if self._ref_factory is not None and ref is None:
                ref = self._build(self._ref_factory)
        loop = self._loop if self._loop is not None and start < self._loop[1] else None
        preroll = None
        if fast:
            live = int(self.output.live_preroll_ms * src.sample_rate / 1000.0)
            full = max(proc.preroll, ref.preroll if ref is not None else 0)
            if full > live:
                preroll = live
                self._exact_pending = True
        self.voice_log.append((start, preroll is None))
        return Voice(
            src, proc, start=start, reference=ref, loop=loop, chunk=self.output.chunk,
            crossfade=self._xfade, block_size=self.output.render_block, preroll=preroll, original=self._original,
        )

    def _plan_upgrade(self) -> None:
        """Prepare an exact voice (full preroll) in a helper thread, to take over at ``t_P``.

        The fast voice (short preroll) is heard at once after a live change; meanwhile a primer
        thread builds the chain again and runs its full preroll from the file position the fast
        voice will reach at stream sample ``t_P`` (a little ahead). When the feeder reaches
        ``t_P`` with the primed voice ready, it switches to it at the ring's write frontier,
        crossfaded; the two differ only by the fast voice's not-yet-converged state. A primer
        that is late is dropped and retried further ahead, so the feeder never waits for it.
        """
        if self._primer is not None or self._voice is None or self._source is None:
            return
        src = self._source
        chunk = self.output.chunk
        lead = int(self._upgrade_lead_s * src.sample_rate)
        t_p = -(-(self._t_out + lead) // chunk) * chunk
        fp = self._voice.position_after(t_p - self._t_hist)
        gen = self._generation
        factory, ref_factory = self._factory, self._ref_factory
        job: dict[str, Any] = {"t": t_p, "gen": gen, "voice": None, "error": None}

        def prime() -> None:
            try:
                proc = self._build(factory)
                ref = self._build(ref_factory) if ref_factory is not None else None
                loop = self._loop if self._loop is not None and fp < self._loop[1] else None
                v = Voice(
                    src, proc, start=fp, reference=ref, loop=loop, chunk=chunk, crossfade=self._xfade,
                    block_size=self.output.render_block, original=self._original,
                )
                v.prime()
                job["voice"] = v
            except Exception as exc:  # noqa: BLE001 - reported by the feeder
                job["error"] = exc
            self._wake.set()

        self._primer = job
        threading.Thread(target=prime, name="roomtone-monitor-primer", daemon=True).start()

    def _take_upgrade(self) -> bool:
        """At stream sample ``t_P``: switch to the primed exact voice if it is ready."""
        job = self._primer
        if job is None or self._t_out != job["t"] or job["gen"] != self._generation:
            if job is not None and (self._t_out > job["t"] or job["gen"] != self._generation):
                self._drop_primer(job)
            return False
        voice = job["voice"]
        if voice is None:
            self._drop_primer(job)
            return False
        self._primer = None
        self._exact_pending = False
        self._upgrades += 1
        self.voice_log.append((voice.pos, True))
        self._switch(new_voice=lambda fp: voice, frontier=True, refill=False)
        return True

    def _drop_primer(self, job: dict) -> None:
        """A late or stale primer: forget it (its thread finishes on its own) and look further ahead."""
        if job.get("error") is not None:
            self.error = f"could not prepare the exact preview: {job['error']}"
            self._exact_pending = False
        elif job["gen"] == self._generation:
            self._upgrade_lead_s = min(4.0, self._upgrade_lead_s * 2.0)
        self._primer = None

    # -- transport ----------------------------------------------------------------------------
    def _do_play(self, from_s: float | None) -> None:
        if self._source is None or self._factory is None:
            raise ParameterError("nothing to play: open a file first")
        if self._stream is None:
            self._do_open()
        # The callback needs the GIL: a full garbage-collection pass over a big heap holds it for
        # 100-400 ms (measured), far longer than a device period. Freezing what exists now keeps
        # later full passes down to the objects made since.
        gc.freeze()
        src = self._source
        if from_s is not None:
            self._playhead = self._clamp(int(round(from_s * src.sample_rate)))
        if self.state is MonitorState.PLAYING:
            if from_s is not None:
                self._do_seek(from_s)
            return
        start = self._playhead
        if start >= src.frames:
            start = 0
        if self._loop is not None and not self._loop[0] <= start < self._loop[1]:
            start = self._loop[0]
        self._exact_pending = False
        self._cb_seen_at = time.monotonic()
        voice = self._make_voice(start)
        ring = self._ring
        assert ring is not None and self._resampler is not None and self._meters is not None
        # A new stream timeline: stream sample 0 <-> device frame 0 <-> ring frame `base`.
        t0 = 0
        self._resampler.reset(t0)
        self._meters.reset(0)
        base = ring.read_pos
        ring.reset(base)
        self._dev_base = base
        self._stop_at = None
        self._voice = voice
        self._t_hist = self._t_out = t0
        self._end_t = None
        self._xf = (t0, np.zeros((src.channels, self._xfade), np.float32))  # fade in
        self._heard_fallback = start
        self._fill()
        ring.expecting = True
        self.state = MonitorState.PLAYING

    def _do_stop(self) -> None:
        if self.state is not MonitorState.PLAYING:
            return
        self._switch(new_voice=lambda fp: None, stop=True)

    def _do_seek(self, position_s: float) -> None:
        if self._source is None:
            return
        target = self._clamp(int(round(position_s * self._source.sample_rate)))
        if self.state is MonitorState.PLAYING and self._voice is not None:
            self._switch(new_voice=lambda fp: self._make_voice(target, fast=True))
            self._heard_fallback = target
        else:
            self._playhead = target

    def _do_set_loop(self, start_s: float | None, end_s: float | None) -> None:
        src = self._source
        if src is None:
            return
        if start_s is None:
            new = None
        else:
            if end_s is None or not end_s > start_s:
                raise ParameterError(f"a loop needs end > start, got [{start_s}, {end_s}] s")
            a = self._clamp(int(round(start_s * src.sample_rate)))
            b = self._clamp(int(round(end_s * src.sample_rate)))
            if b - a < int(0.05 * src.sample_rate):
                raise ParameterError(f"a loop must be at least 50 ms long, got {(b - a) / src.sample_rate * 1000:.0f} ms")
            new = (a, b)
        if new == self._loop:
            return
        self._loop = new
        if self.state is MonitorState.PLAYING and self._voice is not None:
            def respawn(fp: int) -> Voice:
                if new is not None and not new[0] <= fp < new[1]:
                    fp = new[0]
                return self._make_voice(fp, fast=True)

            self._switch(new_voice=respawn)

    def _clamp(self, pos: int) -> int:
        frames = self._source.frames if self._source else 0
        return min(max(0, pos), frames)

    def _halt(self) -> None:
        """Stop at once (no fade): used when the source or device changes."""
        if self.state is MonitorState.PLAYING:
            self._playhead = self._position_samples()
        self._voice = None
        self._exact_pending = False
        self._primer = None
        if self._ring is not None:
            self._ring.expecting = False
            self._ring.write_pos = self._ring.read_pos
        if self.state is MonitorState.PLAYING:
            self.state = MonitorState.STOPPED

    def _position_samples(self) -> int:
        if self._source is None:
            return 0
        return int(round(self.position_s * self._source.sample_rate))

    # -- the feeder's work --------------------------------------------------------------------
    def _fill(self) -> None:
        ring, rs = self._ring, self._resampler
        assert ring is not None and rs is not None
        target = int(self.output.buffer_ms * self.device_rate / 1000.0)
        chunk = self.output.chunk
        while True:
            if self._end_t is not None and self._t_out >= self._end_t + 2 * chunk + rs.lookahead:
                ring.expecting = False
                if ring.fill == 0:
                    self._finish()
                return
            if ring.fill >= target:
                return
            if self._primer is not None and self._t_out >= self._primer["t"]:
                self._take_upgrade()
            t0 = time.thread_time()
            self._render_to(self._t_out + chunk)
            self._emit()
            self._cpu.append(time.thread_time() - t0)
            self._chunks += 1

    def _finish(self) -> None:
        """Playback ran out (end of file or stop fade done)."""
        src = self._source
        if self._stop_at is not None:
            self._playhead = self._stop_at
        elif src is not None:
            self._playhead = src.frames
        self._voice = None
        self.state = MonitorState.STOPPED

    def _render_to(self, t_end: int) -> None:
        """Extend the component history up to stream sample ``t_end`` (chunk-aligned)."""
        chunk = self.output.chunk
        src = self._source
        assert src is not None
        while self._t_hist < t_end:
            t = self._t_hist
            i = t % self._hist_n
            v = self._voice
            if v is None:
                self._h_p[:, i : i + chunk] = 0.0
                self._h_o[:, i : i + chunk] = 0.0
                self._h_r[:, i : i + chunk] = 0.0
                self._h_fp[i : i + chunk] = self._h_fp[(i - 1) % self._hist_n]
            else:
                c = v.pull(chunk)
                self._h_p[:, i : i + chunk] = c.processed
                self._h_o[:, i : i + chunk] = c.original
                if c.reference is not None:
                    self._h_r[:, i : i + chunk] = c.reference
                self._h_fp[i : i + chunk] = c.file_pos
                if v.eof_at is not None and self._end_t is None:
                    self._end_t = t + (v.eof_at - (v.pulled - chunk))
                    self._stop_at = None
            self._t_hist = t + chunk

    def _mode_signal(self, mode: ListenMode, i: int, n: int) -> np.ndarray:
        p = self._h_p[:, i : i + n]
        if mode is ListenMode.PROCESSED:
            return p.copy()
        if mode is ListenMode.ORIGINAL:
            return self._h_o[:, i : i + n].copy()
        if mode is ListenMode.REMOVED:
            return (self._h_o[:, i : i + n] - p).astype(np.float32, copy=False)
        return (self._h_r[:, i : i + n] - p).astype(np.float32, copy=False)

    def _mix_chunk(self, t: int) -> np.ndarray:
        """What the device gets for the chunk at stream sample ``t`` (listen mode + crossfade)."""
        chunk = self.output.chunk
        i = t % self._hist_n
        sig = self._mode_signal(self._listen, i, chunk)
        if self._xf is not None:
            xs, old = self._xf
            a, b = max(t, xs), min(t + chunk, xs + old.shape[1])
            if b > a:
                w = self._fade_in[a - xs : b - xs]
                sig[:, a - t : b - t] = old[:, a - xs : b - xs] * (1.0 - w) + sig[:, a - t : b - t] * w
        if self._end_t is not None and self._voice is None and t + chunk > self._end_t:
            sig[:, max(0, self._end_t - t) :] = 0.0  # after a stop fade: silence
        return sig

    def _emit(self) -> None:
        """Mix, meter, resample and write the next chunk into the ring."""
        chunk = self.output.chunk
        t = self._t_out
        sig = self._mix_chunk(t)
        if self._xf is not None and t + chunk >= self._xf[0] + self._xf[1].shape[1]:
            self._xf = None
        assert self._meters is not None and self._resampler is not None and self._ring is not None
        self._meters.push(sig)
        m0 = self._resampler.next_out
        y = self._resampler.push(sig)
        n = y.shape[1]
        if n:
            rs = self._resampler
            ts = (np.arange(m0, m0 + n, dtype=np.int64) * rs.down) // rs.up
            fp = self._h_fp[ts % self._hist_n]
            self._ring.write(self._to_device(y), fp)
        self._t_out = t + chunk

    def _to_device(self, y: np.ndarray) -> np.ndarray:
        ch = self.device_channels
        if y.shape[0] == ch:
            return y.T
        if y.shape[0] == 1:
            return np.repeat(y.T, ch, axis=1)
        return y[:ch].T

    # -- switching ----------------------------------------------------------------------------
    def _switch(
        self,
        *,
        new_voice: Callable[[int], Voice | None] | None = None,
        listen: ListenMode | None = None,
        stop: bool = False,
        frontier: bool = False,
        refill: bool = True,
    ) -> None:
        """Replace the audio from a switch point ``guard_ms`` ahead of the device on.

        A new voice is built and primed (its preroll run) *before* the ring is retracted, at a
        predicted switch point far enough ahead to cover the priming time (learnt as it goes),
        so the device never waits for it; if the prediction was short, the voice skips ahead
        to the actual switch point.
        """
        ring, rs, meters = self._ring, self._resampler, self._meters
        assert ring is not None and rs is not None and meters is not None and self._source is not None
        chunk = self.output.chunk
        guard = max(int(self.output.guard_ms * self.device_rate / 1000.0), 4 * self.output.block_size)
        base = self._dev_base

        def aligned_min() -> int:
            t_min = -(-(ring.read_pos - base + guard) * rs.down // rs.up)
            return -(-t_min // chunk) * chunk

        primed: Voice | None = None
        t_pred = 0
        if new_voice is not None and not stop and not frontier:
            margin = int(1.5 * self._prime_est_s * self._source.sample_rate)
            t_pred = -(-(aligned_min() + margin) // chunk) * chunk
            self._render_to(t_pred + chunk)  # the old voice's file position there
            fp = int(self._h_fp[t_pred % self._hist_n])
            t0 = time.perf_counter()
            primed = new_voice(fp)
            if primed is not None:
                primed.prime()
            self._prime_est_s = 0.7 * self._prime_est_s + 0.3 * (time.perf_counter() - t0)
            while self._t_out < t_pred:  # the ring ran shorter than the prediction: top up
                self._render_to(self._t_out + chunk)
                self._emit()
        t_s = max(aligned_min(), t_pred)
        if t_s < self._t_out and not frontier:
            s_dev = base + rs.out_index(t_s)
            if ring.retract(s_dev, guard=guard) == s_dev:
                rs.rewind(t_s)
                meters.rewind(t_s // chunk)
                self._t_out = t_s
            else:
                t_s = self._t_out
        else:
            t_s = self._t_out
        if primed is not None and t_s > t_pred:
            primed.pull(t_s - t_pred)  # the prediction was short: skip to the switch point
        self._last_lead = (base + rs.out_index(t_s) - ring.read_pos) / self.device_rate
        self._switches += 1
        # The old signal over the crossfade (history extended with the old voice if needed).
        xf = self._xfade
        self._render_to(-(-(t_s + xf) // chunk) * chunk)
        old = np.concatenate([self._mix_chunk(t) for t in range(t_s, t_s + xf, chunk)], axis=1)[:, :xf]
        if listen is not None:
            self._listen = listen
        if new_voice is not None:
            self._generation += 1
            fp = int(self._h_fp[t_s % self._hist_n])
            self._voice = primed if primed is not None else new_voice(fp)
            self._t_hist = t_s
            if self._end_t is not None and self._end_t > t_s:
                self._end_t = None
            if stop:
                self._exact_pending = False
                self._end_t = t_s + xf
                self._stop_at = fp
                self._playhead = fp
            elif self._voice is not None:
                self._end_t = None
                ring.expecting = True
        self._xf = (t_s, old)
        if refill:
            self._fill()
