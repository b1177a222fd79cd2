"""The export dialog offers the CLI's formats under the CLI's names and the loudness targets of
``--loudness``, and what it writes equals ``roomtone clean --format X --loudness Y`` bit for bit
(issue 24, item 7)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

pytestmark = pytest.mark.gui

from tests.app.qt.helpers import tone_file, wait_for_jobs  # noqa: E402


def test_the_dialog_offers_the_clis_formats_and_targets(qtbot, tmp_path):
    from app.cli import build_parser
    from app.qt.export_dialog import ExportDialog
    from dsp.loudness import TARGET_CHOICES

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    cli = {a.dest: a.choices for a in sub.choices["clean"]._actions}
    dlg = ExportDialog(tmp_path / "x.wav", "wav24", loudness="podcast")
    qtbot.addWidget(dlg)
    formats = [dlg.format_combo.itemData(i) for i in range(dlg.format_combo.count())]
    targets = [dlg.loudness_combo.itemData(i) for i in range(dlg.loudness_combo.count())]
    assert set(formats) == set(cli["format"]) >= {"wav16", "wav24", "float32", "flac16", "flac24"}
    assert set(targets) == set(cli["loudness"]) == set(TARGET_CHOICES)
    assert dlg.loudness() == "podcast"  # the project's target is the default
    for combo in (dlg.format_combo, dlg.loudness_combo):  # each choice names its CLI value
        assert all(combo.itemText(i).endswith(f" · {combo.itemData(i)}") for i in range(combo.count()))
    for fmt in formats:  # the extension follows the format
        dlg.format_combo.setCurrentIndex(dlg.format_combo.findData(fmt))
        assert dlg.problem() is None and dlg.path().suffix == (".flac" if fmt.startswith("flac") else ".wav")


@pytest.mark.parametrize("fmt, loudness", [("flac16", "podcast"), ("float32", "ebu-r128")])
def test_dialog_export_equals_clean_format_loudness(make_window, qtbot, tmp_path, monkeypatch, fmt, loudness):
    from app.cli import main as cli_main
    from app.presets import preset_to_toml
    from app.qt import main_window
    from app.qt.export_dialog import ExportDialog

    source = tone_file(tmp_path / "episode.wav", seconds=3.0, seed=3, freq=180.0, noise=0.004)
    w = make_window()
    assert w.open_path(source)
    wait_for_jobs(w, qtbot)
    w.waveform.vb.sigSelect.emit(0.05, 0.75, None, None, True)
    w.learn_from_selection()
    wait_for_jobs(w, qtbot)
    out_gui = tmp_path / f"gui.{'flac' if fmt.startswith('flac') else 'wav'}"

    class Chosen(ExportDialog):
        def exec(self):  # the user picks the format and target, then the file name
            self.format_combo.setCurrentIndex(self.format_combo.findData(fmt))
            self.loudness_combo.setCurrentIndex(self.loudness_combo.findData(loudness))
            self.path_edit.setText(str(out_gui))
            return not self.problem()

    monkeypatch.setattr(main_window, "ExportDialog", Chosen)
    w.export_dialog()
    wait_for_jobs(w, qtbot)
    assert not w.errors, w.errors

    preset = tmp_path / "chain.toml"
    preset.write_text(preset_to_toml(w.session.project.chain), encoding="utf-8")
    profile = tmp_path / "room.json"
    w.session.save_profile_file(profile)
    out_cli = out_gui.with_name("cli" + out_gui.suffix)
    assert cli_main(["clean", str(source), "-o", str(out_cli), "--preset", str(preset), "--profile", str(profile),
                     "--format", fmt, "--loudness", loudness, "--quiet"]) == 0
    a_info, b_info = sf.info(str(out_gui)), sf.info(str(out_cli))
    assert (a_info.format, a_info.subtype) == (b_info.format, b_info.subtype)
    a, _ = sf.read(out_gui, dtype="float64")
    b, _ = sf.read(out_cli, dtype="float64")
    np.testing.assert_array_equal(a, b)
    x, _ = sf.read(source, dtype="float64")
    assert not np.allclose(a, x[: len(a)], atol=1e-3), "the export must be processed and normalised"
