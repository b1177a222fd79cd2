"""Speaker leveler: engine invariants, the plan on real speech, settings, the kernel's reference."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import soundfile as sf

from app.presets import apply_overrides
from dsp.chain import (
    BuildContext,
    ChainSettings,
    StageSpec,
    analyse_source,
    build_chain,
    stage_kind,
)
from dsp.errors import ParameterError
from dsp.leveler import (
    PLAN_KEY,
    Leveler,
    LevelerSettings,
    LevelPlan,
    apply_envelope,
    correction_db,
    k_weighted_frame_power,
    plan_levels,
)
from dsp.loudness import k_weighting_sos
from dsp.presence import SpeechTrack
from dsp.render import ArraySource, render_array, render_blocks

SR = 16000
BLOCKS = [1, 17, 512, 4096]


def random_plan(frames: int, seed: int = 0, sr: int = SR) -> LevelPlan:
    """A plan with a wiggly envelope (every grid point different), for the engine invariants."""
    hop = sr // 100
    n = -(-frames // hop)
    rng = np.random.default_rng(seed)
    env = np.cumsum(rng.normal(0, 0.8, n + 1)).astype(np.float32)
    return LevelPlan(sr, hop, env, np.zeros((0, 2), np.int64), np.zeros(0, np.float32), np.zeros(0, np.float32))


def signal(seconds: float = 1.0, channels: int = 1, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((channels, int(seconds * SR))) * 0.1).astype(np.float32)


# -- engine invariants ---------------------------------------------------------------------------------
@pytest.mark.parametrize("block", BLOCKS)
def test_block_size_invariance(block):
    x = signal(0.3 if block == 1 else 1.3)
    plan = random_plan(x.shape[1])
    ref = render_array(x, SR, Leveler(plan=plan), block_size=4096)
    np.testing.assert_array_equal(render_array(x, SR, Leveler(plan=plan), block_size=block), ref)


@pytest.mark.parametrize("start", [0, 1, 159, 161, 7777])
def test_playhead_equals_full_render(start):
    x = signal(1.0)
    plan = random_plan(x.shape[1], seed=3)
    full = render_array(x, SR, Leveler(plan=plan))
    p = Leveler(plan=plan)
    part = np.concatenate(list(render_blocks(ArraySource(x, SR), p, start=start, stop=start + 3001, block_size=333)),
                          axis=1)
    assert p.latency == 0 and p.preroll == 0
    np.testing.assert_array_equal(part, full[:, start : start + 3001])


def test_reset_equals_fresh_and_stereo_is_linked():
    x = signal(1.0, channels=2)
    plan = random_plan(x.shape[1], seed=5)
    p = Leveler(plan=plan)
    render_array(x[::-1].copy(), SR, p)
    both = render_array(x, SR, p)
    np.testing.assert_array_equal(both, render_array(x, SR, Leveler(plan=plan)))
    for c in range(2):  # one gain for all channels: stereo equals each channel on its own
        np.testing.assert_array_equal(both[c : c + 1], render_array(x[c : c + 1], SR, Leveler(plan=plan)))


def test_kernel_matches_numpy_reference_and_positions_outside_the_plan():
    x = signal(0.5)
    plan = random_plan(2000, seed=7)  # shorter than the signal: the tail takes the last value
    env = 10.0 ** (plan.gain_db.astype(np.float64) / 20.0)
    for start in (-500, 0, 123):
        got = apply_envelope(x, env, plan.hop, start)
        pos = np.arange(start, start + x.shape[1], dtype=np.float64)
        g = np.interp(pos, np.arange(env.size) * plan.hop, env)  # clamps at both ends
        np.testing.assert_allclose(got[0], x[0] * g, rtol=1e-6, atol=1e-9)


def test_no_plan_is_an_exact_passthrough_and_a_wrong_rate_is_refused():
    x = signal(0.2)
    np.testing.assert_array_equal(render_array(x, SR, Leveler()), x)
    with pytest.raises(ParameterError, match="analyse the file again"):
        render_array(x, 48000, Leveler(plan=random_plan(x.shape[1])))


# -- settings ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("field,value,unit", [
    ("target_spread_lu", -1.0, "LU"), ("max_gain_up_db", 40.0, "dB"), ("max_gain_down_db", -2.0, "dB"),
    ("rate_db_per_s", 0.0, "dB/s"), ("min_pause_ms", 50.0, "ms"), ("pause_floor_margin_db", float("nan"), "dB"),
])
def test_bad_settings_name_the_range_and_unit(field, value, unit):
    with pytest.raises(ParameterError, match=rf"leveler\.{field} must be between .* {unit}, got"):
        LevelerSettings(**{field: value})


def test_registered_as_a_time_domain_utility_not_a_pass():
    kind = stage_kind("leveler")
    assert kind.domain == "time" and kind.role == "utility" and kind.analyse is not None
    chain = ChainSettings(stages=(StageSpec("leveler", LevelerSettings()),))
    chain = apply_overrides(chain, ["leveler.max_gain_up_db=12", "leveler.target_spread_lu=2"])
    assert chain.stages[0].settings.max_gain_up_db == 12.0 and chain.stages[0].settings.target_spread_lu == 2.0


def test_correction_is_continuous_and_zero_inside_the_spread():
    d = np.linspace(-20, 20, 4001)
    c = correction_db(d, 3.0)
    assert np.all(c[np.abs(d) <= 1.5] == 0.0)
    np.testing.assert_allclose(c[d <= -3.0], -d[d <= -3.0])
    assert np.max(np.abs(np.diff(c))) < 0.03  # no jumps


def test_speech_the_detector_is_sure_of_is_trimmed_only_by_its_hangover():
    # a far voice in noise: the detector is sure for 2 s, the level stands 6 dB over the floor only
    # in the stretch's first 100 ms (elsewhere 4 dB over it: quiet speech, not room tone)
    from dsp.leveler import GRID_S, HANGOVER_S, _refine_edges

    n = 400
    mask = np.zeros(n, bool)
    mask[100:300] = True
    prob = np.where(mask, 1.0, 0.05).astype(np.float32)
    level = np.full(n, -60.0)
    level[100:300] = -56.0
    level[100:110] = -40.0
    out = _refine_edges(mask, prob, level)
    trim = int(round(HANGOVER_S / GRID_S))
    assert not out[:100].any() and not out[300:].any()
    # its start is where the level says; its end only the hangover early (it used to end at 110)
    assert out[100:300 - trim].all() and not out[300 - trim : 300].any()
    # a stretch with a loud frame near each end is cut to them (the hangover is longer; the level
    # is smoothed over 30 ms, so the last loud 10 ms frame reaches one frame on)
    level[290:295] = -40.0
    out = _refine_edges(mask, prob, level)
    assert np.flatnonzero(out)[[0, -1]].tolist() == [100, 295]


def test_a_stressed_word_gets_its_voices_gain_and_a_breath_at_most_the_smaller():
    # energy detector (no voice activity track) on noise bursts: a quiet voice's phrase, then one
    # short word of it 7 dB louder than the rest of it (still 11 dB under the loud voice), then
    # the loud voice; later a breath-like burst far under both voices between them
    rng = np.random.default_rng(3)
    parts, spans = [], {}

    def add(name, seconds, level_db):
        n = int(seconds * SR)
        z = rng.standard_normal(n) * 10 ** (level_db / 20) if level_db is not None else np.zeros(n)
        spans[name] = (sum(p.size for p in parts), sum(p.size for p in parts) + n)
        parts.append(z.astype(np.float32))

    for name, sec, lev in [("p0", 0.6, None), ("loud0", 2.5, -20.0), ("p1", 0.6, None), ("quiet", 2.5, -38.0),
                           ("p2", 0.5, None), ("word", 0.4, -31.0), ("p3", 0.6, None), ("loud1", 2.5, -20.0),
                           ("p4", 0.5, None), ("breath", 0.4, -48.0), ("p5", 0.5, None), ("quiet1", 2.5, -38.0),
                           ("p6", 0.6, None)]:
        add(name, sec, lev)
    x = np.concatenate(parts) + room_tone(sum(p.size for p in parts), -66.0)
    plan = plan_levels(ArraySource(x[None], SR), SR, None, LevelerSettings())
    hop = plan.hop

    def gain_at(name):
        s, e = spans[name]
        return float(np.median(plan.gain_db[(s + e) // 2 // hop - 5 : (s + e) // 2 // hop + 5]))

    g_quiet, g_loud = gain_at("quiet"), gain_at("loud1")
    assert g_quiet - g_loud > 12.0, plan.to_dict()  # the quiet voice is raised
    assert gain_at("word") == pytest.approx(g_quiet, abs=0.05)  # its stressed word with it
    assert gain_at("breath") <= min(g_loud, gain_at("quiet1")) + 0.05  # the breath is not raised


def test_stressed_words_do_not_set_the_voice_level():
    # one voice: long phrases at -27 dBFS and, between them, short words 6-7 dB louder (the dev
    # cafe mixture at 8 kHz reads like this). The words are that voice's (step 5), so they must not
    # become the anchor: the voice would then be raised to its own stressed words, i.e. the whole
    # file by ~6 dB, which is a loudness change, not leveling.
    rng = np.random.default_rng(7)
    parts, prob = [], []
    for seconds, level_db in [(0.5, None), (0.6, -20.5), (0.35, None), (1.4, -27.0), (0.4, None), (0.7, -21.0),
                              (0.35, None), (1.5, -27.5), (0.5, None)]:
        n = int(seconds * SR)
        parts.append(rng.standard_normal(n) * 10 ** (level_db / 20) if level_db is not None else np.zeros(n))
        prob += [1.0 if level_db is not None else 0.0] * int(round(seconds / 0.032))
    x = (np.concatenate(parts) + room_tone(sum(p.size for p in parts), -66.0)).astype(np.float32)
    plan = plan_levels(ArraySource(x[None], SR), SR, SpeechTrack(np.array(prob, np.float32)), LevelerSettings())
    assert plan.phrases.shape[0] == 4, plan.to_dict()
    assert np.all(np.abs(plan.phrase_gain_db) < 0.05) and float(np.max(np.abs(plan.gain_db))) < 0.05, plan.to_dict()
    assert plan.to_dict()["spread_before_lu"] < 1.0  # one voice: the report does not call it two


def test_a_voice_near_the_room_tone_is_measured_without_the_noise_under_it():
    # a voice 18 dB under the other and only 2 dB over a steady bed: read with the bed under it,
    # its phrases would seem 2 dB louder than the voice is and be raised 2 dB too little
    rng = np.random.default_rng(5)
    sec = lambda t: int(t * SR)  # noqa: E731
    n = sec(14.0)
    bed = rng.standard_normal(n) * 10 ** (-40.0 / 20)
    voice = np.zeros(n)
    prob = np.zeros(int(14.0 / 0.032) + 1, np.float32)
    spans = {"loud": [(0.5, 3.0), (7.5, 10.0)], "quiet": [(3.6, 6.9), (10.6, 13.5)]}
    for who, level in (("loud", -20.0), ("quiet", -38.0)):
        for a, b in spans[who]:
            voice[sec(a) : sec(b)] = rng.standard_normal(sec(b) - sec(a)) * 10 ** (level / 20)
            prob[int(a / 0.032) : int(b / 0.032)] = 1.0
    x = (voice + bed).astype(np.float32)
    plan = plan_levels(ArraySource(x[None], SR), SR, SpeechTrack(prob), LevelerSettings())
    mid = lambda a, b: int((a + b) / 2 / 0.01)  # noqa: E731
    g = {who: [float(plan.gain_db[mid(a, b)]) for a, b in spans[who]] for who in spans}
    # 18 dB is more than max_gain_up_db (15): the whole file moves down by the rest (the offset),
    # the loud voice with it, and the quiet voice comes up by the 18 dB it lies under the loud
    # one (not 16), within 0.5 dB
    assert plan.offset_db < -2.0 and max(abs(v - plan.offset_db) for v in g["loud"]) < 0.1, plan.to_dict()
    raised = [q - plan.offset_db for q in g["quiet"]]
    assert all(abs(r - 18.0) < 0.5 for r in raised), (raised, plan.to_dict())


# -- the plan on real speech ---------------------------------------------------------------------------
def loudness(x: np.ndarray, sr: int) -> float:
    """BS.1770 integrated loudness (400 ms blocks, gated) of a mono signal."""
    y = scipy.signal.sosfilt(k_weighting_sos(sr), x.astype(np.float64))
    blk, hop = int(0.4 * sr), int(0.1 * sr)
    m = np.array([np.mean(y[s : s + blk] ** 2) for s in range(0, y.size - blk + 1, hop)])
    lk = -0.691 + 10 * np.log10(m + 1e-15)
    keep = lk > -70
    keep &= lk > -0.691 + 10 * np.log10(m[keep].mean()) - 10
    return float(-0.691 + 10 * np.log10(m[keep].mean()))


def room_tone(n: int, level_dbfs: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    b, a = scipy.signal.butter(1, 0.05)
    y = scipy.signal.lfilter(b, a, rng.standard_normal(n)) + 0.2 * rng.standard_normal(n)
    return (y / np.sqrt(np.mean(y**2)) * 10 ** (level_dbfs / 20)).astype(np.float32)


def dialogue(dev_data, gains_db, readers=("s03_libri_198", "s06_arctic_aew"), pause_s=(0.8, 1.2, 0.6, 1.5, 0.9)):
    """Turns alternating between the readers (each clip cut in two turns), with pauses, over room tone.
    Returns the mix and each turn's (start, end, reader index)."""
    clips = [sf.read(dev_data / "clean" / f"{r}.flac", dtype="float32")[0] for r in readers]
    halves = [np.array_split(c, 2) for c in clips]
    parts, turns, pos = [np.zeros(int(0.7 * SR), np.float32)], [], int(0.7 * SR)
    k = 0
    for h in range(2):
        for i, _ in enumerate(readers):
            seg = halves[i][h] * np.float32(10 ** (gains_db[i] / 20))
            turns.append((pos, pos + seg.size, i))
            parts.append(seg)
            pos += seg.size
            pause = np.zeros(int(pause_s[k % len(pause_s)] * SR), np.float32)
            parts.append(pause)
            pos += pause.size
            k += 1
    x = np.concatenate(parts)
    return x + room_tone(x.size, -26.0 - 40.0), turns


