"""The streaming STFT engine: one analysis / overlap-add loop running per-frame spectral stages.

Algorithm
---------
Input is framed every ``hop_length`` samples with a periodic window, transformed with
``scipy.fft.rfft`` (float32 in, complex64 out), handed to the spectral stages in order (each
modifies the spectra in place), transformed back and overlap-added with the synthesis window.
Analysis and synthesis windows are chosen so that their product overlap-adds to a constant
(periodic Hann for hop = n_fft/4 or n_fft/8, square-root Hann for hop = n_fft/2), which is
divided out: with no stage, output equals input delayed by ``latency = n_fft`` samples, to
float32 rounding.

Frames are numbered absolutely: frame ``f`` covers input samples ``[f*hop - (n_fft - hop),
f*hop + hop)``, so a render started at any hop-aligned position sees the same frame grid (and
the same seeded noise) as a render from zero. Frames are batched: however the input is cut into
blocks, each frame is computed by the same operations in the same order, so output is
bit-identical for any block size (batched and single FFTs agree bit for bit in pocketfft).

Units: spectra are ``(channels, frames, bins)`` complex64 with ``bins = n_fft // 2 + 1``; gains
are linear amplitude factors; bin ``k`` is at ``k * sample_rate / n_fft`` Hz.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

import numpy as np
import scipy.fft

from dsp.engine import AudioSpec, Processor, check_block
from dsp.errors import ParameterError
from dsp.jit import realtime_kernel
from dsp.schema import check_settings, setting

#: Size of one sub-batch of the two-thread pipeline, in frames x bins (64 frames of n_fft 2048,
#: 0.68 s at 48 kHz). Smaller sub-batches spend more time on Python glue and lock hand-offs (both
#: under the GIL) than they gain: 16-frame batches measured no faster than one thread.
PIPELINE_BATCH_CELLS = 65536
#: Fewest frames in a block for pocketfft to use more than one thread: on the monitor's few-frame
#: blocks starting its threads costs more than it saves (and has cost device xruns).
FFT_THREADS_MIN_FRAMES = 32


def pipeline_batch_frames(bins: int) -> int:
    """Frames per pipeline sub-batch for spectra of ``bins`` bins (at least 8)."""
    return max(8, PIPELINE_BATCH_CELLS // max(1, bins))


def stft_threads() -> int:
    """Threads an STFT render may use: ``ROOMTONE_STFT_THREADS``, else the CPU count, at most 2.

    Batch workers set the variable to their share of the cores. The output never depends on it.
    """
    value = os.environ.get("ROOMTONE_STFT_THREADS", "")
    try:
        wanted = int(value) if value else (os.cpu_count() or 1)
    except ValueError:
        wanted = 1
    return max(1, min(2, wanted))


def default_n_fft(sample_rate: int) -> int:
    """About 43 ms frames: 2048 at 44.1/48 kHz, 1024 at 22.05-32 kHz, 512 at 16 kHz, 4096 at 96 kHz."""
    target = 0.0427 * sample_rate
    return int(2 ** round(np.log2(target)))


@dataclass(frozen=True)
class StftSettings:
    """Frame size and hop. ``n_fft`` 0 picks :func:`default_n_fft` for the sample rate."""

    n_fft: int = setting(0, choices=(0, 128, 256, 512, 1024, 2048, 4096, 8192, 16384),
                         doc="Frame size (0 picks one for the sample rate).")
    overlap: int = setting(4, choices=(2, 4, 8), doc="Frames per frame length: hop = n_fft / overlap.")

    def __post_init__(self) -> None:
        check_settings(self, "stft")

    def resolve(self, sample_rate: int) -> tuple[int, int]:
        n_fft = self.n_fft or default_n_fft(sample_rate)
        if n_fft < 128 or n_fft > 16384 or n_fft & (n_fft - 1):
            raise ParameterError(f"n_fft must be a power of two between 128 and 16384, got {n_fft}")
        if self.overlap not in (2, 4, 8):
            raise ParameterError(f"overlap must be 2, 4 or 8 (hop = n_fft / overlap), got {self.overlap}")
        return n_fft, n_fft // self.overlap


def stft_windows(n_fft: int, hop_length: int) -> tuple[np.ndarray, np.ndarray]:
    """Analysis and synthesis windows whose product overlap-adds to exactly 1 at this hop."""
    n = np.arange(n_fft)
    hann = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / n_fft)
    if n_fft // hop_length == 2:
        analysis = np.sqrt(hann)
    else:
        analysis = hann
    synthesis = analysis.copy()
    # The OLA sum of analysis*synthesis is constant for these pairs; divide it out of synthesis.
    ola = np.zeros(hop_length)
    prod = analysis * synthesis
    for start in range(0, n_fft, hop_length):
        ola += prod[start : start + hop_length]
    if not np.allclose(ola, ola[0], rtol=1e-9):
        raise ParameterError(f"no perfect-reconstruction window for n_fft={n_fft}, hop={hop_length}")
    synthesis = synthesis / ola[0]
    return analysis.astype(np.float32), synthesis.astype(np.float32)


@dataclass
class StftGeometry:
    """What a spectral stage needs to know about the frames it gets."""

    sample_rate: int
    channels: int
    n_fft: int
    hop_length: int

    @property
    def bins(self) -> int:
        return self.n_fft // 2 + 1

    @property
    def frame_rate(self) -> float:
        """Frames per second."""
        return self.sample_rate / self.hop_length

    def bin_frequencies(self) -> np.ndarray:
        """Centre frequency of each bin, Hz."""
        return np.arange(self.bins) * (self.sample_rate / self.n_fft)

    def frame_start_sample(self, frame: int) -> int:
        """Absolute input sample where frame ``frame``'s window starts."""
        return frame * self.hop_length - (self.n_fft - self.hop_length)


