"""Breath control and the de-esser (issue 23) in the workstation: Add pass offers them under readable
labels and adds them undoably; every one of their settings has a written label."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.gui

from tests.app.qt.helpers import tone_file, wait_for_jobs  # noqa: E402


@pytest.fixture
def source(tmp_path):
    return tone_file(tmp_path / "episode.wav", seconds=3.0, seed=7, freq=200.0, noise=0.004)


@pytest.mark.parametrize(("label", "kind"), [("Breath control", "breath"), ("De-esser", "deess")])
def test_add_pass_adds_the_mouth_stage_undoably(make_window, qtbot, source, label, kind):
    from app.qt.setting_labels import SETTING_LABELS
    from dsp.chain import registry

    w = make_window()
    assert w.open_path(source)
    wait_for_jobs(w, qtbot)
    panel = w.chain_panel
    before = w.session.project.chain
    action = next(a for a in panel.add_menu.actions() if a.text() == label)
    action.trigger()
    stages = w.session.project.chain.stages
    assert len(stages) == len(before.stages) + 1
    kinds = [s.kind for s in stages]
    assert kind in kinds
    reg = registry()
    for name in reg[kind].settings_cls.__dataclass_fields__:
        assert name in SETTING_LABELS, f"{kind}.{name} has no written label"
    w.session.undo()
    assert w.session.project.chain == before
