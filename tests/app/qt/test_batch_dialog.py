"""The batch dialog runs the same runner as `roomtone batch`: progress, failures, open report."""

from __future__ import annotations

import shutil

import pytest

pytest.importorskip("PySide6")

from app.qt.batch_dialog import BatchDialog  # noqa: E402

pytestmark = pytest.mark.gui


@pytest.mark.slow
def test_batch_dialog_runs_the_batch_and_opens_the_report(qtbot, dev_data, tmp_path, monkeypatch):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(dev_data / "mixtures" / "s04_libri_3436__cafe_coffeeshop__snr15_noisy.flac", src / "ep01.flac")
    (src / "broken.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEnope")
    out = tmp_path / "out"
    dlg = BatchDialog(src, out)
    qtbot.addWidget(dlg)
    dlg.loudness_combo.setCurrentIndex(dlg.loudness_combo.findData("ebu-r128"))
    dlg.workers_spin.setValue(1)
    dlg.audit_check.setChecked(False)
    assert not dlg.report_button.isEnabled()
    opened = []
    monkeypatch.setattr("app.qt.batch_dialog.QDesktopServices.openUrl", lambda url: opened.append(url.toLocalFile()) or True)
    dlg.start_button.click()
    assert dlg.running and not dlg.start_button.isEnabled() and dlg.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: dlg.finished_run, timeout=180_000)
    assert dlg.summary is not None and dlg.summary.done == 1 and dlg.summary.failed == 1
    assert dlg.overall.value() == 1000
    assert "1 done" in dlg.status_label.text() and "broken.wav" in dlg.status_label.text()
    statuses = {dlg.table.item(i, 0).text(): dlg.table.item(i, 2).text() for i in range(dlg.table.rowCount())}
    assert statuses["ep01.flac"] == "done" and statuses["broken.wav"].startswith("failed:")
    assert (out / "ep01.flac").is_file()
    import json
    from pathlib import Path

    from app.batch.runner import slug_for

    rep = json.loads((out / "report" / "files" / f"{slug_for(Path('ep01.flac'))}.json").read_text())
    assert rep["loudness"]["target_lufs"] == -23.0 and abs(rep["after"]["integrated_lufs"] + 23.0) < 0.5
    assert dlg.report_button.isEnabled() and dlg.start_button.isEnabled()
    dlg.report_button.click()
    assert opened == [str(out / "report" / "index.html")]


def test_batch_dialog_asks_for_folders(qtbot):
    dlg = BatchDialog()
    qtbot.addWidget(dlg)
    dlg.start_button.click()
    assert not dlg.running and "folder" in dlg.status_label.text()


def test_the_level_box_adds_the_leveler_like_the_cli(qtbot):
    from app.pipeline import LEVELER_KIND, adjust_settings
    from app.presets import load_preset
    from dsp.chain import ChainSettings, registry

    dlg = BatchDialog()
    qtbot.addWidget(dlg)
    assert not any(s.kind == LEVELER_KIND for s in ChainSettings.from_dict(dlg.options().chain).stages)
    dlg.level_check.setChecked(True)
    if LEVELER_KIND not in registry():
        with pytest.raises(Exception, match="leveler"):
            dlg.options()
        return
    chain = ChainSettings.from_dict(dlg.options().chain)
    want = adjust_settings(load_preset(dlg.preset_combo.currentText()), level=True)
    assert chain == want and chain.stages[-1].kind == LEVELER_KIND
