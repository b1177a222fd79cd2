"""Spectrogram settings in the workstation (issue 24, item 4), driven for real offscreen: the View
menu's panel and each of its controls, the shortcuts, frequency zoom (keys, Shift+wheel), the
colour legend on every view, the automatic range from the room tone, the log / mel scales with
selections and holes on the right frequencies, and the preferences that outlive the window."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

pytestmark = pytest.mark.gui

from app.qt.spectrogram_controller import load_settings  # noqa: E402
from app.session import Selection  # noqa: E402
from app.spectrogram_settings import FrequencyScale, SpectrogramSettings  # noqa: E402
from dsp.io import write_audio  # noqa: E402
from tests.app.qt.helpers import wait_for_jobs  # noqa: E402

SR = 16000


@pytest.fixture
def noisy_16k(tmp_path):
    """3 s at 16 kHz: one second of room tone, then a harmonic voice at a hot level."""
    rng = np.random.default_rng(5)
    n = 3 * SR
    t = np.arange(n) / SR
    voice = sum(np.sin(2 * np.pi * 180 * k * t) / k for k in range(1, 20)) * (t > 1.0)
    x = 0.5 * voice / np.abs(voice).max() + 0.01 * rng.standard_normal(n)
    path = tmp_path / "noisy16k.wav"
    write_audio(path, x.astype(np.float32)[None], SR, "float32")
    return path


def _opened(make_window, qtbot, path):
    w = make_window()
    assert w.open_path(path)
    wait_for_jobs(w, qtbot)
    return w


def _panel(w):
    d = w.spectrogram.open_dialog()
    assert d.isVisible() and not d.isModal()
    return d


def _choose(combo, value) -> None:
    combo.setCurrentIndex(combo.findData(value))


# -- the panel and its controls ---------------------------------------------------------------
def test_view_menu_entry_and_shortcut_open_one_non_modal_panel(make_window, qtbot, noisy_16k):
    w = _opened(make_window, qtbot, noisy_16k)
    view_menu = next(a.menu() for a in w.menuBar().actions() if a.text() == "&View")
    assert w.spectrogram_settings_action in view_menu.actions()
    assert w.spectrogram_settings_action.shortcut().toString() == "Ctrl+Alt+S"
    qtbot.keyClick(w, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier)
    d = w.spectrogram.dialog
    assert d is not None and d.isVisible() and not d.isModal()
    w.spectrogram_settings_action.trigger()
    assert w.spectrogram.dialog is d  # raised, not a second panel
    assert d.fft_combo.itemText(0) == "Automatic (512 at 16 kHz)"
    assert d.fft_combo.findData(8192) > 0 and d.fft_combo.findData(256) > 0


def test_fft_size_asks_both_views_for_new_tiles_in_the_background(make_window, qtbot, noisy_16k):
    w = _opened(make_window, qtbot, noisy_16k)
    w.apply_chain()
    wait_for_jobs(w, qtbot)
    assert w.before_view.current_image().shape[1] == 257  # 512-point FFT
    d = _panel(w)
    levels_before = w.before_view.levels()
    t0 = time.perf_counter()
    _choose(d.fft_combo, 2048)
    assert time.perf_counter() - t0 < 0.5, "changing a setting must not compute tiles on the GUI thread"
    assert w.before_view.levels() == levels_before  # same file: the range in use stays until re-measured
    wait_for_jobs(w, qtbot)
    assert w.spectrogram.settings.fft_size == 2048
    assert w.before_view.current_image().shape[1] == 1025
    assert w.after_view.current_image().shape[1] == 1025  # BEFORE and AFTER share it
    assert w.settings.value("spectrogram/fft_size") in (2048, "2048")


@pytest.mark.parametrize("kind", ["log", "mel"])
def test_frequency_scale_warps_the_tiles_and_labels_the_axis_in_hz(make_window, qtbot, noisy_16k, kind):
    w = _opened(make_window, qtbot, noisy_16k)
    _choose(_panel(w).scale_combo, kind)
    wait_for_jobs(w, qtbot)
    for v in (w.before_view, w.after_view):
        assert v.frequency_scale == FrequencyScale(kind, 8000.0)
    img = w.before_view.current_image()
    assert img.shape[1] == 768
    lo, hi = w.before_view.frequency_band()
    assert lo == pytest.approx(20.0 if kind == "log" else 0.0) and hi == pytest.approx(8000.0)
    axis = w.before_view.axis
    (major_spacing, majors), _minor = axis.tickValues(*w.before_view.vb.viewRange()[1], 240)
    labels = axis.tickStrings(majors, 1.0, major_spacing)
    assert "1k" in labels and all(lbl.rstrip("k").replace(".", "").isdigit() for lbl in labels)
    # the harmonic voice's 180 Hz fundamental is on the row of 180 Hz, not where a linear axis puts it
    u = w.before_view.frequency_scale.to_display(180.0)
    u0, u1 = w.before_view.frequency_scale.display_range
    row = int((u - u0) / (u1 - u0) * img.shape[1])
    speech = img[img.shape[0] // 2 :]
    assert speech[:, row - 2 : row + 3].mean() > speech[:, row + 25 : row + 30].mean() + 6


def test_colour_maps_apply_to_both_views_and_their_legends(make_window, qtbot, noisy_16k):
    w = _opened(make_window, qtbot, noisy_16k)
    d = _panel(w)
    _choose(d.colormap_combo, "grey")
    for v in (w.before_view, w.after_view):
        assert v.palettes["magnitude"][0] == "grey" and v.legend.cmap_name == "grey"
    _choose(d.removed_colormap_combo, "magma")
    w.set_difference_mode(True)
    assert w.after_view.legend.cmap_name == "magma" and w.before_view.legend.cmap_name == "grey"
    assert d.colormap_combo.count() == 6 and not d.colormap_combo.itemIcon(0).isNull()


def test_manual_range_spin_boxes_and_a_refused_range(make_window, qtbot, noisy_16k):
    w = _opened(make_window, qtbot, noisy_16k)
    d = _panel(w)
    assert d.auto_check.isChecked() and not d.floor_spin.isEnabled()
    d.auto_check.setChecked(False)
    assert d.floor_spin.isEnabled() and d.ceiling_spin.isEnabled()
    assert (d.floor_spin.value(), d.ceiling_spin.value()) == w.before_view.levels()
    d.floor_spin.setValue(-100.0)
    d.ceiling_spin.setValue(-10.0)
    assert w.before_view.levels() == w.after_view.levels() == (-100.0, -10.0)
    assert w.before_view.legend.levels == (-100.0, -10.0)
    d.floor_spin.setValue(-15.0)  # 5 dB under the ceiling: refused, said, not applied
    assert d.error_label.isVisible() and "at least 20 dB" in d.error_label.text()
    assert w.spectrogram.settings.floor_db == -100.0 and d.floor_spin.value() == -100.0
    d.ceiling_spin.setValue(0.0)
    assert not d.error_label.isVisible()


def test_removed_energy_range_and_its_legend(make_window, qtbot, noisy_16k):
    w = _opened(make_window, qtbot, noisy_16k)
    w.apply_chain()
    wait_for_jobs(w, qtbot)
    qtbot.keyClick(w, Qt.Key.Key_D)
    wait_for_jobs(w, qtbot)
    assert w.after_view.legend.caption == "dB removed" and w.after_view.levels() == (0.0, 24.0)
    assert w.before_view.legend.caption == "dB"
    _panel(w).removed_spin.setValue(40.0)
    assert w.after_view.levels() == (0.0, 40.0) and w.after_view.legend.levels == (0.0, 40.0)
    assert w.after_view.legend.isVisible() and w.before_view.legend.isVisible()
    assert w.after_view.legend.tick_values()[0] == 0.0 and w.after_view.legend.tick_values()[-1] == 40.0


def test_defaults_button_and_preferences_outlive_the_window(make_window, qtbot, noisy_16k, settings):
    w = _opened(make_window, qtbot, noisy_16k)
    d = _panel(w)
    _choose(d.scale_combo, "mel")
    _choose(d.colormap_combo, "viridis")
    settings.sync()
    assert load_settings(settings).scale == "mel"
    w2 = make_window()
    assert w2.spectrogram.settings.scale == "mel" and w2.spectrogram.settings.colormap == "viridis"
    assert w2.before_view.legend.cmap_name == "viridis"  # colours apply before any file is open
    assert w2.before_view.frequency_scale.kind == "linear"  # until a file is shown
    assert w2.open_path(noisy_16k)
    wait_for_jobs(w2, qtbot)
    assert w2.before_view.frequency_scale.kind == "mel"
    d.defaults_button.click()
    assert w.spectrogram.settings == SpectrogramSettings()
    assert d.scale_combo.currentData() == "linear" and w.before_view.frequency_scale.kind == "linear"


# -- the automatic range -----------------------------------------------------------------------
def test_auto_range_follows_the_room_tone(make_window, qtbot, noisy_16k):
    w = _opened(make_window, qtbot, noisy_16k)
    lo, hi = w.before_view.levels()
    assert (lo, hi) != (-110.0, -20.0) and hi <= 0.0
    assert "quietest" in w.spectrogram.describe_range()
    w.session.set_selection(Selection(0.1, 0.9))
    w.learn_from_selection()
    wait_for_jobs(w, qtbot)
    assert w.session.project.profile is not None
    lo2, hi2 = w.before_view.levels()
    assert hi2 == hi and "room tone" in w.spectrogram.describe_range()
    # 0.01 RMS white noise reads about -55 dB per 512-point bin: the floor sits 10-25 dB under it
    assert -80.0 <= lo2 <= -65.0
    assert w.after_view.levels() == (lo2, hi2)
    d = _panel(w)
    assert (d.floor_spin.value(), d.ceiling_spin.value()) == (lo2, hi2)  # the range in use, greyed
    d.auto_check.setChecked(False)  # the manual range starts from what was on screen
    assert w.before_view.levels() == (lo2, hi2)
    assert (w.spectrogram.settings.floor_db, w.spectrogram.settings.ceiling_db) == (lo2, hi2)


# -- selections, holes and zoom on every scale -----------------------------------------------------
class _Drag:
    """What pyqtgraph hands a view box's mouseDragEvent (scene positions, button, finish)."""

    def __init__(self, p0, p1) -> None:
        self.p0, self.p1 = p0, p1

    def button(self):
        return Qt.MouseButton.LeftButton

    def buttonDownScenePos(self):  # noqa: N802 - pyqtgraph naming
        return self.p0

    def scenePos(self):  # noqa: N802
        return self.p1

    def isFinish(self):  # noqa: N802
        return True

    def accept(self):
        pass


