"""THE render loop. Monitoring, Apply, export, the CLI and batch all go through ``render_blocks``.

``render_blocks(source, processor, start=a, stop=b)`` yields the processed samples of ``[a, b)``,
latency-trimmed (output sample ``n`` aligned with input sample ``n``). It starts
``processor.preroll`` samples early (rounded down to ``processor.alignment``), so a render from
a playhead equals the same span of a full render; past the end of the source it feeds zeros
to flush the latency. The full render is simply ``start=0, stop=frames``.
"""

from __future__ import annotations

import platform
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from dsp.allocator import tune_allocator
from dsp.engine import AudioSpec, Processor
from dsp.errors import Cancelled, ParameterError

tune_allocator()  # per-block arrays come from the heap, not fresh pages (dsp/allocator.py)

#: Samples per render block (5.5 s at 48 kHz): long enough for the STFT's two-thread pipeline
#: (dsp.stft) to keep both threads busy, short enough for prompt progress and cancel.
DEFAULT_BLOCK = 262144


class BlockSource(Protocol):
    """Random-access audio: ``read(start, n)`` -> ``(channels, n)`` float32 within ``[0, frames)``."""

    @property
    def sample_rate(self) -> int: ...

    @property
    def channels(self) -> int: ...

    @property
    def frames(self) -> int: ...

    def read(self, start: int, frames: int) -> np.ndarray: ...


class ArraySource:
    """A :class:`BlockSource` over an in-memory ``(channels, samples)`` array."""

    def __init__(self, audio: np.ndarray, sample_rate: int) -> None:
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim == 1:
            audio = audio[None, :]
        self.audio = np.ascontiguousarray(audio)
        self.sample_rate = int(sample_rate)
        self.channels = self.audio.shape[0]
        self.frames = self.audio.shape[1]

    def read(self, start: int, frames: int) -> np.ndarray:
        return self.audio[:, start : start + frames]


class PipeSource:
    """A :class:`BlockSource` that one thread fills in order while another reads it.

    The producer pushes ``(start, block)`` pieces (:meth:`push`), ``start`` never past what it
    pushed so far (a piece's part already held is ignored: a source read twice, a render redone,
    tee into it harmlessly); the consumer's :meth:`read` waits until its span has arrived. Reads
    must not go back before the previous read's start: what lies before it is let go, and the
    producer waits while it is ``capacity`` samples ahead of that, so memory is bounded by the
    capacity plus one piece (make it at least the consumer's longest read). :meth:`close` ends
    the stream (reads past it then fail); :meth:`abort` (either side giving up) makes pushes
    no-ops and reads fail, so neither thread can be left waiting for the other.

    Parameters
    ----------
    sample_rate, channels, frames : int
        The stream's format and full length.
    capacity : int
        Samples the producer may be ahead of the consumer's last read start.
    """

    def __init__(self, sample_rate: int, channels: int, frames: int, *, capacity: int) -> None:
        self.sample_rate, self.channels, self.frames = int(sample_rate), int(channels), int(frames)
        self.capacity = max(1, int(capacity))
        self._pieces: list[tuple[int, np.ndarray]] = []  # consecutive, from self._base on
        self._base = 0  # the consumer's last read start: nothing before it is kept
        self._end = 0  # pushed so far
        self._closed = False
        self._failed: str | None = None
        self._cv = threading.Condition()

    @property
    def end(self) -> int:
        """Samples pushed so far."""
        return self._end

    def push(self, start: int, block: np.ndarray, *, copy: bool = True) -> None:
        """Append the part of ``block`` (``(channels, n)``, starting at sample ``start``) past what is held.

        ``copy=False`` keeps the array itself: only for a producer that never changes a block it
        has pushed (a fresh array per read, say)."""
        n = block.shape[1]
        with self._cv:
            if self._failed is not None or self._closed:
                return
            if start > self._end:
                self._failed = f"the stream skipped samples {self._end}-{start}"
                self._cv.notify_all()
                return
            skip = self._end - start
            if skip >= n:
                return
            while self._end - self._base >= self.capacity and self._failed is None:
                self._cv.wait()
            if self._failed is not None:
                return
            piece = block[:, skip:]
            self._pieces.append((self._end, np.array(piece, np.float32, copy=True) if copy else piece))
            self._end = start + n
            self._cv.notify_all()

    def close(self) -> None:
        """The producer is done."""
        with self._cv:
            self._closed = True
            self._cv.notify_all()

    def abort(self, why: str = "the stream was abandoned") -> None:
        """Give up: pushes become no-ops, waiting and later reads raise ParameterError."""
        with self._cv:
            if self._failed is None:
                self._failed = why
            self._pieces = []
            self._cv.notify_all()

    def read(self, start: int, frames: int) -> np.ndarray:
        stop = start + frames
        with self._cv:
            if start < self._base:
                raise ParameterError(f"piped stream read at {start}, before what it keeps ({self._base})")
            self._base = start
            while self._pieces and self._pieces[0][0] + self._pieces[0][1].shape[1] <= start:
                self._pieces.pop(0)
            self._cv.notify_all()  # room for the producer
            while self._end < stop and self._failed is None and not self._closed:
                self._cv.wait()
            if self._failed is not None:
                raise ParameterError(f"piped stream failed: {self._failed}")
            if self._end < stop:
                raise ParameterError(f"piped stream ended at {self._end}, read asked for {start}-{stop}")
            parts = [p[:, max(0, start - a) : stop - a] for a, p in self._pieces if a < stop and a + p.shape[1] > start]
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)


