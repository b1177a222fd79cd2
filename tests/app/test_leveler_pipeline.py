"""The leveler through the product's path: the voice activity track is computed for it, its plan
reaches the render record, and it falls back (saying so) where the model cannot run."""

from __future__ import annotations

import numpy as np
import soundfile as sf

from app import pipeline
from dsp.chain import ChainSettings, StageSpec
from dsp.leveler import PLAN_KEY, LevelerSettings
from dsp.render import ArraySource

LEVELER_ONLY = ChainSettings(stages=(StageSpec("leveler", LevelerSettings()),))


def speech(dev_data) -> ArraySource:
    x, sr = sf.read(dev_data / "clean" / "s06_arctic_aew.flac", dtype="float32")
    x = np.concatenate([np.zeros(sr // 2, np.float32), x, np.zeros(sr // 2, np.float32)])
    x += (np.random.default_rng(0).standard_normal(x.size) * 1e-4).astype(np.float32)
    return ArraySource(x[None], sr)


def test_an_active_leveler_gets_the_voice_activity_track(dev_data):
    assert LEVELER_ONLY.speech.detector == "none"  # not asked for by the passes' speech setting
    proc, ctx = pipeline.prepare_processor(speech(dev_data), LEVELER_ONLY)
    assert "speech" in ctx.extras, ctx.extras.get("speech_detector")
    plan = ctx.extras[PLAN_KEY]
    assert plan.detector == "vad" and not plan.warnings and plan.phrases.shape[0] >= 1
    summary = pipeline.analyses_summary(ctx)[PLAN_KEY]
    assert summary["phrases"] == plan.phrases.shape[0] and "reference_lufs" in summary
    versions = pipeline.used_model_versions(LEVELER_ONLY, None)
    assert any("vad" in k or "silero" in k for k in versions), versions


def test_a_bypassed_leveler_runs_no_voice_activity(dev_data):
    bypassed = ChainSettings(stages=(StageSpec("leveler", LevelerSettings(), bypass=True),))
    _, ctx = pipeline.prepare_processor(speech(dev_data), bypassed)
    assert "speech" not in ctx.extras and PLAN_KEY not in ctx.extras


def test_without_voice_activity_the_leveler_says_so(dev_data, monkeypatch):
    monkeypatch.setattr(pipeline, "speech_track", lambda source, live=False: {"speech_detector": "silero-vad is missing"})
    _, ctx = pipeline.prepare_processor(speech(dev_data), LEVELER_ONLY)
    plan = ctx.extras[PLAN_KEY]
    assert plan.detector == "energy"
    assert any("not from voice activity" in w and "silero-vad is missing" in w for w in plan.warnings)
