"""History: snapshot undo/redo, labels, coalescing, limit (Audacity UndoManager semantics)."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.session.history import History
from app.session.project import Project
from dsp.chain import ChainSettings


def proj(i: int) -> Project:
    return Project(chain=ChainSettings(), name=f"p{i}")


def test_empty_history():
    h = History(proj(0))
    assert h.current == proj(0)
    assert not h.can_undo and not h.can_redo
    assert h.undo() is None and h.redo() is None
    assert h.undo_label is None and h.redo_label is None and h.labels() == []


def test_undo_redo_sequence_and_labels():
    h = History(proj(0))
    h.push("Change A", proj(1))
    h.push("Change B", proj(2))
    assert h.undo_label == "Change B" and h.labels() == ["Change A", "Change B"]
    assert h.undo() == proj(1)
    assert h.undo_label == "Change A" and h.redo_label == "Change B"
    assert h.undo() == proj(0)
    assert h.undo() is None and h.current == proj(0)
    assert h.redo() == proj(1) and h.redo() == proj(2) and h.redo() is None
    assert h.index == 2


def test_push_after_undo_drops_redo_tail():
    h = History(proj(0))
    h.push("A", proj(1))
    h.push("B", proj(2))
    h.undo()
    h.push("C", proj(3))
    assert h.labels() == ["A", "C"] and not h.can_redo
    assert h.undo() == proj(1)


def test_slider_drag_coalesces_into_one_step():
    h = History(proj(0))
    for i in range(1, 51):
        h.push("Change Gate max reduction", proj(i), coalesce_key="stage0.max_reduction_db")
    assert h.labels() == ["Change Gate max reduction"] and h.current == proj(50)
    assert h.undo() == proj(0)
    assert h.redo() == proj(50)


def test_end_coalescing_starts_new_step_with_same_key():
    h = History(proj(0))
    h.push("Drag", proj(1), coalesce_key="k")
    h.push("Drag", proj(2), coalesce_key="k")
    h.end_coalescing()  # slider released
    h.push("Drag", proj(3), coalesce_key="k")
    assert len(h) == 2
    assert h.undo() == proj(2) and h.undo() == proj(0)


def test_other_key_or_plain_push_breaks_coalescing():
    h = History(proj(0))
    h.push("Drag a", proj(1), coalesce_key="a")
    h.push("Drag b", proj(2), coalesce_key="b")
    h.push("Drag a", proj(3), coalesce_key="a")
    h.push("Click", proj(4))
    h.push("Click", proj(5))
    assert h.labels() == ["Drag a", "Drag b", "Drag a", "Click", "Click"]


def test_undo_closes_coalescing():
    h = History(proj(0))
    h.push("A", proj(1), coalesce_key="k")
    h.push("B", proj(2), coalesce_key="k")  # merged into step 1
    h.undo()
    h.push("B", proj(3), coalesce_key="k")  # must not rewrite the state before the undo
    assert h.labels() == ["B"]
    assert h.undo() == proj(0)


def test_limit_drops_oldest_steps():
    h = History(proj(0), limit=3)
    for i in range(1, 6):
        h.push(f"S{i}", proj(i))
    assert h.labels() == ["S3", "S4", "S5"]
    for _ in range(3):
        h.undo()
    assert h.current == proj(2) and not h.can_undo


def test_amend_changes_current_state_without_step():
    h = History(proj(0))
    h.push("A", proj(1))
    sel = dataclasses.replace(proj(1), selection=None, name="p1-selected")
    h.amend(sel)
    assert h.current == sel and h.labels() == ["A"]
    assert h.undo() == proj(0) and h.redo() == sel


def test_reset_and_type_check():
    h = History(proj(0))
    h.push("A", proj(1))
    h.reset(proj(9), "Open x.wav")
    assert h.current == proj(9) and h.labels() == [] and h.initial_label == "Open x.wav"
    with pytest.raises(TypeError):
        h.push("bad", "not a project")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        History(proj(0), limit=0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(
    st.tuples(st.just("push"), st.sampled_from([None, "a", "b"])),
    st.tuples(st.just("undo"), st.none()), st.tuples(st.just("redo"), st.none()),
    st.tuples(st.just("end"), st.none()),
), max_size=40))
def test_matches_reference_model(ops):
    """History against a naive model: a list of states, a cursor, and the open coalesce key."""
    h = History(proj(0))
    states, cursor, open_key, n = [proj(0)], 0, None, 0
    for op, key in ops:
        if op == "push":
            n += 1
            new = proj(n)
            h.push(f"L{n}", new, coalesce_key=key)
            del states[cursor + 1:]
            if key is not None and key == open_key and cursor > 0:
                states[cursor] = new
            else:
                states.append(new)
                cursor += 1
                open_key = key
        elif op == "undo":
            open_key = None
            got = h.undo()
            if cursor > 0:
                cursor -= 1
                assert got == states[cursor]
            else:
                assert got is None
        elif op == "redo":
            open_key = None
            got = h.redo()
            if cursor < len(states) - 1:
                cursor += 1
                assert got == states[cursor]
            else:
                assert got is None
        else:
            h.end_coalescing()
            open_key = None
        assert h.current == states[cursor]
        assert h.can_undo == (cursor > 0) and h.can_redo == (cursor < len(states) - 1)
