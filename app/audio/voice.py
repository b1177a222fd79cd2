"""One "voice" of the monitor: the chain rendered from a file position on, chunk by chunk.

A voice runs :func:`dsp.render.render_blocks` (so it starts with preroll and its output equals
the offline render of the same span), reads the original samples of the same span, and, when
soloing a stage, runs a second chain (the reference: the chain without that stage) in lockstep.
It hands out exactly ``n`` samples per :meth:`Voice.pull`; past the end of the file it returns
silence and sets :attr:`Voice.eof_at`. With a loop ``[a, b)`` it renders ``crossfade`` samples
past ``b`` and crossfades them with the restart at ``a`` (all components alike, so
``removed == original - processed`` still holds), so the loop seam is click-free.
Units: samples at the file's rate; audio ``(channels, samples)`` float32.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from dsp.engine import Processor
from dsp.render import BlockSource, render_blocks


@dataclass
class Components:
    """A span of the three signals the listen modes are made of, plus source positions."""

    processed: np.ndarray  # (channels, n) float32
    original: np.ndarray  # (channels, n) float32
    reference: np.ndarray | None  # (channels, n) float32: the chain without the soloed stage
    file_pos: np.ndarray  # (n,) int64: source sample of each output sample


class _Stream:
    """Exact-length pulls from a ``render_blocks`` generator."""

    def __init__(self, gen: Iterator[np.ndarray], channels: int) -> None:
        self._gen = gen
        self._buf = np.zeros((channels, 0), np.float32)
        self.channels = channels

    def prime(self) -> None:
        if self._buf.shape[1] == 0:
            try:
                self._buf = np.ascontiguousarray(next(self._gen))
            except StopIteration:
                pass

    def pull(self, n: int) -> np.ndarray:
        parts = [self._buf]
        have = self._buf.shape[1]
        while have < n:
            try:
                block = next(self._gen)
            except StopIteration:
                break
            parts.append(block)
            have += block.shape[1]
        joined = np.concatenate(parts, axis=1) if len(parts) > 1 else self._buf
        if joined.shape[1] < n:  # generator exhausted: pad with silence
            joined = np.concatenate([joined, np.zeros((self.channels, n - joined.shape[1]), np.float32)], axis=1)
        self._buf = joined[:, n:]
        return np.ascontiguousarray(joined[:, :n])


class Voice:
    """Render ``processor`` (and optionally ``reference``) from ``start`` with an optional loop."""

    def __init__(
        self,
        source: BlockSource,
        processor: Processor,
        *,
        start: int,
        reference: Processor | None = None,
        loop: tuple[int, int] | None = None,
        chunk: int = 256,
        crossfade: int = 240,
        block_size: int | None = None,
        preroll: int | None = None,
        original: BlockSource | None = None,
    ) -> None:
        self.source = source
        #: what the original component reads (default: the source itself)
        self.original = source if original is None else original
        self.processor = processor
        self.reference = reference
        self.chunk = int(chunk)
        self.block_size = int(block_size or chunk)
        #: Samples of history rendered before ``start`` (None: the chain's full preroll, so the
        #: output equals the offline render; less: faster to start, converging to it).
        self.preroll = preroll
        self.crossfade = int(crossfade)
        self.frames = int(source.frames)
        if loop is not None:
            a, b = int(loop[0]), int(loop[1])
            if not 0 <= a < b <= self.frames:
                raise ValueError(f"loop [{a}, {b}) outside the file's {self.frames} samples")
            if b - a < 2 * self.crossfade + 1:
                loop = None
            else:
                loop = (a, b)
        self.loop = loop
        self.pos = min(max(0, int(start)), self.frames)
        self.eof_at: int | None = None  # samples pulled when the end of the file was reached
        self.pulled = 0
        self._seam: Components | None = None  # tail past the loop end, for the seam crossfade
        self._seam_used = 0
        t = np.arange(self.crossfade, dtype=np.float64)
        self._fade_in = (np.sin(0.5 * np.pi * (t + 0.5) / max(1, self.crossfade)) ** 2).astype(np.float32)
        self._open(self.pos)

    # -- segments ---------------------------------------------------------------------------
    def _segment_stop(self, start: int) -> int:
        if self.loop is not None and start < self.loop[1]:
            return min(self.loop[1] + self.crossfade, self.frames)
        return self.frames

    def _open(self, start: int) -> None:
        self._seg_start = start
        self._seg_stop = self._segment_stop(start)
        self._wrap_at = self.loop[1] if self.loop is not None and start < self.loop[1] else None
        ch = self.source.channels
        kw = dict(start=start, stop=self._seg_stop, block_size=self.block_size, preroll=self.preroll)
        self._p = _Stream(render_blocks(self.source, self.processor, **kw), ch)
        self._r = (
            _Stream(render_blocks(self.source, self.reference, **kw), ch)
            if self.reference is not None
            else None
        )
        self.pos = start

    def _raw(self, n: int) -> Components:
        """``n`` samples of the current segment (silence past its end)."""
        ch = self.source.channels
        p = self._p.pull(n)
        r = self._r.pull(n) if self._r is not None else None
        avail = max(0, min(n, self._seg_stop - self.pos))
        o = np.zeros((ch, n), np.float32)
        if avail:
            o[:, :avail] = self.original.read(self.pos, avail)
        fp = np.minimum(np.arange(self.pos, self.pos + n, dtype=np.int64), self.frames)
        self.pos += n
        return Components(p, o, r, fp)

    # -- public -----------------------------------------------------------------------------
    def position_after(self, k: int) -> int:
        """The file position this voice will be at after ``k`` more samples (loop-aware)."""
        p = self.pos
        if self._wrap_at is not None and self.loop is not None:
            a, b = self.loop
            if p + k < b:
                return p + k
            return a + (p + k - b) % (b - a)
        return min(p + k, self.frames)

    def prime(self) -> None:
        """Run the preroll now (the first block of each render), without consuming output."""
        self._p.prime()
        if self._r is not None:
            self._r.prime()

    def pull(self, n: int) -> Components:
        """Exactly ``n`` samples from the current position on."""
        out: list[Components] = []
        need = n
        while need:
            if self._wrap_at is not None and self.pos >= self._wrap_at:
                # Past the loop end: keep `crossfade` more samples, then restart at the loop start.
                self._seam = self._raw(max(0, min(self.crossfade, self.frames - self.pos)))
                self._seam_used = 0
                self._open(self.loop[0])  # type: ignore[index]
            limit = need
            if self._wrap_at is not None:
                limit = min(limit, self._wrap_at - self.pos)
            pos_before = self.pos
            c = self._raw(limit)
            if self._seam is not None:
                self._apply_seam(c)
            out.append(c)
            if self.eof_at is None and self._wrap_at is None and self.pos >= self.frames:
                self.eof_at = self.pulled + (n - need) + max(0, self.frames - pos_before)
            need -= limit
        self.pulled += n
        if len(out) == 1:
            return out[0]
        return Components(
            np.concatenate([c.processed for c in out], axis=1),
            np.concatenate([c.original for c in out], axis=1),
            np.concatenate([c.reference for c in out], axis=1) if out[0].reference is not None else None,
            np.concatenate([c.file_pos for c in out]),
        )

    def _apply_seam(self, c: Components) -> None:
        seam = self._seam
        assert seam is not None
        k0 = self._seam_used
        k1 = min(seam.processed.shape[1], k0 + c.processed.shape[1])
        if k1 > k0:
            m = k1 - k0
            w = self._fade_in[k0:k1]
            c.processed[:, :m] = seam.processed[:, k0:k1] * (1.0 - w) + c.processed[:, :m] * w
            c.original[:, :m] = seam.original[:, k0:k1] * (1.0 - w) + c.original[:, :m] * w
            if c.reference is not None and seam.reference is not None:
                c.reference[:, :m] = seam.reference[:, k0:k1] * (1.0 - w) + c.reference[:, :m] * w
        self._seam_used = k1
        if k1 >= seam.processed.shape[1]:
            self._seam = None
