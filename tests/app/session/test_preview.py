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
