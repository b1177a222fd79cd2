"""``roomtone profile``: learn from regions or automatically, print the summary, clear errors."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import soundfile as sf

from app.commands import profile as cmd
from dsp.errors import OutputError, ParameterError
from dsp.roomtone import NoiseProfile

SR = 16000


def parser():
    ap = argparse.ArgumentParser(prog="roomtone")
    cmd.register(ap.add_subparsers(dest="command"))
    return ap


@pytest.fixture
def recording(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(SR * 5) * 0.002
    t = np.arange(x.size) / SR
    x[2 * SR : 4 * SR] += 0.2 * np.sin(2 * np.pi * 200 * t[: 2 * SR]) * (np.sin(2 * np.pi * 3 * t[: 2 * SR]) > 0)
    path = tmp_path / "in.wav"
    sf.write(path, x.astype(np.float32), SR, subtype="FLOAT")
    return path


@pytest.mark.parametrize("times,expect", [("1.5", 1.5), ("0:01.5", 1.5), ("1:02", 62.0), ("1:00:03.25", 3603.25), (".5", 0.5)])
def test_parse_time(times, expect):
    assert cmd.parse_time(times) == pytest.approx(expect)


def test_parse_range_errors():
    assert cmd.parse_range("0:01.5-0:03") == (1.5, 3.0)
    with pytest.raises(ParameterError, match="START-END"):
        cmd.parse_range("0:03")
    with pytest.raises(ParameterError, match="ends before it starts"):
        cmd.parse_range("3-1")
    with pytest.raises(ParameterError, match="cannot read time"):
        cmd.parse_time("abc")


def test_learn_writes_a_profile_and_prints_its_summary(recording, tmp_path, capsys):
    out = tmp_path / "room.json"
    args = parser().parse_args(["profile", str(recording), "--learn", "0:00.2-0:01.5", "--learn", "4.2-4.9", "-o", str(out)])
    assert args.func(args) == 0
    text = capsys.readouterr().out
    assert "dBFS" in text and "0:00.20-0:01.50" in text and "0:04.20-0:04.90" in text
    prof = NoiseProfile.load(out)
    assert prof.method == "learn" and prof.regions == [(0.2, 1.5), (4.2, 4.9)]
    assert abs(prof.level_dbfs - 20 * np.log10(0.002)) < 1.0
    assert json.loads(out.read_text())["format"] == "roomtone-noise-profile"


def test_auto_avoids_the_loud_part(recording, tmp_path, capsys):
    out = tmp_path / "room.json"
    args = parser().parse_args(["profile", str(recording), "--auto", "-o", str(out)])
    assert args.func(args) == 0
    prof = NoiseProfile.load(out)
    assert prof.method == "vad"  # the same automatic method as `clean` (voice activity first)
    assert abs(prof.level_dbfs - 20 * np.log10(0.002)) < 1.0
    assert "(vad)" in capsys.readouterr().out


def test_speech_region_warns(recording, tmp_path, capsys):
    args = parser().parse_args(["profile", str(recording), "--learn", "1.5-4", "-o", str(tmp_path / "r.json")])
    assert args.func(args) == 0
    assert "warning: region 0:01.50-0:04.00 looks like speech" in capsys.readouterr().out


def test_errors_are_clear(recording, tmp_path):
    args = parser().parse_args(["profile", str(recording), "--learn", "4-9", "-o", str(tmp_path / "r.json")])
    with pytest.raises(ParameterError, match=r"outside the file, which lasts 0:05.00"):
        args.func(args)
    args = parser().parse_args(["profile", str(recording), "--learn", "1-1.05", "-o", str(tmp_path / "r.json")])
    with pytest.raises(ParameterError, match="at least 2048 samples"):
        args.func(args)
    args = parser().parse_args(["profile", str(recording), "--auto", "-o", str(recording)])
    with pytest.raises(OutputError, match="overwrite the input"):
        args.func(args)
    with pytest.raises(SystemExit):
        parser().parse_args(["profile", str(recording), "-o", "x.json"])  # neither --learn nor --auto
