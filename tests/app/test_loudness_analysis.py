"""The app side of the loudness timeline: VAD phrases with a fallback that says so, colours, text."""

from __future__ import annotations

import math

import pytest
import soundfile as sf

from app.loudness_timeline import (
    LEVEL_SCALE,
    analyse_render,
    analyse_source,
    level_colour,
    spread_text,
)
from tests.two_voices import two_voices


def test_colour_scale_runs_blue_green_red_and_clamps():
    assert level_colour(-20.0) == LEVEL_SCALE[0][1] == level_colour(-6.0)
    assert level_colour(0.0) == LEVEL_SCALE[2][1]
    assert level_colour(9.0) == LEVEL_SCALE[-1][1]
    mid = level_colour(-4.5)  # between blue and cyan
    assert LEVEL_SCALE[0][1][1] < mid[1] < LEVEL_SCALE[1][1][1]
    assert level_colour(math.nan) == (128, 128, 128)


@pytest.fixture
def two_voice_file(dev_data, tmp_path):
    x, sr = two_voices(dev_data, 12.0)
    path = tmp_path / "two.wav"
    sf.write(path, x, sr, subtype="PCM_16")
    return path


def test_without_the_vad_the_energy_detector_is_used_and_named(two_voice_file):
    tl = analyse_source(two_voice_file, use_vad=False)
    assert tl.detector == "energy" and "noise floor" in tl.note
    assert tl.spread_lu == pytest.approx(12.0, abs=2.0)
    after = analyse_render(two_voice_file, tl.phrases)
    assert after.detector == "given" and after.spread_lu == pytest.approx(tl.spread_lu, abs=1e-9)
    text = spread_text(tl, after)
    assert text.startswith("Speaker-level spread ") and "\u2192" in text and text.endswith("LU")


@pytest.mark.slow
@pytest.mark.model
def test_with_the_vad(two_voice_file):
    pytest.importorskip("silero_vad")
    pytest.importorskip("onnxruntime")
    tl = analyse_source(two_voice_file)
    assert tl.detector == "vad" and tl.note == "" and len(tl.phrases) >= 8
    assert tl.spread_lu == pytest.approx(12.0, abs=2.0), tl.summary()
