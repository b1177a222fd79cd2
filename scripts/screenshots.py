"""Screenshots of the workstation on the demo episode, for the README (``make screenshots``).

Starts its own X server (``Xvfb :99 -screen 0 1280x800x24 -nolisten tcp``, a small laptop
screen: what fits there fits everywhere; ``ROOMTONE_SCREENSHOT_DISPLAY=:N`` uses a running one
instead), opens the demo with its project pre-built (room tone learned, podcast preset,
applied), and grabs the window:

* ``docs/screenshots/main_window.png``: before/after spectrograms with the hole overlay, the
  transport bar mid-playback (playhead on every view, output meters). There is no sound card
  under Xvfb, so a still monitor stands in: the playhead is placed on a word and the meters show
  what :class:`app.audio.meters.MeterHistory` measures on the rendered audio up to it, i.e. the
  reading the real monitor would show there.
* ``docs/screenshots/removed_energy.png``: zoomed in on speech with the removed-energy view
  and a time-frequency selection.
* ``docs/screenshots/spectrogram_settings.png``: View › Spectrogram Settings… open over the
  window, the spectrograms on a mel scale with their colour legends, the dB range automatic from
  the room tone (``screenshots.py spectrogram`` takes only this one).
* ``docs/screenshots/room_tone.png``: the room-tone panel (profile against the file's spectrum).
* ``docs/screenshots/chain_panel.png``: the chain panel on the room-tone gate (every setting's
  written label and unit).
* ``docs/screenshots/export_dialog.png``: the export dialog (what to export, the loudness
  target, the CLI's formats, file); ``screenshots.py export`` takes only this one.
* ``docs/screenshots/history_markers.png``: the demo with markers and a region on the waveform
  and the spectrograms, the Markers dock, the History dock (one step undone, so a greyed redo row
  shows), and the room tone found automatically (its spans in the strip along the waveform's
  top); ``screenshots.py markers`` takes only this one.
* ``docs/screenshots/prosody_docked.png``: the prosody panel docked under the views, on the dev
  prosody clips (skipped when ``/work/shared/data/prosody`` or ``ROOMTONE_PROSODY_CLIPS`` is absent).
* ``docs/screenshots/loudness_view.png``: the Loudness view on the 2-minute dev podcast (speakers
  taking turns; room tone found, podcast preset applied): short-term loudness before/after, the
  phrases coloured by level, the speaker-level spread (skipped without ``ROOMTONE_DEV_PODCAST``
  or the dev data). ``screenshots.py loudness`` takes only this one.
* ``docs/screenshots/mouth_events.png``: the dev podcast with the ``podcast-voice`` preset
  applied: what the de-click, de-plosive and de-ess detectors found, as lanes on the waveform
  (``screenshots.py mouth`` takes only this one).
* ``docs/screenshots/edits.png``: the demo with a few edits (a room-tone fill, a gain, a cut
  keeping room tone, a spectral repair) shaded on the waveform, the Edit Selection menu's
  operations listed in the Edits tab (``screenshots.py edits`` takes only this one).

Run under ``timeout``: a GUI script that hangs must not hang the build.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's code, whatever the environment has installed
OUT = REPO / "docs" / "screenshots"
DISPLAY = ":99"
SCREEN = (1280, 800)
WINDOW = (1280, 770)  # the screen less a panel's height
PROSODY_CLIPS = Path(os.environ.get("ROOMTONE_PROSODY_CLIPS", "/work/shared/data/prosody"))
DEV_PODCAST = Path(os.environ.get("ROOMTONE_DEV_PODCAST", "/work/shared/data/podcast/podcast_dev_2min_noisy.flac"))


def start_xvfb() -> subprocess.Popen | None:
    if os.environ.get("ROOMTONE_SCREENSHOT_DISPLAY"):
        os.environ["DISPLAY"] = os.environ["ROOMTONE_SCREENSHOT_DISPLAY"]
        return None
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        sys.exit("screenshots: Xvfb is not installed (apt-get install xvfb)")
    proc = subprocess.Popen([xvfb, DISPLAY, "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.environ["DISPLAY"] = DISPLAY
    os.environ.pop("QT_QPA_PLATFORM", None)
    sock = Path(f"/tmp/.X11-unix/X{DISPLAY[1:]}")
    for _ in range(100):
        if sock.exists() or proc.poll() is not None:
            break
        time.sleep(0.05)
    if proc.poll() is not None:
        sys.exit(f"screenshots: Xvfb {DISPLAY} did not start (is another server using {DISPLAY}?)")
    return proc


def settle(app, window, seconds: float = 0.6) -> None:
    window.wait_for_jobs(300)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)
    window.wait_for_jobs(300)
    app.processEvents()


def still_monitor():
    """A monitor frozen mid-playback (see the module docstring)."""
    from app.audio.project_monitor import NullMonitor

    class StillMonitor(NullMonitor):
        available = True
        device_label = "default output"
        output_latency_s = 0.0107

        def __init__(self) -> None:
            super().__init__()
            self.reading = None
            self.playing = False

        @property
        def state(self) -> str:
            return "playing" if self.playing else "stopped"

        def meters(self):
            return self.reading

    return StillMonitor()


def measured_reading(path: Path, at_s: float):
    """The meters' reading at ``at_s`` of the audio in ``path`` (3 s of history)."""
    from app.audio.meters import MeterHistory
    from dsp.io import AudioReader

    chunk = 256
    with AudioReader(path) as r:
        end = int(at_s * r.sample_rate) // chunk * chunk
        start = max(0, end - 3 * r.sample_rate) // chunk * chunk
        hist = MeterHistory(r.sample_rate, r.channels, chunk)
        x = r.read(start, end - start)
    for i in range(0, x.shape[1] - chunk + 1, chunk):
        hist.push(x[:, i : i + chunk])
    return hist.read(hist.next_chunk)