@pytest.mark.parametrize("kind", ["linear", "log", "mel"])
def test_selections_and_holes_land_on_their_frequencies(make_window, qtbot, noisy_16k, kind):
    w = _opened(make_window, qtbot, noisy_16k)
    _choose(_panel(w).scale_combo, kind)
    wait_for_jobs(w, qtbot)
    v = w.before_view
    scale = v.frequency_scale
    # a drag from (1.2 s, 300 Hz) to (1.8 s, 3 kHz) in rectangle mode selects those Hz
    w.rect_action.setChecked(True)
    p0 = v.vb.mapViewToScene(QPointF(1.2, scale.to_display(300.0)))
    p1 = v.vb.mapViewToScene(QPointF(1.8, scale.to_display(3000.0)))
    v.vb.mouseDragEvent(_Drag(p0, p1))
    sel = w.session.project.selection
    assert sel.low_hz == pytest.approx(300.0, rel=0.02) and sel.high_hz == pytest.approx(3000.0, rel=0.02)
    assert sel.start_s == pytest.approx(1.2, abs=0.01) and sel.end_s == pytest.approx(1.8, abs=0.01)
    # ...and is drawn there on both views, in the scale's coordinates
    for view in (w.before_view, w.after_view):
        r = view.rect_selection.rect()
        assert view.frequency_scale.to_hz(r.top()) == pytest.approx(sel.low_hz, rel=1e-6)
        assert view.frequency_scale.to_hz(r.bottom()) == pytest.approx(sel.high_hz, rel=1e-6)
    # the hover readout is in Hz too
    hovered = []
    v.vb.sigHover.connect(lambda t, f: hovered.append(f))

    class Hover:
        def isExit(self):  # noqa: N802
            return False

        def scenePos(self):  # noqa: N802
            return p1

    v.vb.hoverEvent(Hover())
    assert hovered[-1] == pytest.approx(3000.0, rel=0.02)
    # a hole from 1 to 2 kHz is outlined from 1 to 2 kHz
    w.after_view.set_holes(np.array([[1.0, 2.0, 1000.0, 2000.0]]))
    box = w.after_view.holes_item.path().boundingRect()
    assert w.after_view.frequency_scale.to_hz(box.top()) == pytest.approx(1000.0, rel=1e-6)
    assert w.after_view.frequency_scale.to_hz(box.bottom()) == pytest.approx(2000.0, rel=1e-6)


