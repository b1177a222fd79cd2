"""The spectrogram settings model (no Qt): validation, storage, frequency scales, row warping and
the automatic dB range, measured on a real noisy 16 kHz file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.overview import spectrogram_tile
from app.pipeline import find_room_tone
from app.spectrogram_settings import (
    FFT_SIZES,
    FrequencyScale,
    SpectrogramSettings,
    auto_range,
    format_hz,
    level_quantiles,
    room_tone_level_db,
    row_frequencies,
    sample_levels,
    saturated_fraction,
    warp_rows,
)
from dsp.errors import ParameterError
from dsp.io import AudioReader, write_audio
from dsp.roomtone import RoomToneSettings, estimate_room_tone
from dsp.stft import StftSettings

DATA = Path("/work/shared/data")
NOISY_16K = DATA / "pairs_real" / "vbdemand_p232_005_noisy.flac"  # VoiceBank+DEMAND, real noise, 16 kHz


# -- the settings object ----------------------------------------------------------------------
def test_defaults_are_what_the_views_used_before():
    s = SpectrogramSettings()
    assert s.fft_size == 0 and s.n_fft(48000) == 2048 and s.n_fft(16000) == 512
    assert (s.floor_db, s.ceiling_db) == (-110.0, -20.0)
    assert s.scale == "linear" and s.colormap == "inferno" and s.removed_colormap == "viridis"
    assert s.removed_ceiling_db == 24.0
    assert SpectrogramSettings(fft_size=8192).n_fft(16000) == 8192


@pytest.mark.parametrize("changes, words", [
    ({"fft_size": 1000}, ["FFT size", "1000", "256 to 8192"]),
    ({"fft_size": 16384}, ["16384"]),
    ({"floor_db": -20.0, "ceiling_db": -30.0}, ["at least 20 dB", "-20 to -30"]),
    ({"floor_db": -200.0}, ["-160", "-200"]),
    ({"ceiling_db": float("nan")}, ["finite", "nan"]),
    ({"scale": "bark"}, ["linear, log, mel", "'bark'"]),
    ({"colormap": "jet"}, ["inferno", "'jet'"]),
    ({"removed_ceiling_db": 0.5}, ["removed-energy", "0.5"]),
])
def test_bad_values_are_refused_with_the_value_and_the_way_out(changes, words):
    with pytest.raises(ParameterError) as err:
        SpectrogramSettings().replace(**changes)
    for w in words:
        assert w in str(err.value)


def test_stored_strings_round_trip_and_damage_falls_back_to_defaults():
    s = SpectrogramSettings(fft_size=4096, auto_range=False, floor_db=-90, ceiling_db=-10, scale="mel",
                            colormap="grey", removed_ceiling_db=30, removed_colormap="magma")
    as_ini = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in s.to_dict().items()}
    assert SpectrogramSettings.from_dict(as_ini) == s
    damaged = dict(as_ini, fft_size="lots", scale="bark", auto_range="maybe", floor_db="-5")
    back = SpectrogramSettings.from_dict(damaged)
    assert back.fft_size == 0 and back.scale == "linear" and back.auto_range is True
    assert back.floor_db == -110.0  # -5 would leave less than 20 dB under the ceiling
    assert back.colormap == "grey" and back.removed_colormap == "magma"
    assert set(FFT_SIZES) == {256, 512, 1024, 2048, 4096, 8192}


# -- frequency scales -------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["linear", "log", "mel"])
def test_scales_convert_both_ways(kind):
    scale = FrequencyScale(kind, 8000.0)
    hz = np.array([20.0, 100.0, 440.0, 1000.0, 3000.0, 7999.0])
    np.testing.assert_allclose(scale.to_hz(scale.to_display(hz)), hz, rtol=1e-9)
    u0, u1 = scale.display_range
    assert scale.to_hz(u1) == pytest.approx(8000.0)
    assert scale.to_hz(u0) == pytest.approx(20.0 if kind == "log" else 0.0)
    assert np.all(np.diff(scale.to_display(hz)) > 0)


def test_mel_is_htk_and_log_clamps_under_its_lowest_frequency():
    assert FrequencyScale("mel", 8000).to_display(1000.0) == pytest.approx(999.99, abs=0.02)
    log = FrequencyScale("log", 8000)
    assert log.to_display(0.0) == log.to_display(20.0) == pytest.approx(np.log10(20.0))


def test_ticks_are_round_frequencies_inside_the_view():
    for kind in ("log", "mel"):
        scale = FrequencyScale(kind, 24000)
        major, minor = scale.ticks(*scale.display_range, 8)
        assert 2 <= len(major) <= 8
        assert all(f in (0, 20) or str(int(f)).rstrip("0") in "12357" for f in major)
        assert not set(major) & set(minor)
    log = FrequencyScale("log", 24000)
    assert {100.0, 1000.0, 10000.0} <= set(log.ticks(*log.display_range, 8)[0])
    assert [format_hz(f) for f in (0, 250, 1000, 1500, 20000)] == ["0", "250", "1k", "1.5k", "20k"]


def test_warping_keeps_linear_tiles_and_puts_a_tone_on_its_row():
    sr, n_fft = 16000, 512
    bins = n_fft // 2 + 1
    db = np.full((3, bins), -100.0, np.float32)
    assert warp_rows(db, sr, FrequencyScale("linear", sr / 2)) is db
    for kind in ("log", "mel"):
        scale = FrequencyScale(kind, sr / 2)
        for hz in (125.0, 1000.0, 6000.0):  # bin centres: 4, 32, 192
            tile = db.copy()
            tile[:, int(hz * n_fft / sr)] = -20.0
            rows = warp_rows(tile, sr, scale, rows=400)
            centres = row_frequencies(scale, 400)
            loudest = centres[np.argmax(rows[0])]
            # within one FFT bin (31 Hz) or, where rows are wider than a bin, within that row
            u = scale.to_display(hz)
            row_hz = scale.to_hz(u + (scale.display_range[1] - scale.display_range[0]) / 400) - hz
            assert abs(loudest - hz) <= max(sr / n_fft, row_hz) + 1e-6, (kind, hz, loudest)
            assert rows[0].max() == pytest.approx(-20.0)  # a line one bin wide is never lost between rows


def test_a_hum_line_survives_rows_wider_than_a_bin():
    sr, n_fft = 48000, 8192
    db = np.full((1, n_fft // 2 + 1), -100.0, np.float32)
    db[0, 1707] = -30.0  # about 10 kHz, where one mel row spans several bins
    rows = warp_rows(db, sr, FrequencyScale("mel", sr / 2), rows=200)
    assert rows.max() == pytest.approx(-30.0)


# -- the automatic range ----------------------------------------------------------------------
def test_auto_range_without_a_room_tone_uses_the_data():
    rng = np.random.default_rng(0)
    levels = rng.normal(-70.0, 8.0, (200, 257))
    levels[100, 40] = -12.0
    levels[:5] = -140.0  # digital silence is left out
    lo, hi = auto_range(levels)
    assert hi == -10.0
    assert lo == pytest.approx(5 * np.floor(np.percentile(levels[5:], 2) / 5))
    assert auto_range(np.full((4, 4), -140.0)) == (-110.0, -20.0)


def test_auto_range_keeps_a_sane_span():
    lo, hi = auto_range(np.full((10, 10), -50.0), room_tone_db=np.full(10, -45.0))
    assert hi - lo >= 20
    lo, hi = auto_range(np.array([[-150.0 + 1e-3, 0.0]]))
    assert hi - lo <= 140


def test_room_tone_level_matches_the_tile_units():
    """White noise: the profile's level per bin, taken to the tile's window, equals what a tile shows."""
    sr = 16000
    rng = np.random.default_rng(1)
    x = (0.01 * rng.standard_normal(sr * 4)).astype(np.float32)
    prof = estimate_room_tone(x[None], sr, regions=[(0.0, 4.0)], settings=RoomToneSettings(stft=StftSettings(n_fft=1024)))

    class Source:
        sample_rate, frames, channels = sr, len(x), 1

        def read(self, start, n):
            return x[None, start : start + n]

    for n_fft in (256, 2048):
        tile = spectrogram_tile(Source(), 0.0, 4.0, columns=400, n_fft=n_fft).db
        measured = 10 * np.log10(np.mean(10 ** (tile[:, 5:-5] / 10)))
        predicted = np.median(room_tone_level_db(prof, sr, n_fft)[5:-5])
        assert predicted == pytest.approx(measured, abs=0.5)


@pytest.mark.skipif(not NOISY_16K.is_file(), reason="needs the dev data in /work/shared/data")
def test_a_hot_noisy_16k_file_no_longer_saturates(tmp_path):
    """The issue's file: real noisy speech at 16 kHz, at the level a finished recording has
    (peak -1 dBFS). The fixed -110..-20 dB range pins its loudest cells to the top colour;
    the automatic range, floor from its room tone and ceiling from its peak, pins none."""
    with AudioReader(NOISY_16K) as r:
        x = r.read(0, r.frames)
        sr = r.sample_rate
    assert sr == 16000
    hot = tmp_path / "hot.wav"
    write_audio(hot, (x * 10 ** (-1 / 20) / np.abs(x).max()).astype(np.float32), sr, "float32")
    with AudioReader(hot) as r:
        n_fft = SpectrogramSettings().n_fft(sr)
        levels = sample_levels(r, n_fft)
        profile = find_room_tone(r, StftSettings())  # the workstation's "Find automatically"
    floor, ceiling = auto_range(levels, room_tone_level_db(profile, sr, n_fft))
    fixed_top, _ = saturated_fraction(levels, -110.0, -20.0)
    auto_top, auto_bottom = saturated_fraction(levels, floor, ceiling)
    assert fixed_top > 0.004  # measured 0.81 % of the cells
    assert auto_top < fixed_top / 20  # measured 0
    # the floor sits under the room tone: noise stays visible, and only cells well under it go black
    tone = np.median(room_tone_level_db(profile, sr, n_fft))
    assert tone - 25 <= floor <= tone - 10
    assert auto_bottom <= 0.05
    assert ceiling <= 5.0 and ceiling - floor >= 40
    print(f"\n{NOISY_16K.name} at peak -1 dBFS: cells at the top colour: fixed -110..-20 dB {fixed_top:.2%}, "
          f"automatic {floor:g}..{ceiling:g} dB {auto_top:.2%} (at the bottom colour: {auto_bottom:.2%})")


def test_a_poor_room_tone_cannot_paint_the_file_black():
    rng = np.random.default_rng(2)
    levels = rng.normal(-80.0, 6.0, (300, 129))
    lo, _ = auto_range(levels, room_tone_db=np.full(129, -50.0))  # a room tone learned on speech
    assert saturated_fraction(levels, lo, 0.0)[1] <= 0.05


def test_report_pictures_carry_a_colour_legend():
    from app.spectrogram_png import LEGEND_WIDTH, colour_map, render_spectrogram

    level = np.random.default_rng(3).uniform(-90, -10, (40, 65))
    plain = render_spectrogram(level, 16000, 2.0, width=200, height=100, top_db=-10.0, db_range=80.0, legend=False)
    img = render_spectrogram(level, 16000, 2.0, width=200, height=100, top_db=-10.0, db_range=80.0)
    assert img.shape[1] == plain.shape[1] + LEGEND_WIDTH and img.shape[0] == plain.shape[0]
    np.testing.assert_array_equal(img[:106, : plain.shape[1]], plain[:106])  # the picture itself is unchanged
    bar = img[3 : 3 + 100, plain.shape[1] + 6 + 3]  # the bar's middle column, top to bottom
    assert bar[0].tolist() == colour_map(np.array([1.0]))[0].tolist()  # brightest at the top (-10 dB)
    assert bar[-1].tolist() == colour_map(np.array([0.0]))[0].tolist()  # darkest at the bottom (-90 dB)
    labels = img[:, plain.shape[1] + 6 + 13 :]
    assert (labels == 220).all(axis=2).sum() > 40  # '-10', '-90' and 'dB' are written


def test_the_level_quantiles_give_the_same_range_as_the_cells():
    rng = np.random.default_rng(4)
    levels = rng.normal(-75.0, 9.0, (1200, 1025))  # a 2048-point FFT's sampled levels: 1.2 M cells
    levels[:30] = -140.0
    q = level_quantiles(levels)
    assert q.shape == (1001,)
    for tone in (None, np.full(1025, -70.0), np.full(1025, -40.0)):
        assert auto_range(q, tone) == auto_range(levels, tone)
