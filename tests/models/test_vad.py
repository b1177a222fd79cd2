"""Voice activity (silero-vad) and the automatic room tone learned where nobody speaks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly

from dsp.io import AudioReader
from dsp.roomtone import RoomToneSettings
from models.auto_profile import AutoProfileSettings, auto_room_tone, choose_stretches
from models.vad import (
    FRAME_S,
    SpeechSegment,
    VadSettings,
    available_backends,
    detect_speech,
    non_speech_regions,
    segments_from_probabilities,
    speech_probabilities,
)

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "assets" / "demo" / "demo_episode.flac"
pytestmark = [pytest.mark.model,
              pytest.mark.skipif(not available_backends(), reason="silero-vad with onnxruntime or torch is not installed")]


def _mask(segments, times):
    m = np.zeros(times.size, bool)
    for s in segments:
        m |= (times >= s.start_s) & (times < s.end_s)
    return m


def _level_db(x):
    return 10 * np.log10(np.mean(np.asarray(x, np.float64) ** 2) + 1e-20)


@pytest.fixture(scope="module")
def podcast(dev_data):
    d = dev_data / "podcast"
    noisy, sr = sf.read(d / "podcast_dev_2min_noisy.flac", dtype="float32")
    clean, _ = sf.read(d / "podcast_dev_2min_clean.flac", dtype="float32")
    bed, _ = sf.read(d / "podcast_dev_2min_noisebed.flac", dtype="float32")
    with AudioReader(d / "podcast_dev_2min_noisy.flac") as r:
        segs = detect_speech(r, r.sample_rate, block_s=7.3)  # streamed, odd block length
    return {"noisy": noisy, "clean": clean, "bed": bed, "sr": sr, "segments": segs, "path": d / "podcast_dev_2min_noisy.flac"}


def _clean_activity(clean, sr, *, frame_s=0.01, below_db=25.0, bridge_s=0.3):
    """Reference speech activity from the clean file: 10 ms frames within ``below_db`` of the
    95th-percentile frame level, gaps shorter than ``bridge_s`` closed (pauses between words)."""
    hop = int(frame_s * sr)
    n = clean.size // hop
    e = 10 * np.log10(np.mean(clean[: n * hop].reshape(n, hop).astype(np.float64) ** 2, axis=1) + 1e-12)
    act = e > np.percentile(e, 95) - below_db
    idx = np.flatnonzero(act)
    for a, b in zip(idx[:-1], idx[1:], strict=True):
        if 1 < b - a <= bridge_s / frame_s:
            act[a:b] = True
    return act, np.arange(n) * frame_s + frame_s / 2


def test_vad_finds_the_speech_of_the_dev_podcast(podcast):
    act, t = _clean_activity(podcast["clean"], podcast["sr"])
    vad = _mask(podcast["segments"], t)
    agreement = float(np.mean(vad == act))
    assert agreement >= 0.90, agreement
    # not a trivial answer: "all speech" and "no speech" both agree far less
    assert agreement > max(act.mean(), 1 - act.mean()) + 0.1
    assert all(0.5 <= s.probability <= 1.0 for s in podcast["segments"])
    assert all(a.end_s <= b.start_s for a, b in zip(podcast["segments"], podcast["segments"][1:], strict=False))


def test_streaming_equals_whole_array(podcast):
    x = podcast["noisy"][: 30 * podcast["sr"]]
    whole = speech_probabilities(x, podcast["sr"], block_s=1000.0)
    blocks = speech_probabilities(x, podcast["sr"], block_s=2.9)
    assert whole.size == int(np.ceil(30.0 / FRAME_S))
    np.testing.assert_allclose(blocks, whole, atol=1e-4)
    streamed = [s for s in podcast["segments"] if s.end_s <= 29.0]
    direct = [s for s in detect_speech(x, podcast["sr"]) if s.end_s <= 29.0]
    assert streamed == direct


def test_other_rates_and_stereo_give_the_same_segments(podcast):
    sr = podcast["sr"]
    x = podcast["noisy"][: 20 * sr].astype(np.float64)
    ref = detect_speech(x.astype(np.float32), sr)
    for rate, up, down in ((16000, 1, 3), (44100, 147, 160)):
        y = resample_poly(x, up, down).astype(np.float32)
        got = detect_speech(y, rate)
        assert len(got) == len(ref)
        for a, b in zip(got, ref, strict=True):
            assert abs(a.start_s - b.start_s) <= 0.07 and abs(a.end_s - b.end_s) <= 0.07
    stereo = np.stack([x, x]).astype(np.float32)
    assert detect_speech(stereo, sr) == ref


def test_no_speech_in_noise_and_silence():
    sr = 16000
    rng = np.random.default_rng(0)
    assert detect_speech(np.zeros(3 * sr, np.float32), sr) == []
    assert detect_speech((0.003 * rng.standard_normal(3 * sr)).astype(np.float32), sr) == []


@pytest.mark.skipif(not {"onnx", "torch"} <= set(available_backends()), reason="needs both backends")
@pytest.mark.slow
def test_onnx_and_torchscript_backends_agree(podcast):
    x = podcast["noisy"][: 3 * podcast["sr"]]
    a = speech_probabilities(x, podcast["sr"], backend="onnx")
    b = speech_probabilities(x, podcast["sr"], backend="torch")
    np.testing.assert_allclose(a, b, atol=1e-4)


def test_segments_from_probabilities_hysteresis_and_padding():
    p = np.zeros(100)
    p[10:30] = 0.9  # 0.64 s of speech
    p[31] = 0.2  # a 1-frame dip below neg_threshold: bridged (< 100 ms)
    p[32:40] = 0.9
    p[60:63] = 0.9  # 96 ms: shorter than min_speech -> dropped
    segs = segments_from_probabilities(p, 100 * FRAME_S, VadSettings(speech_pad_ms=0.0))
    assert len(segs) == 1
    assert segs[0].start_s == pytest.approx(10 * FRAME_S) and segs[0].end_s == pytest.approx(40 * FRAME_S)
    padded = segments_from_probabilities(p, 100 * FRAME_S, VadSettings(speech_pad_ms=30.0))
    assert padded[0].start_s == pytest.approx(10 * FRAME_S - 0.03)


def test_non_speech_regions_and_longest_stretches():
    segs = [SpeechSegment(1.0, 2.0, 0.9), SpeechSegment(2.5, 6.0, 0.9), SpeechSegment(9.0, 9.5, 0.9)]
    free = non_speech_regions(segs, 10.0, guard_s=0.1)
    assert free == [(0.0, 0.9), (2.1, 2.4), (6.1, 8.9), (9.6, 10.0)]
    chosen = choose_stretches(segs, 10.0, AutoProfileSettings(guard_ms=100, min_stretch_ms=250, target_s=3.0))
    assert chosen == [(0.0, 0.9), (6.1, 8.9)]  # longest first until 3 s, back in time order


# -- automatic room tone ---------------------------------------------------------------------------------
def test_auto_room_tone_on_the_demo_learns_where_nobody_speaks():
    meta = json.loads((DEMO.with_suffix(".json")).read_text())
    with AudioReader(DEMO) as r:
        prof = auto_room_tone(r, r.sample_rate, RoomToneSettings(), source_name=str(DEMO))
    assert prof.method == "vad"
    speech = [(s["start_s"], s["end_s"]) for s in meta["speech_regions"]]
    for a, b in prof.regions:
        for s0, s1 in speech:
            assert min(b, s1) - max(a, s0) <= 0.0, f"profile region {a}-{b} overlaps speech {s0}-{s1}"
    # the file's room-tone-only stretch is found and used
    (t0, t1), = meta["room_tone_only"]
    inside = sum(max(0.0, min(b, t1) - max(a, t0)) for a, b in prof.regions)
    assert inside >= 0.8 * (t1 - t0)
    assert abs(prof.level_dbfs - meta["noise_rms_dbfs"]) < 1.5


def test_auto_room_tone_on_the_dev_podcast_uses_speech_free_regions(podcast):
    sr = podcast["sr"]
    with AudioReader(podcast["path"]) as r:
        prof = auto_room_tone(r, r.sample_rate, segments=podcast["segments"])
    assert prof.method == "vad" and prof.duration_s >= 10.0
    clean = podcast["clean"]
    act, _ = _clean_activity(clean, sr)
    speech_level = _level_db(clean[np.repeat(act, int(0.01 * sr))[: clean.size]])
    for a, b in prof.regions:
        seg = clean[int(a * sr) : int(b * sr)]
        assert _level_db(seg) < speech_level - 25.0, f"region {a}-{b} holds speech"
    # and it measures the true noise bed
    assert abs(prof.level_dbfs - _level_db(podcast["bed"])) < 1.0


def test_auto_room_tone_falls_back_when_speech_never_pauses_for_long():
    sr = 16000
    rng = np.random.default_rng(1)
    x = (0.01 * rng.standard_normal(sr * 10)).astype(np.float32)
    with pytest.raises(Exception, match="all speech"):
        auto_room_tone(x[None, :], sr, segments=[SpeechSegment(0.0, 10.0, 0.9)])
    # speech 0.3 s on / 0.2 s off: every pause is shorter than min_stretch_ms, so the quietest
    # frames outside speech are used (still method "vad"), with a warning saying so
    segs = [SpeechSegment(t, t + 0.3, 0.9) for t in np.arange(0.0, 10.0, 0.5)]
    prof = auto_room_tone(x[None, :], sr, segments=segs, auto=AutoProfileSettings(guard_ms=0.0))
    assert prof.method == "vad"
    assert any("quietest frames outside speech" in w for w in prof.warnings)
    for a, b in prof.regions:
        assert all(min(b, s.end_s) - max(a, s.start_s) <= 0.0 for s in segs)


def test_registered_as_the_preferred_speech_detector():
    from models import speech_activity
    from models.vad import speech_regions

    assert speech_activity.available_detectors()[0] == "silero"
    assert speech_activity.get_detector("auto") is speech_regions
    sr = 16000
    regions = speech_activity.get_detector("auto")(np.zeros(sr, np.float32), sr)
    assert regions.shape == (0, 2)


def test_auto_room_tone_keeps_its_regions_inside_a_short_file():
    """A 0.68 s file at 44.1 kHz: the detector's 16 kHz grid must not push a region past the end."""
    from models.auto_profile import auto_room_tone

    rng = np.random.default_rng(5)
    x = (rng.uniform(-0.9, 0.9, (2, 30000))).astype(np.float32)
    prof = auto_room_tone(x, 44100)
    # (the profile records its regions rounded to 0.1 ms)
    assert all(0.0 <= a < b <= 30000 / 44100 + 1e-4 for a, b in prof.regions)


