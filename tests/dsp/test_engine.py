"""Engine invariants (STYLE.md #5): block-size grid, latency identity, reset, channels, preview."""

from __future__ import annotations

import numpy as np
import pytest

from dsp.engine import AudioSpec, Chain, Delay, DryWet, Gain, Identity, Listen
from dsp.errors import ParameterError
from dsp.render import ArraySource, render_array, render_blocks
from dsp.stft import StftProcessor, StftSettings

BLOCKS = [1, 64, 65, 511, 4096]


def noise(channels=1, n=6000, seed=0):
    return (np.random.default_rng(seed).standard_normal((channels, n)) * 0.1).astype(np.float32)


def make_chains():
    return {
        "identity": lambda: Identity(),
        "gain": lambda: Gain(-6.0),
        "stft": lambda: StftProcessor(settings=StftSettings(n_fft=512)),
        "stft-overlap2": lambda: StftProcessor(settings=StftSettings(n_fft=256, overlap=2)),
        "drywet-stft": lambda: DryWet(Chain([Gain(-3.0), StftProcessor(settings=StftSettings(n_fft=512))]), mix=0.5),
    }


@pytest.mark.parametrize("name", list(make_chains()))
@pytest.mark.parametrize("block", BLOCKS)
def test_block_size_invariance(name, block):
    x = noise(n=3000 if block == 1 else 9000)
    ref = render_array(x, 16000, make_chains()[name](), block_size=4096)
    out = render_array(x, 16000, make_chains()[name](), block_size=block)
    assert out.shape == x.shape
    np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("n_fft,overlap", [(256, 2), (512, 4), (1024, 8), (2048, 4)])
def test_stft_perfect_reconstruction_and_alignment(n_fft, overlap):
    x = noise(n=20000)
    p = StftProcessor(settings=StftSettings(n_fft=n_fft, overlap=overlap))
    y = render_array(x, 48000, p)
    assert p.latency == n_fft
    assert y.shape == x.shape
    # Aligned with the input (latency trimmed), equal to float32 rounding.
    assert np.max(np.abs(y - x)) < 1e-6


def test_latency_is_reported_and_trimmed_for_a_delay():
    x = noise(n=5000)
    y = render_array(x, 16000, Delay(123))
    np.testing.assert_array_equal(y, x)


@pytest.mark.parametrize("name", list(make_chains()))
def test_reset_equals_fresh(name):
    x = noise(n=7000)
    p = make_chains()[name]()
    render_array(noise(n=7000, seed=5), 16000, p)  # dirty its state
    again = render_array(x, 16000, p)
    fresh = render_array(x, 16000, make_chains()[name]())
    np.testing.assert_array_equal(again, fresh)


@pytest.mark.parametrize("name", list(make_chains()))
def test_stereo_equals_channels_separately(name):
    x = noise(channels=2, n=7000)
    both = render_array(x, 16000, make_chains()[name]())
    for c in range(2):
        one = render_array(x[c : c + 1], 16000, make_chains()[name]())
        np.testing.assert_array_equal(both[c : c + 1], one)


@pytest.mark.parametrize("name", list(make_chains()))
@pytest.mark.parametrize("start", [0, 1, 777, 4096, 5001])
def test_playhead_with_preroll_equals_full_render(name, start):
    x = noise(n=12000)
    full = render_array(x, 16000, make_chains()[name]())
    stop = min(start + 3000, x.shape[1])
    part = np.concatenate(
        list(render_blocks(ArraySource(x, 16000), make_chains()[name](), start=start, stop=stop, block_size=700)), axis=1
    )
    np.testing.assert_array_equal(part, full[:, start:stop])


def test_drywet_mix0_is_bit_exact_bypass():
    x = noise(n=8000)
    y = render_array(x, 16000, DryWet(Chain([Gain(-20), StftProcessor(settings=StftSettings(n_fft=512))]), mix=0.0))
    np.testing.assert_array_equal(y, x)


def test_drywet_half_mix_of_pure_delay_is_flat():
    """A wet path that is a pure delay must blend without comb filtering (flat within 0.1 dB)."""
    impulse = np.zeros((1, 8192), np.float32)
    impulse[0, 100] = 1.0
    y = render_array(impulse, 48000, DryWet(Delay(37), mix=0.5))
    mag_db = 20 * np.log10(np.abs(np.fft.rfft(y[0])) + 1e-12)
    assert np.ptp(mag_db) < 0.1


def test_removed_plus_processed_equals_original():
    x = noise(n=9000)

    def chain(listen):
        return DryWet(Chain([Gain(-6), StftProcessor(settings=StftSettings(n_fft=512))]), mix=0.7, listen=listen)

    processed = render_array(x, 16000, chain(Listen.PROCESSED))
    removed = render_array(x, 16000, chain(Listen.REMOVED))
    original = render_array(x, 16000, chain(Listen.ORIGINAL))
    np.testing.assert_array_equal(original, x)
    np.testing.assert_allclose(removed + processed, x, atol=1e-6)


def test_bad_parameters_are_clear():
    with pytest.raises(ParameterError, match="between 0 and 1"):
        DryWet(Identity(), mix=1.5)
    with pytest.raises(ParameterError, match="listen mode"):
        DryWet(Identity(), listen="loud")
    with pytest.raises(ParameterError, match="stft.n_fft must be one of 0, 128, 256"):
        StftProcessor(settings=StftSettings(n_fft=1000)).prepare(AudioSpec(48000, 1))  # refused when made
    with pytest.raises(ParameterError, match="8000-192000"):
        AudioSpec(4000, 1)


@pytest.mark.parametrize("lookahead", [1, 37, 700])
def test_a_stage_with_latency_before_an_stft_keeps_it_on_its_hop_grid(lookahead):
    """A time-domain stage with lookahead (the de-clicker) before the noise passes: the chain pads
    the STFT's input onto its hop grid, so a render from zero and from any playhead work and agree."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((1, 48000)).astype(np.float32) * 0.1

    def make():
        return Chain([Delay(lookahead), StftProcessor([], settings=StftSettings(n_fft=1024))])

    proc = make()
    full = render_array(x, 48000, proc)
    assert proc.latency % 256 == 0 and proc.latency >= lookahead + 1024
    np.testing.assert_allclose(full, x, atol=1e-6)  # still an identity, latency-trimmed
    for start in (0, 5, 12345):
        part = np.concatenate(list(render_blocks(ArraySource(x, 48000), make(), start=start, stop=start + 4000,
                                                 block_size=999)), axis=1)
        np.testing.assert_allclose(part, full[:, start : start + 4000], atol=1e-6)