class FrameBlock:
    """A batch of frames as the stages see it.

    ``spectra`` is modified in place by the stages; ``original`` holds the input spectra
    before any stage (read-only); ``gain`` is the cumulative linear gain applied by the gain
    stages so far (for the chain's total reduction cap and for later passes' noise estimates);
    ``first_frame`` is the absolute index of frame 0 in this batch.
    """

    __slots__ = ("spectra", "original", "gain", "first_frame", "total_floor")

    def __init__(self, spectra: np.ndarray, first_frame: int, total_floor: float) -> None:
        self.spectra = spectra
        self.original = spectra.copy()
        self.gain = np.ones(spectra.shape, np.float32)
        self.first_frame = first_frame
        self.total_floor = np.float32(total_floor)

    @property
    def frames(self) -> int:
        return self.spectra.shape[1]

    def apply_gain(self, gain: np.ndarray, mix: float = 1.0) -> None:
        """Apply a real gain (same shape as spectra), blended ``mix`` wet, within the total cap."""
        _apply_gain(self.spectra, self.gain, gain, np.float32(mix), self.total_floor)


@realtime_kernel
def _apply_gain(spectra, gain_cum, gain, mix, total_floor):  # pragma: no cover - compiled
    c_n, k_n, b_n = spectra.shape
    for c in range(c_n):
        for k in range(k_n):
            for b in range(b_n):
                g = np.float32(1.0) - mix + mix * gain[c, k, b]
                gc = gain_cum[c, k, b]
                if g * gc < total_floor:
                    g = total_floor / gc
                spectra[c, k, b] *= g
                gain_cum[c, k, b] = gc * g


class SpectralStage:
    """A per-frame stage inside :class:`StftProcessor` (a denoise pass, hole refill, ...).

    Stages are causal: a frame's output depends only on it and earlier frames, with short
    memory. ``preroll_frames`` is how many frames of history make the state converge.
    """

    preroll_frames = 0
    geometry: StftGeometry | None = None

    def prepare(self, geometry: StftGeometry) -> None:
        self.geometry = geometry
        self.reset(first_frame=0)

    def reset(self, *, first_frame: int) -> None:  # noqa: B027 - stateless default
        """Forget state; the next frame processed has absolute index ``first_frame``."""

    def process_frames(self, frames: FrameBlock) -> None:
        raise NotImplementedError

    def describe(self) -> dict:
        settings = getattr(self, "settings", None)
        out: dict = {"type": type(self).__name__}
        if settings is not None:
            from dataclasses import asdict

            out["settings"] = asdict(settings)
        return out


