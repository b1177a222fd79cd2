"""Loudness on every export: ``roomtone clean --loudness``, ``--level`` and ``render_loudness``.

Checked by independent meters (pyloudnorm; scipy ``resample_poly`` 4x true peak), never by
Roomtone's own meter, on dev speech with hot bright bursts at 16, 44.1 and 48 kHz.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from app.cli import main
from app.pipeline import clean_file, record_path
from dsp.chain import ChainSettings, registry
from dsp.errors import Cancelled, OutputError, ParameterError
from tests.app.batch.independent import hot_speech, pyloudnorm_lufs, scipy_true_peak

pytest.importorskip("pyloudnorm")

needs_leveler = pytest.mark.skipif("leveler" not in registry(), reason="leveler stage not merged yet")


def _hot_file(dev_data: Path, folder: Path, sample_rate: int, channels: int = 1) -> Path:
    path = folder / f"hot_{sample_rate}_{channels}.wav"
    sf.write(str(path), hot_speech(dev_data, sample_rate, channels), sample_rate, subtype="PCM_24")
    return path


def _leftovers(folder: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


@pytest.mark.parametrize("sample_rate", [16000, 44100, 48000])
def test_clean_loudness_podcast_mono_meets_the_target_by_independent_meters(dev_data, tmp_path, sample_rate, capsys):
    src = _hot_file(dev_data, tmp_path, sample_rate)
    out = tmp_path / "out.wav"
    assert main(["clean", str(src), "-o", str(out), "--loudness", "podcast-mono"]) == 0
    lufs, tp = pyloudnorm_lufs(out), scipy_true_peak(out, 4)
    assert abs(lufs - (-19.0)) <= 0.5, lufs
    assert tp <= -1.0, tp
    assert sf.info(str(out)).samplerate == sample_rate and sf.info(str(out)).subtype == "PCM_24"
    rec = json.loads(record_path(out).read_text())
    loud = rec["settings"]["loudness"]
    assert loud["target"] == "podcast-mono" and loud["target_lufs"] == -19.0 and loud["ceiling_dbtp"] == -1.0
    assert abs(loud["after"]["integrated_lufs"] - lufs) <= 0.2  # the record states what the file holds
    assert loud["after"]["true_peak_dbtp"] <= -1.0
    assert loud["before"]["integrated_lufs"] < -24 and loud["chain_output"]["integrated_lufs"] < -24
    assert loud["gain_db"] > 4.0 and loud["limiter_max_reduction_db"] > 3.0  # the bursts were limited
    assert rec["chain"]["processors"][-1]["processors"][0]["type"] == "LoudnessGain"
    assert _leftovers(tmp_path, {src.name, out.name, record_path(out).name}) == []  # no temporary file
    assert "loudness: " in capsys.readouterr().err


def test_podcast_stereo_flac16_and_a_loudness_off_render_unchanged(dev_data, tmp_path):
    src = _hot_file(dev_data, tmp_path, 48000, channels=2)
    out = tmp_path / "st.flac"
    rec = clean_file(src, out, ChainSettings(), fmt="flac16", loudness="podcast")
    assert rec.settings["loudness"]["target"] == "podcast-stereo"
    assert abs(pyloudnorm_lufs(out) - (-16.0)) <= 0.5 and scipy_true_peak(out, 4) <= -1.0
    assert sf.info(str(out)).subtype == "PCM_16"
    plain = clean_file(src, tmp_path / "plain.wav", ChainSettings(), fmt="float32")
    assert "loudness" not in plain.settings
    np.testing.assert_allclose(sf.read(str(tmp_path / "plain.wav"))[0], sf.read(str(src))[0], atol=1e-6)


def test_a_failing_write_leaves_no_output_and_no_temporary_file(dev_data, tmp_path, monkeypatch):
    import dsp.io

    src = _hot_file(dev_data, tmp_path, 16000)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    real_write = dsp.io.AtomicWriter.write

    def failing(self, block):  # the disk fills up while the loudness pass writes the output
        if self.target.name.startswith(".out.wav") or self.target.name == "out.wav":
            raise OutputError(f"{self.target}: no space left on device; nothing was written")
        return real_write(self, block)

    monkeypatch.setattr(dsp.io.AtomicWriter, "write", failing)
    with pytest.raises(OutputError, match="no space"):
        clean_file(src, out_dir / "out.wav", ChainSettings(), loudness="podcast-mono")
    assert list(out_dir.iterdir()) == []  # no output, no record, no chain FLAC, no temporaries


def test_cancel_in_the_loudness_pass_leaves_nothing(dev_data, tmp_path):
    src = _hot_file(dev_data, tmp_path, 16000)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    seen = {"frac": 0.0}

    def progress(done, total):
        seen["frac"] = done / total

    with pytest.raises(Cancelled):
        clean_file(src, out_dir / "out.wav", ChainSettings(), loudness="podcast-mono", progress=progress,
                   cancel=lambda: seen["frac"] >= 0.7)  # the chain is rendered: cancel in the loudness pass
    assert seen["frac"] >= 0.7
    assert list(out_dir.iterdir()) == []


def test_unknown_target_is_a_clear_error_with_exit_code_2(dev_data, tmp_path, capsys):
    src = _hot_file(dev_data, tmp_path, 16000)
    assert main(["clean", str(src), "-o", str(tmp_path / "o.wav"), "--loudness", "loud"]) == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'loud'" in err and "podcast-mono" in err and "Traceback" not in err
    with pytest.raises(ParameterError, match="unknown loudness target 'loud'; choose one of"):
        clean_file(src, tmp_path / "o.wav", ChainSettings(), loudness="loud")
    assert not (tmp_path / "o.wav").exists()


@needs_leveler
def test_level_appends_the_leveler_at_the_end_of_the_chain(dev_data, tmp_path):
    from app.pipeline import adjust_settings
    from app.presets import load_preset

    base = load_preset("podcast")
    leveled = adjust_settings(base, level=True)
    assert [s.kind for s in leveled.stages] == [*(s.kind for s in base.stages), "leveler"]
    assert adjust_settings(leveled, level=True).stages == leveled.stages  # not added twice
    src = _hot_file(dev_data, tmp_path, 16000)
    out = tmp_path / "lev.wav"
    assert main(["clean", str(src), "-o", str(out), "--level", "--loudness", "podcast-mono", "-q"]) == 0
    rec = json.loads(record_path(out).read_text())
    assert rec["settings"]["chain"]["stages"][-1]["kind"] == "leveler"
    assert abs(pyloudnorm_lufs(out) - (-19.0)) <= 0.5 and scipy_true_peak(out, 4) <= -1.0


@needs_leveler
def test_clean_level_says_what_the_leveler_planned(dev_data, tmp_path, capsys):
    # speech: one line with the plan's own figures, as the record has them
    src = dev_data / "clean" / "s03_libri_198.flac"
    out = tmp_path / "lev.flac"
    assert main(["clean", str(src), "-o", str(out), "--level", "--passes", "none", "--refill", "off"]) == 0
    plan = json.loads(record_path(out).read_text())["settings"]["analyses"]["level_plan"]
    err = capsys.readouterr().err
    line = next(t for t in err.splitlines() if "leveler:" in t)
    assert f"{plan['phrases']} phrases ({plan['detector']})" in line, err
    assert f"{plan['spread_before_lu']} LU apart -> {plan['spread_after_lu']} LU as planned" in line, err
    gains = re.search(r"phrase gains ([+-]\d+\.\d) to ([+-]\d+\.\d) dB", line)
    assert gains is not None and "-0.0" not in line, line  # a rounded zero reads +0.0
    assert abs(float(gains[1]) - plan["phrase_gain_db_min"]) <= 0.051, line
    assert abs(float(gains[2]) - plan["phrase_gain_db_max"]) <= 0.051, line
    # no speech: the plan's warning reaches the user, not only the record
    rng = np.random.default_rng(0)
    noise = tmp_path / "noise.wav"
    sf.write(noise, (rng.standard_normal(3 * 16000) * 0.01).astype(np.float32), 16000, subtype="PCM_16")
    assert main(["clean", str(noise), "-o", str(tmp_path / "n.wav"), "--level", "--passes", "none", "--refill", "off"]) == 0
    err = capsys.readouterr().err
    assert "roomtone: warning: leveler: no speech found: the leveler leaves the file as it is" in err, err
    # and a chain without a leveler says nothing about one
    assert main(["clean", str(src), "-o", str(tmp_path / "p.flac"), "--passes", "none", "--refill", "off"]) == 0
    assert "leveler" not in capsys.readouterr().err


@needs_leveler
def test_batch_level_goes_into_the_chain_and_the_settings_hash():
    import argparse

    from app.commands.batch import build_options, register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    plain = build_options(parser.parse_args(["batch", "in", "out"]))
    leveled = build_options(parser.parse_args(["batch", "in", "out", "--level"]))
    assert leveled.chain["stages"][-1]["kind"] == "leveler"
    assert plain.settings_hash() != leveled.settings_hash()


@pytest.mark.skipif("leveler" in registry(), reason="only where the leveler stage is missing")
def test_level_without_a_leveler_stage_says_so(dev_data, tmp_path, capsys):
    src = _hot_file(dev_data, tmp_path, 16000)
    assert main(["clean", str(src), "-o", str(tmp_path / "o.wav"), "--level"]) == 2
    err = capsys.readouterr().err
    assert "--level: this Roomtone has no 'leveler' stage" in err and "Traceback" not in err
    assert not (tmp_path / "o.wav").exists()


def test_the_plan_line_writes_a_rounded_zero_gain_as_plus_zero():
    from app.pipeline import say_level_plan

    said: list[str] = []
    plan = {"phrases": 4, "detector": "vad", "spread_before_lu": 0.0, "spread_after_lu": 0.0,
            "phrase_gain_db_min": -0.0, "phrase_gain_db_max": -0.04, "warnings": []}
    say_level_plan({"analyses": {"level_plan": plan}}, said.append)
    assert said == ["leveler: 4 phrases (vad); speech levels 0.0 LU apart -> 0.0 LU as planned; "
                    "phrase gains +0.0 to +0.0 dB"], said