def test_a_new_scale_keeps_the_frequency_band_in_view(make_window, qtbot, noisy_16k):
    w = _opened(make_window, qtbot, noisy_16k)
    w.before_view.setYRange(500.0, 4000.0, padding=0)
    _choose(_panel(w).scale_combo, "log")
    for v in (w.before_view, w.after_view):
        lo, hi = v.frequency_band()
        assert lo == pytest.approx(500.0, rel=1e-3) and hi == pytest.approx(4000.0, rel=1e-3)


@pytest.mark.parametrize("kind", ["linear", "mel"])
def test_frequency_zoom_keys(make_window, qtbot, noisy_16k, kind):
    w = _opened(make_window, qtbot, noisy_16k)
    _choose(_panel(w).scale_combo, kind)
    w.activateWindow()
    v = w.before_view
    full = np.diff(v.vb.viewRange()[1])[0]
    x_before = v.vb.viewRange()[0]
    assert [a.shortcut().toString() for a in (w.frequency_zoom_in_action, w.frequency_zoom_out_action,
                                             w.frequency_zoom_reset_action)] == ["Alt+=", "Alt+-", "Alt+0"]
    qtbot.keyClick(w, Qt.Key.Key_Equal, Qt.KeyboardModifier.AltModifier)
    assert np.diff(v.vb.viewRange()[1])[0] == pytest.approx(full / 2, rel=1e-3)
    assert v.frequency_band()[0] == pytest.approx(0.0, abs=1e-6)  # from the whole band: the bottom stays
    assert np.diff(w.after_view.vb.viewRange()[1])[0] == pytest.approx(full / 2, rel=1e-3)  # linked
    assert v.vb.viewRange()[0] == pytest.approx(x_before)  # time untouched
    w.frequency_zoom_in_action.trigger()
    qtbot.keyClick(w, Qt.Key.Key_Minus, Qt.KeyboardModifier.AltModifier)
    assert np.diff(v.vb.viewRange()[1])[0] == pytest.approx(full / 2, rel=1e-3)
    qtbot.keyClick(w, Qt.Key.Key_0, Qt.KeyboardModifier.AltModifier)
    assert np.diff(v.vb.viewRange()[1])[0] == pytest.approx(full, rel=1e-6)
    u = v.frequency_scale.to_display
    v.setYRange(u(1000.0), u(3000.0), padding=0)  # away from the bottom: about the middle
    w.frequency_zoom_in_action.trigger()
    lo, hi = v.vb.viewRange()[1]
    assert (lo + hi) / 2 == pytest.approx((u(1000.0) + u(3000.0)) / 2, rel=1e-6)


