"""Decoding ahead of the render loop and encoding behind it change when the work happens, not what
is read or written, and a failure still leaves no file under the target's name."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from dsp.errors import OutputError
from dsp.io import AtomicWriter, AudioReader
from dsp.render import ArraySource, ReadAhead


def _noise(channels: int, n: int, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal((channels, n)) * 0.2).astype(np.float32)


def test_read_ahead_returns_what_the_source_returns_in_any_order(tmp_path):
    x = _noise(2, 50_000)
    path = tmp_path / "x.flac"
    sf.write(path, x.T, 16000, subtype="PCM_24")
    calls = []
    with AudioReader(path) as reader, AudioReader(path) as plain:

        class Counting:
            sample_rate, channels, frames = reader.sample_rate, reader.channels, reader.frames

            def read(self, start, n):
                calls.append((start, n))
                return reader.read(start, n)

        with ReadAhead(Counting()) as ahead:
            for start, n in [(0, 7000), (7000, 7000), (14000, 7000), (30000, 500), (30500, 500), (2000, 9),
                             (49000, 1000)]:
                np.testing.assert_array_equal(ahead.read(start, n), plain.read(start, n))
    # the guessed reads were made (and used) ahead: (7000, 7000) was read once, not twice
    assert calls.count((7000, 7000)) == 1 and calls.count((14000, 7000)) == 1
    assert (21000, 7000) in calls  # guessed after (14000, 7000), then not used: no harm


def test_read_ahead_raises_a_failed_read_where_it_is_asked_for():
    class Failing(ArraySource):
        def read(self, start, n):
            if start >= 3000:
                raise OSError("the disk went away")
            return super().read(start, n)

    src = Failing(_noise(1, 10_000), 8000)
    with ReadAhead(src) as ahead:
        ahead.read(0, 1000)
        ahead.read(1000, 1000)
        ahead.read(2000, 1000)  # the read of 3000.. is already running, and failing
        with pytest.raises(OSError, match="went away"):
            ahead.read(3000, 1000)


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("fmt", ["wav16", "flac24", "float32"])
def test_encoding_behind_writes_the_same_file(tmp_path, fmt, channels):
    x = _noise(channels, 100_000, 3)
    x[:, 5] = 1.5  # clipped by the integer formats, counted either way
    files = []
    for background in (False, True):
        ext = ".flac" if fmt.startswith("flac") else ".wav"
        target = tmp_path / f"{fmt}-{background}{ext}"
        with AtomicWriter(target, 48000, channels, fmt, background=background) as w:
            for i in range(0, x.shape[1], 7777):
                block = x[:, i : i + 7777].copy()
                w.write(block)
                block[:] = 0.0  # the caller reuses its buffer: what was written must not change
            w.commit()
        files.append((target, w.clipped_samples, w.frames_written))
    (a, ca, fa), (b, cb, fb) = files
    np.testing.assert_array_equal(sf.read(a, dtype="float32")[0], sf.read(b, dtype="float32")[0])
    assert (ca, fa) == (cb, fb) and fa == x.shape[1]


def test_a_failed_encode_is_raised_and_nothing_is_renamed(tmp_path):
    target = tmp_path / "out.wav"
    w = AtomicWriter(target, 48000, 1, "wav16", background=True)

    def full(frame):
        raise OutputError(f"{target}: disk full while writing; free some space or choose another folder")

    w._put = full
    with pytest.raises(OutputError, match="disk full"):
        with w:
            for _ in range(50):
                w.write(_noise(1, 1000))
            w.commit()
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []  # no temporary file left either
