"""Automatic mode never refuses a recording: the noise floor without a pause, and one automatic method.

Issue 18, build 1: a short clip that is all speech, a file with no pause and an ambience with no
steady stretch each give output, a warning and a render-record entry; ``profile --auto``,
``clean`` without a profile and the workstation's "Find automatically" give the same profile.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from app import pipeline
from app.presets import load_preset
from dsp.render import ArraySource
from dsp.roomtone import (
    NoiseProfile,
    RoomToneSettings,
    estimate_noise_floor,
    estimate_room_tone,
    floor_bias_db,
)

SR = 16000


def _read(path, n=None):
    y, sr = sf.read(str(path), dtype="float32")
    assert sr == SR
    return y if n is None else np.resize(y, n)


# -- the estimator ---------------------------------------------------------------------------------
def test_floor_bias_full_for_noise_and_none_for_a_tone():
    full = float(floor_bias_db(np.zeros(1), np.full(1, 5.3), 10, 30)[0])
    assert full == pytest.approx(-10 * np.log10(-np.log(0.9)), abs=0.05)  # 9.77 dB
    assert float(floor_bias_db(np.zeros(1), np.zeros(1), 10, 30)[0]) == 0.0
    with pytest.raises(Exception, match="percentiles"):
        floor_bias_db(np.zeros(1), np.zeros(1), 30, 10)


def test_noise_floor_of_white_noise_and_of_a_steady_tone():
    rng = np.random.default_rng(0)
    noise = (rng.standard_normal(SR * 3) * 0.01).astype(np.float32)
    learned = estimate_room_tone(noise, SR, regions=[(0, 3)])
    floor = estimate_noise_floor(noise, SR)
    assert floor.method == "minimum" and floor.regions == []
    assert abs(floor.level_dbfs - learned.level_dbfs) < 0.7
    t = np.arange(SR * 3) / SR
    tone = (0.1 * np.sin(2 * np.pi * 1000.0 * t) + noise * 0.01).astype(np.float32)
    learned = estimate_room_tone(tone, SR, regions=[(0, 3)])
    floor = estimate_noise_floor(tone, SR)
    assert abs(floor.level_dbfs - learned.level_dbfs) < 1.0  # a tone gets no exponential correction


def test_noise_floor_under_speech_tracks_the_bed(dev_data):
    noisy = dev_data / "mixtures" / "s04_libri_3436__machine_exercise_bike__snr05_noisy.flac"
    y, c = _read(noisy), _read(str(noisy).replace("_noisy", "_clean"))
    bed = estimate_room_tone(y - c, SR, regions=[(0, len(y) / SR)])
    for a, b in ((0, len(y)), (SR, SR * 3)):  # the whole file, and a 2 s cut that is all speech
        floor = estimate_noise_floor(y[a:b], SR)
        assert abs(floor.level_dbfs - bed.level_dbfs) < 1.5


def test_noise_floor_memory_is_a_histogram_not_the_frames():
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(SR * 20) * 0.01).astype(np.float32)
    whole = estimate_noise_floor(x, SR)
    batched = estimate_noise_floor(x, SR, settings=RoomToneSettings(block_frames=7))
    np.testing.assert_array_equal(whole.mean_power, batched.mean_power)


def test_noise_floor_of_a_file_shorter_than_one_frame():
    x = (np.random.default_rng(2).standard_normal(300) * 0.01).astype(np.float32)
    floor = estimate_noise_floor(x, SR)
    assert floor.method == "minimum" and np.all(np.isfinite(floor.mean_power)) and floor.level_dbfs > -80


# -- the three cases that were refused -------------------------------------------------------------
def _babble_bed(dev_data, n):
    """Four overlapping readers: a continuous voice-like bed that voice activity marks as speech."""
    names = ("s03_libri_198", "s04_libri_3436", "s05_libri_5703", "s06_arctic_aew")
    return sum(_read(dev_data / "clean" / f"{s}.flac", n) * g for s, g in zip(names, (1.0, 0.8, 0.9, 0.7), strict=True))


def _cases(dev_data):
    mix = _read(dev_data / "mixtures" / "s03_libri_198__kitchen_dishes__snr05_noisy.flac")
    n = SR * 8
    speech = _read(dev_data / "clean" / "s07_arctic_axb.flac", n)
    bed = _babble_bed(dev_data, n)
    bed *= np.std(speech) / np.std(bed) * 10 ** (-10 / 20)
    rng = np.random.default_rng(4)
    crackle = (rng.standard_normal(n) * 0.002).astype(np.float32)
    for i in rng.integers(0, n - 200, 600):  # fire-crackle-like pops over a faint hiss
        crackle[i : i + 120] += rng.standard_normal(120).astype(np.float32) * np.hanning(120).astype(np.float32) * 0.08
    return {
        "short clip": mix[int(1.2 * SR) : int(1.7 * SR)],  # 0.5 s, all speech
        "no pause": (speech + bed).astype(np.float32),  # speech over a babble bed from end to end
        "ambience": (speech + crackle * (np.std(speech) / np.std(crackle)) * 10 ** (-10 / 20)).astype(np.float32),
    }


@pytest.mark.slow
@pytest.mark.parametrize("case", ["short clip", "no pause", "ambience"])
def test_automatic_mode_gives_output_a_warning_and_a_record(dev_data, tmp_path, case):
    x = _cases(dev_data)[case]
    src = tmp_path / "in.wav"
    sf.write(str(src), x, SR, subtype="PCM_16")
    out = tmp_path / "out.wav"
    run = subprocess.run([sys.executable, "-m", "app.cli", "clean", str(src), "-o", str(out)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    y, sr = sf.read(str(out), dtype="float32")
    assert sr == SR and y.shape == x.shape and np.all(np.isfinite(y))
    assert not np.allclose(y, x, atol=1e-4)  # something was processed
    record = json.loads(out.with_name(out.name + ".roomtone.json").read_text())
    prof = record["settings"]["profile"]
    assert record["settings"]["profile_origin"] == "automatic"
    if prof["method"] == "minimum":  # nothing to learn from: the estimate says so, and the CLI too
        assert any("minimum statistics" in w for w in prof["warnings"])
        assert "minimum statistics" in run.stderr
    else:  # a stretch was found after all; it must then be flagged as doubtful
        assert prof["warnings"], prof
    if case in ("short clip", "no pause"):
        assert prof["method"] == "minimum"


@pytest.mark.slow
def test_the_three_automatic_paths_give_the_same_profile(dev_data, tmp_path):
    from app.session import Session

    noisy = dev_data / "mixtures" / "s05_libri_5703__cafe_coffeeshop__snr10_noisy.flac"
    x = _read(noisy)
    src = tmp_path / "in.wav"
    sf.write(str(src), x, SR, subtype="FLOAT")
    settings = load_preset("podcast")
    # clean without a profile
    ref = pipeline.find_room_tone(ArraySource(x[None, :], SR), settings)
    proc, ctx = pipeline.prepare_processor(ArraySource(x[None, :], SR), settings)
    np.testing.assert_allclose(ctx.profile.mean_power, ref.mean_power, rtol=1e-9)
    # roomtone profile --auto
    out = tmp_path / "room.json"
    run = subprocess.run([sys.executable, "-m", "app.cli", "profile", str(src), "--auto", "-o", str(out)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    cli = NoiseProfile.load(out)
    assert cli.method == ref.method and cli.regions == [tuple(r) for r in ref.regions]
    np.testing.assert_allclose(cli.mean_power, ref.mean_power, rtol=1e-6)
    # the workstation's "Find automatically"
    session = Session()
    session.open_source(str(src))
    session.find_profile_automatically()
    gui = session.project.profile
    np.testing.assert_allclose(gui.mean_power, ref.mean_power, rtol=1e-6)
    assert gui.method == ref.method
