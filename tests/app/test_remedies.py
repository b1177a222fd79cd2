"""dsp says what to do neutrally; the CLI and the workstation each say it in their own words."""

from __future__ import annotations

import numpy as np
import pytest

from app.remedies import CLI, GUI, explain
from dsp.chain import BuildContext, ChainSettings, StageSpec, build_chain, registry
from dsp.errors import NEEDS_PROFILE, REMEDIES, ParameterError, RoomtoneError


def test_every_remedy_has_words_in_both_front_ends():
    assert set(CLI) == set(REMEDIES) == set(GUI)
    assert all("--" in CLI[r] for r in REMEDIES)  # the command line names its flags
    assert not any("--" in GUI[r] for r in REMEDIES)  # the workstation names buttons, never flags


def test_a_missing_profile_is_explained_per_front_end():
    gate = registry()["gate"]
    chain = ChainSettings(stages=(StageSpec("gate", gate.settings_cls()),))
    with pytest.raises(ParameterError) as info:
        build_chain(chain, BuildContext(48000, 1))
    exc = info.value
    assert exc.remedy == NEEDS_PROFILE and "--" not in str(exc)  # dsp names no flag
    assert explain(exc, "cli").startswith(str(exc)) and "--learn A-B" in explain(exc, "cli")
    assert "Learn from selection" in explain(exc, "gui") and "--" not in explain(exc, "gui")


def test_errors_without_a_remedy_read_as_they_are_and_unknown_remedies_are_refused():
    assert explain(ParameterError("mix must be between 0 and 1"), "gui") == "mix must be between 0 and 1"
    assert explain(ValueError("x")) == "x"
    with pytest.raises(ValueError, match="unknown remedy"):
        RoomtoneError("x", remedy="pray")


def test_room_tone_search_says_where_to_learn_from():
    from dsp.render import ArraySource
    from dsp.roomtone import RoomToneSettings, estimate_room_tone

    silence = np.zeros((1, 48000), np.float32)
    with pytest.raises(ParameterError) as info:
        estimate_room_tone(ArraySource(silence, 48000), 48000, regions=None, settings=RoomToneSettings())
    assert info.value.remedy is not None and "--learn" in explain(info.value, "cli")
