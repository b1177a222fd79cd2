"""The mouth-noise stages of issue 23 (de-click, de-plosive) in the workstation's Add pass menu."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.gui

from tests.app.qt.helpers import tone_file, wait_for_jobs  # noqa: E402


@pytest.fixture
def source(tmp_path):
    return tone_file(tmp_path / "episode.wav", seconds=2.0, seed=3, freq=180.0, noise=0.004)


@pytest.mark.parametrize(("label", "kind"), [("Mouth de-click", "declick"), ("De-plosive", "deplosive")])
def test_add_pass_offers_the_mouth_stage_and_adds_it_undoably(make_window, qtbot, source, label, kind):
    from app.qt.setting_labels import SETTING_LABELS
    from dsp.chain import stage_kind

    w = make_window()
    assert w.open_path(source)
    wait_for_jobs(w, qtbot)
    panel = w.chain_panel
    before = w.session.project.chain
    action = next(a for a in panel.add_menu.actions() if a.text() == label)
    assert "“" in action.toolTip() or action.toolTip()  # a written description, not empty
    action.trigger()
    stages = w.session.project.chain.stages
    assert len(stages) == len(before.stages) + 1
    added = [s for s in stages if s.kind == kind]
    assert len(added) == 1 and not added[0].bypass
    # every field reads as a written label with its unit, not as the raw field name
    import dataclasses

    for f in dataclasses.fields(stage_kind(kind).settings_cls):
        text, unit = SETTING_LABELS[f.name]
        assert text != f.name and (unit or not f.name.endswith(("_db", "_ms", "_hz")))
    w.session.undo()
    assert w.session.project.chain == before