def _wheel(view, modifiers, notches: int = 1) -> None:
    pos = QPointF(view.viewport().width() / 2, view.viewport().height() / 2)
    ev = QWheelEvent(pos, view.viewport().mapToGlobal(pos), QPoint(), QPoint(0, 120 * notches),
                     Qt.MouseButton.NoButton, modifiers, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(view.viewport(), ev)


def test_shift_wheel_zooms_frequency_and_ctrl_wheel_still_zooms_time(make_window, qtbot, noisy_16k):
    w = _opened(make_window, qtbot, noisy_16k)
    v = w.before_view
    (x0, x1), (y0, y1) = v.vb.viewRange()
    _wheel(v, Qt.KeyboardModifier.ShiftModifier)
    (a0, a1), (b0, b1) = v.vb.viewRange()
    assert (b1 - b0) == pytest.approx(0.8 * (y1 - y0), rel=0.02)
    assert (a0, a1) == pytest.approx((x0, x1))
    _wheel(v, Qt.KeyboardModifier.ControlModifier)
    (c0, c1), (d0, d1) = v.vb.viewRange()
    assert (c1 - c0) == pytest.approx(0.8 * (x1 - x0), rel=0.02)
    assert (d0, d1) == pytest.approx((b0, b1))
    _wheel(v, Qt.KeyboardModifier.AltModifier, notches=-1)  # Alt+wheel too (the older binding)
    (e0, e1), (f0, f1) = v.vb.viewRange()
    assert (f1 - f0) == pytest.approx((d1 - d0) / 0.8, rel=0.02) and (e0, e1) == pytest.approx((c0, c1))


def test_the_legend_stays_inside_the_plot_and_fits_short_panes(qtbot):
    from app.qt.spectrogram_view import SpectrogramView

    v = SpectrogramView("BEFORE")
    qtbot.addWidget(v)
    v.set_palette("magnitude", "inferno", (-105.0, -10.0))
    for height, compact in ((80, True), (320, False)):
        v.resize(640, height)
        v.show()
        qtbot.wait(30)
        area = v.vb.sceneBoundingRect()
        g = v.legend.geometry()
        assert area.left() <= g.left() and g.right() <= area.right() + 1 and g.bottom() <= area.bottom() + 1
        assert v.legend.compact is compact
        ticks = v.legend.tick_values()
        assert ticks[0] == -105.0 and ticks[-1] == -10.0 and (len(ticks) == 2) is compact
    assert v.legend.testAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)  # drags reach the plot
