"""PipeSource (one thread fills, another reads) and FramePowers (frame powers of a stream)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from dsp.errors import ParameterError
from dsp.render import ArraySource, PipeSource, TappedSource
from dsp.strength import FramePowers, frame_powers


def _feed(pipe: PipeSource, x: np.ndarray, pieces: list[int], *, overlap: int = 0, peak: list | None = None) -> None:
    """Push ``x`` in pieces of the given sizes, each also re-sending ``overlap`` samples already sent."""
    at = 0
    for n in pieces:
        a = max(0, at - overlap)
        pipe.push(a, x[:, a : at + n])
        at += n
        if peak is not None:
            peak.append(pipe.end - pipe._base)
    pipe.close()


def test_reads_on_another_thread_see_the_stream_and_memory_stays_bounded():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 100_000)).astype(np.float32)
    pipe = PipeSource(48000, 2, x.shape[1], capacity=9000)
    sizes = [int(s) for s in rng.integers(500, 4000, 100)]
    sizes = sizes[: int(np.searchsorted(np.cumsum(sizes), x.shape[1]))] + [x.shape[1]]
    ahead: list[int] = []
    producer = threading.Thread(target=_feed, args=(pipe, x, sizes), kwargs={"overlap": 300, "peak": ahead})
    producer.start()
    ref = ArraySource(x, 48000)
    # like the hole detector: chunks that overlap the previous one, never going back further
    for s0 in range(0, x.shape[1] - 6000, 5000):
        np.testing.assert_array_equal(pipe.read(s0, 6000), ref.read(s0, 6000))
        assert sum(p.shape[1] for _, p in pipe._pieces) <= 9000 + 4000 + 6000
    producer.join(timeout=10)
    assert not producer.is_alive()
    assert max(ahead) < 9000 + 4000  # the producer waited: at most the capacity plus one piece ahead
    with pytest.raises(ParameterError, match="before what it keeps"):
        pipe.read(0, 10)


def test_abort_frees_a_waiting_producer_and_a_waiting_reader():
    x = np.zeros((1, 50_000), np.float32)
    pipe = PipeSource(16000, 1, x.shape[1], capacity=1000)
    done = threading.Event()

    def produce():
        _feed(pipe, x, [1000] * 50)
        done.set()

    t = threading.Thread(target=produce)
    t.start()
    time.sleep(0.2)
    assert not done.is_set()  # full: waiting for a reader that never comes
    pipe.abort("the reader gave up")
    assert done.wait(5)
    with pytest.raises(ParameterError, match="the reader gave up"):
        pipe.read(0, 10)

    pipe = PipeSource(16000, 1, 10_000, capacity=1000)
    out: list = []

    def consume():
        try:
            pipe.read(0, 5000)
        except ParameterError as exc:
            out.append(str(exc))

    t = threading.Thread(target=consume)
    t.start()
    pipe.push(0, x[:, :100])
    time.sleep(0.1)
    pipe.abort("the render stopped")
    t.join(5)
    assert out and "the render stopped" in out[0]


def test_a_stream_that_skips_or_ends_early_fails_the_read():
    x = np.ones((1, 1000), np.float32)
    pipe = PipeSource(8000, 1, 1000, capacity=5000)
    pipe.push(0, x[:, :100])
    pipe.push(200, x[:, 200:300])  # a gap: the data the reader would get is not there
    with pytest.raises(ParameterError, match="skipped samples 100-200"):
        pipe.read(0, 50)
    pipe = PipeSource(8000, 1, 1000, capacity=5000)
    pipe.push(0, x[:, :100])
    pipe.close()
    np.testing.assert_array_equal(pipe.read(0, 100), x[:, :100])
    with pytest.raises(ParameterError, match="ended at 100"):
        pipe.read(50, 100)


def test_tapped_source_hands_over_what_it_reads():
    x = np.arange(20, dtype=np.float32)[None]
    seen = []
    src = TappedSource(ArraySource(x, 8000), lambda a, b: seen.append((a, b.copy())))
    np.testing.assert_array_equal(src.read(5, 4), x[:, 5:9])
    assert seen[0][0] == 5 and np.array_equal(seen[0][1], x[:, 5:9])


@pytest.mark.parametrize("channels", [1, 2])
def test_frame_powers_of_a_stream_equal_the_files_bit_for_bit(channels):
    rng = np.random.default_rng(channels)
    sr = 8000
    n = sr * 130 + 77  # three 60 s pieces, the last partial, and a trailing partial frame
    x = (rng.standard_normal((channels, n)) * 0.1 + 0.01).astype(np.float32)
    want = frame_powers(ArraySource(x, sr), frame_s=0.02)
    acc = FramePowers(sr, n, frame_s=0.02)
    at = 0
    for size in rng.integers(1, 70_000, 200):
        acc.add(x[:, at : at + int(size)])
        at += int(size)
        if at >= n:
            break
    assert at >= n
    got = acc.result()
    assert got.shape == want.shape == (n // 160,)
    np.testing.assert_array_equal(got, want)
    short = FramePowers(sr, n, frame_s=0.02)
    short.add(x[:, : n // 2])
    with pytest.raises(ParameterError, match="ended after"):
        short.result()


def test_pushed_pieces_are_copied_unless_the_producer_says_they_never_change():
    x = np.arange(10, dtype=np.float32)[None]
    pipe = PipeSource(8000, 1, 20, capacity=100)
    block = x.copy()
    pipe.push(0, block)
    block[:] = -1.0  # the producer reuses its buffer
    np.testing.assert_array_equal(pipe.read(0, 10), x)
    fresh = x.copy()
    pipe.push(10, fresh, copy=False)
    assert np.shares_memory(pipe.read(10, 10), fresh)
