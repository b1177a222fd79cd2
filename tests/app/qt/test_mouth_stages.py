"""The four mouth-noise stages of issue 23 in the workstation: Add pass offers each under a readable
label with a written description and adds it undoably; every one of their settings has a written
label (with its unit), not the raw field name."""

from __future__ import annotations

import dataclasses

import pytest

pytestmark = pytest.mark.gui

from tests.app.qt.helpers import tone_file, wait_for_jobs  # noqa: E402

STAGES = [("Mouth de-click", "declick"), ("De-plosive", "deplosive"), ("De-esser", "deess"),
          ("Breath control", "breath")]


@pytest.fixture
def source(tmp_path):
    return tone_file(tmp_path / "episode.wav", seconds=2.0, seed=3, freq=180.0, noise=0.004)


@pytest.mark.parametrize(("label", "kind"), STAGES)
def test_add_pass_offers_the_mouth_stage_and_adds_it_undoably(make_window, qtbot, source, label, kind):
    from app.qt.setting_labels import SETTING_LABELS
    from dsp.chain import stage_kind

    w = make_window()
    assert w.open_path(source)
    wait_for_jobs(w, qtbot)
    before = w.session.project.chain
    action = next(a for a in w.chain_panel.add_menu.actions() if a.text() == label)
    assert action.toolTip()  # a written description, not empty
    action.trigger()
    stages = w.session.project.chain.stages
    assert len(stages) == len(before.stages) + 1
    added = [s for s in stages if s.kind == kind]
    assert len(added) == 1 and not added[0].bypass
    for f in dataclasses.fields(stage_kind(kind).settings_cls):
        assert f.name in SETTING_LABELS, f"{kind}.{f.name} has no written label"
        text, unit = SETTING_LABELS[f.name]
        assert text != f.name and (unit or not f.name.endswith(("_db", "_ms", "_hz")))
    w.session.undo()
    assert w.session.project.chain == before