# -- the quiet screen ------------------------------------------------------------------------------
def test_frame_levels_are_dbfs_without_dc_and_the_same_for_any_block_length():
    from dsp.render import ArraySource
    from models.auto_profile import frame_levels_db

    sr = 16000
    t = np.arange(sr * 3) / sr
    x = (0.1 * np.sin(2 * np.pi * 250.0 * t)).astype(np.float32)  # 8 periods in a 32 ms frame
    x[sr : 2 * sr] = 0.0  # a second of digital silence
    levels = frame_levels_db(ArraySource((x + 0.5)[None], sr))  # a DC offset is not level
    assert levels.size == 3 * sr // 512
    loud = np.isfinite(levels)
    assert not loud[sr // 512 + 1 : 2 * sr // 512 - 1].any()  # the silent second: -inf
    assert np.allclose(levels[:30], 10 * np.log10(0.1**2 / 2), atol=0.05)  # -23.0 dBFS
    stereo = ArraySource(np.stack([x, x]), sr)
    assert np.array_equal(frame_levels_db(stereo, block_s=0.1), frame_levels_db(stereo, block_s=60.0))


def test_quiet_candidates_are_long_runs_near_the_floor_longest_first():
    from models.auto_profile import quiet_candidates

    fs = 0.032
    levels = np.full(200, -20.0)  # speech level
    levels[10:30] = -50.0  # 0.64 s of quiet
    levels[50:120] = -48.0  # 2.24 s of quiet
    levels[150:155] = -50.0  # 0.16 s: too short for a stretch with its guards
    levels[160:190] = -np.inf  # 0.96 s of digital silence: never a candidate
    got = quiet_candidates(levels, fs, AutoProfileSettings(quiet_percentile=10, quiet_range_db=10))
    assert got == [(50 * fs, 120 * fs), (10 * fs, 30 * fs)]


def test_quiet_screen_on_the_dev_podcast_learns_the_noise_bed_from_part_of_the_file(podcast):
    from models.auto_profile import screen_quiet_stretches

    sr = podcast["sr"]
    with AudioReader(podcast["path"]) as r:
        screen = screen_quiet_stretches(r, r.sample_rate)
        prof = auto_room_tone(r, r.sample_rate)
    duration = podcast["noisy"].shape[0] / sr
    assert screen.found_s >= 20.0 and screen.model_s < 0.5 * duration
    assert prof.regions == [tuple(map(float, s)) for s in screen.stretches]
    # Speech the model cannot hear (an onset under the noise bed: 79.7-81.2 s starts 0.5 s before
    # the model's segment) may remain; what matters is its share of the regions' power, measured
    # against the true bed: -18.8 dB in all (0.06 dB of bias), -10.7 dB in the worst region.
    # (The whole-file selection's regions: -21.3 and -16.1 dB.)
    clean, bed = podcast["clean"], podcast["bed"]
    spans = [(int(a * sr), int(b * sr)) for a, b in prof.regions]
    e_speech = [float(np.sum(clean[i:j].astype(np.float64) ** 2)) for i, j in spans]
    e_bed = [float(np.sum(bed[i:j].astype(np.float64) ** 2)) for i, j in spans]
    assert 10 * np.log10(sum(e_speech) / sum(e_bed)) < -15.0
    assert max(10 * np.log10(s / n) for s, n in zip(e_speech, e_bed, strict=True)) < -8.0
    assert abs(prof.level_dbfs - _level_db(bed)) < 1.0


@pytest.mark.slow
def test_quiet_screen_runs_the_model_on_a_bounded_share_of_a_long_file(podcast, monkeypatch):
    import models.auto_profile as ap

    sr = podcast["sr"]
    x = np.tile(podcast["noisy"], 5)[None, :]  # 10 minutes
    seen = []
    real = ap.speech_probabilities

    def counting(audio, sample_rate, **kw):
        seen.append(audio.frames / sample_rate)
        return real(audio, sample_rate, **kw)

    monkeypatch.setattr(ap, "speech_probabilities", counting)
    auto = AutoProfileSettings()
    prof = auto_room_tone(x, sr, auto=auto)
    assert 0 < sum(seen) <= auto.screen_budget_s + 1e-6
    assert abs(prof.level_dbfs - _level_db(podcast["bed"])) < 1.0
    whole = auto_room_tone(x, sr, auto=AutoProfileSettings(screen=False), segments=detect_speech(x, sr))
    assert abs(prof.level_dbfs - whole.level_dbfs) < 0.5


def test_quiet_screen_never_learns_from_digital_silence(podcast):
    sr = podcast["sr"]
    noisy = podcast["noisy"][: 40 * sr]
    gap = np.zeros(10 * sr, np.float32)  # an editor's silence: quieter than any room tone
    x = np.concatenate([gap, noisy, gap])[None, :]
    prof = auto_room_tone(x, sr)
    assert prof.regions and all(10.0 <= a and b <= 50.0 for a, b in prof.regions), prof.regions
    assert abs(prof.level_dbfs - _level_db(podcast["bed"][: 40 * sr])) < 1.5


def test_quiet_screen_hands_over_to_the_whole_file_when_it_finds_too_little(podcast, monkeypatch):
    import models.auto_profile as ap

    sr = podcast["sr"]
    x = podcast["noisy"][None, : 60 * sr]
    calls = []
    real = ap.detect_speech
    monkeypatch.setattr(ap, "detect_speech", lambda *a, **k: calls.append(1) or real(*a, **k))
    tight = AutoProfileSettings(screen_budget_s=0.5)  # too little audio for any stretch
    prof = auto_room_tone(x, sr, auto=tight)
    assert calls == [1]
    whole = auto_room_tone(x, sr, auto=AutoProfileSettings(screen=False))
    assert prof.regions == whole.regions and np.array_equal(prof.mean_power, whole.mean_power)


@pytest.mark.parametrize("bad", [
    {"quiet_percentile": 120.0}, {"quiet_range_db": 0.0}, {"screen_budget_s": 0.0}, {"context_s": -1.0},
])
def test_quiet_screen_settings_are_checked(bad):
    from dsp.errors import ParameterError

    with pytest.raises(ParameterError):
        AutoProfileSettings(**bad).validate()
