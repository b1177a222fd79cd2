"""Detected events (clicks, breaths, sibilants, pops) drawn on the waveform after Apply."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pytest
from PySide6.QtCore import Qt

pytestmark = pytest.mark.gui

from app.qt.waveform_view import WaveformView  # noqa: E402
from dsp.chain import StageKind, register, unregister  # noqa: E402
from dsp.engine import Gain  # noqa: E402
from dsp.events import Event  # noqa: E402
from dsp.io import write_audio  # noqa: E402

SR = 48000


def test_set_events_draws_a_lane_per_kind_and_clears(qtbot):
    view = WaveformView()
    qtbot.addWidget(view)
    view.set_events({"declick": [[0.5, 0.501], [1.0, 1.002], [2.0, 2.003]], "breath": np.array([[1.2, 1.6]]),
                     "deess": np.zeros((0, 2))})
    assert view.event_counts() == {"declick": 3, "breath": 1}  # an empty kind draws nothing
    lanes = {round(float(i.getData()[1][0]), 3) for i in view._event_items if hasattr(i, "getData")}
    assert len(lanes) == 2  # one lane per kind
    labels = [lab.text for _, lab in view._event_legend.items]
    assert "3 clicks" in labels and "1 breath" in labels
    view.set_events_visible(False)
    assert not any(i.isVisible() for i in view._event_items) and not view._event_legend.isVisible()
    view.set_events(None)
    assert view.event_counts() == {} and view._event_items == [] and view._event_legend is None


@dataclass(frozen=True)
class _TapSettings:
    gain_db: float = 0.0


def _analyse(source, settings, context):
    events = [Event(1.25, 1.26, "tap", 10.0), Event(2.5, 2.9, "tap", 10.0)]
    return dataclasses.replace(context, extras={**context.extras, "t_taps_events": events})


@pytest.fixture
def tap_kind():
    register(StageKind("t_taps", "Tap detector", _TapSettings, "time", lambda s, c: Gain(s.gain_db),
                       role="utility", analyse=_analyse))
    yield "t_taps"
    unregister("t_taps")


def test_apply_draws_what_the_detectors_found(make_window, qtbot, tmp_path, tap_kind):
    path = tmp_path / "taps.wav"
    rng = np.random.default_rng(0)
    write_audio(path, (0.05 * rng.standard_normal((1, 3 * SR))).astype(np.float32), SR, "wav24")
    w = make_window()
    assert w.open_path(path)
    assert w.wait_for_jobs(120)
    w.session.add_stage(tap_kind)
    w.apply_chain()
    assert w.wait_for_jobs(120)
    qtbot.wait(20)
    assert w.wait_for_jobs(120)
    assert not w.errors, w.errors
    assert w.waveform.event_counts() == {"t_taps": 2}
    assert all(i.isVisible() for i in w.waveform._event_items)
    qtbot.keyClick(w, Qt.Key.Key_E)  # View > Show Detected Events off
    assert not w.events_action.isChecked()
    assert not any(i.isVisible() for i in w.waveform._event_items)
    # another source clears them
    other = tmp_path / "other.wav"
    write_audio(other, (0.02 * rng.standard_normal((1, 2 * SR))).astype(np.float32), SR, "wav24")
    assert w.open_path(other)
    assert w.wait_for_jobs(120)
    assert w.waveform.event_counts() == {}