def vad_track(x: np.ndarray) -> SpeechTrack | None:
    try:
        from app.pipeline import speech_track
    except ImportError:
        return None
    return speech_track(ArraySource(x[None], SR)).get("speech")


def render_leveler(x: np.ndarray, track, settings: LevelerSettings | None = None):
    settings = settings or LevelerSettings()
    plan = plan_levels(ArraySource(x[None], SR), SR, track, settings)
    return render_array(x[None], SR, Leveler(settings, plan=plan))[0], plan


@pytest.mark.parametrize("detector", ["vad", "energy"])
def test_two_voices_12_db_apart_come_out_within_1_lu(dev_data, detector):
    x, turns = dialogue(dev_data, [0.0, -12.0])
    track = vad_track(x) if detector == "vad" else None
    if detector == "vad" and track is None:
        pytest.skip("voice activity model not available")
    y, plan = render_leveler(x, track)
    before = [np.median([loudness(x[s:e], SR) for s, e, w in turns if w == i]) for i in (0, 1)]
    after = [np.median([loudness(y[s:e], SR) for s, e, w in turns if w == i]) for i in (0, 1)]
    assert before[0] - before[1] > 10.0  # the input really is uneven
    assert abs(after[0] - after[1]) <= 1.0, (before, after, plan.to_dict())
    assert plan.detector == detector and (detector == "vad") == (not plan.warnings)