def podcast_applied(app, window, preset: str) -> bool:
    """Open the dev podcast, find its room tone, load ``preset`` and apply it; False without the data."""
    if not DEV_PODCAST.is_file() or not window.open_path(DEV_PODCAST):
        return False
    settle(app, window)
    window.find_room_tone()
    settle(app, window)
    window.session.load_preset(preset)
    window.side_tabs.setCurrentWidget(window.chain_panel)
    window.apply_chain()
    settle(app, window, 1.0)
    return True


def loudness_shot(app, window) -> bool:
    """The Loudness view on the dev podcast, processed (see the module docstring)."""
    window.zoom_fit()
    if not podcast_applied(app, window, "podcast"):
        return False
    sizes = window.view_splitter.sizes()
    total = sum(sizes)
    window.view_splitter.setSizes([int(total * f) for f in (0.2, 0.22, 0.22, 0.36)])
    settle(app, window, 0.5)
    window.grab().save(str(OUT / "loudness_view.png"))
    window.view_splitter.setSizes(sizes)
    return True


def mouth_shot(app, window) -> bool:
    """The detected mouth-noise events on the dev podcast (see the module docstring)."""
    if not podcast_applied(app, window, "podcast-voice"):
        return False
    window.waveform.setXRange(0.0, 40.0, padding=0)
    settle(app, window, 0.5)
    window.grab().save(str(OUT / "mouth_events.png"))
    return True


def export_shot(app, window) -> None:
    """The export dialog with the project's loudness target (see the module docstring)."""
    from app.qt.export_dialog import ExportDialog

    dlg = ExportDialog(Path.home() / "demo_episode_clean.flac", "flac24", window, loudness="podcast")
    dlg.show()
    settle(app, window, 0.5)
    dlg.grab().save(str(OUT / "export_dialog.png"))
    dlg.close()


def history_markers_shot(app, window) -> None:
    """Markers, a region, the Markers and History docks (see the module docstring)."""
    from PySide6.QtCore import Qt

    from app.session import Selection

    s = window.session
    window.zoom_fit()
    window.find_room_tone()
    settle(app, window)
    window.apply_chain()
    s.add_marker(2.6, name="Host intro")
    s.add_marker(9.0, 13.5, name="Answer, take 2")
    s.add_marker(16.2, name="Cut the cough")
    s.rename_marker(0, "Cold open")
    s.set_loudness("podcast")
    s.set_chain_field("mix", 0.9, coalesce=False)
    s.undo()  # a step that can be redone: greyed in the list
    s.set_selection(Selection(9.0, 13.5))
    window.history_panel.dock.show()
    window.markers_panel.dock.show()
    window.side_tabs.setCurrentWidget(window.chain_panel)
    window.resize(*WINDOW)
    window.resizeDocks([window.dock], [380], Qt.Orientation.Horizontal)
    window.resizeDocks([window.markers_panel.dock, window.history_panel.dock], [300, 300], Qt.Orientation.Vertical)
    window.seek(9.0)
    settle(app, window, 1.0)
    window.markers_panel.view.selectRow(1)
    settle(app, window, 0.5)
    window.grab().save(str(OUT / "history_markers.png"))
    window.history_panel.dock.hide()
    window.markers_panel.dock.hide()


