"""The workstation window: overview, waveform, before/after spectrograms, loudness, chain and room tone.

The window binds views to the Qt-free :class:`~app.session.Session` (STYLE.md 1): every edit is
a Session mutator (undoable, labelled), and ``_project_changed`` echoes each new Project into
the panels. Nothing heavy runs on the GUI thread (ARCHITECTURE.md, Threads): the waveform
pyramid, spectrogram tiles, Apply (render + hole detection), room-tone analyses and export are
jobs (:class:`~app.qt.session_bridge.JobPoller`), polled from timers; their results come back
here and, where they change the Project, go through the Session.

"Apply" renders the chain with the same ``build_processor`` + ``render_blocks`` path the CLI
uses into a temporary float32 file that the AFTER views read; the AFTER pane says when the
project changed since (out of date). The Loudness view draws the source's short-term loudness
and phrases (a job: :func:`app.loudness_timeline.analyse_source`) and the render's, metered on
the way by the Apply job itself and measured over the source's phrases. Export is ``app.session.render_project`` (the CLI's
``clean_file``), so an exported file equals a CLI render bit for bit.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import tempfile
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QByteArray, QEvent, QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QDockWidget,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTabWidget,
    QTextEdit,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.audio.project_monitor import NullMonitor
from app.loudness_timeline import analyse_source
from app.overview import WaveformPyramid, difference_db, long_term_spectrum, spectrogram_tile
from app.qt import theme
from app.qt.chain_panel import ChainPanel
from app.qt.export_dialog import ExportDialog
from app.qt.jobs_view import JobsView
from app.qt.loudness_view import LoudnessView
from app.qt.meters_view import MetersView
from app.qt.overview_view import OverviewView
from app.qt.roomtone_panel import RoomtonePanel
from app.qt.session_bridge import JobPoller, SessionBridge
from app.qt.spectrogram_view import SpectrogramView
from app.qt.transport_panel import LISTEN_BUTTONS, TransportPanel
from app.qt.waveform_view import WaveformView
from app.session import (
    FIND_LABEL,
    PROJECT_SUFFIX,
    Autosave,
    JobRunner,
    Selection,
    Session,
    SourceRef,
    estimate_profile,
    learn_label,
    render_project,
)
from app.session.preview import RenderResult, render_preview
from app.session.project import profiles_equal
from app.timecode import format_time
from dsp.errors import Cancelled, DeviceError, InputError, ParameterError, RoomtoneError
from dsp.io import READ_FORMATS, AudioReader, audio_info, format_for_source
from dsp.loudness_timeline import build_timeline
from dsp.stft import default_n_fft

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "assets" / "demo" / "demo_episode.flac"
MAX_RECENT = 10
AUTOSAVE_MS = 30_000
TICK_MS = 33  # the GUI polls playhead, meters and monitor health at ~30 Hz
PROSODY_DOCK_SHARE = 0.45  # of the window's height, for the prosody panel when it is docked
PROCESSING_DOCK_SHARE = 0.3  # of the window's width, for the processing panel while prosody is docked
STATUS_SPACING = 12  # px between status-bar widgets (QStatusBar's spacing and frames, rounded up)
STATUS_MARGINS = 40  # px the status bar keeps for its margins and size grip
AUDIO_FILTER = "Audio (" + " ".join(f"*{e}" for e in READ_FORMATS) + ")"
PROJECT_FILTER = f"Roomtone project (*{PROJECT_SUFFIX} *.json)"


def _listening_to(project, listen: str):
    """``project`` rendering ``listen`` (processed / removed / original) instead of its own setting.

    Apply always shows the chain's result and an export renders what the export dialog chose;
    neither follows the project's stored ``listen`` nor what the transport's Hear plays.
    """
    if project.chain.listen == listen:
        return project
    return dataclasses.replace(project, chain=dataclasses.replace(project.chain, listen=listen))


def _hole_regions(holes) -> np.ndarray | None:
    if holes is None:
        return None
    return np.array([(r.start_s, r.end_s, r.low_hz, r.high_hz) for r in holes.regions], float).reshape(-1, 4)


def _batch_dialog_class():
    """``app.qt.batch_dialog.BatchDialog`` when it can be imported (None otherwise)."""
    try:
        from app.qt.batch_dialog import BatchDialog
    except Exception:  # noqa: BLE001 - the batch runner is optional here
        return None
    return BatchDialog


def _is_free_text(widget) -> bool:
    """A field where Space types a space (not a number field or a combo box's editor)."""
    if isinstance(widget, (QTextEdit, QPlainTextEdit)):
        return not widget.isReadOnly()
    if isinstance(widget, QLineEdit):
        parent = widget.parentWidget()
        return not isinstance(parent, (QAbstractSpinBox, QComboBox)) and not widget.isReadOnly()
    return False


class MainWindow(QMainWindow):
    """The Roomtone workstation."""

    def __init__(self, session: Session | None = None, *, settings: QSettings | None = None,
                 autosave: Autosave | None = None, monitor=None) -> None:
        super().__init__()
        self.session = session or Session()
        self.settings = settings or QSettings("Roomtone", "Roomtone")
        self.autosave = autosave
        self.monitor = monitor if monitor is not None else NullMonitor()
        self.show_dialogs = True  # tests switch modal dialogs off; errors are still recorded
        self.ask_before_closing = True
        self.errors: list[BaseException] = []
        self.jobs = JobPoller(JobRunner(max_workers=2), parent=self)
        self.tile_jobs = JobPoller(JobRunner(max_workers=1), parent=self)
        self._render_dir = Path(tempfile.mkdtemp(prefix="roomtone-render-"))
        self._render_count = 0
        self._reader: AudioReader | None = None
        self._pyramid: WaveformPyramid | None = None
        self._source_key: Any = None
        self._after: RenderResult | None = None
        self._loudness_before: Any = None  # dsp.loudness_timeline.LoudnessTimeline of the source
        self._loudness_job = None
        self._loudness_after: Any = None  # (RenderResult, LoudnessTimeline) of the render shown
        self._pyramid_cache: tuple | None = None
        self._apply_job = None
        self._spectrum: tuple[int, Any, np.ndarray, np.ndarray] | None = None
        self._preview_selection: tuple | None = None
        self._hover_s: float | None = None
        # monitoring (polled from the UI timer)
        self._play_end: float | None = None  # playing a selection without loop: stop at its end
        self._play_origin: float | None = None  # where playback started (Stop returns there)
        self._return_to: float | None = None
        self._playhead_shown: float | None = None
        self._shown_error: str | None = None
        self.monitor_errors: list[str] = []  # device / monitoring problems shown in the banner
        self._batch_dialog = None
        self.setWindowTitle("Roomtone")
        self.setAcceptDrops(True)
        self._build_ui()
        self._build_actions()
        self.bridge = SessionBridge(self.session, self)
        self.bridge.projectChanged.connect(self._project_changed)
        self._ui_timer = QTimer(self)
        self._ui_timer.setInterval(TICK_MS)
        self._ui_timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._ui_timer.timeout.connect(self._tick)
        self._ui_timer.start()
        self._autosave_timer = QTimer(self)
        self._autosave_timer.setInterval(AUTOSAVE_MS)
        self._autosave_timer.timeout.connect(self.autosave_now)
        if self.autosave is not None:
            self._autosave_timer.start()
        self._restore_settings()
        self._restore_audio_settings()
        self._project_changed(None, self.session.project)
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self)  # Space plays even from a number field

    # == construction =========================================================================
    def _build_ui(self) -> None:
        self.overview = OverviewView()
        self.waveform = WaveformView()
        self.before_view = SpectrogramView("BEFORE", poller=self.tile_jobs)
        self.after_view = SpectrogramView("AFTER", poller=self.tile_jobs)
        self.before_view.setToolTip("Spectrogram of the source: time left to right, frequency bottom to top, "
                                    "brighter = louder. Drag to select (Time-frequency tool: a rectangle).")
        self.after_view.setToolTip("Spectrogram after the chain (press Apply to update). Cyan boxes mark spectral "
                                   "holes: places pushed below the room's natural floor.")
        self.loudness_view = LoudnessView()
        # link time across all timeline views, frequency between the spectrograms
        for v in (self.before_view, self.after_view, self.loudness_view):
            v.setXLink(self.waveform)
        self.after_view.setYLink(self.before_view)
        self.waveform.getPlotItem().getAxis("bottom").setStyle(showValues=True)
        self.before_view.getPlotItem().getAxis("bottom").setStyle(showValues=False)
        for v in (self.waveform, self.before_view, self.after_view, self.loudness_view):
            v.vb.sigSelect.connect(self._selecting)
            v.vb.sigClick.connect(self._clicked)
            v.vb.sigHover.connect(self._hovered)
        self.waveform.vb.sigXRangeChanged.connect(self._view_range_changed)
        self.overview.spanChanged.connect(self._overview_span)

        self.overview_playhead = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(theme.PLAYHEAD, width=1))
        self.overview_playhead.setZValue(20)
        self.overview_playhead.hide()
        self.overview.addItem(self.overview_playhead, ignoreBounds=True)

        centre = QWidget()
        lay = QVBoxLayout(centre)
        lay.setContentsMargins(6, 6, 6, 0)
        lay.setSpacing(4)
        lay.addWidget(self._build_banner())
        lay.addWidget(self.overview)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.waveform)
        split.addWidget(self.before_view)
        split.addWidget(self.after_view)
        split.addWidget(self.loudness_view)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        split.setStretchFactor(2, 3)
        split.setStretchFactor(3, 2)
        split.setSizes([170, 260, 260, 170])
        split.setChildrenCollapsible(False)
        split.setHandleWidth(3)
        self.view_splitter = split
        lay.addWidget(split, 1)
        self.setCentralWidget(centre)

        self.chain_panel = ChainPanel(self.session)
        self.chain_panel.errorRaised.connect(self.report_error)
        self.roomtone_panel = RoomtonePanel()
        self.roomtone_panel.learnRequested.connect(self.learn_from_selection)
        self.roomtone_panel.findRequested.connect(self.find_room_tone)
        self.roomtone_panel.loadRequested.connect(self._load_profile_dialog)
        self.roomtone_panel.saveRequested.connect(self._save_profile_dialog)
        self.roomtone_panel.clearRequested.connect(lambda: self._guard(self.session.set_profile, None))
        self.side_tabs = QTabWidget()
        self.side_tabs.addTab(self.chain_panel, "Chain")
        self.side_tabs.addTab(self.roomtone_panel, "Room tone")
        self.side_tabs.setMinimumWidth(380)
        dock = QDockWidget("Processing", self)
        dock.setObjectName("processingDock")
        dock.setWidget(self.side_tabs)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        dock.setTitleBarWidget(QWidget())
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        # the processing panel keeps the full height; a bottom dock (prosody) sits under the views
        # only, so showing it never makes the window taller than the screen
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
        self.dock = dock
        self._build_prosody_dock()

        sb = self.statusBar()
        self.position_label = QLabel()
        self.position_label.setToolTip("Time under the mouse / cursor position.")
        self.selection_label = QLabel()
        self.selection_label.setToolTip("The current selection: start – end (length) and, for a rectangle, its band.")
        self.format_label = QLabel()
        self.format_label.setToolTip("Sample rate, channels and length of the source audio.")
        self.levels_label = QLabel()
        self.levels_label.setToolTip("Peak and RMS level of the selection (or of the visible span), dBFS.")
        self.jobs_view = JobsView(self.jobs)
        self.underrun_label = QLabel()
        self.underrun_label.setObjectName("underruns")
        self.underrun_label.setStyleSheet(f"color: {theme.WARN};")
        self.underrun_label.setToolTip("Dropouts: times the headphone output ran out of audio (heard as a click or "
                                       "gap; exports are never affected). If it keeps counting, raise the buffer "
                                       "size in Edit › Preferences.")
        self.underrun_label.hide()
        self.output_label = QLabel()
        self.output_label.setObjectName("outputDevice")
        self.output_label.setToolTip("The headphone output: device and the latency it reports. "
                                     "Change it in Edit › Preferences.")
        # permanent: transient messages (left) never hide them; when a message or a running job
        # needs the room, the readouts give way (see _fit_status_bar) instead of clipping it
        for w in (self.jobs_view, self.position_label, self.selection_label, self.levels_label, self.format_label,
                  self.underrun_label, self.output_label):
            sb.addPermanentWidget(w)
        self._status_readouts = (self.selection_label, self.position_label, self.levels_label, self.format_label)
        sb.messageChanged.connect(lambda _text: self._fit_status_bar())

    def _action(self, text: str, slot, shortcut=None, tip: str = "", *, checkable=False, menu=None) -> QAction:
        act = QAction(text, self)
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
        self.addAction(act)
        if menu is not None:
            menu.addAction(act)
        return act

    def _toggle_button(self, act: QAction, text: str) -> QToolButton:
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

    def _build_actions(self) -> None:
        mb = self.menuBar()
        m = mb.addMenu("&File")
        self.open_action = self._action("&Open…", self._open_dialog, QKeySequence.StandardKey.Open,
                                        "Open an audio file (WAV, FLAC, MP3, …) or a Roomtone project.", menu=m)
        self.recent_menu = m.addMenu("Open &Recent")
        self.demo_action = self._action("Open &Demo Episode", self.open_demo, None,
                                        "Open the bundled demo episode with its room tone learned and the podcast preset applied.",
                                        menu=m)
        m.addSeparator()
        self.save_action = self._action("&Save Project", self.save_project, QKeySequence.StandardKey.Save,
                                        "Save the project (source reference, chain, room tone) as a .roomtone file.", menu=m)
        self._action("Save Project &As…", lambda: self.save_project(ask=True), "Ctrl+Shift+S",
                     "Save the project under a new name.", menu=m)
        self.relink_action = self._action("Re&link Source…", self._relink_dialog, None,
                                          "Point the project at its audio file's new location.", menu=m)
        m.addSeparator()
        self.export_action = self._action("&Export…", self.export_dialog, "Ctrl+E",
                                          "Render the whole file through the chain and write it as WAV or FLAC.", menu=m)
        self.batch_action = self._action("&Batch…", self.open_batch_dialog, "Ctrl+B",
                                         "Clean a whole folder of episodes with a preset (and a loudness target) "
                                         "in the background; finished files and a report go to an output folder.",
                                         menu=m)
        if _batch_dialog_class() is None:
            self.batch_action.setEnabled(False)
            self.batch_action.setToolTip("Batch processing is not available in this build.")
        m.addSeparator()
        self._action("&Quit", self.close, QKeySequence.StandardKey.Quit, "Close Roomtone.", menu=m)

        m = mb.addMenu("&Edit")
        self.undo_action = self._action("&Undo", self.session_undo, QKeySequence("Ctrl+Z"), "Undo the last edit.", menu=m)
        self.redo_action = self._action("&Redo", self.session_redo, ["Ctrl+Shift+Z", "Ctrl+Y"], "Redo the edit just undone.", menu=m)
        m.addSeparator()
        self._action("Select &All", self.select_all, QKeySequence.StandardKey.SelectAll, "Select the whole file.", menu=m)
        self._action("Clear Selection", lambda: self._guard(self.session.set_selection, None), "Esc",
                     "Remove the selection.", menu=m)
        m.addSeparator()
        self.preferences_action = self._action(
            "&Preferences…", self.open_preferences, "Ctrl+,",
            "Headphone output: device and buffer size (latency versus robustness).", menu=m)

        m = mb.addMenu("&View")
        self._action("Zoom &In", lambda: self.zoom(0.5), ["Ctrl+=", "Ctrl++", "="], "Show half as much time (zoom in).", menu=m)
        self._action("Zoom &Out", lambda: self.zoom(2.0), ["Ctrl+-", "-"], "Show twice as much time (zoom out).", menu=m)
        self._action("Zoom to &Selection", self.zoom_to_selection, "Ctrl+Shift+E", "Fit the selection to the window.", menu=m)
        self._action("&Fit Whole File", self.zoom_fit, ["Ctrl+0", "F"], "Show the whole file.", menu=m)
        m.addSeparator()
        self.difference_action = self._action(
            "Show Removed &Energy", self.set_difference_mode, "D",
            "Show, in the AFTER pane, how many dB the chain removed at each time and frequency.", checkable=True, menu=m)
        self.holes_action = self._action(
            "Show Spectral &Holes", self._set_holes_visible, "H",
            "Outline the places the processing pushed below the room's natural floor (audible as 'sucked-out' gaps).",
            checkable=True, menu=m)
        self.holes_action.setChecked(True)
        self.rect_action = self._action(
            "Time-Frequency Selection", self._set_rect_mode, "R",
            "Dragging on a spectrogram selects a time-frequency rectangle instead of a time range.", checkable=True, menu=m)
        m.addSeparator()
        self.follow_action = self._action(
            "F&ollow Playhead", self._set_follow, None,
            "While playing, scroll the views a page at a time so the audio being heard stays on screen.",
            checkable=True, menu=m)
        if self.prosody_dock is not None:
            act = self.prosody_dock.toggleViewAction()
            act.setText("&Prosody Checks")
            act.setShortcut(QKeySequence("Ctrl+Shift+P"))
            act.setToolTip("Show or hide the prosody panel: voice-clone checks (monotone pitch, pace, pauses, "
                           "breaths) for clips or a folder. Clicking a finding in the open file moves the playhead there.")
            act.setStatusTip(act.toolTip())
            self.addAction(act)
            m.addAction(act)
            self.prosody_action = act

        m = mb.addMenu("&Process")
        self.apply_action = self._action("&Apply", self.apply_chain, ["Ctrl+Return", "Ctrl+R"],
                                         "Render the chain over the whole file into the AFTER view (in the background).",
                                         menu=m)
        self.learn_action = self._action("&Learn Room Tone from Selection", self.learn_from_selection, "Ctrl+L",
                                         "Learn the room's background noise from the selected pause.", menu=m)
        self._action("&Find Room Tone Automatically", self.find_room_tone, None,
                     "Find the quietest stretches of the file and learn the room tone from them.", menu=m)

        m = mb.addMenu("&Transport")
        self.play_action = self._action("Play / Pause", self.toggle_play, "Space",
                                        "Start playback through the chain from the cursor (or the selection); "
                                        "press again to pause where you are.", menu=m)
        self.stop_action = self._action("Stop and Return", self.stop, None,
                                        "Stop playback and put the cursor back where playback started.", menu=m)
        self.loop_action = self._action("Loop Selection", self._set_loop, "L",
                                        "Loop the selection while playing (seamless, to compare settings on the same words).",
                                        checkable=True, menu=m)
        m.addSeparator()
        self.listen_actions: dict[str, QAction] = {}
        for key, (mode, text, tip) in zip("1234", LISTEN_BUTTONS, strict=True):
            self.listen_actions[mode] = self._action(f"Hear {text}", lambda mode=mode: self.set_listen(mode), key,
                                                     tip, menu=m)

        m = mb.addMenu("&Help")
        self._action("About Roomtone", self._about, None, "Version and licence.", menu=m)

        tb = QToolBar("Main")
        tb.setObjectName("mainToolbar")
        tb.setMovable(False)
        self.addToolBar(tb)
        self._toolbar_buttons: dict[str, QToolButton] = {}
        for act, text in ((self.open_action, "Open"), (self.save_action, "Save"), (self.undo_action, "Undo"),
                          (self.redo_action, "Redo")):
            # own buttons: the actions' texts carry the undo labels, the toolbar stays short
            b = QToolButton()
            b.setText(text)
            b.setToolTip(act.toolTip())
            b.clicked.connect(act.trigger)
            tb.addWidget(b)
            self._toolbar_buttons[text] = b
        tb.addSeparator()
        for text, fn, tip in (("−", lambda: self.zoom(2.0), "Zoom out (−)"), ("+", lambda: self.zoom(0.5), "Zoom in (=)"),
                              ("Fit", self.zoom_fit, "Show the whole file (F)")):
            act = QAction(text, self)
            act.setToolTip(tip)
            act.triggered.connect(lambda _=False, f=fn: f())
            tb.addAction(act)
        tb.addSeparator()
        for act, text in ((self.rect_action, "T–F select"), (self.difference_action, "Removed"),
                          (self.holes_action, "Holes")):
            tb.addWidget(self._toggle_button(act, text))
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        tb.addWidget(spacer)
        self.apply_button = QPushButton("Apply")
        self.apply_button.setObjectName("primary")
        self.apply_button.setToolTip("Render the chain over the whole file into the AFTER view, in the background "
                                     "(Ctrl+Enter). The status bar shows progress and Cancel.")
        self.apply_button.clicked.connect(self.apply_chain)
        self.apply_button.setMinimumWidth(90)
        tb.addWidget(self.apply_button)
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Render the whole file and write it as WAV or FLAC (Ctrl+E).")
        self.export_button.clicked.connect(self.export_dialog)
        tb.addWidget(self.export_button)

        # the transport bar: playback, what is heard, the output meters
        tb = QToolBar("Transport")
        tb.setObjectName("transportToolbar")
        tb.setMovable(False)
        self.addToolBar(Qt.ToolBarArea.BottomToolBarArea, tb)
        self.transport_bar = tb
        self.transport = TransportPanel()
        self.transport.playToggled.connect(self.toggle_play)
        self.transport.stopRequested.connect(self.stop)
        self.transport.loopToggled.connect(self.loop_action.setChecked)
        self.transport.followToggled.connect(self.follow_action.setChecked)
        self.transport.listenChosen.connect(self.set_listen)
        tb.addWidget(self.transport)
        sep = QFrame()
        sep.setFrameShape(QFrame.Shape.VLine)
        sep.setFixedWidth(9)
        tb.addWidget(sep)
        self.meters = MetersView()
        self.meters.clipResetRequested.connect(self._reset_clip)
        tb.addWidget(self.meters)
        self.chain_panel.stage_list.currentRowChanged.connect(self._solo_target_changed)
        if self.prosody_dock is not None:
            self.prosody_dock.addAction(self.play_action)  # Space also works in the floating panel

    # == settings ==============================================================================
    def _restore_settings(self) -> None:
        geo = self.settings.value("window/geometry")
        if isinstance(geo, QByteArray) and not geo.isEmpty():
            self.restoreGeometry(geo)
        else:
            self.resize(1500, 940)
        state = self.settings.value("window/state")
        if isinstance(state, QByteArray) and not state.isEmpty():
            self.restoreState(state)
        self._rebuild_recent_menu()

    def recent_files(self) -> list[str]:
        value = self.settings.value("recent_files", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def _add_recent(self, path: Path) -> None:
        items = [str(path)] + [p for p in self.recent_files() if p != str(path)]
        self.settings.setValue("recent_files", items[:MAX_RECENT])
        self.settings.setValue("last_folder", str(Path(path).parent))
        self._rebuild_recent_menu()

    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        files = self.recent_files()
        for p in files:
            act = self.recent_menu.addAction(Path(p).name)
            act.setToolTip(p)
            act.triggered.connect(lambda _=False, p=p: self.open_path(p))
        self.recent_menu.setEnabled(bool(files))

    def _last_folder(self) -> str:
        return str(self.settings.value("last_folder", str(Path.home())))

    # == errors ================================================================================
    def report_error(self, exc: BaseException, tb: str | None = None) -> None:
        """A user mistake (RoomtoneError) becomes a short dialog; anything else is a bug report."""
        self.errors.append(exc)
        if isinstance(exc, Cancelled):
            self.statusBar().showMessage("Cancelled.", 4000)
            return
        if isinstance(exc, RoomtoneError):
            title, text, detail = "Roomtone", str(exc), None
        else:
            title = "Roomtone: internal error"
            text = f"Something went wrong inside Roomtone ({type(exc).__name__}: {exc}). This is a bug; please report it."
            detail = tb or "".join(traceback.format_exception(exc))
        self.statusBar().showMessage(text, 8000)
        if self.show_dialogs:
            box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, self)
            if detail:
                box.setDetailedText(detail)
            box.open()

    def _guard(self, fn, *args, **kw):
        try:
            return fn(*args, **kw)
        except RoomtoneError as exc:
            self.report_error(exc)
        return None

    def _job_failed(self, job) -> bool:
        """Report a finished job's error; True when its result must not be used."""
        if job.error is not None:
            self.report_error(job.error, getattr(job, "traceback", None))
            return True
        return job.cancelled

    # == files =================================================================================
    def _open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open audio or project", self._last_folder(), f"{AUDIO_FILTER};;{PROJECT_FILTER};;All files (*)")
        if path:
            self.open_path(path)

    def open_path(self, path: str | Path) -> bool:
        """Open an audio file (new project on it) or a project file."""
        path = Path(path)
        if path.suffix.lower() in (PROJECT_SUFFIX, ".json"):
            return self.open_project(path)
        return self.open_audio(path)

    def open_audio(self, path: str | Path, then=None) -> bool:
        """Open an audio file as a new project. The header is checked at once; the content hash
        (seconds on long files) runs as a job while the waveform overview is already being read."""
        path = Path(path).expanduser().absolute()
        try:
            audio_info(path)
        except RoomtoneError as exc:
            self.report_error(exc)
            return False
        self._start_pyramid(str(path))

        def done(job) -> None:
            if self._job_failed(job):
                return
            try:
                self.session.open_source(job.result)
            except RoomtoneError as exc:
                self.report_error(exc)
                return
            self._add_recent(path)
            self.statusBar().showMessage(f"Opened {path.name}", 4000)
            if then is not None:
                then()

        self.jobs.submit(f"Opening {path.name}", lambda progress, cancelled: SourceRef.from_path(path), done)
        return True

    def _start_pyramid(self, path: str) -> WaveformPyramid:
        """The waveform pyramid of ``path``, being built by a job (shared by repeated loads)."""
        st = Path(path).stat()
        key = (path, st.st_size, st.st_mtime_ns)
        if self._pyramid_cache is not None and self._pyramid_cache[0] == key:
            return self._pyramid_cache[1]
        info = audio_info(path)
        pyr = WaveformPyramid(info.sample_rate, info.channels, info.frames)
        self._pyramid_cache = (key, pyr)

        def build(progress, cancelled):
            with AudioReader(path) as reader:
                return WaveformPyramid.build(reader, progress=progress, cancel=cancelled, into=pyr)

        self.jobs.submit(f"Reading {Path(path).name}", build, self._pyramid_done)
        return pyr

    def open_project(self, path: str | Path) -> bool:
        try:
            problems = self.session.open_project(path)
        except RoomtoneError as exc:
            self.report_error(exc)
            return False
        self._add_recent(Path(path))
        for problem in problems:
            self.report_error(InputError(problem.message))
        if problems and self.show_dialogs:
            self._relink_dialog()
        return True

    def save_project(self, ask: bool = False, path: str | Path | None = None) -> Path | None:
        if path is None and (ask or self.session.path is None):
            default = self.session.path or Path(self._last_folder()) / f"{self.session.project.name}{PROJECT_SUFFIX}"
            chosen, _ = QFileDialog.getSaveFileName(self, "Save project", str(default), PROJECT_FILTER)
            if not chosen:
                return None
            path = chosen
        try:
            saved = self.session.save(path)
        except RoomtoneError as exc:
            self.report_error(exc)
            return None
        self._add_recent(saved)
        self.statusBar().showMessage(f"Saved {saved}", 4000)
        self._update_title()
        return saved

    def _relink_dialog(self) -> None:
        src = self.session.project.source
        if src is None:
            return
        path, _ = QFileDialog.getOpenFileName(self, f"Where is {Path(src.path).name} now?", self._last_folder(), AUDIO_FILTER)
        if path:
            self._guard(self.session.relink, path)

    def open_demo(self) -> bool:
        """Open the demo episode: learn the room tone from its room-tone-only stretch, load the
        podcast preset, and Apply so before/after and the holes show."""
        if not DEMO.exists():
            self.report_error(InputError(f"{DEMO}: the demo episode is missing; run: python scripts/make_demo.py"))
            return False
        return self.open_audio(DEMO, then=self._build_demo_project)

    def _build_demo_project(self) -> None:
        meta_path = DEMO.with_suffix(".json")
        region = (0.0, 2.0)
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            region = tuple(meta.get("room_tone_only", [region])[0])
        except (OSError, ValueError, IndexError, TypeError):
            pass
        from dsp.chain import list_presets

        if "podcast" in list_presets():
            self._guard(self.session.load_preset, "podcast")
        self._guard(self.session.set_selection, Selection.between(*region))
        self._guard(self.session.learn_profile, *region)  # 2 s of a 25 s file: quick
        self.session.dirty = False  # the demo as it ships: nothing of the user's to save yet
        self._update_title()  # the title's "*" and the question on quitting agree
        self.apply_chain()

    # drag and drop
    def dragEnterEvent(self, ev):
        urls = ev.mimeData().urls() if ev.mimeData().hasUrls() else []
        if urls and Path(urls[0].toLocalFile()).suffix.lower() in (*READ_FORMATS, PROJECT_SUFFIX, ".json"):
            ev.acceptProposedAction()
        else:
            ev.ignore()

    def dropEvent(self, ev):
        urls = ev.mimeData().urls()
        if urls:
            self.open_path(urls[0].toLocalFile())
            ev.acceptProposedAction()

    # == undo ==================================================================================
    def session_undo(self) -> None:
        self._guard(self.session.undo)

    def session_redo(self) -> None:
        self._guard(self.session.redo)

    # == model echo ============================================================================
    def _project_changed(self, old, new) -> None:
        source_changed = old is None or old.source != new.source or self._source_key != (
            new.source.path if new.source else None, new.source.sha256 if new.source else None)
        if source_changed:
            self._load_source(new.source)
        sel = new.selection
        self._preview_selection = None
        self._show_selection(sel)
        self.chain_panel.set_project(new)
        self.roomtone_panel.set_state(profile=new.profile, has_source=new.source is not None,
                                      has_selection=sel is not None and sel.duration_s > 0)
        if new.profile is not None and (old is None or not profiles_equal(old.profile, new.profile)):
            self._request_spectrum()
        self._update_after_state()
        if hasattr(self.monitor, "set_project"):
            try:
                self.monitor.set_project(new)
            except DeviceError as exc:
                self._show_monitor_problem(str(exc))
            except RoomtoneError as exc:
                self.report_error(exc)
        if source_changed and str(getattr(self.monitor, "listen", "processed")) != "processed":
            self.set_listen("processed")  # a new file starts by hearing the chain's result
        self._solo_target_changed(self.chain_panel.stage_list.currentRow())
        if old is not None and old.selection != new.selection:
            self._update_loop()
        self._update_undo_actions()
        self._update_title()
        self._update_status()

    def _update_title(self) -> None:
        self.setWindowTitle(f"{self.session.title} — Roomtone")

    def _update_undo_actions(self) -> None:
        h = self.session.history
        self.undo_action.setEnabled(h.can_undo)
        self.redo_action.setEnabled(h.can_redo)
        self.undo_action.setText(f"&Undo {h.undo_label}" if h.can_undo else "&Undo")
        self.redo_action.setText(f"&Redo {h.redo_label}" if h.can_redo else "&Redo")
        self.undo_action.setToolTip(f"Undo {h.undo_label} (Ctrl+Z)" if h.can_undo else "Nothing to undo")
        self.redo_action.setToolTip(f"Redo {h.redo_label} (Ctrl+Shift+Z)" if h.can_redo else "Nothing to redo")
        for name, act in (("Undo", self.undo_action), ("Redo", self.redo_action)):
            b = self._toolbar_buttons[name]
            b.setEnabled(act.isEnabled())
            b.setToolTip(act.toolTip())

    def _load_source(self, ref) -> None:
        """A new source: reader, pyramid (a job, drawn while it fills), spectrogram provider."""
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self._pyramid = None
        self._after = None
        self._spectrum = None
        self.roomtone_panel.set_spectrum(None, None)
        self._source_key = (ref.path, ref.sha256) if ref is not None else None
        for v in (self.before_view, self.after_view):
            v.set_holes(None)
        self._loudness_before = self._loudness_after = None
        if self._loudness_job is not None:
            self._loudness_job.cancel()
            self._loudness_job = None
        if ref is None or not Path(ref.path).exists():
            msg = "Open an audio file (Ctrl+O) or drop one here" if ref is None else (
                f"{Path(ref.path).name} is missing — File › Relink Source…")
            self.waveform.set_layer("before", None)
            self.waveform.set_layer("after", None)
            self.overview.set_pyramid(None)
            self.before_view.set_provider(None, message=msg)
            self.after_view.set_provider(None, message="")
            self.loudness_view.set_timelines(None, None, message="")
            self.format_label.setText("")
            return
        try:
            self._reader = AudioReader(ref.path)
        except RoomtoneError as exc:
            self.report_error(exc)
            return
        r = self._reader
        path = ref.path
        pyr = self._start_pyramid(path)
        self._pyramid = pyr
        self.waveform.set_layer("before", pyr, self._reader)
        self.waveform.set_layer("after", None)
        self.overview.set_pyramid(pyr)
        nyq = r.sample_rate / 2
        dur = r.frames / r.sample_rate
        for v in (self.before_view, self.after_view):
            v.set_frequency_range(nyq)
            v.set_duration(dur, r.sample_rate)
        self.chain_panel.set_sample_rate(r.sample_rate)
        self.zoom_fit()
        n_fft = default_n_fft(r.sample_rate)
        self.before_view.set_provider(self._tile_provider(path, n_fft), key=("before", path, n_fft))
        self.after_view.set_provider(None, message="Press Apply (Ctrl+Enter) to hear and see the chain's result")
        self._request_loudness(path)
        ch = {1: "mono", 2: "stereo"}.get(r.channels, f"{r.channels} ch")
        self.format_label.setText(f"{r.sample_rate / 1000:g} kHz · {ch} · {r.info.subtype.replace('PCM_', '')}-bit · "
                                  f"{format_time(dur, decimals=1)}" if r.info.subtype.startswith("PCM_") else
                                  f"{r.sample_rate / 1000:g} kHz · {ch} · {r.info.subtype.lower()} · {format_time(dur, decimals=1)}")
        self._request_spectrum()
        self._request_room_decay()

    def _pyramid_done(self, job) -> None:
        if self._job_failed(job) or job.result is not self._pyramid:
            return
        self.waveform.redraw()
        self.overview.refresh()
        self._update_status()

    @staticmethod
    def _tile_provider(path: str | Path, n_fft: int):
        def provider(a, b, columns, cancel):
            with AudioReader(path) as reader:
                return spectrogram_tile(reader, a, b, columns=columns, n_fft=n_fft, cancel=cancel).db
        return provider

    @staticmethod
    def _difference_provider(before: str | Path, after: str | Path, n_fft: int):
        def provider(a, b, columns, cancel):
            with AudioReader(before) as r0, AudioReader(after) as r1:
                t0 = spectrogram_tile(r0, a, b, columns=columns, n_fft=n_fft, cancel=cancel)
                t1 = spectrogram_tile(r1, a, b, columns=columns, n_fft=n_fft, cancel=cancel)
            return difference_db(t0, t1)
        return provider

    def _request_spectrum(self) -> None:
        """The file's long-term spectrum for the room-tone panel, at the profile's FFT size."""
        src = self.session.project.source
        if src is None or self._reader is None:
            return
        prof = self.session.project.profile
        n_fft = prof.n_fft if prof is not None else default_n_fft(src.sample_rate)
        if self._spectrum is not None and self._spectrum[:2] == (n_fft, src.path):
            return
        path = src.path

        def work(progress, cancelled):
            with AudioReader(path) as reader:
                return long_term_spectrum(reader, n_fft=n_fft, cancel=cancelled)

        def done(job):
            if self._job_failed(job) or self.session.project.source is None or self.session.project.source.path != path:
                return
            freqs = np.arange(n_fft // 2 + 1) * (src.sample_rate / n_fft)
            self._spectrum = (n_fft, path, freqs, job.result)
            self.roomtone_panel.set_spectrum(freqs, job.result)

        self.jobs.submit("Long-term spectrum", work, done, visible=False)

    def _request_room_decay(self) -> None:
        """The room's decay time (RT60, blind, from speech offsets) for the room-tone panel."""
        src = self.session.project.source
        if src is None:
            return
        path = src.path
        self.roomtone_panel.set_room_decay(None)

        def work(progress, cancelled):
            from dsp.dereverb import estimate_rt60

            with AudioReader(path) as reader:
                return estimate_rt60(reader)

        def done(job):
            if self._job_failed(job) or self.session.project.source is None or self.session.project.source.path != path:
                return
            self.roomtone_panel.set_room_decay(job.result)

        self.jobs.submit("Room decay time", work, done, visible=False)

    # == selection / cursor ====================================================================
    def _duration(self) -> float:
        src = self.session.project.source
        return src.duration_s if src is not None else 0.0

    def _selecting(self, t0: float, t1: float, lo, hi, finished: bool) -> None:
        dur = self._duration()
        t0, t1 = max(0.0, min(t0, dur)), max(0.0, min(t1, dur))
        if lo is not None:
            nyq = self.before_view.nyquist
            lo, hi = max(0.0, min(lo, nyq)), max(0.0, min(hi, nyq))
            if hi - lo < 1.0:
                lo = hi = None
        if not finished:
            self._preview_selection = (t0, t1, lo, hi)
            self._show_selection(None, preview=self._preview_selection)
            return
        self._preview_selection = None
        if t1 - t0 <= 0:
            self._show_selection(self.session.project.selection)
            return
        self._guard(self.session.set_selection, Selection.between(t0, t1, lo, hi))

    def _show_selection(self, sel, preview=None) -> None:
        if preview is not None:
            t0, t1, lo, hi = preview
        elif sel is not None:
            t0, t1, lo, hi = sel.start_s, sel.end_s, sel.low_hz, sel.high_hz
        else:
            t0 = t1 = lo = hi = None
        self.waveform.show_selection(t0, t1)
        self.loudness_view.show_selection(t0, t1)
        for v in (self.before_view, self.after_view):
            v.show_selection(t0, t1, lo, hi)
        self._update_status()

    def _clicked(self, t: float) -> None:
        t = max(0.0, min(t, self._duration()))
        self.seek(t)
        if self.session.project.selection is not None:
            self._guard(self.session.set_selection, None)

    def _hovered(self, t: float, f: float) -> None:
        self._hover_s = t
        src = self.session.project.source
        if src is None:
            return
        text = f"Mouse {format_time(max(0.0, t))}"
        sender = self.sender()
        if sender in (self.before_view.vb, self.after_view.vb):
            text += f"  ·  {f / 1000:.2f} kHz" if f >= 1000 else f"  ·  {max(0.0, f):.0f} Hz"
        elif sender is self.loudness_view.vb:
            text += self.loudness_view.readout(t)
        self.position_label.setText(text)

    def select_all(self) -> None:
        d = self._duration()
        if d > 0:
            self._guard(self.session.set_selection, Selection(0.0, d))

    # == zoom ==================================================================================
    def zoom(self, factor: float) -> None:
        self.waveform.vb.zoom_time(factor, centre=self.monitor.position_s if self.monitor.playing else None)

    def zoom_fit(self) -> None:
        d = self._duration()
        if d > 0:
            self.waveform.setXRange(0.0, d, padding=0)

    def zoom_to_selection(self) -> None:
        sel = self.session.project.selection
        if sel is not None and sel.duration_s > 0:
            pad = sel.duration_s * 0.05
            self.waveform.setXRange(max(0.0, sel.start_s - pad), sel.end_s + pad, padding=0)

    def _view_range_changed(self, *_args) -> None:
        (x0, x1), _ = self.waveform.vb.viewRange()
        self.overview.show_span(x0, x1)
        self._update_status()

    def _overview_span(self, a: float, b: float) -> None:
        d = self._duration()
        span = b - a
        if span <= 0 or d <= 0:
            return
        a = max(0.0, min(a, d - span))
        self.waveform.setXRange(a, a + span, padding=0)

    # == view toggles ==========================================================================
    def set_difference_mode(self, on: bool) -> None:
        if self.difference_action.isChecked() != on:
            self.difference_action.setChecked(on)  # re-enters through toggled
            return
        self.after_view.set_mode("difference" if on else "magnitude")
        self._update_after_state(force=True)

    def _set_holes_visible(self, on: bool) -> None:
        for v in (self.before_view, self.after_view):
            v.holes_item.setVisible(on and v is self.after_view)

    def _set_rect_mode(self, on: bool) -> None:
        for v in (self.before_view, self.after_view):
            v.vb.rectangle_mode = on

    # == room tone =============================================================================
    def learn_from_selection(self) -> None:
        p = self.session.project
        sel = p.selection
        if p.source is None or sel is None or sel.duration_s <= 0:
            self.report_error(ParameterError("select a pause with only room tone first (drag on the waveform), "
                                             "then press Learn from selection"))
            return
        region = (sel.start_s, sel.end_s)
        label = learn_label(*region)
        self.jobs.submit("Learning room tone", lambda progress, cancelled: estimate_profile(p, [region]),
                         lambda job: self._profile_done(job, p, label))

    def find_room_tone(self) -> None:
        p = self.session.project
        if p.source is None:
            self.report_error(ParameterError("open an audio file first"))
            return
        self.jobs.submit("Finding room tone", lambda progress, cancelled: estimate_profile(p, None),
                         lambda job: self._profile_done(job, p, FIND_LABEL))

    def _profile_done(self, job, project, label: str) -> None:
        if self._job_failed(job):
            return
        if self.session.project.source != project.source:
            return  # another file was opened meanwhile
        self._guard(self.session.set_profile, job.result, label)
        self.side_tabs.setCurrentWidget(self.roomtone_panel)

    def _load_profile_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load room-tone profile", self._last_folder(), "Profile (*.json)")
        if path:
            self._guard(self.session.load_profile_file, path)

    def _save_profile_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save room-tone profile",
                                              str(Path(self._last_folder()) / "roomtone-profile.json"), "Profile (*.json)")
        if path:
            self._guard(self.session.save_profile_file, path)

    # == apply / export =======================================================================
    def apply_chain(self) -> None:
        """Render the chain into the AFTER view as a job (progress, cancel)."""
        project = _listening_to(self.session.project, "processed")
        src = project.source
        if src is None:
            self.report_error(ParameterError("open an audio file first (Ctrl+O)"))
            return
        if self._apply_job is not None:
            self._apply_job.cancel()
        self._render_count += 1
        out = self._render_dir / f"after-{self._render_count}.wav"

        def work(progress, cancelled):
            return render_preview(project, out, progress, cancelled)

        self._apply_job = self.jobs.submit("Applying the chain", work, self._apply_done)

    def _apply_done(self, job) -> None:
        if job is self._apply_job:
            self._apply_job = None
        if self._job_failed(job):
            return
        result: RenderResult = job.result
        cur = self.session.project.source
        if cur is None or cur.path != result.project.source.path:
            return
        old = self._after
        self._after = result
        if old is not None and old.path != result.path:
            old.path.unlink(missing_ok=True)
        self.waveform.set_layer("after", result.pyramid)
        self.overview.set_pyramid(self._pyramid, result.pyramid)
        self._update_after_state(force=True)
        n = len(result.holes.regions) if result.holes is not None else 0
        self.statusBar().showMessage(
            f"Applied in {result.seconds:.1f} s" + (f" · {n} spectral hole{'s' if n != 1 else ''} found" if result.holes is not None else ""),
            6000)

    def render_is_current(self) -> bool:
        r, p = self._after, _listening_to(self.session.project, "processed")
        return r is not None and r.project.source == p.source and r.project.chain == p.chain and profiles_equal(
            r.project.profile, p.profile)

    def _update_after_state(self, force: bool = False) -> None:
        r = self._after
        diff = self.difference_action.isChecked()
        if r is None:
            if self.session.project.source is not None:
                self.after_view.set_provider(None, message="Press Apply (Ctrl+Enter) to hear and see the chain's result")
            self.after_view.set_title("AFTER")
            self.after_view.set_holes(None)
            return
        src = self.session.project.source
        n_fft = default_n_fft(src.sample_rate) if src else 2048
        if diff:
            provider = self._difference_provider(src.path, r.path, n_fft)
            key = ("difference", str(r.path), n_fft)
        else:
            provider = self._tile_provider(r.path, n_fft)
            key = ("after", str(r.path), n_fft)
        self.after_view.set_provider(provider, key=key)
        title = "REMOVED ENERGY (dB)" if diff else "AFTER"
        if r.holes is not None:
            title += f"  ·  {len(r.holes.regions)} holes"
        if not self.render_is_current():
            title += "  ·  out of date — press Apply"
        self.after_view.set_title(title)
        self.after_view.set_holes(_hole_regions(r.holes))
        self.after_view.holes_item.setVisible(self.holes_action.isChecked())
        self._show_loudness()

    # == loudness view ========================================================================
    def _request_loudness(self, path: str) -> None:
        """The source's loudness timeline (VAD phrases) as a job; the view fills in when it is done."""
        self.loudness_view.set_timelines(None, None)

        def done(job) -> None:
            if job is not self._loudness_job:
                return
            self._loudness_job = None
            if job.cancelled or self._source_key is None or self._source_key[0] != path:
                return
            if job.error is not None:
                self.loudness_view.set_timelines(None, None, message=f"Loudness not measured: {job.error}")
                return
            self._loudness_before = job.result
            self._show_loudness()

        self._loudness_job = self.jobs.submit(
            "Measuring loudness", lambda progress, cancelled: analyse_source(path, cancel=cancelled, progress=progress),
            done, visible=False)

    def _show_loudness(self) -> None:
        """Draw the source's timeline and, once Apply ran, the render's over the source's phrases."""
        before, r = self._loudness_before, self._after
        if before is None:
            return
        after = None
        if r is not None and r.loudness_energy is not None:
            if self._loudness_after is None or self._loudness_after[0] is not r:
                tl = build_timeline(r.loudness_energy, before.sample_rate, phrases=before.phrases)
                self._loudness_after = (r, tl)
            after = self._loudness_after[1]
        self.loudness_view.set_timelines(before, after, after_current=self.render_is_current())

    def export_dialog(self) -> None:
        src = self.session.project.source
        if src is None:
            self.report_error(ParameterError("open an audio file first (Ctrl+O)"))
            return
        fmt = format_for_source(self._reader.info) if self._reader else "wav24"
        from dsp.io import WRITE_FORMATS

        default = Path(self._last_folder()) / f"{Path(src.path).stem}_clean{WRITE_FORMATS[fmt][2]}"
        dlg = ExportDialog(default, fmt, self, loudness=self.session.project.loudness)
        if dlg.exec():
            self.export_to(dlg.path(), dlg.format(), dlg.content(), loudness=dlg.loudness())

    def export_to(self, path: str | Path, fmt: str | None = None, content: str = "processed", *,
                  loudness: str | None = None):
        """Export the current project as a job (same path as the CLI); returns the Job.

        ``content`` is what the file holds: ``"processed"``, ``"removed"`` or ``"original"``
        (the render's listen setting, as ``roomtone clean --listen``); what is being heard
        (Hear) does not change it. ``loudness`` is the target (default: the project's, for a
        processed export; none for the others), as ``roomtone clean --loudness``.
        """
        project = self.session.project
        if project.source is None:
            self.report_error(ParameterError("open an audio file first (Ctrl+O)"))
            return None
        project = _listening_to(project, content)
        path = Path(path)
        if loudness is None:
            loudness = project.loudness if content == "processed" else "off"

        def work(progress, cancelled):
            return render_project(project, path, fmt, loudness=loudness, progress=progress, cancel=cancelled)

        def done(job):
            if self._job_failed(job):
                return
            self.settings.setValue("last_folder", str(path.parent))
            self.statusBar().showMessage(f"Exported {path.name} ({job.result.realtime_factor:.0f}× real time)", 8000)

        return self.jobs.submit(f"Exporting {path.name}", work, done)

    # == transport =============================================================================
    def toggle_play(self) -> None:
        """Space / ▶: pause where you are if playing, else play from the selection or the cursor."""
        m = self.monitor
        if m.playing:
            self._play_end = None
            m.stop()
            return
        sel = self.session.project.selection
        has_sel = sel is not None and sel.duration_s > 0
        start = sel.start_s if has_sel else float(m.position_s)
        if self._duration() > 0 and start >= self._duration() - 1e-3:
            start = 0.0  # at the end: play from the top
        looping = has_sel and self.loop_action.isChecked() and sel.duration_s >= 0.05
        self._guard(m.set_loop, sel.start_s if looping else None, sel.end_s if looping else None)
        self._play_end = sel.end_s if has_sel and not looping else None
        self._play_origin = start
        self._return_to = None
        try:
            m.play(start)
        except DeviceError as exc:
            self._play_end = None
            self._show_monitor_problem(str(exc))
            return
        except RoomtoneError as exc:
            self._play_end = None
            self.report_error(exc)
            return
        if not getattr(m, "available", True):
            self.statusBar().showMessage("No audio output: monitoring is not available in this build.", 3000)
        elif getattr(m, "state", "") == "preparing":
            self.statusBar().showMessage("Preparing monitoring (room tone and whole-file analyses)… "
                                         "playback starts when ready.", 4000)

    def stop(self) -> None:
        """■: stop and return the cursor to where playback started."""
        m = self.monitor
        was_playing = bool(m.playing)
        self._play_end = None
        m.stop()
        if was_playing and self._play_origin is not None:
            self._return_to = self._play_origin  # applied once the stop fade has finished

    def seek(self, t: float) -> None:
        self._play_end = None
        self._return_to = None
        if hasattr(self.monitor, "seek"):
            self.monitor.seek(t)
        else:
            self.monitor.position_s = t

    def _set_loop(self, on: bool) -> None:
        self.transport.loop_button.blockSignals(True)
        self.transport.loop_button.setChecked(on)
        self.transport.loop_button.blockSignals(False)
        self._update_loop()

    def _update_loop(self) -> None:
        """While playing: loop the selection now (or stop looping)."""
        m = self.monitor
        if not m.playing:
            return
        sel = self.session.project.selection
        if self.loop_action.isChecked() and sel is not None and sel.duration_s >= 0.05:
            self._play_end = None
            self._guard(m.set_loop, sel.start_s, sel.end_s)
        else:
            self._guard(m.set_loop, None)

    def _set_follow(self, on: bool) -> None:
        self.transport.set_follow(on)
        self.settings.setValue("view/follow_playhead", bool(on))

    def set_listen(self, mode: str) -> None:
        """What the headphones get: processed / original / removed / solo (the selected pass)."""
        m = self.monitor
        try:
            if mode == "solo":
                row = self.chain_panel.stage_list.currentRow()
                if not 0 <= row < len(self.session.project.chain.stages):
                    raise ParameterError("select the pass to solo in the Chain panel first")
                if hasattr(m, "set_solo"):
                    m.set_solo(row)
                m.set_listen("solo")
            else:
                m.set_listen(mode)
                if hasattr(m, "set_solo"):
                    m.set_solo(None)  # drop the reference chain: it costs a second render
        except RoomtoneError as exc:
            self.report_error(exc)
        self.transport.show_listen(str(getattr(m, "listen", mode)))

    def _solo_target_changed(self, row: int) -> None:
        stages = self.session.project.chain.stages
        label = None
        if 0 <= row < len(stages):
            from dsp.chain import stage_kind

            try:
                label = f"{row + 1}. {stage_kind(stages[row].kind).label}"
            except Exception:  # noqa: BLE001 - an unknown kind still has a name
                label = f"{row + 1}. {stages[row].kind}"
            if stages[row].bypass:
                label += " (bypassed: silent)"
        self.transport.set_solo_target(label)
        m = self.monitor
        if getattr(m, "listen", "") == "solo" and hasattr(m, "set_solo"):
            if label is None:
                self.set_listen("processed")
            else:
                m.set_solo(row)  # solo follows the selected pass

    def _reset_clip(self) -> None:
        if hasattr(self.monitor, "clear_clip"):
            self.monitor.clear_clip()

    def eventFilter(self, obj, ev):  # noqa: N802 - Qt naming
        """Space is Play/Pause everywhere in the window except in a free-text field.

        Number fields and lists would take the key for themselves (a spin box never needs a
        space); the shortcut wins there, so an editor can type a value and press Space to hear it.
        """
        if ev.type() == QEvent.Type.ShortcutOverride and ev.key() == Qt.Key.Key_Space and not (
                ev.modifiers() & ~Qt.KeyboardModifier.KeypadModifier):
            w = QApplication.focusWidget()
            if w is not None and w.window() in (self, getattr(self, "prosody_dock", None)) and not _is_free_text(w):
                ev.ignore()
                return True
        return False

    def _tick(self) -> None:
        """GUI timer (~30 Hz): playhead, transport readout, meters, monitor health; pyramid redraws."""
        m = self.monitor
        poll = getattr(m, "poll", None)
        if poll is not None:
            try:
                poll()
            except Exception:  # noqa: BLE001 - the timer must keep running
                log.exception("monitor poll failed")
        pos = float(getattr(m, "position_s", 0.0) or 0.0)
        playing = bool(getattr(m, "playing", False))
        if not playing and self._return_to is not None:
            target, self._return_to = self._return_to, None
            self.seek(target)
            pos = target
        if playing and self._play_end is not None and pos >= self._play_end:
            self._play_end = None
            m.stop()  # the selection has been played
        has_source = self.session.project.source is not None
        shown = round(pos, 4) if has_source else None
        if shown != self._playhead_shown:
            self._playhead_shown = shown
            for v in (self.waveform, self.before_view, self.after_view, self.loudness_view):
                v.set_playhead(shown)
            if shown is None:
                self.overview_playhead.hide()
            else:
                self.overview_playhead.setValue(shown)
                self.overview_playhead.show()
        if playing and has_source and self.follow_action.isChecked():
            self._follow(pos)
        self.transport.show_state(pos, playing)
        self.transport.show_listen(str(getattr(m, "listen", "processed")))
        meters = getattr(m, "meters", None)
        self.meters.set_reading(meters() if meters is not None else None)
        self._show_monitor_health()
        self._fit_status_bar()
        if self._pyramid is not None and not self._pyramid.complete and self._pyramid.frames_done:
            self.waveform.redraw()
            self.overview.refresh()

    def _follow(self, pos: float) -> None:
        (x0, x1), _ = self.waveform.vb.viewRange()
        span = x1 - x0
        if span <= 0 or span >= self._duration() - 1e-6:
            return
        if pos > x1 - 0.02 * span or pos < x0:
            a = max(0.0, min(pos - 0.02 * span, self._duration() - span))
            self.waveform.setXRange(a, a + span, padding=0)

    def _show_monitor_health(self) -> None:
        m = self.monitor
        err = getattr(m, "error", None)
        if err and err != self._shown_error:
            self._show_monitor_problem(err)
        under = int(getattr(m, "underruns", 0) or 0)
        if under:
            self.underrun_label.setText(f"⚠ {under} dropout{'s' if under != 1 else ''}")
            self.underrun_label.show()
        elif self.underrun_label.isVisible():
            self.underrun_label.hide()
        if not getattr(m, "available", False):
            text = "No audio output"
        else:
            state = str(getattr(m, "state", "off"))
            if state == "off":
                text = "Monitoring off" if err else "Output: idle"
            else:
                dev = str(getattr(m, "device_label", "") or "default output")
                if len(dev) > 32:
                    dev = dev[:31] + "…"
                lat = float(getattr(m, "output_latency_s", 0.0) or 0.0)
                text = f"Output: {dev}" + (f" · {lat * 1000:.1f} ms" if lat else "")
                if state == "playing" and self._banner_kind == "monitor" and not err:
                    self._hide_banner()  # monitoring works again
        if text != self.output_label.text():
            self.output_label.setText(text)

    # == monitoring problems (banner) ===========================================================
    def _build_banner(self) -> QFrame:
        self.banner = QFrame()
        self.banner.setObjectName("monitorBanner")
        self.banner.setStyleSheet(
            f"QFrame#monitorBanner {{ background: #3a2c14; border: 1px solid {theme.WARN}; border-radius: 4px; }}"
            f"QFrame#monitorBanner QLabel {{ color: {theme.TEXT}; }}")
        lay = QHBoxLayout(self.banner)
        lay.setContentsMargins(10, 4, 4, 4)
        icon = QLabel("⚠")
        icon.setStyleSheet(f"color: {theme.WARN}; font-size: 14pt;")
        lay.addWidget(icon)
        self.banner_label = QLabel("")
        self.banner_label.setWordWrap(True)
        lay.addWidget(self.banner_label, 1)
        self.banner_prefs = QPushButton("Audio Preferences…")
        self.banner_prefs.setToolTip("Choose another output device or buffer size.")
        self.banner_prefs.clicked.connect(self.open_preferences)
        self.banner_retry = QPushButton("Retry")
        self.banner_retry.setToolTip("Try the output device again and play (after reconnecting it).")
        self.banner_retry.clicked.connect(self._retry_monitoring)
        close = QToolButton()
        close.setText("✕")
        close.setToolTip("Hide this message (monitoring stays off until Play succeeds).")
        close.clicked.connect(self._hide_banner)
        for w in (self.banner_prefs, self.banner_retry, close):
            lay.addWidget(w)
        self.banner.hide()
        self._banner_kind = ""
        return self.banner

    def _show_monitor_problem(self, message: str) -> None:
        """A device or monitoring problem: say it in the window (non-modal); editing goes on."""
        self._shown_error = message
        self.monitor_errors.append(message)
        self._play_end = None
        self.banner_label.setText(f"<b>Monitoring is off.</b> {message}")
        self._banner_kind = "monitor"
        self.banner.show()
        self.statusBar().showMessage("Monitoring is off: see the message above the waveform.", 6000)

    def _hide_banner(self) -> None:
        self.banner.hide()
        self._banner_kind = ""

    def _retry_monitoring(self) -> None:
        """Retry: look for output devices again (one plugged in or a sound server started since
        launch), then play."""
        m = self.monitor
        if hasattr(m, "clear_error"):
            m.clear_error()
        self._shown_error = None
        self._hide_banner()
        if m.playing:
            return
        if not self._rescan_devices():
            return
        self.toggle_play()

    def _rescan_devices(self) -> bool:
        """Have the monitor enumerate the output devices again; False (and said) when it cannot."""
        m = self.monitor
        if not hasattr(m, "rescan_devices") or m.playing:
            return True
        try:
            m.rescan_devices()
        except DeviceError as exc:
            self._show_monitor_problem(str(exc))
            return False
        return True

    # == preferences, batch, prosody ============================================================
    def _restore_audio_settings(self) -> None:
        follow = self.settings.value("view/follow_playhead", True)
        self.follow_action.setChecked(str(follow).lower() not in ("false", "0"))
        self.transport.set_follow(self.follow_action.isChecked())
        m = self.monitor
        if not getattr(m, "available", False) or not hasattr(m, "configure"):
            return
        device, block = self._saved_output()
        try:
            from app.audio import OutputSettings

            cur = getattr(m, "output", None)
            if cur is not None and (cur.device, cur.block_size) == (device, block):
                return
            m.configure(OutputSettings(device=device, block_size=block))
        except RoomtoneError as exc:  # a bad saved value (or the device fails to reopen): say so, go on
            self._show_monitor_problem(str(exc))
        except ImportError:
            pass

    def _saved_output(self) -> tuple[str | None, int]:
        device = self.settings.value("audio/device", "")
        device = str(device) if device not in (None, "") else None
        try:
            block = int(self.settings.value("audio/block_size", 256))
        except (TypeError, ValueError):
            block = 256
        return device, block

    def open_preferences(self) -> None:
        from app.qt.preferences_dialog import PreferencesDialog

        m = self.monitor
        self._rescan_devices()  # list what is there now, not what was there at launch
        device, block = self._saved_output()
        rate = self._reader.sample_rate if self._reader is not None else 48000
        dlg = PreferencesDialog(device=device, block_size=block, apply=self.apply_output_settings,
                                latency_s=float(getattr(m, "output_latency_s", 0.0) or 0.0)
                                if getattr(m, "state", "off") != "off" else None,
                                sample_rate=rate, parent=self)
        self.preferences_dialog = dlg
        if self.show_dialogs:
            dlg.exec()

    def apply_output_settings(self, output) -> float | None:
        """Use ``output`` (an OutputSettings) for monitoring: reconfigure, open to check, remember.

        Returns the latency the device reports; raises DeviceError (and keeps the previous
        settings) when the device cannot be used.
        """
        m = self.monitor
        if getattr(m, "available", False) and hasattr(m, "configure"):
            previous = getattr(m, "output", None)
            try:
                m.configure(output)
                m.open()
            except RoomtoneError:
                if previous is not None:
                    try:
                        m.configure(previous)
                    except RoomtoneError:
                        pass
                raise
        self.settings.setValue("audio/device", output.device or "")
        self.settings.setValue("audio/block_size", int(output.block_size))
        if hasattr(m, "clear_error"):
            m.clear_error()
        self._shown_error = None
        if self._banner_kind == "monitor":
            self._hide_banner()
        lat = float(getattr(m, "output_latency_s", 0.0) or 0.0)
        return lat or None

    def open_batch_dialog(self) -> None:
        cls = _batch_dialog_class()
        if cls is None:
            self.report_error(ParameterError("batch processing is not available in this build"))
            return
        if self._batch_dialog is not None and self._batch_dialog.isVisible():
            self._batch_dialog.raise_()
            self._batch_dialog.activateWindow()
            return
        src = self.session.project.source
        in_dir = str(Path(src.path).parent) if src is not None else None
        try:
            dlg = cls(in_dir, None, self)
        except Exception as exc:  # noqa: BLE001 - a broken dialog must not take the window down
            self.report_error(exc)
            return
        self._batch_dialog = dlg
        if self.show_dialogs:
            dlg.show()

    def _build_prosody_dock(self) -> None:
        self.prosody_dock = None
        self.prosody_panel = None
        try:
            from app.qt.prosody_panel import ProsodyPanel

            panel = ProsodyPanel()
        except Exception:  # noqa: BLE001 - the window works without it
            log.exception("prosody panel unavailable")
            return
        panel.seekRequested.connect(self._prosody_seek)
        dock = QDockWidget("Prosody checks", self)
        dock.setObjectName("prosodyDock")
        dock.setWidget(panel)
        dock.setToolTip("Voice-clone prosody checks for clips or a folder; click a finding to hear it.")
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
        dock.hide()
        dock.visibilityChanged.connect(self._size_prosody_dock)
        self.prosody_dock, self.prosody_panel = dock, panel

    def _size_prosody_dock(self, visible: bool) -> None:
        """Docked, the prosody panel gets about 45 % of the window's height (its tables and three
        stacked plots are unreadable in the few rows the dock would otherwise get)."""
        dock = self.prosody_dock
        if not visible or dock is None or dock.isFloating():
            return
        want = max(dock.minimumSizeHint().height(), int(PROSODY_DOCK_SHARE * self.height()))
        if dock.height() < want:
            self.resizeDocks([dock], [want], Qt.Orientation.Vertical)
        # it sits under the views only (the processing panel keeps the right-hand side): give it
        # the width the processing panel does not need
        side = max(self.dock.minimumSizeHint().width(), int(PROCESSING_DOCK_SHARE * self.width()))
        if self.dock.isVisible() and self.dock.width() > side:
            self.resizeDocks([self.dock], [side], Qt.Orientation.Horizontal)

    def _prosody_seek(self, seconds: float) -> None:
        """A finding in the prosody panel: move the playhead there (in the open file)."""
        clip = getattr(self.prosody_panel, "current_clip", None)
        src = self.session.project.source
        clip_path = getattr(clip, "path", None)
        if clip_path and src is not None and Path(clip_path).resolve() != Path(src.path).resolve():
            self.statusBar().showMessage(
                f"That finding is in {Path(clip_path).name}; open it (File › Open) to hear it here.", 6000)
            return
        if src is None:
            return
        t = max(0.0, min(float(seconds), self._duration()))
        self.seek(t)
        (x0, x1), _ = self.waveform.vb.viewRange()
        if not x0 <= t <= x1:
            span = x1 - x0
            a = max(0.0, min(t - span / 4, self._duration() - span))
            self.waveform.setXRange(a, a + span, padding=0)

    # == status ================================================================================
    def _fit_status_bar(self) -> None:
        """Give the transient message and the job's label the room they need in the status bar.

        QStatusBar clips its message at the first permanent widget and squeezes the permanent
        widgets when they do not fit. The readouts (selection, position, levels, format) are
        shown in that order of importance while they fit next to the job view, the output
        label and the current message, and hidden (until there is room again) otherwise.
        """
        sb = self.statusBar()
        width = sb.width()
        if width <= 0:
            return
        gap = STATUS_SPACING
        msg = sb.currentMessage()
        budget = width - STATUS_MARGINS - (sb.fontMetrics().horizontalAdvance(msg) + gap if msg else 0)
        used = sum(w.sizeHint().width() + gap for w in (self.jobs_view, self.underrun_label, self.output_label)
                   if not w.isHidden())
        for w in self._status_readouts:
            need = w.sizeHint().width() + gap
            show = used + need <= budget
            if show:
                used += need
            if w.isHidden() == show:
                w.setVisible(show)

    def resizeEvent(self, ev):  # noqa: N802 - Qt naming
        super().resizeEvent(ev)
        self._fit_status_bar()

    def _update_status(self) -> None:
        sel = self.session.project.selection if self._preview_selection is None else None
        pv = self._preview_selection
        if pv is not None:
            a, b, lo, hi = pv
        elif sel is not None:
            a, b, lo, hi = sel.start_s, sel.end_s, sel.low_hz, sel.high_hz
        else:
            a = b = lo = hi = None
        if a is None:
            self.selection_label.setText("No selection")
        else:
            text = f"Selection {format_time(a)} – {format_time(b)} ({b - a:.3f} s)"
            if lo is not None:
                text += f" · {lo:.0f}–{hi:.0f} Hz"
            self.selection_label.setText(text)
        pyr = self._pyramid
        if pyr is None:
            self.levels_label.setText("")
            return
        if a is None or b <= a:
            (a, b), _ = self.waveform.vb.viewRange()
            where = "view"
        else:
            where = "selection"
        peak, rms = pyr.levels_db(max(0.0, a), b)
        self.levels_label.setText(f"{where}: peak {peak:.1f} · RMS {rms:.1f} dBFS")

    # == autosave / close ======================================================================
    def autosave_now(self) -> Path | None:
        if self.autosave is None:
            return None
        try:
            return self.autosave.save_if_dirty(self.session)
        except (RoomtoneError, OSError) as exc:
            self.statusBar().showMessage(f"Autosave failed: {exc}", 6000)
            return None

    def offer_recovery(self) -> bool:
        """At start: offer the autosave a crashed run left behind. True if it was restored."""
        if self.autosave is None:
            return False
        cand = self.autosave.recovery_candidate()
        if cand is None:
            return False
        if self.show_dialogs:
            answer = QMessageBox.question(
                self, "Recover unsaved work?",
                "Roomtone did not close properly last time. Restore the work it autosaved?\n\n"
                f"{cand}", QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.Yes)
            if answer != QMessageBox.StandardButton.Yes:
                self.autosave.discard()
                return False
        try:
            problems = self.session.recover(cand)
        except RoomtoneError as exc:
            self.report_error(exc)
            return False
        for problem in problems:
            self.report_error(InputError(problem.message))
        return True

    def closeEvent(self, ev):
        if self.ask_before_closing and self.session.dirty and self.session.project.source is not None:
            answer = QMessageBox.question(
                self, "Save changes?", f"Save the changes to {self.session.title.rstrip(' *')} before closing?",
                QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
                QMessageBox.StandardButton.Save)
            if answer == QMessageBox.StandardButton.Cancel:
                ev.ignore()
                return
            if answer == QMessageBox.StandardButton.Save and self.save_project() is None:
                ev.ignore()
                return
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.sync()
        self.shutdown()
        if self.autosave is not None:
            self.autosave.mark_clean_exit()
        super().closeEvent(ev)

    def shutdown(self) -> None:
        """Stop timers and jobs, close files, remove the render cache (idempotent)."""
        self._ui_timer.stop()
        self._autosave_timer.stop()
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)
        self.bridge.close()
        # detach the views from files and job runners: a redraw or tile request already queued
        # (a resize, a scroll) must find nothing to read once the reader and runners are closed
        for v in (self.before_view, self.after_view):
            v.set_provider(None)
        self.waveform.set_layer("before", None)
        self.waveform.set_layer("after", None)
        if self.prosody_panel is not None:
            self.prosody_panel.shutdown()
        if self._batch_dialog is not None:
            self._batch_dialog.close()
            self._batch_dialog = None
        for poller in (self.jobs, self.tile_jobs):
            poller.shutdown()
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        try:
            self.monitor.stop()
            if hasattr(self.monitor, "shutdown"):
                self.monitor.shutdown()
        except Exception:  # noqa: BLE001 - a broken monitor must not block closing
            pass
        shutil.rmtree(self._render_dir, ignore_errors=True)

    def _about(self) -> None:
        from dsp import __version__

        QMessageBox.about(self, "About Roomtone",
                          f"<b>Roomtone {__version__}</b><br>Audio restoration for spoken word: light multi-pass "
                          "denoising against the learned room tone, spectral-hole refill, dry/wet.<br>GPL-3.0-or-later.")

    # == test helpers ==========================================================================
    def wait_for_jobs(self, timeout_s: float = 60.0) -> bool:
        """Process events until all jobs (and tiles) are back (tests and --self-test)."""
        ok = self.jobs.wait_idle(timeout_s)
        ok = self.tile_jobs.wait_idle(timeout_s) and ok
        return ok


__all__ = ["DEMO", "MainWindow", "RenderResult"]
