"""app.pipeline: CLI options -> settings, profile handling, analyses, the render record."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

import numpy as np
import pytest
import soundfile as sf

from app import pipeline
from app.presets import apply_overrides, load_preset
from app.timecode import format_time, parse_range, parse_ranges, parse_time
from dsp import chain as dchain
from dsp.chain import BuildContext, ChainSettings, StageKind, StageSpec
from dsp.errors import ParameterError
from dsp.render import ArraySource, render_array
from dsp.stft import SpectralStage


@dataclass(frozen=True)
class FakePassSettings:
    max_reduction_db: float = 6.0
    gain_db: float = -6.0


@dataclass(frozen=True)
class FakeRefillSettings:
    source: str = "roomtone"


class FakeGainStage(SpectralStage):
    def __init__(self, settings, context):
        self.settings = settings

    def process_frames(self, frames):
        g = np.full(frames.spectra.shape, 10 ** (self.settings.gain_db / 20), np.float32)
        frames.apply_gain(g, self.mix)


def _analyse(source, settings, context):
    n = min(source.frames, 4800)
    return dataclasses.replace(context, extras={**context.extras, "fake_level": float(np.abs(source.read(0, n)).max())})


@pytest.fixture
def fake_kinds():
    """Test-only stage kinds (unique names, removed afterwards)."""
    kinds = [
        StageKind("tpass_a", "Test pass A", FakePassSettings, "spectral", FakeGainStage, role="pass", analyse=_analyse),
        StageKind("tpass_b", "Test pass B", FakePassSettings, "spectral", FakeGainStage, role="pass"),
        StageKind("tpass_prof", "Test pass needing a profile", FakePassSettings, "spectral", FakeGainStage,
                  role="pass", needs_profile=True),
        StageKind("refill", "Test refill", FakeRefillSettings, "spectral",
                  lambda s, c: FakeGainStage(FakePassSettings(gain_db=0.0), c), role="repair"),
    ]
    saved = dchain.registry()  # imports the real stage modules first, so the snapshot holds them
    for k in kinds:
        if k.name in dchain.registry() and k.name == "refill":
            continue  # a real refill stage exists: use it
        dchain.register(k)
    yield
    dchain._REGISTRY.clear()
    dchain._REGISTRY.update(saved)


def test_parse_times():
    assert parse_time("1.5") == 1.5
    assert parse_time("0:01.5") == 1.5
    assert parse_time("1:02:03.5") == 3723.5
    assert parse_range("1.5-3") == (1.5, 3.0)
    assert parse_range("0:01.5-0:03") == (1.5, 3.0)
    assert parse_range("1:02:03.5-1:02:05") == (3723.5, 3725.0)
    assert parse_ranges(["1-2,3-4", "5-6"]) == [(1, 2), (3, 4), (5, 6)]
    for bad in ("", "abc", "1:75", "1-", "-2", "3-1", "1:2:3:4", "1-2-3"):
        with pytest.raises(ParameterError):
            parse_range(bad) if "-" in bad or not bad else parse_time(bad)
    assert format_time(3723.5) == "1:02:03.500" and parse_time(format_time(61.25)) == 61.25


def test_adjust_settings(fake_kinds):
    s = ChainSettings(stages=(StageSpec("tpass_a", FakePassSettings()), StageSpec("tpass_b", FakePassSettings())))
    out = pipeline.adjust_settings(s, passes=["tpass_b"], max_reduction_db=3.0, mix=0.5, listen="removed",
                                   overrides=["tpass_b.gain_db=-3"])
    a, b = out.stages[:2]
    assert a.bypass and not b.bypass
    assert b.settings.max_reduction_db == 3.0 and a.settings.max_reduction_db == 6.0  # only active passes
    assert b.settings.gain_db == -3.0
    assert (out.mix, out.listen) == (0.5, "removed")
    # a listed pass the chain lacks is added after the last pass
    out = pipeline.adjust_settings(ChainSettings(stages=(StageSpec("tpass_a", FakePassSettings()),)), passes=["tpass_b"])
    assert [x.kind for x in out.stages] == ["tpass_a", "tpass_b"] and out.stages[0].bypass
    with pytest.raises(ParameterError, match="not a noise-reduction pass"):
        pipeline.adjust_settings(s, passes=["refill"])
    with pytest.raises(ParameterError, match="no active noise-reduction pass"):
        pipeline.adjust_settings(ChainSettings(), max_reduction_db=3)


def test_passes_none_bypasses_every_pass(fake_kinds):
    s = ChainSettings(stages=(StageSpec("tpass_a", FakePassSettings()), StageSpec("tpass_b", FakePassSettings())))
    out = pipeline.adjust_settings(s, passes=["none"])
    assert [x.bypass for x in out.stages] == [True, True]
    with pytest.raises(ParameterError, match="cannot be combined"):
        pipeline.adjust_settings(s, passes=["none", "tpass_a"])
    with pytest.raises(ParameterError, match="no active noise-reduction pass"):
        pipeline.adjust_settings(s, passes=["none"], max_reduction_db=3)


def test_enable_places_a_stage_where_its_kind_belongs(fake_kinds):
    reg = dchain.registry()
    s = ChainSettings(stages=(StageSpec("dehum", reg["dehum"].settings_cls()),
                              StageSpec("tpass_a", FakePassSettings()),
                              StageSpec("refill", reg["refill"].settings_cls()),
                              StageSpec("leveler", reg["leveler"].settings_cls(), bypass=True)))
    # eqmatch (placement 50) lands after refill (40), before the leveler (90)
    out = pipeline.adjust_settings(s, enable={"eqmatch": {}})
    assert [x.kind for x in out.stages] == ["dehum", "tpass_a", "refill", "eqmatch", "leveler"]
    # an existing stage is switched on and given the settings; nothing is added twice
    out2 = pipeline.adjust_settings(out, enable={"leveler": {"max_gain_up_db": 6.0}})
    lev = [x for x in out2.stages if x.kind == "leveler"]
    assert len(lev) == 1 and not lev[0].bypass and lev[0].settings.max_gain_up_db == 6.0
    with pytest.raises(ParameterError, match="--leveler: the 'leveler' stage has no setting nosuch"):
        pipeline.adjust_settings(s, enable={"leveler": {"nosuch": 1}})
    with pytest.raises(ParameterError, match="--nosuchkind: this Roomtone has no 'nosuchkind' stage"):
        pipeline.adjust_settings(s, enable={"nosuchkind": {}})
    # place_stage: an empty chain takes it at the end; a chain of later kinds takes it first
    spec = StageSpec("dehum", reg["dehum"].settings_cls())
    assert pipeline.place_stage([], spec) == [spec]
    assert pipeline.place_stage(list(s.stages[1:]), spec)[0] is spec


def test_refill_and_eq_match_options(fake_kinds):
    s = ChainSettings(stages=(StageSpec("tpass_a", FakePassSettings()),))
    on = pipeline.adjust_settings(s, refill="pink")
    assert on.stages[-1].kind == "refill" and on.stages[-1].settings.source == "pink"
    off = pipeline.adjust_settings(on, refill="off")
    assert off.stages[-1].bypass
    if "eqmatch" not in dchain.registry():
        with pytest.raises(ParameterError, match="no 'eqmatch' stage"):
            pipeline.adjust_settings(s, eq_match=True)


def test_prepare_processor_runs_analyses_and_builds(fake_kinds):
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal((1, 48000))).astype(np.float32)
    s = ChainSettings(stages=(StageSpec("tpass_a", FakePassSettings(gain_db=-6.0)),), max_total_reduction_db=15)
    proc, ctx = pipeline.prepare_processor(ArraySource(x, 48000), s)
    assert ctx.profile is None and ctx.extras["fake_level"] == pytest.approx(np.abs(x[:, :4800]).max())
    y = render_array(x, 48000, proc)
    assert y.shape == x.shape
    # -6 dB everywhere (away from the edges)
    np.testing.assert_allclose(y[:, 4096:-4096], x[:, 4096:-4096] * 10 ** (-6 / 20), atol=2e-5)
    summary = pipeline.analyses_summary(ctx)
    assert summary["fake_level"] == pytest.approx(ctx.extras["fake_level"])


def test_profile_rules(fake_kinds):
    from dsp.roomtone import NoiseProfile

    x = (0.01 * np.random.default_rng(4).standard_normal((1, 48000))).astype(np.float32)
    src = ArraySource(x, 48000)
    needs = ChainSettings(stages=(StageSpec("tpass_prof", FakePassSettings()),))
    prof = NoiseProfile(44100, 2048, 512, np.ones(1025), np.ones(1025), -60.0)
    with pytest.raises(ParameterError, match="44100 Hz"):
        pipeline.prepare_processor(src, needs, profile=prof)
    prof = dataclasses.replace(prof, sample_rate=48000)
    proc, ctx = pipeline.prepare_processor(src, needs, profile=prof, learn=[(0.0, 0.5)])
    assert ctx.profile is prof  # a given profile wins over learn
    with pytest.raises(ParameterError, match="starts after the end"):
        pipeline.prepare_processor(src, ChainSettings(), learn=[(5.0, 6.0)])
    _, ctx = pipeline.prepare_processor(src, needs)  # no profile given: one is found automatically
    assert ctx.profile is not None


def test_clean_file_record(fake_kinds, tmp_path):
    x = (0.1 * np.random.default_rng(1).standard_normal((48000, 2))).astype(np.float32)
    sf.write(str(tmp_path / "in.wav"), x, 48000, subtype="FLOAT")
    s = ChainSettings(stages=(StageSpec("tpass_a", FakePassSettings()),), name="t")
    rec = pipeline.clean_file(tmp_path / "in.wav", tmp_path / "out.wav", s)
    data = json.loads(pipeline.record_path(tmp_path / "out.wav").read_text())
    assert data["record_format"] == "roomtone-render-record"
    assert data["settings"]["chain"]["stages"][0]["kind"] == "tpass_a"
    assert data["settings"]["analyses"]["fake_level"] > 0
    assert data["settings"]["profile"] is None
    assert data["frames"] == 48000 == rec.frames
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.wav", "out.wav", "out.wav.roomtone.json"]


def test_cancel_writes_nothing(tmp_path):
    from dsp.errors import Cancelled

    sf.write(str(tmp_path / "in.wav"), np.zeros(200000, np.float32), 48000)
    with pytest.raises(Cancelled):
        pipeline.clean_file(tmp_path / "in.wav", tmp_path / "out.wav", ChainSettings(), cancel=lambda: True)
    assert [p.name for p in tmp_path.iterdir()] == ["in.wav"]


def test_summaries_are_json():
    ctx = BuildContext(48000, 1, extras={"curve": np.arange(100.0), "n": np.int64(3), "nested": {"a": [1, 2]}})
    s = pipeline.analyses_summary(ctx)
    json.dumps(s)
    assert s["curve"]["shape"] == [100] and s["n"] == 3


# -- the learned models, wired in through the app layer -----------------------------------------------
DEMO = pipeline.Path(__file__).resolve().parents[2] / "assets" / "demo" / "demo_episode.flac"


def test_importing_app_makes_the_model_stage_available():
    assert "deepfilter" in dchain.registry()


def test_automatic_room_tone_comes_from_voice_activity_and_is_recorded(tmp_path):
    pytest.importorskip("onnxruntime")
    out = tmp_path / "demo_clean.flac"
    rec = pipeline.clean_file(DEMO, out, load_preset("podcast"), auto_profile=True)
    summary = rec.settings["profile"]
    assert summary["method"] == "vad", summary
    meta = json.loads(pipeline.record_path(out).read_text())
    assert meta["settings"]["profile_origin"] == "automatic"
    assert "silero-vad" in meta["versions"]["models"], meta["versions"]
    # the demo's JSON lists where speech is: the learned regions must stay clear of it
    demo = json.loads(DEMO.with_suffix(".json").read_text())
    for a, b in summary["regions"]:
        for s, e in ((r["start_s"], r["end_s"]) for r in demo["speech_regions"]):
            assert b <= s or a >= e, f"profile region {a:.2f}-{b:.2f} s overlaps speech {s:.2f}-{e:.2f} s"


def test_without_voice_activity_the_fallback_says_so(monkeypatch):
    import models.auto_profile as ap
    from models.versions import ModelUnavailable

    def unavailable(*a, **k):
        raise ModelUnavailable("silero-vad model file is missing")

    monkeypatch.setattr(ap, "auto_room_tone", unavailable)
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((1, 48000)) * 0.01).astype(np.float32)
    prof = pipeline.find_room_tone(ArraySource(x, 48000), ChainSettings())
    assert prof.method == "auto"
    assert any("not from voice activity" in w and "silero-vad model file is missing" in w for w in prof.warnings)


def test_render_record_lists_no_models_for_a_dsp_only_render():
    assert pipeline.used_model_versions(ChainSettings(), None) == {}


def test_render_record_names_the_vad_when_it_decided_speech_presence():
    # the room tone came from the noise floor (no model), but the passes' presence came from the VAD
    settings = apply_overrides(ChainSettings(), ["speech.detector=vad"])
    versions = pipeline.used_model_versions(settings, None)
    assert any("vad" in k or "silero" in k for k in versions), versions


def test_format_duration():
    from app.timecode import format_duration

    assert format_duration(None) == "--:--"
    assert format_duration(245.4) == "4:05"
    assert format_duration(3723) == "1:02:03"
