"""The export dialog follows the shared rule: the file name's extension decides the container."""

from __future__ import annotations

from pathlib import Path


def test_typed_name_picks_a_format_of_its_container(qtbot, tmp_path):
    from app.qt.export_dialog import ExportDialog

    dlg = ExportDialog(tmp_path / "ep_clean.wav", "wav16")
    qtbot.addWidget(dlg)
    dlg.path_edit.setText(str(tmp_path / "ep_clean.flac"))
    dlg.path_edit.textEdited.emit(dlg.path_edit.text())
    assert dlg.format() == "flac16"  # same depth, FLAC
    assert dlg.path() == tmp_path / "ep_clean.flac"  # the typed name stays
    dlg.format_combo.setCurrentIndex(dlg.format_combo.findData("float32"))
    assert dlg.path().suffix == ".wav"  # choosing a format renames the file


def test_export_refuses_a_name_it_would_not_honour(qtbot, tmp_path):
    from app.qt.export_dialog import ExportDialog

    dlg = ExportDialog(tmp_path / "ep_clean.wav", "wav24")
    qtbot.addWidget(dlg)
    dlg.path_edit.setText(str(tmp_path / "ep_clean.mp3"))
    dlg.path_edit.textEdited.emit(dlg.path_edit.text())
    assert dlg.format() == "wav24"
    dlg.accept()
    assert dlg.result() == 0 and not dlg.error_label.isHidden()
    assert "does not write '.mp3' files" in dlg.error_label.text()
    # a format of the other container cannot slip through either
    dlg.path_edit.setText(str(tmp_path / "ep_clean.wav"))
    dlg.format_combo.blockSignals(True)
    dlg.format_combo.setCurrentIndex(dlg.format_combo.findData("flac24"))
    dlg.format_combo.blockSignals(False)
    assert dlg.problem() and "says WAV" in dlg.problem()
    dlg.format_combo.setCurrentIndex(dlg.format_combo.findData("wav24"))
    dlg.accept()
    assert dlg.result() == 1 and Path(dlg.path()).suffix == ".wav"


def test_gui_export_of_a_wav_source_to_a_flac_name_writes_flac(tmp_path):
    """The window's export runs ``render_project`` -> ``clean_file``: the name decides there too."""
    import numpy as np
    import soundfile as sf

    from app.session.project import Project, SourceRef
    from app.session.session import render_project

    src = tmp_path / "in.wav"
    noise = 0.01 * np.random.default_rng(0).standard_normal((48000, 1))
    sf.write(str(src), noise.astype(np.float32), 48000, subtype="PCM_16")
    project = Project(source=SourceRef.from_path(src))
    render_project(project, tmp_path / "out.flac")
    assert sf.info(str(tmp_path / "out.flac")).format == "FLAC"
