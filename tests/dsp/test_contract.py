"""The engine contract for every registered stage kind (issue 20, "contracts that run").

Each kind, built with its default settings through the product's own set-up
(:func:`app.pipeline.prepare_processor`: its whole-file analyses, an automatic room tone where it
needs one), must:

* give the same output whatever the block size (1, 17, 512, 4096 samples);
* come back latency-trimmed, as long as its input, finite;
* render from a playhead (with its preroll) the span of the full render (to float rounding);
* after ``reset`` (a second render with the same processor) give what a fresh one gives;
* treat two identical channels identically.

A new kind is checked the day it is registered: nothing here names the kinds. A stand-in kind
that breaks the contract is registered for one test and must fail it (then it is removed).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pytest

from app.pipeline import prepare_processor
from dsp.chain import (
    ChainSettings,
    StageKind,
    StageSpec,
    build_chain,
    register,
    registry,
    stage_kind,
    unregister,
)
from dsp.engine import AudioSpec, Processor, check_block
from dsp.render import ArraySource, render_array, render_blocks

SR = 48000
BLOCKS = (17, 512, 4096)
#: A playhead render starts the recursive estimates (noise trackers, decision-directed SNR) from the
#: preroll, not from the file's start: they agree to float rounding, not bit for bit (-120 dBFS).
PLAYHEAD_ATOL = 1e-6


def _signal(seconds: float, channels: int = 1, seed: int = 0) -> np.ndarray:
    """Speech-like bursts (a 140 Hz voice with harmonics, syllable-rate envelope) over pink-ish
    noise with a 50 Hz hum and two clicks: something for every kind of stage to act on."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    voice = sum(np.sin(2 * np.pi * 140 * k * t + k) / k for k in range(1, 12))
    env = np.clip(np.sin(2 * np.pi * 2.2 * t), 0, None) * (t % 2.0 > 0.6)
    noise = np.cumsum(rng.standard_normal(n)) * 0.0005
    noise -= np.convolve(noise, np.ones(401) / 401, mode="same")
    x = 0.08 * voice * env + noise + 0.01 * rng.standard_normal(n) + 0.01 * np.sin(2 * np.pi * 50 * t)
    for c in (int(0.3 * n), int(0.8 * n)):
        x[c : c + 48] += 0.3 * np.hanning(48)
    return np.repeat(x.astype(np.float32)[None], channels, axis=0)


def _kinds() -> list[str]:
    return sorted(registry())


def _build(kind: str, x: np.ndarray):
    """A factory of fresh processors for the kind alone, with the analyses of ``x`` done once."""
    spec = StageSpec(kind, stage_kind(kind).settings_cls())
    chain = ChainSettings(stages=(spec,), name=f"contract-{kind}")
    src = ArraySource(x, SR)
    _, context = prepare_processor(src, chain, auto_profile=True)
    return lambda: build_chain(chain, context)


def check_contract(kind: str) -> None:
    """Raise AssertionError where ``kind`` breaks the engine contract (the module docstring)."""
    x = _signal(3.0)
    make = _build(kind, x)
    ref = render_array(x, SR, make(), block_size=4096)
    assert ref.shape == x.shape, f"{kind}: {ref.shape} out for {x.shape} in (latency not trimmed?)"
    assert np.all(np.isfinite(ref)), f"{kind}: non-finite output"
    for block in BLOCKS:
        np.testing.assert_array_equal(render_array(x, SR, make(), block_size=block), ref,
                                      err_msg=f"{kind}: block size {block} changes the output")
    short = x[:, : SR // 4]
    make_short = _build(kind, short)
    np.testing.assert_array_equal(render_array(short, SR, make_short(), block_size=1),
                                  render_array(short, SR, make_short(), block_size=4096),
                                  err_msg=f"{kind}: one-sample blocks change the output")
    for start in (0, 1, 24577, int(1.7 * SR) + 3):
        stop = min(start + SR // 2, x.shape[1])
        part = np.concatenate(list(render_blocks(ArraySource(x, SR), make(), start=start, stop=stop, block_size=700)),
                              axis=1)
        np.testing.assert_allclose(part, ref[:, start:stop], rtol=0, atol=PLAYHEAD_ATOL,
                                   err_msg=f"{kind}: playhead {start} differs")
    proc = make()
    render_array(_signal(3.0, seed=9), SR, proc)  # dirty its state
    np.testing.assert_array_equal(render_array(x, SR, proc), ref, err_msg=f"{kind}: reset is not a fresh start")
    both = _signal(3.0, channels=2)
    y = render_array(both, SR, _build(kind, both)())
    np.testing.assert_array_equal(y[0], y[1], err_msg=f"{kind}: two identical channels come out different")


@pytest.mark.parametrize("kind", _kinds())
def test_every_stage_kind_keeps_the_engine_contract(kind):
    if kind == "deepfilter":
        from models import deepfilter

        ok, why = deepfilter.availability()
        if not ok:
            pytest.skip(f"DeepFilterNet3 runtime unavailable: {why}")
    check_contract(kind)


# -- a stand-in that breaks the contract must fail it ------------------------------------------------
@dataclass(frozen=True)
class _CountingSettings:
    step: float = 1e-4


class _BlockCounter(Processor):
    """Adds a ramp that grows per *call*: its output depends on how the input was cut into blocks."""

    def __init__(self, settings: _CountingSettings) -> None:
        self.settings = settings
        self.calls = 0

    def prepare(self, spec: AudioSpec) -> None:
        self.spec = spec

    def reset(self, *, position: int = 0) -> None:
        self.calls = 0

    def process(self, block: np.ndarray) -> np.ndarray:
        block = check_block(block, self.spec.channels)
        self.calls += 1
        return block + np.float32(self.settings.step * self.calls)

    def describe(self) -> dict:
        return {"type": "BlockCounter"}


@pytest.fixture
def broken_kind():
    name = "test-block-counter"
    register(StageKind(name=name, label="Block counter (test)", settings_cls=_CountingSettings, domain="time",
                       factory=lambda settings, context: _BlockCounter(settings), role="utility"))
    yield name
    unregister(name)
    assert name not in registry()


def test_a_kind_that_breaks_the_contract_fails_it(broken_kind):
    assert broken_kind in _kinds()
    with pytest.raises(AssertionError, match="block size"):
        check_contract(broken_kind)


def test_the_stand_in_is_gone_after_its_test():
    assert "test-block-counter" not in registry()
    assert replace(_CountingSettings(), step=0.5).step == 0.5