def edits_shot(app, window) -> bool:
    """A few edits on the demo, drawn on the waveform and listed (see the module docstring)."""
    from app.session import Selection

    s = window.session
    for sel, op in ((Selection(3.05, 3.45), s.replace_with_room_tone), (Selection(4.6, 5.3), lambda: s.gain_selection(-6.0)),
                    (Selection(6.2, 6.7), lambda: s.cut_selection(keep_room_tone=True)),
                    (Selection(7.6, 8.4, 1800.0, 4200.0), lambda: s.spectral_repair("replace"))):
        s.set_selection(sel)
        window._guard(op)
    s.set_selection(Selection(7.6, 8.4, 1800.0, 4200.0))
    window.waveform.setXRange(2.0, 10.0, padding=0)
    window.before_view.setYRange(0.0, 8000.0, padding=0)
    window.edits.show_list()
    window.apply_chain()  # the AFTER view shows the fills, gain and repair (the cut stays shaded)
    settle(app, window, 1.0)
    window.grab().save(str(OUT / "edits.png"))
    for _ in range(4):
        s.undo()
    return not window.errors


def with_panel(window, panel, x: int, y: int):
    """The window with a non-modal ``panel`` drawn over it at ``(x, y)``, framed and titled as a
    window manager would (Xvfb runs none, so the screen itself shows the panel without either)."""
    from PySide6.QtCore import QRect, Qt
    from PySide6.QtGui import QColor, QPainter

    from app.qt import theme

    pix = window.grab()
    title_h = 26
    p = QPainter(pix)
    p.fillRect(QRect(x - 1, y - title_h - 1, panel.width() + 2, panel.height() + title_h + 2), QColor(theme.BORDER))
    p.fillRect(QRect(x, y - title_h, panel.width(), title_h), QColor(theme.PANEL))
    p.setPen(QColor(theme.TEXT))
    p.drawText(QRect(x, y - title_h, panel.width(), title_h), Qt.AlignmentFlag.AlignCenter, panel.windowTitle())
    p.drawPixmap(x, y, panel.grab())
    p.end()
    return pix


def spectrogram_shot(app, window) -> None:
    """The spectrogram settings panel over the views on a mel scale (see the module docstring)."""
    window.set_difference_mode(False)
    window.session.load_preset("podcast")
    window.apply_chain()
    window.waveform.setXRange(1.2, 7.4, padding=0)
    dlg = window.spectrogram.open_dialog()
    dlg.scale_combo.setCurrentIndex(dlg.scale_combo.findData("mel"))
    dlg.adjustSize()
    settle(app, window, 1.0)
    with_panel(window, dlg, window.width() - dlg.width() - 30, 150).save(str(OUT / "spectrogram_settings.png"))
    dlg.defaults_button.click()
    dlg.close()
    window.zoom_fit()
    settle(app, window, 0.3)


