"""Autosave and crash recovery.

Each run of the workstation owns a *run marker* ``run-<id>.lock`` (JSON: pid, host, start
time) in the user state folder (``$XDG_STATE_HOME/roomtone/autosave``, default
``~/.local/state/roomtone/autosave``; ``%LOCALAPPDATA%\\roomtone\\autosave`` on Windows,
``~/Library/Application Support/roomtone/autosave`` on macOS) and periodically writes its unsaved
project to ``autosave-<id>.json`` (the project JSON plus where the project was last saved).
A clean exit removes both. At the next start, an autosave whose run is no longer alive (no
marker, or a marker whose process is gone) is a *recovery candidate*: the GUI offers it and
opens it with :meth:`app.session.Session.recover`, or drops it with :meth:`Autosave.discard`.
Several windows may run at once: a live run's autosave is never offered to another.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from app.paths import state_dir
from app.session.project import project_to_json, read_project_json, write_text_atomic
from dsp.errors import OutputError

#: Seconds between autosaves the GUI is expected to use (a QTimer calls save_if_dirty).

_LIVE_RUNS: set[str] = set()  # run ids of Autosave objects alive in this process


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import ctypes

        handle = ctypes.windll.kernel32.OpenProcess(0x1000, False, pid)  # QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        code = ctypes.c_ulong()
        ctypes.windll.kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        ctypes.windll.kernel32.CloseHandle(handle)
        return code.value == 259  # STILL_ACTIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


class Autosave:
    """This run's autosave file and run marker, plus recovery of other runs' leftovers."""

    def __init__(self, folder: Path | str | None = None) -> None:
        self.folder = Path(folder) if folder is not None else state_dir() / "autosave"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(
                f"{self.folder}: cannot create the autosave folder ({exc}); autosave and crash "
                "recovery are off until it is writable (set XDG_STATE_HOME to another folder)"
            ) from None
        self.run_id = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.marker = self.folder / f"run-{self.run_id}.lock"
        self.path = self.folder / f"autosave-{self.run_id}.json"
        self._last: Any = None  # the Project last written
        self._offered: set[Path] = set()  # leftovers shown to the user by recovery_candidate
        write_text_atomic(self.marker, json.dumps({
            "pid": os.getpid(), "host": socket.gethostname(), "started": time.time(), "run": self.run_id,
        }))
        _LIVE_RUNS.add(self.run_id)

    # -- this run -----------------------------------------------------------------------------
    def save_if_dirty(self, session: Any) -> Path | None:
        """Write the session's project if it has unsaved changes not autosaved yet.

        Returns the autosave path when written. A session with nothing unsaved removes this
        run's autosave (its project file is up to date) and returns None.
        """
        if not session.dirty:
            self._last = None
            self.path.unlink(missing_ok=True)
            return None
        project = session.project
        if project is self._last and self.path.exists():
            return None
        original = None if session.path is None else str(Path(session.path).absolute())
        base = Path(original).parent if original else None
        text = project_to_json(project, base=base, extra={"autosave": {
            "project_path": original, "run": self.run_id, "time": time.time(),
        }})
        write_text_atomic(self.path, text)
        self._last = project
        return self.path

    def mark_clean_exit(self) -> None:
        """The run ends normally: remove its autosave and its marker.

        A leftover this run offered (:meth:`recovery_candidate`) is removed too: the user has
        recovered it into this run (which saved or deliberately dropped it) or declined it.
        """
        for p in self._offered:
            self._remove_leftover(p)
        self._offered.clear()
        self.path.unlink(missing_ok=True)
        self.marker.unlink(missing_ok=True)
        _LIVE_RUNS.discard(self.run_id)
        self._last = None

    # -- other runs ---------------------------------------------------------------------------
    def _run_alive(self, run_id: str) -> bool:
        if run_id == self.run_id or run_id in _LIVE_RUNS:
            return True
        marker = self.folder / f"run-{run_id}.lock"
        try:
            info = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False  # no marker: that run exited (or its marker is damaged)
        if info.get("host") != socket.gethostname():
            return True  # a shared home folder: we cannot tell, so leave it to its own host
        pid = int(info.get("pid", -1))
        if pid == os.getpid():
            return False  # this process, but not a live Autosave object: a run that was abandoned
        return _pid_alive(pid)

    def leftovers(self) -> list[Path]:
        """Autosaves of runs that ended without a clean exit, newest first."""
        found = []
        for p in self.folder.glob("autosave-*.json"):
            run_id = p.stem[len("autosave-"):]
            if not self._run_alive(run_id):
                try:
                    found.append((p.stat().st_mtime, p))
                except OSError:
                    continue
        return [p for _, p in sorted(found, reverse=True)]

    def recovery_candidate(self) -> Path | None:
        """The newest autosave left by a run that did not exit cleanly, if any."""
        for p in self.leftovers():
            try:
                read_project_json(p)
            except Exception:  # noqa: BLE001 - an unreadable autosave is not offered
                continue
            self._offered.add(p)
            return p
        return None

    @staticmethod
    def describe(path: Path) -> dict[str, Any]:
        """What the GUI shows when offering a recovery: name, source, project file, time."""
        data = read_project_json(path)
        meta = data.get("autosave") or {}
        src = data.get("source") or {}
        return {
            "name": data.get("name", "Untitled"),
            "source": src.get("path"),
            "project_path": meta.get("project_path"),
            "time": meta.get("time", path.stat().st_mtime),
        }

    def discard(self) -> None:
        """Delete the leftovers of runs that did not exit cleanly (the user declined, or has
        recovered the work into this run, whose own autosave now covers it)."""
        for p in self.leftovers():
            self._remove_leftover(p)
        self._offered.clear()
        for marker in self.folder.glob("run-*.lock"):  # markers of crashed runs without autosave
            run_id = marker.stem[len("run-"):]
            if not self._run_alive(run_id):
                marker.unlink(missing_ok=True)

    def _remove_leftover(self, path: Path) -> None:
        run_id = path.stem[len("autosave-"):]
        if run_id == self.run_id or self._run_alive(run_id):
            return
        path.unlink(missing_ok=True)
        (self.folder / f"run-{run_id}.lock").unlink(missing_ok=True)
