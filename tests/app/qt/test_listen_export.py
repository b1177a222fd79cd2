"""One control for what is heard (the transport's Hear), one for what is exported (the export
dialog): issue 19, item 13. Hear never changes Apply or Export; the chain panel has no listen
control; the export dialog chooses processed / removed / original."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtWidgets import QComboBox

pytestmark = pytest.mark.gui

from tests.app.qt.helpers import tone_file, wait_for_jobs  # noqa: E402


@pytest.fixture
def source(tmp_path):
    return tone_file(tmp_path / "episode.wav", seed=7, freq=200.0, noise=0.004)


def _find(obj, key):
    """Every value of ``key`` anywhere in a JSON document."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == key:
                yield v
            yield from _find(v, key)
    elif isinstance(obj, list):
        for v in obj:
            yield from _find(v, key)


def _listen_recorded(path):
    from app.pipeline import record_path

    rec = json.loads(record_path(path).read_text())
    values = set(_find(rec, "listen"))
    assert len(values) == 1, values
    return values.pop()


def _open(window, qtbot, source):
    assert window.open_path(source)
    wait_for_jobs(window, qtbot)
    window.waveform.vb.sigSelect.emit(0.05, 0.75, None, None, True)
    window.learn_from_selection()
    wait_for_jobs(window, qtbot)
    assert window.session.project.profile is not None, window.errors


def test_the_chain_panel_has_no_listen_control(make_window):
    w = make_window()
    for combo in w.chain_panel.findChildren(QComboBox):
        data = {combo.itemData(i) for i in range(combo.count())} | {combo.itemText(i) for i in range(combo.count())}
        assert not data & {"removed", "original", "Removed noise", "Original"}, data


def test_hear_changes_neither_apply_nor_export(make_window, qtbot, source, tmp_path):
    w = make_window()
    _open(w, qtbot, source)
    w.set_listen("removed")
    assert w.monitor.listen == "removed"
    assert w.session.project.chain.listen == "processed"  # hearing is not a project edit
    w.apply_chain()
    wait_for_jobs(w, qtbot)
    assert w._after.project.chain.listen == "processed"
    out = tmp_path / "default.wav"
    w.export_to(out, "float32")
    wait_for_jobs(w, qtbot)
    assert _listen_recorded(out) == "processed"


def test_a_project_that_stored_another_listen_mode_still_applies_the_processed_chain(make_window, qtbot, source):
    w = make_window()
    _open(w, qtbot, source)
    w.session.set_chain_field("listen", "removed")  # e.g. a project or preset saved that way
    w.apply_chain()
    wait_for_jobs(w, qtbot)
    assert w._after.project.chain.listen == "processed"
    assert w.render_is_current()
    assert w.monitor.listen == "processed"


def test_the_export_dialog_chooses_what_is_exported(make_window, qtbot, source, tmp_path, monkeypatch):
    from app.qt import main_window
    from app.qt.export_dialog import ExportDialog

    dlg = ExportDialog(tmp_path / "x.wav", "float32")
    qtbot.addWidget(dlg)
    assert [dlg.content_combo.itemData(i) for i in range(dlg.content_combo.count())] == [
        "processed", "removed", "original"]
    assert dlg.content() == "processed"

    w = make_window()
    _open(w, qtbot, source)
    w.set_listen("original")  # what is heard does not matter
    written = {}
    for content in ("processed", "removed", "original"):
        out = tmp_path / f"{content}.wav"

        class Chosen(ExportDialog):
            def exec(self, content=content, out=out):  # the user picks content and file, presses Export
                self.content_combo.setCurrentIndex(self.content_combo.findData(content))
                self.path_edit.setText(str(out))
                self.format_combo.setCurrentIndex(self.format_combo.findData("float32"))
                return True

        monkeypatch.setattr(main_window, "ExportDialog", Chosen)
        w.export_dialog()
        wait_for_jobs(w, qtbot)
        assert not w.errors, w.errors
        assert _listen_recorded(out) == content
        written[content] = sf.read(out, dtype="float32", always_2d=True)[0][:, 0]
    # removed is what the chain takes away: original = processed + removed
    np.testing.assert_allclose(written["processed"] + written["removed"], written["original"], atol=1e-5)
    assert np.abs(written["removed"]).max() > 1e-4  # something was removed


def test_the_monitor_adapter_does_not_follow_the_projects_listen_setting(tmp_path, source):
    from types import SimpleNamespace

    from app.audio.project_monitor import MonitorAdapter
    from app.session import Session, SourceRef

    s = Session()
    s.open_source(SourceRef.from_path(source))
    s.set_chain_field("listen", "removed")
    adapter = MonitorAdapter(SimpleNamespace(error=None))
    adapter.set_project(s.project)
    assert adapter.listen == "processed"
    adapter._pool.shutdown(wait=True)
