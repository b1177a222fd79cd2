"""The workstation window driven for real (offscreen): open, learn, edit, apply, undo, save, export.

Each test uses a 3-second 48 kHz file: one second of room tone, then a voiced, harmonic
"speech" over the same room tone. Jobs (pyramid, tiles, Apply, export) run in the background
exactly as in use; the tests wait for them through ``MainWindow.wait_for_jobs``.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import Qt

pytestmark = pytest.mark.gui

from app.presets import preset_to_toml  # noqa: E402
from app.qt.chain_panel import ValueSlider  # noqa: E402
from app.session import Selection  # noqa: E402
from app.session.project import profiles_equal  # noqa: E402
from dsp.io import write_audio  # noqa: E402

SR = 48000


def _voice_over_room_tone(seconds: float = 3.0, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    # room tone: broadband noise with a gentle low-frequency tilt, about -50 dBFS
    noise = rng.standard_normal(n)
    noise = np.convolve(noise, np.ones(4) / 4, mode="same") * 0.006
    voice = np.zeros(n)
    on = t >= 1.0
    f0 = 140 + 20 * np.sin(2 * np.pi * 1.5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    for k in range(1, 25):
        voice += np.sin(k * phase) / k
    envelope = np.clip(np.sin(2 * np.pi * 2.0 * (t - 1.0)), 0, None) ** 0.5 * on
    x = 0.15 * voice * envelope + noise
    return x.astype(np.float32)[None]


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "episode.wav"
    write_audio(path, _voice_over_room_tone(), SR, "wav24")
    return path


def _wait(window, qtbot) -> None:
    assert window.wait_for_jobs(120), "background jobs did not finish"
    qtbot.wait(20)
    assert window.wait_for_jobs(120)


def _open_and_learn(window, qtbot, source):
    assert window.open_path(source)
    _wait(window, qtbot)
    # select the room-tone second by dragging on the waveform (the view's selection signal)
    window.waveform.vb.sigSelect.emit(0.1, 0.9, None, None, False)  # during the drag: preview only
    assert window.session.project.selection is None
    window.waveform.vb.sigSelect.emit(0.1, 0.9, None, None, True)
    assert window.session.project.selection == Selection(0.1, 0.9)
    assert window.roomtone_panel.learn_button.isEnabled()
    qtbot.mouseClick(window.roomtone_panel.learn_button, Qt.MouseButton.LeftButton)
    _wait(window, qtbot)
    assert window.session.project.profile is not None, window.errors
    assert window.session.history.undo_label == "Learn room tone 0.10-0.90 s"


def _gate_row(window) -> int:
    kinds = [s.kind for s in window.session.project.chain.stages]
    assert "gate" in kinds, f"expected the default chain to hold a gate, got {kinds}"
    return kinds.index("gate")


def _set_gate_reduction(window, value: float) -> None:
    window.chain_panel.stage_list.setCurrentRow(_gate_row(window))
    w = window.chain_panel._field_widgets["max_reduction_db"]
    assert isinstance(w, ValueSlider)
    assert "dB" in w.spin.suffix() and w.toolTip()
    w.spin.setValue(value)  # typing a value: one undo step


def _apply(window, qtbot) -> np.ndarray:
    qtbot.mouseClick(window.apply_button, Qt.MouseButton.LeftButton)
    _wait(window, qtbot)
    assert not window.errors, window.errors
    assert window.render_is_current()
    img = window.after_view.current_image()
    assert img is not None
    return img.copy()


def test_open_learn_edit_apply_undo_redo(make_window, qtbot, source):
    w = make_window()
    _open_and_learn(w, qtbot, source)
    assert w._pyramid is not None and w._pyramid.complete
    before = w.before_view.current_image()
    assert before is not None and before.shape[1] == 1025  # 2048-point FFT at 48 kHz
    assert w.roomtone_panel.profile_curve.getData()[0] is not None

    after_6 = _apply(w, qtbot)
    assert after_6.shape == before.shape
    # the room tone (first second) is quieter after the chain
    room = slice(0, after_6.shape[0] // 4)
    assert after_6[room].mean() < before[room].mean() - 2.0

    _set_gate_reduction(w, 12.0)
    gate = _gate_row(w)
    assert w.session.project.chain.stages[gate].settings.max_reduction_db == 12.0
    label = w.session.history.undo_label
    assert label.startswith("Change ") and "max reduction" in label
    assert w.undo_action.text() == f"&Undo {label}"
    assert "out of date" in w.after_view.title.text()

    after_12 = _apply(w, qtbot)
    assert not np.array_equal(after_12, after_6), "changing a pass setting must change the after-spectrogram"
    assert after_12[room].mean() < after_6[room].mean()

    qtbot.keyClick(w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo
    assert w.session.project.chain.stages[gate].settings.max_reduction_db == 6.0
    assert w.chain_panel._field_widgets["max_reduction_db"].value() == 6.0  # the widget echoes the model
    assert "out of date" in w.after_view.title.text()
    qtbot.keyClick(w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert w.session.project.chain.stages[gate].settings.max_reduction_db == 12.0
    assert "out of date" not in w.after_view.title.text()


def test_slider_drag_is_one_undo_step(make_window, qtbot, source):
    w = make_window()
    assert w.open_path(source)
    _wait(w, qtbot)
    w.chain_panel.stage_list.setCurrentRow(_gate_row(w))
    slider = w.chain_panel._field_widgets["max_reduction_db"].slider
    steps = len(w.session.history)
    slider.setSliderDown(True)
    for pos in range(100, 600, 50):
        slider.setValue(pos)
    slider.setSliderDown(False)  # emits sliderReleased
    assert len(w.session.history) == steps + 1
    final = w.session.project.chain.stages[_gate_row(w)].settings.max_reduction_db
    assert final == pytest.approx(w.chain_panel._field_widgets["max_reduction_db"].value())
    # the next drag is a new step
    slider.setSliderDown(True)
    slider.setValue(200)
    slider.setSliderDown(False)
    assert len(w.session.history) == steps + 2
    w.session_undo()
    assert w.session.project.chain.stages[_gate_row(w)].settings.max_reduction_db == pytest.approx(final)


def test_chain_structure_edits_are_undoable(make_window, qtbot, source):
    w = make_window()
    assert w.open_path(source)
    _wait(w, qtbot)
    panel = w.chain_panel
    kinds0 = [s.kind for s in w.session.project.chain.stages]
    n = len(kinds0)
    panel.stage_list.setCurrentRow(0)
    panel._add("refill")
    assert [s.kind for s in w.session.project.chain.stages][1] == "refill"
    assert panel.stage_list.count() == n + 1
    assert panel.refill_check.isChecked() == any(not s.bypass for s in w.session.project.chain.stages if s.kind == "refill")
    panel.stage_list.item(0).setCheckState(Qt.CheckState.Unchecked)  # bypass the first pass
    assert w.session.project.chain.stages[0].bypass
    assert w.session.history.undo_label.startswith("Bypass ")
    panel.stage_list.setCurrentRow(1)
    qtbot.mouseClick(panel.down_button, Qt.MouseButton.LeftButton)
    assert w.session.project.chain.stages[2].kind == "refill"
    assert w.session.history.undo_label.endswith("down")
    qtbot.mouseClick(panel.remove_button, Qt.MouseButton.LeftButton)
    assert [s.kind for s in w.session.project.chain.stages][1:] == kinds0[1:]
    labels = w.session.history.labels()
    assert labels[-4].startswith("Add ") and labels[-1].startswith("Remove ")
    for _ in range(4):
        w.session_undo()
    assert len(w.session.project.chain.stages) == n and not w.session.project.chain.stages[0].bypass
    assert panel.stage_list.count() == n


@pytest.mark.slow
def test_save_and_reopen_project_gives_identical_settings(make_window, qtbot, source, tmp_path, settings):
    w = make_window()
    _open_and_learn(w, qtbot, source)
    _set_gate_reduction(w, 9.5)
    w.chain_panel.mix_slider.spin.setValue(80)
    project_path = w.save_project(path=tmp_path / "show.roomtone")
    assert project_path is not None and project_path.exists()
    assert not w.session.dirty
    saved = w.session.project

    w2 = make_window()
    assert str(project_path) in w2.recent_files()  # QSettings carried the recent file over
    assert w2.open_path(project_path)
    _wait(w2, qtbot)
    p = w2.session.project
    assert p.chain == saved.chain
    assert p.chain.mix == pytest.approx(0.8)
    assert profiles_equal(p.profile, saved.profile)
    assert p.source == saved.source
    assert w2.chain_panel.mix_slider.value() == pytest.approx(80)
    assert w2._pyramid is not None and w2._pyramid.complete


def test_export_is_bit_identical_to_cli_render(make_window, qtbot, source, tmp_path):
    from app.cli import main as cli_main

    w = make_window()
    _open_and_learn(w, qtbot, source)
    _set_gate_reduction(w, 10.0)
    out_gui = tmp_path / "gui.wav"
    job = w.export_to(out_gui, "wav24")
    assert job is not None
    _wait(w, qtbot)
    assert not w.errors, w.errors
    assert out_gui.exists()

    # the same project through the command line: its chain as a preset file, its profile as JSON
    preset = tmp_path / "project_chain.toml"
    preset.write_text(preset_to_toml(w.session.project.chain), encoding="utf-8")
    profile = tmp_path / "room.json"
    w.session.save_profile_file(profile)
    out_cli = tmp_path / "cli.wav"
    code = cli_main(["clean", str(source), "-o", str(out_cli), "--preset", str(preset), "--profile", str(profile),
                     "--format", "wav24", "--no-record", "--quiet"])
    assert code == 0
    a, _ = sf.read(out_gui, dtype="int32")
    b, _ = sf.read(out_cli, dtype="int32")
    np.testing.assert_array_equal(a, b)
    assert out_gui.read_bytes() == out_cli.read_bytes()
    x, _ = sf.read(source, dtype="int32")
    assert not np.array_equal(a, x), "the export must be processed, not a copy"


def test_time_frequency_selection_difference_and_status(make_window, qtbot, source):
    w = make_window()
    _open_and_learn(w, qtbot, source)
    w.rect_action.setChecked(True)
    w.before_view.vb.sigSelect.emit(1.2, 1.8, 300.0, 3000.0, True)
    sel = w.session.project.selection
    assert sel == Selection(1.2, 1.8, 300.0, 3000.0)
    assert w.before_view.rect_selection.isVisible() and w.after_view.rect_selection.isVisible()
    assert "300–3000 Hz" in w.selection_label.text()
    assert "peak" in w.levels_label.text() and "dBFS" in w.levels_label.text()
    assert "48 kHz" in w.format_label.text()
    _apply(w, qtbot)
    qtbot.keyClick(w, Qt.Key.Key_D)  # removed-energy view
    _wait(w, qtbot)
    diff = w.after_view.current_image()
    assert diff is not None and diff.min() >= 0.0 and diff.max() > 3.0
    assert "REMOVED" in w.after_view.title.text()
    # a click clears the selection and places the cursor
    w.waveform.vb.sigClick.emit(2.0)
    assert w.session.project.selection is None
    assert w.monitor.position_s == pytest.approx(2.0)


def test_zoom_keys_and_missing_file_message(make_window, qtbot, source, tmp_path):
    w = make_window()
    assert w.open_path(source)
    _wait(w, qtbot)
    (x0, x1), _ = w.waveform.vb.viewRange()
    qtbot.keyClick(w, Qt.Key.Key_Equal, Qt.KeyboardModifier.ControlModifier)
    (y0, y1), _ = w.waveform.vb.viewRange()
    assert (y1 - y0) == pytest.approx((x1 - x0) / 2, rel=0.05)
    qtbot.keyClick(w, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    (z0, z1), _ = w.waveform.vb.viewRange()
    assert z1 - z0 == pytest.approx(3.0, rel=0.02)
    assert not w.open_path(tmp_path / "nope.wav")
    assert w.errors and "no such file" in str(w.errors[-1])


def test_self_test_entry_point(qtbot):
    from app.qt.app import run
    from app.qt.main_window import DEMO

    if not DEMO.exists():
        pytest.skip("the demo episode has not been generated")
    assert run(["--self-test"]) == 0
