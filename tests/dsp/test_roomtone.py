"""Room-tone profiles: accuracy against a known spectrum, streaming, regions, errors, JSON, adaptation."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal

from dsp.errors import InputError, ParameterError
from dsp.render import ArraySource
from dsp.roomtone import NoiseProfile, RoomToneSettings, estimate_room_tone
from dsp.stft import StftSettings, stft_windows

SR = 16000


def coloured_noise(seconds=8.0, sr=SR, seed=0):
    """First-order low-passed white noise plus a white floor, and its true mean |X|^2 per bin."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    b, a = scipy.signal.butter(1, 1000, fs=sr)
    x = 0.1 * scipy.signal.lfilter(b, a, rng.standard_normal(n)) + 0.003 * rng.standard_normal(n)

    def true_power(n_fft, hop):
        w, _ = stft_windows(n_fft, hop)
        f = np.arange(n_fft // 2 + 1) * sr / n_fft
        _, h = scipy.signal.freqz(b, a, worN=f, fs=sr)
        return (0.01 * np.abs(h) ** 2 + 0.003**2) * np.sum(w.astype(np.float64) ** 2)

    return x.astype(np.float32), true_power


def third_octave_db(power, sr, n_fft):
    f = np.arange(n_fft // 2 + 1) * sr / n_fft
    edges = 1000.0 * 2.0 ** (np.arange(-15, 10) / 3.0)
    out = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        sel = (f >= lo) & (f < hi)
        if sel.sum() >= 2 and hi < sr / 2:
            out.append(10 * np.log10(np.mean(power[sel])))
    return np.array(out)


@pytest.mark.parametrize("mode", ["regions", "auto"])
def test_profile_of_coloured_noise_matches_true_spectrum_within_1db_per_band(mode):
    x, true_power = coloured_noise()
    regions = [(0.0, 8.0)] if mode == "regions" else None
    prof = estimate_room_tone(x, SR, regions=regions)
    assert prof.method == ("learn" if mode == "regions" else "auto")
    err = third_octave_db(prof.mean_power, SR, prof.n_fft) - third_octave_db(true_power(prof.n_fft, prof.hop_length), SR, prof.n_fft)
    assert err.size >= 10
    assert np.max(np.abs(err)) < 1.0, err
    # broadband level: RMS of the noise
    assert abs(prof.level_dbfs - 20 * np.log10(np.std(x))) < 0.5
    assert prof.duration_s > 7.0


class CountingSource(ArraySource):
    def __init__(self, audio, sr):
        super().__init__(audio, sr)
        self.largest = 0

    def read(self, start, frames):
        self.largest = max(self.largest, frames)
        return super().read(start, frames)


@pytest.mark.parametrize("regions", [None, [(0.5, 3.0), (4.0, 6.0)]])
def test_block_source_is_streamed_and_equals_array(regions):
    x, _ = coloured_noise(seconds=20.0)
    src = CountingSource(x, SR)
    settings = RoomToneSettings(block_frames=64)
    a = estimate_room_tone(src, SR, regions=regions, settings=settings)
    b = estimate_room_tone(x, SR, regions=regions, settings=settings)
    np.testing.assert_allclose(a.mean_power, b.mean_power, rtol=1e-9)
    assert src.largest <= 4 * 64 * a.hop_length + a.n_fft < x.size // 5  # never loaded whole


def test_stereo_profile_is_the_channel_average():
    x, _ = coloured_noise(seconds=3.0)
    y, _ = coloured_noise(seconds=3.0, seed=1)
    st = estimate_room_tone(np.stack([x, 0.5 * y]), SR, regions=[(0, 3)])
    p0 = estimate_room_tone(x, SR, regions=[(0, 3)])
    p1 = estimate_room_tone(0.5 * y, SR, regions=[(0, 3)])
    np.testing.assert_allclose(st.mean_power, (p0.mean_power + p1.mean_power) / 2, rtol=1e-5)


def test_too_little_audio_is_refused_with_how_much_is_needed():
    x = np.zeros(2047, np.float32)
    with pytest.raises(ParameterError, match=r"2047 samples \(0\.128 s\).*at least 2048 samples \(0\.128 s\)"):
        estimate_room_tone(x, SR)
    y, _ = coloured_noise(seconds=2.0)
    with pytest.raises(ParameterError, match=r"1600 samples.*at least 2048 samples"):
        estimate_room_tone(y, SR, regions=[(0.5, 0.6)])


def test_regions_outside_the_file_quote_its_duration():
    x, _ = coloured_noise(seconds=2.0)
    with pytest.raises(ParameterError, match=r"starts after the end of the file, which lasts 0:02.00 \(2.000 s\)"):
        estimate_room_tone(x, SR, regions=[(2.5, 3.0)])
    cut = estimate_room_tone(x, SR, regions=[(1.0, 3.0)])  # runs past the end: used up to the end
    np.testing.assert_array_equal(cut.mean_power, estimate_room_tone(x, SR, regions=[(1.0, 2.0)]).mean_power)
    assert cut.regions == [(1.0, 2.0)] and any("runs past the end" in w for w in cut.warnings)
    with pytest.raises(ParameterError, match="reversed"):
        estimate_room_tone(x, SR, regions=[(1.5, 1.0)])
    with pytest.raises(ParameterError, match="no region"):
        estimate_room_tone(x, SR, regions=[])


def test_digital_silence_is_not_room_tone():
    with pytest.raises(ParameterError, match="digital silence"):
        estimate_room_tone(np.zeros(SR * 2, np.float32), SR)
    # silence gaps are skipped by the automatic mode
    x, true_power = coloured_noise(seconds=4.0)
    x[SR : 2 * SR] = 0.0
    prof = estimate_room_tone(x, SR)
    err = third_octave_db(prof.mean_power, SR, prof.n_fft) - third_octave_db(true_power(prof.n_fft, prof.hop_length), SR, prof.n_fft)
    assert np.max(np.abs(err)) < 1.0


def test_speech_like_region_is_warned_about():
    x, _ = coloured_noise(seconds=4.0)
    t = np.arange(x.size) / SR
    bursts = x * (0.05 + (np.sin(2 * np.pi * 4 * t) > 0.3)).astype(np.float32) * 10
    steady = estimate_room_tone(x, SR, regions=[(0, 4)])
    assert not any("speech" in w for w in steady.warnings)
    spiky = estimate_room_tone(bursts, SR, regions=[(0, 4)])
    assert any("looks like speech" in w and "dB" in w for w in spiky.warnings)


def test_vad_seam_excludes_speech_regions():
    x, _ = coloured_noise(seconds=6.0)
    loud = x.copy()
    loud[2 * SR : 4 * SR] *= 0.2  # the quietest part is "speech" according to the VAD
    prof = estimate_room_tone(loud, SR, speech_regions=[(1.9, 4.1)])
    assert prof.method == "vad"
    ref = estimate_room_tone(x, SR, regions=[(0, 1.8)])
    assert abs(prof.level_dbfs - ref.level_dbfs) < 0.5
    assert all(b <= 1.95 or a >= 4.05 for a, b in prof.regions)


def test_json_round_trip_and_damaged_files(tmp_path):
    x, _ = coloured_noise(seconds=2.0)
    prof = estimate_room_tone(x, SR, regions=[(0.1, 1.9)], source_name="x.wav")
    prof.save(tmp_path / "room.json")
    back = NoiseProfile.load(tmp_path / "room.json")
    np.testing.assert_array_equal(back.mean_power, prof.mean_power)
    assert back.regions == prof.regions and back.level_dbfs == prof.level_dbfs and back.source == "x.wav"
    (tmp_path / "bad.json").write_text('{"format": "roomtone-noise-profile", "version": 1, "sample_rate": 16000}')
    with pytest.raises(InputError, match="damaged: the field 'n_fft' is missing"):
        NoiseProfile.load(tmp_path / "bad.json")


def test_adapted_to_other_fft_size_matches_a_profile_learned_there():
    x, _ = coloured_noise(seconds=8.0)
    p512 = estimate_room_tone(x, SR, regions=[(0, 8)])
    for n_fft, overlap in ((1024, 4), (256, 2), (512, 2)):
        direct = estimate_room_tone(x, SR, regions=[(0, 8)], settings=RoomToneSettings(stft=StftSettings(n_fft, overlap)))
        moved = p512.adapted(SR, n_fft, n_fft // overlap)
        err = third_octave_db(moved.mean_power, SR, n_fft) - third_octave_db(direct.mean_power, SR, n_fft)
        assert np.max(np.abs(err)) < 0.5, (n_fft, overlap, err)
    assert p512.adapted(SR, 512, 128) is p512


def test_adapted_to_lower_rate_and_refused_for_higher_rate():
    x48, _ = coloured_noise(seconds=6.0, sr=48000)
    p48 = estimate_room_tone(x48, 48000, regions=[(0, 6)])
    x16 = scipy.signal.resample_poly(x48, 1, 3).astype(np.float32)
    p16 = estimate_room_tone(x16, SR, regions=[(0, 6)])
    moved = p48.adapted(SR, p16.n_fft, p16.hop_length)
    err = third_octave_db(moved.mean_power, SR, p16.n_fft)[:-2] - third_octave_db(p16.mean_power, SR, p16.n_fft)[:-2]
    assert np.max(np.abs(err)) < 1.0, err
    with pytest.raises(ParameterError, match=r"learned at 16000 Hz.*Learn the profile again"):
        p16.adapted(48000, 2048, 512)


def test_bad_settings():
    with pytest.raises(ParameterError, match="auto_fraction"):
        RoomToneSettings(auto_fraction=0.0)
