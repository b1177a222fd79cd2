"""One event type for every detector (dsp.events): what the record, the views and benches read."""

from __future__ import annotations

import numpy as np
import pytest

from dsp.breath import BreathEvent
from dsp.declick import ClickMap
from dsp.deess import SibilanceEvent
from dsp.deplosive import PopMap
from dsp.events import Event, events_key, found_events


def _map(cls, sr, spans, **extra):
    starts = np.array([a for a, _ in spans], np.int64)
    ends = np.array([b for _, b in spans], np.int64)
    return cls(sr, starts, ends, np.full(len(spans), 12.5, np.float32), **extra)


def test_every_detector_reads_as_events_sorted_by_start():
    extras = {
        events_key("declick"): _map(ClickMap, 48000, [(48000, 48048), (96000, 96024)]),
        events_key("deplosive"): _map(PopMap, 16000, [(8000, 8800)]),
        events_key("breath"): (BreathEvent(3.0, 3.4, "breath", 9.0, level_dbfs=-48.0, reduction_db=6.0),
                               BreathEvent(1.0, 1.3, "breath", 7.0, level_dbfs=-50.0, reduction_db=4.0)),
        events_key("deess"): [SibilanceEvent(0.25, 0.3, "sibilance", 8.0, reduction_db=3.0)],
        "rt60_s": 0.5, "hum_events": None, "breath_plan": object(),
    }
    got = found_events(extras)
    assert sorted(got) == ["breath", "declick", "deess", "deplosive"]
    np.testing.assert_allclose(got["declick"], [[1.0, 1.001], [2.0, 2.0005]])
    np.testing.assert_allclose(got["deplosive"], [[0.5, 0.55]])
    np.testing.assert_allclose(got["breath"], [[1.0, 1.3], [3.0, 3.4]])
    np.testing.assert_allclose(got["deess"], [[0.25, 0.3]])
    assert all(isinstance(e, Event) for v in extras.values() if hasattr(v, "__iter__") for e in v)
    assert found_events({}) == {}
    assert found_events({"declick_events": []})["declick"].shape == (0, 2)


def test_something_else_under_an_events_key_is_refused():
    with pytest.raises(TypeError, match="dsp.events.Event"):
        found_events({"declick_events": [(1.0, 1.1)]})


def test_the_record_keeps_each_event_as_a_flat_dict():
    e = BreathEvent(1.00004, 1.3, "breath", 7.123456, level_dbfs=-50.0, reduction_db=4.0)
    assert e.summary() == {"start_s": 1.0, "end_s": 1.3, "kind": "breath", "strength_db": 7.1235,
                           "level_dbfs": -50.0, "reduction_db": 4.0}