def main(argv: list[str] | None = None) -> int:
    only = (argv if argv is not None else sys.argv[1:])[:1]
    xvfb = start_xvfb()
    window = None
    try:
        os.environ.setdefault("NUMBA_CACHE_DIR", str(REPO / ".cache" / "numba"))
        from PySide6.QtCore import QSettings
        from PySide6.QtWidgets import QApplication

        from app.qt import theme

        app = QApplication(["roomtone"])
        theme.apply_theme(app)
        from app.qt.main_window import MainWindow
        from app.session import Selection

        tmp = tempfile.mkdtemp(prefix="roomtone-shots-")
        settings = QSettings(str(Path(tmp) / "settings.ini"), QSettings.Format.IniFormat)
        monitor = still_monitor()
        window = MainWindow(settings=settings, monitor=monitor)
        window.show_dialogs = False
        window.ask_before_closing = False
        window.resize(*WINDOW)
        window.show()
        app.processEvents()
        if not window.open_demo():
            print(f"screenshots: cannot open the demo: {window.errors}", file=sys.stderr)
            return 1
        settle(app, window)
        if window.errors:
            print(f"screenshots: errors while opening the demo: {window.errors}", file=sys.stderr)
            return 1
        OUT.mkdir(parents=True, exist_ok=True)
        if only == ["loudness"]:
            return 0 if loudness_shot(app, window) else 1
        if only == ["mouth"]:
            return 0 if mouth_shot(app, window) else 1
        if only == ["export"]:
            export_shot(app, window)
            return 0
        if only == ["markers"]:
            history_markers_shot(app, window)
            return 0
        if only == ["edits"]:
            return 0 if edits_shot(app, window) else 1
        if only == ["spectrogram"]:
            spectrogram_shot(app, window)
            return 0
        # 1: the whole episode, before/after with holes, a selection on the room-tone stretch.
        # The podcast preset's refill fills the holes its passes make; to show the overlay, this
        # shot uses the "strong" preset with refill switched off (what the passes alone do).
        window.session.load_preset("strong")
        refill = [i for i, s in enumerate(window.session.project.chain.stages) if s.kind == "refill"]
        for i in refill:
            window.session.set_stage_bypass(i, True)
        window.session.set_selection(Selection(0.0, 2.0))
        gate = [i for i, s in enumerate(window.session.project.chain.stages) if s.kind == "gate"]
        window.chain_panel.stage_list.setCurrentRow(gate[0] if gate else 0)
        window.apply_chain()
        settle(app, window)
        monitor.position_s, monitor.playing = 11.62, True
        monitor.reading = measured_reading(window._after.path, monitor.position_s)
        window.before_view.vb.sigHover.emit(monitor.position_s, 1500.0)  # the status bar's mouse readout
        settle(app, window, 1.0)
        window.grab().save(str(OUT / "main_window.png"))
        monitor.playing = False
        monitor.reading = None
        # 2: zoomed on speech, removed energy, a time-frequency selection
        window.waveform.setXRange(1.2, 7.4, padding=0)
        window.before_view.setYRange(0.0, 8000.0, padding=0)  # the speech band (linked to AFTER)
        window.session.load_preset("podcast")
        window.apply_chain()
        window.set_difference_mode(True)
        window.session.set_selection(Selection(4.1, 5.0, 2500.0, 9000.0))
        window.side_tabs.setCurrentWidget(window.chain_panel)
        settle(app, window, 1.0)
        window.grab().save(str(OUT / "removed_energy.png"))
        # 3: the spectrogram settings, mel scale and colour legends
        spectrogram_shot(app, window)
        # 4: the room-tone panel
        window.set_difference_mode(False)
        window.before_view.setYRange(0.0, window.before_view.nyquist, padding=0)
        window.zoom_fit()
        window.session.set_selection(Selection(0.0, 2.0))
        window.side_tabs.setCurrentWidget(window.roomtone_panel)
        settle(app, window, 1.0)
        window.grab().save(str(OUT / "room_tone.png"))
        # 5: the chain panel's labels, on the room-tone gate
        window.side_tabs.setCurrentWidget(window.chain_panel)
        kinds = [s.kind for s in window.session.project.chain.stages]
        window.chain_panel.stage_list.setCurrentRow(kinds.index("gate") if "gate" in kinds else 0)
        settle(app, window, 0.5)
        window.side_tabs.grab().save(str(OUT / "chain_panel.png"))
        # 5: the export dialog
        export_shot(app, window)
        # 6: the prosody panel docked under the views, with the status bar's readouts
        clips = sorted(PROSODY_CLIPS.glob("*.flac"))[:8] if PROSODY_CLIPS.is_dir() else []
        if clips and window.prosody_panel is not None:
            window.prosody_action.trigger()
            window.prosody_panel.load_paths(clips)
            deadline = time.monotonic() + 240
            while window.prosody_panel.is_busy() and time.monotonic() < deadline:
                settle(app, window, 0.1)
            settle(app, window, 1.0)
            window.grab().save(str(OUT / "prosody_docked.png"))
            window.prosody_action.trigger()
        # 6b: markers, regions and the undo history
        history_markers_shot(app, window)
        # 7: edits on the demo
        edits_shot(app, window)
        window.zoom_fit()
        # 8: the Loudness view on the dev podcast
        loudness_shot(app, window)
        # 9: the mouth-noise detectors' events on the dev podcast
        mouth_shot(app, window)
        print(f"screenshots: wrote {', '.join(p.name for p in sorted(OUT.glob('*.png')))} in {OUT}")
        return 0
    finally:
        if window is not None:
            window.close()
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait(5)


if __name__ == "__main__":
    sys.exit(main())
