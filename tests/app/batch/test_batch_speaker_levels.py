"""The report's loudness picture and speaker-level spread: from the meters the batch already runs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from app.batch.loudness import ProgramMeter
from app.batch.runner import BatchRunner, slug_for
from app.batch.worker import BatchOptions
from app.presets import load_preset
from dsp.loudness_timeline import TimelineMeter
from tests.two_voices import two_voices


def test_program_meter_sub_blocks_are_the_timeline_energies():
    rng = np.random.default_rng(4)
    x = (0.1 * rng.standard_normal((2, 48000 * 2 + 77))).astype(np.float32)
    pm, tm = ProgramMeter(48000, 2, true_peak=False), TimelineMeter(48000, 2)
    for s in range(0, x.shape[1], 6000):
        pm.add(x[:, s : s + 6000])
        tm.add(x[:, s : s + 6000])
    np.testing.assert_allclose(pm.sub_block_energies(), tm.energies(), rtol=1e-9)


@pytest.mark.slow
def test_two_voice_file_reports_its_spread_picture_and_summary(dev_data, tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    x, sr = two_voices(dev_data, 12.0)
    sf.write(src / "two_voices.wav", x, sr, subtype="PCM_16")
    opts = BatchOptions(chain=load_preset("podcast").to_dict(), loudness="podcast", hole_audit=False)
    summary = BatchRunner(src, out, opts, workers=1).run()
    assert summary.done == 1, summary
    rep = json.loads((out / "report" / "files" / f"{slug_for(src.relative_to(src) / 'two_voices.wav')}.json").read_text())
    levels = rep["speaker_levels"]
    assert levels["before"]["speaker_spread_lu"] == pytest.approx(12.0, abs=2.0), levels
    assert levels["after"]["speaker_spread_lu"] is not None and levels["after"]["phrases"] == levels["before"]["phrases"]
    assert levels["detector"] == "energy"
    png = out / "report" / rep["images"]["loudness"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from app.spectrogram_png import decode_png

    img = decode_png(png.read_bytes())
    assert img.shape[1] > 1000 and (img == (240, 179, 90)).all(axis=2).any()  # the after curve is drawn
    html = (out / "report" / "index.html").read_text("utf-8")
    assert "Speaker spread (LU)" in html and "Speaker-level spread" in html
    assert html.count('src="data:image/png;base64,') == 3  # before, after, loudness
