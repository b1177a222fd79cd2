"""The edit list in the Project: one undo step per operation, saved, recovered, rendered by the
one render path (export == the dsp render of the same edits)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import soundfile as sf

from app.session import Autosave, Session
from app.session.project import PROJECT_VERSION, Project, Selection, load_project
from app.session.session import render_project
from dsp.chain import BuildContext, ChainSettings, StageSpec, build_chain
from dsp.denoise import GateSettings
from dsp.edits import (
    Cut,
    EditPlan,
    EditRenderer,
    ProcessSelection,
    RegionGain,
    RoomToneFill,
    SpectralRepair,
)
from dsp.errors import InputError, ParameterError
from dsp.io import AudioReader
from dsp.roomtone import estimate_room_tone

GATE = ChainSettings(stages=(StageSpec("gate", GateSettings()),))


@pytest.fixture(scope="module")
def clip(dev_data, tmp_path_factory):
    """6 s of the dev podcast (speech) as a WAV in a temporary folder, and its room tone."""
    folder = tmp_path_factory.mktemp("edits")
    x, sr = sf.read(str(dev_data / "podcast" / "podcast_dev_2min_noisy.flac"), dtype="float32", start=9 * 48000,
                    frames=6 * 48000)
    path = folder / "clip.wav"
    sf.write(str(path), x, sr, subtype="FLOAT")
    bed, _ = sf.read(str(dev_data / "podcast" / "podcast_dev_2min_noisebed.flac"), dtype="float32", frames=6 * sr,
                     always_2d=True)
    return path, estimate_room_tone(bed.T, sr, regions=[(0.0, 6.0)])


@pytest.fixture
def session(clip):
    path, profile = clip
    s = Session(Project(chain=GATE))
    s.open_source(path)
    s.set_profile(profile)
    return s


OPERATIONS = [
    ("Replace 1.20-1.45 s with room tone", lambda s: s.replace_with_room_tone()),
    ("Cut 1.20-1.45 s", lambda s: s.cut_selection()),
    ("Cut 1.20-1.45 s, keep room tone", lambda s: s.cut_selection(keep_room_tone=True)),
    ("Gain -6.0 dB on 1.20-1.45 s", lambda s: s.gain_selection(-6.0)),
    ("Process 1.20-1.45 s with the chain", lambda s: s.process_selection()),
    ("Process 1.20-1.45 s with Room-tone gate", lambda s: s.process_selection(0)),
    ("Attenuate 30 dB 1.20-1.45 s, 1000-3000 Hz (spectral repair)",
     lambda s: s.spectral_repair("attenuate")),
    ("Replace 1.20-1.45 s, 1000-3000 Hz (spectral repair)", lambda s: s.spectral_repair("replace")),
]


@pytest.mark.parametrize(("label", "op"), OPERATIONS, ids=[o[0] for o in OPERATIONS])
def test_each_operation_is_one_undo_step_that_restores_the_project_exactly(session, label, op):
    session.add_edit(RegionGain(0.2, 0.4, gain_db=3.0))  # an edit already there stays
    rect = "spectral" in label
    session.set_selection(Selection(1.2, 1.45, 1000.0, 3000.0) if rect else Selection(1.2, 1.45))
    before = session.project
    op(session)
    after = session.project
    assert len(after.edits) == 2 and after.edits[0] == before.edits[0]
    assert session.history.undo_label == label
    assert session.dirty and "*" in session.title  # an edit is an unsaved change
    assert session.undo() and session.project == before and session.project.edits == before.edits
    assert session.redo() and session.project == after


def test_remove_and_clear_are_undoable(session):
    session.add_edit(RegionGain(0.2, 0.4, gain_db=3.0))
    session.add_edit(Cut(2.0, 2.5))
    full = session.project
    session.remove_edit(0)
    assert session.project.edits == (Cut(2.0, 2.5),)
    assert session.history.undo_label.startswith("Remove edit: Gain +3.0 dB")
    session.clear_edits()
    assert session.project.edits == ()
    session.undo()
    session.undo()
    assert session.project == full
    with pytest.raises(ParameterError, match="no edit at position 5"):
        session.remove_edit(5)


def test_operations_refuse_without_a_usable_selection(session):
    with pytest.raises(ParameterError, match="select a stretch"):
        session.cut_selection()
    session.set_selection(Selection(1.0, 2.0))
    with pytest.raises(ParameterError, match="time-frequency rectangle"):
        session.spectral_repair()
    session.cut_selection()
    session.set_selection(Selection(1.5, 2.5))
    with pytest.raises(ParameterError, match="overlaps"):
        session.cut_selection()
    with pytest.raises(ParameterError, match="outside the source"):
        session.add_edit(Cut(60.0, 61.0))


ALL = (RoomToneFill(0.5, 0.8), RegionGain(1.0, 1.3, gain_db=-4.0), Cut(2.0, 2.4, keep_room_tone=True),
       SpectralRepair(3.0, 3.5, low_hz=1000.0, high_hz=3000.0, mode="replace"), Cut(4.0, 4.2),
       ProcessSelection(5.0, 5.5, chain=ChainSettings(stages=(StageSpec("gate", GateSettings(max_reduction_db=12.0)),)),
                        what="Room-tone gate"))


def test_edits_survive_save_and_reopen(session, tmp_path):
    for e in ALL:
        session.add_edit(e)
    path = session.save(tmp_path / "show.roomtone")
    data = json.loads(path.read_text())
    assert data["version"] == PROJECT_VERSION == 2 and len(data["edits"]) == len(ALL)
    project, problems = load_project(path)
    assert problems == [] and project.edits == ALL and project == session.project
    # without edits the file stays version 1 (an older Roomtone opens it)
    assert Project().to_dict()["version"] == 1
    assert not session.dirty
    session.remove_edit(0)
    assert session.dirty  # an edit is an unsaved change (autosave writes it)


def test_a_damaged_edit_is_an_input_error_that_says_what_to_do(session, tmp_path):
    session.add_edit(Cut(2.0, 2.4))
    path = session.save(tmp_path / "show.roomtone")
    data = json.loads(path.read_text())
    data["edits"][0]["end_s"] = "soon"
    path.write_text(json.dumps(data))
    with pytest.raises(InputError, match=r"edit 1: damaged field 'end_s'.*remove that edit"):
        load_project(path)
    data["version"] = 3
    path.write_text(json.dumps(data))
    with pytest.raises(InputError, match="newer than this Roomtone"):
        load_project(path)


def test_edits_survive_crash_recovery(session, tmp_path):
    autosave = Autosave(tmp_path / "state")
    for e in ALL:
        session.add_edit(e)
    saved = autosave.save_if_dirty(session)
    assert saved is not None
    recovered = Session()
    assert recovered.recover(saved) == []
    assert recovered.project.edits == ALL and recovered.project == session.project
    autosave.mark_clean_exit()


def test_export_renders_the_edits_like_the_dsp_render(session, clip, tmp_path):
    path, profile = clip
    for e in ALL:
        session.add_edit(e)
    rec = render_project(session.project, tmp_path / "out.wav")
    out, sr = sf.read(str(tmp_path / "out.wav"), dtype="float32", always_2d=True)
    with AudioReader(path) as reader:
        frames = reader.frames
        plan = EditPlan(ALL, sample_rate=sr, frames=frames, profile=profile)
        ctx = BuildContext(sr, 1, profile=profile)
        expect = EditRenderer(reader, build_chain(GATE, ctx), plan,
                              processors={5: build_chain(ALL[5].chain, ctx)}).render()
    cut = round(0.4 * sr) + round(0.2 * sr)
    assert out.shape[0] == frames - cut == rec.frames
    np.testing.assert_array_equal(out.T, expect)
    record = json.loads((tmp_path / "out.wav.roomtone.json").read_text())
    assert [e["kind"] for e in record["settings"]["edits"]] == [e.kind for e in ALL]


def test_room_tone_edits_without_a_profile_find_one(session, tmp_path):
    session.set_profile(None)
    session.set_chain(ChainSettings())
    session.add_edit(RoomToneFill(1.0, 1.5))
    rec = render_project(session.project, tmp_path / "out.wav")
    assert rec.settings["profile_origin"] == "automatic"
    assert dataclasses.replace(session.project).edits == (RoomToneFill(1.0, 1.5),)


def test_edits_survive_a_crashed_run(clip, tmp_path):
    """A process that edits, autosaves and dies: the next start recovers its edits."""
    import os
    import subprocess
    import sys
    import textwrap
    from pathlib import Path

    repo = Path(__file__).resolve().parents[3]
    folder = tmp_path / "state"
    code = textwrap.dedent(f"""
        import os
        from app.session import Autosave, Session
        from app.session.project import Selection
        s = Session()
        s.open_source({str(clip[0])!r})
        s.set_selection(Selection(1.0, 1.5))
        s.cut_selection(keep_room_tone=True)
        s.gain_selection(-4.0)
        assert Autosave({str(folder)!r}).save_if_dirty(s) is not None
        os._exit(3)
    """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=repo, env={**os.environ, "PYTHONPATH": str(repo)},
                          capture_output=True, text=True)
    assert proc.returncode == 3, proc.stderr
    me = Autosave(folder)
    candidate = me.recovery_candidate()
    assert candidate is not None
    s = Session()
    assert s.recover(candidate) == []
    assert s.project.edits == (Cut(1.0, 1.5, keep_room_tone=True), RegionGain(1.0, 1.5, gain_db=-4.0))
    me.discard()
    me.mark_clean_exit()


def test_export_with_a_loudness_target_renders_the_edits_too(session, tmp_path):
    session.add_edit(Cut(2.0, 2.5, keep_room_tone=True))
    session.add_edit(RegionGain(3.0, 4.0, gain_db=-10.0))
    session.set_loudness("podcast-mono")
    rec = render_project(session.project, tmp_path / "out.flac")
    info = sf.info(str(tmp_path / "out.flac"))
    assert info.frames == session.project.source.frames - round(0.5 * info.samplerate)
    assert rec.settings["loudness"]["target"] == "podcast-mono" and len(rec.settings["edits"]) == 2
