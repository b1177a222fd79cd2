"""Apply's render (app.session.preview): the detected events it hands the views."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pytest

from app.session.preview import render_preview
from app.session.project import Project, SourceRef
from dsp.chain import ChainSettings, StageKind, StageSpec, register, unregister
from dsp.engine import Gain
from dsp.events import Event

from . import write_test_wav


@dataclass(frozen=True)
class _TapSettings:
    gain_db: float = 0.0


def _analyse(source, settings, context):
    """Stand-in detector: one event per loud 0.1 s stretch of the file (data in extras)."""
    events, pos, sr = [], 0, source.sample_rate
    for block in source.blocks(sr // 10):
        if float(np.max(np.abs(block))) > 0.1:
            events.append(Event(pos / sr, (pos + block.shape[-1]) / sr, "tap", 0.0))
        pos += block.shape[-1]
    return dataclasses.replace(context, extras={**context.extras, "t_tap_events": events})


@pytest.fixture
def tap_kind():
    register(StageKind("t_tap", "Tap", _TapSettings, "time", lambda s, c: Gain(s.gain_db), role="utility",
                       analyse=_analyse))
    yield "t_tap"
    unregister("t_tap")


def test_render_preview_hands_the_detectors_events_to_the_views(tmp_path, tap_kind):
    wav = write_test_wav(tmp_path / "in.wav", seconds=2.0)  # a 220 Hz tone in the second half
    project = Project(source=SourceRef.from_path(wav),
                      chain=ChainSettings(stages=(StageSpec(tap_kind, _TapSettings()),)))
    result = render_preview(project, tmp_path / "after.wav", lambda f: None, lambda: False)
    ev = result.events["t_tap"]
    assert ev.shape[1] == 2 and len(ev) >= 9  # the tone's 1 s = ten 0.1 s stretches (the edge may miss)
    assert ev[0, 0] >= 0.9 and ev[-1, 1] <= 2.0 + 1e-9


def test_the_after_view_renders_the_edits_that_keep_source_time_and_not_the_cuts(tmp_path):
    import soundfile as sf

    from dsp.edits import Cut, RegionGain

    wav = write_test_wav(tmp_path / "in.wav", seconds=2.0)
    plain = Project(source=SourceRef.from_path(wav), chain=ChainSettings(stages=()))
    edited = dataclasses.replace(plain, edits=(RegionGain(1.2, 1.6, gain_db=-12.0), Cut(0.2, 0.5)))
    a = render_preview(plain, tmp_path / "a.wav", lambda f: None, lambda: False)
    b = render_preview(edited, tmp_path / "b.wav", lambda f: None, lambda: False)
    x, sr = sf.read(str(a.path), dtype="float32")
    y, _ = sf.read(str(b.path), dtype="float32")
    assert y.shape == x.shape  # the cut is not rendered: the views stay in source time
    h = int(0.010 * sr) + 1
    outside = np.ones(x.size, bool)
    outside[int(1.2 * sr) - h : int(1.6 * sr) + h] = False
    np.testing.assert_array_equal(y[outside], x[outside])
    inner = slice(int(1.2 * sr) + h, int(1.6 * sr) - h)
    np.testing.assert_allclose(y[inner], x[inner] * 10 ** (-12 / 20), rtol=1e-5, atol=1e-7)
