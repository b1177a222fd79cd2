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


def test_room_tone_panel_shows_the_room_decay_time(make_window, qtbot, tmp_path):
    import math

    import numpy as np

    from dsp.io import write_audio

    sr = 16000
    rng = np.random.default_rng(2)
    x = np.zeros(int(12 * sr))
    pos = int(0.2 * sr)
    while pos < len(x) - sr:  # harmonic 'words' with pauses
        n = int(rng.uniform(0.15, 0.35) * sr)
        t = np.arange(n) / sr
        f0 = rng.uniform(110, 220)
        x[pos : pos + n] = 0.1 * sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 20) if f0 * k < 7000)
        pos += n + int(rng.uniform(0.25, 0.6) * sr)
    t = np.arange(int(0.6 * sr)) / sr
    h = rng.standard_normal(t.size) * np.exp(-3 * math.log(10) * t / 0.5)
    h *= math.sqrt(1.0 / np.sum(h**2))
    h[0] = 1.0
    wet = np.convolve(x, h)[: x.size]
    path = tmp_path / "room.wav"
    write_audio(path, (0.5 * wet / np.max(np.abs(wet))).astype(np.float32)[None], sr, "wav24")
    w = make_window()
    assert w.open_path(path)
    wait_for_jobs(w, qtbot)
    text = w.roomtone_panel.decay_label.text()
    assert text.startswith("RT60 "), text
    assert abs(float(text.split()[1]) - 0.5) <= 0.2, text


def test_room_tone_panel_says_when_no_decay_time_was_found(make_window, qtbot, source):
    # a steady tone over faint noise: no word ends, so no free decays to measure
    w = make_window()
    assert w.open_path(source)
    wait_for_jobs(w, qtbot)
    text = w.roomtone_panel.decay_label.text()
    assert text.startswith("not found ("), text
    assert "De-reverb passes the audio through" in text and "Room decay time" in text, text
