"""Markers and regions in the Project (issue 24, item 3): one undo step per edit, restored exactly
by undo/redo, saved and reopened, recovered after a crash, validated on load, exported as CSV and
as an Audacity label file."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from app.session.autosave import Autosave
from app.session.markers import Marker, audacity_labels, export_markers, markers_csv
from app.session.project import Project, load_project
from app.session.session import Session
from dsp.errors import InputError, ParameterError

from . import make_chain, write_test_wav

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def _kinds(test_kinds):
    """Every test here runs with the stand-in stage kinds (conftest.test_kinds)."""


@pytest.fixture
def session(tmp_path):
    s = Session(Project(chain=make_chain()))
    s.open_source(write_test_wav(tmp_path / "ep.wav", seconds=4.0))
    return s


def _edit_markers(s: Session) -> list[Project]:
    states = [s.project]
    s.add_marker(1.5)
    states.append(s.project)
    s.add_marker(0.5, 1.25)  # a region
    states.append(s.project)
    s.rename_marker(1, "Intro")  # sorted: the marker at 1.5 s is now row 1
    states.append(s.project)
    s.move_marker(0, 2.0)  # the region keeps its length
    states.append(s.project)
    s.add_marker(3.0, name="Outro")
    states.append(s.project)
    s.remove_marker(0)  # 'Intro' at 1.5 s
    states.append(s.project)
    return states


def test_each_edit_is_one_labelled_undo_step_restored_exactly(session):
    s = session
    start = s.history.index
    states = _edit_markers(s)
    assert s.history.labels()[start:] == [
        "Add marker 'Marker 1' at 1.50 s", "Add region 'Region 1' 0.50-1.25 s",
        "Rename marker 'Marker 1' to 'Intro'", "Move region 'Region 1' to 2.00 s",
        "Add marker 'Outro' at 3.00 s", "Remove marker 'Intro' at 1.50 s"]
    assert s.project.markers == (Marker(2.0, "Region 1", 2.75), Marker(3.0, "Outro"))
    for k in range(len(states) - 2, -1, -1):
        assert s.undo()
        assert s.project == states[k] and s.project.markers == states[k].markers
    for k in range(1, len(states)):
        assert s.redo()
        assert s.project == states[k]
    assert Project(markers=(Marker(1.0),)) != Project()  # markers are part of equality


def test_bad_marker_edits_are_refused(session, tmp_path):
    s = session
    with pytest.raises(ParameterError, match="select a span"):
        s.add_marker(1.0, 1.0)
    with pytest.raises(ParameterError, match="no marker 1"):
        s.rename_marker(0, "x")
    s.add_marker(1.0)
    with pytest.raises(ParameterError, match="tabs"):
        s.rename_marker(0, "a\tb")
    assert s.add_marker(99.0) == 1 and s.project.markers[1].start_s == pytest.approx(4.0)  # clamped to the file
    with pytest.raises(ParameterError, match="open an audio file"):
        Session().add_marker(1.0)


def test_markers_survive_save_and_reopen(session, tmp_path):
    s = session
    path = s.save(tmp_path / "ep.roomtone")
    _edit_markers(s)
    assert s.dirty and s.title.endswith("*")  # a marker is unsaved work
    path = s.save(path)
    assert not s.dirty
    data = json.loads(path.read_text())
    assert data["markers"] == [{"name": "Region 1", "start_s": 2.0, "end_s": 2.75}, {"name": "Outro", "start_s": 3.0}]
    reopened, problems = load_project(path)
    assert problems == [] and reopened == s.project and reopened.markers == s.project.markers
    # an older project without the field opens with no markers
    del data["markers"]
    path.write_text(json.dumps(data))
    assert load_project(path)[0].markers == ()


@pytest.mark.parametrize("markers, field", [
    ("x", "'markers'"),
    ([5], "'markers[0]'"),
    ([{"name": "a"}], "'markers[0].start_s'"),
    ([{"name": "a", "start_s": -1}], "'markers[0].start_s'"),
    ([{"name": "a", "start_s": 2, "end_s": 1}], "'markers[0]'"),
    ([{"name": 3, "start_s": 2}], "'markers[0].name'"),
])
def test_damaged_markers_say_which_field_and_what_to_do(session, tmp_path, markers, field):
    path = session.save(tmp_path / "ep.roomtone")
    data = json.loads(path.read_text())
    data["markers"] = markers
    path.write_text(json.dumps(data))
    with pytest.raises(InputError) as exc:
        load_project(path)
    assert field in str(exc.value) and "backup or the autosave" in str(exc.value)


@pytest.mark.slow
def test_markers_are_recovered_after_a_crash(tmp_path):
    folder = tmp_path / "state"
    wav = write_test_wav(tmp_path / "ep.wav", seconds=4.0)
    code = textwrap.dedent(f"""
        import os
        from app.session import Autosave, Session
        s = Session()
        s.open_source({str(wav)!r})
        s.add_marker(1.5, name="Cut here")
        s.add_marker(0.5, 1.25)
        assert Autosave({str(folder)!r}).save_if_dirty(s) is not None
        os._exit(3)
    """)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True)
    assert proc.returncode == 3, proc.stderr
    me = Autosave(folder)
    candidate = me.recovery_candidate()
    assert candidate is not None
    s = Session()
    assert s.recover(candidate) == []
    assert s.project.markers == (Marker(0.5, "Region 1", 1.25), Marker(1.5, "Cut here"))
    me.discard()
    me.mark_clean_exit()


def test_export_csv_and_audacity_labels(session, tmp_path):
    s = session
    s.add_marker(1.5, name="Intro, take 2")
    s.add_marker(0.25, 1.125, name="Ad")
    text = markers_csv(s.project.markers)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [["name", "start_s", "end_s"], ["Ad", "0.250000", "1.125000"],
                    ["Intro, take 2", "1.500000", "1.500000"]]
    assert audacity_labels(s.project.markers) == "0.250000\t1.125000\tAd\n1.500000\t1.500000\tIntro, take 2\n"
    assert s.export_markers(tmp_path / "m.csv").read_text() == text
    assert (tmp_path / "m.txt").exists() is False
    export_markers(s.project.markers, tmp_path / "m.txt")
    assert (tmp_path / "m.txt").read_text().startswith("0.250000\t1.125000\tAd\n")
    with pytest.raises(ParameterError, match=r"\.csv or as an Audacity label file"):
        s.export_markers(tmp_path / "m.json")
    assert sorted(p.name for p in tmp_path.glob("m.*")) == ["m.csv", "m.txt"]  # no temporary left over
