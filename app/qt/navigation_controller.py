"""Keyboard navigation in the workstation, Audacity-like: Home / End, the arrows, Shift to extend
the time selection, Stop and Return, and zoom that keeps the playhead where it is on screen.

============================  =====================================================
Key                           What it does
============================  =====================================================
Home / End                    playhead to the start / end of the file
Left / Right                  playhead back / forward one step (1/40 of the view)
Shift+Home, End, Left, Right  extend the time selection to there (from the playhead)
Shift+Space                   Stop and Return: stop, playhead back to where it started
Ctrl+= / Ctrl+- (= / -)       zoom in / out around the playhead (the view centre
                              when the playhead is off screen); Ctrl+wheel zooms
                              around the mouse
============================  =====================================================

The keys are window-wide shortcuts, except where the focus is in a widget that needs them
itself (:class:`NavigationKeyFilter`): a text field, a number field, a slider, a list or a
combo box keeps its arrows, Home and End (and its letters), as an editor expects.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QAbstractSlider,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QLineEdit,
    QPlainTextEdit,
    QTextEdit,
)

from app.qt.window_actions import add_action
from app.session import Selection

#: an arrow key moves the playhead by this fraction of the visible span
STEP_OF_VIEW = 1.0 / 40.0

_NAV_KEYS = {Qt.Key.Key_Home, Qt.Key.Key_End, Qt.Key.Key_Left, Qt.Key.Key_Right, Qt.Key.Key_Up,
             Qt.Key.Key_Down, Qt.Key.Key_PageUp, Qt.Key.Key_PageDown}
_EDITORS = (QLineEdit, QAbstractSpinBox, QAbstractSlider, QAbstractItemView, QComboBox, QTextEdit,
            QPlainTextEdit)


def wants_key(widget, key: int, modifiers) -> bool:
    """Whether the focused ``widget`` needs this key itself (so the window's shortcut must not
    take it): navigation keys in any editing widget, printable keys in a text or number field."""
    if widget is None:
        return False
    if not isinstance(widget, _EDITORS) and not isinstance(widget.parentWidget(), _EDITORS):
        return False
    if key in _NAV_KEYS:
        return True
    typing = not (modifiers & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier
                               | Qt.KeyboardModifier.MetaModifier))
    text_field = isinstance(widget, (QLineEdit, QAbstractSpinBox, QTextEdit, QPlainTextEdit))
    return typing and text_field and Qt.Key.Key_Space < key < Qt.Key.Key_Escape


class NavigationKeyFilter(QObject):
    """An application event filter: the window's navigation and letter shortcuts give way to a
    focused editing widget of ``window`` (see :func:`wants_key`)."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window

    def eventFilter(self, obj, ev):  # noqa: N802 - Qt naming
        if ev.type() != QEvent.Type.ShortcutOverride:
            return False
        w = QApplication.focusWidget()
        if w is not None and w.window() is self.window and wants_key(w, ev.key(), ev.modifiers()):
            ev.accept()  # the key goes to the widget as a key press, not to a shortcut
            return True
        return False


class NavigationController:
    """Playhead and selection moves of the workstation ``window`` (its monitor, session, views)."""

    def __init__(self, window) -> None:
        self.window = window
        self.anchor: float | None = None  # the fixed end of a selection being extended by keys

    # -- queries ------------------------------------------------------------------------------
    def playhead(self) -> float:
        return float(getattr(self.window.monitor, "position_s", 0.0) or 0.0)

    def step_s(self) -> float:
        """How far an arrow key moves: a fortieth of the visible span (finer when zoomed in)."""
        (x0, x1), _ = self.window.waveform.vb.viewRange()
        return max(1e-3, (x1 - x0) * STEP_OF_VIEW)

    def _clamp(self, t: float) -> float:
        return max(0.0, min(float(t), self.window._duration()))

    # -- moves --------------------------------------------------------------------------------
    def go_to(self, t: float, *, extend: bool = False) -> None:
        """Put the playhead at ``t`` (clamped to the file); with ``extend``, select from the anchor
        (the playhead before the first extending move) to ``t``. The view follows the playhead."""
        w = self.window
        if w.session.project.source is None:
            return
        t = self._clamp(t)
        if extend:
            sel = w.session.project.selection
            if self.anchor is None or sel is None or self.anchor not in (sel.start_s, sel.end_s):
                self.anchor = self._moving_anchor(sel)
            w._guard(w.session.set_selection, Selection.between(self.anchor, t) if t != self.anchor else None)
        else:
            self.anchor = None
        w.seek(t)
        self._keep_in_view(t)

    def _moving_anchor(self, sel) -> float:
        """Where a new keyboard extension starts: the playhead, or the selection's far end."""
        pos = self.playhead()
        if sel is None or sel.duration_s <= 0:
            return pos
        return sel.start_s if abs(pos - sel.end_s) <= abs(pos - sel.start_s) else sel.end_s

    def home(self, extend: bool = False) -> None:
        self.go_to(0.0, extend=extend)

    def end(self, extend: bool = False) -> None:
        self.go_to(self.window._duration(), extend=extend)

    def step(self, direction: int, extend: bool = False) -> None:
        """Left (-1) / Right (+1): one step of the current zoom from the playhead."""
        self.go_to(self.playhead() + direction * self.step_s(), extend=extend)

    def _keep_in_view(self, t: float) -> None:
        w = self.window
        (x0, x1), _ = w.waveform.vb.viewRange()
        span = x1 - x0
        if x0 <= t <= x1 or span <= 0:
            return
        a = max(0.0, min(t - span / 2, w._duration() - span))
        w.waveform.setXRange(a, a + span, padding=0)

    # -- zoom ---------------------------------------------------------------------------------
    def zoom(self, factor: float) -> None:
        """Zoom by ``factor`` (0.5: in) keeping the playhead where it is on screen; around the
        view's centre when the playhead is not in view."""
        vb = self.window.waveform.vb
        (x0, x1), _ = vb.viewRange()
        pos = self.playhead()
        vb.zoom_time(factor, centre=pos if x0 <= pos <= x1 else None)


def add_navigation_actions(w, menu) -> None:
    """The navigation actions of window ``w``, added to ``menu``; see the module table."""
    nav = w.navigation
    menu.addSeparator()
    for name, text, slot, key, tip in (
        ("home", "Go to Start", nav.home, "Home", "Playhead to the start of the file."),
        ("end", "Go to End", nav.end, "End", "Playhead to the end of the file."),
        ("left", "Step Back", lambda: nav.step(-1), "Left", "Playhead back one step (a fortieth of the view)."),
        ("right", "Step Forward", lambda: nav.step(1), "Right", "Playhead forward one step (a fortieth of the view)."),
        ("select_home", "Select to Start", lambda: nav.home(True), "Shift+Home", "Extend the selection to the start."),
        ("select_end", "Select to End", lambda: nav.end(True), "Shift+End", "Extend the selection to the end."),
        ("select_left", "Extend Selection Left", lambda: nav.step(-1, True), "Shift+Left",
         "Extend the selection one step back."),
        ("select_right", "Extend Selection Right", lambda: nav.step(1, True), "Shift+Right",
         "Extend the selection one step forward."),
    ):
        act = add_action(w, text, slot, QKeySequence(key), tip, menu=menu)
        setattr(w, f"nav_{name}_action", act)
