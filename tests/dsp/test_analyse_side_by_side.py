"""dsp.chain.analyse_source: the stages' analyses side by side give the context one after the other does."""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass

import numpy as np
import pytest

from dsp.chain import (
    BuildContext,
    ChainSettings,
    StageKind,
    StageSpec,
    analyse_source,
    register,
    unregister,
)
from dsp.engine import Gain
from dsp.render import ArraySource


@dataclass(frozen=True)
class _S:
    gain_db: float = 0.0


def _level(source, settings, context):
    x = source.read(0, source.frames)
    threads.add(threading.current_thread().name)
    return dataclasses.replace(context, extras={**context.extras, "t_level": float(np.abs(x).max())})


def _hum(source, settings, context):
    threads.add(threading.current_thread().name)
    return dataclasses.replace(context, hum=("hum", source.frames), extras={**context.extras, "t_hum_seen": True})


threads: set[str] = set()


@pytest.fixture
def kinds():
    register(StageKind("t_level", "Level", _S, "time", lambda s, c: Gain(0.0), role="utility", analyse=_level))
    register(StageKind("t_hum", "Hum", _S, "time", lambda s, c: Gain(0.0), role="utility", analyse=_hum))
    yield
    unregister("t_level")
    unregister("t_hum")


def test_side_by_side_equals_one_after_the_other(kinds):
    x = np.random.default_rng(0).standard_normal((1, 4800)).astype(np.float32)
    src = ArraySource(x, 48000)
    chain = ChainSettings(stages=(StageSpec("t_level", _S()), StageSpec("t_hum", _S()),
                                  StageSpec("t_level", _S(), bypass=True)))
    base = BuildContext(48000, 1, extras={"given": 1})
    one = analyse_source(src, chain, base)
    threads.clear()
    opened = []

    def open_reader():
        opened.append(1)
        return ArraySource(x, 48000)

    two = analyse_source(src, chain, base, open_reader=open_reader, max_workers=2)
    assert len(opened) == 2  # one reader per active analysis
    assert all(t.startswith("roomtone-analyse") for t in threads)
    assert two.hum == one.hum == ("hum", 4800)
    assert two.extras.keys() == one.extras.keys()
    assert two.extras["t_level"] == one.extras["t_level"] and two.extras["given"] == 1 and two.extras["t_hum_seen"]
