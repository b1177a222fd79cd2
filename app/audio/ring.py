"""The single-producer / single-consumer ring between the feeder thread and the audio callback.

The ring is *mirrored* (Friture's ``ringbuffer.py`` idea): every frame is stored twice, at
``i`` and ``i + capacity``, so any read of up to ``capacity`` frames starting anywhere is one
contiguous slice and the callback does a single ``outdata[:] = buf[i:i + n]`` copy.

Positions are absolute frame counters (Python ints) that only ever grow, except that the feeder
may *retract* ``write_pos`` to replace audio that has not been played yet (see
:meth:`MirroredRing.retract`): that is how a seek, a listen switch or a settings change reaches
the ears within a few tens of milliseconds although the ring normally holds much more.

Who writes what:

* the feeder writes ``buf``, ``file_pos`` and ``write_pos`` (and ``expecting``);
* the callback (:class:`RingPlayer`) writes ``read_pos`` and the counters, nothing else.

No locks: counters live in a small int64 *header* in the same memory block as the audio, so
the callback can be native code (:func:`native_callback`, a numba ``cfunc`` handed to PortAudio
directly) that never needs the GIL: a garbage-collection pass or a busy GUI thread can stall
Python for longer than a device period, but not the callback. Each counter is one aligned
64-bit store; the feeder fills the buffer before it publishes the new ``write_pos`` (x86-64 and
ARM64 keep a single aligned store atomic; on x86-64 stores are also seen in program order).
:class:`RingPlayer` is the same callback in Python (the reference, and for fake streams).
"""

from __future__ import annotations

import numpy as np

import dsp.jit  # noqa: F401 - sets NUMBA_CACHE_DIR before numba reads its config

# Header layout (int64 slots) shared with the native callback.
_READ, _WRITE, _EXPECTING, _UNDERRUNS, _XRUNS, _CALLBACKS, _FLAGS, _CAPACITY, _CHANNELS = range(9)
HEADER_SLOTS = 16  # 128 bytes = 32 float32 slots before the audio
_AUDIO_OFFSET = 2 * HEADER_SLOTS  # in float32 units
PA_OUTPUT_UNDERFLOW = 0x4  # PortAudio's paOutputUnderflow status flag


class MirroredRing:
    """A mirrored ``(frames, channels)`` float32 ring with absolute read/write counters.

    ``file_pos`` runs beside the audio: for every device frame, the source sample (at the
    file's rate) it was rendered from, so the GUI can map "the frame playing now" to the
    playhead.
    """

    def __init__(self, capacity: int, channels: int) -> None:
        if capacity < 16:
            raise ValueError(f"ring capacity must be at least 16 frames, got {capacity}")
        self.capacity = int(capacity)
        self.channels = int(channels)
        n_audio = 2 * self.capacity * self.channels
        #: One block: the int64 header, then the mirrored float32 audio (what the callback reads).
        self.block = np.zeros(_AUDIO_OFFSET + n_audio, np.float32)
        self.block.fill(0.0)  # touch every page now, not in the audio thread
        self.header = self.block[:_AUDIO_OFFSET].view(np.int64)
        self.buf = self.block[_AUDIO_OFFSET:].reshape(2 * self.capacity, self.channels)
        self.header[_CAPACITY] = self.capacity
        self.header[_CHANNELS] = self.channels
        self.file_pos = np.zeros(self.capacity, np.int64)

    # -- counters (header slots) ------------------------------------------------------------
    @property
    def read_pos(self) -> int:
        return int(self.header[_READ])

    @read_pos.setter
    def read_pos(self, value: int) -> None:
        self.header[_READ] = value

    @property
    def write_pos(self) -> int:
        return int(self.header[_WRITE])

    @write_pos.setter
    def write_pos(self, value: int) -> None:
        self.header[_WRITE] = value

    @property
    def expecting(self) -> bool:
        """True while the feeder promises more audio: running dry then is an underrun."""
        return bool(self.header[_EXPECTING])

    @expecting.setter
    def expecting(self, value: bool) -> None:
        self.header[_EXPECTING] = 1 if value else 0

    @property
    def underruns(self) -> int:
        return int(self.header[_UNDERRUNS])

    @property
    def xruns(self) -> int:
        return int(self.header[_XRUNS])

    @property
    def callbacks(self) -> int:
        return int(self.header[_CALLBACKS])

    @property
    def status_flags(self) -> int:
        return int(self.header[_FLAGS])

    @property
    def address(self) -> int:
        """Address of the block (the native callback's ``userData``); keep the ring alive."""
        return int(self.block.ctypes.data)

    # -- feeder side ----------------------------------------------------------------------
    @property
    def fill(self) -> int:
        """Frames written but not yet handed to the device."""
        return max(0, self.write_pos - self.read_pos)

    @property
    def space(self) -> int:
        return self.capacity - self.fill

    def reset(self, position: int = 0) -> None:
        """Empty the ring and restart both counters at ``position`` (feeder, stream stopped)."""
        self.expecting = False
        self.read_pos = position
        self.write_pos = position

    def write(self, frames: np.ndarray, file_pos: np.ndarray | None = None) -> None:
        """Append ``(n, channels)`` frames at ``write_pos`` (caller checked :attr:`space`)."""
        n = frames.shape[0]
        if n == 0:
            return
        if n > self.space:
            raise ValueError(f"ring overflow: {n} frames offered, {self.space} free")
        cap = self.capacity
        i = self.write_pos % cap
        first = min(n, cap - i)
        self.buf[i : i + first] = frames[:first]
        self.buf[i + cap : i + cap + first] = frames[:first]
        if first < n:
            rest = n - first
            self.buf[:rest] = frames[first:]
            self.buf[cap : cap + rest] = frames[first:]
        if file_pos is not None:
            self.file_pos[i : i + first] = file_pos[:first]
            if first < n:
                self.file_pos[: n - first] = file_pos[first:]
        # Publish only after the data is in place.
        self.write_pos = self.write_pos + n

    def retract(self, target: int, *, guard: int) -> int:
        """Drop unplayed audio from ``target`` on, so the feeder can write something else there.

        ``target`` must leave at least ``guard`` frames (several callback blocks) between the
        callback's read position and the cut, so a callback running concurrently never reads
        across it. Returns the new ``write_pos`` (``target``), or the old one unchanged when
        ``target`` is not inside the unplayed part or too close to the read position.
        """
        old = self.write_pos
        if not self.read_pos + guard <= target < old:
            return old
        self.write_pos = target
        # A callback that loaded the old write_pos just before our store reads at most one
        # block past read_pos; guard covers several. If the read position still crossed the
        # cut (the feeder thread was descheduled for a long time), restore and give up.
        if self.read_pos + guard // 2 > target:
            self.write_pos = old
            return old
        return target

    def file_position_at(self, frame: int) -> int | None:
        """Source sample of device frame ``frame`` if it is still in the ring's window."""
        if frame < 0 or frame >= self.write_pos or frame < self.write_pos - self.capacity:
            return None
        return int(self.file_pos[frame % self.capacity])


