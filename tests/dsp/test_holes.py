"""Spectral-hole detection: carved holes are found where they were carved; untouched audio has none."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.fft

from dsp.errors import ParameterError
from dsp.holes import HoleSettings, detect_holes
from dsp.render import ArraySource, render_array
from dsp.roomtone import NoiseProfile
from dsp.stft import SpectralStage, StftProcessor, StftSettings, frame_signal, stft_windows

SR, N_FFT, HOP = 48000, 2048, 512


def known_noise(channels=1, seconds=4.0, seed=1, colour=0.0):
    """Gaussian noise, optionally tilted (colour dB/octave), 0.05 rms-ish."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((channels, int(SR * seconds)))
    if colour:
        spec = np.fft.rfft(x, axis=-1)
        f = np.fft.rfftfreq(x.shape[1], 1 / SR)
        spec *= (np.maximum(f, 50.0) / 1000.0) ** (colour / 6.02)
        x = np.fft.irfft(spec, n=x.shape[1], axis=-1)
        x /= x.std()
    return (x * 0.05).astype(np.float32)


def profile_of(x, n_fft=N_FFT, hop=HOP, sr=SR):
    """Profile from known noise: mean |rfft(window*frame)|^2 per bin (the engine's power units)."""
    w, _ = stft_windows(n_fft, hop)
    p = np.abs(scipy.fft.rfft(frame_signal(x, n_fft, hop, w), axis=-1)).astype(np.float64) ** 2
    p = p.reshape(-1, p.shape[-1])
    return NoiseProfile(sr, n_fft, hop, p.mean(0), p.std(0), -26.0, duration_s=x.shape[1] / sr)


class Carve(SpectralStage):
    """Zeroes time-frequency blocks (absolute frames [f0, f1), bins [k0, k1)) on given channels."""

    def __init__(self, blocks, channels=None):
        self.blocks = blocks
        self.channels = channels

    def process_frames(self, fb):
        for f0, f1, k0, k1 in self.blocks:
            a, b = max(f0 - fb.first_frame, 0), min(f1 - fb.first_frame, fb.frames)
            if a < b:
                chans = slice(None) if self.channels is None else self.channels
                fb.spectra[chans, a:b, k0:k1] = 0


BLOCKS = [(100, 130, 100, 200), (200, 212, 500, 900), (300, 340, 20, 40)]


def carve(x, blocks=BLOCKS, channels=None):
    return render_array(x, SR, StftProcessor([Carve(blocks, channels)], settings=StftSettings(n_fft=N_FFT)))


def expected(block):
    f0, f1, k0, k1 = block
    df = SR / N_FFT
    t0 = (f0 * HOP + HOP - N_FFT / 2 - HOP / 2) / SR
    t1 = ((f1 - 1) * HOP + HOP - N_FFT / 2 + HOP / 2) / SR
    return t0, t1, (k0 - 0.5) * df, (k1 - 0.5) * df


@pytest.mark.parametrize("colour", [0.0, -3.0])
def test_carved_holes_are_all_found_with_right_times_and_bands(colour):
    x = known_noise(colour=colour)
    prof = profile_of(x)
    y = carve(x)
    hm = detect_holes(x, y, prof, SR)
    assert len(hm.regions) == len(BLOCKS)
    df = SR / N_FFT
    for r, block in zip(sorted(hm.regions, key=lambda r: r.start_s), sorted(BLOCKS), strict=False):
        t0, t1, lo, hi = expected(block)
        assert abs(r.start_s - t0) <= 2 * HOP / SR and abs(r.end_s - t1) <= 2 * HOP / SR, (r, block)
        assert abs(r.low_hz - lo) <= 3 * df and abs(r.high_hz - hi) <= 3 * df, (r, block)
        assert r.depth_db > 20
        assert r.area_bin_frames >= 0.7 * (block[1] - block[0]) * (block[3] - block[2])
    # summary figures agree with the regions
    assert hm.hole_bins == sum(r.area_bin_frames for r in hm.regions)
    assert 0 < hm.hole_rate < 0.05
    assert hm.total_hole_time_s == pytest.approx(sum(r.duration_s for r in hm.regions))
    assert hm.worst_bands()[0]["hole_rate"] > 0
    assert hm.mask.max() > 0.5 and hm.mask.shape[1] == N_FFT // 2 + 1


