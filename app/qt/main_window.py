"""The workstation window: overview, waveform, before/after spectrograms, loudness, chain and room tone.

The window binds views to the Qt-free :class:`~app.session.Session` (STYLE.md 1): every edit is
a Session mutator (undoable, labelled), and ``_project_changed`` echoes each new Project into
the panels. Nothing heavy runs on the GUI thread (ARCHITECTURE.md, Threads): the waveform
pyramid, spectrogram tiles, Apply (render + hole detection), room-tone analyses and export are
jobs (:class:`~app.qt.session_bridge.JobPoller`), polled from timers; their results come back
here and, where they change the Project, go through the Session.

The window lays out the views, owns the source (reader, waveform pyramid) and keeps the public
surface; its collaborators each do one job: ``window_actions`` (menus, toolbars),
``project_files`` (open, save, relink, demo, autosave), ``after_view_controller`` (Apply and
the AFTER pane), ``loudness_controller`` (the Loudness view), ``roomtone_controller``,
``playback_controller`` (transport), ``output_controller`` (the output device, its banner and
Preferences), ``recent_files``, ``prosody_dock_controller``, ``status_bar_view`` and
``space_key_filter``. Export is ``app.session.render_project`` (the CLI's ``clean_file``), so an
exported file equals a CLI render bit for bit.
"""

from __future__ import annotations

import logging
import traceback
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QByteArray, QSettings, QSize, Qt, QTimer
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.audio.project_monitor import NullMonitor
from app.overview import WaveformPyramid
from app.qt import theme
from app.qt.after_view_controller import APPLY_MESSAGE, AfterViewController, listening_to
from app.qt.chain_panel import ChainPanel
from app.qt.edit_controller import EditController
from app.qt.export_dialog import ExportDialog
from app.qt.history_view import HistoryDock
from app.qt.loudness_controller import LoudnessController
from app.qt.loudness_view import LoudnessView
from app.qt.markers_view import MarkersDock
from app.qt.monitor_banner_view import MonitorBannerView
from app.qt.navigation_controller import (
    NavigationController,
    NavigationKeyFilter,
    add_navigation_actions,
)
from app.qt.output_controller import OutputController
from app.qt.overview_view import OverviewView
from app.qt.playback_controller import PlaybackController
from app.qt.project_files import DEMO, ProjectFiles, is_openable
from app.qt.prosody_dock_controller import ProsodyDockController
from app.qt.recent_files import RecentFiles
from app.qt.roomtone_controller import RoomToneController
from app.qt.roomtone_panel import RoomtonePanel
from app.qt.session_bridge import JobPoller, SessionBridge
from app.qt.space_key_filter import SpaceKeyFilter
from app.qt.spectrogram_controller import SpectrogramController
from app.qt.spectrogram_view import SpectrogramView
from app.qt.status_bar_view import StatusBarView
from app.qt.waveform_view import WaveformView
from app.qt.window_actions import batch_dialog_class, build_actions
from app.remedies import explain
from app.session import Autosave, JobRunner, Selection, Session, render_project
from app.session.preview import RenderResult
from app.session.project import profiles_equal
from app.timecode import format_time
from dsp import __version__
from dsp.errors import Cancelled, DeviceError, ParameterError, RoomtoneError
from dsp.io import WRITE_FORMATS, AudioReader, audio_info, format_for_source

log = logging.getLogger(__name__)

AUTOSAVE_MS = 30_000
TICK_MS = 33  # the GUI polls playhead, meters and monitor health at ~30 Hz


#: The window's size on a first start, when the screen has room for it.
FIRST_SIZE = (1500, 940)


