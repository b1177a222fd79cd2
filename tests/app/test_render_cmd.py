"""``roomtone render PROJECT -o OUT``: a saved project (chain, room tone, edits) exported from the
command line equals the workstation's export, and a project whose audio moved is refused."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf

from app.cli import main
from app.pipeline import record_path
from app.session import Session
from app.session.project import Project, Selection
from dsp.chain import ChainSettings, StageSpec
from dsp.denoise import GateSettings
from dsp.roomtone import estimate_room_tone


def _session_on_clip(dev_data, tmp_path, seconds: int, stage: StageSpec):
    """A session on ``seconds`` of the dev podcast (from 9 s, as a float WAV) with a one-stage chain: ``(x, sr, session, clip path)``."""
    sr = 48000
    x, _ = sf.read(str(dev_data / "podcast" / "podcast_dev_2min_noisy.flac"), dtype="float32", start=9 * sr,
                   frames=seconds * sr)
    src = tmp_path / "clip.wav"
    sf.write(str(src), x, sr, subtype="FLOAT")
    s = Session(Project(chain=ChainSettings(stages=(stage,))))
    s.open_source(src)
    return x, sr, s, src


@pytest.fixture
def saved(dev_data, tmp_path):
    """A project on 6 s of the dev podcast: the gate, its room tone, a gain, a room-tone fill and a cut."""
    x, sr, s, src = _session_on_clip(dev_data, tmp_path, 6, StageSpec("gate", GateSettings()))
    s.set_profile(estimate_room_tone(x[None], sr, regions=[(0.0, 1.0)]))
    for sel, op in ((Selection(1.0, 1.4), lambda: s.gain_selection(-9.0)),
                    (Selection(2.0, 2.3), s.replace_with_room_tone),
                    (Selection(4.0, 4.5), lambda: s.cut_selection(keep_room_tone=True))):
        s.set_selection(sel)
        op()
    path = s.save(tmp_path / "episode.roomtone")
    return s, path, src


def test_render_equals_the_workstation_export(saved, tmp_path, capsys):
    session, path, _ = saved
    out = tmp_path / "cli.wav"
    assert main(["render", str(path), "-o", str(out), "--format", "float32"]) == 0, capsys.readouterr().err
    assert "3 edits" in capsys.readouterr().err
    session.render_to(tmp_path / "gui.wav", "float32")
    y, sr = sf.read(str(out), dtype="float32")
    z, _ = sf.read(str(tmp_path / "gui.wav"), dtype="float32")
    np.testing.assert_array_equal(y, z)
    assert y.shape[0] == 6 * sr - int(round(0.5 * sr))  # the cut, exactly
    record = json.loads(record_path(out).read_text())
    assert [e["kind"] for e in record["settings"]["edits"]] == ["gain", "room_tone", "cut"]


def test_loudness_and_format_options(saved, tmp_path, capsys):
    _, path, _ = saved
    out = tmp_path / "master.flac"
    assert main(["render", str(path), "-o", str(out), "--format", "flac24", "--loudness", "podcast", "-q"]) == 0
    info = sf.info(str(out))
    assert info.format == "FLAC" and info.subtype == "PCM_24"
    assert capsys.readouterr().err == ""


def test_a_project_whose_audio_moved_is_refused_with_what_to_do(saved, tmp_path, capsys):
    _, path, src = saved
    shutil.move(str(src), str(tmp_path / "elsewhere.wav"))
    out = tmp_path / "x.wav"
    assert main(["render", str(path), "-o", str(out)]) == 3
    err = capsys.readouterr().err
    assert "missing" in err and "relink" in err and "Traceback" not in err
    assert not out.exists()


def test_a_file_that_is_not_a_project_is_an_input_error(tmp_path, capsys):
    bad = tmp_path / "bad.roomtone"
    bad.write_text("{not json")
    assert main(["render", str(bad), "-o", str(tmp_path / "x.wav")]) == 3
    assert "Traceback" not in capsys.readouterr().err


def test_a_project_with_the_leveler_says_what_it_planned(dev_data, tmp_path, capsys):
    from dsp.chain import registry

    if "leveler" not in registry():
        pytest.skip("no leveler stage in this build")
    from dsp.leveler import LevelerSettings

    _, _, s, _ = _session_on_clip(dev_data, tmp_path, 8, StageSpec("leveler", LevelerSettings()))
    path = s.save(tmp_path / "lev.roomtone")
    out = tmp_path / "lev.wav"
    assert main(["render", str(path), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    plan = json.loads(record_path(out).read_text())["settings"]["analyses"]["level_plan"]
    assert f"roomtone: leveler: {plan['phrases']} phrase" in err and "LU as planned" in err, err


def test_a_project_with_de_reverb_says_which_decay_time_it_used(dev_data, tmp_path, capsys):
    from dsp.dereverb import DereverbSettings

    _, _, s, _ = _session_on_clip(dev_data, tmp_path, 8, StageSpec("dereverb", DereverbSettings(rt60_s=0.45)))
    path = s.save(tmp_path / "room.roomtone")
    out = tmp_path / "room.wav"
    assert main(["render", str(path), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    decay = json.loads(record_path(out).read_text())["settings"]["analyses"]["room_decay"]
    assert decay == {"rt60_s": 0.45, "method": "set by hand"}
    assert "roomtone: de-reverb: decay time 0.45 s (set by hand)" in err, err
