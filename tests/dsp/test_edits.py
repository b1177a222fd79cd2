"""The edit list on dev audio: untouched outside each edit's reach, room tone that matches the
profile, joins without clicks, cuts of exact length, spectral repair of a whistle under speech."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft
import scipy.signal
import soundfile as sf

from dsp.chain import BuildContext, ChainSettings, StageSpec, build_chain
from dsp.denoise import GateSettings
from dsp.edits import (
    Cut,
    EditedSource,
    EditPlan,
    EditRenderer,
    ProcessSelection,
    RegionGain,
    RoomToneFill,
    SpectralRepair,
    edit_from_dict,
    edit_to_dict,
    repair_fft_size,
)
from dsp.errors import InputError, ParameterError
from dsp.refill import synthesise_room_tone
from dsp.render import ArraySource, render_array, render_blocks
from dsp.roomtone import estimate_room_tone
from dsp.stft import frame_signal, stft_windows

SECONDS = 8.0
#: A stretch of the dev podcast with speech from 1 s to the end (the mix starts at 9 s).
OFFSET_S = 9.0


@pytest.fixture(scope="module")
def dev(dev_data):
    """8 s of the dev podcast (speech over its noise bed) and a room tone learned from its bed."""
    sr = sf.info(str(dev_data / "podcast" / "podcast_dev_2min_noisy.flac")).samplerate
    a, n = int(OFFSET_S * sr), int(SECONDS * sr)
    x, _ = sf.read(str(dev_data / "podcast" / "podcast_dev_2min_noisy.flac"), dtype="float32", start=a, frames=n,
                   always_2d=True)
    bed, _ = sf.read(str(dev_data / "podcast" / "podcast_dev_2min_noisebed.flac"), dtype="float32", frames=8 * sr,
                     always_2d=True)
    profile = estimate_room_tone(bed.T, sr, regions=[(0.0, 8.0)])
    return np.ascontiguousarray(x.T), sr, profile


def chain(sr, profile):
    """A real chain (the room-tone gate, recursive smoothing and all)."""
    return build_chain(ChainSettings(stages=(StageSpec("gate", GateSettings()),)), BuildContext(sr, 1, profile=profile))


def render(dev, edits, **kw):
    x, sr, profile = dev
    plan = EditPlan(edits, sample_rate=sr, frames=x.shape[1], channels=1, profile=profile)
    procs = {i: chain(sr, profile) for i, e in enumerate(edits) if isinstance(e, ProcessSelection)}
    return EditRenderer(ArraySource(x, sr), chain(sr, profile), plan, processors=procs, **kw).render(), plan


@pytest.fixture(scope="module")
def plain(dev):
    x, sr, profile = dev
    return render_array(x, sr, chain(sr, profile))


def reach(plan, i):
    return plan.reach(next(p for p in plan.regions + plan.cuts if p.index == i))


def assert_untouched(out, plain, lo, hi):
    np.testing.assert_array_equal(out[:, :lo], plain[:, :lo])
    np.testing.assert_array_equal(out[:, hi:], plain[:, hi:])


def max_step(y, a, b):
    return float(np.max(np.abs(np.diff(y[:, max(a, 1) - 1 : b], axis=1))))


def own_step(plain, a, b, margin):
    """The signal's own largest sample-to-sample change around ``[a, b)``."""
    return max_step(plain, max(0, a - margin), min(plain.shape[1], b + margin))


def third_octave_db(y, profile, lo_hz=100.0, hi_hz=16000.0):
    """Mean power per third-octave band on the profile's STFT grid, and the profile's."""
    wa, _ = stft_windows(profile.n_fft, profile.hop_length)
    p = (np.abs(scipy.fft.rfft(frame_signal(y, profile.n_fft, profile.hop_length, wa), axis=-1)) ** 2).mean(axis=(0, 1))
    centres = 1000.0 * 2.0 ** (np.arange(-10, 13) / 3.0)
    centres = centres[(centres >= lo_hz) & (centres <= hi_hz)]
    edges = np.concatenate([centres * 2 ** (-1 / 6), [centres[-1] * 2 ** (1 / 6)]])
    f = profile.frequencies()
    got = np.array([10 * np.log10(p[(f >= a) & (f < b)].mean()) for a, b in zip(edges[:-1], edges[1:], strict=True)])
    return got, profile.band_levels_db(edges)


# -- room tone ---------------------------------------------------------------------------------------
def test_room_tone_is_a_function_of_the_absolute_sample(dev):
    _, sr, profile = dev
    long = synthesise_room_tone(profile, 1000, 20000, seed=5)
    np.testing.assert_array_equal(synthesise_room_tone(profile, 7777, 333, seed=5), long[:, 6777:7110])


