"""``--declick`` and ``--deplosive`` on ``clean`` and ``batch`` (issue 23): each stage heard alone."""

from __future__ import annotations

import argparse
import json

import numpy as np
import soundfile as sf

from app.cli import main
from tests.dsp.mouth_signals import SR, damped_click, pop, voice


def _clicked(path):
    x = voice(2.0)
    for s in (int(0.5 * SR), int(1.4 * SR)):
        x[s : s + 72] += damped_click(ms=1.5, peak=0.03)
    sf.write(str(path), x.astype(np.float32), SR, subtype="FLOAT")
    return x


def test_clean_passes_none_refill_off_declick_runs_the_declicker_only(tmp_path, capsys):
    src, out = tmp_path / "in.wav", tmp_path / "out.wav"
    x = _clicked(src)
    assert main(["clean", str(src), "-o", str(out), "--passes", "none", "--refill", "off", "--declick", "-q"]) == 0
    record = json.loads((tmp_path / "out.wav.roomtone.json").read_text())
    active = [s["kind"] for s in record["settings"]["chain"]["stages"] if not s["bypass"]]
    assert active == ["declick"]
    assert record["settings"]["analyses"]["declick_events"]["clicks"] >= 2
    y, _ = sf.read(str(out), dtype="float32")
    changed = np.flatnonzero(y != x.astype(np.float32))
    assert 0 < changed.size < 0.01 * x.size  # only the clicks were touched


def test_declick_threshold_and_deplosive_reduction_are_set_and_checked(tmp_path, capsys):
    src = tmp_path / "in.wav"
    _clicked(src)
    out = tmp_path / "o.wav"
    assert main(["clean", str(src), "-o", str(out), "--passes", "none", "--refill", "off", "--declick", "22",
                 "--deplosive", "18", "-q"]) == 0
    record = json.loads((tmp_path / "o.wav.roomtone.json").read_text())
    stages = {s["kind"]: s for s in record["settings"]["chain"]["stages"]}
    assert stages["declick"]["click_threshold_db"] == 22.0 and not stages["declick"]["bypass"]
    assert stages["deplosive"]["max_reduction_db"] == 18.0 and not stages["deplosive"]["bypass"]
    assert main(["clean", str(src), "-o", str(tmp_path / "bad.wav"), "--declick", "3"]) == 2
    err = capsys.readouterr().err
    assert "click_threshold_db must be between 6 and 60 dB, got 3.0" in err and "Traceback" not in err


def test_batch_takes_the_mouth_options_into_its_chain():
    from app.commands.batch import build_options, register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["batch", "in", "out", "--declick", "--deplosive"])
    chain = build_options(args).chain
    kinds = [s["kind"] for s in chain["stages"] if not s["bypass"]]
    assert "declick" in kinds and "deplosive" in kinds
    plain = build_options(parser.parse_args(["batch", "in", "out"])).chain
    assert not any(s["kind"] in ("declick", "deplosive") and not s["bypass"] for s in plain["stages"])


def test_a_pop_file_through_deplosive_alone(tmp_path):
    x = voice(2.0, f0=120.0)
    p = pop(rms=0.05)
    s = int(SR * 2 / 3) - 240
    x[s : s + p.size] += p
    src, out = tmp_path / "p.wav", tmp_path / "p_out.wav"
    sf.write(str(src), x.astype(np.float32), SR, subtype="FLOAT")
    assert main(["clean", str(src), "-o", str(out), "--passes", "none", "--refill", "off", "--deplosive", "-q"]) == 0
    y, _ = sf.read(str(out), dtype="float32")
    assert np.sum(y[s : s + p.size] ** 2) < np.sum(x[s : s + p.size] ** 2)  # the low band went down there
    far = np.ones(x.size, bool)
    far[s - SR // 10 : s + p.size + SR // 10] = False
    np.testing.assert_array_equal(y[far], x.astype(np.float32)[far])


def test_the_waveform_reads_clicks_and_pops_from_the_analyses():
    from dsp.declick import ClickMap
    from dsp.deplosive import PopMap
    from dsp.events import found_events

    cm = ClickMap(48000, np.array([10, 100]), np.array([20, 130]), np.array([20.0, 30.5], np.float32))
    pm = PopMap(16000, np.array([5]), np.array([50]), np.array([3.0], np.float32))
    events = found_events({"declick_events": cm, "deplosive_events": pm})
    np.testing.assert_allclose(events["declick"], [[10 / 48000, 20 / 48000], [100 / 48000, 130 / 48000]])
    np.testing.assert_allclose(events["deplosive"], [[5 / 16000, 50 / 16000]])
