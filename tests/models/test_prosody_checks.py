"""Prosody checks: thresholds from DOMAIN.md, verdict boundaries, dataset checks, reference comparison."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from dsp.errors import ParameterError
from models.prosody import ClipAnalysis, PitchStats
from models.prosody_checks import (
    SYNTHETIC_ADVICE,
    CheckThresholds,
    check_clip,
    check_dataset,
    check_synthetic,
    problems,
    thresholds_with_overrides,
    worst_verdict,
)
from models.prosody_dataset import DatasetAnalysis, compare_to_reference, dataset_from_clips


def clip(name="c.wav", *, std=3.0, span=10.0, i_std=5.0, pauses=((3.0, 3.4), (7.0, 7.5)), breaths=((3.1, 3.3),),
         rate=4.0, duration=12.0, snr=40.0, loud=-23.0, clipped=0, lead=0.2, trail=0.2) -> ClipAnalysis:
    speech = np.array([[lead, 3.0], [3.4, 7.0], [7.5, duration - trail]]) if pauses else np.array([[lead, duration - trail]])
    pa = np.array(pauses, float).reshape(-1, 2)
    speech_time = float((speech[:, 1] - speech[:, 0]).sum())
    return ClipAnalysis(
        name=name, sample_rate=16000, duration_s=duration,
        pitch=PitchStats(median_hz=150.0, std_st=std, span_st=span, voiced_frames=500),
        voiced_fraction=0.7, intensity_std_db=i_std, intensity_span_db=3 * i_std, speech_regions=speech,
        speech_time_s=speech_time, leading_silence_s=lead, trailing_silence_s=trail, pauses=pa,
        breaths=np.array(breaths, float).reshape(-1, 2), syllable_times_s=np.linspace(1, 10, int(rate * speech_time)),
        speaking_rate_syll_s=rate * 0.9, articulation_rate_syll_s=rate, peak_dbfs=-3.0, speech_level_dbfs=-23.0,
        noise_floor_dbfs=-23.0 - snr, snr_db=snr, loudness_lufs=loud, clipped_samples=clipped,
        clip_regions=np.array([[5.0, 5.001]]) if clipped else np.zeros((0, 2)),
    )


def codes(findings, verdicts=("warn", "fail")):
    return {f.code for f in findings if f.verdict in verdicts}


def test_domain_thresholds():
    th = CheckThresholds()
    assert (th.monotone_std_st, th.monotone_span_st, th.very_monotone_std_st) == (2.0, 6.0, 1.5)


@pytest.mark.parametrize("std,span,expected,verdict", [
    (1.49, 5.0, "very_monotone", "fail"),
    (1.51, 7.0, "monotone", "warn"),
    (1.99, 7.0, "monotone", "warn"),
    (2.5, 5.9, "monotone", "warn"),  # span rule
    (2.01, 6.1, "pitch_ok", "pass"),
])
def test_pitch_verdict_boundaries(std, span, expected, verdict):
    f = [x for x in check_clip(clip(std=std, span=span)) if x.code in ("very_monotone", "monotone", "pitch_ok")]
    assert len(f) == 1 and f[0].code == expected and f[0].verdict == verdict
    if verdict != "pass":
        assert f[0].advice and "vary intonation" in f[0].advice
        assert f[0].threshold in (1.5, 2.0) and f[0].measured == pytest.approx(std)
        assert f[0].times_s, "a pitch finding says where it applies"


def test_clean_expressive_clip_passes_everything():
    fs = check_clip(clip())
    assert worst_verdict(fs) == "pass", [(f.code, f.message) for f in problems(fs)]


def test_each_problem_is_flagged():
    assert "flat_energy" in codes(check_clip(clip(i_std=2.0)))
    assert "no_pauses" in codes(check_clip(clip(pauses=(), breaths=())))
    lp = [f for f in check_clip(clip(pauses=((3.0, 5.6),), breaths=())) if f.code == "long_pauses"]
    assert lp and lp[0].times_s == [[3.0, 5.6]] and lp[0].measured == pytest.approx(2.6)
    assert "no_breaths" in codes(check_clip(clip(breaths=())))
    assert "too_fast" in codes(check_clip(clip(rate=7.2)))
    assert "too_slow" in codes(check_clip(clip(rate=1.5)))
    cl = [f for f in check_clip(clip(clipped=3)) if f.code == "clipping"]
    assert cl and cl[0].verdict == "warn" and cl[0].times_s
    assert [f.verdict for f in check_clip(clip(clipped=500)) if f.code == "clipping"] == ["fail"]
    assert [f.verdict for f in check_clip(clip(snr=20.0)) if f.code == "noisy"] == ["warn"]
    assert [f.verdict for f in check_clip(clip(snr=10.0)) if f.code == "noisy"] == ["fail"]
    # short clips are not judged on pauses/breaths
    short = clip(duration=3.0, pauses=(), breaths=())
    assert not codes(check_clip(short)) & {"no_pauses", "no_breaths"}


def test_overrides_change_verdicts_and_bad_ones_are_refused():
    th = thresholds_with_overrides(["monotone_std_st=3.5", "very_monotone_std_st=1.0"])
    assert "monotone" in codes(check_clip(clip(std=3.0), th))
    with pytest.raises(ParameterError):
        thresholds_with_overrides(["no_such=1"])
    with pytest.raises(ParameterError):
        thresholds_with_overrides(["monotone_std_st=abc"])
    with pytest.raises(ParameterError):
        CheckThresholds(very_monotone_std_st=3.0)


def test_dataset_checks_amount_and_level():
    few = [clip(f"c{i}.wav", loud=-23.0) for i in range(3)]
    fs = check_dataset(few)
    assert "too_little_audio" in codes(fs)
    many = [clip(f"c{i}.wav", loud=-23.0 + (8.0 if i == 5 else 0.0)) for i in range(20)]
    fs = check_dataset(many)
    assert "too_little_audio" not in codes(fs)
    lvl = [f for f in fs if f.code == "inconsistent_level"]
    assert lvl and "c5.wav" in lvl[0].message and lvl[0].measured == pytest.approx(8.0)
    ds = dataset_from_clips(many)
    assert isinstance(ds, DatasetAnalysis) and len(ds.dataset_findings()) == 2
    out = ds.outliers()
    assert any(o["clip"] == "c5.wav" and o["measure"] == "loudness_lufs" for o in out)


def test_reference_comparison_flags_what_falls_outside():
    ref = dataset_from_clips([clip(f"r{i}.wav", std=3.0 + 0.3 * i, rate=4.0 + 0.1 * i) for i in range(8)])
    syn = dataset_from_clips([clip("s1.wav", std=0.8, rate=4.2, pauses=(), breaths=()),
                              clip("s2.wav", std=3.5, rate=4.3)])
    comp = {c.measure: c for c in compare_to_reference(syn, ref)}
    assert comp["f0_std_st"].outside == ["s1.wav"]
    assert comp["f0_std_st"].reference_low == pytest.approx(3.0)
    assert comp["articulation_rate_syll_s"].outside == []
    assert comp["articulation_rate_syll_s"].verdict == "pass"
    assert comp["breath_count"].outside == ["s1.wav"]
    d = comp["f0_std_st"].to_dict()
    assert d["verdict"] == "warn" and len(d["reference_values"]) == 8


def test_finding_json_has_no_nan():
    import json

    f = [x for x in check_clip(dataclasses.replace(clip(), articulation_rate_syll_s=float("nan")))]
    json.dumps([x.to_dict() for x in f], allow_nan=False)


def test_synthetic_clips_get_findings_about_the_synthesis():
    flat, short = clip("tts_flat.wav", std=1.2, span=4.0), clip("tts_ok.wav")
    training = check_clip(flat) + check_dataset([flat, short])
    assert {"very_monotone", "too_little_audio"} <= codes(training)
    assert any("record some lines" in f.advice for f in training)  # training audio: how to record
    synthetic = check_synthetic([flat, short], reference_ranges={"f0_std_st": (2.1, 4.8)})
    assert "too_little_audio" not in codes(synthetic, ("pass", "warn", "fail"))  # a rule for training data only
    [vm] = [f for f in synthetic if f.code == "very_monotone"]
    assert vm.verdict == "fail" and vm.measured == pytest.approx(1.2) and vm.clip == "tts_flat.wav"
    assert "the synthesis sounds robotic" in vm.message and "clone trained on this" not in vm.message
    assert "reference recordings of this voice span 2.10-4.80 st" in vm.message
    assert "expressiveness" in vm.advice
    for f in problems(synthetic):
        assert f.advice == SYNTHETIC_ADVICE[f.code] and "clone" not in f.message, (f.code, f.message)


def test_synthetic_advice_covers_every_clip_problem():
    bad = clip(std=1.0, i_std=1.0, pauses=((3.0, 5.6),), breaths=(), rate=7.5, snr=10.0, clipped=500)
    found = problems(check_synthetic([bad]))
    assert {"very_monotone", "flat_energy", "long_pauses", "too_fast", "noisy", "clipping"} <= codes(found)
    for f in found:
        training = next(t for t in check_clip(bad) if t.code == f.code)
        assert f.advice == SYNTHETIC_ADVICE[f.code] != training.advice, f.code