def test_nothing_is_reported_on_untouched_audio():
    x = known_noise(seconds=6.0)
    prof = profile_of(x)
    hm = detect_holes(x, x, prof, SR)
    assert hm.regions == [] and hm.hole_rate == 0.0 and hm.total_hole_time_s == 0.0
    # nor on the engine's identity (float rounding), nor on a mild, capped reduction
    y = render_array(x, SR, StftProcessor(settings=StftSettings(n_fft=N_FFT)))
    assert detect_holes(x, y, prof, SR).regions == []
    assert detect_holes(x, x * np.float32(10 ** (-12 / 20)), prof, SR).regions == []
    # a chain sitting exactly at its 15 dB cap leaves the floor itself: not a hole either
    assert detect_holes(x, x * np.float32(10 ** (-15 / 20)), prof, SR).hole_rate < 1e-3


def test_a_heavy_reduction_is_one_big_hole():
    x = known_noise(seconds=3.0)
    prof = profile_of(x)
    hm = detect_holes(x, x * np.float32(10 ** (-40 / 20)), prof, SR)
    assert hm.hole_rate > 0.95
    assert hm.total_hole_time_s > 2.8


def test_streaming_chunks_and_decimation_do_not_change_the_result():
    x = known_noise(seconds=4.0)
    prof = profile_of(x)
    y = carve(x)
    ref = detect_holes(x, y, prof, SR)
    for chunk, cols in [(1, 2000), (7, 50), (64, 13), (5000, 1)]:
        hm = detect_holes(ArraySource(x, SR), ArraySource(y, SR), prof, SR, chunk_frames=chunk, mask_max_frames=cols)
        assert len(hm.regions) == len(ref.regions)
        for a, b in zip(hm.regions, ref.regions, strict=False):
            assert (a.start_s, a.end_s, a.low_hz, a.high_hz, a.area_bin_frames) == (
                b.start_s, b.end_s, b.low_hz, b.high_hz, b.area_bin_frames)
            assert a.depth_db == pytest.approx(b.depth_db, rel=1e-6)
        assert hm.hole_bins == ref.hole_bins
        assert hm.mask.shape[0] <= cols
        # the decimated mask holds the same hole bins
        per_col = np.minimum(hm.decimation, hm.frames - np.arange(hm.mask.shape[0]) * hm.decimation)
        assert round(float((hm.mask * per_col[:, None]).sum())) == hm.hole_bins


def test_a_hole_across_many_chunks_is_one_region():
    x = known_noise(seconds=3.0)
    prof = profile_of(x)
    y = carve(x, [(20, 200, 300, 400)])
    hm = detect_holes(x, y, prof, SR, chunk_frames=3)
    assert len(hm.regions) == 1
    assert hm.regions[0].duration_s > 170 * HOP / SR


def test_short_or_narrow_dips_are_not_holes():
    x = known_noise(seconds=3.0)
    prof = profile_of(x)
    # 1 frame long; 4 bins (0.01 octave) wide at 10 kHz
    y = carve(x, [(100, 101, 100, 300), (150, 190, 427, 431)])
    assert detect_holes(x, y, prof, SR).regions == []
    looser = HoleSettings(min_bandwidth_octaves=0.0, min_bins=1, min_density=0.3)
    found = detect_holes(x, y, prof, SR, settings=looser).regions
    assert found and all(9900 < r.low_hz < r.high_hz < 10200 for r in found)


def test_stereo_holes_carry_their_channel():
    x = known_noise(channels=2, seconds=3.0)
    prof = profile_of(x)
    y = carve(x, [(50, 80, 100, 200)], channels=[1])
    hm = detect_holes(x, y, prof, SR)
    assert [r.channel for r in hm.regions] == [1]
    assert hm.total_bins == 2 * hm.frames * int((hm.band_total_bins > 0).sum())


