"""Damaged profiles, projects and settings: one line naming the field and a user exit code, never exit 70."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from app.cli import main
from dsp.errors import InputError
from dsp.roomtone import NoiseProfile, estimate_room_tone

SR = 16000


@pytest.fixture
def audio(tmp_path) -> Path:
    """2 s of quiet noise with a louder tone burst from 1 s (16-bit WAV)."""
    rng = np.random.default_rng(3)
    x = 0.01 * rng.standard_normal(2 * SR)
    x[SR:] += 0.2 * np.sin(2 * np.pi * 300 * np.arange(SR) / SR)
    path = tmp_path / "in.wav"
    sf.write(str(path), x.astype(np.float32), SR, subtype="PCM_16")
    return path


@pytest.fixture
def profile_dict(audio) -> dict:
    x, _ = sf.read(str(audio), dtype="float32")
    return estimate_room_tone(x, SR, regions=[(0.0, 0.9)]).to_dict()


def run(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


DAMAGED_PROFILES = [
    ("hop_length", 0),
    ("hop_length", -512),
    ("hop_length", 300),
    ("n_fft", 0),
    ("n_fft", 1000),
    ("version", "2.0"),
    ("version", None),
    ("sample_rate", 0),
    ("level_dbfs", None),
    ("regions", 5),
    ("warnings", 3),
    ("mean_power", "huge"),
    ("power_std", "nan"),
]


def _damage(d: dict, key: str, value) -> dict:
    d = dict(d)
    if value == "huge":  # power no audio can hold: overflowed float32 casts (a RuntimeWarning) in the stages
        d[key] = [1e300] * len(d[key])
    elif value == "nan":
        d[key] = [None] * len(d[key])
    else:
        d[key] = value
    return d


@pytest.mark.parametrize("key,value", DAMAGED_PROFILES)
def test_damaged_profile_field_is_named(profile_dict, key, value):
    with pytest.raises(InputError, match=rf"damaged field '{key}(\[0\])?'"):
        NoiseProfile.from_dict(_damage(profile_dict, key, value), where="room.json")


@pytest.mark.parametrize("key,value", [("hop_length", 0), ("n_fft", 0), ("version", "2.0"), ("version", None),
                                       ("hop_length", -512), ("mean_power", "huge")])
@pytest.mark.parametrize("command", ["clean", "holes"])
def test_damaged_profile_is_exit_3_in_clean_and_holes(audio, profile_dict, tmp_path, capsys, key, value, command):
    prof = tmp_path / "room.json"
    prof.write_text(json.dumps(_damage(profile_dict, key, value)))
    if command == "clean":
        argv = ["clean", audio, "-o", tmp_path / "out.wav", "--profile", prof, "-q"]
    else:
        argv = ["holes", audio, audio, "--profile", prof]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy RuntimeWarning may leak either
        code, _, err = run(argv, capsys)
    assert code == 3, err
    assert f"damaged field '{key}" in err and err.count("\n") == 1 and "internal error" not in err
    assert not (tmp_path / "out.wav").exists()


def test_damaged_profile_stops_batch_before_any_file(audio, profile_dict, tmp_path, capsys):
    prof = tmp_path / "room.json"
    prof.write_text(json.dumps(_damage(profile_dict, "hop_length", 0)))
    (tmp_path / "delivered").mkdir()
    code, _, err = run(["batch", audio.parent, tmp_path / "delivered", "--profile", prof, "--workers", "1"], capsys)
    assert code == 3 and "damaged field 'hop_length'" in err and err.count("\n") == 1, err


def test_a_valid_profile_still_loads(profile_dict, tmp_path):
    path = tmp_path / "room.json"
    path.write_text(json.dumps(profile_dict))
    back = NoiseProfile.load(path)
    assert back.to_dict() == profile_dict


# -- --set values -------------------------------------------------------------------------------
@pytest.mark.parametrize("assignment,text", [
    ("stages.-1.mix=0.5", "no stage '-1'"),  # was silently the last stage
    ("gate.max_reduction_db=nan", "gate.max_reduction_db: expected a finite number"),
    ("mix=inf", "mix: expected a finite number"),
    ("seed=inf", "seed: expected a whole number"),
    ("stages.0.bypass=2", "expected true/false"),
])
def test_bad_set_values_are_exit_2(audio, tmp_path, capsys, assignment, text):
    code, _, err = run(["clean", audio, "-o", tmp_path / "out.wav", "--set", assignment, "-q"], capsys)
    assert code == 2 and text in err and err.count("\n") == 1, err
    assert not (tmp_path / "out.wav").exists()


def test_set_message_names_the_setting_once(audio, tmp_path, capsys):
    code, _, err = run(["clean", audio, "-o", tmp_path / "out.wav", "--set", "gate.max_reduction_db=x", "-q"], capsys)
    assert code == 2 and "gate.max_reduction_db: expected a number, got 'x'" in err
    assert "max_reduction_db.max_reduction_db" not in err


# -- sources ------------------------------------------------------------------------------------
def test_dangling_link_says_so_in_clean_and_batch(audio, tmp_path, capsys):
    folder = tmp_path / "season"
    folder.mkdir()
    (folder / "ep1.wav").symlink_to(tmp_path / "moved-away.wav")
    code, _, err = run(["clean", folder / "ep1.wav", "-o", tmp_path / "out.wav", "-q"], capsys)
    assert code == 3 and "is a link to" in err and "which does not exist" in err
    (tmp_path / "delivered").mkdir()
    code, out, err = run(["batch", folder, tmp_path / "delivered", "--workers", "1"], capsys)
    assert code != 0 and "ep1.wav" in err
    assert "[Errno" not in out + err and "is a link to" in err
