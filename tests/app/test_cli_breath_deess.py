"""``--breath [REDUCTION_DB|gate]`` and ``--deess [MAX_DB]`` on ``clean`` and ``batch`` (issue 23)."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import soundfile as sf

from app.cli import main

SR = 16000


@pytest.fixture
def voice(tmp_path):
    from tests.dsp.test_breath import _signal

    x, breaths = _signal()
    p = tmp_path / "in.wav"
    sf.write(str(p), x, SR, subtype="FLOAT")
    return p, x, breaths


def test_breath_alone_lowers_the_breaths_and_records_them(voice, tmp_path, capsys):
    path, x, breaths = voice
    out = tmp_path / "out.wav"
    code = main(["clean", str(path), "-o", str(out), "--passes", "none", "--refill", "off", "--breath", "6", "-q"])
    assert code == 0, capsys.readouterr().err
    y, _ = sf.read(str(out), dtype="float32")
    rec = json.loads(next(tmp_path.glob("out*.roomtone.json")).read_text())
    analyses = rec["settings"]["analyses"]
    assert len(analyses["breath_events"]) == len(breaths)
    assert "deess_events" not in analyses
    code = main(["clean", str(path), "-o", str(tmp_path / "d.wav"), "--passes", "none", "--refill", "off", "--deess",
                 "-q"])
    assert code == 0, capsys.readouterr().err
    rec = json.loads(next(tmp_path.glob("d*.roomtone.json")).read_text())
    assert "deess_events" in rec["settings"]["analyses"] and "breath_events" not in rec["settings"]["analyses"]
    a, b = breaths[0]
    m0, m1 = a + (b - a) // 4, b - (b - a) // 4
    drop = 10 * np.log10(np.mean(x[m0:m1].astype(np.float64) ** 2) / np.mean(y[m0:m1].astype(np.float64) ** 2))
    assert drop == pytest.approx(6.0, abs=1.0)


@pytest.mark.parametrize(("option", "message"), [(["--breath", "loud"], "--breath expects a number of dB"),
                                                 (["--breath", "99"], "breath.reduction_db must be between"),
                                                 (["--deess", "-3"], "deess.max_reduction_db must be between")])
def test_bad_values_give_one_line(voice, tmp_path, capsys, option, message):
    path, _, _ = voice
    code = main(["clean", str(path), "-o", str(tmp_path / "o.wav"), *option])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_enable_mapping_for_both_commands():
    from app.commands.clean import breath_deess_enable

    ns = argparse.Namespace
    assert breath_deess_enable(ns(breath="", deess=None)) == {"breath": {}}
    assert breath_deess_enable(ns(breath="gate", deess="4")) == {"breath": {"gate_to_room_tone": True},
                                                                 "deess": {"max_reduction_db": 4.0}}
    assert breath_deess_enable(ns()) == {}


def test_batch_takes_the_options(tmp_path):
    from app.commands.batch import build_options

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    from app.commands import batch

    batch.register(sub)
    args = parser.parse_args(["batch", str(tmp_path), str(tmp_path / "o"), "--breath", "--deess", "5"])
    opts = build_options(args)
    kinds = {s["kind"]: s for s in opts.chain["stages"]}
    assert not kinds["breath"]["bypass"] and kinds["deess"]["max_reduction_db"] == 5.0


def test_the_waveform_reads_the_breath_and_sibilance_events(voice):
    from app.pipeline import prepare_processor, release
    from dsp.breath import BreathSettings
    from dsp.chain import ChainSettings, StageSpec
    from dsp.deess import DeessSettings
    from dsp.events import found_events
    from dsp.render import ArraySource

    _, x, breaths = voice
    chain = ChainSettings(stages=(StageSpec("deess", DeessSettings()), StageSpec("breath", BreathSettings())))
    _, ctx = prepare_processor(ArraySource(x[None], SR), chain)
    release(ctx)
    events = found_events(ctx.extras)
    assert events["breath"].shape == (len(breaths), 2)
    for (a, b), (s, e) in zip(breaths, events["breath"], strict=True):
        assert abs(s - a / SR) < 0.08 and abs(e - b / SR) < 0.08
    assert "deess" in events and events["deess"].ndim == 2
