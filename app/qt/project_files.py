"""Files in the workstation: open (audio or project), save, relink, the demo episode, autosave
and recovery.

Opening audio checks the header at once and hashes the content as a job while the window's
waveform pyramid is already being read; a project's problems (a moved source) are reported
and offer Relink. Every change goes through the Session.
"""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMessageBox

from app.presets import list_presets
from app.session import PROJECT_SUFFIX, Selection, SourceRef
from dsp.errors import InputError, RoomtoneError
from dsp.io import READ_FORMATS, audio_info

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "assets" / "demo" / "demo_episode.flac"
AUDIO_FILTER = "Audio (" + " ".join(f"*{e}" for e in READ_FORMATS) + ")"
PROJECT_FILTER = f"Roomtone project (*{PROJECT_SUFFIX} *.json)"


def is_openable(path: str | Path) -> bool:
    """An audio file or a project the workstation opens (by its extension)."""
    return Path(path).suffix.lower() in (*READ_FORMATS, PROJECT_SUFFIX, ".json")


class ProjectFiles:
    """Opening and saving for the workstation ``window`` (its session, jobs and recent files)."""

    def __init__(self, window) -> None:
        self.window = window

    @property
    def session(self):
        return self.window.session

    def open_dialog(self) -> None:
        w = self.window
        path, _ = QFileDialog.getOpenFileName(
            w, "Open audio or project", w._last_folder(), f"{AUDIO_FILTER};;{PROJECT_FILTER};;All files (*)")
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
        w = self.window
        path = Path(path).expanduser().absolute()
        try:
            audio_info(path)
        except RoomtoneError as exc:
            w.report_error(exc)
            return False
        w._start_pyramid(str(path))

        def done(job) -> None:
            if w._job_failed(job):
                return
            try:
                self.session.open_source(job.result)
            except RoomtoneError as exc:
                w.report_error(exc)
                return
            w.recent.add(path)
            w.statusBar().showMessage(f"Opened {path.name}", 4000)
            if then is not None:
                then()

        w.jobs.submit(f"Opening {path.name}", lambda progress, cancelled: SourceRef.from_path(path), done)
        return True

    def open_project(self, path: str | Path) -> bool:
        w = self.window
        try:
            problems = self.session.open_project(path)
        except RoomtoneError as exc:
            w.report_error(exc)
            return False
        w.recent.add(Path(path))
        for problem in problems:
            w.report_error(InputError(problem.message))
        if problems and w.show_dialogs:
            self.relink_dialog()
        return True

    def save_project(self, ask: bool = False, path: str | Path | None = None) -> Path | None:
        w = self.window
        if path is None and (ask or self.session.path is None):
            default = self.session.path or Path(w._last_folder()) / f"{self.session.project.name}{PROJECT_SUFFIX}"
            chosen, _ = QFileDialog.getSaveFileName(w, "Save project", str(default), PROJECT_FILTER)
            if not chosen:
                return None
            path = chosen
        try:
            saved = self.session.save(path)
        except RoomtoneError as exc:
            w.report_error(exc)
            return None
        w.recent.add(saved)
        w.statusBar().showMessage(f"Saved {saved}", 4000)
        w._update_title()
        return saved

    def relink_dialog(self) -> None:
        w = self.window
        src = self.session.project.source
        if src is None:
            return
        path, _ = QFileDialog.getOpenFileName(w, f"Where is {Path(src.path).name} now?", w._last_folder(), AUDIO_FILTER)
        if path:
            w._guard(self.session.relink, path)

    def open_demo(self) -> bool:
        """Open the demo episode: learn the room tone from its room-tone-only stretch, load the
        podcast preset, and Apply so before/after and the holes show."""
        if not DEMO.exists():
            self.window.report_error(InputError(f"{DEMO}: the demo episode is missing; run: python scripts/make_demo.py"))
            return False
        return self.open_audio(DEMO, then=self._build_demo_project)

    def _build_demo_project(self) -> None:
        w = self.window
        meta_path = DEMO.with_suffix(".json")
        region = (0.0, 2.0)
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            region = tuple(meta.get("room_tone_only", [region])[0])
        except (OSError, ValueError, IndexError, TypeError):
            pass

        if "podcast" in list_presets():
            w._guard(self.session.load_preset, "podcast")
        w._guard(self.session.set_selection, Selection.between(*region))
        w._guard(self.session.learn_profile, *region)  # 2 s of a 25 s file: quick
        self.session.dirty = False  # the demo as it ships: nothing of the user's to save yet
        w._update_title()  # the title's "*" and the question on quitting agree
        w.apply_chain()

    def autosave_now(self) -> Path | None:
        w = self.window
        if w.autosave is None:
            return None
        try:
            return w.autosave.save_if_dirty(self.session)
        except (RoomtoneError, OSError) as exc:
            w.statusBar().showMessage(f"Autosave failed: {exc}", 6000)
            return None

    def offer_recovery(self) -> bool:
        """At start: offer the autosave a crashed run left behind. True if it was restored."""
        w = self.window
        if w.autosave is None:
            return False
        cand = w.autosave.recovery_candidate()
        if cand is None:
            return False
        if w.show_dialogs:
            answer = QMessageBox.question(
                w, "Recover unsaved work?",
                "Roomtone did not close properly last time. Restore the work it autosaved?\n\n"
                f"{cand}", QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.Yes)
            if answer != QMessageBox.StandardButton.Yes:
                w.autosave.discard()
                return False
        try:
            problems = self.session.recover(cand)
        except RoomtoneError as exc:
            w.report_error(exc)
            return False
        for problem in problems:
            w.report_error(InputError(problem.message))
        return True