def test_digital_silence_in_the_original_is_not_a_hole():
    x = known_noise(seconds=3.0)
    prof = profile_of(x)
    x[:, SR : 2 * SR] = 0.0
    assert detect_holes(x, x * np.float32(0.5), prof, SR).regions == []


def test_json_round_trip(tmp_path):
    x = known_noise(seconds=3.0)
    prof = profile_of(x)
    hm = detect_holes(x, carve(x), prof, SR)
    path = tmp_path / "holes.json"
    hm.save_json(path)
    d = json.loads(path.read_text())
    assert d["format"] == "roomtone-hole-map"
    assert len(d["regions"]) == len(hm.regions)
    assert d["summary"]["hole_rate"] == pytest.approx(hm.hole_rate)
    assert set(d["regions"][0]) >= {"start_s", "end_s", "low_hz", "high_hz", "depth_db", "area_bin_frames", "area_s_hz"}


def test_bad_inputs_are_clear():
    x = known_noise(seconds=1.0)
    prof = profile_of(x)
    with pytest.raises(ParameterError, match="44100 Hz"):
        detect_holes(x, x, profile_of(x, sr=44100), SR)
    with pytest.raises(ParameterError, match="channels"):
        detect_holes(x, np.vstack([x, x]), prof, SR)
    with pytest.raises(ParameterError, match="min_density"):
        detect_holes(x, x, prof, SR, settings=HoleSettings(min_density=0))


def test_holes_at_both_ends_of_a_chunk_link_to_the_right_neighbours():
    # Chunks of 30 frames (the first analysed frame is 3): one hole runs out of the first chunk
    # into the second, whose other hole runs on into the third. The second chunk's candidates fill its first row and its last with
    # different holes, so linking across the seams must take each row's own labels.
    x = known_noise(seconds=3.0)
    prof = profile_of(x)
    y = carve(x, [(10, 40, 100, 160), (45, 75, 180, 260), (95, 130, 100, 160)])
    whole = detect_holes(x, y, prof, SR, chunk_frames=5000)
    assert len(whole.regions) == 3
    for chunk in (30, 31, 29):
        hm = detect_holes(x, y, prof, SR, chunk_frames=chunk)
        assert [(r.start_s, r.end_s, r.low_hz, r.high_hz, r.area_bin_frames) for r in hm.regions] == [
            (r.start_s, r.end_s, r.low_hz, r.high_hz, r.area_bin_frames) for r in whole.regions], chunk
        assert hm.hole_bins == whole.hole_bins


def test_power_and_candidate_kernels_equal_their_numpy_expressions():
    from dsp.holes import _candidates, _power

    rng = np.random.default_rng(3)
    bins = N_FFT // 2 + 1
    frames = rng.standard_normal((2, 40, N_FFT)).astype(np.float32) * rng.uniform(1e-6, 1.0, (2, 40, 1)).astype(np.float32)
    spec = np.fft.rfft(frames, axis=-1).astype(np.complex64)
    power = np.empty(spec.shape, np.float32)
    _power(spec.reshape(-1, bins), power.reshape(-1, bins))
    np.testing.assert_array_equal(power, (spec.real**2 + spec.imag**2).astype(np.float32))
    p_o, p_p = power, (power * rng.uniform(0.0, 2.0, power.shape)).astype(np.float32)
    thresh = rng.uniform(0.0, float(np.median(power)), bins).astype(np.float32)
    removed, band = np.float32(10 ** 0.3), rng.random(bins) < 0.8
    cand = np.empty(p_p.shape, bool)
    _candidates(p_o.reshape(-1, bins), p_p.reshape(-1, bins), thresh, removed, band, cand.reshape(-1, bins))
    want = (p_p < thresh) & (p_p * removed < p_o) & band
    assert want.any() and not want.all()
    np.testing.assert_array_equal(cand, want)