def test_room_tone_fill_matches_the_profile_and_nothing_else_changes(dev, plain):
    _, sr, profile = dev
    edit = RoomToneFill(2.0, 4.5)
    out, plan = render(dev, [edit])
    lo, hi = reach(plan, 0)
    assert (lo, hi) == (int(2.0 * sr) - 480, int(4.5 * sr) + 480)
    assert_untouched(out, plain, lo, hi)
    fill = out[:, int(2.0 * sr) : int(4.5 * sr)]
    level = 10 * np.log10(np.mean(fill.astype(np.float64) ** 2))
    assert abs(level - profile.level_dbfs) < 1.0, (level, profile.level_dbfs)
    got, want = third_octave_db(fill, profile)
    print(f"room tone: level {level - profile.level_dbfs:+.2f} dB, third-octave bands within {np.max(np.abs(got - want)):.2f} dB")
    assert np.max(np.abs(got - want)) < 2.0, np.round(got - want, 2)
    for edge in (int(2.0 * sr), int(4.5 * sr)):  # seamless at both ends
        print(f"room tone join at {edge / sr:.1f} s: step {max_step(out, edge - 480, edge + 480):.4f}, "
              f"signal's own {own_step(plain, edge - 480, edge + 480, sr // 10):.4f}")
        assert max_step(out, edge - 480, edge + 480) <= own_step(plain, edge - 480, edge + 480, sr // 10)


def test_room_tone_fill_needs_a_profile(dev):
    x, sr, _ = dev
    with pytest.raises(ParameterError, match="room-tone profile"):
        EditPlan([RoomToneFill(1.0, 2.0)], sample_rate=sr, frames=x.shape[1])


# -- gain, process selection ---------------------------------------------------------------------------
def test_gain_on_a_region(dev, plain):
    _, sr, _ = dev
    out, plan = render(dev, [RegionGain(3.0, 4.0, gain_db=-9.0)])
    lo, hi = reach(plan, 0)
    assert_untouched(out, plain, lo, hi)
    a, b = int(3.0 * sr), int(4.0 * sr)
    np.testing.assert_allclose(out[:, a:b], plain[:, a:b] * np.float32(10 ** (-9 / 20)), rtol=1e-6, atol=1e-9)
    for edge in (a, b):
        assert max_step(out, edge - 480, edge + 480) <= own_step(plain, edge - 480, edge + 480, sr // 10)


def test_process_selection_replaces_the_chain_output_in_the_span(dev, plain):
    x, sr, profile = dev
    stronger = ChainSettings(stages=(StageSpec("gate", GateSettings(max_reduction_db=15.0)),))
    edit = ProcessSelection(2.5, 5.0, chain=stronger, what="a stronger gate")
    plan = EditPlan([edit], sample_rate=sr, frames=x.shape[1], profile=profile)
    own = build_chain(stronger, BuildContext(sr, 1, profile=profile))
    out = EditRenderer(ArraySource(x, sr), chain(sr, profile), plan,
                       processors={0: build_chain(stronger, BuildContext(sr, 1, profile=profile))}).render()
    lo, hi = plan.reach(plan.regions[0])
    assert_untouched(out, plain, lo, hi)
    a, b = int(2.5 * sr), int(5.0 * sr)
    expect = np.concatenate(list(render_blocks(ArraySource(x, sr), own, start=lo, stop=hi)), axis=1)
    np.testing.assert_array_equal(out[:, a:b], expect[:, a - lo : b - lo])
    assert not np.allclose(out[:, a:b], plain[:, a:b])
    for edge in (a, b):
        print(f"process selection join at {edge / sr:.1f} s: step {max_step(out, edge - 480, edge + 480):.4f}, "
              f"signal's own {own_step(plain, edge - 480, edge + 480, sr // 10):.4f}")
        assert max_step(out, edge - 480, edge + 480) <= own_step(plain, edge - 480, edge + 480, sr // 10)


# -- cuts ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("keep", [False, True])
def test_cut_shortens_by_exactly_the_cut_without_a_click(dev, plain, keep):
    _, sr, profile = dev
    a, b = round(2.3 * sr), round(3.1 * sr)
    out, plan = render(dev, [Cut(2.3, 3.1, keep_room_tone=keep)])
    assert out.shape[1] == plain.shape[1] - (b - a)
    h = 480
    np.testing.assert_array_equal(out[:, : a - h], plain[:, : a - h])
    tail = b + (h if keep else 0)
    np.testing.assert_array_equal(out[:, tail - (b - a) :], plain[:, tail:])
    own = max(own_step(plain, a - h, a, sr // 10), own_step(plain, b, b + h, sr // 10))
    print(f"cut keep={keep}: join step {max_step(out, a - h, a + h):.4f}, signal's own {own:.4f}")
    assert max_step(out, a - h, a + h) <= own
    assert plan.source_to_output(b + 10) == a + 10 and plan.output_to_source(a + 10) == b + 10
    assert plan.source_to_output(a + 100) == a  # inside the cut: the join


def test_cut_keeping_room_tone_has_room_tone_at_the_join(dev, plain):
    _, sr, profile = dev
    a = round(2.3 * sr)
    out, _ = render(dev, [Cut(2.3, 3.1, keep_room_tone=True, handle_s=0.1)])
    join = out[:, a - 2400 : a + 2400]  # the middle of the 100 ms fades: mostly room tone
    level = 10 * np.log10(np.mean(join.astype(np.float64) ** 2))
    assert abs(level - profile.level_dbfs) < 3.0


def test_overlapping_cuts_are_refused(dev):
    x, sr, _ = dev
    with pytest.raises(ParameterError, match="overlaps"):
        EditPlan([Cut(1.0, 2.0), Cut(1.5, 2.5)], sample_rate=sr, frames=x.shape[1])


def test_a_repair_longer_than_two_minutes_is_refused_with_what_to_do():
    with pytest.raises(ParameterError, match="at most 120 s; select less"):
        EditPlan([SpectralRepair(0.0, 200.0, low_hz=100.0, high_hz=200.0)], sample_rate=8000, frames=8000 * 300)


# -- spectral repair -----------------------------------------------------------------------------------
def lock_in(y, sr, hz, a, b):
    t = np.arange(a, b) / sr
    seg = y[0, a:b].astype(np.float64)
    return 2 * abs(np.mean(seg * np.exp(-2j * np.pi * hz * t)))


def band_levels(y, sr, a, b):
    """Level per bin over ``[a, b)``, through a Blackman-Harris window (sidelobes under -90 dB: the
    whistle's own skirt in a Hann analysis would read as a change outside the rectangle)."""
    n = repair_fft_size(sr)
    wa = scipy.signal.get_window("blackmanharris", n).astype(np.float32)
    return 10 * np.log10((np.abs(scipy.fft.rfft(frame_signal(y[:, a:b], n, n // 4, wa), axis=-1)) ** 2).mean(axis=1)[0] + 1e-30)


@pytest.mark.parametrize("mode", ["attenuate", "replace"])
def test_spectral_repair_removes_a_whistle_under_speech(dev, mode):
    x, sr, profile = dev
    t0, t1 = 3.0, 4.0
    a, b = int(t0 * sr), int(t1 * sr)
    whistle = np.zeros_like(x)
    ramp = np.sin(0.5 * np.pi * np.clip(np.minimum(np.arange(b - a), np.arange(b - a)[::-1]) / 240.0, 0, 1)) ** 2
    whistle[:, a:b] = 0.05 * np.sin(2 * np.pi * 2000.0 * np.arange(b - a) / sr) * ramp
    xw = x + whistle
    src = ArraySource(xw, sr)
    plain_w = render_array(xw, sr, chain(sr, profile))
    edit = SpectralRepair(t0 - 0.05, t1 + 0.05, low_hz=1850.0, high_hz=2150.0, mode=mode, attenuation_db=40.0)
    plan = EditPlan([edit], sample_rate=sr, frames=x.shape[1], profile=profile)
    out = EditRenderer(src, chain(sr, profile), plan).render()
    lo, hi = plan.reach(plan.regions[0])
    assert_untouched(out, plain_w, lo, hi)
    before = lock_in(plain_w, sr, 2000.0, a, b)
    after = lock_in(out, sr, 2000.0, a, b)
    removed = 20 * np.log10(before / after)
    assert removed >= 20.0, removed
    # bins outside the rectangle (beyond the measuring window's main lobe: three bins) move by at most 0.1 dB
    n = repair_fft_size(sr)
    f = np.arange(n // 2 + 1) * sr / n
    outside = (f < 1850.0 - 3 * sr / n) | (f > 2150.0 + 3 * sr / n)
    change = np.abs(band_levels(out, sr, lo, hi) - band_levels(plain_w, sr, lo, hi))[outside & (f > 50)]
    print(f"spectral repair {mode}: whistle down {removed:.1f} dB, bins outside moved at most {change.max():.3f} dB")
    assert change.max() <= 0.1, change.max()


# -- data ----------------------------------------------------------------------------------------------
def test_edits_round_trip_and_damaged_data_says_what_to_do():
    edits = [RoomToneFill(1.0, 2.0), RegionGain(1.0, 2.0, gain_db=-3.0), Cut(3.0, 4.0, keep_room_tone=True),
             SpectralRepair(1.0, 2.0, low_hz=100.0, high_hz=300.0, mode="replace"),
             ProcessSelection(0.5, 0.7, chain=ChainSettings(stages=(StageSpec("gate", GateSettings()),)), what="Gate")]
    for e in edits:
        assert edit_from_dict(edit_to_dict(e)) == e
    with pytest.raises(InputError, match="end_s"):
        edit_from_dict({"kind": "cut", "start_s": 1.0, "end_s": "x"})
    with pytest.raises(InputError, match="kind"):
        edit_from_dict({"kind": "explode", "start_s": 1.0, "end_s": 2.0})
    with pytest.raises(InputError, match="damaged edit"):
        edit_from_dict({"kind": "gain", "start_s": 2.0, "end_s": 1.0})


def test_block_size_and_playhead_do_not_change_the_output(dev):
    x, sr, profile = dev
    edits = [RoomToneFill(1.0, 1.5), Cut(2.0, 2.5, keep_room_tone=True), Cut(4.0, 4.2),
             SpectralRepair(5.0, 5.5, low_hz=1000.0, high_hz=3000.0, mode="replace")]
    plan = EditPlan(edits, sample_rate=sr, frames=x.shape[1], profile=profile)
    full = EditRenderer(ArraySource(x, sr), chain(sr, profile), plan).render()
    small = np.concatenate(list(EditRenderer(ArraySource(x, sr), chain(sr, profile), plan, block_size=4099).blocks()), axis=1)
    np.testing.assert_allclose(small, full, atol=1e-5)
    start = plan.source_to_output(int(5.2 * sr))  # a playhead inside the repair
    part = np.concatenate(list(EditRenderer(ArraySource(x, sr), chain(sr, profile), plan).blocks(start)), axis=1)
    np.testing.assert_allclose(part, full[:, start:], atol=1e-5)


def test_edited_source_serves_reads_behind_the_render_from_memory(dev):
    x, sr, profile = dev
    plan = EditPlan([Cut(2.0, 2.5, keep_room_tone=True), RegionGain(3.0, 3.5)], sample_rate=sr, frames=x.shape[1],
                    profile=profile)
    full = EditRenderer(ArraySource(x, sr), chain(sr, profile), plan).render()
    src = EditedSource(EditRenderer(ArraySource(x, sr), chain(sr, profile), plan, block_size=4096))
    start = 48000
    np.testing.assert_allclose(src.read(start, 4096), full[:, start : start + 4096], atol=1e-5)
    for k in range(40):  # the monitor's pattern: ahead by a block, then the same span again
        a = start + 1024 * k
        np.testing.assert_allclose(src.read(a + 4096, 1024), full[:, a + 4096 : a + 5120], atol=1e-5)
        np.testing.assert_allclose(src.read(a, 1024), full[:, a : a + 1024], atol=1e-5)
    assert src.restarts == 1
    np.testing.assert_allclose(src.read(5000, 100), full[:, 5000:5100], atol=1e-5)  # a seek back: a new render
    assert src.restarts == 2


def test_stereo_edits_equal_each_channel_alone(dev):
    x, sr, profile = dev
    st = np.concatenate([x, 0.5 * x[:, ::-1]], axis=0)
    edits = [RegionGain(1.0, 1.5, gain_db=-6.0), SpectralRepair(2.0, 2.5, low_hz=500.0, high_hz=1500.0, mode="replace"),
             Cut(3.0, 3.3)]
    ident = lambda: build_chain(ChainSettings(), BuildContext(sr, 2))  # noqa: E731
    both = EditRenderer(ArraySource(st, sr), ident(), EditPlan(edits, sample_rate=sr, frames=st.shape[1], channels=2)).render()
    for c in range(2):
        one = EditRenderer(ArraySource(st[c : c + 1], sr), build_chain(ChainSettings(), BuildContext(sr, 1)),
                           EditPlan(edits, sample_rate=sr, frames=st.shape[1])).render()
        np.testing.assert_allclose(both[c : c + 1], one, atol=1e-6)


def test_edit_fields_declare_their_range_once_in_the_settings_schema():
    from dsp.edits import EDIT_KINDS
    from dsp.schema import field_schema, schemas

    for cls in EDIT_KINDS.values():
        assert "handle_s" in schemas(cls) and all(s.doc for s in schemas(cls).values()), cls
    assert field_schema(RegionGain, "gain_db").hi == 24.0
    with pytest.raises(ParameterError, match=r"gain\.gain_db must be between -60 and 24 dB, got 30"):
        RegionGain(1.0, 2.0, gain_db=30.0)
    with pytest.raises(ParameterError, match=r"cut\.handle_s must be between 0 and 1 s"):
        Cut(1.0, 2.0, handle_s=5.0)
    with pytest.raises(ParameterError, match=r"spectral\.mode must be one of attenuate, replace"):
        SpectralRepair(1.0, 2.0, mode="blur")
