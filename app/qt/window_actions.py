"""The workstation's menus, toolbars and transport bar: every QAction the window offers.

``build_actions(window)`` creates them on the window under the names the rest of the app and
the tests use (``window.apply_action``, ``window.holes_action``, ``window.apply_button``...)
and wires them to the window's slots; it keeps no state of its own.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QFrame,
    QMainWindow,
    QMenu,
    QPushButton,
    QSizePolicy,
    QToolBar,
    QToolButton,
    QWidget,
)

from app.qt.batch_dialog import BatchDialog
from app.qt.meters_view import MetersView
from app.qt.spectrogram_controller import FREQUENCY_ZOOM_STEP
from app.qt.transport_panel import LISTEN_BUTTONS, TransportPanel


def batch_dialog_class():
    """``app.qt.batch_dialog.BatchDialog`` (the window's callers also handle None)."""
    return BatchDialog


def add_action(window: QMainWindow, text: str, slot, shortcut=None, tip: str = "", *, checkable=False,
               menu: QMenu | None = None) -> QAction:
    """A window-wide action (its shortcut works anywhere in the window), added to ``menu``."""
    act = QAction(text, window)
    if shortcut is not None:
        if isinstance(shortcut, (list, tuple)):
            act.setShortcuts([QKeySequence(s) for s in shortcut])
        else:
            act.setShortcut(QKeySequence(shortcut))
    act.setToolTip(tip or text)
    act.setStatusTip(tip)
    act.setCheckable(checkable)
    if checkable:
        act.toggled.connect(slot)
    else:
        act.triggered.connect(lambda _=False: slot())
    window.addAction(act)
    if menu is not None:
        menu.addAction(act)
    return act


def toggle_button(act: QAction, text: str) -> QToolButton:
    """A short-labelled toolbar button mirroring a checkable menu action (both ways)."""
    b = QToolButton()
    b.setText(text)
    b.setCheckable(True)
    b.setChecked(act.isChecked())
    b.setToolTip(f"{act.toolTip()} ({act.shortcut().toString()})")
    b.toggled.connect(act.setChecked)

    def echo(on: bool) -> None:
        b.blockSignals(True)
        b.setChecked(on)
        b.blockSignals(False)

    act.toggled.connect(echo)
    return b


def build_actions(w) -> None:
    """Menus, the main toolbar and the transport bar of the workstation ``w``."""
    mb = w.menuBar()
    _file_menu(w, mb.addMenu("&File"))
    edit_menu = mb.addMenu("&Edit")
    _edit_menu(w, edit_menu)
    w.edits.add_actions(edit_menu, add_action)  # region operations, spectral repair (edit_controller)
    _view_menu(w, mb.addMenu("&View"))
    _process_menu(w, mb.addMenu("&Process"))
    _transport_menu(w, mb.addMenu("&Transport"))
    add_action(w, "About Roomtone", w._about, None, "Version and licence.", menu=mb.addMenu("&Help"))
    _main_toolbar(w)
    _transport_bar(w)
    w.chain_panel.stage_list.currentRowChanged.connect(w.playback.solo_target_changed)
    if w.prosody_dock is not None:
        w.prosody_dock.addAction(w.play_action)  # Space also works in the floating panel


def _file_menu(w, m: QMenu) -> None:
    w.file_menu = m
    w.open_action = add_action(w, "&Open…", w.files.open_dialog, QKeySequence.StandardKey.Open,
                               "Open an audio file (WAV, FLAC, MP3, …) or a Roomtone project.", menu=m)
    w.recent_menu = m.addMenu("Open &Recent")
    w.demo_action = add_action(w, "Open &Demo Episode", w.open_demo, None,
                               "Open the bundled demo episode with its room tone learned and the podcast preset applied.",
                               menu=m)
    m.addSeparator()
    w.save_action = add_action(w, "&Save Project", w.save_project, QKeySequence.StandardKey.Save,
                               "Save the project (source reference, chain, room tone) as a .roomtone file.", menu=m)
    add_action(w, "Save Project &As…", lambda: w.save_project(ask=True), "Ctrl+Shift+S",
               "Save the project under a new name.", menu=m)
    w.relink_action = add_action(w, "Re&link Source…", w.files.relink_dialog, None,
                                 "Point the project at its audio file's new location.", menu=m)
    m.addSeparator()
    w.export_action = add_action(w, "&Export…", w.export_dialog, "Ctrl+E",
                                 "Render the whole file through the chain and write it as WAV or FLAC.", menu=m)
    w.batch_action = add_action(w, "&Batch…", w.open_batch_dialog, "Ctrl+B",
                                "Clean a whole folder of episodes with a preset (and a loudness target) "
                                "in the background; finished files and a report go to an output folder.",
                                menu=m)
    if batch_dialog_class() is None:
        w.batch_action.setEnabled(False)
        w.batch_action.setToolTip("Batch processing is not available in this build.")
    m.addSeparator()
    add_action(w, "&Quit", w.close, QKeySequence.StandardKey.Quit, "Close Roomtone.", menu=m)


def _edit_menu(w, m: QMenu) -> None:
    w.edit_menu = m
    w.undo_action = add_action(w, "&Undo", w.session_undo, QKeySequence("Ctrl+Z"), "Undo the last edit.", menu=m)
    w.redo_action = add_action(w, "&Redo", w.session_redo, ["Ctrl+Shift+Z", "Ctrl+Y"], "Redo the edit just undone.",
                               menu=m)
    m.addSeparator()
    add_action(w, "Select &All", w.select_all, QKeySequence.StandardKey.SelectAll, "Select the whole file.", menu=m)
    add_action(w, "Clear Selection", lambda: w._guard(w.session.set_selection, None), "Esc",
               "Remove the selection.", menu=m)
    m.addSeparator()
    w.preferences_action = add_action(
        w, "&Preferences…", w.open_preferences, "Ctrl+,",
        "Headphone output: device and buffer size (latency versus robustness).", menu=m)


def _view_menu(w, m: QMenu) -> None:
    w.view_menu = m
    add_action(w, "Zoom &In", lambda: w.zoom(0.5), ["Ctrl+=", "Ctrl++", "="], "Show half as much time (zoom in).", menu=m)
    add_action(w, "Zoom &Out", lambda: w.zoom(2.0), ["Ctrl+-", "-"], "Show twice as much time (zoom out).", menu=m)
    add_action(w, "Zoom to &Selection", w.zoom_to_selection, "Ctrl+Shift+E", "Fit the selection to the window.", menu=m)
    add_action(w, "&Fit Whole File", w.zoom_fit, ["Ctrl+0", "F"], "Show the whole file.", menu=m)
    m.addSeparator()
    w.difference_action = add_action(
        w, "Show Removed &Energy", w.set_difference_mode, "D",
        "Show, in the AFTER pane, how many dB the chain removed at each time and frequency.", checkable=True, menu=m)
    w.holes_action = add_action(
        w, "Show Spectral &Holes", w._set_holes_visible, "H",
        "Outline the places the processing pushed below the room's natural floor (audible as 'sucked-out' gaps).",
        checkable=True, menu=m)
    w.holes_action.setChecked(True)
    w.events_action = add_action(
        w, "Show Detected &Events", w.waveform.set_events_visible, "E",
        "Mark on the waveform what the chain's detectors found at the last Apply (clicks, breaths, "
        "sibilants, pops), one colour per kind.", checkable=True, menu=m)
    w.events_action.setChecked(True)
    w.rect_action = add_action(
        w, "Time-Frequency Selection", w._set_rect_mode, "R",
        "Dragging on a spectrogram selects a time-frequency rectangle instead of a time range.", checkable=True, menu=m)
    _spectrogram_entries(w, m)
    m.addSeparator()
    w.follow_action = add_action(
        w, "F&ollow Playhead", w.playback.set_follow, None,
        "While playing, scroll the views a page at a time so the audio being heard stays on screen.",
        checkable=True, menu=m)
    if w.prosody_dock is not None:
        act = w.prosody_dock.toggleViewAction()
        act.setText("&Prosody Checks")
        act.setShortcut(QKeySequence("Ctrl+Shift+P"))
        act.setToolTip("Show or hide the prosody panel: voice-clone checks (monotone pitch, pace, pauses, "
                       "breaths) for clips or a folder. Clicking a finding in the open file moves the playhead there.")
        act.setStatusTip(act.toolTip())
        w.addAction(act)
        m.addAction(act)
        w.prosody_action = act


def _spectrogram_entries(w, m: QMenu) -> None:
    """View › Spectrogram Settings… and the frequency zoom (SpectrogramController)."""
    sc = w.spectrogram
    m.addSeparator()
    w.spectrogram_settings_action = add_action(
        w, "Spectrogram &Settings…", sc.open_dialog, "Ctrl+Alt+S",
        "FFT size, dB range (automatic from the room tone), linear / log / mel frequency scale and colours "
        "of every spectrogram view.", menu=m)
    w.frequency_zoom_in_action = add_action(
        w, "Zoom Frequency In", lambda: sc.zoom_frequency(FREQUENCY_ZOOM_STEP), ["Alt+=", "Alt++"],
        "Show half the frequency band on the spectrograms (also Shift+wheel over them).", menu=m)
    w.frequency_zoom_out_action = add_action(
        w, "Zoom Frequency Out", lambda: sc.zoom_frequency(1 / FREQUENCY_ZOOM_STEP), "Alt+-",
        "Show twice the frequency band on the spectrograms.", menu=m)
    w.frequency_zoom_reset_action = add_action(
        w, "Show All Frequencies", sc.reset_frequency_zoom, "Alt+0",
        "Show the spectrograms from 0 Hz to the file's highest frequency again.", menu=m)


def _process_menu(w, m: QMenu) -> None:
    w.apply_action = add_action(w, "&Apply", w.apply_chain, ["Ctrl+Return", "Ctrl+R"],
                                "Render the chain over the whole file into the AFTER view (in the background).",
                                menu=m)
    w.learn_action = add_action(w, "&Learn Room Tone from Selection", w.learn_from_selection, "Ctrl+L",
                                "Learn the room's background noise from the selected pause.", menu=m)
    add_action(w, "&Find Room Tone Automatically", w.find_room_tone, None,
               "Find the quietest stretches of the file and learn the room tone from them.", menu=m)


def _transport_menu(w, m: QMenu) -> None:
    w.play_action = add_action(w, "Play / Pause", w.toggle_play, "Space",
                               "Start playback through the chain from the cursor (or the selection); "
                               "press again to pause where you are.", menu=m)
    w.transport_menu = m
    w.stop_action = add_action(w, "Stop and Return", w.stop, "Shift+Space",
                               "Stop playback and put the cursor back where playback started.", menu=m)
    w.loop_action = add_action(w, "Loop Selection", w.playback.set_loop, "L",
                               "Loop the selection while playing (seamless, to compare settings on the same words).",
                               checkable=True, menu=m)
    m.addSeparator()
    w.listen_actions = {}
    for key, (mode, text, tip) in zip("1234", LISTEN_BUTTONS, strict=True):
        w.listen_actions[mode] = add_action(w, f"Hear {text}", lambda mode=mode: w.set_listen(mode), key, tip, menu=m)


def _main_toolbar(w) -> None:
    tb = QToolBar("Main")
    tb.setObjectName("mainToolbar")
    tb.setMovable(False)
    w.addToolBar(tb)
    w._toolbar_buttons = {}
    for act, text in ((w.open_action, "Open"), (w.save_action, "Save"), (w.undo_action, "Undo"),
                      (w.redo_action, "Redo")):
        # own buttons: the actions' texts carry the undo labels, the toolbar stays short
        b = QToolButton()
        b.setText(text)
        b.setToolTip(act.toolTip())
        b.clicked.connect(act.trigger)
        tb.addWidget(b)
        w._toolbar_buttons[text] = b
    tb.addSeparator()
    for text, fn, tip in (("−", lambda: w.zoom(2.0), "Zoom out (−)"), ("+", lambda: w.zoom(0.5), "Zoom in (=)"),
                          ("Fit", w.zoom_fit, "Show the whole file (F)")):
        act = QAction(text, w)
        act.setToolTip(tip)
        act.triggered.connect(lambda _=False, f=fn: f())
        tb.addAction(act)
    tb.addSeparator()
    for act, text in ((w.rect_action, "T–F select"), (w.difference_action, "Removed"),
                      (w.holes_action, "Holes"), (w.events_action, "Events")):
        tb.addWidget(toggle_button(act, text))
    spacer = QWidget()
    spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
    tb.addWidget(spacer)
    w.apply_button = QPushButton("Apply")
    w.apply_button.setObjectName("primary")
    w.apply_button.setToolTip("Render the chain over the whole file into the AFTER view, in the background "
                              "(Ctrl+Enter). The status bar shows progress and Cancel.")
    w.apply_button.clicked.connect(w.apply_chain)
    w.apply_button.setMinimumWidth(90)
    tb.addWidget(w.apply_button)
    w.export_button = QPushButton("Export…")
    w.export_button.setToolTip("Render the whole file and write it as WAV or FLAC (Ctrl+E).")
    w.export_button.clicked.connect(w.export_dialog)
    tb.addWidget(w.export_button)


def _transport_bar(w) -> None:
    """The transport bar: playback, what is heard, the output meters."""
    tb = QToolBar("Transport")
    tb.setObjectName("transportToolbar")
    tb.setMovable(False)
    w.addToolBar(Qt.ToolBarArea.BottomToolBarArea, tb)
    w.transport_bar = tb
    w.transport = TransportPanel()
    w.transport.playToggled.connect(w.toggle_play)
    w.transport.stopRequested.connect(w.stop)
    w.transport.loopToggled.connect(w.loop_action.setChecked)
    w.transport.followToggled.connect(w.follow_action.setChecked)
    w.transport.listenChosen.connect(w.set_listen)
    tb.addWidget(w.transport)
    sep = QFrame()
    sep.setFrameShape(QFrame.Shape.VLine)
    sep.setFixedWidth(9)
    tb.addWidget(sep)
    w.meters = MetersView()
    w.meters.clipResetRequested.connect(w.playback.reset_clip)
    tb.addWidget(w.meters)
