"""Autosave and crash recovery: a run that dies leaves an autosave the next start offers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from app.session import autosave as autosave_mod
from app.session.autosave import Autosave, state_dir
from app.session.project import Project, Selection
from app.session.session import Session

from . import make_chain, write_test_wav

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def _kinds(test_kinds):
    """Every test here runs with the stand-in stage kinds (conftest.test_kinds)."""


@pytest.fixture
def folder(tmp_path):
    return tmp_path / "state"


@pytest.fixture
def session(tmp_path):
    s = Session(Project(chain=make_chain()))
    s.open_source(write_test_wav(tmp_path / "ep.wav"))
    return s


def crash_run(folder: Path, wav: Path, *, project_path: Path | None = None, clean: bool = False) -> None:
    """Run a workstation-like process that edits, autosaves, then dies (or exits cleanly)."""
    code = textwrap.dedent(f"""
        import os
        from app.session import Autosave, Session
        from tests.app.session import register_test_kinds
        register_test_kinds()
        s = Session()
        if {str(project_path)!r} != 'None':
            s.open_project({str(project_path)!r})
        else:
            s.open_source({str(wav)!r})
        s.set_chain_field('max_total_reduction_db', 11.5)
        s.set_chain_field('mix', 0.8)
        a = Autosave({str(folder)!r})
        assert a.save_if_dirty(s) is not None
        if {clean!r}:
            a.mark_clean_exit()
        os._exit(0 if {clean!r} else 3)
    """)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True)
    assert proc.returncode == (0 if clean else 3), proc.stderr


def test_default_folder_follows_xdg_state_home(monkeypatch, tmp_path):
    if sys.platform in ("win32", "darwin"):
        pytest.skip("XDG only on Linux")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert state_dir() == tmp_path / "xdg" / "roomtone"
    a = Autosave()
    assert a.folder == tmp_path / "xdg" / "roomtone" / "autosave" and a.marker.exists()
    a.mark_clean_exit()
    monkeypatch.delenv("XDG_STATE_HOME")
    assert state_dir() == Path.home() / ".local" / "state" / "roomtone"


def test_save_only_when_dirty(folder, session):
    a = Autosave(folder)
    assert a.save_if_dirty(session) is None and not a.path.exists()
    session.set_stage_bypass(0, True)
    path = a.save_if_dirty(session)
    assert path == a.path and path.exists()
    mtime = path.stat().st_mtime_ns
    assert a.save_if_dirty(session) is None and path.stat().st_mtime_ns == mtime  # nothing new
    session.set_stage_bypass(0, False)
    session.set_stage_mix(0, 0.5)
    assert a.save_if_dirty(session) == path
    data = json.loads(path.read_text())
    assert data["format"] == "roomtone-project" and data["chain"]["stages"][0]["mix"] == 0.5
    session.save(folder.parent / "ep.roomtone")
    assert a.save_if_dirty(session) is None and not path.exists()  # saved: nothing to recover
    a.mark_clean_exit()


@pytest.mark.slow
def test_crashed_run_is_offered_and_recovered(folder, tmp_path):
    wav = write_test_wav(tmp_path / "ep.wav")
    me = Autosave(folder)
    assert me.recovery_candidate() is None
    crash_run(folder, wav)
    candidate = me.recovery_candidate()
    assert candidate is not None and candidate != me.path
    info = Autosave.describe(candidate)
    assert info["source"] == str(wav) and info["project_path"] is None
    s = Session()
    assert s.recover(candidate) == []
    assert s.project.chain.max_total_reduction_db == 11.5 and s.project.chain.mix == 0.8
    assert s.dirty and s.path is None and s.history.initial_label == "Recover autosaved work"
    me.discard()
    assert me.recovery_candidate() is None and list(folder.glob("autosave-*")) == []
    assert [p.name for p in folder.glob("run-*.lock")] == [me.marker.name]
    me.mark_clean_exit()
    assert list(folder.iterdir()) == []


@pytest.mark.slow
def test_recovery_keeps_the_project_file_path(folder, tmp_path, session):
    path = session.save(tmp_path / "show.roomtone")
    crash_run(folder, Path(session.project.source.path), project_path=path)
    me = Autosave(folder)
    candidate = me.recovery_candidate()
    assert Autosave.describe(candidate)["project_path"] == str(path)
    s = Session()
    s.recover(candidate)
    assert s.path == path and s.dirty and s.project.chain.mix == 0.8
    s.save()  # Ctrl+S writes back to the original project file
    assert json.loads(path.read_text())["chain"]["mix"] == 0.8
    me.discard()
    me.mark_clean_exit()


@pytest.mark.slow
def test_clean_exit_leaves_nothing_to_recover(folder, tmp_path):
    crash_run(folder, write_test_wav(tmp_path / "ep.wav"), clean=True)
    assert Autosave(folder).recovery_candidate() is None
    assert list(folder.glob("autosave-*")) == []


def test_live_run_is_never_offered(folder, session):
    other = Autosave(folder)  # another window of this process, still running
    session.set_stage_bypass(0, True)
    other.save_if_dirty(session)
    me = Autosave(folder)
    assert me.recovery_candidate() is None
    me.discard()
    assert other.path.exists() and other.marker.exists()
    # the same run abandoned without a clean exit (its object gone, as after a crash)
    autosave_mod._LIVE_RUNS.discard(other.run_id)
    assert me.recovery_candidate() == other.path
    me.mark_clean_exit()


def test_dead_pid_marker_counts_as_crash(folder, session, tmp_path):
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(proc.stdout)
    me = Autosave(folder)
    session.set_selection(Selection(0.1, 0.2))
    session.set_stage_bypass(0, True)
    # fake the leftovers of a run with that (now dead) pid
    run = f"{dead_pid}-deadbeef"
    (folder / f"run-{run}.lock").write_text(json.dumps({"pid": dead_pid, "host": os.uname().nodename}))
    (folder / f"autosave-{run}.json").write_text(me.path.read_text() if me.path.exists() else
                                                 Path(me.save_if_dirty(session)).read_text())
    assert me.recovery_candidate() == folder / f"autosave-{run}.json"
    # an unreadable leftover is skipped, not offered
    (folder / f"autosave-{run}.json").write_text("{broken")
    assert me.recovery_candidate() is None
    me.discard()
    me.mark_clean_exit()
    assert list(folder.iterdir()) == []


@pytest.mark.slow
def test_offered_leftover_is_removed_at_clean_exit(folder, tmp_path):
    """Recovered (or ignored) work is not offered again after this run exits cleanly."""
    crash_run(folder, write_test_wav(tmp_path / "ep.wav"))
    me = Autosave(folder)
    cand = me.recovery_candidate()
    Session().recover(cand)
    assert cand.exists()  # still there while this run works on it (a second crash keeps it)
    me.mark_clean_exit()
    assert not cand.exists() and Autosave(folder).recovery_candidate() is None