def test_single_voice_at_one_level_gets_one_constant_gain(dev_data):
    x, _ = dialogue(dev_data, [0.0, 0.0], readers=("s06_arctic_aew", "s06_arctic_aew"))
    y, plan = render_leveler(x, vad_track(x))
    g = plan.gain_db
    assert float(g.max() - g.min()) <= 0.1, plan.to_dict()
    ratio = 20 * np.log10(np.abs(y[np.abs(x) > 1e-3]) / np.abs(x[np.abs(x) > 1e-3]))
    assert float(np.ptp(ratio)) <= 0.1


def test_pause_floor_stays_even_and_phrases_keep_their_dynamics(dev_data):
    x, turns = dialogue(dev_data, [0.0, -12.0])
    y, plan = render_leveler(x, vad_track(x))
    busy = np.zeros(x.size, bool)
    for s, e, _ in turns:
        busy[s:e] = True
    edges = np.flatnonzero(np.diff(np.concatenate([[1], busy.astype(np.int8), [1]])))
    pauses = [(s + 800, e - 800) for s, e in zip(edges[::2], edges[1::2], strict=True) if e - s >= int(0.3 * SR)]
    assert len(pauses) >= 4

    def level(z, s, e):  # the pause's room-tone level: the median of its 10 ms levels (as bench/leveling.py)
        k = (e - s) // 160
        return float(np.median(10 * np.log10(np.mean(z[s : s + k * 160].astype(np.float64).reshape(k, 160) ** 2, axis=1))))

    out = np.array([level(y, s, e) for s, e in pauses])
    inp = np.array([level(x, s, e) for s, e in pauses])
    assert np.ptp(out) <= 2.0, (inp, out)
    # inside each turn the gain is one number: the loudness range of its 400 ms windows is kept
    def lra(z):
        yk = scipy.signal.sosfilt(k_weighting_sos(SR), z.astype(np.float64))
        m = np.array([np.mean(yk[i : i + 6400] ** 2) for i in range(0, yk.size - 6400, 1600)])
        lk = 10 * np.log10(m + 1e-15)
        lk = lk[lk > lk.max() - 20]
        return np.percentile(lk, 95) - np.percentile(lk, 10)

    for s, e, _ in turns:
        assert abs(lra(y[s:e]) - lra(x[s:e])) <= 1.0