class RingPlayer:
    """The callback in Python (reference implementation; used with fake streams in tests).

    ``underruns`` counts callbacks that found the ring short while the feeder promised audio;
    ``xruns`` counts the host's own output-underflow flags (the callback ran late) while audio
    was playing (a late callback during silence is inaudible; ``status_flags`` counts every
    flagged call); ``callbacks`` counts calls. All counters live in the ring's header.
    """

    __slots__ = ("ring", "header", "buf", "capacity")

    def __init__(self, ring: MirroredRing) -> None:
        self.ring = ring
        self.header = ring.header
        self.buf = ring.buf
        self.capacity = ring.capacity

    @property
    def underruns(self) -> int:
        return self.ring.underruns

    @property
    def xruns(self) -> int:
        return self.ring.xruns

    @property
    def callbacks(self) -> int:
        return self.ring.callbacks

    @property
    def status_flags(self) -> int:
        return self.ring.status_flags

    def __call__(self, outdata, frames, time_info, status) -> None:  # noqa: ANN001 - PortAudio's signature
        h = self.header
        h[_CALLBACKS] += 1
        expecting = h[_EXPECTING]
        if status:
            h[_FLAGS] += 1
            if status.output_underflow and expecting:
                h[_XRUNS] += 1
        r = h[_READ]
        avail = h[_WRITE] - r
        if avail >= frames:
            i = r % self.capacity
            outdata[:] = self.buf[i : i + frames]
            h[_READ] = r + frames
            return
        if avail > 0:
            i = r % self.capacity
            outdata[:avail] = self.buf[i : i + avail]
            outdata[avail:] = 0.0
            h[_READ] = r + avail
        else:
            outdata.fill(0.0)
        if expecting:
            h[_UNDERRUNS] += 1


_NATIVE = None


def native_callback() -> int:
    """Address of the native PortAudio callback (compiled on first use, cached on disk).

    ``int callback(const void *in, void *out, unsigned long frames, const PaStreamCallbackTimeInfo*,
    PaStreamCallbackFlags flags, void *user)`` with ``user`` = :attr:`MirroredRing.address`: the
    same copy-and-count as :class:`RingPlayer`, in nopython code that never takes the GIL.
    Call it before opening a stream (compiling is slow), never from the audio thread.
    """
    global _NATIVE
    if _NATIVE is None:
        from numba import carray, cfunc, types

        sig = types.intc(types.voidptr, types.voidptr, types.uint64, types.voidptr, types.uint64, types.voidptr)

        @cfunc(sig, nopython=True, cache=True, error_model="numpy")
        def _ring_callback(inp, outp, frames, time_info, status, user):  # pragma: no cover - native
            h = carray(user, (HEADER_SLOTS,), np.int64)
            cap = h[_CAPACITY]
            ch = h[_CHANNELS]
            data = carray(user, (_AUDIO_OFFSET + 2 * cap * ch,), np.float32)
            out = carray(outp, (frames * ch,), np.float32)
            h[_CALLBACKS] += 1
            expecting = h[_EXPECTING]
            if status != 0:
                h[_FLAGS] += 1
                if (status & PA_OUTPUT_UNDERFLOW) != 0 and expecting != 0:
                    h[_XRUNS] += 1
            r = h[_READ]
            avail = h[_WRITE] - r
            n = frames if avail >= frames else (avail if avail > 0 else 0)
            base = _AUDIO_OFFSET + (r % cap) * ch
            for k in range(n * ch):
                out[k] = data[base + k]
            for k in range(n * ch, frames * ch):
                out[k] = 0.0
            h[_READ] = r + n
            if n < frames and expecting != 0:
                h[_UNDERRUNS] += 1
            return 0

        _NATIVE = _ring_callback
    return int(_NATIVE.address)


def native_callback_ctypes():
    """The native callback as a ctypes function (tests call it directly)."""
    native_callback()
    return _NATIVE.ctypes
