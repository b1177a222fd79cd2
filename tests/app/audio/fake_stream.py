"""A stand-in output stream for monitor tests without a sound server: a thread that calls the
monitor's (Python) callback at the device's pace and records what it wrote."""

from __future__ import annotations

import threading
import time

import numpy as np


class FakeFlags:
    output_underflow = False

    def __bool__(self) -> bool:
        return False


class FakeStream:
    def __init__(self, callback, *, sample_rate, channels, block_size, speed=1.0, seconds=30.0):
        self.callback = callback
        self.sample_rate = sample_rate
        self.block = block_size
        self.speed = speed
        self.latency = block_size / sample_rate
        self.active = False
        self.out = np.zeros((int(seconds * sample_rate), channels), np.float32)
        self.n = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.vanish_after_s: float | None = None

    def start(self):
        self.active = True
        self._thread.start()

    def _run(self):
        buf = np.zeros((self.block, self.out.shape[1]), np.float32)
        period = self.block / self.sample_rate / self.speed
        t_next = time.perf_counter()
        t0 = t_next
        while self.active:
            if self.vanish_after_s is not None and time.perf_counter() - t0 > self.vanish_after_s:
                self.active = False  # the device vanished
                return
            self.callback(buf, self.block, None, FakeFlags())
            m = min(self.block, self.out.shape[0] - self.n)
            self.out[self.n : self.n + m] = buf[:m]
            self.n += m
            t_next += period
            time.sleep(max(0.0, t_next - time.perf_counter()))

    def stop(self):
        self.active = False

    abort = stop

    def close(self):
        self.active = False
        if self._thread.is_alive():
            self._thread.join(2.0)


class FakeOpener:
    """``Monitor(stream_opener=FakeOpener())``; ``.streams`` holds every stream opened."""

    def __init__(self, **kw):
        self.kw = kw
        self.streams: list[FakeStream] = []

    def __call__(self, device, *, sample_rate, channels, block_size, callback, finished_callback=None):
        s = FakeStream(callback, sample_rate=sample_rate, channels=channels, block_size=block_size, **self.kw)
        self.streams.append(s)
        return s
