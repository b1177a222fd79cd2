"""Rough edges seen on screen (issue 19, item 16), each checked the way a user would notice it.

Offscreen: what is measured is the geometry Qt lays out and the text it is asked to draw, so a
clipped message, a glyph the font lacks or an overlapping hint shows up without a screen.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QMessageBox

pytestmark = pytest.mark.gui

from tests.app.qt.helpers import tone_file, wait_for_jobs  # noqa: E402


def _message_room(window) -> int:
    """Pixels QStatusBar gives its temporary message: from 6 px to the first visible permanent widget."""
    from PySide6.QtWidgets import QSizeGrip, QWidget

    sb = window.statusBar()
    perm = [w for w in sb.findChildren(QWidget, options=Qt.FindChildOption.FindDirectChildrenOnly)
            if w.isVisible() and not isinstance(w, QSizeGrip)]
    right = min([w.geometry().left() for w in perm] + [sb.width() - 12])
    return right - 6


# -- the status bar --------------------------------------------------------------------------------
def test_status_bar_texts_use_only_glyphs_the_font_has(make_window, qtbot, tmp_path):
    w = make_window()
    assert w.open_path(tone_file(tmp_path / "a.wav"))
    wait_for_jobs(w, qtbot)
    w.before_view.vb.sigHover.emit(0.5, 1500.0)
    w.waveform.vb.sigHover.emit(0.75, 0.0)
    qtbot.wait(20)
    for label in (w.position_label, w.selection_label, w.levels_label, w.format_label, w.output_label):
        fm = QFontMetrics(label.font())
        missing = [c for c in label.text() if not fm.inFontUcs4(ord(c))]
        assert not missing, f"{label.text()!r}: no glyph for {missing}"
    assert "0:00.750" in w.position_label.text()


@pytest.mark.slow
@pytest.mark.parametrize("width", [1280, 1100])
def test_status_messages_and_the_job_label_are_not_truncated(app_theme, make_window, qtbot, tmp_path, width):
    import threading

    w = make_window()
    w.resize(width, 760)
    assert w.open_path(tone_file(tmp_path / "demo_episode.wav"))
    wait_for_jobs(w, qtbot)
    w.waveform.vb.sigSelect.emit(0.1, 0.9, None, None, True)
    release = threading.Event()
    job = w.jobs.submit("Applying the chain", lambda progress, cancelled: release.wait(20), lambda job: None)
    try:
        for text in ("Opened demo_episode.wav", "Applied in 0.6 s · 66 spectral holes found"):
            w.statusBar().showMessage(text, 10000)
            qtbot.wait(250)  # the jobs view refreshes from its timer; the layout settles
            fm = QFontMetrics(w.statusBar().font())
            assert _message_room(w) >= fm.horizontalAdvance(text), (text, _message_room(w))
            label = w.jobs_view.label
            assert w.jobs_view.isVisible()
            assert label.width() >= label.sizeHint().width(), (label.text(), label.width())
    finally:
        release.set()
        job.cancel()
        wait_for_jobs(w, qtbot)
    w.statusBar().clearMessage()
    qtbot.wait(50)
    assert w.format_label.isVisible() and w.levels_label.isVisible()  # back once the message is gone


# -- export dialog ---------------------------------------------------------------------------------
def test_export_dialog_hint_is_not_clipped_behind_the_buttons(qtbot, tmp_path):
    from PySide6.QtWidgets import QDialogButtonBox, QLabel

    from app.qt.export_dialog import ExportDialog

    dlg = ExportDialog(tmp_path / "out.wav", "wav24")
    qtbot.addWidget(dlg)
    dlg.show()
    qtbot.wait(50)
    note = dlg.findChild(QLabel, "hint")
    buttons = dlg.findChild(QDialogButtonBox)
    assert note.height() >= note.heightForWidth(note.width())
    top_of_buttons = buttons.mapTo(dlg, buttons.rect().topLeft()).y()
    bottom_of_note = note.mapTo(dlg, note.rect().bottomLeft()).y()
    assert bottom_of_note < top_of_buttons


# -- prosody panel docked --------------------------------------------------------------------------
@pytest.fixture
def app_theme(qapp):
    """The workstation's own theme (style, palette, font, style sheet) as ``roomtone`` applies it;
    put back afterwards."""
    import pyqtgraph as pg

    from app.qt import theme

    saved = (qapp.style().name(), qapp.palette(), qapp.font(), qapp.styleSheet(),
             pg.getConfigOption("background"), pg.getConfigOption("foreground"))
    theme.apply_theme(qapp)
    yield
    style, palette, font, sheet, bg, fg = saved
    qapp.setStyleSheet(sheet)
    qapp.setStyle(style)
    qapp.setPalette(palette)
    qapp.setFont(font)
    pg.setConfigOptions(background=bg, foreground=fg)


@pytest.mark.slow
def test_docked_prosody_panel_shows_rows_and_readable_plots(app_theme, make_window, qtbot):
    w = make_window()
    w.resize(1280, 760)
    w.prosody_action.trigger()
    qtbot.wait(100)
    p = w.prosody_panel
    assert w.prosody_dock.isVisible() and not w.prosody_dock.isFloating()
    assert w.height() <= 800 and w.width() <= 1280, "showing the dock grew the window past a 1280x800 screen"
    table = p.clip_table
    row_h = table.verticalHeader().defaultSectionSize()
    assert table.viewport().height() >= 3 * row_h, (table.viewport().height(), row_h)
    # each clip plot tall enough that its left-axis labels (3+ ticks) do not overlap
    for plot in (p.spec_plot, p.int_plot, p.wave_plot):
        h = plot.vb.height()
        assert h >= 3 * QFontMetrics(p.font()).height(), (plot, h)


# -- hear mode and a new file -----------------------------------------------------------------------
def test_hear_mode_starts_as_processed_on_the_next_file(make_window, qtbot, tmp_path):
    w = make_window()
    assert w.open_path(tone_file(tmp_path / "a.wav"))
    wait_for_jobs(w, qtbot)
    w.set_listen("removed")
    qtbot.wait(50)
    assert w.monitor.listen == "removed" and w.transport.listen_buttons["removed"].isChecked()
    assert w.open_path(tone_file(tmp_path / "b.wav", seed=1))
    wait_for_jobs(w, qtbot)
    assert w.monitor.listen == "processed"
    assert w.transport.listen_buttons["processed"].isChecked()


# -- the demo's modified state and quitting ---------------------------------------------------------
def test_demo_title_and_quit_agree_on_unsaved_changes(make_window, qtbot, monkeypatch):
    from app.qt.main_window import DEMO

    if not DEMO.exists():
        pytest.skip("the demo episode is not built")
    w = make_window()
    assert w.open_demo()
    wait_for_jobs(w, qtbot)
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a) or QMessageBox.StandardButton.Cancel)
    w.ask_before_closing = True
    assert ("*" in w.windowTitle()) == w.session.dirty
    # an edit: marked modified, and quitting asks
    w.session.set_chain_field("mix", 0.5)
    assert "*" in w.windowTitle()
    w.close()
    assert asked, "Ctrl+Q quit a modified project without asking"
    assert w.isVisible()
    w.ask_before_closing = False


# -- the empty view's time axis ----------------------------------------------------------------------
def test_empty_view_time_axis_has_no_negative_times(make_window, qtbot):
    w = make_window()
    qtbot.wait(50)
    (x0, x1), _ = w.waveform.vb.viewRange()
    assert x0 >= 0.0 and x1 > x0
    axis = w.waveform.getPlotItem().getAxis("bottom")
    strings = [s for _spacing, values in axis.tickValues(x0, x1, 800) for s in axis.tickStrings(values, 1, _spacing)]
    assert strings and not any(s.startswith("-") for s in strings), strings


# -- chain setting labels and descriptions -----------------------------------------------------------
def _all_kinds():
    import app.qt.main_window  # noqa: F401 - registers the model stages too
    from dsp.chain import registry

    # the product's kinds only: other tests register stand-in stages in the same registry
    return {n: k for n, k in registry().items() if k.settings_cls.__module__.startswith(("dsp.", "models."))}


def test_every_chain_setting_has_a_written_label_and_unit():
    from app.qt.setting_labels import SETTING_LABELS

    for name, kind in _all_kinds().items():
        for f in dataclasses.fields(kind.settings_cls):
            assert f.name in SETTING_LABELS, f"{name}.{f.name} has no human-written label"


def test_chain_panel_shows_the_written_labels_and_units(make_window, qtbot):
    from PySide6.QtWidgets import QLabel

    from app.qt.chain_panel import ValueSlider
    from app.qt.setting_labels import SETTING_LABELS

    w = make_window()
    s = w.session
    seen = set()
    for kind in _all_kinds():
        s.add_stage(kind)
        w.chain_panel.stage_list.setCurrentRow(len(s.project.chain.stages) - 1)
        qtbot.wait(5)
        form = w.chain_panel.form
        labels = {}
        for r in range(form.rowCount()):
            lab = form.itemAt(r, form.ItemRole.LabelRole)
            fld = form.itemAt(r, form.ItemRole.FieldRole)
            if lab is not None and isinstance(lab.widget(), QLabel):
                labels[lab.widget().text()] = fld.widget()
        for name, widget in w.chain_panel._field_widgets.items():
            if name == "__mix__":
                continue
            label, unit = SETTING_LABELS[name]
            assert label in labels, (kind, name, sorted(labels))
            if isinstance(widget, ValueSlider):
                assert widget.spin.suffix() == unit, (name, widget.spin.suffix())
            seen.add(label)
        desc = w.chain_panel.stage_description.text()
        assert not re.search(r"\b[a-z]+_[a-z_]+\b", desc), f"{kind}: internal key in {desc!r}"
    for bad in ("Tolerance percent", "Snr smoothing", "Keep snr"):
        assert bad not in seen


# -- the room-tone plot's frequency axis --------------------------------------------------------------
def test_room_tone_frequency_axis_labels_are_all_in_hz(qtbot):
    from app.qt.roomtone_panel import RoomtonePanel

    panel = RoomtonePanel()
    qtbot.addWidget(panel)
    axis = panel.plot.getPlotItem().getAxis("bottom")
    lo, hi = np.log10(20.0), np.log10(24000.0)
    strings = []
    for spacing, values in axis.tickValues(lo, hi, 400):
        strings += axis.tickStrings(values, 1, spacing)
    strings = [s for s in strings if s]
    assert strings
    for s in strings:
        assert re.fullmatch(r"\d+(\.\d+)? k?Hz", s), strings


# -- batch report -----------------------------------------------------------------------------------
def test_open_report_without_a_browser_says_where_the_report_is(qtbot, tmp_path, monkeypatch):
    from types import SimpleNamespace

    from app.qt.batch_dialog import BatchDialog

    report = tmp_path / "out" / "report" / "index.html"
    report.parent.mkdir(parents=True)
    report.write_text("<html></html>")
    dlg = BatchDialog(tmp_path, tmp_path / "out")
    qtbot.addWidget(dlg)
    dlg.runner = SimpleNamespace(report_path=report,
                                 snapshot=lambda: SimpleNamespace(files=[], message="", fraction=1.0))
    dlg._poll()  # the run has finished: the report's path is shown
    assert str(report) in dlg.report_label.text() and dlg.report_label.isVisibleTo(dlg)
    monkeypatch.setattr("app.qt.batch_dialog.QDesktopServices.openUrl", lambda url: False)
    dlg.report_button.click()
    assert str(report) in dlg.status_label.text() and "browser" in dlg.status_label.text()


def test_room_tone_panel_says_when_the_room_tone_was_estimated_without_a_pause(qtbot):
    from app.qt.roomtone_panel import RoomtonePanel
    from dsp.roomtone import estimate_noise_floor

    panel = RoomtonePanel()
    qtbot.addWidget(panel)
    x = (np.random.default_rng(0).standard_normal(16000) * 0.01).astype(np.float32)
    profile = estimate_noise_floor(x, 16000, reason="no pause to learn the room tone from")
    panel.set_state(profile=profile, has_source=True, has_selection=False)
    assert panel.method_label.text() == "noise floor over time (no pause to learn from)"
    assert "minimum statistics" in panel.warnings_label.text()


def test_output_group_switches_the_speech_detector_and_adaptive_strength(make_window, qtbot):
    w = make_window()
    s = w.session
    s.load_preset("podcast")
    panel = w.chain_panel
    assert panel.speech_check.isChecked() and not panel.strength_check.isChecked()
    panel.speech_check.click()
    assert s.project.chain.speech.detector == "none" and not panel.speech_check.isChecked()
    panel.strength_check.click()
    assert s.project.chain.strength.adaptive and panel.strength_check.isChecked()
    s.undo()
    s.undo()
    assert s.project.chain.speech.detector == "vad" and not s.project.chain.strength.adaptive
    assert panel.speech_check.isChecked()


def test_session_checks_group_fields_like_set(make_window):
    from dsp.errors import ParameterError

    s = make_window().session
    with pytest.raises(ParameterError, match="speech.detector"):
        s.set_chain_field("speech.detector", "magic")
    with pytest.raises(ParameterError, match="strength"):
        s.set_chain_field("strength.speech_fraction", 0)


@pytest.mark.slow
@pytest.mark.parametrize("width", [1280, 1100])
def test_the_output_groups_check_boxes_are_not_clipped(app_theme, make_window, qtbot, tmp_path, width):
    """The chain panel's Output group on a laptop screen: every check box shows its whole text
    (one was cut to 'voice activity mode' once the Loudness view narrowed the panel)."""
    from PySide6.QtWidgets import QCheckBox

    w = make_window()
    w.resize(width, 760)
    w.show()
    assert w.open_path(tone_file(tmp_path / "a.wav"))
    wait_for_jobs(w, qtbot)
    dock = w.side_tabs.parentWidget()  # the side panel's dock, squeezed to its minimum width
    w.resizeDocks([dock], [0], Qt.Orientation.Horizontal)
    qtbot.wait(100)
    assert w.side_tabs.width() <= w.side_tabs.minimumWidth() + 2
    panel = w.chain_panel
    boxes = [panel.refill_check, panel.speech_check, panel.strength_check]
    assert all(isinstance(b, QCheckBox) for b in boxes)
    for box in boxes:
        assert box.isVisible()
        assert box.width() >= box.sizeHint().width(), (box.text(), box.width(), box.sizeHint().width())


def test_the_mains_setting_is_a_choice_box_not_a_slider(make_window, qtbot):
    """De-hum's Mains takes three values (detect, 50, 60 Hz): a choice box with words, not a
    0-24 kHz slider whose every other value pops an error naming an internal key."""
    from PySide6.QtWidgets import QComboBox

    w = make_window()
    s = w.session
    s.add_stage("dehum")
    row = len(s.project.chain.stages) - 1
    w.chain_panel.stage_list.setCurrentRow(row)
    qtbot.wait(5)
    box = w.chain_panel._field_widgets["mains_hz"]
    assert isinstance(box, QComboBox)
    assert [box.itemText(i) for i in range(box.count())] == ["Detect (50 or 60 Hz)", "50 Hz", "60 Hz"]
    assert box.currentText() == "Detect (50 or 60 Hz)"
    box.activated.emit(box.findData(60.0))
    assert s.project.chain.stages[row].settings.mains_hz == 60.0
    s.undo()
    qtbot.wait(5)
    assert s.project.chain.stages[row].settings.mains_hz == 0.0
    assert w.chain_panel._field_widgets["mains_hz"].currentText() == "Detect (50 or 60 Hz)"