def first_size(screen) -> QSize:
    """:data:`FIRST_SIZE`, shrunk to fit ``screen``'s available area (a 1280 x 800 laptop gets the
    whole of it, not a window whose right side is off the screen)."""
    if screen is None:
        return QSize(*FIRST_SIZE)
    room = screen.availableGeometry().size()
    return QSize(min(FIRST_SIZE[0], room.width()), min(FIRST_SIZE[1], room.height()))


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
        self._reader: AudioReader | None = None
        self._pyramid: WaveformPyramid | None = None
        self._source_key: Any = None
        self._pyramid_cache: tuple | None = None
        self._preview_selection: tuple | None = None
        self._hover_s: float | None = None
        self._batch_dialog = None
        self.after = AfterViewController(self)
        self.playback = PlaybackController(self)
        self.output = OutputController(self)
        self.roomtone = RoomToneController(self)
        self.files = ProjectFiles(self)
        self.navigation = NavigationController(self)
        self.monitor_errors = self.output.errors  # device / monitoring problems shown in the banner
        self.setWindowTitle("Roomtone")
        self.setAcceptDrops(True)
        self._build_ui()
        self.spectrogram = SpectrogramController(self)  # settings of every spectrogram view
        build_actions(self)
        add_navigation_actions(self, self.transport_menu)
        self.recent = RecentFiles(self.settings, self.recent_menu, self.open_path)
        self.bridge = SessionBridge(self.session, self)
        self.bridge.projectChanged.connect(self._project_changed)
        self.history_panel = HistoryDock(self)
        self.markers_panel = MarkersDock(self)
        self._start_timers()
        self._restore_settings()
        self.playback.restore_follow()
        self.output.restore_settings()
        self._project_changed(None, self.session.project)
        self._space_filter = SpaceKeyFilter(self)
        self._nav_filter = NavigationKeyFilter(self)
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self._space_filter)  # Space plays even from a number field
            app.installEventFilter(self._nav_filter)  # arrows, Home, End stay with a focused editor

    def _start_timers(self) -> None:
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

    @property
    def _after(self) -> RenderResult | None:
        """The render shown in the AFTER view (kept for tests and --self-test)."""
        return self.after.result

    # == construction =========================================================================
    def _build_ui(self) -> None:
        self._build_views()
        centre = QWidget()
        lay = QVBoxLayout(centre)
        lay.setContentsMargins(6, 6, 6, 0)
        lay.setSpacing(4)
        lay.addWidget(self._build_banner())
        lay.addWidget(self.overview)
        lay.addWidget(self._build_view_splitter(), 1)
        self.setCentralWidget(centre)
        self._build_processing_dock()
        self.prosody = ProsodyDockController(self)
        self.edits = EditController(self)
        self.prosody_dock = self.prosody.dock
        self._build_status_bar()
        self.loudness = LoudnessController(self.loudness_view, self.jobs,
                                           lambda: (self.after.result, self.after.is_current()))

    def _build_views(self) -> None:
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

    def _build_view_splitter(self) -> QSplitter:
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
        return split

    def _build_banner(self) -> MonitorBannerView:
        """Monitoring problems, above the waveform (see OutputController.show_problem)."""
        self.banner = MonitorBannerView()
        self.banner_label = self.banner.label
        self.banner_prefs = self.banner.prefs_button
        self.banner_retry = self.banner.retry_button
        self.banner_prefs.clicked.connect(self.open_preferences)
        self.banner_retry.clicked.connect(self.output.retry)
        return self.banner

    def _build_processing_dock(self) -> None:
        self.chain_panel = ChainPanel(self.session)
        self.chain_panel.errorRaised.connect(self.report_error)
        self.roomtone_panel = RoomtonePanel()
        self.roomtone_panel.learnRequested.connect(self.roomtone.learn_from_selection)
        self.roomtone_panel.findRequested.connect(self.roomtone.find_room_tone)
        self.roomtone_panel.loadRequested.connect(self.roomtone.load_profile_dialog)
        self.roomtone_panel.saveRequested.connect(self.roomtone.save_profile_dialog)
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

    def _build_status_bar(self) -> None:
        sb = StatusBarView(self.jobs)
        self.setStatusBar(sb)
        self.status_bar = sb
        self.position_label, self.selection_label = sb.position_label, sb.selection_label
        self.format_label, self.levels_label = sb.format_label, sb.levels_label
        self.jobs_view, self.underrun_label, self.output_label = sb.jobs_view, sb.underrun_label, sb.output_label

    # == settings ==============================================================================
    def _restore_settings(self) -> None:
        geo = self.settings.value("window/geometry")
        if isinstance(geo, QByteArray) and not geo.isEmpty():
            self.restoreGeometry(geo)
        else:
            self.resize(first_size(self.screen()))
        state = self.settings.value("window/state")
        if isinstance(state, QByteArray) and not state.isEmpty():
            self.restoreState(state)
        self.recent.rebuild_menu()

    def recent_files(self) -> list[str]:
        return self.recent.files()

    def _last_folder(self) -> str:
        return self.recent.last_folder()

    # == errors ================================================================================
    def report_error(self, exc: BaseException, tb: str | None = None) -> None:
        """A user mistake (RoomtoneError) becomes a short dialog; anything else is a bug report."""
        self.errors.append(exc)
        if isinstance(exc, Cancelled):
            self.statusBar().showMessage("Cancelled.", 4000)
            return
        if isinstance(exc, RoomtoneError):
            title, text, detail = "Roomtone", explain(exc, "gui"), None
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
    def open_path(self, path: str | Path) -> bool:
        """Open an audio file (new project on it) or a project file."""
        return self.files.open_path(path)

    def open_audio(self, path: str | Path, then=None) -> bool:
        return self.files.open_audio(path, then)

    def open_project(self, path: str | Path) -> bool:
        return self.files.open_project(path)

    def save_project(self, ask: bool = False, path: str | Path | None = None) -> Path | None:
        return self.files.save_project(ask, path)

    def open_demo(self) -> bool:
        """Open the demo episode, its room tone learned and the podcast preset applied, and Apply."""
        return self.files.open_demo()

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

    # drag and drop
    def dragEnterEvent(self, ev):
        urls = ev.mimeData().urls() if ev.mimeData().hasUrls() else []
        if urls and is_openable(urls[0].toLocalFile()):
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
        self.spectrogram.project_changed(old, new)
        sel = new.selection
        self._preview_selection = None
        self._show_selection(sel)
        self.chain_panel.set_project(new)
        self.roomtone_panel.set_state(profile=new.profile, has_source=new.source is not None,
                                      has_selection=sel is not None and sel.duration_s > 0)
        if new.profile is not None and (old is None or not profiles_equal(old.profile, new.profile)):
            self.roomtone.request_spectrum()
        self.waveform.set_room_tone(new.profile)
        self.after.update()
        self.edits.project_changed(new)
        self._echo_to_monitor(new)
        if source_changed and str(getattr(self.monitor, "listen", "processed")) != "processed":
            self.set_listen("processed")  # a new file starts by hearing the chain's result
        self.playback.solo_target_changed(self.chain_panel.stage_list.currentRow())
        if old is not None and old.selection != new.selection:
            self.playback.update_loop()
        self._update_undo_actions()
        self._update_title()
        self._update_status()

    def _echo_to_monitor(self, project) -> None:
        if hasattr(self.monitor, "set_project"):
            try:
                self.monitor.set_project(project)
            except DeviceError as exc:
                self.output.show_problem(str(exc))
            except RoomtoneError as exc:
                self.report_error(exc)

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
        self.after.forget()
        self.roomtone.forget_spectrum()
        self._source_key = (ref.path, ref.sha256) if ref is not None else None
        for v in (self.before_view, self.after_view):
            v.set_holes(None)
        self.waveform.set_events(None)
        self.loudness.reset()
        if ref is None or not Path(ref.path).exists():
            self._show_no_source(ref)
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
        self.spectrogram.show_source(path, r.sample_rate)
        self.after_view.set_provider(None, message=APPLY_MESSAGE)
        self.loudness.request(path)
        self.status_bar.show_format(r)
        self.roomtone.request_spectrum()
        self.roomtone.request_room_decay()

    def _show_no_source(self, ref) -> None:
        """No source, or its file is missing: empty views that say what to do."""
        msg = "Open an audio file (Ctrl+O) or drop one here" if ref is None else (
            f"{Path(ref.path).name} is missing — File › Relink Source…")
        self.waveform.set_layer("before", None)
        self.waveform.set_layer("after", None)
        self.overview.set_pyramid(None)
        self.before_view.set_provider(None, message=msg)
        self.after_view.set_provider(None, message="")
        self.loudness_view.set_timelines(None, None, message="")
        self.format_label.setText("")

    def _pyramid_done(self, job) -> None:
        if self._job_failed(job) or job.result is not self._pyramid:
            return
        self.waveform.redraw()
        self.overview.refresh()
        self._update_status()

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

    @staticmethod
    def _bounds(sel, preview=None) -> tuple:
        """(t0, t1, low_hz, high_hz) of a selection being dragged or set (all None without one)."""
        if preview is not None:
            return preview
        if sel is not None:
            return sel.start_s, sel.end_s, sel.low_hz, sel.high_hz
        return None, None, None, None

    def _show_selection(self, sel, preview=None) -> None:
        t0, t1, lo, hi = self._bounds(sel, preview)
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
        """Zoom keeping the playhead where it is on screen (NavigationController)."""
        self.navigation.zoom(factor)

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
        self.after.update(force=True)

    def _set_holes_visible(self, on: bool) -> None:
        for v in (self.before_view, self.after_view):
            v.holes_item.setVisible(on and v is self.after_view)

    def _set_rect_mode(self, on: bool) -> None:
        for v in (self.before_view, self.after_view):
            v.vb.rectangle_mode = on

    # == room tone (RoomToneController) ========================================================
    def learn_from_selection(self) -> None:
        self.roomtone.learn_from_selection()

    def find_room_tone(self) -> None:
        self.roomtone.find_room_tone()

    @property
    def prosody_panel(self):
        """The prosody panel, built on first use (None where it cannot be built)."""
        return self.prosody.ensure_panel()

    # == apply / export =======================================================================
    def apply_chain(self) -> None:
        """Render the chain into the AFTER view as a job (progress, cancel)."""
        self.after.apply()

    def render_is_current(self) -> bool:
        return self.after.is_current()

    def export_dialog(self) -> None:
        src = self.session.project.source
        if src is None:
            self.report_error(ParameterError("open an audio file first (Ctrl+O)"))
            return
        fmt = format_for_source(self._reader.info) if self._reader else "wav24"

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
        project = listening_to(project, content)
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

    # == transport (PlaybackController) ========================================================
    def toggle_play(self) -> None:
        """Space / ▶: pause where you are if playing, else play from the selection or the cursor."""
        self.playback.toggle_play()

    def stop(self) -> None:
        """■: stop and return the cursor to where playback started."""
        self.playback.stop()

    def seek(self, t: float) -> None:
        self.playback.seek(t)

    def set_listen(self, mode: str) -> None:
        """What the headphones get: processed / original / removed / solo (the selected pass)."""
        self.playback.set_listen(mode)

    def _tick(self) -> None:
        """GUI timer (~30 Hz): playhead, transport readout, meters, monitor health; pyramid redraws."""
        self.playback.tick()
        self.output.show_health()
        self.status_bar.fit()
        if self._pyramid is not None and not self._pyramid.complete and self._pyramid.frames_done:
            self.waveform.redraw()
            self.overview.refresh()

    # == preferences, batch ====================================================================
    def open_preferences(self) -> None:
        """Edit › Preferences: the headphone output (OutputController)."""
        self.output.open_preferences()

    def apply_output_settings(self, output) -> float | None:
        """Use ``output`` (an OutputSettings) for monitoring; see OutputController."""
        return self.output.apply_output_settings(output)

    def open_batch_dialog(self) -> None:
        cls = batch_dialog_class()
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

    # == status ================================================================================
    def resizeEvent(self, ev):  # noqa: N802 - Qt naming
        super().resizeEvent(ev)
        self.status_bar.fit()

    def _update_status(self) -> None:
        sel = self.session.project.selection if self._preview_selection is None else None
        a, b, lo, hi = self._bounds(sel, self._preview_selection)
        self.status_bar.show_selection(a, b, lo, hi)
        (x0, x1), _ = self.waveform.vb.viewRange()
        self.status_bar.show_levels(self._pyramid, a, b, (x0, x1))

    # == autosave / close ======================================================================
    def autosave_now(self) -> Path | None:
        return self.files.autosave_now()

    def offer_recovery(self) -> bool:
        """At start: offer the autosave a crashed run left behind. True if it was restored."""
        return self.files.offer_recovery()

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
            app.removeEventFilter(self._space_filter)
            app.removeEventFilter(self._nav_filter)
        self.bridge.close()
        # detach the views from files and job runners: a redraw or tile request already queued
        # (a resize, a scroll) must find nothing to read once the reader and runners are closed
        for v in (self.before_view, self.after_view):
            v.set_provider(None)
        self.waveform.set_layer("before", None)
        self.waveform.set_layer("after", None)
        if self.prosody.panel is not None:  # (never built: nothing to shut down)
            self.prosody.panel.shutdown()
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
        self.after.shutdown()

    def _about(self) -> None:
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