@realtime_kernel
def _frame_windowed(x, n_frames, n_fft, hop, window, out):  # pragma: no cover - compiled
    c_n = x.shape[0]
    for c in range(c_n):
        for k in range(n_frames):
            s = k * hop
            for i in range(n_fft):
                out[c, k, i] = x[c, s + i] * window[i]


@realtime_kernel
def _overlap_add(frames, hop, window, acc):  # pragma: no cover - compiled
    # acc[:, k*hop : k*hop + n_fft] += frames[:, k] * window, frames in order.
    # (1-D views per frame let LLVM vectorise the inner loop behind one overlap check.)
    c_n, k_n, n_fft = frames.shape
    for c in range(c_n):
        for k in range(k_n):
            s = k * hop
            dst = acc[c, s : s + n_fft]
            src = frames[c, k]
            for i in range(n_fft):
                dst[i] += src[i] * window[i]


def frame_signal(x: np.ndarray, n_fft: int, hop_length: int, window: np.ndarray) -> np.ndarray:
    """Windowed frames ``(channels, frames, n_fft)`` of ``x`` ``(channels, samples)``."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    n_frames = 0 if x.shape[1] < n_fft else (x.shape[1] - n_fft) // hop_length + 1
    out = np.empty((x.shape[0], n_frames, n_fft), np.float32)
    if n_frames:
        _frame_windowed(x, n_frames, n_fft, hop_length, np.ascontiguousarray(window, np.float32), out)
    return out


def overlap_add(frames: np.ndarray, hop_length: int, window: np.ndarray, acc: np.ndarray) -> None:
    """Add windowed ``frames`` ``(channels, frames, n_fft)`` into ``acc`` at hop spacing, in place."""
    need = (frames.shape[1] - 1) * hop_length + frames.shape[2] if frames.shape[1] else 0
    if acc.shape[0] != frames.shape[0] or acc.shape[1] < need:
        raise ParameterError(f"overlap-add buffer {acc.shape} too small for {frames.shape} at hop {hop_length}")
    if frames.shape[1]:
        _overlap_add(np.ascontiguousarray(frames), hop_length, np.ascontiguousarray(window, np.float32), acc)


class StftProcessor(Processor):
    """Runs :class:`SpectralStage` objects inside one streaming STFT (latency ``n_fft``)."""

    def __init__(
        self,
        stages: list[SpectralStage] | None = None,
        *,
        settings: StftSettings = StftSettings(),
        max_total_reduction_db: float = 15.0,
    ) -> None:
        self.stages = list(stages or [])
        self.settings = settings
        if max_total_reduction_db < 0:
            raise ParameterError(f"max_total_reduction_db must be >= 0 dB, got {max_total_reduction_db}")
        self.max_total_reduction_db = float(max_total_reduction_db)
        self.geometry: StftGeometry | None = None
        self._executor: ThreadPoolExecutor | None = None

    # -- contract -------------------------------------------------------------------------
    @property
    def latency(self) -> int:
        return self._n_fft

    @property
    def alignment(self) -> int:
        return self._hop

    @property
    def preroll(self) -> int:
        extra = max((s.preroll_frames for s in self.stages), default=0)
        return self._n_fft + extra * self._hop

    @property
    def _n_fft(self) -> int:
        if self.geometry is None:
            raise RuntimeError("StftProcessor.prepare(spec) must be called first")
        return self.geometry.n_fft

    @property
    def _hop(self) -> int:
        if self.geometry is None:
            raise RuntimeError("StftProcessor.prepare(spec) must be called first")
        return self.geometry.hop_length

    def prepare(self, spec: AudioSpec) -> None:
        self.spec = spec
        n_fft, hop = self.settings.resolve(spec.sample_rate)
        self.geometry = StftGeometry(spec.sample_rate, spec.channels, n_fft, hop)
        self._analysis, self._synthesis = stft_windows(n_fft, hop)
        for stage in self.stages:
            stage.prepare(self.geometry)
        self._threads = stft_threads()
        # Where a pipelined render's time goes (for the split only; the output never depends on it).
        self._stage_seconds = [0.0] * len(self.stages)
        self._fixed_seconds = [0.0, 0.0]  # frames + rfft (the worker's), irfft + overlap-add (the caller's)
        self.reset()

    def reset(self, *, position: int = 0) -> None:
        g = self.geometry
        if g is None:
            return
        if position % g.hop_length:
            raise ParameterError(
                f"an STFT render must start on its hop grid ({g.hop_length} samples); got sample {position}"
            )
        pad = g.n_fft - g.hop_length
        self._in_tail = np.zeros((g.channels, pad), np.float32)
        self._ola_tail = np.zeros((g.channels, pad), np.float32)
        self._out_queue = np.zeros((g.channels, g.hop_length), np.float32)
        # The first frame's window starts `pad` samples before `position`.
        self._next_frame = position // g.hop_length
        for stage in self.stages:
            stage.reset(first_frame=self._next_frame)

    def process(self, block: np.ndarray) -> np.ndarray:
        g = self.geometry
        if g is None:
            raise RuntimeError("StftProcessor.prepare(spec) must be called before process()")
        block = check_block(block, g.channels)
        n = block.shape[1]
        x = np.concatenate([self._in_tail, block], axis=1)
        n_fft, hop = g.n_fft, g.hop_length
        k_n = 0 if x.shape[1] < n_fft else (x.shape[1] - n_fft) // hop + 1
        if k_n:
            acc = np.zeros((g.channels, k_n * hop + n_fft - hop), np.float32)
            acc[:, : n_fft - hop] = self._ola_tail
            # The pipeline pays off from about four sub-batches a block (render blocks); monitoring's
            # short blocks stay on the calling thread, with no bookkeeping.
            if self._threads > 1 and self.stages and k_n >= 4 * pipeline_batch_frames(g.bins):
                self._process_pipelined(x, k_n, acc)
            else:
                self._process_frames(x, k_n, acc, self._threads if k_n >= FFT_THREADS_MIN_FRAMES else 1)
            self._ola_tail = acc[:, k_n * hop :].copy()
            self._out_queue = np.concatenate([self._out_queue, acc[:, : k_n * hop]], axis=1)
            self._in_tail = x[:, k_n * hop :].copy()
            self._next_frame += k_n
        else:
            self._in_tail = x
        out = self._out_queue[:, :n]
        self._out_queue = self._out_queue[:, n:]
        return np.ascontiguousarray(out)

    # -- the frame loop -------------------------------------------------------------------------
    # A block's frames ``[a, b)`` go through: frame + rfft ("front"), the stages in order, irfft +
    # overlap-add into ``acc`` ("back"). Cutting a block into sub-batches is the same as cutting the
    # input into smaller blocks, which gives bit-identical output (block-size invariance), so the
    # two-thread pipeline below changes when the work happens, never what it computes.

    def _spectra(self, x: np.ndarray, a: int, b: int, fft_workers: int) -> np.ndarray:
        """Spectra of the block's frames ``[a, b)``."""
        g = self.geometry
        assert g is not None  # prepared
        hop, n_fft = g.hop_length, g.n_fft
        frames = frame_signal(x[:, a * hop : (b - 1) * hop + n_fft], n_fft, hop, self._analysis)
        return scipy.fft.rfft(frames, axis=-1, workers=fft_workers, overwrite_x=True)

    def _frame_block(self, spectra: np.ndarray, a: int) -> FrameBlock:
        return FrameBlock(spectra, self._next_frame + a, 10.0 ** (-self.max_total_reduction_db / 20.0))

    def _overlap_add(self, spectra: np.ndarray, a: int, acc: np.ndarray, fft_workers: int) -> None:
        """Inverse transform of frames starting at the block's frame ``a``, added into ``acc``."""
        g = self.geometry
        assert g is not None  # prepared
        y = scipy.fft.irfft(spectra, n=g.n_fft, axis=-1, workers=fft_workers, overwrite_x=True)
        overlap_add(y.astype(np.float32, copy=False), g.hop_length, self._synthesis, acc[:, a * g.hop_length :])

    def _process_frames(self, x: np.ndarray, k_n: int, acc: np.ndarray, fft_workers: int) -> None:
        """The whole block on the calling thread (the identity STFT makes no FrameBlock copies)."""
        spectra = self._spectra(x, 0, k_n, fft_workers)
        if self.stages:
            fb = self._frame_block(spectra, 0)
            for stage in self.stages:
                stage.process_frames(fb)
            spectra = fb.spectra
        self._overlap_add(spectra, 0, acc, fft_workers)

    def _run_timed(self, fb: FrameBlock, lo: int, hi: int) -> None:
        """Stages ``[lo, hi)`` on ``fb``, their times added up for :meth:`_split_point`."""
        for i in range(lo, hi):
            t0 = time.perf_counter()
            self.stages[i].process_frames(fb)
            self._stage_seconds[i] += time.perf_counter() - t0

    def _split_point(self) -> int:
        """Stages ``[0, s)`` run on the worker thread with the forward FFTs, ``[s, n)`` on the caller's
        with the inverse FFTs: the split that best balances the two threads' times measured so far.

        What the caller does between two ``process`` calls (reading, the processors before and
        after this one, writing) does not count on either side: the worker has nothing to do
        then (a block's front halves are all submitted when ``process`` starts and all done when
        it returns), so that time adds to the block's whatever the split, and only the longer
        of the two halves inside ``process`` can be shortened.
        """
        n = len(self.stages)
        costs = self._stage_seconds
        total = sum(costs)
        if total <= 0.0:
            return (n + 1) // 2
        fixed_front, fixed_back = self._fixed_seconds
        best, best_cost, front = 0, float("inf"), 0.0
        for s in range(n + 1):
            cost = max(fixed_front + front, fixed_back + total - front)
            if cost < best_cost:
                best, best_cost = s, cost
            if s < n:
                front += costs[s]
        return best

    def _process_pipelined(self, x: np.ndarray, k_n: int, acc: np.ndarray) -> None:
        """Two threads: the worker runs frames + rfft + the first stages on sub-batch j+1 while the
        caller runs the remaining stages + irfft + overlap-add on sub-batch j. Each stage still sees
        every frame in order, on one thread at a time."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="roomtone-stft")
        split = self._split_point()
        n = len(self.stages)
        assert self.geometry is not None  # prepared
        step = pipeline_batch_frames(self.geometry.bins)

        def front(a: int, b: int) -> FrameBlock:
            t0 = time.perf_counter()
            fb = self._frame_block(self._spectra(x, a, b, 1), a)
            self._fixed_seconds[0] += time.perf_counter() - t0
            self._run_timed(fb, 0, split)
            return fb

        # One worker thread runs the submitted front halves in submission order.
        futures: list[tuple[int, Future]] = [
            (a, self._executor.submit(front, a, min(a + step, k_n))) for a in range(0, k_n, step)
        ]
        try:
            for a, future in futures:
                fb = future.result()
                self._run_timed(fb, split, n)
                t0 = time.perf_counter()
                self._overlap_add(fb.spectra, a, acc, 1)
                self._fixed_seconds[1] += time.perf_counter() - t0
        except BaseException:
            # the first error is the one raised: drop the queued halves, let a running one finish
            for _, future in futures:
                future.cancel()
            wait([future for _, future in futures])
            raise

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_executor"] = None
        return state

    def close(self) -> None:
        """Stop the pipeline's worker thread (it is also stopped when the processor is collected)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    def describe(self) -> dict:
        g = self.geometry
        return {
            "type": "StftProcessor",
            "n_fft": g.n_fft if g else self.settings.n_fft,
            "hop_length": g.hop_length if g else None,
            "max_total_reduction_db": self.max_total_reduction_db,
            "stages": [s.describe() for s in self.stages],
        }
