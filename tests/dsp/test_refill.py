"""Hole refill: holes vanish at the floor's level, nothing changes elsewhere, noise is seeded and exact."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft

from dsp.chain import BuildContext, ChainSettings, StageSpec, build_chain, stage_kind
from dsp.engine import AudioSpec, DryWet, Listen
from dsp.errors import ParameterError
from dsp.holes import detect_holes
from dsp.refill import HoleRefiller, RefillSettings, combine_seeds, incoherent_gain, refill_frames
from dsp.render import ArraySource, render_array, render_blocks
from dsp.roomtone import NoiseProfile
from dsp.stft import SpectralStage, StftProcessor, StftSettings, frame_signal, stft_windows

SR, N_FFT, HOP = 48000, 2048, 512
BLOCKS = [(100, 130, 100, 200), (200, 212, 500, 900), (300, 340, 20, 40)]
BLOCK_SIZES = [1, 64, 65, 511, 4096]


def known_noise(channels=1, seconds=4.0, seed=1):
    return (np.random.default_rng(seed).standard_normal((channels, int(SR * seconds))) * 0.05).astype(np.float32)


def power(x, n_fft=N_FFT, hop=HOP):
    w, _ = stft_windows(n_fft, hop)
    return np.abs(scipy.fft.rfft(frame_signal(x, n_fft, hop, w), axis=-1)).astype(np.float64) ** 2


def profile_of(x, n_fft=N_FFT, hop=HOP):
    p = power(x, n_fft, hop).reshape(-1, n_fft // 2 + 1)
    return NoiseProfile(SR, n_fft, hop, p.mean(0), p.std(0), -26.0)


class Carve(SpectralStage):
    def __init__(self, blocks):
        self.blocks = blocks

    def process_frames(self, fb):
        for f0, f1, k0, k1 in self.blocks:
            a, b = max(f0 - fb.first_frame, 0), min(f1 - fb.first_frame, fb.frames)
            if a < b:
                fb.spectra[:, a:b, k0:k1] = 0


class Attenuate(SpectralStage):
    def __init__(self, db):
        self.g = np.float32(10 ** (db / 20))

    def process_frames(self, fb):
        fb.apply_gain(np.full(fb.spectra.shape, self.g, np.float32))


class Spy(SpectralStage):
    def __init__(self):
        self.seen = []

    def process_frames(self, fb):
        self.seen.append((fb.spectra.copy(), fb.original.copy()))


def chain(prof, *pre, settings=None, n_fft=N_FFT, **kw):
    return StftProcessor([*pre, HoleRefiller(settings or RefillSettings(), prof, **kw)], settings=StftSettings(n_fft=n_fft))


FIXED_LEVEL = RefillSettings(pause_level_db=-60.0)  # pause-adaptive level off: one fill level


@pytest.mark.parametrize(("settings", "floor_db"), [(FIXED_LEVEL, -15.0), (RefillSettings(), -7.0)],
                         ids=["fixed-level", "pause-level"])
def test_after_refill_the_hole_rate_is_zero_and_the_level_sits_at_the_floor(settings, floor_db):
    # known noise only: every frame is a pause, so the default fill sits at the pause level
    x = known_noise()
    prof = profile_of(x)
    carved = render_array(x, SR, StftProcessor([Carve(BLOCKS)], settings=StftSettings(n_fft=N_FFT)))
    assert len(detect_holes(x, carved, prof, SR).regions) == 3
    y = render_array(x, SR, chain(prof, Carve(BLOCKS), settings=settings))
    hm = detect_holes(x, y, prof, SR)
    assert hm.regions == [] and hm.hole_rate == 0.0
    p = power(y)[0]
    floor = prof.mean_power * 10 ** (floor_db / 10)
    for f0, f1, k0, k1 in BLOCKS:
        # frame_signal's frame i is the engine's frame i + 3; stay 2 frames / bins inside the block
        cell = p[f0 - 3 + 2 : f1 - 3 - 2, k0 + 2 : k1 - 2]
        err_db = 10 * np.log10(cell.mean() / floor[k0 + 2 : k1 - 2].mean())
        assert abs(err_db) < 2.0, (f0, k0, err_db)


def test_refill_never_adds_energy_where_there_was_no_hole():
    x = known_noise(seconds=3.0)
    prof = profile_of(x)
    # 1. untouched audio: refill is bit-exact
    ident = render_array(x, SR, StftProcessor(settings=StftSettings(n_fft=N_FFT)))
    np.testing.assert_array_equal(render_array(x, SR, chain(prof)), ident)
    # 2. outside carved holes the output equals the output without refill, sample for sample
    blocks = [(100, 130, 100, 200)]
    without = render_array(x, SR, StftProcessor([Carve(blocks)], settings=StftSettings(n_fft=N_FFT)))
    with_refill = render_array(x, SR, chain(prof, Carve(blocks)))
    span = slice(100 * HOP - N_FFT, 130 * HOP + N_FFT)
    outside = np.ones(x.shape[1], bool)
    outside[span] = False
    np.testing.assert_array_equal(with_refill[:, outside], without[:, outside])
    # 3. bin by bin: only bins below the target move, and only up to the target
    before, after = Spy(), Spy()
    proc = StftProcessor([Attenuate(-14), before, HoleRefiller(RefillSettings(), prof), after],
                         settings=StftSettings(n_fft=N_FFT))
    render_array(x, SR, proc)
    ref = proc.stages[2]
    for (yb, xo), (ya, _) in zip(before.seen, after.seen, strict=False):
        pb, pa, px = (np.abs(v).astype(np.float64) ** 2 for v in (yb, ya, xo))
        changed = ya != yb
        target = np.minimum(ref.pause_power[None, None, :], px)  # the highest the fill goes
        assert np.all(pb[changed] < target[changed])
        assert np.all(pa[changed] <= target[changed] * (1 + 1e-4))
        assert np.all(pa >= pb * (1 - 1e-6))


def test_random_fill_of_digital_silence_and_bed_levels():
    x = known_noise(seconds=3.0)
    prof = profile_of(x)
    silence = np.zeros_like(x)
    floor = prof.mean_power * 10 ** (-15 / 10)
    sel = slice(10, 1000)
    # cap_to_input=False fills even digital silence (edit gaps) with seeded room tone just under the floor
    y = render_array(silence, SR, chain(prof, settings=RefillSettings(cap_to_input=False, margin_db=1.0, smoothing_octaves=0,
                                                                      pause_level_db=-60.0)))
    lvl = 10 * np.log10(power(y)[0, 5:-5, sel].mean(0).mean() / floor[sel].mean())
    assert -2.0 < lvl < 0.0
    # with the pause-adaptive level (default) silence is a pause: the fill sits at the pause level
    y = render_array(silence, SR, chain(prof, settings=RefillSettings(cap_to_input=False, smoothing_octaves=0)))
    lvl = 10 * np.log10(power(y)[0, 5:-5, sel].mean(0).mean() / prof.mean_power[sel].mean())
    assert abs(lvl - RefillSettings().pause_level_db) < 1.0
    # by default silence stays silent
    assert not render_array(silence, SR, chain(prof)).any()
    # the bed: a constant layer bed_db under the floor, everywhere
    y = render_array(silence, SR, chain(prof, settings=RefillSettings(bed=True, bed_db=-10.0)))
    lvl = 10 * np.log10(power(y)[0, 5:-5, sel].mean(0).mean() / floor[sel].mean())
    assert abs(lvl + 10.0) < 1.0


def test_pink_source_matches_the_floor_level_broadband():
    x = known_noise(seconds=3.0)
    prof = profile_of(x)
    silence = np.zeros_like(x)
    y = render_array(silence, SR, chain(prof, settings=RefillSettings(source="pink", cap_to_input=False, margin_db=0.0,
                                                                      pause_level_db=-60.0)))
    p = power(y)[0, 5:-5].mean(0)
    floor = prof.mean_power * 10 ** (-15 / 10)
    band = slice(1, N_FFT // 2)
    assert abs(10 * np.log10(p[band].sum() / floor[band].sum())) < 2.0
    # pink: 10 dB less power per bin a decade up
    f = np.arange(p.size) * SR / N_FFT
    lo, hi = (f > 900) & (f < 1100), (f > 9000) & (f < 11000)
    assert 8.0 < 10 * np.log10(p[lo].mean() / p[hi].mean()) < 12.0


def test_refill_is_deterministic_for_a_seed_and_differs_for_another():
    x = known_noise(seconds=2.0)
    prof = profile_of(x)
    x[:, SR // 2 : SR] = 0.0  # an edit gap

    def run(seed):
        return render_array(x, SR, chain(prof, Carve(BLOCKS[:1]), settings=RefillSettings(bed=True, cap_to_input=False), seed=seed))

    a, b, c = run(7), run(7), run(8)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-4
    # the stage seed counts too
    d = render_array(x, SR, chain(prof, settings=RefillSettings(bed=True, seed=1), seed=7))
    assert np.abs(a - d).max() > 1e-4
    assert combine_seeds(7, 0) != combine_seeds(0, 7)


def make_invariant_chain(prof):
    return chain(prof, Attenuate(-14), Carve([(10, 30, 50, 300)]), settings=RefillSettings(bed=True, cap_to_input=False), seed=3)


@pytest.mark.parametrize("block", BLOCK_SIZES)
def test_any_block_size_gives_identical_output(block):
    x = known_noise(seconds=0.4 if block == 1 else 1.5)
    x[:, 4000:9000] = 0.0
    prof = profile_of(known_noise(seconds=1.0, seed=9))
    ref = render_array(x, SR, make_invariant_chain(prof), block_size=4096)
    out = render_array(x, SR, make_invariant_chain(prof), block_size=block)
    np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("start", [0, 1, 777, 4096, 20001])
def test_playhead_with_preroll_equals_full_render(start):
    x = known_noise(seconds=1.0)
    prof = profile_of(known_noise(seconds=1.0, seed=9))
    full = render_array(x, SR, make_invariant_chain(prof))
    stop = min(start + 12000, x.shape[1])
    part = np.concatenate(list(render_blocks(ArraySource(x, SR), make_invariant_chain(prof), start=start, stop=stop,
                                             block_size=700)), axis=1)
    np.testing.assert_array_equal(part, full[:, start:stop])


def test_stereo_equals_per_channel():
    x = known_noise(channels=2, seconds=1.0)
    prof = profile_of(known_noise(seconds=1.0, seed=9))
    both = render_array(x, SR, make_invariant_chain(prof))
    for c in range(2):
        np.testing.assert_array_equal(both[c : c + 1], render_array(x[c : c + 1], SR, make_invariant_chain(prof)))


def test_decorrelated_channels_get_different_noise():
    silence = np.zeros((2, SR), np.float32)
    prof = profile_of(known_noise(seconds=1.0, seed=9))
    y = render_array(silence, SR, chain(prof, settings=RefillSettings(bed=True, decorrelate_channels=True)))
    assert abs(np.corrcoef(y[0], y[1])[0, 1]) < 0.1
    y = render_array(silence, SR, chain(prof, settings=RefillSettings(bed=True)))
    np.testing.assert_array_equal(y[0], y[1])


def _refill_settings_chain(prof, **chain_kw):
    spec = StageSpec("refill", RefillSettings(bed=True))
    return build_chain(ChainSettings(stages=(spec,), stft=StftSettings(n_fft=N_FFT), **chain_kw),
                       BuildContext(SR, 1, profile=prof))


def test_drywet_with_refill_mix0_bit_exact_and_removed_plus_processed_is_original():
    x = known_noise(seconds=1.0)
    prof = profile_of(x)
    np.testing.assert_array_equal(render_array(x, SR, _refill_settings_chain(prof, mix=0.0)), x)
    pre = [Attenuate(-20), Carve(BLOCKS[:1])]

    def dw(listen):
        return DryWet(chain(prof, *pre, settings=RefillSettings(bed=True)), mix=0.6, listen=listen)

    processed = render_array(x, SR, dw(Listen.PROCESSED))
    removed = render_array(x, SR, dw(Listen.REMOVED))
    original = render_array(x, SR, dw(Listen.ORIGINAL))
    np.testing.assert_array_equal(original, x)
    np.testing.assert_allclose(removed + processed, x, atol=1e-6)


def test_stage_kind_and_chain_building():
    kind = stage_kind("refill")
    assert kind.domain == "spectral" and kind.role == "repair" and kind.needs_profile
    with pytest.raises(ParameterError, match="room-tone profile"):
        build_chain(ChainSettings(stages=(StageSpec("refill", RefillSettings()),)), BuildContext(SR, 1))
    with pytest.raises(ParameterError, match="source"):
        RefillSettings(source="brown").validate()
    # the chain's per-stage mix blends the raise: mix 0 leaves the passes' output alone
    x = known_noise(seconds=1.0)
    prof = profile_of(x)
    ref = HoleRefiller(RefillSettings(), prof)
    ref.mix = 0.0
    a = render_array(x, SR, StftProcessor([Attenuate(-30), ref], settings=StftSettings(n_fft=N_FFT)))
    b = render_array(x, SR, StftProcessor([Attenuate(-30)], settings=StftSettings(n_fft=N_FFT)))
    np.testing.assert_array_equal(a, b)


def test_profile_on_another_grid_is_rescaled():
    x = known_noise(seconds=3.0)
    prof = profile_of(x, n_fft=1024, hop=256)
    y = render_array(x, SR, chain(prof, Carve([(100, 140, 100, 300)]), settings=FIXED_LEVEL))  # engine at 2048
    p = power(y)[0, 100 - 3 + 2 : 140 - 3 - 2, 102:298]
    floor = profile_of(x).mean_power[102:298] * 10 ** (-15 / 10)
    assert abs(10 * np.log10(p.mean() / floor.mean())) < 2.0


# -- the kernel against a slow numpy reference ------------------------------------------------
M64 = (1 << 64) - 1


def _mix64(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def _phase_ref(seed, frame, b, c):
    h = _mix64((seed + 0x9E3779B97F4A7C15 * (frame + 1)) & M64)
    h = _mix64(h ^ ((b * 0xBF58476D1CE4E5B9 + c * 0x94D049BB133111EB) & M64))
    return float(h >> 11) * (2.0 * np.pi / 9007199254740992.0)


def refill_reference(spectra, original, target, rand_target, lo, hi, mix, cap, seed, first_frame, bed_amp,
                     presence=None):
    """``presence``: None, or (pause_target, band_edges, band_room, snr_lo, snr_hi, decay)."""
    out = spectra.copy()
    for c in range(out.shape[0]):
        held = 0.0
        for k in range(out.shape[1]):
            q = 0.0
            if presence is not None:
                pause, edges, room, lo_db, hi_db, decay = presence
                px_frame = np.abs(original[c, k].astype(np.complex128)) ** 2
                snr = [10 * np.log10(px_frame[a:b].sum() / r) for a, b, r in zip(edges[:-1], edges[1:], room, strict=True)]
                p = min(1.0, max(0.0, max((v - lo_db) / (hi_db - lo_db) for v in snr)))
                held = max(p, held * decay)
                q = 1.0 - held
            for b in range(lo, hi):
                y, x = complex(out[c, k, b]), complex(original[c, k, b])
                t0 = target[b]
                t = t0 if presence is None else t0 + q * (presence[0][b] - t0)
                py, px = abs(y) ** 2, abs(x) ** 2
                if cap and px < t:
                    t = px
                if py < t:
                    if py > t * 1e-10:
                        y = y * (1 + mix * (np.sqrt(t / py) - 1))
                    elif px > t * 1e-10:
                        y = y + mix * (x * np.sqrt(t / px) - y)
                    else:
                        a = mix * np.sqrt(rand_target[b] * t / t0)
                        y = y + a * np.exp(1j * _phase_ref(seed, first_frame + k, b, 0))
                if bed_amp is not None:
                    y = y + bed_amp[b] * np.exp(1j * _phase_ref(seed ^ 0x5851F42D4C957F2D, first_frame + k, b, 0))
                out[c, k, b] = y
    return out


@pytest.mark.parametrize("bed", [False, True])
def test_kernel_matches_numpy_reference(bed):
    rng = np.random.default_rng(3)
    shape = (2, 6, 40)
    x = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)
    y = (x * rng.uniform(0, 1, shape)).astype(np.complex64)
    y[:, 2, 5:20] = 0
    x[:, 3, 10:15] = 0
    y[:, 3, 10:15] = 0
    target = rng.uniform(0.1, 1.0, 40)
    rand_target = target * 4.0
    bed_amp = rng.uniform(0, 0.1, 40) if bed else None
    want = refill_reference(y, x, target, rand_target, 2, 38, 0.8, False, 12345, 17, bed_amp)
    got = y.copy()
    refill_frames(got, x, np.ones(shape, np.float32), target, rand_target, lo_bin=2, hi_bin=38, mix=0.8,
                  cap_to_input=False, seed=12345, first_frame=17, bed_amp=bed_amp)
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-6)


def test_kernel_with_pause_adaptive_level_matches_numpy_reference():
    rng = np.random.default_rng(4)
    shape = (2, 12, 40)
    x = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)
    x[:, 4:6, 20:38] *= 6  # loud "speech" in the upper band of frames 4-5
    y = (x * rng.uniform(0, 0.3, shape)).astype(np.complex64)
    y[:, 8, 5:20] = 0
    target = rng.uniform(0.01, 0.05, 40)
    pause = target * 8.0
    edges = np.array([2, 20, 38], np.int64)
    room = np.array([36.0, 36.0])  # 2 per bin, 18 bins a band
    args = (pause, edges, room, 2.0, 7.0, 0.6)
    want = refill_reference(y, x, target, target * 4.0, 2, 38, 1.0, True, 99, 3, None, presence=args)
    got = y.copy()
    state = np.zeros(2, np.float64)
    refill_frames(got[:, :7], x[:, :7], np.ones((2, 7, 40), np.float32), target, target * 4.0, lo_bin=2, hi_bin=38,
                  mix=1.0, cap_to_input=True, seed=99, first_frame=3, pause_target=pause, band_edges=edges,
                  band_room=room, pause_snr_db=2.0, speech_snr_db=7.0, decay=0.6, presence=state)
    assert state[0] > 0.6 ** 2 - 1e-9  # the loud frames' presence is held into the next call
    part = got[:, 7:].copy()
    refill_frames(part, x[:, 7:].copy(), np.ones((2, 5, 40), np.float32), target, target * 4.0, lo_bin=2, hi_bin=38,
                  mix=1.0, cap_to_input=True, seed=99, first_frame=10, pause_target=pause, band_edges=edges,
                  band_room=room, pause_snr_db=2.0, speech_snr_db=7.0, decay=0.6, presence=state)
    got[:, 7:] = part
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-7)


def test_fill_level_follows_speech_presence():
    """Pauses get the pause level, loud (speech) frames the low fill, and the low fill holds after them."""
    x = known_noise(seconds=3.0)
    prof = profile_of(known_noise(seconds=2.0, seed=5))
    loud = slice(SR, 2 * SR)
    x[:, loud] *= 10.0  # +20 dB over the room tone: speech-like level
    proc = chain(prof, Attenuate(-20.0))  # a pass that cuts 20 dB everywhere (under the 15 dB cap: 15 dB)
    y = render_array(x, SR, proc)
    px, py = power(x)[0], power(y)[0]
    sel = slice(20, N_FFT // 2 - 20)

    def level(f0, f1):
        return 10 * np.log10(py[f0:f1, sel].sum() / px[f0:f1, sel].sum())

    frames_per_s = SR // HOP
    # pause: the chain left -15 dB; the fill raises the troughs under the room tone -7 dB
    assert -8.5 < level(10, frames_per_s - 10) < -4.0
    # loud: the fill sits 22 dB under the room tone, far below the -15 dB output; nothing changes
    assert abs(level(frames_per_s + 10, 2 * frames_per_s - 10) + 15.0) < 0.2
    # the 100 ms release: the first frames after the loud part still get (almost) the low fill
    end = 2 * frames_per_s  # the first analysis frame with no loud sample is end - 3
    assert level(end - 2, end) < -13.0
    assert level(end, end + 4) < -10.0
    assert -8.5 < level(end + 60, end + 90) < -4.0  # 6 release times later: the pause level again
    # and presence is per channel: stereo with one loud channel equals per-channel renders
    st = np.concatenate([x, known_noise(seed=8, seconds=3.0)])
    both = render_array(st, SR, chain(prof, Attenuate(-20.0)))
    np.testing.assert_array_equal(both[:1], y)


def test_the_fill_does_not_put_removed_hum_back():
    from dsp.dehum import HumEstimate
    from dsp.refill import without_hum

    freqs = np.arange(N_FFT // 2 + 1) * SR / N_FFT
    room = np.full(freqs.size, 1e-3)
    harmonics = [50.0 * h for h in range(1, 11)]
    for f in harmonics:
        room[np.argmin(np.abs(freqs - f))] = 1.0  # hum 30 dB over the broadband room tone
    hum = HumEstimate(50.0, 50.0, tuple(range(1, 11)), tuple(harmonics), (30.0,) * 10, SR, 10.0)
    clean = without_hum(room, freqs, hum, bin_hz=SR / N_FFT)
    np.testing.assert_allclose(clean, 1e-3, rtol=1e-9)
    np.testing.assert_array_equal(without_hum(room, freqs, None, bin_hz=SR / N_FFT), room)
    prof = NoiseProfile(SR, N_FFT, HOP, room, room, -40.0)
    with_hum = HoleRefiller(RefillSettings(), prof, hum=None)
    no_hum = HoleRefiller(RefillSettings(), prof, hum=hum)
    for stage in (with_hum, no_hum):
        StftProcessor([stage], settings=StftSettings(n_fft=N_FFT)).prepare(AudioSpec(SR, 1))
    k = int(np.argmin(np.abs(freqs - 100.0)))
    assert no_hum.pause_power[k] < with_hum.pause_power[k] * 0.1


def test_incoherent_gain_for_hann_overlap4():
    # Hann / (Hann/1.5) at hop N/4: N / (sum_j ws^2 * sum wa^2) = N / ((4 * 3/8 / 2.25) * 3N/8) = 4
    assert incoherent_gain(2048, 512) == pytest.approx(4.0, rel=1e-6)


def test_refill_accepts_negative_frames_deterministically():
    """A refill after a time-domain stage with latency starts at negative absolute frames."""
    import numpy as np

    from dsp.refill import refill_frames

    def run(first):
        z = np.zeros((1, 3, 8), np.complex64)
        refill_frames(z, z.copy(), np.ones((1, 3, 8), np.float32), np.ones(8), np.ones(8), lo_bin=0, hi_bin=8,
                      mix=1.0, cap_to_input=False, seed=7, first_frame=first)
        return z

    a, b = run(-5), run(-5)
    np.testing.assert_array_equal(a, b)
    assert np.all(np.abs(a) > 0)
    # frame -4 of the run starting at -5 is frame 0 of the run starting at -4
    np.testing.assert_array_equal(run(-4)[:, 0], a[:, 1])
