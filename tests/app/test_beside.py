"""The loudness pass meters on a thread of its own (app.pipeline._Beside): every block, in order;
the meter's error reaches the caller; the caller's error does not hang on the meter."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from app.pipeline import _Beside


def test_every_block_arrives_in_order():
    seen = []
    blocks = [np.full(3, i, np.float32) for i in range(200)]
    with _Beside(lambda b: seen.append(int(b[0]))) as beside:
        for b in blocks:
            beside.put(b)
    assert seen == list(range(200))


def test_the_meters_error_is_raised_on_the_callers_thread():
    def fn(block):
        if block[0] == 5:
            raise ValueError("meter broke at block 5")

    with pytest.raises(ValueError, match="block 5"):
        with _Beside(fn, depth=2) as beside:
            for i in range(50):
                beside.put(np.full(1, i))
                time.sleep(0.001)


def test_an_error_in_the_loop_stops_the_meter_without_waiting_for_it():
    started = threading.Event()

    def slow(block):
        started.set()
        time.sleep(0.05)

    t0 = time.perf_counter()
    with pytest.raises(RuntimeError, match="writer"):
        with _Beside(slow, depth=4) as beside:
            for _ in range(4):
                beside.put(np.zeros(1))
            started.wait(5)
            raise RuntimeError("the writer failed")
    assert time.perf_counter() - t0 < 1.0  # not 4 x 50 ms queued after the error, let alone a hang
    assert not any(t.name == "roomtone-meter" and t.is_alive() for t in threading.enumerate())
