"""``roomtone profile``: learn from regions or automatically, print the summary, clear errors."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import soundfile as sf

from app.cli import main
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
def test_profile_reads_times_as_every_command_does(times, expect):
    from app.timecode import parse_time

    assert parse_time(times) == pytest.approx(expect)
    assert not hasattr(cmd, "parse_time")  # one time parser: app.timecode


@pytest.mark.parametrize("bad, why", [("0:75-0:80", "below 60"), ("0:03", "START-END"), ("3-1", "ends before it starts"),
                                      ("abc-1", "is not a time")])
def test_profile_refuses_the_regions_clean_refuses(recording, tmp_path, capsys, bad, why):
    """``0:75`` (75 seconds past a minute) was read by profile and refused by clean: one parser now."""
    code = main(["profile", str(recording), "--learn", bad, "-o", str(tmp_path / "room.json")])
    err = capsys.readouterr().err
    assert code == 2 and why in err and "Traceback" not in err
    assert not (tmp_path / "room.json").exists()


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
    args = parser().parse_args(["profile", str(recording), "--learn", "6-9", "-o", str(tmp_path / "r.json")])
    with pytest.raises(ParameterError, match=r"starts after the end of the file, which lasts 0:05.00"):
        args.func(args)
    args = parser().parse_args(["profile", str(recording), "--learn", "1-1.05", "-o", str(tmp_path / "r.json")])
    with pytest.raises(ParameterError, match="at least 2048 samples"):
        args.func(args)
    args = parser().parse_args(["profile", str(recording), "--auto", "-o", str(recording)])
    with pytest.raises(OutputError, match="overwrite the input"):
        args.func(args)
    with pytest.raises(SystemExit):
        parser().parse_args(["profile", str(recording), "-o", "x.json"])  # neither --learn nor --auto


def test_profile_and_clean_share_one_region_rule(recording, tmp_path, capsys):
    """A region running past the end is cut at the end by both; one starting after it is refused by both."""


    assert main(["profile", str(recording), "--learn", "4.5-9", "-o", str(tmp_path / "r.json")]) == 0
    assert "runs past the end of the file, which lasts 0:05.00 (5.000 s); used up to the end" in capsys.readouterr().out
    assert NoiseProfile.load(tmp_path / "r.json").regions == [(4.5, 5.0)]
    assert main(["clean", str(recording), "--learn", "4.5-9", "-o", str(tmp_path / "c.wav"), "-q"]) == 0
    record = json.loads((tmp_path / "c.wav.roomtone.json").read_text())
    assert record["settings"]["profile"]["regions"] == [[4.5, 5.0]]
    capsys.readouterr()
    errors = []
    for argv in (["profile", str(recording), "--learn", "6-9", "-o", str(tmp_path / "r2.json")],
                 ["clean", str(recording), "--learn", "6-9", "-o", str(tmp_path / "c2.wav"), "-q"]):
        assert main(argv) == 2
        errors.append(capsys.readouterr().err)
    assert errors[0] == errors[1] and "starts after the end of the file" in errors[0]


def test_speech_louder_than_the_room_warns_even_when_steady(tmp_path, capsys):
    """A steady talker (no 10 dB swing inside the region) 14 dB above a -41 dBFS room is not room tone."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal(SR * 10) * 10 ** (-41 / 20)
    x[3 * SR : 7 * SR] += rng.standard_normal(4 * SR) * 10 ** (-27 / 20)  # steady, loud: speech-like level
    path = tmp_path / "talk.wav"
    sf.write(path, x.astype(np.float32), SR, subtype="FLOAT")
    args = parser().parse_args(["profile", str(path), "--learn", "3.5-6.5", "-o", str(tmp_path / "r.json")])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "looks like speech" not in out  # the level-swing check cannot see it
    assert "dB louder than the quiet parts of the file (-41" in out and "not room tone" in out
    args = parser().parse_args(["profile", str(path), "--learn", "0.5-2.5", "-o", str(tmp_path / "q.json")])
    assert args.func(args) == 0
    assert "louder than the quiet parts" not in capsys.readouterr().out  # the real room tone: no warning


    assert main(["clean", str(path), "--learn", "3.5-6.5", "-o", str(tmp_path / "c.wav")]) == 0
    err = capsys.readouterr().err  # clean says it too, not only the record
    assert "warning: the region (-2" in err and "dB louder than the quiet parts" in err
