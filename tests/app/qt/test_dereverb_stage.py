"""The de-reverb stage in the workstation (issue 22): Add pass offers it, with its amount slider."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.gui

from tests.app.qt.helpers import tone_file, wait_for_jobs  # noqa: E402


@pytest.fixture
def source(tmp_path):
    return tone_file(tmp_path / "episode.wav", seconds=3.0, seed=7, freq=200.0, noise=0.004)


def test_add_pass_offers_dereverb_with_its_amount_slider(make_window, qtbot, source):
    w = make_window()
    assert w.open_path(source)
    wait_for_jobs(w, qtbot)
    panel = w.chain_panel
    before = w.session.project.chain
    action = next(a for a in panel.add_menu.actions() if a.text() == "De-reverb")
    action.trigger()
    stages = w.session.project.chain.stages
    assert len(stages) == len(before.stages) + 1
    row = next(i for i, s in enumerate(stages) if s.kind == "dereverb")
    # placed before the noise passes (placement 20)
    passes = [i for i, s in enumerate(stages) if s.kind in ("gate", "mmse")]
    assert not passes or row < min(passes)
    panel.stage_list.setCurrentRow(row)
    slider = panel._field_widgets["amount_percent"]
    assert (slider.lo, slider.hi) == (0.0, 100.0)
    assert "%" in panel._field_widgets["amount_percent"].spin.suffix()
    slider.edited.emit(40.0, True)  # the user sets the amount to 40 %
    assert next(s for s in w.session.project.chain.stages if s.kind == "dereverb").settings.amount_percent == 40.0
    w.session.undo()
    w.session.undo()
    assert w.session.project.chain == before
