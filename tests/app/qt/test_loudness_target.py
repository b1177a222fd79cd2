"""The loudness target in the workstation: the chain panel's Output group, the project file, the
export dialog, and an export that reaches the target by an independent meter."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.gui

from tests.app.qt.helpers import tone_file, wait_for_jobs  # noqa: E402


@pytest.fixture
def source(tmp_path):
    return tone_file(tmp_path / "episode.wav", seconds=3.0, seed=7, freq=200.0, noise=0.004)


def test_output_group_target_is_an_undoable_project_field_used_by_the_export(make_window, qtbot, source, tmp_path,
                                                                            monkeypatch):
    pyloudnorm_lufs = pytest.importorskip("tests.app.batch.independent").pyloudnorm_lufs
    pytest.importorskip("pyloudnorm")
    from app.pipeline import record_path
    from app.qt import main_window
    from app.qt.export_dialog import ExportDialog

    w = make_window()
    assert w.open_path(source)
    wait_for_jobs(w, qtbot)
    combo = w.chain_panel.loudness_combo
    names = [combo.itemData(i) for i in range(combo.count())]
    assert names == ["off", "podcast", "podcast-stereo", "podcast-mono", "ebu-r128", "atsc"]
    assert "-19 LUFS" in combo.itemText(names.index("podcast-mono"))
    assert combo.currentData() == "off" and w.session.project.loudness == "off"

    combo.activated.emit(names.index("podcast-mono"))  # the user picks "Podcast, mono"
    assert w.session.project.loudness == "podcast-mono"
    assert w.session.dirty
    w.session.undo()
    assert w.session.project.loudness == "off" and combo.currentData() == "off"  # undone, and the combo follows
    w.session.redo()
    assert combo.currentData() == "podcast-mono"

    chosen = {}

    class Accept(ExportDialog):
        def exec(self):
            chosen["default"] = self.loudness()
            self.path_edit.setText(str(tmp_path / "loud.wav"))
            return True

    monkeypatch.setattr(main_window, "ExportDialog", Accept)
    w.export_dialog()
    wait_for_jobs(w, qtbot)
    assert not w.errors, w.errors
    assert chosen["default"] == "podcast-mono"  # the dialog defaults to the project's target
    out = tmp_path / "loud.wav"
    loud = json.loads(record_path(out).read_text())["settings"]["loudness"]
    assert loud["target"] == "podcast-mono"
    assert abs(pyloudnorm_lufs(out) - (-19.0)) <= 0.5


def test_export_dialog_offers_the_targets_and_none_for_removed(qtbot, tmp_path):
    from app.qt.export_dialog import ExportDialog

    dlg = ExportDialog(tmp_path / "x.wav", "wav24", loudness="ebu-r128")
    qtbot.addWidget(dlg)
    assert dlg.loudness() == "ebu-r128"
    dlg.loudness_combo.setCurrentIndex(dlg.loudness_combo.findData("atsc"))
    assert dlg.loudness() == "atsc"
    dlg.content_combo.setCurrentIndex(dlg.content_combo.findData("removed"))
    assert dlg.loudness() == "off" and not dlg.loudness_combo.isEnabled()  # never normalise the removed noise
    assert ExportDialog(tmp_path / "y.wav").loudness() == "off"


def test_the_target_is_saved_in_the_project_file(tmp_path, source):
    from app.session import Session, SourceRef
    from app.session.project import load_project
    from dsp.errors import InputError, ParameterError

    s = Session()
    s.open_source(SourceRef.from_path(source))
    s.set_loudness("atsc")
    assert s.history.undo_label == "Loudness target atsc"
    path = tmp_path / "p.roomtone"
    s.save(path)
    project, problems = load_project(path)
    assert project.loudness == "atsc" and not problems
    with pytest.raises(ParameterError, match="unknown loudness target 'loud'"):
        s.set_loudness("loud")
    data = json.loads(path.read_text())
    data["loudness"] = "loud"
    path.write_text(json.dumps(data))
    with pytest.raises(InputError, match="unknown loudness target 'loud'"):
        load_project(path)
    data.pop("loudness")  # a project saved before the field existed
    path.write_text(json.dumps(data))
    assert load_project(path)[0].loudness == "off"


def test_add_pass_offers_the_leveler_and_adds_it_undoably(make_window, qtbot, source):
    w = make_window()
    assert w.open_path(source)
    wait_for_jobs(w, qtbot)
    panel = w.chain_panel
    before = w.session.project.chain
    action = next(a for a in panel.add_menu.actions() if a.text() == "Speaker leveler")
    action.trigger()
    stages = w.session.project.chain.stages
    assert len(stages) == len(before.stages) + 1 and any(s.kind == "leveler" for s in stages)
    w.session.undo()
    assert w.session.project.chain == before
