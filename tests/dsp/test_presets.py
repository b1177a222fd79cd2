"""Factory presets: they load, respect the field's caps, round-trip, and keep the engine invariants."""

from __future__ import annotations

import tomllib
from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf

from app.presets import apply_overrides, load_preset, preset_to_toml
from dsp.chain import BuildContext, ChainSettings, analyse_source, build_chain, stage_kind
from dsp.render import ArraySource, render_array, render_blocks
from dsp.roomtone import estimate_room_tone
from dsp.stft import StftSettings

PRESETS = ["podcast", "gentle", "strong", "hum-and-hiss"]
SR = 16000


@pytest.mark.parametrize("name", PRESETS)
def test_preset_loads_and_round_trips(name):
    cs = load_preset(name)
    assert cs.name == name and cs.description
    for spec in cs.stages:
        stage_kind(spec.kind)
    again = ChainSettings.from_dict(tomllib.loads(preset_to_toml(cs)))
    assert again == cs


def test_podcast_is_the_documented_default():
    cs = load_preset("podcast")
    passes = [s for s in cs.stages if stage_kind(s.kind).role == "pass"]
    assert 2 <= len([s for s in passes if s.kind != "dehum"]) <= 3
    assert any(s.kind == "dehum" for s in cs.stages)
    assert all(s.settings.max_reduction_db <= 6.0 for s in passes if hasattr(s.settings, "max_reduction_db"))
    assert cs.max_total_reduction_db <= 15.0
    assert load_preset("gentle").max_total_reduction_db < cs.max_total_reduction_db


def signal(channels=1, seconds=2.0, seed=0):
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    hum = 0.02 * np.sin(2 * np.pi * 50.03 * t) + 0.01 * np.sin(2 * np.pi * 100.06 * t)
    env = 1 + 15 * (np.sin(2 * np.pi * 3 * t) > 0.5)
    x = rng.standard_normal((channels, n)) * 0.005 * env + hum
    return x.astype(np.float32)


def built(name, x):
    cs = apply_overrides(load_preset(name), ["stft.n_fft=512"])
    prof = estimate_room_tone(x, SR, regions=[(0.15, 0.35)], settings=__import__("dsp.roomtone", fromlist=["x"]).RoomToneSettings(stft=StftSettings(512)))
    ctx = analyse_source(ArraySource(x, SR), cs, BuildContext(SR, x.shape[0], profile=prof))
    return lambda: build_chain(cs, ctx), ctx


@pytest.mark.parametrize("name", PRESETS)
def test_presets_keep_the_engine_invariants(name):
    x = signal(channels=2)
    make, ctx = built(name, x)
    assert ctx.hum is not None  # the synthetic hum is found
    ref = render_array(x, SR, make(), block_size=4096)
    for block in (64, 65, 511):
        np.testing.assert_array_equal(render_array(x, SR, make(), block_size=block), ref)
    np.testing.assert_array_equal(render_array(x[:, :3000], SR, make(), block_size=1), render_array(x[:, :3000], SR, make()))
    for c in range(2):  # each channel alone, given its own share of the whole-file data (its hum's start fit)
        alone = build_chain(apply_overrides(load_preset(name), ["stft.n_fft=512"]), replace(ctx, hum=ctx.hum.for_channel(c)))
        np.testing.assert_array_equal(render_array(x[c : c + 1], SR, alone), ref[c : c + 1])
    p = make()
    render_array(signal(channels=2, seed=4), SR, p)
    np.testing.assert_array_equal(render_array(x, SR, p), ref)
    start = 20001
    part = np.concatenate(list(render_blocks(ArraySource(x, SR), make(), start=start, stop=start + 4000, block_size=700)), axis=1)
    np.testing.assert_allclose(part, ref[:, start : start + 4000], atol=1e-5, rtol=0)


def test_podcast_on_a_real_pair_lowers_the_noise_and_keeps_the_speech(dev_data):
    stem = dev_data / "mixtures" / "s06_arctic_aew__street_city__snr10"
    noisy, sr = sf.read(f"{stem}_noisy.flac", dtype="float32")
    clean, _ = sf.read(f"{stem}_clean.flac", dtype="float32")
    cs = load_preset("podcast")
    prof = estimate_room_tone(noisy, sr)
    ctx = analyse_source(ArraySource(noisy[None], sr), cs, BuildContext(sr, 1, profile=prof))
    y = render_array(noisy[None], sr, build_chain(cs, ctx))[0]
    hop = 320
    e = np.array([np.mean(clean[i : i + hop] ** 2) for i in range(0, clean.size - hop, hop)])
    quiet = np.repeat(e < e.max() * 1e-5, hop)[: clean.size]
    loud = np.repeat(e > e.max() * 1e-2, hop)[: clean.size]
    pad = np.zeros(clean.size - quiet.size, bool)
    quiet, loud = np.concatenate([quiet, pad]), np.concatenate([loud, pad])
    drop = 10 * np.log10(np.mean(y[quiet] ** 2) / np.mean(noisy[quiet] ** 2))
    assert -15.5 < drop < -6.0
    # speech level against the clean reference in the loud frames: measured -3.3 dB with the
    # podcast defaults (the price of the wide frequency smoothing that keeps musical noise away)
    speech = 10 * np.log10(np.mean(y[loud] ** 2) / np.mean(clean[loud] ** 2))
    assert speech > -4.0