class ReadAhead:
    """A :class:`BlockSource` that reads the next piece of ``source`` on a thread of its own while
    the caller works on this one: for a reader that goes through a file in order (the render
    loop, a measuring pass), the decoding overlaps the work. A read that is not the one guessed
    (the same length, right after the last) is done there and then; one read of ``source`` is in
    flight at a time, so ``source`` needs no locking. Use as a context manager (or
    :meth:`close`) so that no read is left running when ``source`` closes.
    """

    def __init__(self, source: BlockSource) -> None:
        self.source = source
        self.sample_rate, self.channels, self.frames = source.sample_rate, source.channels, source.frames
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="roomtone-read")
        self._next: tuple[int, int, Any] | None = None  # (start, frames, future)

    def read(self, start: int, frames: int) -> np.ndarray:
        ahead, self._next = self._next, None
        if ahead is not None and ahead[0] == start and ahead[1] == frames:
            block = ahead[2].result()
        else:
            if ahead is not None:
                ahead[2].exception()  # wait (its error, if any, is not this read's)
            block = self.source.read(start, frames)
        after = start + frames
        if 0 < frames and after < self.frames:
            n = min(frames, self.frames - after)
            self._next = (after, n, self._pool.submit(self.source.read, after, n))
        return block

    def close(self) -> None:
        if self._next is not None:
            self._next[2].exception()
            self._next = None
        self._pool.shutdown(wait=True)

    def __enter__(self) -> ReadAhead:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class TappedSource:
    """A :class:`BlockSource` that hands every piece it reads to ``tap(start, block)`` too."""

    def __init__(self, source: BlockSource, tap: Callable[[int, np.ndarray], None]) -> None:
        self.source, self.tap = source, tap
        self.sample_rate, self.channels, self.frames = source.sample_rate, source.channels, source.frames

    def read(self, start: int, frames: int) -> np.ndarray:
        block = self.source.read(start, frames)
        self.tap(start, block)
        return block


def as_source(audio: Any, sample_rate: int) -> BlockSource:
    """A :class:`BlockSource` for ``audio``: an array ``(channels, samples)`` / ``(samples,)``
    becomes an :class:`ArraySource`; a BlockSource is checked and returned as it is."""
    if isinstance(audio, (np.ndarray, list, tuple)):
        arr = np.asarray(audio, np.float32)
        if arr.ndim not in (1, 2):
            raise ParameterError(f"expected audio of shape (channels, samples) or (samples,), got {arr.shape}")
        return ArraySource(arr, sample_rate)
    for attr in ("sample_rate", "channels", "frames", "read"):
        if not hasattr(audio, attr):
            raise ParameterError(f"expected a numpy array or a BlockSource, got {type(audio).__name__}")
    if int(audio.sample_rate) != int(sample_rate):
        raise ParameterError(f"the source is at {audio.sample_rate} Hz but sample_rate={sample_rate} was given")
    return audio


def ensure_prepared(processor: Processor, sample_rate: int, channels: int, block_size: int) -> None:
    """Prepare ``processor`` unless it already is for this rate, channel count and block size."""
    spec = processor.spec
    if spec is None or spec.sample_rate != sample_rate or spec.channels != channels or spec.max_block < block_size:
        processor.prepare(AudioSpec(sample_rate, channels, max(block_size, spec.max_block if spec else 0)))


