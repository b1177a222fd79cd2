"""``roomtone gui [FILE|PROJECT]`` and ``roomtone-gui``: the path is checked before any window
opens (one line, exit 3), and the workstation is started with the checked absolute path."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from app.cli import main

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def started(monkeypatch):
    """Replace the workstation's entry (``app.qt.app.run``) with a recorder."""
    pytest.importorskip("PySide6")
    import app.qt.app as qt_app

    calls = []
    monkeypatch.setattr(qt_app, "run", lambda argv: calls.append(list(argv)) or 0)
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    return calls


@pytest.fixture
def wav(tmp_path) -> Path:
    p = tmp_path / "ep.wav"
    sf.write(str(p), (0.01 * np.random.default_rng(0).standard_normal(4800)).astype(np.float32), 48000)
    return p


def test_gui_opens_an_audio_file(started, wav, monkeypatch):
    monkeypatch.chdir(wav.parent)
    assert main(["gui", "ep.wav"]) == 0
    assert started == [[str(wav)]]  # the absolute path


def test_gui_opens_a_project(started, wav, tmp_path):
    from app.session import Project, SourceRef, save_project

    proj = tmp_path / "ep.roomtone"
    save_project(Project(source=SourceRef.from_path(wav)), proj)
    assert main(["gui", str(proj)]) == 0
    assert started == [[str(proj)]]


def test_gui_without_a_path_opens_an_empty_window_or_the_demo(started):
    assert main(["gui"]) == 0
    assert main(["gui", "--demo"]) == 0
    assert started == [[], ["--demo"]]


@pytest.mark.parametrize("name, content, says", [
    ("missing.wav", None, "no such file"),
    ("broken.wav", b"RIFF....WAVEfmt garbage", "ep"),
    ("broken.roomtone", b"{not json", "not a readable Roomtone project"),
    ("bad.roomtone", b'{"format": "roomtone-project", "version": "2.0"}', "version"),
])
def test_a_missing_or_damaged_path_is_one_line_and_exit_3(started, tmp_path, capsys, name, content, says):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    assert main(["gui", str(path)]) == 3
    err = capsys.readouterr().err
    assert err.startswith("roomtone: error:") and err.count("\n") == 1 and "Traceback" not in err
    if says != "ep":
        assert says in err
    assert started == []  # no window opened


def test_a_folder_is_refused(started, tmp_path, capsys):
    assert main(["gui", str(tmp_path)]) == 3
    assert "is a folder" in capsys.readouterr().err and started == []


def test_without_a_display_it_says_so(monkeypatch, wav, capsys):
    monkeypatch.setattr(sys, "platform", "linux")
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(var, raising=False)
    assert main(["gui", str(wav)]) == 1
    assert "cannot open the workstation: no display" in capsys.readouterr().err


def test_help_lists_gui_and_the_console_script_exists(capsys):
    assert main(["--help"]) == 0
    assert "gui" in capsys.readouterr().out
    assert main(["gui", "--help"]) == 0
    assert "FILE|PROJECT" in capsys.readouterr().out
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["roomtone-gui"] == "app.launch:gui_main"


def test_roomtone_gui_is_roomtone_gui(started, wav, monkeypatch):
    from app import launch

    monkeypatch.setattr(sys, "argv", ["roomtone-gui", str(wav)])
    with pytest.raises(SystemExit) as exc:
        launch.gui_main()
    assert exc.value.code == 0 and started == [[str(wav)]]


def test_the_window_is_not_left_with_the_clis_sigterm_handler(monkeypatch, wav):
    """A SIGTERM raised as an exception inside Qt's event loop is swallowed: the window must end
    on SIGTERM the ordinary way."""
    import signal

    pytest.importorskip("PySide6")
    import app.qt.app as qt_app

    seen = []
    monkeypatch.setattr(qt_app, "run", lambda argv: seen.append(signal.getsignal(signal.SIGTERM)) or 0)
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    before = signal.getsignal(signal.SIGTERM)
    assert main(["gui", str(wav)]) == 0
    assert seen == [signal.SIG_DFL]
    assert signal.getsignal(signal.SIGTERM) == before  # restored after the command
