"""Prosody analyses: pitch accuracy on known signals, pause boundaries, dev-clip agreement, invariance."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import resample_poly

from dsp.errors import ParameterError
from dsp.io import read_audio
from models import speech_activity
from models.prosody import (
    ProsodySettings,
    analyse_clip,
    find_clipping,
    pitch_stats,
    track_pitch,
)
from models.prosody_checks import check_clip

SR = 16000


def harmonic(f0: np.ndarray, sample_rate: int, *, n_harm: int = 12, seed: int = 0) -> np.ndarray:
    """Harmonic signal following the per-sample F0 ``f0`` (1/k amplitudes, random phases)."""
    rng = np.random.default_rng(seed)
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    x = np.zeros_like(f0)
    for k in range(1, n_harm + 1):
        ok = k * f0 < 0.45 * sample_rate
        x += ok * np.sin(k * phase + rng.uniform(0, 2 * np.pi)) / k
    return x / np.max(np.abs(x))


@pytest.mark.parametrize("f0_base", [95.0, 180.0, 310.0])
def test_pitch_accuracy_on_vibrato_with_noise(f0_base):
    dur = 3.0
    t = np.arange(int(dur * SR)) / SR
    # 5.5 Hz vibrato of +-1 semitone plus a slow 3-semitone glide
    st = 1.0 * np.sin(2 * np.pi * 5.5 * t) + 3.0 * t / dur
    f0 = f0_base * 2 ** (st / 12)
    x = harmonic(f0, SR, seed=int(f0_base))
    rng = np.random.default_rng(1)
    x = 0.3 * x + 0.3 * np.std(x) * 10 ** (-25 / 20) * rng.standard_normal(len(x))  # 25 dB SNR
    tr = track_pitch(x, SR)
    truth = np.interp(tr.times_s, t, f0)
    inner = (tr.times_s > 0.05) & (tr.times_s < dur - 0.05)
    est = tr.f0_hz[inner]
    assert np.isfinite(est).mean() > 0.98, "voicing missed on a clean harmonic signal"
    cents = 1200 * np.log2(est[np.isfinite(est)] / truth[inner][np.isfinite(est)])
    assert np.median(np.abs(cents)) < 5.0
    gross = np.mean(np.abs(cents) > 50.0)  # more than half a semitone off
    assert gross < 0.01


def test_pitch_stats_semitones_relative_to_median():
    f = np.array([100.0, 100.0, 200.0, np.nan, 50.0] * 20)
    s = pitch_stats(f)
    assert s.median_hz == pytest.approx(100.0)
    assert s.std_st == pytest.approx(np.std(12 * np.log2(f[np.isfinite(f)] / 100.0)))
    assert s.reference == "clip median F0"


def _phrase(dur: float, f0: float, seed: int) -> np.ndarray:
    """A speech-like voiced phrase: harmonic carrier with a 4 Hz syllable envelope."""
    t = np.arange(int(dur * SR)) / SR
    f = f0 * 2 ** ((1.5 * np.sin(2 * np.pi * 0.7 * t + seed)) / 12)
    env = 0.35 + 0.65 * np.abs(np.sin(np.pi * 4.0 * t + seed))
    return 0.4 * harmonic(f, SR, seed=seed) * env


@pytest.mark.parametrize("pause_s", [0.3, 0.45, 0.8, 1.6])
def test_pause_boundaries_of_inserted_silence(pause_s):
    rng = np.random.default_rng(3)
    parts, truth, pos = [], [], 0
    lead = 0.3
    parts.append(np.zeros(int(lead * SR)))
    pos += len(parts[-1])
    for i in range(3):
        ph = _phrase(1.3 + 0.2 * i, 140.0 + 20 * i, seed=i)
        parts.append(ph)
        pos += len(ph)
        if i < 2:
            n = int(pause_s * SR)
            truth.append((pos / SR, (pos + n) / SR))
            parts.append(np.zeros(n))
            pos += n
    parts.append(np.zeros(int(0.3 * SR)))
    x = np.concatenate(parts)
    x = x + 10 ** (-65 / 20) * rng.standard_normal(len(x))  # a quiet room under it
    a = analyse_clip(x, SR, settings=ProsodySettings(speech_detector="energy"))
    assert a.pause_count == len(truth), a.pauses
    for (s, e), (ts, te) in zip(a.pauses, truth, strict=True):
        assert abs(s - ts) < 0.020 and abs(e - te) < 0.020, (s, e, ts, te)
    assert abs(a.leading_silence_s - lead) < 0.020


def test_pause_boundaries_in_real_speech(dev_data):
    audio, sr = read_audio(dev_data / "clean" / "s04_libri_3436.flac")
    x = audio[0].astype(np.float64)
    base = analyse_clip(x, sr, settings=ProsodySettings(speech_detector="energy"))
    # insert silences at strong voiced intensity peaks (mid-vowel: an abrupt, known boundary)
    it, iv = base.intensity_times_s, base.intensity_db
    cands = [t for t in base.syllable_times_s if 1.0 < t < base.duration_s - 1.0]
    cands = sorted(cands, key=lambda t: -iv[np.argmin(np.abs(it - t))])[:3]
    cands = sorted(cands)
    assert len(cands) == 3
    out, truth, last, shift = [], [], 0, 0
    for t, pause in zip(cands, (0.3, 0.5, 1.0), strict=True):
        i = int(t * sr)
        out.append(x[last:i])
        n = int(pause * sr)
        start = (i + shift) / sr
        truth.append((start, start + n / sr))
        out.append(np.zeros(n))
        shift += n
        last = i
    out.append(x[last:])
    y = np.concatenate(out)
    a = analyse_clip(y, sr, settings=ProsodySettings(speech_detector="energy"))
    for ts, te in truth:
        hit = [p for p in a.pauses if abs(p[0] - ts) < 0.02 and abs(p[1] - te) < 0.02]
        assert hit, f"inserted silence {ts:.3f}-{te:.3f} not found within 20 ms: {a.pauses}"


def test_clipping_found_and_clean_signal_not_flagged():
    t = np.arange(SR) / SR
    x = 1.4 * np.sin(2 * np.pi * 220 * t)
    n, regions = find_clipping(np.clip(x, -1, 1), SR)
    assert n > 1000 and len(regions) >= 1
    n0, _ = find_clipping(0.9 * np.sin(2 * np.pi * 220 * t), SR)
    assert n0 == 0
    # clipped, then normalised down to -6 dBFS: still clipped
    n2, _ = find_clipping(0.5 * np.clip(x, -1, 1), SR)
    assert n2 > 1000


def test_speech_detector_registry_seam():
    calls = []

    def fake(audio, sample_rate):
        calls.append(sample_rate)
        return np.array([[0.1, 0.5]])

    speech_activity.register_detector("fake-test", fake, priority=99)
    try:
        assert speech_activity.available_detectors()[0] == "fake-test"
        assert speech_activity.get_detector("auto") is fake
        x = _phrase(1.0, 150.0, 0)
        a = analyse_clip(x, SR, settings=ProsodySettings(speech_detector="fake-test"))
        assert calls and np.allclose(a.speech_regions, [[0.1, 0.5]])
    finally:
        speech_activity._REGISTRY.pop("fake-test")
    assert speech_activity.get_detector("energy") is not None
    with pytest.raises(ParameterError):
        speech_activity.get_detector("no-such-detector")


def test_breath_found_in_one_pause_and_none_in_the_quiet_one():
    rng = np.random.default_rng(5)
    gap = np.zeros(int(0.7 * SR))
    # a breath: 350 ms of band-passed noise about 32 dB under the speech, in the middle of the gap
    from scipy.signal import butter, sosfilt

    sos = butter(4, [400, 5000], btype="band", fs=SR, output="sos")
    br = sosfilt(sos, rng.standard_normal(int(0.35 * SR)))
    br *= np.hanning(len(br)) ** 0.5
    br *= 0.4 * 0.7 * 10 ** (-32 / 20) / np.std(br)
    with_breath = gap.copy()
    with_breath[int(0.2 * SR):int(0.2 * SR) + len(br)] += br
    x = np.concatenate([_phrase(1.5, 150, 0), with_breath, _phrase(1.5, 160, 1), gap, _phrase(1.2, 150, 2)])
    x = x + 10 ** (-70 / 20) * rng.standard_normal(len(x))
    a = analyse_clip(x, SR, settings=ProsodySettings(speech_detector="energy"))
    assert a.breath_count == 1, a.breaths
    b0, b1 = a.breaths[0]
    assert 1.5 + 0.15 < b0 < 1.5 + 0.3 and 1.5 + 0.45 < b1 < 1.5 + 0.62


# ----------------------------------------------------------------------------- dev clips

def _analyse(dev_data, name, **kw):
    audio, sr = read_audio(dev_data / "prosody" / name)
    return analyse_clip(audio, sr, name=name, **kw), audio, sr


def test_flat_espeak_very_monotone_and_expressive_not(dev_data):
    for name in ("espeak_flat_stmt01.flac", "espeak_flat_stmt02.flac"):
        a, _, _ = _analyse(dev_data, name)
        codes = {f.code for f in check_clip(a)}
        assert "very_monotone" in codes, (name, a.pitch)
    for kind in ("happy", "surprise"):
        for path in sorted((dev_data / "prosody").glob(f"emo_{kind}_*.flac")):
            a, _, _ = _analyse(dev_data, path.name)
            codes = {f.code for f in check_clip(a)}
            assert not codes & {"monotone", "very_monotone"}, (path.name, a.pitch)


def _notes_bench():
    """``bench/prosody_notes.py``: the per-clip comparison with NOTES.md and its evidence."""
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "bench" / "prosody_notes.py"
    spec = importlib.util.spec_from_file_location("bench_prosody_notes", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def notes_verdicts(dev_data):
    bench = _notes_bench()
    notes = bench.read_notes(dev_data)
    assert len(notes) == 24
    out = {}
    for name, ref in notes.items():
        audio, sr = read_audio(dev_data / "prosody" / name)
        out[name] = bench.judge_clip(audio, sr, name, ref)
    return out


@pytest.mark.slow
def test_plain_yin_reproduces_notes(notes_verdicts):
    # the reference tracker is NOTES.md's own: without this the octave-error evidence below
    # would be about some other YIN
    close = [v for v in notes_verdicts.values() if abs(v.yin[1] - v.notes[1]) < 0.1
             and abs(v.yin[2] - v.notes[2]) < 0.2 and abs(12 * np.log2(v.yin[0] / v.notes[0])) < 0.1]
    assert len(close) >= 22, [(v.name, v.yin, v.notes) for v in notes_verdicts.values() if v not in close]


@pytest.mark.slow
def test_pitch_spread_agrees_with_notes(notes_verdicts):
    """Within 0.5 st of NOTES.md, except where measured evidence puts NOTES' value on YIN's errors.

    A clip is exempt only when ``judge_clip`` finds that YIN's frames judged wrong by the
    harmonic evidence (octave / sub-harmonic values at least 4 dB worse than the alternative,
    or disputed runs our value wins by 2 dB) explain the difference: the corrected YIN track
    agrees with ours within 0.5 st, or (voicing) agrees with ours on YIN's own frames while most
    frames only we voice show harmonics. Our analyser drifting on an agreeing clip cannot make
    it exempt (the corrected YIN would no longer match ours) and drops the agreeing count below
    the 14 measured on 2026-11-24 (bench/results/prosody_notes.md).
    """
    v = notes_verdicts
    agreeing = {n: r for n, r in v.items() if abs(r.std_diff) < 0.5}
    exempt = {n: r for n, r in v.items() if n not in agreeing and r.exempt}
    assert len(agreeing) >= 14, sorted((n, round(r.std_diff, 2)) for n, r in v.items())
    for name, r in exempt.items():
        # the evidence that exempts it: frames YIN got wrong, or frames YIN left unvoiced
        assert r.yin_err_frac > 0 or r.ours_voiced > r.yin_voiced, name
        assert abs(r.yin_fixed[1] - r.ours[1]) < 0.5 or abs(r.yin_fixed[1] - r.ours_on_yin_frames[1]) < 0.5, name
    assert len(agreeing) + len(exempt) >= 20, sorted((n, r.verdict) for n, r in v.items())
    # the rest (genuine disagreements) stay within the verdict class: expressive vs flat holds
    for name, r in v.items():
        if name not in agreeing and name not in exempt:
            assert abs(r.std_diff) < 3.0, (name, r.verdict, r.std_diff)
    # the audit itself: no false alarms where the two trackers agree
    fa = sum(r.false_alarms for r in v.values())
    total = sum(r.agree_frames for r in v.values())
    assert total > 1000 and fa / total < 0.005


def test_harmonic_evidence_prefers_true_f0_over_octaves():
    from models.prosody_reference import HarmonicEvidence, plain_yin

    t = np.arange(SR) / SR
    rng = np.random.default_rng(2)
    for f0 in (95.0, 180.0, 310.0, 700.0):
        x = harmonic(np.full(len(t), f0), SR, n_harm=30, seed=int(f0))
        x = x + 0.02 * rng.standard_normal(len(x))
        ev = HarmonicEvidence(x, SR)
        for wrong in (f0 / 2, f0 * 2, f0 / 3):
            assert ev.best(0.5, wrong)[0] == pytest.approx(f0, rel=1e-6), (f0, wrong)
        assert ev.best(0.5, f0)[0] == f0
    # plain YIN with NOTES' settings on a 310 Hz tone: integer lags, voiced
    y = plain_yin(harmonic(np.full(len(t), 310.0), SR), SR)
    inner = y.f0_hz[10:-10]
    assert np.isfinite(inner).all() and np.all(np.abs(12 * np.log2(inner / 310.0)) < 0.15)


def test_high_excursion_not_cut_off_by_two_pass_range():
    # a 300 Hz voice that spends a third of its time up at 800 Hz (emo_happy_15 does this): the
    # first pass must look above 600 Hz, or Q3 stays low and the second pass's 1.5 x Q3 ceiling
    # cuts the excursion off (Praat then reports it an octave low)
    dur = 3.0
    t = np.arange(int(dur * SR)) / SR
    st = np.where((t > 1.0) & (t < 2.0), 12 * np.log2(800 / 300), 0.0)
    st = np.convolve(st, np.ones(800) / 800, mode="same")  # 50 ms glides
    f0 = 300 * 2 ** (st / 12) * 2 ** (0.5 * np.sin(2 * np.pi * 0.5 * t) / 12)
    x = harmonic(f0, SR, n_harm=10)
    tr = track_pitch(x, SR)
    sel = (tr.times_s > 1.1) & (tr.times_s < 1.9)
    truth = np.interp(tr.times_s[sel], t, f0)
    err = np.abs(12 * np.log2(tr.f0_hz[sel] / truth))
    assert np.isfinite(err).all() and np.all(err < 1.0), (tr.ceiling_hz, tr.f0_hz[sel])


@pytest.mark.parametrize("name", ["espeak_flat_stmt01.flac", "emo_happy_14.flac", "emo_sad_03.flac"])
def test_findings_stable_under_resampling_and_level(dev_data, name):
    a0, audio, sr = _analyse(dev_data, name)
    x = audio[0].astype(np.float64)
    x = x * (10 ** (-12 / 20) / np.max(np.abs(x)))  # peak -12 dBFS so +10 dB does not clip
    base = analyse_clip(x, sr, name=name)
    codes0 = {f.code for f in check_clip(base) if f.verdict != "pass"}
    from math import gcd

    def resample(rate):
        g = gcd(rate, sr)
        return resample_poly(x, rate // g, sr // g), rate

    new_rates = [r for r in (22050, 44100, 48000) if r != sr][:2]
    variants = {
        f"{new_rates[0]} Hz": resample(new_rates[0]),
        f"{new_rates[1]} Hz": resample(new_rates[1]),
        "+10 dB": (x * 10 ** (10 / 20), sr),
        "-10 dB": (x * 10 ** (-10 / 20), sr),
    }
    for label, (y, rate) in variants.items():
        v = analyse_clip(y, rate, name=name)
        codes = {f.code for f in check_clip(v) if f.verdict != "pass"}
        assert codes == codes0, (label, codes, codes0)
        assert abs(v.pitch.std_st - base.pitch.std_st) < 0.15, label
        assert abs(v.pitch.span_st - base.pitch.span_st) < 0.6, label
        assert abs(v.intensity_std_db - base.intensity_std_db) < 0.5, label
        assert abs(v.pause_count - base.pause_count) == 0, label
    assert abs(a0.pitch.std_st - base.pitch.std_st) < 1e-6  # gain only