def render_blocks(
    source: BlockSource,
    processor: Processor,
    *,
    start: int = 0,
    stop: int | None = None,
    block_size: int = DEFAULT_BLOCK,
    preroll: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> Iterator[np.ndarray]:
    """Yield processed, latency-trimmed ``(channels, n)`` blocks covering ``[start, stop)``.

    ``progress(done, total)`` is called after each block (samples of the span); ``cancel()``
    returning true raises :class:`~dsp.errors.Cancelled` between blocks.
    """
    frames = source.frames
    stop = frames if stop is None else int(stop)
    if not 0 <= start <= stop <= frames:
        raise ParameterError(f"render span [{start}, {stop}) is outside the source's {frames} samples")
    if block_size < 1:
        raise ParameterError(f"block_size must be >= 1, got {block_size}")
    ensure_prepared(processor, source.sample_rate, source.channels, block_size)
    latency = processor.latency
    pre = processor.preroll if preroll is None else int(preroll)
    pos0 = max(0, start - pre)
    pos0 -= pos0 % processor.alignment
    processor.reset(position=pos0)
    skip = start - pos0 + latency
    feed_end = stop + latency
    need = stop - start
    emitted = 0
    pos = pos0
    while emitted < need:
        if cancel is not None and cancel():
            raise Cancelled("cancelled by the user; nothing was written")
        n = min(block_size, feed_end - pos)
        if pos + n <= frames:
            block = source.read(pos, n)
        else:
            block = np.zeros((source.channels, n), np.float32)
            avail = max(0, frames - pos)
            if avail:
                block[:, :avail] = source.read(pos, avail)
        out = processor.process(np.ascontiguousarray(block, dtype=np.float32))
        pos += n
        if skip:
            d = min(skip, out.shape[1])
            out = out[:, d:]
            skip -= d
        if out.shape[1]:
            out = out[:, : need - emitted]
            emitted += out.shape[1]
            if progress is not None:
                progress(emitted, need)
            yield out


def render_array(
    audio: np.ndarray, sample_rate: int, processor: Processor, *, block_size: int = DEFAULT_BLOCK, **kw
) -> np.ndarray:
    """Render a whole in-memory array (tests, analyses of short files)."""
    src = ArraySource(audio, sample_rate)
    parts = list(render_blocks(src, processor, block_size=block_size, **kw))
    if not parts:
        return np.zeros((src.channels, 0), np.float32)
    return np.concatenate(parts, axis=1)


def software_versions() -> dict[str, str]:
    """Versions that affect a render's output (recorded with every render)."""
    import numba
    import scipy
    import soundfile

    from dsp import __version__

    return {
        "roomtone": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "numba": numba.__version__,
        "soundfile": soundfile.__version__,
        "libsndfile": soundfile.__libsndfile_version__,
    }


@dataclass
class RenderRecord:
    """What a render did: inputs, output, settings, versions, timing (written beside outputs)."""

    source: str
    output: str
    format: str
    sample_rate: int
    channels: int
    frames: int
    chain: dict
    settings: dict = field(default_factory=dict)
    versions: dict = field(default_factory=software_versions)
    nonfinite_samples: int = 0
    seconds: float = 0.0

    @property
    def realtime_factor(self) -> float:
        return (self.frames / self.sample_rate) / self.seconds if self.seconds > 0 else float("inf")

    def to_dict(self) -> dict:
        from dataclasses import asdict

        d = asdict(self)
        d["realtime_factor"] = round(self.realtime_factor, 1)
        return d


def render_file(
    source_path,
    output_path,
    processor: Processor,
    *,
    fmt: str | None = None,
    settings: dict | None = None,
    block_size: int = DEFAULT_BLOCK,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    post: Callable[[np.ndarray], np.ndarray] | None = None,
    edits: Any = None,
    source_tap: Callable[[int, np.ndarray], None] | None = None,
) -> RenderRecord:
    """Render ``source_path`` through ``processor`` into ``output_path``, atomically.

    The output keeps the source's rate and channels; its name's extension decides the
    container, and ``fmt`` (the encoding) defaults to the source's own depth (see
    :func:`dsp.io.output_format`). ``edits``: a :class:`dsp.edits.EditSetup` whose edit list is
    applied to the chain's output (:class:`dsp.edits.EditRenderer`; cuts shorten the output).
    ``source_tap(start, block)`` sees every piece of the source the render reads, in order (e.g.
    to analyse it beside the render without decoding it again: :class:`PipeSource`). It is called
    on the thread that decodes ahead, as each piece is decoded, so its work (a copy, say) is not
    the render's; a render that stops early may have tapped the piece after its last.
    """
    from dsp.io import AtomicWriter, AudioReader, output_format

    t0 = time.perf_counter()
    with AudioReader(source_path) as reader, ReadAhead(
        reader if source_tap is None else TappedSource(reader, source_tap)
    ) as ahead:  # the tap sees each piece on the reading thread, as it is decoded
        fmt = output_format(output_path, fmt, reader.info)
        with AtomicWriter(output_path, reader.sample_rate, reader.channels, fmt, sources=(source_path,),
                          background=True) as w:
            src: BlockSource = ahead
            if edits is None:
                blocks, frames = render_blocks(src, processor, block_size=block_size, progress=progress,
                                               cancel=cancel), reader.frames
            else:
                renderer = edits.renderer(src, processor, block_size=block_size)
                blocks, frames = renderer.blocks(progress=progress, cancel=cancel), renderer.frames
            for block in blocks:
                w.write(post(block) if post is not None else block)
            w.commit()
        return RenderRecord(
            source=str(source_path), output=str(output_path), format=fmt,
            sample_rate=reader.sample_rate, channels=reader.channels, frames=frames,
            chain=processor.describe(), settings=settings or {},
            nonfinite_samples=reader.nonfinite_count, seconds=time.perf_counter() - t0,
        )
