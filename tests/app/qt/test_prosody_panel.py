"""The prosody panel (offscreen): loads clips, lists findings, seeks on click, plots, exports."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")
pytestmark = pytest.mark.gui

from app.qt.prosody_panel import ProsodyPanel  # noqa: E402

CLIPS = ("espeak_flat_stmt01.flac", "emo_happy_14.flac", "emo_sad_02.flac")


@pytest.fixture
def panel(qtbot, dev_data):
    p = ProsodyPanel()
    qtbot.addWidget(p)
    p.resize(1300, 800)
    p.show()
    with qtbot.waitSignal(p.analysisFinished, timeout=60000):
        p.load_paths([dev_data / "prosody" / n for n in CLIPS])
    yield p
    p.shutdown()


def test_panel_shows_clips_findings_and_plots(panel):
    assert panel.clip_table.rowCount() == 3
    assert [panel.clip_table.item(r, 0).text() for r in range(3)] == list(CLIPS)
    titles = [panel.findings.topLevelItem(i).text(1) for i in range(panel.findings.topLevelItemCount())]
    assert "Very monotone" in titles
    # first clip shown: spectrogram image, pitch contour and waveform drawn
    assert panel.current_clip.name == CLIPS[0]
    assert panel.spec_image.image is not None and panel.spec_image.image.shape[0] > 50
    x, y = panel.pitch_curve.getData()
    assert x is not None and len(x) > 100
    assert len(panel.scatter.points()) == 3
    assert panel.export_button.isEnabled()
    # the clip spectrogram has a dB legend over the image's levels, inside its plot area
    lo, hi = panel.spec_image.levels
    assert panel.spec_legend.isVisible() and panel.spec_legend.levels == pytest.approx((lo, hi))
    assert panel.spec_legend.caption == "dB"
    area = panel.spec_plot.vb.sceneBoundingRect()
    assert area.contains(panel.spec_legend.geometry().topLeft().toPointF())


def test_finding_click_selects_clip_and_emits_seek(panel, qtbot):
    tree = panel.findings
    target = None
    for i in range(tree.topLevelItemCount()):
        item = tree.topLevelItem(i)
        if item.text(2) == "emo_sad_02.flac" and item.text(1) == "Very monotone":
            target = item
    assert target is not None
    f = target.data(0, 0x0100)
    with qtbot.waitSignal(panel.seekRequested, timeout=2000) as blocker:
        tree.itemClicked.emit(target, 1)
    assert blocker.args[0] == pytest.approx(f.times_s[0][0])
    assert panel.current_clip.name == "emo_sad_02.flac"
    assert panel.cursors[0].isVisible() and panel.cursors[0].value() == pytest.approx(f.times_s[0][0])
    assert "What to do" in panel.finding_detail.text()


def test_clip_selection_and_export(panel, tmp_path, qtbot):
    with qtbot.waitSignal(panel.clipSelected, timeout=2000) as blocker:
        panel.clip_table.selectRow(1)
    assert blocker.args == [CLIPS[1]]
    out = panel.export_report(str(tmp_path / "r.html"))
    assert out.exists() and "<svg" in out.read_text()


def test_reference_adds_comparison(panel, qtbot, dev_data):
    with qtbot.waitSignal(panel.analysisFinished, timeout=60000):
        panel.load_paths([dev_data / "prosody" / "emo_happy_13.flac", dev_data / "prosody" / "emo_happy_16.flac"],
                         role="reference")
    assert panel.reference is not None and panel.comparison
    assert len(panel.ref_scatter.points()) == 2
    titles = [panel.findings.topLevelItem(i).text(1) for i in range(panel.findings.topLevelItemCount())]
    assert any("vs reference" in t for t in titles)


def test_with_a_reference_the_findings_speak_of_the_synthesis(panel, qtbot, dev_data):
    def advice():
        tree = panel.findings
        return " ".join(str(tree.topLevelItem(i).toolTip(1)) for i in range(tree.topLevelItemCount()))

    assert "the synthesis" not in advice()  # without a reference: a recording's findings
    with qtbot.waitSignal(panel.analysisFinished, timeout=60000):
        panel.load_paths([dev_data / "prosody" / "emo_happy_13.flac", dev_data / "prosody" / "emo_happy_16.flac"],
                         role="reference")
    text = advice()
    assert "synthesis" in text and "record some lines" not in text
    assert all(f.code != "too_little_audio" for f in panel.dataset.findings)