def test_breaths_in_a_pause_are_not_raised_above_the_speech_around():
    """Synthetic phrases (speech-like noise bursts) with a breath in a pause: energy detector."""
    rng = np.random.default_rng(4)
    n = SR * 12
    x = room_tone(n, -70.0, seed=2)
    b, a = scipy.signal.butter(2, [200 / 8000, 3000 / 8000], "band")
    for (s, e), g in zip([(1.0, 3.0), (3.8, 5.5), (7.0, 9.0), (9.8, 11.5)], [0.1, 0.1, 0.01, 0.01], strict=True):
        seg = scipy.signal.lfilter(b, a, rng.standard_normal(int((e - s) * SR))) * g
        seg *= 0.6 + 0.4 * np.sin(2 * np.pi * 4 * np.arange(seg.size) / SR) ** 2  # syllables
        x[int(s * SR) : int(s * SR) + seg.size] += seg.astype(np.float32)
    br = slice(int(6.1 * SR), int(6.5 * SR))
    x[br] += (rng.standard_normal(br.stop - br.start) * 0.002 * np.hanning(br.stop - br.start)).astype(np.float32)
    y, plan = render_leveler(x, None)
    gain = lambda sl: 10 * np.log10(np.mean(y[sl] ** 2) / np.mean(x[sl] ** 2))  # noqa: E731
    around = max(gain(slice(int(4.0 * SR), int(5.3 * SR))), gain(slice(int(7.2 * SR), int(8.8 * SR))))
    assert gain(slice(int(7.2 * SR), int(8.8 * SR))) > 10.0  # the quiet phrases were raised
    assert gain(br) <= around + 0.1, (gain(br), around)
    assert gain(br) < 3.0  # and the breath, in its pause, not with them


def test_streamed_frame_power_equals_the_whole_file_at_once():
    x = signal(3.3, channels=2)
    got = k_weighted_frame_power(ArraySource(x, SR), 160)
    y = scipy.signal.sosfilt(k_weighting_sos(SR), x.astype(np.float64), axis=-1)
    p = (y**2).sum(axis=0)
    ref = np.array([p[i : i + 160].mean() for i in range(0, p.size, 160)])
    np.testing.assert_allclose(got, ref, rtol=1e-5)


def test_the_stage_analyses_through_the_chain():
    x, sr = signal(2.0), SR
    settings = ChainSettings(stages=(StageSpec("leveler", LevelerSettings()),))
    ctx = analyse_source(ArraySource(x, sr), settings, BuildContext(sr, 1))
    plan = ctx.extras[PLAN_KEY]
    assert plan.detector == "energy" and "not from voice activity" in plan.warnings[0]
    y = render_array(x, sr, build_chain(settings, ctx))
    assert y.shape == x.shape and np.all(np.isfinite(y))
    assert set(plan.to_dict()) >= {"phrases", "reference_lufs", "gain_db_min", "gain_db_max", "spread_before_lu",
                                   "spread_after_lu", "warnings"}
